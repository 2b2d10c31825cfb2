#!/bin/sh
# run.sh — generates the PyTorch fixtures (when their scripts changed), runs every test binary,
# plain and under AddressSanitizer + UBSan, and prints the total "N passed, M failed".
set -u
cd "$(dirname "$0")/.."
B=${B:-build}
REF=$B/ref
# The references run in a venv that sees Debian's torch and adds timm (tools/setup-venv).
tools/setup-venv "$B/venv" || { echo "tools/setup-venv failed"; echo "0 passed, 1 failed"; exit 1; }
PY=$B/venv/bin/python
mkdir -p "$REF"
log=$B/test-log.txt
: > "$log"

# Fixtures are regenerated when any reference script is newer than the stamp.
stamp="$REF/.stamp"
if [ ! -f "$stamp" ] || [ -n "$(find tests/ref -name '*.py' -newer "$stamp" 2>/dev/null)" ]; then
  rm -rf "$REF/ops" "$REF/models"
  for script in tests/ref/gen_*.py; do
    name=$(basename "$script" .py); name=${name#gen_}
    echo "generating $REF/$name with $script"
    OMP_NUM_THREADS=1 $PY "$script" "$REF/$name" || { echo "fixture generation failed: $script"; echo "0 passed, 1 failed"; exit 1; }
  done
  touch "$stamp"
fi

total_pass=0; total_fail=0
run() { # label command...
  label=$1; shift
  out=$("$@" 2>&1); rc=$?
  printf '%s\n' "$out" >> "$log"
  printf '%s\n' "$out" | grep -E '^FAIL' | sed "s|^|[$label] |"
  line=$(printf '%s\n' "$out" | grep -E '^[0-9]+ passed, [0-9]+ failed' | tail -n 1)
  if [ -z "$line" ]; then
    echo "[$label] crashed or printed no summary (exit $rc):"; printf '%s\n' "$out" | tail -n 5
    total_fail=$((total_fail + 1)); return
  fi
  p=${line%% passed*}; f=${line#*passed, }; f=${f%% failed*}
  [ "$rc" -ne 0 ] && [ "$f" -eq 0 ] && { echo "[$label] exit $rc"; f=1; }
  echo "[$label] $line"
  total_pass=$((total_pass + p)); total_fail=$((total_fail + f))
}

export ASAN_OPTIONS=detect_leaks=1:abort_on_error=0:halt_on_error=1
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
for t in $B/tests/test_*; do
  name=$(basename "$t")
  case "$name" in
    test_ops) run "$name" "$t" "$REF/ops" ;;
    *) run "$name" "$t" "$REF" ;;
  esac
done
# The convolutions use our own GEMM on a CPU with AVX-512F and OpenBLAS elsewhere: the OpenBLAS path
# runs here too (CNN_GEMM=blas), against the same PyTorch fixtures.
run "test_ops (CNN_GEMM=blas)" env CNN_GEMM=blas $B/tests/test_ops "$REF/ops"
run "test_models (CNN_GEMM=blas)" env CNN_GEMM=blas $B/tests/test_models "$REF"
# Eval plans run 3x3 stride-1 convolutions by Winograd where they are large enough; CNN_WINOGRAD=all
# takes every one that fits that way, so the small ones of the fixtures meet PyTorch through it too.
run "test_ops (CNN_WINOGRAD=all)" env CNN_WINOGRAD=all $B/tests/test_ops "$REF/ops"
run "test_models (CNN_WINOGRAD=all)" env CNN_WINOGRAD=all $B/tests/test_models "$REF"
for t in $B/asan/tests/test_*; do
  name=$(basename "$t")
  case "$name" in
    test_ops) run "asan $name" env OMP_NUM_THREADS=2 "$t" "$REF/ops" ;;
    *) run "asan $name" env OMP_NUM_THREADS=2 "$t" "$REF" ;;
  esac
done
# Shell tests of the command (tests/test_*.sh), with the plain build.
for t in tests/test_*.sh; do
  [ -x "$t" ] || continue
  run "$(basename "$t")" env CNN=$B/cnn PY=$PY "$t" "$REF"
done

# The README's example must build (make did) and run.
for e in $B/examples/*; do
  [ -x "$e" ] || continue
  if out=$("$e" 2>&1) && printf '%s\n' "$out" | grep -q '^loss [0-9]'; then
    echo "[example $(basename "$e")] ok: $out"; total_pass=$((total_pass + 1))
  else
    echo "[example $(basename "$e")] FAIL: $out"; total_fail=$((total_fail + 1))
  fi
done
echo "full log: $log"
echo "$total_pass passed, $total_fail failed"
[ "$total_fail" -eq 0 ]
