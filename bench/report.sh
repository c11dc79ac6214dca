#!/usr/bin/env bash
# bench/report.sh - run every benchmark and write the report.
#
#   bench/report.sh [--quick] OUTDIR      (B=build by default: the binaries' folder)
#   bench/report.sh --replot OUTDIR       redraw plots, REPORT.md and results.json
#                                         from OUTDIR/data (no benchmark runs)
#
# Writes OUTDIR/REPORT.md, OUTDIR/results.json and the PNG plots; the raw
# inputs of the plots and tables stay in OUTDIR/data/.  `make bench` runs it
# into bench/report/ (committed), `make bench-quick` into build/report-quick/.
set -euo pipefail

quick=""
replot=""
if [ "${1:-}" = "--quick" ]; then quick="--quick"; shift; fi
if [ "${1:-}" = "--replot" ]; then replot=1; shift; fi
out=${1:?usage: bench/report.sh [--quick] OUTDIR}
B=${B:-build}
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
export HM_SHARED=${HM_SHARED:-$(cd "$top/.." && pwd)/shared}
if [ ! -d "$HM_SHARED/datasets/grocery" ]; then
  echo "report: $HM_SHARED/datasets/grocery is missing (set HM_SHARED)" >&2
  exit 1
fi
mkdir -p "$out/data"
t0=$(date +%s)

if [ -z "$replot" ]; then
  cpu=$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')
  cores=$(nproc)
  commit=$(git rev-parse --short HEAD)
  git diff --quiet HEAD -- lib index bench Makefile 2>/dev/null || commit="$commit (+ uncommitted changes)"
  when=$(date -u +%Y-%m-%dT%H:%MZ)
  if [ -n "$quick" ]; then reps=5; mode="quick"; else reps=15; mode="full"; fi

  echo "report: speed (bench_fp $quick)" >&2
  "$B/bench_fp" $quick --json "$out/data/speed.json" --dat "$out/data/threads.dat" > "$out/data/speed.md"

  echo "report: search against index size (bench_search $quick)" >&2
  "$B/bench_search" $quick > "$out/data/search.txt"

  echo "report: accuracy (bench_accuracy $quick)" >&2
  "$B/bench_accuracy" $quick --out "$out/data" --peer "$B/peer_opencv" > "$out/data/accuracy.txt"

  echo "report: end to end with and without local features (bench_e2e)" >&2
  if [ -n "$quick" ]; then e2e_args="--queries 150 --sizes 10000"; else e2e_args=""; fi
  # shellcheck disable=SC2086
  "$B/bench_e2e" $e2e_args > "$out/data/e2e.md"
  elapsed=$(( $(date +%s) - t0 ))
  # what the run was, for --replot
  printf 'cpu=%q\ncores=%q\ncommit=%q\nwhen=%q\nreps=%q\nmode=%q\nelapsed=%q\n' \
    "$cpu" "$cores" "$commit" "$when" "$reps" "$mode" "$elapsed" > "$out/data/meta.sh"
else
  # shellcheck disable=SC1091
  . "$out/data/meta.sh"
fi

# ---- plots (gnuplot, PNG) ----------------------------------------------------
d="$out/data"
sigs_plot="pdq pdq_dih pdq_dih_trim phash_trim dhash_trim desc opencv_phash local fused_default fused_calibrated"
cols=""
header=$(head -1 "$d/recall.dat")
for s in $sigs_plot; do
  i=1
  for h in $header; do
    [ "$h" = "$s" ] && cols="$cols $i"
    i=$((i + 1))
  done
done
{
  echo "set terminal pngcairo size 1400,560 font 'DejaVu Sans,10' noenhanced"
  echo "set linetype 1 lc rgb '#9e9e9e'; set linetype 2 lc rgb '#4e79a7'; set linetype 3 lc rgb '#1f3f80'"
  echo "set linetype 4 lc rgb '#f28e2b'; set linetype 5 lc rgb '#edc948'; set linetype 6 lc rgb '#59a14f'"
  echo "set linetype 7 lc rgb '#e15759'; set linetype 8 lc rgb '#b07aa1'; set linetype 9 lc rgb '#000000'"
  echo "set output '$out/recall_by_family.png'"
  echo "set title 'Recall at precision 0.999 per transform family and signal'"
  echo "set style data histogram; set style histogram clustered gap 1; set style fill solid 0.9 border -1"
  echo "set boxwidth 0.9; set yrange [0:1.05]; set ylabel 'recall'; set grid ytics"
  echo "set xtics rotate by -30 nomirror; set key outside right top vertical"
  echo -n "plot "
  first=1
  for c in $cols; do
    [ $first = 1 ] || echo -n ", "
    echo -n "'$d/recall.dat' using $c:xtic(1) title columnhead"
    first=0
  done
  echo
} > "$d/recall.gp"
gnuplot "$d/recall.gp"

