# latency_percentiles.gp: latency by percentile (HdrHistogram style) for each operation type.
#
#   gnuplot -e "datadir='out/quickstart/seed-7'" plots/latency_percentiles.gp
#
# Reads DATADIR/latency_percentiles.dat (written by every dynsim run) and writes
# DATADIR/latency_percentiles.png and .svg. The x axis is 1/(1-p) on a log scale, labelled with
# the percentile, so the tail gets as much room as the median.

if (!exists("datadir")) datadir = "."
data = datadir . "/latency_percentiles.dat"

set xlabel "percentile"
set ylabel "latency (ms)"
set logscale x
set xtics ("0%%" 1, "90%%" 10, "99%%" 100, "99.9%%" 1000, "99.99%%" 10000, "99.999%%" 100000)
set grid xtics ytics
set key top left
set datafile missing "-"
set title "Latency by percentile"

plot_cmd = "plot data using 2:3 with lines lw 2 title 'get', data using 2:4 with lines lw 2 title 'put'"

set terminal pngcairo size 900,560 font ",11"
set output datadir . "/latency_percentiles.png"
eval plot_cmd
set terminal svg size 900,560 font ",11"
set output datadir . "/latency_percentiles.svg"
eval plot_cmd
