#!/bin/sh
# test_cli.sh REF_DIR — the `cnn` command end to end: training parity with PyTorch, exact resume
# (also after SIGKILL), eval/predict/run output, ONNX models against PyTorch, and one-line errors for bad input.
# Prints "ok"/"FAIL" lines and "N passed, M failed".
. "$(dirname "$0")/common.sh"

# ---- N steps from the same weights on the same data equal N PyTorch steps ----
for name in resnet18_sgd googlenet_adam minigooglenet_accum lenet5_sgd; do
  model=${name%_*}; R=$REF/cli
  if out=$($CNN train "$model" --data "npy:$R/$name.X.npy,$R/$name.Y.npy" --init "$R/$name.init.safetensors" \
        $(cat "$R/$name.args") --no-shuffle --augment none --dropout off --threads 2 --out "$T/$name.safetensors" 2>&1) &&
     cmp=$($PY tests/ref/compare_weights.py "$T/$name.safetensors" "$R/$name.after.safetensors" "$R/$name.init.safetensors" \
        "$(cat "$R/$name.tol")" 2>&1); then
    ok "train $name ($(cat "$R/$name.args")): weights equal PyTorch's ($cmp)"
  else
    bad "train $name vs PyTorch" "$(printf '%s\n%s' "$out" "${cmp:-}" | tail -n 3)"
  fi
done

# ---- resume: 2 steps + resume + 2 steps == 4 steps, bitwise, with shuffling, augmentation, dropout ----
R=$REF/cli
X=$R/resnet18_sgd.X.npy; Y=$R/resnet18_sgd.Y.npy
common="minigooglenet --data npy:$X,$Y --batch 4 --seed 7 --augment flip,crop:2 --optimizer sgd --lr 0.01 --threads 2"
$CNN train $common --steps 4 --out "$T/full.safetensors" >/dev/null 2>&1
$CNN train $common --steps 2 --checkpoint-every 2 --checkpoint "$T/half.ckpt" --out "$T/half.safetensors" >/dev/null 2>&1
$CNN train $common --steps 4 --resume "$T/half.ckpt" --out "$T/resumed.safetensors" >/dev/null 2>&1
if [ -s "$T/full.safetensors" ] && cmp -s "$T/full.safetensors" "$T/resumed.safetensors"; then
  ok "resume: 2 steps + resume + 2 steps give bitwise the weights of 4 steps"
else
  bad "resume" "weights differ from the uninterrupted run"
fi

# ---- SIGKILL at some moment, then resume from the last checkpoint ----
long="$common --steps 12"
$CNN train $long --out "$T/long.safetensors" >/dev/null 2>&1
$CNN train $long --checkpoint-every 1 --checkpoint "$T/kill.ckpt" --out "$T/killed.safetensors" >/dev/null 2>&1 &
pid=$!
i=0
while [ ! -f "$T/kill.ckpt" ] && [ $i -lt 600 ]; do sleep 0.05; i=$((i + 1)); done
sleep 0.3
kill -9 $pid 2>/dev/null; wait $pid 2>/dev/null
if [ -f "$T/killed.safetensors" ]; then
  ok "SIGKILL: (the run finished before the kill; nothing to resume)"
elif ls "$T"/kill.ckpt.tmp.* >/dev/null 2>&1 && [ ! -f "$T/kill.ckpt" ]; then
  bad "SIGKILL" "only a temporary checkpoint exists"
elif $CNN train $long --checkpoint-every 1 --checkpoint "$T/kill.ckpt" --resume "$T/kill.ckpt" --out "$T/killed.safetensors" \
       >/dev/null 2>&1 && cmp -s "$T/long.safetensors" "$T/killed.safetensors"; then
  ok "SIGKILL mid-run, resumed from its last checkpoint: bitwise the uninterrupted weights"
else
  bad "SIGKILL resume" "weights differ from the uninterrupted run"
fi

