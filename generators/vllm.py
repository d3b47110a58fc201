"""vLLM backend (GPU): the same `generate(requests) -> completions` as the transformers backend.

One `LLM.generate` call per batch of requests, whatever the samplers: each request carries its own
`SamplingParams` (settings, seed, n=1), so a whole portfolio shares the engine's continuous batch.
Prompts go in as token ids made by the model folder's own tokenizer (the built-in one adds a BOS
token), so vLLM sees exactly what transformers sees; outputs are decoded by that tokenizer too,
through the same `completion_from_tokens` as the transformers backend.

vLLM is an optional dependency (`pip install -e ".[gpu]"`) imported only when a backend is built.
vLLM's per-request seed drives its own random stream: a seed reproduces a sample within a backend,
not across backends; greedy decoding matches transformers token for token (tests marked gpu).
"""

from __future__ import annotations

import gc
import importlib.util
import os
from collections.abc import Callable, Sequence
from pathlib import Path

from .base import Completion, Request, completion_from_tokens

INSTALL_HINT = 'pip install -e ".[gpu]"  (vllm==0.26.0, built for torch 2.11 and CUDA)'


class BackendUnavailable(RuntimeError):
    """The vLLM backend was asked for where it cannot run; the message says what is missing."""


def check_available() -> None:
    """Raise BackendUnavailable, with one line saying why, unless vLLM and a CUDA GPU are here."""
    if importlib.util.find_spec("vllm") is None:
        raise BackendUnavailable(f"the vLLM backend needs vLLM, which is not installed: {INSTALL_HINT}; "
                                 "or use backend: transformers")
    import torch

    if not torch.cuda.is_available():
        raise BackendUnavailable("the vLLM backend needs a CUDA GPU and none is visible; "
                                 "use backend: transformers on this machine")


def sampling_kwargs(req: Request, logprobs: bool = True) -> dict:
    """`SamplingParams` arguments for one request: its sampler's settings, its seed, one sample.

    >>> from synthloop.generators.base import Sampler
    >>> kw = sampling_kwargs(Request("1+1=", Sampler("s", temperature=0.7, top_k=5), 42))
    >>> kw["temperature"], kw["top_k"], kw["seed"], kw["max_tokens"], kw["logprobs"]
    (0.7, 5, 42, 96, 0)
    """
    s = req.sampler
    if s.temperature > 2:
        raise ValueError(f"sampler {s.name}: vLLM accepts temperature up to 2, got {s.temperature}")
    return {
        "n": 1,
        "temperature": s.temperature,
        "top_p": s.top_p,
        "top_k": s.top_k,  # 0 disables it, as in our Sampler (vLLM 0.26 takes 0 or -1)
        "min_p": s.min_p,
        "repetition_penalty": s.repetition_penalty,
        "seed": req.seed & ((1 << 63) - 1),  # vLLM keeps seeds as int64
        "max_tokens": s.max_new_tokens,
        # 0 = only the sampled token's log-prob; "raw" mode (vLLM's default) makes it the model's
        # own distribution at T=1, the same quantity the transformers backend averages.
        "logprobs": 0 if logprobs else None,
        "detokenize": False,  # decoded below by the model's tokenizer, as transformers does
    }


class VLLMBackend:
    """Generate with a vLLM engine over an HF model folder (the built-in model or a user's)."""

    name = "vllm"

    def __init__(self, llm, tokenizer):
        self.llm, self.tokenizer = llm, tokenizer

    @classmethod
    def from_path(
        cls,
        path,
        *,
        dtype: str = "auto",
        seed: int = 0,
        enforce_eager: bool = False,
        gpu_memory_utilization: float = 0.5,
        attention_backend: str | None = None,
        max_model_len: int | None = None,
        **engine_kwargs,
    ) -> VLLMBackend:
        """Build the engine for the model folder at `path` (vLLM is imported here, not before).

        `attention_backend` None lets vLLM choose (FLASH_ATTN for bf16 on an H100; fp32 models such
        as the built-in one need TRITON_ATTN). The engine runs in this process: offline batch
        generation needs no engine process, and the multi-process engine hung when compiling on the
        lent H100 (../shared/gpu/README.md).
        """
        check_available()
        os.environ.setdefault("VLLM_ENABLE_V1_MULTIPROCESSING", "0")
        os.environ.setdefault("VLLM_NO_USAGE_STATS", "1")
        from transformers import AutoTokenizer
        from vllm import LLM

        path = str(Path(path).resolve())
        if attention_backend:
            engine_kwargs["attention_config"] = {"backend": attention_backend}
        llm = LLM(
            model=path, dtype=dtype, seed=seed, enforce_eager=enforce_eager,
            gpu_memory_utilization=gpu_memory_utilization, max_model_len=max_model_len, **engine_kwargs,
        )
        tokenizer = AutoTokenizer.from_pretrained(path)
        return cls(llm, tokenizer)

    def generate(
        self, requests: Sequence[Request], progress: Callable[[int], None] | None = None
    ) -> list[Completion]:
        """One completion per request, in request order, from one `LLM.generate` call."""
        if not requests:
            return []
        from vllm import SamplingParams
        from vllm.inputs import TokensPrompt

        ids = self.tokenizer([r.prompt for r in requests])["input_ids"]
        prompts = [TokensPrompt(prompt_token_ids=x) for x in ids]
        params = [SamplingParams(**sampling_kwargs(r)) for r in requests]
        outs = self.llm.generate(prompts, sampling_params=params, use_tqdm=False)
        result = []
        for o in outs:
            c = o.outputs[0]
            result.append(completion_from_tokens(self.tokenizer, c.token_ids, c.cumulative_logprob or 0.0))
        if progress:
            progress(len(requests))
        return result

    def close(self) -> None:
        """Release the engine and its GPU memory (the next stage may train on the same GPU)."""
        import torch

        engine = getattr(self.llm, "llm_engine", None)
        shutdown = getattr(getattr(engine, "engine_core", None), "shutdown", None)
        if callable(shutdown):
            shutdown()
        self.llm = None
        gc.collect()
        if torch.cuda.is_available():
            torch.cuda.empty_cache()
