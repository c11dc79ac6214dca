set terminal pngcairo size 900,650 font 'DejaVu Sans,10' noenhanced
set linetype 1 lc rgb '#9e9e9e'; set linetype 2 lc rgb '#4e79a7'; set linetype 3 lc rgb '#1f3f80'
set linetype 4 lc rgb '#f28e2b'; set linetype 5 lc rgb '#edc948'; set linetype 6 lc rgb '#59a14f'
set linetype 7 lc rgb '#e15759'; set linetype 8 lc rgb '#b07aa1'; set linetype 9 lc rgb '#000000'
set output 'bench/report/pr_curves.png'
set title 'Precision / recall (one prediction per query, ties as blocks)'
set xlabel 'recall'; set ylabel 'precision'; set xrange [0:1]; set yrange [0.5:1.005]
set grid; set key bottom left
set arrow from 0,0.999 to 1,0.999 nohead dt 2 lc rgb 'gray'
plot 'bench/report/data/pr_pdq.dat' using 1:2 with lines lw 2 dt 1 title 'pdq', 'bench/report/data/pr_pdq_dih.dat' using 1:2 with lines lw 2 dt 1 title 'pdq_dih', 'bench/report/data/pr_pdq_dih_trim.dat' using 1:2 with lines lw 2 dt 1 title 'pdq_dih_trim', 'bench/report/data/pr_phash_trim.dat' using 1:2 with lines lw 2 dt 1 title 'phash_trim', 'bench/report/data/pr_dhash_trim.dat' using 1:2 with lines lw 2 dt 1 title 'dhash_trim', 'bench/report/data/pr_desc.dat' using 1:2 with lines lw 2 dt 1 title 'desc', 'bench/report/data/pr_opencv_phash.dat' using 1:2 with lines lw 2 dt 1 title 'opencv_phash', 'bench/report/data/pr_local.dat' using 1:2 with lines lw 2 dt 1 title 'local', 'bench/report/data/pr_fused_default.dat' using 1:2 with lines lw 2 dt 1 title 'fused_default', 'bench/report/data/pr_fused_calibrated.dat' using 1:2 with lines lw 2 dt 1 title 'fused_calibrated'
