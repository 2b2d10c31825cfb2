#!/bin/sh
# test_onnx_conformance.sh REF_DIR — ONNX's own backend test cases (Debian's libonnx-testdata) for every
# operator the importer supports, run through `cnn run` and compared as ONNX's backend tests compare
# (tests/ref/onnx_conformance.py lists the out-of-scope cases with their reasons).
# Prints "ok"/"FAIL" lines and "N passed, M failed".
set -u
CNN=${CNN:-build/cnn}
PY=${PY:-/usr/bin/python3}
if [ ! -d /usr/include/onnx/backend/test/data/node ]; then
  echo "FAIL conformance: /usr/include/onnx/backend/test/data missing (install libonnx-testdata: tools/install-deps test)"
  echo "0 passed, 1 failed"; exit 1
fi
OMP_NUM_THREADS=1 exec $PY tests/ref/onnx_conformance.py "$CNN"
