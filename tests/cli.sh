#!/bin/sh
# cli.sh DYNSIM SOURCE_DIR: the dynsim command-line contract. Exit status 0 pass, 1 check failed,
# 2 usage or script error; the seed comes first and the digest last; a failure prints a replay
# line that reproduces the run; -D names must be declared; --help and --version work.
set -u
dynsim=$1
src=$2
fixtures=$src/tests/scenarios
failures=0
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

expect() {  # expect NAME STATUS COMMAND...
    name=$1
    want=$2
    shift 2
    "$@" >"$tmp/out" 2>"$tmp/err"
    got=$?
    if [ "$got" -ne "$want" ]; then
        echo "FAIL $name: exit $got, expected $want"
        sed 's/^/  | /' "$tmp/out" "$tmp/err" | tail -n 20
        failures=$((failures + 1))
        return 1
    fi
    echo "ok   $name"
}

contains() {  # contains NAME FILE TEXT
    if ! grep -qF -- "$3" "$2"; then
        echo "FAIL $1: no '$3' in output"
        failures=$((failures + 1))
    fi
}

expect help 0 "$dynsim" --help && contains help "$tmp/out" "usage: dynsim run"
expect version 0 "$dynsim" --version && contains version "$tmp/out" "dynsim "
expect no-args 2 "$dynsim"
expect unknown-command 2 "$dynsim" frobnicate x.lua
expect missing-file 2 "$dynsim" run "$tmp/does-not-exist.lua"
expect bad-seed 2 "$dynsim" run "$fixtures/check_fails.lua" --seed banana
expect bad-define 2 "$dynsim" run "$fixtures/check_fails.lua" --no-output -D nodes
expect unknown-param 2 "$dynsim" run "$fixtures/check_fails.lua" --no-output -D colour=red &&
    contains unknown-param "$tmp/err" "declares no such parameter (declared: nodes)"
expect wrong-type 2 "$dynsim" run "$fixtures/check_fails.lua" --no-output -D nodes=many &&
    contains wrong-type "$tmp/err" "'nodes' is a number parameter"
expect describe 0 "$dynsim" describe "$fixtures/check_fails.lua" &&
    contains describe "$tmp/out" "cluster size"

expect check-fails 1 "$dynsim" run "$fixtures/check_fails.lua" --seed 5 --no-output -D nodes=5
contains check-fails "$tmp/out" "check failed: "
contains check-fails "$tmp/out" "check_fails.lua:5: expected a value"
contains check-fails "$tmp/out" "verdict: FAIL"
contains check-fails "$tmp/out" "replay: dynsim run $fixtures/check_fails.lua --seed 5 -D nodes=5"
first=$(head -n 1 "$tmp/out")
last=$(tail -n 1 "$tmp/out")
[ "$first" = "seed: 5" ] || { echo "FAIL check-fails: first line is '$first'"; failures=$((failures + 1)); }
case "$last" in
    "digest: "*) ;;
    *) echo "FAIL check-fails: last line is '$last'"; failures=$((failures + 1)) ;;
esac
digest1=$last
# The replay line reproduces the run: same digest.
replay=$(sed -n 's/^replay: dynsim run //p' "$tmp/out")
# shellcheck disable=SC2086
expect replay 1 "$dynsim" run $replay --no-output
[ "$(tail -n 1 "$tmp/out")" = "$digest1" ] ||
    { echo "FAIL replay: digest differs"; failures=$((failures + 1)); }

expect script-error 2 "$dynsim" run "$fixtures/script_error.lua" --seed 1 --no-output
contains script-error "$tmp/err" "script_error.lua:3: attempt to index a nil value"
contains script-error "$tmp/err" "stack traceback:"
contains script-error "$tmp/out" "verdict: ERROR"

expect time-limit 2 "$dynsim" run "$fixtures/sleeps_past_limit.lua" --seed 1 --no-output --time-limit 60
contains time-limit "$tmp/err" "simulated time limit"

# Limits decide where a run stops, so the replay line carries them and reproduces the run.
expect events-max 2 "$dynsim" run "$fixtures/check_fails.lua" --seed 3 --no-output --events-max 5
contains events-max "$tmp/out" "replay: dynsim run $fixtures/check_fails.lua --seed 3 --events-max 5"
digest1=$(tail -n 1 "$tmp/out")
replay=$(sed -n 's/^replay: dynsim run //p' "$tmp/out")
# shellcheck disable=SC2086
expect events-max-replay 2 "$dynsim" run $replay --no-output
[ "$(tail -n 1 "$tmp/out")" = "$digest1" ] ||
    { echo "FAIL events-max-replay: digest differs"; failures=$((failures + 1)); }
expect time-limit-replay 2 "$dynsim" run "$fixtures/sleeps_past_limit.lua" --seed 1 --no-output --time-limit 60
contains time-limit-replay "$tmp/out" "--seed 1 --time-limit 60"

long=$(awk 'BEGIN { while (n++ < 70000) printf "x" }')
expect long-replay 0 "$dynsim" run "$fixtures/long_param.lua" --seed 1 --no-output -D "text=$long"
contains long-replay "$tmp/err" "the one printed is cut"

expect coroutine-sleep 2 "$dynsim" run "$fixtures/coroutine_sleep.lua" --seed 1 --no-output
contains coroutine-sleep "$tmp/err" "spawn()ed actor"
contains coroutine-sleep "$tmp/out" "verdict: ERROR"
expect no-params-define 2 "$dynsim" run "$fixtures/no_params.lua" --seed 1 --no-output -D x=1
contains no-params-define "$tmp/err" "-D x: the scenario declares no parameters"
expect describe-no-params 2 "$dynsim" describe "$fixtures/no_params.lua" &&
    contains describe-no-params "$tmp/err" "nothing to describe"