{
  echo "set terminal pngcairo size 900,650 font 'DejaVu Sans,10' noenhanced"
  echo "set linetype 1 lc rgb '#9e9e9e'; set linetype 2 lc rgb '#4e79a7'; set linetype 3 lc rgb '#1f3f80'"
  echo "set linetype 4 lc rgb '#f28e2b'; set linetype 5 lc rgb '#edc948'; set linetype 6 lc rgb '#59a14f'"
  echo "set linetype 7 lc rgb '#e15759'; set linetype 8 lc rgb '#b07aa1'; set linetype 9 lc rgb '#000000'"
  echo "set output '$out/pr_curves.png'"
  echo "set title 'Precision / recall (one prediction per query, ties as blocks)'"
  echo "set xlabel 'recall'; set ylabel 'precision'; set xrange [0:1]; set yrange [0.5:1.005]"
  echo "set grid; set key bottom left"
  echo "set arrow from 0,0.999 to 1,0.999 nohead dt 2 lc rgb 'gray'"
  echo -n "plot "
  first=1
  for s in $sigs_plot; do
    [ -f "$d/pr_$s.dat" ] || continue
    [ $first = 1 ] || echo -n ", "
    echo -n "'$d/pr_$s.dat' using 1:2 with lines lw 2 dt $( [ "${s#fused}" != "$s" ] && echo 1 || echo 1) title '$s'"
    first=0
  done
  echo
} > "$d/pr.gp"
gnuplot "$d/pr.gp"

{
  echo "set terminal pngcairo size 700,450 font 'DejaVu Sans,10' noenhanced"
  echo "set output '$out/throughput_threads.png'"
  echo "set title 'Whole fingerprint throughput against threads ($cores cores)'"
  echo "set xlabel 'threads'; set ylabel 'images/s'; set grid; set yrange [0:*]; set xtics 1"
  echo "plot '$d/threads.dat' using 1:2 with linespoints lw 2 pt 7 title 'hm_fp_compute, grocery photos'"
} > "$d/threads.gp"
gnuplot "$d/threads.gp"

# search q/s against index size, log-log (from bench_search's table)
if [ -s "$d/search.txt" ]; then
  sed 's/hm_hindex MIH/hm_hindex_MIH/' "$d/search.txt" | awk '!/^#/ && NF >= 4 {print $2, $1, $4}' > "$d/search.dat"
  {
    echo "set terminal pngcairo size 700,450 font 'DejaVu Sans,10' noenhanced"
    echo "set output '$out/search_qps.png'"
    echo "set title 'PDQ range search (r = 31), one thread: queries/s against references'"
    echo "set logscale xy; set xlabel 'references'; set ylabel 'queries/s'; set grid; set key top right"
    echo -n "plot "
    first=1
    for ix in IndexBinaryFlat MultiHash16x16f1 hm_hindex_MIH; do
      [ $first = 1 ] || echo -n ", "
      echo -n "'< grep \"^$ix \" $d/search.dat' using 2:3 with linespoints lw 2 pt 7 title '$ix'"
      first=0
    done
    echo
  } > "$d/search.gp"
  gnuplot "$d/search.gp"
fi

# ---- REPORT.md ---------------------------------------------------------------
{
  echo "# hallmark benchmark report"
  echo
  echo "| | |"
  echo "|---|---|"
  echo "| run | $mode (\`make bench$( [ "$mode" = quick ] && echo -quick)\`), $elapsed s |"
  echo "| CPU | $cpu |"
  echo "| cores | $cores |"
  echo "| commit | $commit |"
  echo "| date | $when |"
  echo "| repetitions | stage timings: median of $reps (x4 for the two single images) passes per image; throughput: one pass per thread count; accuracy: one deterministic pass |"
  echo
  echo "Times were taken on a shared machine: absolute times are noisy (other jobs run on"
  echo "the same cores). The ratios within one run are the figures to compare."
  echo
  echo "The thresholds this run calibrates are in data/thresholds.json; index/hm_matcher.c's"
  echo "hm_thresholds_default holds the values adopted from it (the \"built-in\" rows below"
  echo "name the defaults the run was made with)."
  echo
  echo "Not in this report: search at 10M references (\`bench_search --big\`, about 2 GB"
  echo "of RAM; figures in the closing notes and docs), the daemon's latency against offered"
  echo "load (\`make bench-load\`) and replication (\`make bench-repl\`, docs/DEPLOYMENT.md)."
  echo
  cat "$d/accuracy.md"
  echo "![recall per family](recall_by_family.png)"
  echo
  echo "![precision/recall](pr_curves.png)"
  echo
  echo "## Fingerprint speed per stage"
  echo
  echo "From \`bench_fp\`: median milliseconds per image, single thread. \`tj 1/8\` is raw"
  echo "libjpeg-turbo decoding the same bytes at 1/8 DCT scale (the floor); \`w/tj\` is the whole"
  echo "fingerprint (decode + PDQ with 8 dihedral variants + pHash + dHash + trim + descriptor)"
  echo "over that floor."
  echo
  sed -n '1p' "$d/speed.md"
  echo
  sed -n '2,/^$/p' "$d/speed.md"
  echo "![throughput against threads](throughput_threads.png)"
  echo
  sed -n '/^| threads/,$p' "$d/speed.md"
  if [ -s "$d/e2e.md" ]; then
    echo
    echo "## End to end, with and without local features"
    echo
    echo "From \`bench_e2e\` (bench/bench_e2e.c): \`hm_engine_score\` on one thread per image"
    echo "(decode, fingerprint, hash and descriptor search, content regions, and with local"
    echo "features on: their extraction, inverted-file search and verification), on the"
    echo "benchmark's real references and topped up with synthetic ones (real references'"
    echo "fingerprints and features with bits flipped: they fill the indexes and lists like real"
    echo "references but never match) to 10k and 100k.  \"No global match\" are the negative"
    echo "queries: the case that pays for local features, and most of a marketplace's traffic."
    echo
    sed -n '/^| references | local features/,$p' "$d/e2e.md"
  fi
  if [ -s "$d/search.txt" ]; then
    echo
    echo "## Search against index size"
    echo
    echo "From \`bench_search\` (bench/bench_search.c): PDQ-like 256-bit codes, range search at"
    echo "r = 31, one thread, hm_hindex (multi-index hashing) beside FAISS IndexBinaryFlat"
    echo "(exhaustive) and IndexBinaryMultiHash, built on the same codes. The engine's PDQ"
    echo "threshold is now 64 (calibrated above), a wider and costlier search than the r = 31"
    echo "measured here: see the engine's end-to-end rows for its cost at this bank size."
    echo
    echo '```'
    cat "$d/search.txt"
    echo '```'
    echo
    echo "![search queries/s against index size](search_qps.png)"
  fi
} > "$out/REPORT.md"

# ---- results.json ------------------------------------------------------------
{
  printf '{"meta":{"mode":"%s","cpu":"%s","cores":%s,"commit":"%s","date":"%s","repetitions":%s,"seconds":%s},\n' \
    "$mode" "$cpu" "$cores" "$commit" "$when" "$reps" "$elapsed"
  printf '"speed":'
  cat "$d/speed.json"
  printf ',"accuracy":'
  cat "$d/accuracy.json"
  if [ -s "$d/search.dat" ]; then
    printf ',"search_r31":['
    awk 'BEGIN{f=1} {printf "%s{\"index\":\"%s\",\"refs\":%s,\"qps\":%s}", f?"":",", $1, $2, $3; f=0}' "$d/search.dat"
    printf ']'
  fi
  printf '}\n'
} > "$out/results.json"
if command -v python3 >/dev/null; then
  python3 -m json.tool "$out/results.json" >/dev/null || { echo "report: results.json is not valid JSON" >&2; exit 1; }
fi
echo "report: $out/REPORT.md written ($mode run: $elapsed s)" >&2
