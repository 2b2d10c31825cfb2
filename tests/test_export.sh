#!/bin/sh
# test_export.sh REF_DIR — `cnn export`: zoo networks with the zoo fixtures' weights written as ONNX
# that onnx.checker accepts (full check), that ONNX Runtime and `cnn run MODEL.onnx` run to the
# output of `cnn run MODEL --weights` (within 1e-4 of max |y|), and one-line errors with no file left.
# Prints "ok"/"FAIL" lines and "N passed, M failed".
. "$(dirname "$0")/common.sh"
Z=$REF/zoo

# ---- export, then ONNX's checker, ONNX Runtime and our importer against `cnn run` ----
# case | model and options | weights | input N x C x H x W (small where the network allows)
while IFS='|' read -r name args weights shape; do
  [ -n "$name" ] || continue
  x=$T/$name.x.npy
  $PY tests/ref/export_check.py input "$shape" 1 "$x"
  size=${shape#*x}
  if out=$($CNN export $args --weights "$weights" --input "$size" --onnx "$T/$name.onnx" 2>&1) &&
     out=$($CNN run $args --weights "$weights" --input "$x" --output "$T/$name.cnn.npy" --threads 2 2>&1) &&
     out=$($CNN run "$T/$name.onnx" --input "$x" --output "$T/$name.imported.npy" --threads 2 2>&1) &&
     out=$($PY tests/ref/export_check.py check "$T/$name.onnx" "$x" "$T/$name.cnn.npy" "$T/$name.imported.npy" 2>&1); then
    ok "export $args at $shape: $out"
  else
    bad "export $args at $shape" "$(printf '%s' "$out" | tail -n 3)"
  fi
  rm -f "$T/$name.onnx"
done <<EOF
lenet5|lenet5|$Z/lenet5.weights.safetensors|3x1x28x28
minigooglenet|minigooglenet|$REF/models/minigooglenet_3x32x32.weights.safetensors|2x3x32x32
googlenet|googlenet|$Z/googlenet.weights.safetensors|2x3x64x72
googlenet_paper|googlenet --variant paper|$Z/googlenet_paper.weights.safetensors|2x3x67x67
resnet18|resnet18|$Z/resnet18.weights.safetensors|2x3x64x64
densenet121|densenet121|$Z/densenet121.weights.safetensors|2x3x64x64
inception_v3|inception_v3|$Z/inception_v3.weights.safetensors|2x3x79x75
inception_v4|inception_v4|$Z/inception_v4.weights.safetensors|1x3x75x75
inception_resnet_v2|inception_resnet_v2|$Z/inception_resnet_v2.weights.safetensors|1x3x75x75
alexnet|alexnet|$Z/alexnet.weights.safetensors|2x3x224x224
alexnet_lrn|alexnet_lrn|$Z/alexnet_lrn.weights.safetensors|2x3x224x224
vgg11_bn|vgg11_bn|$Z/vgg11_bn.weights.safetensors|1x3x224x224
EOF

# ---- models exported by PyTorch, imported and exported again by cnn: the same checks ----
# (ops.onnx holds Clip, Mul and Add of constants, Pad, Reshape, MatMul, Softmax on an inner axis;
# pad13.onnx a dilated MaxPool and 1-D layers.)
for name in small activations ops googlenet pad13; do
  O=$REF/onnx
  if out=$($CNN export "$O/$name.onnx" --onnx "$T/re.onnx" 2>&1) &&
     out=$($CNN run "$O/$name.onnx" --input "$O/$name.X.npy" --output "$T/re.cnn.npy" --threads 2 2>&1) &&
     out=$($CNN run "$T/re.onnx" --input "$O/$name.X.npy" --output "$T/re.imported.npy" --threads 2 2>&1) &&
     out=$($PY tests/ref/export_check.py check "$T/re.onnx" "$O/$name.X.npy" "$T/re.cnn.npy" "$T/re.imported.npy" 2>&1); then
    ok "export of the imported $name.onnx: $out"
  else
    bad "export of the imported $name.onnx" "$(printf '%s' "$out" | tail -n 3)"
  fi
done

# ---- an exported file exports again to the same network ----
$PY tests/ref/export_check.py input 2x1x28x28 2 "$T/l.x.npy"
if $CNN export lenet5 --weights "$Z/lenet5.weights.safetensors" --onnx "$T/a.onnx" >/dev/null 2>&1 &&
   $CNN export "$T/a.onnx" --onnx "$T/b.onnx" >/dev/null 2>&1 &&
   $CNN run "$T/a.onnx" --input "$T/l.x.npy" --output "$T/a.npy" >/dev/null 2>&1 &&
   $CNN run "$T/b.onnx" --input "$T/l.x.npy" --output "$T/b.npy" >/dev/null 2>&1 && cmp -s "$T/a.npy" "$T/b.npy"; then
  ok "export of an exported .onnx runs bitwise the same"
else
  bad "re-export of an .onnx" "outputs differ or a step failed"
fi

# ---- bad input: one line on stderr naming the culprit, non-zero exit, no file (not even a temporary) ----
expect_error() { # label expected-substring command...
  label=$1; want=$2; shift 2
  err=$("$@" 2>&1 >/dev/null); rc=$?
  lines=$(printf '%s\n' "$err" | grep -c .)
  if [ $rc -ne 0 ] && [ "$lines" -eq 1 ] && printf '%s' "$err" | grep -q -- "$want" && ! ls "$T"/never.onnx* >/dev/null 2>&1; then
    ok "error: $label"
  else
    bad "error: $label" "exit $rc, stderr: $err"
  fi
}
W=$Z/lenet5.weights.safetensors
expect_error "unknown model" "unknown model 'lenet6'" $CNN export lenet6 --weights "$W" --onnx "$T/never.onnx"
expect_error "missing --onnx" "needs --onnx" $CNN export lenet5 --weights "$W"
expect_error "missing --weights" "needs --weights" $CNN export lenet5 --onnx "$T/never.onnx"
expect_error "weights of the wrong shape" "tensor 'fc1.weight' has shape \[500,1000\] but the model expects \[500,800\]" \
  $CNN export lenet5 --weights "$Z/lenet5_odd.weights.safetensors" --onnx "$T/never.onnx"
expect_error "weights of another model" "tensor 'conv1.weight' has shape \[64,3,7,7\] but the model expects \[20,1,5,5\]" $CNN export lenet5 --weights "$Z/resnet18.weights.safetensors" --onnx "$T/never.onnx"
expect_error "adaptive pool with unequal bins" "layer 'avgpool' (adaptive_avgpool): input 5x6 to output 6x6 has unequal bins" \
  $CNN export alexnet --weights "$Z/alexnet.weights.safetensors" --input 3x200x224 --onnx "$T/never.onnx"
expect_error "--weights for an .onnx" "does not apply to an ONNX model" $CNN export "$REF/onnx/small.onnx" --weights "$W" --onnx "$T/never.onnx"
expect_error "directory that does not exist" "$T/no/such/dir/never.onnx: cannot create" $CNN export lenet5 --weights "$W" --onnx "$T/no/such/dir/never.onnx"
# A write that fails at the end (the target is a directory: the rename fails) leaves no temporary file.
mkdir -p "$T/never.onnx"
err=$($CNN export lenet5 --weights "$W" --onnx "$T/never.onnx" 2>&1 >/dev/null); rc=$?
if [ $rc -ne 0 ] && [ "$(printf '%s\n' "$err" | grep -c .)" -eq 1 ] && printf '%s' "$err" | grep -q "never.onnx: write failed" &&
   [ -z "$(ls "$T" | grep 'never.onnx.tmp')" ] && [ -z "$(ls -A "$T/never.onnx")" ]; then
  ok "error: failed write leaves no partial or temporary file ($err)"
else
  bad "error: failed write" "exit $rc, stderr: $err, files: $(ls "$T")"
fi
rmdir "$T/never.onnx"
# A failed export leaves an earlier file at that path as it was.
$CNN export lenet5 --weights "$W" --onnx "$T/keep.onnx" >/dev/null 2>&1
cp "$T/keep.onnx" "$T/keep.copy"
$CNN export lenet5 --weights "$Z/lenet5_odd.weights.safetensors" --onnx "$T/keep.onnx" >/dev/null 2>&1
if [ -s "$T/keep.onnx" ] && cmp -s "$T/keep.onnx" "$T/keep.copy"; then
  ok "a failed export leaves the earlier file untouched"
else
  bad "failed export over an existing file" "the file changed"
fi

echo "$pass passed, $fail failed"
[ $fail -eq 0 ]
