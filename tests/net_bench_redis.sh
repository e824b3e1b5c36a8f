#!/bin/sh
# net_bench_redis.sh: our three-node cluster against one local Redis, on the same machine, in the
# same run. Prints figures as `name: value` lines and never fails on time. Not part of ctest.
#
#   sh tests/net_bench_redis.sh DYNAMOD DYNCTL NET_PROBE [SECONDS]
#   sh tests/net_bench_redis.sh build/dynamod build/dynctl build/tests/net_probe 10
#
# Needs redis-server and redis-benchmark (Debian: apt-get install -y redis-server redis-tools);
# nothing in the build or the test suite does.
#
# Ours: N=3 R=2 W=2, `dynctl bench` for SECONDS (default 10) with 100-byte values, half gets and
# half blind puts over 100,000 keys, 32 requests in flight, one client process; run twice, on
# fresh clusters. First with sync = "none", Redis's class of durability here (its persistence is
# off; ours still keeps every committed write through a crash of the process, which Redis's does
# not): the dynamo_* and ratio lines. Then with sync = "interval" (an fsync a second): the
# dynamo_interval_* lines. Redis: `redis-benchmark -c 32 -P 1 -d 100 -t get,set -r 100000` against a
# redis-server on a free loopback port, persistence off (no RDB, no AOF), one GET run and one
# SET run of equal size. Redis's mixed figures combine the two runs: throughput is both runs'
# requests over both runs' time, and each percentile is read from the sum of the two runs'
# cumulative latency histograms (at the histograms' bucket resolution, so a slight overstatement).
set -u
DYNAMOD=$1
DYNCTL=$2
PROBE=$3
SECONDS_RUN=${4:-10}
. "$(dirname "$0")/net_lib.sh"

command -v redis-server >/dev/null && command -v redis-benchmark >/dev/null ||
    fail "redis-server and redis-benchmark are needed (apt-get install -y redis-server redis-tools)"

run_ours() {  # run_ours SYNC OUT: a fresh three-node cluster under that sync policy
    rm -rf "$WORK"/data* 2>/dev/null
    make_cluster 3 "n = 3" "r = 2" "w = 2" "sync = \"$1\""
    for i in 1 2 3; do start_node $i; done
    ctl bench --duration "$SECONDS_RUN" --concurrency 32 --keys 100000 --value-size 100 \
        --read-fraction 0.5 --format json > "$2" || fail "dynctl bench ($1): exit $?"
    for i in 1 2 3; do stop_node $i; done
}
run_ours none "$WORK/ours.json"
run_ours interval "$WORK/ours_interval.json"

rport=$("$PROBE" ports 1) || fail "no free port for redis"
redis-server --port "$rport" --bind 127.0.0.1 --save '' --appendonly no --daemonize no \
    > "$WORK/redis.log" 2>&1 &
PIDS="$PIDS $!"
tries=0
until redis-cli -p "$rport" ping >/dev/null 2>&1; do
    tries=$((tries + 1))
    [ $tries -lt 100 ] || fail "redis-server did not start"
    sleep 0.05
done
# as many requests per run as our ops in half the time, at Redis's pace: about SECONDS_RUN in all
rn=$(redis-benchmark -p "$rport" -c 32 -P 1 -d 100 -t get -n 20000 -r 100000 --csv |
     awk -F'"' 'NR == 2 { printf "%d", $4 * '"$SECONDS_RUN"' / 2 }')
[ "${rn:-0}" -gt 0 ] || fail "redis-benchmark's probe run failed"
redis-benchmark -p "$rport" -c 32 -P 1 -d 100 -t set,get -n "$rn" -r 100000 2>/dev/null |
    tr '\r' '\n' > "$WORK/redis.txt" || fail "redis-benchmark: exit $?"

{ tr -d '{}"' < "$WORK/ours.json" | tr ',' '\n'
  tr -d '{}"' < "$WORK/ours_interval.json" | tr ',' '\n' | sed 's/^/interval_/'; } |
awk -F: -v redis="$WORK/redis.txt" '
    { ours[$1] = $2 }
    END {
        # Redis: requests and seconds per run, then both runs cumulative histograms
        while ((getline line < redis) > 0) {
            if (line ~ /requests completed in/) {
                split(line, w, " "); total += w[1]; secs += w[5]
                run++
            } else if (line ~ /% <= .* milliseconds \(cumulative count/) {
                split(line, w, " "); t = w[3] + 0; c = w[7]; sub(/\)/, "", c)
                key = run SUBSEP t
                if (!(key in cnt) || cnt[key] < c + 0) cnt[key] = c + 0
                ts[t] = 1
            }
        }
        n = 0
        for (t in ts) sorted[++n] = t + 0
        for (i = 2; i <= n; i++) {            # insertion sort: a few hundred thresholds
            v = sorted[i]; j = i - 1
            while (j > 0 && sorted[j] > v) { sorted[j + 1] = sorted[j]; j-- }
            sorted[j + 1] = v
        }
        split("0.5 0.99 0.999", ps, " ")
        split("p50 p99 p99.9", names, " ")
        for (r = 1; r <= run; r++) best[r] = 0
        pi = 1
        for (i = 1; i <= n && pi <= 3; i++) {
            sum = 0
            for (r = 1; r <= run; r++) {
                key = r SUBSEP sorted[i]
                if ((key in cnt) && cnt[key] > best[r]) best[r] = cnt[key]
                sum += best[r]
            }
            while (pi <= 3 && sum >= ps[pi] * total) { rp[pi] = sorted[i]; pi++ }
        }
        rops = secs > 0 ? total / secs : 0
        printf "dynamo_ops: %d\n", ours["ops"]
        printf "dynamo_failed: %d\n", ours["failed"]
        printf "dynamo_ops_per_s: %.0f\n", ours["ops_per_s"]
        printf "redis_ops: %d\n", total
        printf "redis_ops_per_s: %.0f\n", rops
        printf "throughput_ratio: %.3f\n", (rops > 0 ? ours["ops_per_s"] / rops : 0)
        printf "dynamo_p50_ms: %.3f\n", ours["p50_ms"]
        printf "dynamo_p99_ms: %.3f\n", ours["p99_ms"]
        printf "dynamo_p99.9_ms: %.3f\n", ours["p999_ms"]
        for (i = 1; i <= 3; i++) printf "redis_%s_ms: %.3f\n", names[i], rp[i]
        printf "p99_ratio: %.2f\n", (rp[2] > 0 ? ours["p99_ms"] / rp[2] : 0)
        printf "dynamo_interval_ops_per_s: %.0f\n", ours["interval_ops_per_s"]
        printf "dynamo_interval_failed: %d\n", ours["interval_failed"]
        printf "interval_throughput_ratio: %.3f\n",
               (rops > 0 ? ours["interval_ops_per_s"] / rops : 0)
        printf "dynamo_interval_p50_ms: %.3f\n", ours["interval_p50_ms"]
        printf "dynamo_interval_p99_ms: %.3f\n", ours["interval_p99_ms"]
        printf "dynamo_interval_p99.9_ms: %.3f\n", ours["interval_p999_ms"]
        printf "interval_p99_ratio: %.2f\n", (rp[2] > 0 ? ours["interval_p99_ms"] / rp[2] : 0)
    }'
