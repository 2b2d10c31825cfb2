# common.sh — sourced by the shell tests (test_*.sh REF_DIR): REF, CNN and PY, a scratch directory $T
# removed at exit, and ok/bad lines counted into $pass and $fail.
set -u
REF=${1:-}
CNN=${CNN:-build/cnn}
PY=${PY:-/usr/bin/python3}
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
pass=0; fail=0
ok() { echo "ok   $1"; pass=$((pass + 1)); }
bad() { echo "FAIL $1: $2"; fail=$((fail + 1)); }
