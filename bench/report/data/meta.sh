cpu=AMD\ EPYC
cores=2
commit=5ffa495
when=2026-11-29T18:52Z
reps=15
mode=full
elapsed=335
