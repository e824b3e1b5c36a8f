# net_lib.sh: shared by the net tests (sourced): a temporary cluster on loopback, and cleanup.
#
# Needs DYNAMOD, DYNCTL and PROBE set. Every process it starts is killed on exit, whatever the
# exit path; the temporary folder is removed on success and kept (and its logs printed) on
# failure.

WORK=$(mktemp -d "${TMPDIR:-/tmp}/dynamo-net.XXXXXX")
PIDS=""
FAILED=0

cleanup() {
    for pid in $PIDS; do
        kill -9 "$pid" 2>/dev/null
    done
    wait 2>/dev/null
    if [ "$FAILED" -ne 0 ]; then
        for log in "$WORK"/*.log; do
            [ -f "$log" ] || continue
            echo "---- $log (last 20 lines)"
            tail -n 20 "$log"
        done
        echo "kept $WORK"
    else
        rm -rf "$WORK"
    fi
}
trap cleanup EXIT
trap 'FAILED=1; exit 1' INT TERM

fail() {
    echo "FAIL: $*"
    FAILED=1
    exit 1
}

# make_cluster COUNT [extra config lines...]: key file, cluster.lua on free loopback ports.
# Nodes whose ids are in $SPARES (space-separated; default none) get `spare = true`: they run
# outside the first ring and view until a commit joins them.
make_cluster() {
    count=$1
    shift
    head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' > "$WORK/key"
    ports=$("$PROBE" ports "$count") || fail "no free ports"
    {
        echo "cluster = \"test\""
        echo "key_file = \"$WORK/key\""
        echo "nodes = {"
        i=1
        for port in $ports; do
            spare=""
            case " ${SPARES:-} " in *" $i "*) spare=", spare = true" ;; esac
            echo "  {id = $i, addr = \"127.0.0.1:$port\"$spare},"
            eval "PORT_$i=$port"
            i=$((i + 1))
        done
        echo "}"
        for line in "$@"; do
            echo "$line"
        done
    } > "$WORK/cluster.lua"
}

# start_node ID: start dynamod in the background and wait until it listens.
start_node() {
    id=$1
    before=$(grep -c "listening on" "$WORK/node$id.log" 2>/dev/null || true)
    "$DYNAMOD" --config "$WORK/cluster.lua" --id "$id" --data-dir "$WORK/data$id" \
        2>>"$WORK/node$id.log" &
    eval "PID_$id=$!"
    PIDS="$PIDS $!"
    tries=0
    while :; do
        now=$(grep -c "listening on" "$WORK/node$id.log" 2>/dev/null || true)
        [ "${now:-0}" -gt "${before:-0}" ] && break
        tries=$((tries + 1))
        [ $tries -lt 100 ] || fail "node $id did not start"
        sleep 0.05
    done
}

# stop_node ID: SIGTERM, and the exit status must be 0.
stop_node() {
    id=$1
    eval "pid=\$PID_$id"
    kill -TERM "$pid" || fail "node $id is not running"
    wait "$pid"
    rc=$?
    [ $rc -eq 0 ] || fail "node $id exited $rc after SIGTERM"
    grep -q "stopped" "$WORK/node$id.log" || fail "node $id did not log its stop"
}

ctl() {
    "$DYNCTL" --config "$WORK/cluster.lua" "$@"
}
