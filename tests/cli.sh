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
