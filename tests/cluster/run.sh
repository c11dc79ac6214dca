#!/usr/bin/env bash
# tests/cluster/run.sh - `make test-cluster`: the fleet on NATS JetStream
# (docs/DEPLOYMENT.md) on a 3-server nats-server cluster on 127.0.0.1 (random
# free ports, a temp dir removed on exit), one writer and two scorers.
#   (a) listings on the work queue while a NATS server and a scorer are
#       SIGKILLed and restarted: exactly one verdict each, no strike twice;
#   (b) bank adds while another NATS server is SIGKILLed: every acknowledged
#       add on every node, equal digests, `hallmark verify` passes;
#   (c) a rights holder's durable consumer, offline during a burst, gets every
#       finding for its brand and none for another (and the burst's rate);
#   (d) a refused credential.
# Needs HM_BIN_DIR (hallmarkd, hallmark, hm_fleet_tool).  With CI=true a
# missing nats-server is a failure.
set -u
BIN=${HM_BIN_DIR:?HM_BIN_DIR must name the build directory}
if ! command -v nats-server >/dev/null 2>&1; then
    if [ "${CI:-}" = true ]; then
        echo "FAIL: nats-server is not installed (CI=true): make test-cluster cannot run" >&2
        exit 1
    fi
    echo "SKIPPED (LOUDLY): nats-server is not installed; make test-cluster did not run" >&2
    exit 0
