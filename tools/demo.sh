#!/bin/sh
# demo.sh — the main job (`make demo`): train a small Inception network on Fashion-MNIST, evaluate
# it on the 10,000 test images, predict a few of them from PNG files, keep the weights and curves.
set -eu
B=${B:-build}
CNN=$B/cnn
OUT=$B/demo
EPOCHS=${DEMO_EPOCHS:-1}
mkdir -p "$OUT"
echo "== training MiniGoogLeNet (narrow) on Fashion-MNIST: $EPOCHS epochs =="
$CNN train minigooglenet --variant narrow --data fashion-mnist --val fashion-mnist \
  --epochs "$EPOCHS" --batch 128 --optimizer adam --lr 0.003 --schedule cosine \
  --seed 1 \
  --out "$OUT/minigooglenet.safetensors" --checkpoint-every 200 \
  --log "$OUT/training.csv" --plot "$OUT/training.svg"
echo
echo "== evaluation on the test set =="
$CNN eval minigooglenet --variant narrow --weights "$OUT/minigooglenet.safetensors" --data fashion-mnist
echo
echo "== a few test images, written as PNG and classified =="
rm -rf "$OUT/images"
$CNN images fashion-mnist --split test --first 100 --count 6 --out "$OUT/images" >/dev/null
$CNN predict minigooglenet --variant narrow --weights "$OUT/minigooglenet.safetensors" "$OUT"/images/*.png
echo
echo "weights:    $OUT/minigooglenet.safetensors (checkpoint: $OUT/minigooglenet.safetensors.ckpt)"
echo "curves:     $OUT/training.svg (log: $OUT/training.csv)"
echo "images:     $OUT/images/ (file names carry the true class)"
