#!/bin/sh
# replay_failure.sh DYNSIM SCENARIO SEED [-D k=v ...]: a seed whose run fails replays to the same
# digest and the same checker report. Everything the run prints is compared but the wall-clock
# figures, so a lost write listed differently, or a check failing in a different way, is caught.
set -u
dynsim=$1
scenario=$2
seed=$3
shift 3
tmp=${TMPDIR:-/tmp}/replay_failure.$$
trap 'rm -f "$tmp".1 "$tmp".2' EXIT
for i in 1 2; do
    "$dynsim" run "$scenario" --seed "$seed" --no-output -q "$@" >"$tmp.$i" 2>&1
    echo $? >>"$tmp.$i"
done
if [ "$(tail -n 1 "$tmp.1")" != 1 ]; then
    echo "FAIL: seed $seed was expected to fail its checks (exit 1)" >&2
    cat "$tmp.1" >&2
    exit 1
fi
if ! grep -q "lost put key=" "$tmp.1"; then
    echo "FAIL: the failing run lists no lost write" >&2
    exit 1
fi
if ! diff -u "$tmp.1" "$tmp.2" | grep -v 'wall' | grep -q '^[-+][^-+]'; then
    grep -E '^(digest|check failed)' "$tmp.1"
    echo "replay: identical digest and checker report"
    exit 0
fi
echo "FAIL: the replay differs:" >&2
diff -u "$tmp.1" "$tmp.2" >&2
exit 1
