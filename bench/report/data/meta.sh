cpu=AMD\ EPYC
cores=2
commit=11af21e
when=2026-11-29T16:28Z
reps=15
mode=full
elapsed=507
