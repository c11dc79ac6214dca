cpu=AMD\ EPYC
cores=2
commit=48ac31b
when=2026-11-29T22:11Z
reps=15
mode=full
elapsed=285
