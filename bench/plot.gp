# Draws one latency distribution written by `shmview-bench --samples DIR` (bench/run --plot
# DIR, and --full): the fraction of samples at or below each latency, shmview against its
# socket floors, on a log scale of microseconds.
#   gnuplot -e "data='DIR/FIGURE.dat'; out='DIR/FIGURE.svg'; title='...'" bench/plot.gp
set terminal svg size 800,480 dynamic enhanced font "sans,12" background rgb "white"
set output out
set title title noenhanced
set xlabel "latency (µs, log scale)"
set ylabel "fraction of samples at or below"
set logscale x
set yrange [0:1]
set grid xtics mxtics ytics
set key bottom right noenhanced
set style data lines
plot data index 0 title "shmview" lw 2 lc rgb "#c0392b", \
     data index 1 title "floor (blocking peer)" lw 1.5 lc rgb "#2c3e50", \
     data index 2 title "floor (epoll peer)" lw 1.5 lc rgb "#2980b9", \
     data index 3 title "floor (epoll peer, 0.5 µs of work)" lw 1 dt 2 lc rgb "#7f8c8d"
