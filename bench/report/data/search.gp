set terminal pngcairo size 700,450 font 'DejaVu Sans,10' noenhanced
set output 'bench/report/search_qps.png'
set title 'PDQ range search (r = 31), one thread: queries/s against references'
set logscale xy; set xlabel 'references'; set ylabel 'queries/s'; set grid; set key top right
plot '< grep "^IndexBinaryFlat " bench/report/data/search.dat' using 2:3 with linespoints lw 2 pt 7 title 'IndexBinaryFlat', '< grep "^MultiHash16x16f1 " bench/report/data/search.dat' using 2:3 with linespoints lw 2 pt 7 title 'MultiHash16x16f1', '< grep "^hm_hindex_MIH " bench/report/data/search.dat' using 2:3 with linespoints lw 2 pt 7 title 'hm_hindex_MIH'
