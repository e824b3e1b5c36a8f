#!/bin/sh
# net_ring.sh: membership changes of the ring on real processes: plan, commit, ring-status.
#
#   sh tests/net_ring.sh DYNAMOD DYNCTL NET_PROBE
#
# Three members and a spare (node 4, `spare = true` in the cluster file). Checks: ring-status
# shows every node on version 0, the spare owning nothing; `plan --join 4` reports the moves and
# applies nothing; bad changes are refused with exit 2 (an id outside the cluster file, a leave of
# a non-member, a commit without a change); `commit --join 4` records version 1 at node 1, gossip
# takes it to every node and the data moves until ring-status shows all on version 1 with
# transfers idle; node 4 then stored keys, and every key written is still readable; then
# `commit --leave 1 --via 2` settles on version 2 with node 1 owning nothing and marked removed
# in every view (it does that itself once its data is handed on), every key still readable.
set -u
DYNAMOD=$1
DYNCTL=$2
PROBE=$3
. "$(dirname "$0")/net_lib.sh"

KEYS=40
SPARES=4 make_cluster 4 "n = 3" "r = 2" "w = 2" "sync = \"none\"" "tick_ms = 100"
for i in 1 2 3 4; do start_node $i; done

# settle_on VERSION: wait (20 s at most) until every node follows it with transfers idle.
settle_on() {
    tries=0
    while :; do
        out=$(ctl --format json ring-status) || fail "ring-status: exit $?: $out"
        case $out in *"\"version\":$1,\"settled\":true}") break ;; esac
        tries=$((tries + 1))
        [ $tries -lt 100 ] || fail "the ring did not settle on version $1 in 20 s: $out"
        sleep 0.2
    done
}

# all_readable: every key written reads back with its value.
all_readable() {
    k=1
    while [ $k -le $KEYS ]; do
        out=$(ctl get "key$k") || fail "get key$k ($1): exit $?: $out"
        echo "$out" | grep -q "value$k" || fail "get key$k ($1): $out"
        k=$((k + 1))
    done
}

# store_puts ID: node ID's count of writes to its store.
store_puts() {
    ctl --format json stats | tr '{' '\n' |
        awk -v id="$1" '/"id":/ { split($0, a, "\"id\":"); split(a[2], b, ","); cur = b[1] }
                        /^"puts":/ && cur == id { split($0, a, ":"); split(a[2], b, ","); print b[1] }' |
        head -n 1
}

out=$(ctl ring-status) || fail "ring-status: exit $?: $out"
echo "$out" | grep -q "^node 4 .* ring version 0  transfers idle  owns 0 of 64 partitions" ||
    fail "ring-status before: the spare should own nothing: $out"
echo "$out" | grep -q "settled: every node is on ring version 0" || fail "ring-status: $out"

k=1
while [ $k -le $KEYS ]; do
    ctl put "key$k" "value$k" >/dev/null || fail "put key$k: exit $?"
    k=$((k + 1))
done

out=$(ctl plan --join 4) || fail "plan --join 4: exit $?: $out"
echo "$out" | grep -q "^plan at node 1, from its ring version 0: 3 members -> 4; 16 of 64 partitions change owner" ||
    fail "plan --join 4: $out"
echo "$out" | grep -q "^     4     0 -> 16 .*(joins)$" || fail "plan: node 4's line: $out"
echo "$out" | grep -q "^nothing applied" || fail "plan: $out"
out=$(ctl --format json plan --join 4) || fail "plan --format json: exit $?"
echo "$out" | grep -q '^{"node":1,"version":0,"members_before":3,"members_after":4,"partitions":64,"moved":16,' ||
    fail "plan json: $out"
echo "$out" | grep -q '"committed":false}$' || fail "plan json: $out"
ctl --format json ring-status | grep -q '"version":0,"settled":true}$' ||
    fail "plan applied something"

ctl plan --join 9 >/dev/null 2>"$WORK/err"
[ $? -eq 2 ] || fail "plan --join 9: expected exit 2"
grep -q "node 9 is not in the cluster file" "$WORK/err" || fail "join 9: $(cat "$WORK/err")"
ctl commit --leave 4 >/dev/null 2>"$WORK/err"
[ $? -eq 2 ] || fail "commit --leave 4 (a spare): expected exit 2"
grep -q "node 4 is not a member of the ring" "$WORK/err" || fail "leave 4: $(cat "$WORK/err")"
ctl commit >/dev/null 2>&1
[ $? -eq 2 ] || fail "commit without a change: expected exit 2"
ctl commit --join 2 >/dev/null 2>&1
[ $? -eq 2 ] || fail "commit --join 2 (a member): expected exit 2"

before=$(store_puts 4)
out=$(ctl --format json commit --join 4) || fail "commit --join 4: exit $?: $out"
echo "$out" | grep -q '"committed":true,"new_version":1}$' || fail "commit --join 4: $out"
settle_on 1
out=$(ctl ring-status)
echo "$out" | grep -q "^node 4 .* owns 16 of 64 partitions (ring of 4 members)" ||
    fail "ring-status after the join: $out"
after=$(store_puts 4)
echo "node 4 store puts: $before before the join, $after after"
[ "$((after - before))" -ge $((KEYS / 4)) ] ||
    fail "node 4 stored $((after - before)) writes after joining; expected its share of $KEYS keys"
all_readable "after the join"

out=$(ctl commit --leave 1 --via 2) || fail "commit --leave 1: exit $?: $out"
echo "$out" | grep -q "^committed at node 2: ring version 2" || fail "commit --leave 1: $out"
settle_on 2
out=$(ctl ring-status)
echo "$out" | grep -q "^node 1 .* owns 0 of 64 partitions (ring of 3 members)" ||
    fail "ring-status after the leave: $out"
all_readable "after the leave"
# a leaver marks itself removed once it has handed its data on, and gossip spreads that
tries=0
while :; do
    out=$(ctl --format json members)
    [ "$(echo "$out" | grep -o '"id":1,"status":"removed"' | wc -l)" -eq 4 ] && break
    tries=$((tries + 1))
    [ $tries -lt 50 ] || fail "node 1 left but is not removed in every view after 10 s: $out"
    sleep 0.2
done

for i in 1 2 3 4; do stop_node $i; done
echo "net_ring: ok (node 4 joined and node 1 left; $KEYS keys readable after each)"
