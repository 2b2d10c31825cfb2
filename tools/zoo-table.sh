#!/bin/sh
# zoo-table.sh — the README's zoo table, from `cnn summary` of every zoo model at its default input.
set -eu
CNN=${CNN:-build/cnn}
echo "| model | input | parameters (trainable) | multiply-adds |"
echo "| --- | --- | --- | --- |"
for m in $($CNN --help | sed -n 's/^models: //p'); do
  s=$($CNN summary "$m")
  input=$(printf '%s\n' "$s" | sed -n 's/^Model: .* (input \(.*\))$/\1/p')
  params=$(printf '%s\n' "$s" | sed -n 's/^Trainable params: //p')
  macs=$(printf '%s\n' "$s" | sed -n 's/^Multiply-adds (batch 1, eval): \([0-9,]*\) .*/\1/p' | tr -d , | awk '{printf "%.1f M", $1 / 1e6}')
  echo "| \`$m\` | $input | $params | $macs |"
done
