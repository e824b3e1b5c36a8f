#!/bin/sh
# net_kill_loop.sh: three dynamod processes (N=3 R=2 W=2, sync = "every_write": an fsync per
# write on each replica); a writer puts distinct keys through dynctl while node 3 is killed with
# SIGKILL and restarted, again and again.
#
#   sh tests/net_kill_loop.sh DYNAMOD DYNCTL NET_PROBE
#   DYN_KILL_LOOP=500 sh tests/net_kill_loop.sh ...     # more iterations (default 50)
#
# Checks: every restart succeeds (node 3 logs that it listens and answers a ping); every write
# dynctl acknowledged (exit 0) is readable with its value at R=2; and node 3 alone, after a final
# restart, holds no wrong value: dynctl cannot tell which two replicas acknowledged a write, so
# node 3's copy is checked where it has one, and it must have some. It is read alone before any
# R=2 read could repair it, and anti-entropy and hinted handoff are off, so what it holds is what
# it received and kept itself across every SIGKILL; the count is printed.
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
attempted=$(cat "$WORK/attempted.txt")
acked=$(wc -l < "$WORK/acked.txt")
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
held=0
for n in $(cat "$WORK/acked.txt"); do
    out=$("$DYNCTL" --nodes "127.0.0.1:$PORT_3" --cluster test --key-file "$WORK/key" -r 1 \
          -w 1 --timeout 700 --retries 0 get "k$n")
    rc=$?
    case $rc in
        0)  echo "$out" | grep -qx "value: v$n" ||
                fail "node 3 alone: k$n: expected v$n, got: $out"
            held=$((held + 1)) ;;
        1)  ;;
        *)  fail "node 3 alone: get k$n: exit $rc" ;;
    esac
done
[ $held -gt 0 ] || fail "node 3 alone holds none of the $acked acknowledged writes"
# then every acknowledged write, at R=2, with nodes 1 and 2 back
start_node 1
start_node 2
for n in $(cat "$WORK/acked.txt"); do
    out=$(ctl $T -r 2 get "k$n") || fail "acknowledged write k$n is not readable (exit $?)"
    echo "$out" | grep -qx "value: v$n" || fail "k$n: expected v$n, got: $out"
done

stop_node 1
stop_node 2
stop_node 3
echo "net_kill_loop: ok ($restarts restarts after SIGKILL; $acked of $attempted writes" \
     "acknowledged, all readable at R=2; node 3 holds $held of them, each with its value)"
