#!/bin/sh
# net_cluster.sh: three dynamod processes on loopback, driven with dynctl (N=3 R=2 W=2).
#
#   sh tests/net_cluster.sh DYNAMOD DYNCTL NET_PROBE
#
# put/get/delete with contexts and siblings, exit codes, values up to 1 MiB (in fragments) and the
# bound past it; then one node is killed with SIGKILL while writes go on (W=2 still holds),
# restarted, and every acknowledged write must be readable; finally every node stops on SIGTERM
# with status 0.
set -u
DYNAMOD=$1
DYNCTL=$2
PROBE=$3
. "$(dirname "$0")/net_lib.sh"

make_cluster 3 "n = 3" "r = 2" "w = 2" "request_timeout_ms = 300" "sync = \"interval\"" \
    "sync_interval_ms = 200" "tick_ms = 100" "ae_interval_ms = 100" "partitions = 8"
"$DYNAMOD" --config "$WORK/cluster.lua" --id 2 --check-config >/dev/null ||
    fail "--check-config refused the test's config"
for i in 1 2 3; do start_node $i; done
T="--timeout 700 --retries 2"

# put, get: one sibling, a context
out=$(ctl $T put greeting hello) || fail "put: exit $?"
out=$(ctl $T get greeting) || fail "get: exit $?"
echo "$out" | grep -qx "siblings: 1" || fail "get: expected one sibling, got: $out"
echo "$out" | grep -qx "value: hello" || fail "get: expected hello, got: $out"
ctx=$(echo "$out" | sed -n 's/^context: //p')
[ -n "$ctx" ] || fail "get printed no context"

# two writes from the same context are concurrent: both survive as siblings
ctl $T put greeting bonjour --context "$ctx" >/dev/null || fail "put with context"
ctl $T put greeting hola --context "$ctx" >/dev/null || fail "second put with context"
out=$(ctl $T -r all get greeting) || fail "get siblings: exit $?"
echo "$out" | grep -qx "siblings: 2" || fail "expected two siblings, got: $out"
echo "$out" | grep -qx "value: bonjour" && echo "$out" | grep -qx "value: hola" ||
    fail "siblings should be bonjour and hola, got: $out"
# a write with the context of both resolves them
ctx=$(echo "$out" | sed -n 's/^context: //p')
ctl $T put greeting salut --context "$ctx" >/dev/null || fail "resolving put"
out=$(ctl $T get greeting --format json) || fail "json get"
echo "$out" | grep -q '"values":\[{"value":"salut"}\]' || fail "expected only salut, got: $out"

# delete, then not found (exit 1)
ctx=$(ctl $T get greeting | sed -n 's/^context: //p')
ctl $T delete greeting --context "$ctx" >/dev/null || fail "delete: exit $?"
ctl $T get greeting >/dev/null
rc=$?
[ $rc -eq 1 ] || fail "get after delete: expected exit 1 (not found), got $rc"
ctl $T get never-written >/dev/null
[ $? -eq 1 ] || fail "get of a missing key: expected exit 1"

# usage errors: exit 2
ctl frobnicate x >/dev/null 2>&1
[ $? -eq 2 ] || fail "unknown command: expected exit 2"
ctl get >/dev/null 2>&1
[ $? -eq 2 ] || fail "missing key: expected exit 2"
ctl -r 7 get k >/dev/null 2>&1
[ $? -eq 2 ] || fail "r > n: expected exit 2"
ctl put k v --context zz >/dev/null 2>&1
[ $? -eq 2 ] || fail "bad context hex: expected exit 2"

# values: 60,000 bytes fit one datagram; 1 MiB goes in fragments (put and get, byte for byte,
# also as two siblings: a 2 MiB reply); one byte more is refused with a clear message
head -c 60000 /dev/zero | tr '\0' 'a' > "$WORK/big"
ctl $T put big --file "$WORK/big" >/dev/null || fail "a 60,000-byte value: exit $?"
out=$(ctl $T get big) || fail "get of the 60,000-byte value: exit $?"
[ "$(echo "$out" | sed -n 's/^value: //p' | wc -c)" -eq 60001 ] ||
    fail "the big value came back changed"
head -c 1048576 /dev/urandom | od -An -tx1 -v | tr -d ' \n' | head -c 1048576 > "$WORK/mib"
[ "$(wc -c < "$WORK/mib")" -eq 1048576 ] || fail "could not make a 1 MiB value"
ctl $T put mib --file "$WORK/mib" >/dev/null || fail "a 1 MiB value: exit $?"
ctl $T -r all get mib > "$WORK/mib.out" || fail "get of the 1 MiB value: exit $?"
grep -qx "siblings: 1" "$WORK/mib.out" || fail "the 1 MiB value: expected one sibling"
sed -n 's/^value: //p' "$WORK/mib.out" | tr -d '\n' | cmp -s - "$WORK/mib" ||
    fail "the 1 MiB value came back changed"
ctl $T put mib --file "$WORK/mib" >/dev/null || fail "a second blind 1 MiB put: exit $?"
out=$(ctl $T get mib | grep -c "^value: ") || fail "get of two 1 MiB siblings: exit $?"
[ "$out" -eq 2 ] || fail "two blind 1 MiB puts: expected two siblings, got $out"
head -c 1048577 /dev/zero | tr '\0' 'a' > "$WORK/huge"
err=$(ctl $T put huge - < "$WORK/huge" 2>&1 >/dev/null)
rc=$?
[ $rc -eq 2 ] || fail "a value of 1 MiB + 1 byte: expected exit 2, got $rc"
echo "$err" | grep -q "value too large" || fail "no clear message for a value too large: $err"

