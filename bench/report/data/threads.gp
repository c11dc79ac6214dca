set terminal pngcairo size 700,450 font 'DejaVu Sans,10' noenhanced
set output 'bench/report/throughput_threads.png'
set title 'Whole fingerprint throughput against threads (2 cores)'
set xlabel 'threads'; set ylabel 'images/s'; set grid; set yrange [0:*]; set xtics 1
plot 'bench/report/data/threads.dat' using 1:2 with linespoints lw 2 pt 7 title 'hm_fp_compute, grocery photos'
