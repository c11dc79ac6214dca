set terminal pngcairo size 1400,560 font 'DejaVu Sans,10' noenhanced
set linetype 1 lc rgb '#9e9e9e'; set linetype 2 lc rgb '#4e79a7'; set linetype 3 lc rgb '#1f3f80'
set linetype 4 lc rgb '#f28e2b'; set linetype 5 lc rgb '#edc948'; set linetype 6 lc rgb '#59a14f'
set linetype 7 lc rgb '#e15759'; set linetype 8 lc rgb '#b07aa1'; set linetype 9 lc rgb '#000000'
set output 'bench/report/recall_by_family.png'
set title 'Recall at precision 0.999 per transform family and signal'
set style data histogram; set style histogram clustered gap 1; set style fill solid 0.9 border -1
set boxwidth 0.9; set yrange [0:1.05]; set ylabel 'recall'; set grid ytics
set xtics rotate by -30 nomirror; set key outside right top vertical
plot 'bench/report/data/recall.dat' using 2:xtic(1) title columnhead, 'bench/report/data/recall.dat' using 3:xtic(1) title columnhead, 'bench/report/data/recall.dat' using 4:xtic(1) title columnhead, 'bench/report/data/recall.dat' using 6:xtic(1) title columnhead, 'bench/report/data/recall.dat' using 8:xtic(1) title columnhead, 'bench/report/data/recall.dat' using 9:xtic(1) title columnhead, 'bench/report/data/recall.dat' using 10:xtic(1) title columnhead, 'bench/report/data/recall.dat' using 11:xtic(1) title columnhead, 'bench/report/data/recall.dat' using 12:xtic(1) title columnhead, 'bench/report/data/recall.dat' using 13:xtic(1) title columnhead