fi
T=$(mktemp -d /tmp/hm-cluster.XXXXXX)
declare -A PID
FAILS=0
START=$(date +%s)
cleanup() {
    for k in "${!PID[@]}"; do kill -9 "${PID[$k]}" 2>/dev/null; done
    wait 2>/dev/null
    if [ -n "${HM_KEEP:-}" ]; then echo "kept $T"; else rm -rf "$T"; fi
}
trap cleanup EXIT
say() { echo "[$(( $(date +%s) - START ))s] $*"; }
check() { # check DESCRIPTION CONDITION...
    local what=$1; shift
    if "$@"; then say "ok   $what"; else say "FAIL $what"; FAILS=$((FAILS + 1)); fi
}
TOOL=$BIN/hm_fleet_tool
read -r -a PORTS < <(python3 -c '
import socket
ss=[socket.socket() for _ in range(6)]
for s in ss: s.bind(("127.0.0.1",0))
print(" ".join(str(s.getsockname()[1]) for s in ss))')
CP=("${PORTS[@]:0:3}"); RP=("${PORTS[@]:3:3}")
for i in 0 1 2; do
    routes=""
    for j in 0 1 2; do [ "$j" != "$i" ] && routes="$routes${routes:+, }nats-route://127.0.0.1:${RP[$j]}"; done
    cat > "$T/ns$i.conf" <<EOF
server_name: n$i
listen: 127.0.0.1:${CP[$i]}
jetstream { store_dir: "$T/ns$i", max_memory_store: 64MB, max_file_store: 1GB }
cluster { name: hm, listen: 127.0.0.1:${RP[$i]}, routes: [$routes ] }
authorization { users: [
  { user: writer, password: w-secret }, { user: scorer, password: s-secret },
  { user: tester, password: t-secret }, { user: holder, password: h-secret } ] }
EOF
done
ns_start() { nats-server -c "$T/ns$1.conf" >> "$T/ns$1.log" 2>&1 & PID[ns$1]=$!; }
urls() { local u=""; for i in 0 1 2; do u="$u${u:+,}nats://${1:+$1@}127.0.0.1:${CP[$i]}"; done; echo "$u"; }
TU=$(urls "")
as() { HM_NATS_USER=$1 HM_NATS_PASSWORD=$2 "${@:3}"; }
TOOL_T() { as tester t-secret "$TOOL" "$@"; }
printf 'w-secret\n' > "$T/w.pw"; printf 's-secret\n' > "$T/s.pw"; printf 'wrong\n' > "$T/bad.pw"
d_start() { # d_start NAME ROLE USER PWFILE
    local n=$1
    "$BIN/hallmarkd" --db "$T/$n" --nats-url "$(urls "")" --nats-user "$3" \
        --nats-password-file "$4" --fleet-role "$2" --fleet-replicas 3 --workers 2 \
        --ingest "ipc://$T/$n.i" --pipeline-in "ipc://$T/$n.pi" --pipeline-out "ipc://$T/$n.po" \
        --feed "ipc://$T/$n.f" --control "ipc://$T/$n.c" --metrics off --nosync 1 \
        --strike-limit 1000000 >> "$T/$n.log" 2>&1 &
    PID[$n]=$!
}
wait_log() { # wait_log FILE PATTERN SECONDS
    local i
    for ((i = 0; i < $3 * 10; i++)); do grep -q "$2" "$1" 2>/dev/null && return 0; sleep 0.1; done
    return 1
}
seq_of() { "$BIN/hallmark" digest --db "$T/$1" 2>/dev/null | python3 -c 'import json,sys; print(json.load(sys.stdin)["seq"])' 2>/dev/null || echo -1; }
digest_of() { "$BIN/hallmark" digest --db "$T/$1" 2>/dev/null | python3 -c 'import json,sys; print(json.load(sys.stdin)["digest"])'; }
wait_converged() { # every node at the writer's sequence, within SECONDS
    local i w
    for ((i = 0; i < $1 * 5; i++)); do
        w=$(seq_of w)
        [ "$w" -gt 0 ] && [ "$(seq_of s1)" = "$w" ] && [ "$(seq_of s2)" = "$w" ] && return 0
        sleep 0.2
    done
    return 1
}

for i in 0 1 2; do ns_start $i; done
for i in 0 1 2; do wait_log "$T/ns$i.log" "Server is ready" 20 || { say "FAIL nats-server n$i did not start"; tail -5 "$T/ns$i.log"; exit 1; }; done
say "3 nats-servers on ${CP[*]}"
"$TOOL" images "$T" 520 7 >/dev/null || exit 1
IMG() { local a=$1 b=$2 k; for ((k = a; k <= b; k++)); do printf '%s/img-%05d.png ' "$T" "$k"; done; }

d_start w writer writer "$T/w.pw"
wait_log "$T/w.log" "event=ready" 90 || { say "FAIL the writer did not start"; tail "$T/w.log"; exit 1; }
d_start s1 scorer scorer "$T/s.pw"; d_start s2 scorer scorer "$T/s.pw"
for n in s1 s2; do wait_log "$T/$n.log" "event=ready" 90 || { say "FAIL scorer $n did not start"; tail "$T/$n.log"; exit 1; }; done
say "writer and 2 scorers ready"
# The bank: 100 acme and 50 other references.
"$TOOL" add "ipc://$T/w.c" acme ref $(IMG 0 99) > "$T/acked0" 2>>"$T/tool.log"
"$TOOL" add "ipc://$T/w.c" other oth $(IMG 100 149) >> "$T/acked0" 2>>"$T/tool.log"
check "150 references acknowledged" [ "$(wc -l < "$T/acked0")" = 150 ]
check "the scorers applied the bank" wait_converged 60
# Durable consumers made before the burst: an audit of every verdict, and
# the holder's own (offline from here to the end of (a)).
TOOL_T collect "$TU" audit 'hallmark.verdict.>' 0 1 >/dev/null 2>>"$T/tool.log"
as holder h-secret "$TOOL" collect "$TU" holder-acme 'hallmark.verdict.acme.>' 0 1 >/dev/null 2>>"$T/tool.log"

# (a) 400 listings (150 of them counterfeit), kills partway.
say "(a) 400 listings; SIGKILL nats n1 and scorer s1 partway"
T0=$(date +%s.%N)
{ TOOL_T publish "$TU" A s-1 acme 921600 $(IMG 0 99) $(IMG 150 274)
  TOOL_T publish "$TU" B s-1 other 921600 $(IMG 100 149) $(IMG 275 399); } 2>>"$T/tool.log" &
PUB=$!
sleep 0.5
kill -9 "${PID[ns1]}" "${PID[s1]}"; unset 'PID[ns1]' 'PID[s1]'
sleep 3
ns_start 1; d_start s1 scorer scorer "$T/s.pw"
wait "$PUB"
TOOL_T collect "$TU" audit 'hallmark.verdict.>' 400 120 > "$T/verdicts_a" 2>>"$T/tool.log"
T1=$(date +%s.%N)
check "400 verdicts delivered" [ "$(wc -l < "$T/verdicts_a")" = 400 ]
check "one verdict per listing" [ "$(cut -d' ' -f2 "$T/verdicts_a" | sort -u | wc -l)" = 400 ]
check "the verdict stream stores 400" [ "$(TOOL_T count "$TU" HM_VERDICTS | cut -d' ' -f1)" = 400 ]
check "the work queue is empty" [ "$(TOOL_T count "$TU" HM_LISTINGS | cut -d' ' -f1)" = 0 ]
# The oracle: a single-node engine (hallmark score) over the same bank.
oracle() { # oracle PREFIX FILE...: "PREFIX-<i> decision" in file order
    local p=$1; shift
    "$BIN/hallmark" score --db "$T/w" --jobs 1 "$@" 2>/dev/null | python3 -c '
import json, sys
files = sys.argv[2:]
dec = {}
for line in sys.stdin:
    j = json.loads(line); dec[j["file"]] = j["decision"]
for i, f in enumerate(files): print("%s-%d %s" % (sys.argv[1], i, dec.get(f, "missing")))' "$p" "$@"
}
{ oracle A $(IMG 0 99) $(IMG 150 274); oracle B $(IMG 100 149) $(IMG 275 399); } | sort > "$T/want_a"
cut -d' ' -f2,3 "$T/verdicts_a" | sort > "$T/got_a"
check "every decision is the single-node engine's" cmp -s "$T/want_a" "$T/got_a"
NCF=$(grep -c ' counterfeit$' "$T/want_a")
check "$NCF counterfeit verdicts (at least the 150 bank images)" [ "$NCF" -ge 150 ]
strikes_done() { local i; for ((i = 0; i < $1 * 2; i++)); do
    [ "$(TOOL_T count "$TU" HM_STRIKES | cut -d' ' -f1)" = 0 ] && return 0; sleep 0.5; done; return 1; }
check "the writer took every strike" strikes_done 60
check "every node converged after the kills" wait_converged 60
# No strike twice: one more counterfeit listing sees the seller's count.
TOOL_T publish "$TU" final s-1 acme 921600 $(IMG 0 0) 2>>"$T/tool.log"
TOOL_T collect "$TU" audit 'hallmark.verdict.>' 1 60 > "$T/verdict_final" 2>>"$T/tool.log"
check "the seller has exactly $NCF strikes" [ "$(cut -d' ' -f4 "$T/verdict_final")" = "$NCF" ]
say "(a) took $(python3 -c "print(round($T1 - $T0, 1))") s; $(cat "$T"/s*.log | grep -c event=fleet_redelivered) listings redelivered"

# (b) 100 adds while nats n2 is SIGKILLed.
say "(b) 100 bank adds; SIGKILL nats n2 partway"
"$TOOL" add "ipc://$T/w.c" acme new $(IMG 400 499) > "$T/acked1" 2>>"$T/tool.log" &
ADD=$!
sleep 0.5
kill -9 "${PID[ns2]}"; unset 'PID[ns2]'
sleep 3; ns_start 2
wait "$ADD"
check "the adds were acknowledged" [ "$(wc -l < "$T/acked1")" -gt 0 ]
check "every node at the writer's sequence" wait_converged 90
DW=$(digest_of w)
check "scorer s1's digest is the writer's" [ "$(digest_of s1)" = "$DW" ]
check "scorer s2's digest is the writer's" [ "$(digest_of s2)" = "$DW" ]
missing=0
"$BIN/hallmark" export --db "$T/s2" --format te-csv | cut -d, -f2 | sort > "$T/refs_s2"
while read -r r; do grep -qx "$r" "$T/refs_s2" || missing=$((missing + 1)); done < <(cat "$T/acked0" "$T/acked1")
check "every acknowledged add is present ($(cat "$T/acked0" "$T/acked1" | wc -l) refs)" [ "$missing" = 0 ]
for n in w s1 s2; do
    check "hallmark verify on $n" sh -c "'$BIN/hallmark' verify --db '$T/$n' | grep -q '\"ok\":true'"
done
# (c) the holder's consumer comes back: all of acme, nothing else; a burst too.
say "(c) burst of 200 listings, no kills"
B0=$(date +%s.%N)
TOOL_T publish "$TU" C s-2 acme 921600 $(IMG 0 99) 2>>"$T/tool.log"
TOOL_T publish "$TU" D s-2 other 921600 $(IMG 100 149) $(IMG 300 349) 2>>"$T/tool.log"
TOOL_T collect "$TU" audit 'hallmark.verdict.>' 200 60 > "$T/verdicts_c" 2>>"$T/tool.log"
B1=$(date +%s.%N)
check "200 burst verdicts" [ "$(wc -l < "$T/verdicts_c")" = 200 ]
say "burst: 200 listings in $(python3 -c "print(round($B1 - $B0, 2), 's =', round(200 / ($B1 - $B0)), 'listings/s')") through the work queue (2 scorers)"
cat "$T/verdicts_a" "$T/verdict_final" "$T/verdicts_c" | grep '^hallmark\.verdict\.acme\.' | cut -d' ' -f2 | sort > "$T/want_acme"
as holder h-secret "$TOOL" collect "$TU" holder-acme 'hallmark.verdict.acme.>' -1 5 > "$T/holder" 2>>"$T/tool.log"
check "the holder got every acme finding ($(wc -l < "$T/want_acme"))" \
    [ "$(cut -d' ' -f2 "$T/holder" | sort)" = "$(cat "$T/want_acme")" ]
check "the holder got nothing of another brand" [ "$(grep -vc '^hallmark\.verdict\.acme\.' "$T/holder")" = 0 ]

# Hostile listings: each gets an error verdict or is dropped, the scorers live on.
say "hostile listings"
head -c 5000 /dev/urandom > "$T/garbage"; head -c 100 "$T/img-00000.png" > "$T/trunc"; : > "$T/empty"
head -c 1100000 /dev/urandom > "$T/huge"; LONG=$(printf 'x%.0s' $(seq 300))
for c in garbage trunc empty; do TOOL_T raw "$TU" "H-$c" "H-$c" "$T/$c" 2>>"$T/tool.log"; done
TOOL_T raw "$TU" "" "" "$T/garbage" 2>>"$T/tool.log"          # no id at all
TOOL_T raw "$TU" "H-long" "$LONG" "$T/garbage" 2>>"$T/tool.log" # a 300-byte listing id
check "a listing over the size limit is refused at publish" sh -c "! HM_NATS_USER=tester HM_NATS_PASSWORD=t-secret '$TOOL' raw '$TU' H-huge H-huge '$T/huge' 2>/dev/null"
check "the publisher refuses it too" sh -c "HM_NATS_USER=tester HM_NATS_PASSWORD=t-secret '$TOOL' publish '$TU' P s acme 921600 '$T/huge' 2>/dev/null | grep -q too_large"
TOOL_T collect "$TU" audit 'hallmark.verdict.>' -1 8 > "$T/verdicts_h" 2>>"$T/tool.log"
check "broken, truncated and empty images get error verdicts" \
    [ "$(cut -d' ' -f2,3 "$T/verdicts_h" | sort | tr '\n' ' ')" = "H-empty error H-garbage error H-trunc error " ]
check "the listings without a usable id were dropped" [ "$(TOOL_T count "$TU" HM_LISTINGS | cut -d' ' -f1)" = 0 ]
check "both scorers are alive" kill -0 "${PID[s1]}" "${PID[s2]}"

# Add-to-matchable, fleet-wide: add on the writer, then the image as a
# listing on the work queue until its verdict is counterfeit.
say "$(as tester t-secret "$TOOL" latency "ipc://$T/w.c" "$TU" $(IMG 500 519) 2>>"$T/tool.log")"

# (d) refused credentials.
say "(d) refused credentials"
refused() { ! as scorer wrong "$TOOL" connect "$TU" 2>"$T/refused" && grep -qi author "$T/refused"; }
check "a wrong password is refused" refused
d_start bad scorer scorer "$T/bad.pw"
for ((i = 0; i < 300; i++)); do kill -0 "${PID[bad]}" 2>/dev/null || break; sleep 0.1; done
wait "${PID[bad]}"; rc=$?; unset 'PID[bad]'
check "hallmarkd with a wrong password exits non-zero" [ "$rc" -ne 0 ]
check "and says it was denied" grep -q "code=denied" "$T/bad.log"

say "done: $FAILS failure(s)"
[ "$FAILS" -eq 0 ]
