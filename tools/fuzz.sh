#!/usr/bin/env bash
# Run libFuzzer targets: tools/fuzz.sh BUILD_DIR SECONDS TARGET...
# Replays tests/fuzz/regress/TARGET/* first (every past finding stays fixed),
# then fuzzes each target for SECONDS on a corpus seeded from ../shared and
# tests/fuzz/seeds/TARGET.  New crashes land in BUILD_DIR/artifacts/TARGET/ and
# fail the run.  Prints one summary line per target: executions and findings.
set -uo pipefail
bdir=$1; secs=$2; shift 2
top=$(cd "$(dirname "$0")/.." && pwd)
shared=${HM_SHARED:-$top/../shared}
fail=0
for t in "$@"; do
  bin="$bdir/$t"
  corpus="$bdir/corpus/$t"; art="$bdir/artifacts/$t"
  # Findings are counted per run: a reproducer worth keeping goes to
  # tests/fuzz/regress/<target>/ (replayed below), not left here.
  rm -rf "$art"
  mkdir -p "$corpus" "$art"
  seeds=()
  [ -d "$top/tests/fuzz/seeds/$t" ] && seeds+=("$top/tests/fuzz/seeds/$t")
  if [ "$t" = fuzz_fp ]; then
    if [ -d "$shared/conformance/pdq/images" ]; then
      seeds+=("$shared/conformance/pdq/images")
      mkdir -p "$bdir/seeds-grocery"
      ls "$shared"/datasets/grocery/val/*/*/*.jpg 2>/dev/null | head -20 | xargs -r cp -t "$bdir/seeds-grocery"
      seeds+=("$bdir/seeds-grocery")
    elif [ "${CI:-}" = true ]; then
      echo "fuzz: $shared is missing and CI=true: the fuzz_fp seed corpus needs it" >&2; exit 1
    fi
  fi
  if [ -d "$top/tests/fuzz/regress/$t" ]; then
    files=("$top/tests/fuzz/regress/$t"/*)
    if [ -e "${files[0]}" ]; then
      if ! "$bin" -runs=0 "${files[@]}" >"$bdir/$t.regress.log" 2>&1; then
        echo "fuzz: $t fails on a kept reproducer; see $bdir/$t.regress.log" >&2; fail=1; continue
      fi
    fi
  fi
  # Seed directories are read once (-seed_inputs style: passed after the corpus).
  "$bin" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 -max_len=1048576 \
         -artifact_prefix="$art/" -print_final_stats=1 "$corpus" "${seeds[@]}" \
         >"$bdir/$t.log" 2>&1
  rc=$?
  execs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$bdir/$t.log" | grep -o '[0-9]*$')
  found=$(ls "$art" | wc -l)
  echo "fuzz: $t seconds=$secs executions=${execs:-0} findings=$found rc=$rc"
  if [ "$rc" -ne 0 ] || [ "$found" -ne 0 ]; then
    echo "fuzz: $t found a problem; last lines of $bdir/$t.log:" >&2
    tail -30 "$bdir/$t.log" >&2
    fail=1
  fi
done
exit $fail