# ---- eval --json, predict, run ----
json=$($CNN eval minigooglenet --weights "$T/full.safetensors" --data "npy:$X,$Y" --json 2>&1)
case "$json" in
  '{"n": 16, "loss": '*'"top1": '*'"top5": '*'}') ok "eval --json prints one object ($json)" ;;
  *) bad "eval --json" "$json" ;;
esac
$CNN images fashion-mnist --out "$T/img" --count 2 >/dev/null 2>&1
$CNN train lenet5 --data fashion-mnist --steps 5 --out "$T/lenet.safetensors" >/dev/null 2>&1
pred=$($CNN predict lenet5 --weights "$T/lenet.safetensors" "$T"/img/*.png 2>&1)
if [ "$(printf '%s\n' "$pred" | grep -c '^  [1-5]\. ')" -eq 10 ] && printf '%s\n' "$pred" | grep -q 'Ankle boot\|Trouser\|Pullover'; then
  ok "predict: top-5 with Fashion-MNIST class names for 2 images"
else
  bad "predict" "$pred"
fi

# ---- --log CSV and --plot SVG ----
$PY -c "import numpy as np; r=np.random.RandomState(2); np.save('$T/xl.npy', r.rand(16,1,28,28).astype(np.float32)); np.save('$T/yl.npy', np.arange(16)%10)"
$CNN train lenet5 --data "npy:$T/xl.npy,$T/yl.npy" --epochs 2 --batch 8 --val "npy:$T/xl.npy,$T/yl.npy" \
  --log "$T/log.csv" --plot "$T/curves.svg" >/dev/null 2>&1 || true
if [ "$(head -n 1 "$T/log.csv" 2>/dev/null)" = "epoch,train_loss,train_acc,val_loss,val_acc,lr,seconds" ] &&
   [ "$(grep -c '^[12],' "$T/log.csv")" -eq 2 ] && grep -q '<svg' "$T/curves.svg" && [ "$(grep -c '<polyline' "$T/curves.svg")" -eq 4 ]; then
  ok "train --log writes a CSV row per epoch, --plot an SVG with loss and accuracy curves"
else
  bad "--log/--plot" "$(cat "$T/log.csv" 2>&1 | head -n 3)"
fi

# ---- folder data: PNG files per class, resized to the network's input ----
mkdir -p "$T/folder/a" "$T/folder/b"
$CNN images fashion-mnist --out "$T/folder/a" --count 3 >/dev/null 2>&1
$CNN images fashion-mnist --out "$T/folder/b" --first 3 --count 3 >/dev/null 2>&1
out=$($CNN train minigooglenet --data "folder:$T/folder" --steps 2 --batch 2 2>&1)
case "$out" in *"6 images 3x32x32, 2 classes; input 3x32x32"*"epoch 1:"*) ok "train on folder: data, images sized to the input" ;;
  *) bad "train on folder:" "$(printf '%s' "$out" | tail -n 2)" ;; esac

# ---- an imported ONNX graph is an ordinary graph: summary and bench take it too ----
out=$($CNN summary "$REF/onnx/googlenet.onnx" 2>&1)
# (the exporter folds BatchNorm into the convolutions: every initializer element is a parameter)
want=$($PY tests/ref/onnx_count.py "$REF/onnx/googlenet.onnx" 2>/dev/null)
case "$out" in *"(N,1000)"*"Total params: $want"*) ok "summary of an .onnx file ($want parameters, as its initializers)" ;;
  *) bad "summary .onnx" "$(printf '%s' "$out" | tail -n 3)" ;; esac
out=$($CNN bench "$REF/onnx/small.onnx" --batch 2 --runs 2 --json 2>&1)
case "$out" in '{"ms": '*) ok "bench of an .onnx file" ;; *) bad "bench .onnx" "$out" ;; esac
expect_error "model options refused for .onnx" "do not apply to an ONNX model" $CNN summary "$REF/onnx/small.onnx" --classes 3

# ---- run --trace: per-layer statistics; a NaN in the input shows where it spreads ----
$PY -c "import numpy as np; x=np.load('$REF/onnx/small.X.npy'); x[0,0,0,0]=np.nan; np.save('$T/small_nan.npy', x)"
out=$($CNN run "$REF/onnx/small.onnx" --input "$T/small_nan.npy" --output "$T/trace.npy" --trace 2>&1)
if printf '%s\n' "$out" | grep -q '^x (input) .* 1$' && printf '%s\n' "$out" | grep -q '(conv2d) .* [1-9][0-9]*$'; then
  ok "run --trace: per-layer min/max/mean and NaN counts"
else
  bad "run --trace" "$(printf '%s' "$out" | head -n 4)"
fi

# ---- bench --json ----
bench=$($CNN bench lenet5 --batch 4 --runs 3 --json 2>&1)
case "$bench" in
  '{"ms": '*', "images_per_s": '*', "gflops": '*', "peak_rss_mb": '*'}') ok "bench --json prints one object ($bench)" ;;
  *) bad "bench --json" "$bench" ;;
esac
bench=$($CNN bench minigooglenet --batch 2 --train --runs 2 2>&1)
case "$bench" in *"training step, batch 2"*"ms per batch"*) ok "bench --train" ;; *) bad "bench --train" "$bench" ;; esac
prof=$($CNN bench minigooglenet --batch 2 --train --runs 2 --profile 2>&1 >/dev/null)
case "$prof" in *"fwd ms"*"bwd ms"*"conv2d"*"per op kind:"*"batchnorm"*) ok "bench --profile: per-layer and per-op times" ;;
  *) bad "bench --profile" "$prof" ;; esac

# rel_close GOT.npy WANT.npy WHOSE: same shape and max |got - want| <= 1e-4 of max |want|; prints the ratio.
rel_close() {
  $PY -c "
import sys, numpy as np
a, b = np.load(sys.argv[1]), np.load(sys.argv[2])
if a.shape != b.shape: sys.exit(f'shape {a.shape}, {sys.argv[3]} {b.shape}')
err = float(np.abs(a.astype(np.float64) - b).max() / np.abs(b).max())
print(f'max error / max |y| = {err:.3g}')
sys.exit(0 if err <= 1e-4 else 1)" "$1" "$2" "$3" 2>&1
}

# ---- ONNX: `cnn run MODEL.onnx` on torch.onnx.export's files equals PyTorch within 1e-4 of max |y| ----
for name in small googlenet activations resnet50 ops lrn_even pad13 fold_ops whole; do
  R=$REF/onnx
  if out=$($CNN run "$R/$name.onnx" --input "$R/$name.X.npy" --output "$T/$name.onnx.npy" --threads 2 2>&1) &&
     cmp=$(rel_close "$T/$name.onnx.npy" "$R/$name.Y.npy" PyTorch); then
    ok "run $name.onnx: PyTorch's output ($cmp)"
  else
    bad "run $name.onnx vs PyTorch" "$(printf '%s\n%s' "$out" "${cmp:-}" | tail -n 3)"
  fi
done

# ---- ONNX: a 3-D Conv / BatchNormalization / MaxPool (auto_pad) / AveragePool (ceil mode) model and a
# whole-tensor one (Concat and Flatten over dim 0, Gemm transA, Softmax over dim 0), made with onnx.helper
# (the fuzz seeds), against ONNX Runtime ----
for name in cnn_conv3d_pools cnn_whole_tensors; do
  f=tests/fuzz/corpus_onnx/$name.onnx
  if cmp=$($PY -c "
import sys, numpy as np, onnx, onnxruntime as ort
m = onnx.load(sys.argv[1])
dims = [d.dim_value if d.dim_value > 0 else 2 for d in m.graph.input[0].type.tensor_type.shape.dim]
x = np.random.RandomState(1).randn(*dims).astype(np.float32)
np.save(sys.argv[2], x)
np.save(sys.argv[3], ort.InferenceSession(sys.argv[1], providers=['CPUExecutionProvider']).run(None, {'x': x})[0])" \
       "$f" "$T/$name.X.npy" "$T/$name.ort.npy" 2>&1) &&
     out=$($CNN run "$f" --input "$T/$name.X.npy" --output "$T/$name.Y.npy" 2>&1) &&
     cmp=$(rel_close "$T/$name.Y.npy" "$T/$name.ort.npy" "ONNX Runtime"); then
    ok "run $name.onnx: ONNX Runtime's output ($cmp)"
  else
    bad "run $name.onnx vs ONNX Runtime" "$(printf '%s\n%s' "${out:-}" "${cmp:-}" | tail -n 3)"
  fi
done

# ---- ONNX: one --input per graph input and one --output per graph output, in the graph's order ----
R=$REF/onnx
if out=$($CNN run "$R/two.onnx" --input "$R/two.A.npy" --input "$R/two.B.npy" --output "$T/two.y.npy" --output "$T/two.z.npy" 2>&1) &&
   cmp=$($PY -c "
import sys, numpy as np
for got, want in (sys.argv[1:3], sys.argv[3:5]):
    a, b = np.load(got), np.load(want)
    if a.shape != b.shape or np.abs(a - b).max() > 1e-6 * max(1, np.abs(b).max()): sys.exit(f'{got}: {a.shape} vs {b.shape}')
print('both outputs equal')" "$T/two.y.npy" "$R/two.Y.npy" "$T/two.z.npy" "$R/two.Z.npy" 2>&1); then
  ok "run two.onnx with two --input and two --output: PyTorch's outputs ($cmp)"
else
  bad "run two.onnx (two inputs, two outputs)" "$(printf '%s\n%s' "$out" "${cmp:-}" | tail -n 3)"
fi

# ---- summary totals against torchvision's published parameter counts ----
for pair in "googlenet --aux:13,004,888" "googlenet:6,624,904" "inception_v3 --aux:27,161,264" "resnet50:25,557,032" \
            "densenet121:7,978,856" "alexnet:61,100,840" "vgg16:138,357,544" "lenet5:431,080"; do
  args=${pair%%:*}; want=${pair#*:}
  got=$($CNN summary $args 2>&1 | sed -n 's/^Trainable params: //p')
  if [ "$got" = "$want" ]; then ok "summary $args: $want trainable parameters"; else bad "summary $args" "got '$got', want $want"; fi
done

# The VGGs without a parity fixture: their counts straight from torchvision.
for m in vgg13 vgg19 vgg13_bn vgg16_bn; do
  want=$($PY -c "import torchvision; print(f'{sum(p.numel() for p in torchvision.models.$m().parameters()):,}')" 2>/dev/null)
  got=$($CNN summary $m 2>&1 | sed -n 's/^Trainable params: //p')
  if [ -n "$want" ] && [ "$got" = "$want" ]; then ok "summary $m: $want trainable parameters (torchvision)"; else bad "summary $m" "got '$got', torchvision '$want'"; fi
done

# ---- bad input: one line on stderr naming the culprit, non-zero exit, no output file ----
expect_error() { # label expected-substring command...
  label=$1; want=$2; shift 2
  err=$("$@" 2>&1 >/dev/null); rc=$?
  lines=$(printf '%s\n' "$err" | grep -c .)
  if [ $rc -ne 0 ] && [ "$lines" -eq 1 ] && printf '%s' "$err" | grep -q -- "$want" && [ ! -e "$T/never.safetensors" ]; then
    ok "error: $label"
  else
    bad "error: $label" "exit $rc, stderr: $err"
  fi
}
printf 'not an idx file at all' > "$T/train-images-idx3-ubyte"
cp "$T/train-images-idx3-ubyte" "$T/train-labels-idx1-ubyte"
head -c 1000 /usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz > "$T/trunc-images.gz"
mkdir -p "$T/trunc" && cp "$T/trunc-images.gz" "$T/trunc/train-images-idx3-ubyte.gz" &&
  cp /usr/share/datasets/fashion-mnist/train-labels-idx1-ubyte.gz "$T/trunc/"
$PY -c "import numpy as np; np.save('$T/x3.npy', np.zeros((3,1,28,28),np.float32)); np.save('$T/y2.npy', np.zeros(2,np.int64)); np.save('$T/y11.npy', np.array([0,1,11],np.int64))"
printf 'garbage' > "$T/bad.png"
expect_error "unknown option" "unknown option '--frobnicate'" $CNN train lenet5 --data fashion-mnist --frobnicate 3 --out "$T/never.safetensors"
expect_error "batch 0" "--batch must be at least 1" $CNN train lenet5 --data fashion-mnist --batch 0 --out "$T/never.safetensors"
expect_error "unknown schedule" "unknown schedule 'sometimes'" $CNN train lenet5 --data fashion-mnist --schedule sometimes --out "$T/never.safetensors"
expect_error "wrong-magic IDX" "$T/train-images-idx3-ubyte" $CNN train lenet5 --data "mnist:$T" --out "$T/never.safetensors"
expect_error "truncated IDX" "trunc" $CNN train lenet5 --data "fashion-mnist:$T/trunc" --out "$T/never.safetensors"
expect_error "X and Y of different lengths" "y2.npy" $CNN train lenet5 --data "npy:$T/x3.npy,$T/y2.npy" --out "$T/never.safetensors"
expect_error "label outside --classes" "11" $CNN train lenet5 --data "npy:$T/x3.npy,$T/y11.npy" --classes 10 --out "$T/never.safetensors"
expect_error "image that fails to decode" "bad.png" $CNN predict lenet5 --weights "$T/lenet.safetensors" "$T/bad.png"
expect_error "unknown model" "unknown model 'lenet6'" $CNN summary lenet6
expect_error "missing weights file" "nope.safetensors" $CNN run lenet5 --weights "$T/nope.safetensors" --input "$T/x3.npy" --output "$T/never.safetensors"
expect_error "wrong channel count" "1 channels but alexnet takes 3" $CNN run alexnet --weights "$T/lenet.safetensors" --input "$T/x3.npy" --output "$T/never.safetensors"
expect_error "input too small" "reach" $CNN summary alexnet --input 3x8x8
head -c 20000 "$REF/onnx/googlenet.onnx" > "$T/trunc.onnx"
$PY -c "import numpy as np; open('$T/random.onnx','wb').write(np.random.RandomState(3).bytes(4000))"
O=$REF/onnx
expect_error "truncated .onnx" "trunc.onnx: not an ONNX model" $CNN run "$T/trunc.onnx" --input "$O/small.X.npy" --output "$T/never.safetensors"
expect_error "random .onnx" "random.onnx: not an ONNX model" $CNN run "$T/random.onnx" --input "$O/small.X.npy" --output "$T/never.safetensors"
expect_error "unsupported ONNX operator" "unsupported.onnx: node '[^']*' (Sin): unsupported operator" $CNN run "$O/unsupported.onnx" --input "$O/unsupported.X.npy" --output "$T/never.safetensors"
expect_error "input of the wrong size for an .onnx" "takes N x 3 x 20 x 20" $CNN run "$O/small.onnx" --input "$O/googlenet.X.npy" --output "$T/never.safetensors"
expect_error "input of another shape for an unbatched .onnx" "whole.onnx takes 2 x 3 x 4 (float32) for input 'x'" $CNN run "$O/whole.onnx" --input "$O/small.X.npy" --output "$T/never.safetensors"
expect_error "a batch of 2 for an unbatched .onnx" "whole tensors (an unbatched graph); its batch size is 1, not 2" $CNN bench "$O/whole.onnx" --batch 2
out=$($CNN summary "$O/whole.onnx" 2>&1)
case "$out" in *"input 2x3x4, whole tensors: batch 1"*"/Reshape (reshape)"*"(6,8)"*) ok "summary of an unbatched .onnx shows the model's own shapes" ;;
  *) bad "summary of whole.onnx" "$(printf '%s' "$out" | head -n 8)" ;; esac
expect_error "--input count differs from the graph's inputs" "small.onnx: the model has 1 input and 1 output but 2 --input and 1 --output" $CNN run "$O/small.onnx" --input "$O/small.X.npy" --input "$O/small.X.npy" --output "$T/never.safetensors"
expect_error "--output count differs from the graph's outputs" "two.onnx: the model has 2 inputs and 2 outputs but 2 --input and 1 --output" $CNN run "$O/two.onnx" --input "$O/two.A.npy" --input "$O/two.B.npy" --output "$T/never.safetensors"
expect_error "ONNX Reshape with a computed shape" "reshape_dynamic.onnx: node 'reshape_by_value' (Reshape): the shape 's' is computed by the graph" $CNN run "$O/reshape_dynamic.onnx" --input "$O/lrn_even.X.npy" --output "$T/never.safetensors"
expect_error "ONNX Pad whose pads depend on the batch size" "pad_batch.onnx: node '/Pad' (Pad): pads '[^']*': element 7 depends on the batch size" $CNN run "$O/pad_batch.onnx" --input "$O/pad_batch.X.npy" --output "$T/never.safetensors"
expect_error "ONNX Pad mode wrap" "pad_wrap.onnx: node 'pad_wrap' (Pad): mode 'wrap' is not supported" $CNN run "$O/pad_wrap.onnx" --input "$O/lrn_even.X.npy" --output "$T/never.safetensors"
expect_error "ONNX Add of shapes that do not broadcast" "bad_broadcast.onnx: node 'add_mismatch' (Add): .*do not broadcast" $CNN run "$O/bad_broadcast.onnx" --input "$O/lrn_even.X.npy" --input "$O/lrn_even.X.npy" --output "$T/never.safetensors"

# ---- a NaN stops training with the step; --check-numerics names the first layer ----
$PY -c "import numpy as np; x=np.random.RandomState(0).randn(8,1,28,28).astype(np.float32); x[3,0,5,5]=np.nan; np.save('$T/xnan.npy', x); np.save('$T/y8.npy', np.arange(8)%10)"
expect_error "NaN loss stops training" "step 1: the loss is NaN" $CNN train lenet5 --data "npy:$T/xnan.npy,$T/y8.npy" --batch 8 --steps 2 --out "$T/never.safetensors"
expect_error "--check-numerics names bad data" "the input batch holds 1 non-finite" $CNN train lenet5 --data "npy:$T/xnan.npy,$T/y8.npy" --batch 8 --steps 2 --check-numerics --out "$T/never.safetensors"
$PY -c "
import sys; sys.path.insert(0, 'tests/ref')
import numpy as np
from common import load_safetensors, save_safetensors
w, _ = load_safetensors('$T/lenet.safetensors'); w = {k: np.array(v) for k, v in w.items()}
w['conv2.weight'][0, 0, 0, 0] = np.inf
save_safetensors('$T/lenet_inf.safetensors', w)"
$PY -c "import numpy as np; np.save('$T/xok.npy', np.random.RandomState(1).rand(8,1,28,28).astype(np.float32))"
expect_error "--check-numerics names the layer" "layer 'conv2' (conv2d) produced" $CNN train lenet5 --data "npy:$T/xok.npy,$T/y8.npy" --init "$T/lenet_inf.safetensors" --classes 10 --batch 8 --steps 2 --check-numerics --out "$T/never.safetensors"

echo "$pass passed, $fail failed"
[ $fail -eq 0 ]