# keys past LMDB's 511-byte limit, up to core's 1,024 bytes: put, read from all three replicas,
# delete; one byte more is refused by dynctl with a clear message (exit 2)
for len in 512 1024; do
    key=$(head -c $len /dev/zero | tr '\0' 'K')
    ctl $T put "$key" "long$len" >/dev/null || fail "put with a $len-byte key: exit $?"
    out=$(ctl $T -r all get "$key") || fail "get of a $len-byte key at R=3: exit $?"
    echo "$out" | grep -qx "value: long$len" || fail "$len-byte key: got: $out"
    ctx=$(echo "$out" | sed -n 's/^context: //p')
    ctl $T delete "$key" --context "$ctx" >/dev/null || fail "delete of a $len-byte key: exit $?"
    ctl $T -r all get "$key" >/dev/null
    [ $? -eq 1 ] || fail "get of a deleted $len-byte key: expected exit 1"
done
key=$(head -c 1025 /dev/zero | tr '\0' 'K')
err=$(ctl $T put "$key" v 2>&1 >/dev/null)
rc=$?
[ $rc -eq 2 ] || fail "a 1,025-byte key: expected exit 2, got $rc"
echo "$err" | grep -q "key too long: 1025 bytes (at most 1024)" ||
    fail "no clear message for a key too long: $err"

# locate: the key's three replicas, then the fallbacks (none in a three-node cluster)
[ "$(ctl locate greeting | grep -c " replica$")" -eq 3 ] || fail "locate: expected 3 replicas"
# bench: a short closed loop, every operation answered
out=$(ctl bench --ops 300 --concurrency 8 --keys 50 --format json) || fail "bench: exit $?"
echo "$out" | grep -q '"ops":300,.*"failed":0,' || fail "bench: $out"

# SIGKILL node 3 in the middle of 40 writes; W=2 still holds on nodes 1 and 2
acked=""
i=1
while [ $i -le 40 ]; do
    if [ $i -eq 15 ]; then
        kill -9 "$PID_3"
        wait "$PID_3" 2>/dev/null
    fi
    if ctl $T put "k$i" "v$i" >/dev/null 2>"$WORK/put.err"; then
        acked="$acked $i"
    fi
    i=$((i + 1))
done
count=$(echo $acked | wc -w)
[ "$count" -ge 38 ] || fail "only $count of 40 writes acknowledged with one node down"
out=$(ctl --timeout 300 status)
[ $? -eq 3 ] || fail "status with node 3 down: expected exit 3"
echo "$out" | grep -q "^node 3 .* DOWN" || fail "status should show node 3 down: $out"
# stats: every node that answers, its counters and latencies; exit 3 when one does not
out=$(ctl --timeout 300 stats)
[ $? -eq 3 ] || fail "stats with node 3 down: expected exit 3"
echo "$out" | grep -q "^node 3 .* DOWN" || fail "stats should show node 3 down: $out"
echo "$out" | grep -q "2 of 3 nodes answered" || fail "stats footer: $out"
start_node 3
ctl status >/dev/null || fail "status with every node up: exit $?"
out=$(ctl stats) || fail "stats with every node up: exit $?"
for i in 1 2 3; do
    echo "$out" | grep -q "^node $i " || fail "stats: no block for node $i: $out"
done
# the nodes coordinated the puts above: some latency was measured, and p50 <= p99 <= p99.9
echo "$out" | grep -q "put latency: [1-9][0-9]* requests, p50 " || fail "stats: no put latency: $out"
out=$(ctl stats --format json) || fail "stats --format json: exit $?"
echo "$out" | grep -q '^{"nodes":\[{"addr":"127.0.0.1:[0-9]*","up":true,"id":[123],"stats":{"latency_get":{"count":' ||
    fail "stats json: $out"
echo "$out" | grep -q '"answered":3,"asked":3}$' || fail "stats json footer: $out"
for n in $(echo "$out" | grep -o '"latency_put":{[^}]*}' | sed 's/.*"p50_us":\([0-9]*\),"p99_us":\([0-9]*\),"p999_us":\([0-9]*\).*/\1:\2:\3/'); do
    p50=${n%%:*}; rest=${n#*:}; p99=${rest%%:*}; p999=${rest#*:}
    [ "$p50" -le "$p99" ] && [ "$p99" -le "$p999" ] || fail "stats: percentiles out of order: $n"
done
for i in $acked; do
    out=$(ctl $T get "k$i") || fail "acknowledged write k$i is not readable (exit $?)"
    echo "$out" | grep -qx "value: v$i" || fail "k$i: expected v$i, got: $out"
done
# with R=3 node 3 must answer too (read repair and anti-entropy bring it up to date)
ctl $T -r all get k20 >/dev/null || fail "R=3 get after the restart: exit $?"

# unreachable cluster: a timeout, exit 4
"$DYNCTL" --nodes 127.0.0.1:1 --cluster test --key-file "$WORK/key" --timeout 200 --retries 0 \
    get k1 >/dev/null 2>&1
[ $? -eq 4 ] || fail "a node that does not answer: expected exit 4"

# Node 3 alone must now hold every acknowledged write, the ones it missed included: read repair
# (the reads above) and anti-entropy brought them. Stop the others and read it with R=1.
sleep 1
stop_node 1
stop_node 2
for i in $acked; do
    out=$("$DYNCTL" --nodes "127.0.0.1:$PORT_3" --cluster test --key-file "$WORK/key" -r 1 \
          --timeout 700 --retries 0 get "k$i") || fail "node 3 alone does not hold k$i (exit $?)"
    echo "$out" | grep -qx "value: v$i" || fail "node 3 alone: k$i: expected v$i, got: $out"
done
stop_node 3
echo "net_cluster: ok ($count of 40 writes acknowledged across the crash, all on node 3 after)"
