#!/bin/sh
# run.sh — generates the PyTorch fixtures (when their scripts changed), runs every test binary,
# plain and under AddressSanitizer + UBSan, and prints the total "N passed, M failed".
# Most tests use one core for most of their time, so the fixture scripts run side by side and the
# tests in one lane per core (TEST_LANES, default nproc), each test's output kept apart and reported
# in a fixed order. The lanes' OpenMP threads sleep instead of spinning when they wait
# (OMP_WAIT_POLICY=passive): with more threads than cores a spinning thread holds a core that
# another lane's thread needs.
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
W=$B/test-work
rm -rf "$W"
mkdir -p "$W"

# Fixtures are regenerated when any reference script is newer than the stamp; the scripts are
# independent and each runs on one thread, so all of them start at once.
stamp="$REF/.stamp"
if [ ! -f "$stamp" ] || [ -n "$(find tests/ref -name '*.py' -newer "$stamp" 2>/dev/null)" ]; then
  rm -rf "$REF/ops" "$REF/models"
  for script in tests/ref/gen_*.py; do
    name=$(basename "$script" .py); name=${name#gen_}
    ( OMP_NUM_THREADS=1 $PY "$script" "$REF/$name" > "$W/gen_$name.out" 2>&1; echo $? > "$W/gen_$name.rc" ) &
  done
  wait
  gen_failed=0
  for script in tests/ref/gen_*.py; do
    name=$(basename "$script" .py); name=${name#gen_}
    echo "generating $REF/$name with $script"
    cat "$W/gen_$name.out"
    [ "$(cat "$W/gen_$name.rc")" = 0 ] || { echo "fixture generation failed: $script"; gen_failed=1; }
  done
  [ $gen_failed -eq 0 ] || { echo "0 passed, 1 failed"; exit 1; }
  touch "$stamp"
fi

# The tests: job i is "$W/i.label" and "$W/i.cmd" (a command line for eval), the longest first.
n=0
add() { # label command-line
  n=$((n + 1)); printf '%s\n' "$1" > "$W/$n.label"; printf '%s\n' "$2" > "$W/$n.cmd"
}
for t in tests/test_*.sh; do # shell tests of the command, with the plain build
  [ -x "$t" ] && add "$(basename "$t")" "env CNN=$B/cnn PY=$PY $t $REF"
done
add "test_models" "$B/tests/test_models $REF"
# The convolutions use our own GEMM on a CPU with AVX-512F and OpenBLAS elsewhere: the OpenBLAS path
# runs here too (CNN_GEMM=blas), against the same PyTorch fixtures.
add "test_models (CNN_GEMM=blas)" "env CNN_GEMM=blas $B/tests/test_models $REF"
# Eval plans run 3x3 stride-1 convolutions by Winograd where they are large enough; CNN_WINOGRAD=all
# takes every one that fits that way, so the small ones of the fixtures meet PyTorch through it too.
add "test_models (CNN_WINOGRAD=all)" "env CNN_WINOGRAD=all $B/tests/test_models $REF"
for t in $B/asan/tests/test_*; do
  name=$(basename "$t"); ref=$REF; [ "$name" = test_ops ] && ref=$REF/ops
  add "asan $name" "env OMP_NUM_THREADS=2 $t $ref"
done
for t in $B/tests/test_*; do
  name=$(basename "$t"); ref=$REF; [ "$name" = test_ops ] && ref=$REF/ops
  [ "$name" = test_models ] || add "$name" "$t $ref"
done
add "test_ops (CNN_GEMM=blas)" "env CNN_GEMM=blas $B/tests/test_ops $REF/ops"
add "test_ops (CNN_WINOGRAD=all)" "env CNN_WINOGRAD=all $B/tests/test_ops $REF/ops"

# Each lane takes the next job not yet taken (a directory made by mkdir is the lock).
echo 1 > "$W/next"
take() {
  while ! mkdir "$W/lock" 2>/dev/null; do sleep 0.05; done
  i=$(cat "$W/next"); echo $((i + 1)) > "$W/next"; rmdir "$W/lock"
  echo "$i"
}
lane() {
  while i=$(take) && [ "$i" -le "$n" ]; do
    eval "$(cat "$W/$i.cmd")" > "$W/$i.out" 2>&1; echo $? > "$W/$i.rc"
  done
}
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=0:halt_on_error=1
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
export OMP_WAIT_POLICY=passive
lanes=${TEST_LANES:-$(nproc 2>/dev/null || echo 2)}
l=0
while [ $l -lt "$lanes" ]; do lane & l=$((l + 1)); done
wait

total_pass=0; total_fail=0
i=1
while [ $i -le $n ]; do
  label=$(cat "$W/$i.label"); out=$(cat "$W/$i.out" 2>/dev/null); rc=$(cat "$W/$i.rc" 2>/dev/null || echo 1)
  i=$((i + 1))
  printf '%s\n' "$out" >> "$log"
  printf '%s\n' "$out" | grep -E '^FAIL' | sed "s|^|[$label] |"
  line=$(printf '%s\n' "$out" | grep -E '^[0-9]+ passed, [0-9]+ failed' | tail -n 1)
  if [ -z "$line" ]; then
    echo "[$label] crashed or printed no summary (exit $rc):"; printf '%s\n' "$out" | tail -n 5
    total_fail=$((total_fail + 1)); continue
  fi
  p=${line%% passed*}; f=${line#*passed, }; f=${f%% failed*}
  [ "$rc" -ne 0 ] && [ "$f" -eq 0 ] && { echo "[$label] exit $rc"; f=1; }
  echo "[$label] $line"
  total_pass=$((total_pass + p)); total_fail=$((total_fail + f))
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
