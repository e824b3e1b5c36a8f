#!/bin/sh
# net_forged.sh: forged, damaged, replayed, truncated and oversized datagrams sent to a live node
# are dropped unanswered, counted by kind, and change nothing.
#
#   sh tests/net_forged.sh DYNAMOD DYNCTL NET_PROBE
#
# net_probe forge sends them (and checks that none is answered, and that one genuine put is);
# the node's stats lines at shutdown must show exactly the counts it prints.
set -u
DYNAMOD=$1
DYNCTL=$2
PROBE=$3
. "$(dirname "$0")/net_lib.sh"

make_cluster 1 "n = 1" "r = 1" "w = 1" "sync = \"none\""
start_node 1
T="--timeout 1000 --retries 1"
ctl $T put stable before >/dev/null || fail "put: exit $?"
before=$(ctl $T get stable) || fail "get: exit $?"

"$PROBE" forge "127.0.0.1:$PORT_1" "$WORK/key" test > "$WORK/expected" 2>"$WORK/probe.log" ||
    fail "net_probe forge: $(cat "$WORK/probe.log")"

# Nothing changed: the key written before reads the same, and the one genuine put of "forge"
# (its forged copies carried "evil", its replay the same bytes) left exactly one version.
after=$(ctl $T get stable) || fail "get after the forgeries: exit $?"
[ "$before" = "$after" ] || fail "the stored value changed: before [$before] after [$after]"
out=$(ctl $T get forge) || fail "get forge: exit $?"
echo "$out" | grep -qx "siblings: 1" || fail "forge: expected one version, got: $out"
echo "$out" | grep -qx "value: x" || fail "forge: expected x, got: $out"

# The counters now, before anything else reaches the node (SIGUSR1 logs them).
kill -USR1 "$PID_1"
tries=0
until grep -q "stats store" "$WORK/node1.log"; do
    tries=$((tries + 1))
    [ $tries -lt 100 ] || fail "no stats lines after SIGUSR1"
    sleep 0.05
done
cp "$WORK/node1.log" "$WORK/stats.txt"

# A client with the wrong key is never answered: a timeout (exit 4). A missing key file is a
# usage error (exit 2).
head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' > "$WORK/wrong.key"
ctl --key-file "$WORK/wrong.key" --timeout 300 --retries 0 get stable >/dev/null 2>&1
rc=$?
[ $rc -eq 4 ] || fail "a client with the wrong key: expected exit 4 (no answer), got $rc"
ctl --key-file "$WORK/nonexistent.key" get stable >/dev/null 2>&1
[ $? -eq 2 ] || fail "a missing key file: expected exit 2"

stop_node 1
log="$WORK/stats.txt"
while IFS='=' read -r name count; do
    grep -q "stats .* $name=$count\\b" "$log" ||
        fail "expected $name=$count in the node's stats; got: $(grep 'stats' "$log")"
done < "$WORK/expected"
echo "net_forged: ok ($(tr '\n' ' ' < "$WORK/expected"))"
