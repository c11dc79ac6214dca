#!/usr/bin/env bash
# make run / make demo.
#   tools/demo.sh run  [DB]   load the demo bank into DB (./var/db) on first
#                             start, then run hallmarkd in the foreground
#   tools/demo.sh load [DB]   only load the demo bank (make bench-load)
#   tools/demo.sh demo [DB]   start hallmarkd, send the demo queries with the
#                             CLI, print the verdicts, stop it
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
mode=${1:-run}
db=${2:-$top/var/db}
bin=${HM_BIN_DIR:-$top/build}
cd "$top/demo"

load_bank() {
  [ -f "$db/data.mdb" ] && return 0
  echo "demo: creating $db with the demo bank (demo/bank.tsv, demo/sellers.tsv)" >&2
  mkdir -p "$(dirname "$db")"
  grep -v '^#' bank.tsv | while IFS=$'\t' read -r file id bank brand holder; do
    "$bin/hallmark" add --db "$db" --bank "$bank" --brand "$brand" --holder "$holder" \
        --source "demo bank (Grocery Store Dataset, MIT)" --id "$id" "$file" >/dev/null
  done
  grep -v '^#' sellers.tsv | while IFS=$'\t' read -r brand seller; do
    "$bin/hallmark" authorize --db "$db" --brand "$brand" --seller "$seller" >/dev/null
  done
  "$bin/hallmark" stats --db "$db" >&2
}

load_bank
case "$mode" in
run)
  cat >&2 <<MSG
demo: hallmarkd on $db
  ingest    tcp://127.0.0.1:5555   (hallmark send --connect tcp://127.0.0.1:5555 IMAGE...)
  pipeline  tcp://127.0.0.1:5556 -> tcp://127.0.0.1:5557
  feed      tcp://127.0.0.1:5558   (topics brand/<brand>/<decision>)
  control   tcp://127.0.0.1:5559
  metrics   http://127.0.0.1:9555/metrics  /healthz
MSG
  exec "$bin/hallmarkd" --db "$db"
  ;;
demo)
  port=${HM_DEMO_PORT:-15555}
  "$bin/hallmarkd" --db "$db" --ingest "tcp://127.0.0.1:$port" \
      --pipeline-in "tcp://127.0.0.1:$((port + 1))" --pipeline-out "tcp://127.0.0.1:$((port + 2))" \
      --feed "tcp://127.0.0.1:$((port + 3))" --control "tcp://127.0.0.1:$((port + 4))" \
      --metrics "127.0.0.1:$((port + 5))" --log-level warn &
  pid=$!
  trap 'kill -TERM $pid 2>/dev/null; wait $pid 2>/dev/null || true' EXIT
  for _ in $(seq 100); do
    curl -sf "http://127.0.0.1:$((port + 5))/healthz" >/dev/null 2>&1 && break
    sleep 0.1
  done
  grep -v '^#' queries.tsv | while IFS=$'\t' read -r file listing seller brand what; do
    echo "== $file (seller $seller, claims $brand): $what"
    "$bin/hallmark" send --connect "tcp://127.0.0.1:$port" --seller "$seller" --brand "$brand" "$file" |
      python3 -c 'import json,sys
for line in sys.stdin:
    v = json.loads(line)
    m = v.get("matches") or [{}]
    print("   %-11s %-28s score=%.2f  %s %s/%s d=%s" % (v.get("decision"), v.get("reason"),
          v.get("score", 0), m[0].get("ref", "-"), m[0].get("signal", "-"), m[0].get("variant", "-"),
          m[0].get("distance", "-")))'
  done
  ;;
load) ;;
*) echo "usage: tools/demo.sh run|load|demo [DB]" >&2; exit 2 ;;
esac
