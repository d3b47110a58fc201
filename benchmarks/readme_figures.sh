#!/usr/bin/env bash
# The README's measured figures ("What we measured"), each benchmark run RUNS times (default 3), one
# after another, with the date, the commit and the load average before each run, so a reader sees
# the spread and the conditions. Run it on an otherwise idle machine; it says when it was not.
#
#   benchmarks/readme_figures.sh            # dedup, verify, generation, scale: ~15 min on 2 idle cores
#   RUNS=1 benchmarks/readme_figures.sh verify dedup
#
# Writes logs/figures-<commit>.log (every line) and prints each run's summary line. Needs
# `pip install -e ".[bench]"` (rensa, the dedup baseline) and `make vllm` for generation's vLLM paths.
set -uo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}
RUNS=${RUNS:-3}
commit=$(git rev-parse --short HEAD)$(git diff --quiet HEAD -- . ':!logs' || echo "+dirty")
mkdir -p logs
log=logs/figures-$commit.log
declare -A CMD=(
  [dedup]="benchmarks/dedup.py --docs 100000"
  [verify]="benchmarks/verify.py --samples 3000"
  [generation]="benchmarks/generation.py --models builtin --prompts 256 --new-tokens 64 --eager"
  [scale]="benchmarks/scale.py --sizes 1e4,1e5 --skip-generation"
)
names=("$@")
[ ${#names[@]} -gt 0 ] || names=(verify dedup generation scale)
for name in "${names[@]}"; do
  [ -n "${CMD[$name]:-}" ] || { echo "readme_figures: unknown benchmark '$name' (one of: ${!CMD[*]})" >&2; exit 2; }
  for i in $(seq 1 "$RUNS"); do
    head="== $name run $i/$RUNS $(date -u +%FT%TZ) commit $commit load $(cut -d' ' -f1-3 /proc/loadavg): python ${CMD[$name]}"
    echo "$head" | tee -a "$log"
    start=$(($(wc -l <"$log") + 1))
    PREFECT_SERVER_ANALYTICS_ENABLED=false $PY ${CMD[$name]} >>"$log" 2>&1
    rc=$?
    # the summary line is the last line of the run that starts with "<name>:"
    tail -n +"$start" "$log" | grep -E "^$name:" | tail -1
    [ $rc -eq 0 ] || echo "   (exit $rc; see $log)"
  done
done
echo "all lines: $log"
