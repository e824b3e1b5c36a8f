#!/bin/sh
# net_config.sh: dynamod and dynctl refuse bad input with exit 2 and a message naming the problem.
#
#   sh tests/net_config.sh DYNAMOD DYNCTL NET_PROBE
set -u
DYNAMOD=$1
DYNCTL=$2
PROBE=$3
. "$(dirname "$0")/net_lib.sh"

NODES='nodes = { {id = 1, addr = "127.0.0.1:17001"}, {id = 2, addr = "127.0.0.1:17002"},
                 {id = 3, addr = "127.0.0.1:17003"} }'

# refuse BODY MESSAGE [ARGS...]: --check-config on a file holding BODY exits 2 saying MESSAGE.
refuse() {
    printf '%s\n' "$1" > "$WORK/bad.lua"
    msg=$2
    shift 2
    err=$("$DYNAMOD" --config "$WORK/bad.lua" --id 1 --check-config "$@" 2>&1 >/dev/null)
    rc=$?
    [ $rc -eq 2 ] || fail "expected exit 2 for [$msg], got $rc: $err"
    echo "$err" | grep -q -- "$msg" || fail "expected a message with [$msg], got: $err"
}

refuse "$NODES
colour = 1" "unknown key 'colour'"
refuse "$NODES
n = 'three'" "'n' must be an integer"
refuse "$NODES
r = 4" "must not exceed n"
refuse "nodes = { {id = 1, addr = '127.0.0.1:17001'} }" "lists only 1 members"
refuse "n = 1
nodes = { {id = 1, addr = 'localhost:17001'} }" "numeric addresses only"
refuse "n = 1
nodes = { {id = 1, addr = '127.0.0.1:99999'} }" "bad port"
refuse "n = 1
nodes = { {id = 1, addr = '127.0.0.1:1'}, {id = 1, addr = '127.0.0.1:2'} }" "appears twice"
refuse "n = 1
nodes = { {id = 1, adr = '127.0.0.1:1'} }" "unknown field 'adr'"
refuse "n, r, w = 1, 1, 1
nodes = { {id = 1, addr = '127.0.0.1:1', spare = true} }" "every node in 'nodes' is a spare"
refuse "n, r, w = 1, 1, 1
nodes = { {id = 1, addr = '127.0.0.1:1', spare = 1} }" "nodes\[1\].spare' must be true or false"
refuse "n, r, w = 1, 1, 1
nodes = { {id = 1, addr = '127.0.0.1:1', zone = 70000} }" "nodes\[1\].zone' must be between"
refuse "nodes = { {id = 1, addr = '127.0.0.1:1'}, {id = 2, addr = '127.0.0.1:2'},
          {id = 3, addr = '127.0.0.1:3', spare = true} }" "lists only 2 members (spares not counted)"
refuse "$NODES
x = = 1" "bad.lua:3:"
refuse "$NODES
os.exit(1)" "global 'os'"
refuse "n = 1" "'nodes' is missing"
refuse "$NODES
strategy = 'S4'" "must be one of"
refuse "$NODES
partitions = 2" "S3 needs at least one partition per node"
refuse "$NODES
sync = 'sometimes'" "'sync' must be one of"
refuse "$NODES
key_file = '$WORK/none'" "No such file"
echo abc > "$WORK/short.key"
refuse "$NODES
key_file = '$WORK/short.key'" "expected one line of 64 hexadecimal characters"
refuse "$NODES" "node id 9 is not in 'nodes'" --id 9
refuse "n = 1 r = 1 w = 1
nodes = { {id = 1, addr = '10.1.2.3:7001'} }" \
    "refusing to listen on 10.1.2.3:7001 without a key file"
printf 'n = 1 r = 1 w = 1\nnodes = { {id = 1, addr = "10.1.2.3:7001"} }\n' > "$WORK/remote.lua"
"$DYNAMOD" --config "$WORK/remote.lua" --id 1 --check-config --insecure >/dev/null ||
    fail "--insecure should allow a non-loopback address without a key file"

"$DYNAMOD" --bogus >/dev/null 2>&1
[ $? -eq 2 ] || fail "dynamod: unknown option: expected exit 2"
"$DYNAMOD" >/dev/null 2>&1
[ $? -eq 2 ] || fail "dynamod without --config: expected exit 2"
"$DYNAMOD" --help | grep -q "tombstone_grace_ms" || fail "dynamod --help lists no config keys"
"$DYNAMOD" --version | grep -q "^dynamod [0-9]" || fail "dynamod --version"
"$DYNCTL" --help | grep -q "exit status" || fail "dynctl --help"
"$DYNCTL" --version | grep -q "^dynctl [0-9]" || fail "dynctl --version"

# The data directory is one node's: a second dynamod on it is refused (exit 1, a runtime error).
make_cluster 1 "n = 1" "r = 1" "w = 1" "sync = \"none\""
start_node 1
err=$("$DYNAMOD" --config "$WORK/cluster.lua" --id 1 --data-dir "$WORK/data1" \
      --listen 127.0.0.1:0 2>&1)
rc=$?
[ $rc -eq 1 ] || fail "a second dynamod on one data directory: expected exit 1, got $rc"
echo "$err" | grep -q "in use by another dynamod" || fail "no clear message: $err"
# And the port is one node's too.
err=$("$DYNAMOD" --config "$WORK/cluster.lua" --id 1 --data-dir "$WORK/other" 2>&1)
[ $? -eq 1 ] || fail "a second dynamod on one port: expected exit 1"
echo "$err" | grep -q "address already in use" || fail "no clear message: $err"
stop_node 1

# dynctl ring: every member once, and the shares of a 3-node N=3 ring are all of the keys.
printf '%s\nn = 3\n' "$NODES" > "$WORK/ring.lua"
out=$("$DYNCTL" --config "$WORK/ring.lua" --insecure ring 2>&1) || fail "dynctl ring: $out"
[ "$(echo "$out" | grep -c '127.0.0.1:1700[123] .* 1.0000$')" -eq 3 ] ||
    fail "dynctl ring: expected 3 members each replicating every key, got: $out"
out=$("$DYNCTL" --config "$WORK/ring.lua" --insecure --format json ring 2>&1)
echo "$out" | grep -q '^{"n":3,"ranges":[0-9]*,"nodes":\[{"id":1,' || fail "dynctl ring json: $out"
"$DYNCTL" --nodes 127.0.0.1:17001 --insecure ring >/dev/null 2>&1
[ $? -eq 2 ] || fail "dynctl ring without the cluster file: expected exit 2"
echo "net_config: ok"
