# Prepare the lent GPU machine to run synthloop's generation code from the source tree.
# Source it from the repository root, with `.vllm` (and `.gpu-wheels` for pytest) carried:
#
#   source benchmarks/gpu_env.sh && sl_pytest -q tests/generators
#   source benchmarks/gpu_env.sh && python3 benchmarks/generation.py
#
# That machine has torch and transformers but no internet, no vLLM, no pytest and none of the
# project's pure-Python dependencies; `generators/` and `training/` need only torch, transformers
# and vLLM, so they run from here without installing the project:
#   1. vLLM 0.26 from .vllm (a slim vLLM 0.26 site-packages folder) unpacked into /tmp/site;
#   2. /tmp/sl/synthloop: the package layout pip would make (top-level folders as subpackages);
#   3. pytest from the wheels in .gpu-wheels (pure Python: unzipped, nothing fetched), only the
#      ones whose module the machine lacks.
if [ -x .vllm/setup.sh ] && [ -z "${SKIP_VLLM:-}" ]; then
  .vllm/setup.sh >/dev/null || echo "gpu_env: .vllm/setup.sh failed" >&2
fi
mkdir -p /tmp/sl/synthloop /tmp/pt
cp synthloop/__init__.py synthloop/errors.py /tmp/sl/synthloop/  # errors: generators raise UserError subclasses
for d in domains generators training filters warehouse flows; do
  ln -sfn "$PWD/$d" "/tmp/sl/synthloop/$d"
done
if [ -d .gpu-wheels ]; then
  python3 - <<'EOF'
import glob, importlib.util, zipfile
for whl in sorted(glob.glob(".gpu-wheels/*.whl")):
    module = whl.split("/")[-1].split("-")[0].lower()
    if importlib.util.find_spec(module) is None:
        zipfile.ZipFile(whl).extractall("/tmp/pt")
EOF
fi
export PYTHONPATH="/tmp/site:/tmp/sl:/tmp/pt${PYTHONPATH:+:$PYTHONPATH}"
export VLLM_ENABLE_V1_MULTIPROCESSING=0 VLLM_NO_USAGE_STATS=1 HF_HUB_OFFLINE=1

# pytest from /tmp in importlib mode: run from the repository root, Python would put the root on
# sys.path first, and its bare `synthloop/` folder (without the subpackages) would shadow /tmp/sl.
sl_pytest() {
  local root=$PWD args=() a
  for a in "$@"; do
    case "$a" in -*|/*) args+=("$a") ;; *) args+=("$root/$a") ;; esac
  done
  (cd /tmp && "${PY:-python3}" -m pytest -c "$root/pyproject.toml" --rootdir "$root" \
     --import-mode=importlib -p no:cacheprovider "${args[@]}")
}