expect integer-param 2 "$dynsim" run "$fixtures/check_fails.lua" --no-output -D nodes=4.5
contains integer-param "$tmp/err" "'nodes' is an integer parameter"

expect quorum-over-n 2 "$dynsim" run "$fixtures/quorum_over_n.lua" --seed 1 --no-output
contains quorum-over-n "$tmp/err" "r=4 is more than the key's n=3 replicas"

# The sandbox: no os, io or loaders; the same seed draws the same numbers, another seed others.
expect sandbox 0 "$dynsim" run "$fixtures/sandbox.lua" --seed 11 --no-output
grep '^draw' "$tmp/out" > "$tmp/draws1"
expect sandbox-again 0 "$dynsim" run "$fixtures/sandbox.lua" --seed 11 --no-output
grep '^draw' "$tmp/out" > "$tmp/draws2"
expect sandbox-other 0 "$dynsim" run "$fixtures/sandbox.lua" --seed 12 --no-output
grep '^draw' "$tmp/out" > "$tmp/draws3"
cmp -s "$tmp/draws1" "$tmp/draws2" ||
    { echo "FAIL sandbox: one seed drew different numbers"; failures=$((failures + 1)); }
if cmp -s "$tmp/draws1" "$tmp/draws3" || [ ! -s "$tmp/draws1" ]; then
    echo "FAIL sandbox: two seeds drew the same numbers"
    failures=$((failures + 1))
fi

# A run folder that cannot be written is refused before the run, not after it.
: > "$tmp/a-file"
expect out-not-dir 2 "$dynsim" run "$fixtures/check_fails.lua" --seed 5 --out "$tmp/a-file"
contains out-not-dir "$tmp/err" "is not a directory"
if grep -q '^seed:' "$tmp/out"; then
    echo "FAIL out-not-dir: the run started"
    failures=$((failures + 1))
fi
# The folder name reaches gnuplot as an argument, never through a shell.
expect out-shell 0 "$dynsim" run "$src/scenarios/quickstart.lua" --seed 1 -D ops=300 -q \
    --out "$tmp/q\$(touch $tmp/INJECTED)x"
if [ -e "$tmp/INJECTED" ]; then
    echo "FAIL out-shell: the folder name ran a command"
    failures=$((failures + 1))
fi

# Progress lines on stderr while a run goes on (every 2 s by default; here every 10 ms).
expect progress 0 "$dynsim" run "$src/scenarios/quickstart.lua" --seed 1 --no-output --progress 0.01
contains progress "$tmp/err" "progress: wall "
expect progress-quiet 0 "$dynsim" run "$src/scenarios/quickstart.lua" --seed 1 --no-output \
    --progress 0.01 -q
if [ -s "$tmp/err" ]; then
    echo "FAIL progress-quiet: -q printed progress"
    failures=$((failures + 1))
fi
expect progress-bad 2 "$dynsim" run "$src/scenarios/quickstart.lua" --progress 0

# The benchmark prints every figure it promises, as name: value lines.
expect bench-figures 0 "$dynsim" run "$src/scenarios/bench.lua" --seed 1 --no-output -q \
    -D nodes=8 -D ops=3000 -D keys=500
for figure in wall_s events_per_wall_s sim_ops_per_wall_s peak_rss_bytes bytes_per_key \
              bare_heap_events_per_wall_s kernel_ratio; do
    grep -Eq "^$figure: [0-9.]+$" "$tmp/out" ||
        { echo "FAIL bench-figures: no '$figure: <number>' line"; failures=$((failures + 1)); }
done

expect output-folder 1 "$dynsim" run "$fixtures/check_fails.lua" --seed 5 --out "$tmp/run"
for f in results.json history.tsv latency_percentiles.dat; do
    [ -s "$tmp/run/$f" ] || { echo "FAIL output-folder: no $f"; failures=$((failures + 1)); }
done
contains output-folder "$tmp/run/results.json" '"verdict": "FAIL"'
contains output-folder "$tmp/run/results.json" '"seed": 5'

# fuzz: every seed of the range (or of a shard of it), failures listed with replay lines.
expect fuzz-pass 0 "$dynsim" fuzz "$fixtures/../../scenarios/siblings.lua" --seeds 1..4 -j 2
contains fuzz-pass "$tmp/out" "passed: 4"
contains fuzz-pass "$tmp/out" "failed: 0"
expect fuzz-fail 1 "$dynsim" fuzz "$fixtures/check_fails.lua" --seeds 1..10 --shard 2/3 -D nodes=5
contains fuzz-fail "$tmp/out" "passed: 0"
contains fuzz-fail "$tmp/out" "failed: 3"
for seed in 2 5 8; do
    contains fuzz-fail "$tmp/out" "replay: dynsim run $fixtures/check_fails.lua --seed $seed -D nodes=5"
done
expect fuzz-no-seeds 2 "$dynsim" fuzz "$fixtures/check_fails.lua"
expect fuzz-bad-range 2 "$dynsim" fuzz "$fixtures/check_fails.lua" --seeds 9..3
expect fuzz-bad-shard 2 "$dynsim" fuzz "$fixtures/check_fails.lua" --seeds 1..3 --shard 4/3
expect run-no-seeds 2 "$dynsim" run "$fixtures/check_fails.lua" --seeds 1..3

if [ "$failures" -ne 0 ]; then
    echo "$failures CLI check(s) failed"
    exit 1
fi
echo "dynsim CLI: every check passed"
