# gossip_convergence.gp: gossip rounds to spread one membership change, against cluster size.
#
#   gnuplot -e "datadir='plots/gossip'" plots/gossip_convergence.gp
#
# Reads DATADIR/gossip_convergence.dat (plots/gossip_convergence.sh writes it: nodes, log2 nodes,
# mean and worst rounds) and writes DATADIR/gossip_convergence.png and .svg. The x axis is log2
# scaled, so O(log n) growth is a straight line; log2 n is drawn for reference.

if (!exists("datadir")) datadir = "."
data = datadir . "/gossip_convergence.dat"

set xlabel "nodes"
set ylabel "gossip rounds until every node holds the change"
set logscale x 2
set xrange [6:1400]
set yrange [0:11]
set grid xtics ytics
set key bottom right
set title "Membership gossip: push-pull with one random peer a round"

plot_cmd = "plot data using 1:3 with linespoints lw 2 title 'mean of 20 changes', " . \
           "data using 1:4 with linespoints lw 2 title 'worst', " . \
           "data using 1:2 with lines dt 2 lw 1 title 'log2 n'"

set terminal pngcairo size 900,560 font ",11"
set output datadir . "/gossip_convergence.png"
eval plot_cmd
set terminal svg size 900,560 font ",11"
set output datadir . "/gossip_convergence.svg"
eval plot_cmd
