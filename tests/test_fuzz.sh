#!/bin/sh
# test_fuzz.sh — a short run of each libFuzzer target (tests/fuzz/fuzz_*.c, built by `make fuzz` into
# B/fuzz/, B the directory of $CNN) from its committed corpus, which includes the regression inputs
# of bugs it found: a pass is no crash, leak, sanitizer report or timeout. FUZZ_SECONDS sets the
# time per target (default 20). Prints "ok"/"FAIL" lines and "N passed, M failed".
. "$(dirname "$0")/common.sh"
B=$(dirname "$CNN")
SECONDS_EACH=${FUZZ_SECONDS:-20}
for name in onnx safetensors; do
  fuzzer=$B/fuzz/fuzz_$name
  corpus=tests/fuzz/corpus_$name
  if [ ! -x "$fuzzer" ]; then
    bad "fuzz_$name" "$fuzzer is not built (make B=$B fuzz)"; continue
  fi
  # New inputs go to a scratch corpus (listed first); the committed one is only read.
  mkdir -p "$T/$name"
  out=$("$fuzzer" -max_total_time="$SECONDS_EACH" -timeout=10 -rss_limit_mb=2048 -artifact_prefix="$T/$name-" \
        -print_final_stats=1 "$T/$name" "$corpus" 2>&1); rc=$?
  runs=$(printf '%s\n' "$out" | sed -n 's/^stat::number_of_executed_units: *//p')
  if [ $rc -eq 0 ] && [ -n "$runs" ]; then
    ok "fuzz_$name: $runs inputs in ${SECONDS_EACH}s from $(ls "$corpus" | wc -l) seeds, no crash"
  else
    bad "fuzz_$name" "exit $rc"; printf '%s\n' "$out" | grep -E 'ERROR|SUMMARY|artifact|#0 |#1 |#2 ' | head -n 12
  fi
done
echo "$pass passed, $fail failed"
[ $fail -eq 0 ]
