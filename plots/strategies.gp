# strategies.gp: load-balancing efficiency against membership information (paper figure 8).
#
#   gnuplot -e "datadir='out/strategies/seed-1'" plots/strategies.gp
#
# Reads DATADIR/strategies.dat (written by scenarios/strategies.lua: entries, then efficiency and
# bytes per node for S1, S2 and S3) and writes DATADIR/strategies.png and .svg. The x axis is the
# membership information a node keeps, in bytes, on a log scale.

if (!exists("datadir")) datadir = "."
data = datadir . "/strategies.dat"

set xlabel "membership information per node (bytes)"
set ylabel "load-balancing efficiency (mean load / max load)"
set logscale x
set yrange [0:1.05]
set grid xtics ytics
set key bottom right
set title "Partitioning strategies, 30 nodes, N=3"

plot_cmd = "plot data using 3:2 with linespoints lw 2 title 'S1: T random tokens', " . \
           "data using 5:4 with linespoints lw 2 title 'S2: T tokens, Q equal partitions', " . \
           "data using 7:6 with linespoints lw 2 title 'S3: Q/S partitions per node'"

set terminal pngcairo size 900,560 font ",11"
set output datadir . "/strategies.png"
eval plot_cmd
set terminal svg size 900,560 font ",11"
set output datadir . "/strategies.svg"
eval plot_cmd
