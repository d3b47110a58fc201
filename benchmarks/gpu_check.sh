#!/usr/bin/env bash
# Every GPU check of issue 12 in one command, for one lent H100/H200 (no internet), <= 8 minutes.
# From the repository root, with `.vllm` (a slim vLLM 0.26 site-packages folder) carried:
#
#   OUT=/some/dir benchmarks/gpu_check.sh          # results and logs land under $OUT
#   OUT=/tmp/dry DRY_RUN=1 benchmarks/gpu_check.sh # on a CPU: each step at its smallest size
#
# Steps (each under its own time limit; a failing step does not stop the others):
#   1. the vLLM tests on the GPU (tests/generators/test_vllm.py; the OpenAI-server test needs
#      vLLM's server parts, which vllm-slim leaves out);
#   2. benchmarks/generation.py at GPU size on the 0.5B-shaped model (raw vLLM, ours, portfolio,
#      transformers; compare with what vLLM does on an H100);
#   3. fine-tuning a 494M-parameter model built from a config, 300 steps: loss falls, tokens/s;
#   4. one round with the vLLM backend and the hand-over to fine-tuning (benchmarks/gpu_round.py;
#      that machine has no Prefect/DuckDB, so the stages run without them).
# $OUT/summary.txt gets each step's exit status, time and summary line.
set -uo pipefail
: "${OUT:?set OUT to the folder for results and logs}"
mkdir -p "$OUT"
cd "$(dirname "$0")/.."
export SKIP_VLLM="${DRY_RUN:+1}"  # the dry run uses the checkout's .venv-vllm instead of .vllm
source benchmarks/gpu_env.sh
PY="${PY:-python3}"
SUMMARY="$OUT/summary.txt"
export -f sl_pytest
: > "$SUMMARY"

step() {  # step NAME LIMIT_S COMMAND...: log in $OUT/NAME.log; status, time, last summary line
  local name=$1 limit=$2 t0=$SECONDS rc
  shift 2
  timeout -k 10 "$limit" bash -c '"$@"' "$name" "$@" > "$OUT/$name.log" 2>&1  # bash -c: sl_pytest is a function
  rc=$?
  echo "$name rc=$rc s=$((SECONDS - t0)) $(grep -E '^[a-z_]+: .*wall_s=|passed|failed' "$OUT/$name.log" | tail -1)" | tee -a "$SUMMARY"
}

{ nvidia-smi || echo "no nvidia-smi"; "$PY" -c "import torch, transformers; print(torch.__version__, transformers.__version__, torch.cuda.is_available())"; } > "$OUT/machine.txt" 2>&1
if [ -n "${DRY_RUN:-}" ]; then
  step vllm_tests 600 sl_pytest -q -x tests/generators/test_vllm.py
  step generation 900 "$PY" benchmarks/generation.py --models builtin --prompts 32 --new-tokens 32 --repeats 1 --eager
  step finetune 300 "$PY" benchmarks/gpu_round.py finetune --cpu --steps 20 --batch 8
  step round 900 "$PY" benchmarks/gpu_round.py round --cpu --bootstrap-steps 20 --finetune-steps 5 --problems 16
else
  step vllm_tests 110 sl_pytest -q tests/generators/test_vllm.py
  step generation 200 "$PY" benchmarks/generation.py --models qwen05b --repeats 1
  step finetune 60 "$PY" benchmarks/gpu_round.py finetune --steps 300 --batch 32
  step round 90 "$PY" benchmarks/gpu_round.py round
fi
echo "gpu_check: done, results in $OUT (summary.txt)"
