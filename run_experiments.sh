#!/bin/bash
# The measured runs of EXPERIMENTS.md: one experiment at a time, low priority, load sampled each minute.
cd "$(dirname "$0")"
# One torch thread: on a machine shared by many processes, torch's two OpenMP threads spin-wait for
# each other; measured here under load ~20, one thread used 13x less CPU a training step (0.08 s
# against 1.08 s) and was 10x faster in wall time.
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1}
(while true; do echo "$(date +%T) $(cut -d' ' -f1-3 /proc/loadavg)" >> logs/load.log; sleep 60; done) &
SAMPLER=$!
for e in "$@"; do
  echo "== $e start $(date +%T) commit $(git rev-parse --short HEAD) OMP_NUM_THREADS=$OMP_NUM_THREADS load $(cut -d' ' -f1-3 /proc/loadavg)" >> logs/runs.log
  /usr/bin/time -v nice -n 10 .venv/bin/synthloop experiment "$e" > "logs/$e.out" 2> "logs/$e.err"
  echo "== $e end $(date +%T) rc=$? load $(cut -d' ' -f1-3 /proc/loadavg)" >> logs/runs.log
done
kill $SAMPLER
