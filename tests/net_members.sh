#!/bin/sh
# net_members.sh: the membership verbs of dynctl on three dynamod processes.
#
#   sh tests/net_members.sh DYNAMOD DYNCTL NET_PROBE
#
# Checks: `members` shows the cluster file's members, valid, the same view on every node;
# `member 3 leaving` changes it at node 1 and gossip takes it to nodes 2 and 3 (within 10 s);
# setting a status it already has changes nothing; an id outside the cluster file and an unknown
# status are refused (exit 2); a node that does not answer is a timeout (exit 4); the change
# survives a restart of the node that made it (the view is kept in its META space).
set -u
DYNAMOD=$1
DYNCTL=$2
PROBE=$3
. "$(dirname "$0")/net_lib.sh"

make_cluster 3 "n = 3" "r = 2" "w = 2" "sync = \"none\""
for i in 1 2 3; do start_node $i; done

out=$(ctl members) || fail "members: exit $?"
[ "$(echo "$out" | grep -c "^  member .* status valid ")" -eq 9 ] ||
    fail "members: expected 3 valid members in each of 3 views: $out"
echo "$out" | grep -q "3 of 3 nodes answered; their views agree." || fail "members footer: $out"

out=$(ctl member 3 leaving) || fail "member 3 leaving: exit $?"
echo "$out" | grep -q "^node 1: member 3 changed, version 2;" || fail "member 3 leaving: $out"
out=$(ctl --format json member 3 leaving) || fail "member 3 leaving again: exit $?"
[ "$out" = '{"node":1,"member":3,"changed":0,"version":2}' ] || fail "already leaving: $out"

# gossip takes the change to every node
tries=0
while :; do
    out=$(ctl --format json members) || fail "members: exit $?"
    [ "$(echo "$out" | grep -o '"id":3,"status":"leaving","zone":0,"version":2' | wc -l)" -eq 3 ] &&
        break
    tries=$((tries + 1))
    [ $tries -lt 50 ] || fail "member 3 leaving did not reach every node in 10 s: $out"
    sleep 0.2
done
echo "$out" | grep -q '"answered":3,"asked":3,"agree":true}$' || fail "views should agree: $out"

ctl member 9 leaving >/dev/null 2>"$WORK/err"
[ $? -eq 2 ] || fail "member 9 (not in the cluster file): expected exit 2"
grep -q "not a member of the cluster file" "$WORK/err" || fail "member 9: $(cat "$WORK/err")"
ctl member 3 gone >/dev/null 2>&1
[ $? -eq 2 ] || fail "an unknown status: expected exit 2"
ctl member 3 >/dev/null 2>&1
[ $? -eq 2 ] || fail "member without a status: expected exit 2"

# the view is durable: node 1 restarted still has member 3 leaving
stop_node 1
"$DYNCTL" --nodes "127.0.0.1:$PORT_1" --cluster test --key-file "$WORK/key" --timeout 300 \
    member 3 valid >/dev/null 2>&1
[ $? -eq 4 ] || fail "member set at a stopped node: expected exit 4 (timeout)"
start_node 1
out=$("$DYNCTL" --nodes "127.0.0.1:$PORT_1" --cluster test --key-file "$WORK/key" members) ||
    fail "members of node 1 after its restart: exit $?"
echo "$out" | grep -q "^  member  id 3  status leaving  zone 0  version 2 " ||
    fail "node 1 lost the change across a restart: $out"

for i in 1 2 3; do stop_node $i; done
echo "net_members: ok (a leave set at node 1 reached all 3 views and survived a restart)"
