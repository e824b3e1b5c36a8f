#!/bin/sh
# net_handoff.sh: five dynamod processes (N=3 R=2 W=2); one is down while 30 keys are written,
# so the sloppy quorum writes its share to fallbacks as hints; after its restart the hints are
# handed to it, and it alone then holds every key it owns.
#
#   sh tests/net_handoff.sh DYNAMOD DYNCTL NET_PROBE
set -u
DYNAMOD=$1
DYNCTL=$2
PROBE=$3
. "$(dirname "$0")/net_lib.sh"

# Anti-entropy off, so only the handoff can bring node 5 what it missed.
make_cluster 5 "n = 3" "r = 2" "w = 2" "request_timeout_ms = 300" "sync = \"none\"" \
    "tick_ms = 100" "anti_entropy = false" "partitions = 16"
for i in 1 2 3 4 5; do start_node $i; done
T="--timeout 800 --retries 2"

kill -9 "$PID_5"
wait "$PID_5" 2>/dev/null
# A coordinator sends to a dead replica until a deadline tells it so; a write that met W=2
# meanwhile leaves node 5 nothing, not even a hint (anti-entropy's job). So first write until
# every other node has suspected node 5: from then on its share goes to fallbacks as hints.
w=0
until [ "$(grep -l "peer 5 suspected" "$WORK"/node[1-4].log | wc -l)" -eq 4 ]; do
    ctl $T put "warm$w" x >/dev/null 2>&1
    w=$((w + 1))
    [ $w -lt 200 ] || fail "after 200 writes, not every node suspects node 5"
done
acked=""
i=1
while [ $i -le 30 ]; do
    ctl $T put "h$i" "v$i" >/dev/null 2>&1 && acked="$acked $i"
    i=$((i + 1))
done
[ "$(echo $acked | wc -w)" -eq 30 ] || fail "only $(echo $acked | wc -w) of 30 writes acknowledged"

# The keys node 5 owns (it is among their first three), from the ring.
owned=""
for i in $acked; do
    ctl locate "h$i" | head -4 | grep -q " node 5 " && owned="$owned $i"
done
[ -n "$owned" ] || fail "node 5 owns none of the 30 keys (change the key names)"

start_node 5
# Hints are handed off in rounds every tick once node 5 answers a probe. Wait until the holders
# (nodes 1 to 4) report every hinted write delivered; SIGUSR1 makes them log their counters.
hint_sum() {  # hint_sum FIELD: the field's sum over the last stats line of nodes 1 to 4
    for n in 1 2 3 4; do
        grep "stats node:" "$WORK/node$n.log" | tail -n 1 | sed -n "s/.* $1=\([0-9]*\).*/\1/p"
    done | awk '{ s += $1 } END { print s + 0 }'
}
tries=0
while :; do
    for n in 1 2 3 4; do eval "kill -USR1 \$PID_$n"; done
    sleep 0.25
    hinted=$(hint_sum hinted_writes)
    delivered=$(hint_sum hints_delivered)
    [ "$hinted" -gt 0 ] && [ "$delivered" -ge "$hinted" ] && break
    tries=$((tries + 1))
    [ $tries -lt 40 ] || fail "hints: $hinted written to fallbacks, $delivered delivered"
done
# Now node 5 alone (the others stopped, so no read repair can help) holds every key it owns.
for i in 1 2 3 4; do stop_node $i; done
for i in $owned; do
    out=$("$DYNCTL" --nodes "127.0.0.1:$PORT_5" --cluster test --key-file "$WORK/key" -r 1 \
          --timeout 700 --retries 0 get "h$i") || fail "node 5 alone does not hold h$i (exit $?)"
    echo "$out" | grep -qx "value: v$i" || fail "node 5 alone: h$i: expected v$i, got: $out"
done
stop_node 5
echo "net_handoff: ok ($(echo $owned | wc -w) keys owned by the downed node;" \
    "$hinted hinted writes, $delivered delivered)"
