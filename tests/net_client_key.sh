#!/bin/sh
# net_client_key.sh: a cluster with a client key (client_key_file) beside its cluster key.
#
#   sh tests/net_client_key.sh DYNAMOD DYNCTL NET_PROBE
#
# Checks: dynctl with the cluster file uses the client key and is served (put, get, status,
# stats); a client under the cluster key is not answered (exit 4); net_probe client-key shows
# that a node id under the client key and a client sending a replica's messages are dropped
# unanswered and counted, and that the replica write it tried changed nothing; node-to-node
# traffic (W=3 writes) still flows under the cluster key; a client key equal to the cluster key,
# or one without a cluster key, is a configuration error.
set -u
DYNAMOD=$1
DYNCTL=$2
PROBE=$3
. "$(dirname "$0")/net_lib.sh"

make_cluster 3 "n = 3" "r = 2" "w = 2" "sync = \"none\""
head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' > "$WORK/client.key"
echo "client_key_file = \"$WORK/client.key\"" >> "$WORK/cluster.lua"
for i in 1 2 3; do start_node $i; done
T="--timeout 1000 --retries 1"

# dynctl takes the file's client key
ctl $T -w all put ck-hello world >/dev/null || fail "put under the client key: exit $?"
out=$(ctl $T -r all get ck-hello) || fail "get under the client key: exit $?"
echo "$out" | grep -qx "value: world" || fail "get: $out"
ctl status >/dev/null || fail "status under the client key: exit $?"
ctl stats >/dev/null || fail "stats under the client key: exit $?"
# and --client-key-file with --nodes, as a client that has no cluster file
"$DYNCTL" --nodes "127.0.0.1:$PORT_2" --cluster test --client-key-file "$WORK/client.key" $T \
    get ck-hello >/dev/null || fail "--nodes with --client-key-file: exit $?"

# a client holding the cluster key is not answered
ctl --key-file "$WORK/key" --timeout 300 --retries 0 get ck-hello >/dev/null 2>&1
rc=$?
[ $rc -eq 4 ] || fail "a client under the cluster key: expected exit 4 (no answer), got $rc"
ctl --key-file "$WORK/key" --client-key-file "$WORK/client.key" get x >/dev/null 2>&1
[ $? -eq 2 ] || fail "both --key-file and --client-key-file: expected exit 2"

"$PROBE" client-key "127.0.0.1:$PORT_1" "$WORK/key" "$WORK/client.key" test \
    > "$WORK/expected" 2>"$WORK/probe.log" || fail "net_probe client-key: $(cat "$WORK/probe.log")"
# the replica write a client tried is nowhere
ctl $T -r all get ck-evil >/dev/null
[ $? -eq 1 ] || fail "a client's REPLICA_PUT was applied (ck-evil is readable)"
ctl $T -r all get ck >/dev/null || fail "the genuine put of ck under the client key: exit $?"

# counts: the one cluster-key client above, plus the probe's (all sent to node 1)
out=$(ctl stats --format json) || fail "stats: exit $?"
node1=$(echo "$out" | sed 's/},{"addr"/\n/g' | grep '"id":1,')
while IFS='=' read -r name count; do
    got=$(echo "$node1" | sed -n "s/.*\"$name\":\([0-9]*\).*/\1/p")
    [ -n "$got" ] && [ "$got" -ge "$count" ] ||
        fail "node 1: expected $name >= $count, got '$got': $node1"
done < "$WORK/expected"

# membership changes need the cluster key: a client of a cluster with a client key cannot
ctl member 3 leaving >/dev/null 2>"$WORK/member.err"
[ $? -eq 2 ] || fail "member set under the client key: expected exit 2"
grep -q "membership changes need the cluster key" "$WORK/member.err" ||
    fail "member set under the client key: $(cat "$WORK/member.err")"
ctl members >/dev/null || fail "members under the client key: exit $?"

# configuration errors
"$DYNAMOD" --config "$WORK/cluster.lua" --id 1 --key-file "$WORK/client.key" --check-config \
    >/dev/null 2>"$WORK/same.err"
[ $? -eq 2 ] || fail "a client key equal to the cluster key: expected exit 2"
grep -q "client_key_file holds the cluster key" "$WORK/same.err" || fail "$(cat "$WORK/same.err")"
grep -v "key_file = " "$WORK/cluster.lua" > "$WORK/nokey.lua"
echo "client_key_file = \"$WORK/client.key\"" >> "$WORK/nokey.lua"
"$DYNAMOD" --config "$WORK/nokey.lua" --id 1 --check-config >/dev/null 2>"$WORK/nokey.err"
[ $? -eq 2 ] || fail "a client key without a cluster key: expected exit 2"
grep -q "client_key_file needs key_file" "$WORK/nokey.err" || fail "$(cat "$WORK/nokey.err")"
"$DYNAMOD" --config "$WORK/cluster.lua" --id 1 --check-config | grep -q "client key loaded" ||
    fail "--check-config does not report the client key"

for i in 1 2 3; do stop_node $i; done
echo "net_client_key: ok ($(tr '\n' ' ' < "$WORK/expected")on node 1, a cluster-key client unanswered)"
