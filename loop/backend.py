"""The generation backend of this process: chosen once per model, loaded on first use, reused by
every part the process samples and by the held-out evaluation, released before fine-tuning.

One backend per process (a Ray worker keeps its own for the whole round, flows/execution.py):
loading a model costs seconds to minutes (a vLLM engine), sampling with it is the round's work.
"""

from __future__ import annotations

import threading
from pathlib import Path

import torch
from synthloop.generators.choose import Choice, choose
from synthloop.generators.hf import HFBackend
from transformers.utils import logging as hf_logging

from .config import LoopConfig
from .progress import say

# One task at a time samples with the process's backend (a second thread verifies meanwhile).
GENERATING = threading.Lock()
_LOADED: dict = {}


def device() -> str:
    return "cuda" if torch.cuda.is_available() else "cpu"


def torch_settings() -> None:
    """What every process that loads a model sets, once it does (not on import):
    flush denormals to zero: 3.25x faster small-model training on CPU (measured, same loss);
    no per-load 'Loading weights' bars from transformers between our own progress lines."""
    torch.set_flush_denormal(True)
    hf_logging.disable_progress_bar()


def backend_for(cfg: LoopConfig, path, evaluating: bool = False):
    """This process's backend for the model at `path`, loaded on first use; another model replaces it.
    `evaluating`: for the held-out evaluation, where an OpenAI server (another model) cannot stand in."""
    choice = backend_choice(cfg, path)
    kind = "transformers" if evaluating and choice.backend == "openai" else choice.backend
    key = (kind, choice.dtype, str(path), cfg.generation.batch_size, cfg.seed)
    if _LOADED.get("key") != key:
        release_backend()
        say(f"backend for {Path(path).name}: {choice.reason}")
        _LOADED.update(key=key, backend=make_backend(cfg, path, kind, choice.dtype))
    return _LOADED["backend"]


def release_backend() -> None:
    """Free this process's backend (vLLM holds GPU memory that fine-tuning needs next)."""
    backend = _LOADED.pop("backend", None)
    _LOADED.pop("key", None)
    if hasattr(backend, "close"):
        backend.close()


def backend_choice(cfg: LoopConfig, path) -> Choice:
    """Which backend and dtype the model at `path` gets (generators/choose.py: `auto` picks vLLM
    for a pretrained model where it is installed, bf16 where the hardware has it)."""
    gen = cfg.generation
    dtype = gen.vllm.dtype if gen.backend == "vllm" and gen.vllm.dtype != "auto" else gen.dtype
    choice = choose(gen.backend, dtype, path, device(), gen.vllm.python)
    if gen.backend == "auto" and choice.backend == "vllm" and (hot := gen.too_hot_for_vllm()):
        return Choice("transformers", choice.dtype, f"transformers: vLLM takes temperatures up to 2, "
                      f"sampler(s) {', '.join(hot)} go higher")
    return choice


def make_backend(cfg: LoopConfig, path, kind: str, dtype: str):
    """The generation backend `kind` (`backend_choice`'s) in `dtype` over the model folder at `path`."""
    torch_settings()
    if kind == "vllm":
        from synthloop.generators.vllm import VLLMBackend

        opts = vars(cfg.generation.vllm) | {"dtype": dtype}
        return VLLMBackend.from_path(path, seed=cfg.seed, **opts)
    if kind == "openai":  # the server's model, not `path` (README: Generation backends)
        from synthloop.generators.openai import OpenAIBackend

        return OpenAIBackend.connect(cfg.generation.openai)
    torch_dtype = {"bfloat16": torch.bfloat16, "float32": torch.float32}.get(dtype)
    return HFBackend.from_path(path, batch_size=cfg.generation.batch_size, dtype=torch_dtype)
