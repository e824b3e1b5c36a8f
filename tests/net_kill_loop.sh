#!/bin/sh
# net_kill_loop.sh: three dynamod processes (N=3 R=2 W=2, sync = "every_write": an fsync per
# write on each replica); two writers put distinct keys through dynctl while node 3 is killed
# with SIGKILL and restarted, again and again.
#
#   sh tests/net_kill_loop.sh DYNAMOD DYNCTL NET_PROBE
#   DYN_KILL_LOOP=500 sh tests/net_kill_loop.sh ...     # more iterations (default 50)
#
# The quorum writer puts k1, k2, ... at W=2; the all-replica writer puts d1, d2, ... at W=all, so
# a d key acknowledged (exit 0) is one node 3 itself acknowledged, and with sync = every_write a
# replica acknowledges only after its LMDB commit was fsynced: it is durable on node 3.
#
# Checks: every restart succeeds (node 3 logs that it listens and answers a ping); every write
# dynctl acknowledged is readable with its value at R=2; and node 3 alone, after a final SIGKILL
# and restart, holds exactly what it acknowledged: every d key acknowledged is there with its
# value; every k key it has carries the value written (dynctl cannot tell which two replicas
# acknowledged a k write, so a k key may be missing); no key it holds has a sibling with another
# value; and keys never written (past each writer's last attempt) are not found. It is
# read alone (R=1, nodes 1 and 2 stopped) before any R=2 read could repair it, and anti-entropy
# and hinted handoff are off, so what it holds is what it received and kept itself across every
# SIGKILL; the counts are printed.
set -u
DYNAMOD=$1
DYNCTL=$2
PROBE=$3
. "$(dirname "$0")/net_lib.sh"
LOOPS=${DYN_KILL_LOOP:-50}

make_cluster 3 "n = 3" "r = 2" "w = 2" "request_timeout_ms = 300" "sync = \"every_write\"" \
    "tick_ms = 100" "anti_entropy = false" "hinted_handoff = false" "partitions = 8"
for i in 1 2 3; do start_node $i; done
T="--timeout 400 --retries 3"

# The writer: one dynctl per key; an acknowledged key goes to acked.txt only after the exit 0.
: > "$WORK/acked.txt"
(
    n=0
    while [ ! -f "$WORK/stop" ]; do
        n=$((n + 1))
        if ctl $T put "k$n" "v$n" >/dev/null 2>>"$WORK/writer.log"; then
            echo "$n" >> "$WORK/acked.txt"
        fi
    done
    echo "$n" > "$WORK/attempted.txt"
) &
WRITER=$!
PIDS="$PIDS $WRITER"
# The all-replica writer: an exit 0 means all three replicas, node 3 among them, acknowledged.
: > "$WORK/acked_all.txt"
(
    n=0
    while [ ! -f "$WORK/stop" ]; do
        n=$((n + 1))
        if ctl --timeout 400 --retries 0 -w all put "d$n" "v$n" >/dev/null \
               2>>"$WORK/writer_all.log"; then
            echo "$n" >> "$WORK/acked_all.txt"
        fi
    done
    echo "$n" > "$WORK/attempted_all.txt"
) &
WRITER_ALL=$!
PIDS="$PIDS $WRITER_ALL"

ping3() {
    "$DYNCTL" --nodes "127.0.0.1:$PORT_3" --cluster test --key-file "$WORK/key" \
        --timeout 300 --retries 3 status >/dev/null 2>&1
}

k=1
while [ $k -le "$LOOPS" ]; do
    # let a few writes in with node 3 up, then kill it mid-stream
    sleep 0.0$((k % 7 + 2))
    kill -9 "$PID_3" || fail "iteration $k: node 3 was not running"
    wait "$PID_3" 2>/dev/null
    sleep 0.0$((k % 5 + 1))
    start_node 3
    ping3 || fail "iteration $k: node 3 restarted but does not answer"
    k=$((k + 1))
done
restarts=$((k - 1))

touch "$WORK/stop"
wait "$WRITER" || fail "the writer failed"
wait "$WRITER_ALL" || fail "the all-replica writer failed"
attempted=$(cat "$WORK/attempted.txt")
acked=$(wc -l < "$WORK/acked.txt")
attempted_all=$(cat "$WORK/attempted_all.txt")
acked_all=$(wc -l < "$WORK/acked_all.txt")
[ "$acked_all" -gt 0 ] || fail "no write of $attempted_all was acknowledged by all three replicas"
[ "$acked" -ge $((attempted / 2)) ] ||
    fail "only $acked of $attempted writes acknowledged with one node of three down at times"

# node 3 alone, after a last SIGKILL and restart, before any read could repair it: whatever copy
# it has must be the right one
kill -9 "$PID_3"
wait "$PID_3" 2>/dev/null
start_node 3
ping3 || fail "the final restart of node 3 does not answer"
stop_node 1
stop_node 2
# get3 KEY: read KEY from node 3 alone; sets rc and out
get3() {
    out=$("$DYNCTL" --nodes "127.0.0.1:$PORT_3" --cluster test --key-file "$WORK/key" -r 1 \
          -w 1 --timeout 700 --retries 0 get "$1")
    rc=$?
}
# the value written and no other: a put retried through another coordinator (a blind put, no
# context) may leave two siblings, but both carry the value written
check3() {
    echo "$out" | grep -qx "value: $2" && ! echo "$out" | grep '^value' | grep -qvx "value: $2" ||
        fail "node 3 alone: $1: expected only $2, got: $out"
}
held=0
for n in $(cat "$WORK/acked.txt"); do
    get3 "k$n"
    case $rc in
        0)  check3 "k$n" "v$n"
            held=$((held + 1)) ;;
        1)  ;;
        *)  fail "node 3 alone: get k$n: exit $rc" ;;
    esac
done
[ $held -gt 0 ] || fail "node 3 alone holds none of the $acked acknowledged writes"
for n in $(cat "$WORK/acked_all.txt"); do
    get3 "d$n"
    [ $rc -eq 0 ] || fail "node 3 acknowledged d$n durably but lost it after SIGKILL (exit $rc)"
    check3 "d$n" "v$n"
done
# nothing node 3 never received: keys past each writer's last attempt were never sent
for n in 1 2 3 4 5; do
    for key in "k$((attempted + n))" "d$((attempted_all + n))" "never$n"; do
        get3 "$key"
        [ $rc -eq 1 ] || fail "node 3 alone: $key was never written, yet get exits $rc: $out"
    done
done
# then every acknowledged write, at R=2, with nodes 1 and 2 back
start_node 1
start_node 2
for key in $(sed 's/^/k/' "$WORK/acked.txt") $(sed 's/^/d/' "$WORK/acked_all.txt"); do
    out=$(ctl $T -r 2 get "$key") || fail "acknowledged write $key is not readable (exit $?)"
    echo "$out" | grep -qx "value: v${key#?}" || fail "$key: expected v${key#?}, got: $out"
done

stop_node 1
stop_node 2
stop_node 3
echo "net_kill_loop: ok ($restarts restarts after SIGKILL; $acked of $attempted writes" \
     "acknowledged at W=2 and $acked_all of $attempted_all at W=all, all readable at R=2;" \
     "node 3 alone holds all $acked_all it acknowledged and $held of the W=2 ones, each with" \
     "its value only, and none of 15 keys never written)"
