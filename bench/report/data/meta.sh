cpu=AMD\ EPYC
cores=2
commit=79ef888
when=2026-11-29T19:28Z
reps=15
mode=full
elapsed=339
