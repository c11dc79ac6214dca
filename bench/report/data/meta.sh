cpu='AMD EPYC'
cores=2
commit=68b6d0f
when=2026-11-29T15:57Z
reps=15
mode=full
elapsed=133
