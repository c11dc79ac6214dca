#!/usr/bin/env bash
# The body of `make test`: every Check suite, then (unless disabled) a short
# libFuzzer pass; ends with one plain summary line "all: N passed, M failed"
# counting Check's tests and the fuzz targets.
#   tools/run_tests.sh TEST_BIN FUZZ_SECONDS|0 MAKE...
set -uo pipefail
bin=$1; fuzz_secs=$2; shift 2
log=$(mktemp)
trap 'rm -f "$log"' EXIT
"$bin" 2>&1 | tee "$log"
rc=${PIPESTATUS[0]}
line=$(grep -E '^[0-9]+%: Checks: [0-9]+' "$log" | tail -1)
checks=$(echo "$line" | sed -E 's/.*Checks: ([0-9]+).*/\1/')
fails=$(echo "$line" | sed -E 's/.*Failures: ([0-9]+), Errors: ([0-9]+).*/\1 \2/' | awk '{print $1+$2}')
checks=${checks:-0}; fails=${fails:-1}
[ "$rc" -ne 0 ] && [ "$fails" -eq 0 ] && fails=1
fpass=0; ffail=0
if [ "$fuzz_secs" != 0 ]; then
  echo "== short fuzzing pass ($fuzz_secs s per target)"
  "$@" --no-print-directory fuzz FUZZ_SECONDS="$fuzz_secs" 2>&1 | tee "$log"
  frc=${PIPESTATUS[0]}
  fpass=$(grep -c '^fuzz: .* findings=0 rc=0$' "$log")
  ffail=$(grep -c '^fuzz: ' "$log")
  ffail=$((ffail - fpass))
  [ "$frc" -ne 0 ] && [ "$ffail" -eq 0 ] && ffail=1
fi
echo "all: $((checks - fails + fpass)) passed, $((fails + ffail)) failed"
[ $((fails + ffail)) -eq 0 ]
