#!/bin/sh
# gossip_convergence.sh: gossip rounds to spread a membership change, for 8 to 1,024 nodes.
#
#   sh plots/gossip_convergence.sh [DYNSIM] [OUTDIR]
#
# Runs scenarios/gossip.lua once per cluster size (seed 1, 20 changes each), writes
# OUTDIR/gossip_convergence.dat (nodes, log2 nodes, mean and worst rounds) and renders
# OUTDIR/gossip_convergence.png and .svg with plots/gossip_convergence.gp. Defaults: ./build/dynsim
# and plots/gossip.
set -eu
ROOT=$(cd "$(dirname "$0")/.." && pwd)
DYNSIM=${1:-$ROOT/build/dynsim}
OUT=${2:-$ROOT/plots/gossip}
mkdir -p "$OUT"
DAT="$OUT/gossip_convergence.dat"
echo "# nodes log2_nodes mean_rounds worst_rounds" > "$DAT"
for n in 8 16 32 64 128 256 512 1024; do
    "$DYNSIM" run "$ROOT/scenarios/gossip.lua" --seed 1 --no-output -q -D nodes=$n > "$OUT/run.log" || {
        echo "gossip_convergence: the run with $n nodes failed; see $OUT/run.log" >&2
        exit 1
    }
    mean=$(sed -n 's/^mean_rounds: //p' "$OUT/run.log")
    worst=$(sed -n 's/^worst_rounds: //p' "$OUT/run.log")
    log2=$(sed -n 's/^log2_nodes: //p' "$OUT/run.log")
    echo "$n $log2 $mean $worst" >> "$DAT"
    echo "nodes $n: mean $mean rounds, worst $worst (log2 n = $log2)"
done
rm -f "$OUT/run.log"
if command -v gnuplot >/dev/null 2>&1; then
    gnuplot -e "datadir='$OUT'" "$ROOT/plots/gossip_convergence.gp"
    echo "plot: $OUT/gossip_convergence.png $OUT/gossip_convergence.svg"
else
    echo "gnuplot is not installed; data in $DAT"
fi
