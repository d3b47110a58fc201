#!/bin/bash
# The measured runs of EXPERIMENTS.md: one experiment at a time, low priority, load sampled each minute.
cd "$(dirname "$0")"
(while true; do echo "$(date +%T) $(cut -d' ' -f1-3 /proc/loadavg)" >> logs/load.log; sleep 60; done) &
SAMPLER=$!
for e in "$@"; do
  echo "== $e start $(date +%T) commit $(git rev-parse --short HEAD) load $(cut -d' ' -f1-3 /proc/loadavg)" >> logs/runs.log
  /usr/bin/time -v nice -n 10 .venv/bin/synthloop experiment "$e" > "logs/$e.out" 2> "logs/$e.err"
  echo "== $e end $(date +%T) rc=$? load $(cut -d' ' -f1-3 /proc/loadavg)" >> logs/runs.log
done
kill $SAMPLER
