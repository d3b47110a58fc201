"""Generation throughput, side by side in one run, same prompts and sampler settings:

  1. raw_vllm   vLLM's own `LLM.generate`, one shared SamplingParams, no log-probs, no text,
                timed inside the engine's process: the ceiling our backend can reach;
  2. ours_vllm  our vLLM backend through the generation stage (`generate_rows`: per-sample
                seeds, log-probs, decoded text, one provenance row per sample, the pipe to the
                engine's process);
  3. portfolio  the same with a 4-sampler portfolio (per-request SamplingParams, one call);
  4. hf         our transformers backend through the same stage, in this process.

Models: a 494M-parameter Qwen2-shaped Llama with random weights (built from a config; nothing is
downloaded) and the built-in model (default shape, random weights, context widened to fit).
Output tokens/s counts generated tokens (the end-of-sequence token included) over wall time.
vLLM runs wherever `generators/vllm.py` finds it: on a CPU, the CPU build in `.venv-vllm`
(`make vllm`); without it only (4) runs and the vLLM figures print as `na`.

    python benchmarks/generation.py                                        # GPU: 1024 prompts x 256 tokens
    python benchmarks/generation.py --models builtin --prompts 128 --new-tokens 64 --eager   # CPU size

The last line: `generation: device=... raw_vllm_tok_s=... ours_vllm_tok_s=... portfolio_tok_s=...
hf_tok_s=... ours_over_raw=... portfolio_over_ours=... ours_over_hf=... wall_s=...` for the first
model of --models. Targets (any hardware): ours >= 0.9 x raw; portfolio >= 0.9 x ours.
"""

from __future__ import annotations

import argparse
import gc
import os
import random
import string
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("VLLM_ENABLE_V1_MULTIPROCESSING", "0")  # the engine in this process (benchmarks/gpu_env.sh)
os.environ.setdefault("VLLM_NO_USAGE_STATS", "1")

import torch
from synthloop.domains import Problem
from synthloop.generators import PortfolioEntry, Sampler, generate_rows
from synthloop.generators.hf import HFBackend
from synthloop.training import model as model_lib

torch.set_flush_denormal(True)

SAMPLER = {"temperature": 0.8, "top_p": 0.95}  # the setting the H100 anchor figures were measured with
PORTFOLIO = [  # four different decoding rules in one call
    {"name": "cool", "temperature": 0.6},
    {"name": "warm", "temperature": 0.8, "top_p": 0.95},
    {"name": "topk", "temperature": 1.0, "top_k": 50},
    {"name": "hot", "temperature": 1.1, "min_p": 0.05},
]


def char_tokenizer(vocab_size: int, max_length: int):
    """The built-in character tokenizer, its vocabulary padded with placeholder tokens to
    `vocab_size` so every id a random large model emits decodes to something."""
    from tokenizers import Tokenizer, decoders, models, processors
    from transformers import PreTrainedTokenizerFast

    M = model_lib
    names = [M.PAD, M.BOS, M.EOS, M.UNK, *M.CHARS]
    names += [f"<x{i}>" for i in range(vocab_size - len(names))]
    vocab = {t: i for i, t in enumerate(names)}
    tok = Tokenizer(models.BPE(vocab=vocab, merges=[], unk_token=M.UNK))
    tok.decoder = decoders.Fuse()
    tok.post_processor = processors.TemplateProcessing(single=f"{M.BOS} $A", special_tokens=[(M.BOS, vocab[M.BOS])])
    return PreTrainedTokenizerFast(
        tokenizer_object=tok, bos_token=M.BOS, eos_token=M.EOS, pad_token=M.PAD, unk_token=M.UNK,
        model_max_length=max_length, padding_side="left",
    )


def build(name: str, workdir: Path, max_length: int, device: str):
    """(folder, model on `device`, tokenizer) for `name`; the folder is what vLLM loads."""
    from transformers import LlamaConfig, LlamaForCausalLM

    path = workdir / name
    dtype = torch.bfloat16 if device == "cuda" else torch.float32
    if name == "qwen05b":
        tok = char_tokenizer(151936, max_length)
        cfg = LlamaConfig(
            hidden_size=896, intermediate_size=4864, num_hidden_layers=24, num_attention_heads=14,
            num_key_value_heads=2, vocab_size=151936, max_position_embeddings=4096, tie_word_embeddings=True,
            bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id, pad_token_id=tok.pad_token_id,
        )
        torch.manual_seed(0)
        with torch.device(device):
            model = LlamaForCausalLM(cfg).to(dtype)
    elif name == "builtin":
        tok = model_lib.build_tokenizer(max_length)
        model = model_lib.build_model(model_lib.ModelConfig(max_length=max_length), tok).to(device, dtype)
    else:
        raise SystemExit(f"unknown model {name!r}: use qwen05b or builtin")
    model_lib.save(model, tok, path)  # what vLLM loads
    print(f"[{name}] {model_lib.n_params(model) / 1e6:.0f}M parameters, vocab {model.config.vocab_size}", flush=True)
    return path, model.eval(), tok


def prompts_for(n: int, length: int, seed: int = 0) -> list[Problem]:
    rng = random.Random(seed)
    alphabet = string.ascii_letters + string.digits + "+-*=()., "
    return [Problem(f"b{i}", "bench", 0, "".join(rng.choice(alphabet) for _ in range(length)), "") for i in range(n)]


def timed_rows(backend, problems, portfolio, budgets=None) -> tuple[float, int]:
    """(seconds, generated tokens) for the generation stage over `problems`."""
    t = time.perf_counter()
    rows = generate_rows(backend, problems, portfolio, 1, round=1, seed=0, model_id="bench",
                         config_hash="bench", budgets=budgets)
    dt = time.perf_counter() - t
    return dt, sum(r["n_tokens"] for r in rows)


def run_hf(model, tok, problems, new_tokens, batch, device) -> float:
    backend = HFBackend(model, tok, batch_size=batch, device=device)
    one = [PortfolioEntry(Sampler("bench", max_new_tokens=new_tokens, **SAMPLER), 1.0)]
    warm = [PortfolioEntry(Sampler("bench", max_new_tokens=4, **SAMPLER), 1.0)]
    timed_rows(backend, problems[:4], warm)
    dt, n = timed_rows(backend, problems, one)
    return report("hf", len(problems), n, dt, f"batch {batch}, {str(model.dtype).removeprefix('torch.')}")


def run_vllm(path, tok, problems, new_tokens, args, attention, device) -> dict:
    """raw vLLM, ours and the portfolio on one engine (its own process), each path run
    `args.repeats` times interleaved, best time kept: on a busy machine the best run is the one
    least disturbed by other processes, the same for every path."""
    from synthloop.generators.vllm import VLLMBackend

    t = time.perf_counter()
    backend = VLLMBackend.from_path(
        path, dtype="bfloat16" if device == "cuda" else "float32", enforce_eager=args.eager,
        gpu_memory_utilization=args.gpu_mem, attention_backend=attention,
        max_model_len=args.prompt_len + new_tokens + 8,
        enable_prefix_caching=False,  # else the paths after the first reuse its prompt KV
    )
    print(f"  engine ready in {time.perf_counter() - t:.1f}s (attention {attention or 'auto'}, "
          f"{'eager' if args.eager else 'compiled'}, vLLM {backend.info['vllm']})", flush=True)
    ids = tok([p.prompt for p in problems])["input_ids"]
    raw_params = {"max_tokens": new_tokens, "detokenize": False, **SAMPLER}
    one = [PortfolioEntry(Sampler("bench", max_new_tokens=new_tokens, **SAMPLER), 1.0)]
    mix = [PortfolioEntry(Sampler(max_new_tokens=new_tokens, **s), 1.0) for s in PORTFOLIO]
    best: dict[str, tuple[float, int]] = {}

    def keep(name, dt, n):
        if name not in best or dt < best[name][0]:
            best[name] = (dt, n)

    try:
        backend.timed_raw(ids[:16], raw_params)  # warm-up
        for _ in range(args.repeats):
            n, dt = backend.timed_raw(ids, raw_params)
            keep("raw_vllm", dt, n)
            keep("ours_vllm", *timed_rows(backend, problems, one))
            calls = backend.engine_calls
            keep("portfolio", *timed_rows(backend, problems, mix, budgets=[1] * len(problems)))
            assert backend.engine_calls == calls + 1  # the 4 samplers went in one LLM.generate call
    finally:
        backend.close()
    notes = {"raw_vllm": "one shared SamplingParams, timed inside the engine's process",
             "ours_vllm": "per-sample seeds, log-probs, text, rows; through the pipe",
             "portfolio": "4 samplers, one call"}
    return {k: report(k, len(problems), best[k][1], best[k][0], notes[k]) for k in notes}


def report(path: str, n_prompts: int, tokens: int, seconds: float, note: str) -> float:
    tok_s = tokens / seconds
    print(f"  {path:<10} {n_prompts:>5} prompts {tokens:>8} tokens {seconds:8.2f} s {tok_s:>9.0f} tok/s  ({note})", flush=True)
    return tok_s


def vllm_here() -> str | None:
    """None if vLLM can run here, else why not."""
    from synthloop.generators.vllm import BackendUnavailable, check_available

    try:
        check_available()
        return None
    except BackendUnavailable as e:
        return str(e)


def fmt(x: float | None, digits: int = 0) -> str:
    return "na" if x is None else f"{x:.{digits}f}"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--prompts", type=int, default=1024, help="prompts per vLLM path (the size flag)")
    ap.add_argument("--new-tokens", type=int, default=256)
    ap.add_argument("--prompt-len", type=int, default=64, help="characters per prompt (+1 BOS token)")
    ap.add_argument("--models", default="qwen05b,builtin", help="comma-separated: qwen05b, builtin")
    ap.add_argument("--hf-prompts", type=int, default=None, help="prompts for transformers (default: all on CPU, 512 on GPU)")
    ap.add_argument("--hf-batch", type=int, default=256)
    ap.add_argument("--gpu-mem", type=float, default=0.35, help="vLLM gpu_memory_utilization per engine")
    ap.add_argument("--eager", action="store_true", help="vLLM without torch.compile / CUDA graphs")
    ap.add_argument("--repeats", type=int, default=2, help="runs of each vLLM path, best kept")
    ap.add_argument("--workdir", default=None)
    args = ap.parse_args(argv)

    wall = time.perf_counter()
    device = "cuda" if torch.cuda.is_available() else "cpu"
    dev_name = torch.cuda.get_device_name(0) if device == "cuda" else f"cpu-{torch.get_num_threads()}threads"
    no_vllm = vllm_here()
    print(f"device {dev_name}; torch {torch.__version__}; vLLM: {'available' if not no_vllm else no_vllm}", flush=True)
    problems = prompts_for(args.prompts, args.prompt_len)
    hf_n = args.hf_prompts or (args.prompts if device == "cpu" else min(args.prompts, 512))
    max_length = args.prompt_len + args.new_tokens + 8
    workdir = Path(args.workdir or tempfile.mkdtemp(prefix="synthloop-bench-"))
    results = {}
    for name in [m.strip() for m in args.models.split(",") if m.strip()]:
        path, model, tok = build(name, workdir, max_length, device)
        r = {"hf": run_hf(model, tok, problems[:hf_n], args.new_tokens, args.hf_batch, device)}
        del model
        gc.collect()
        if device == "cuda":
            torch.cuda.empty_cache()
        if no_vllm is None:
            # FA3 for the bf16 Llama (as the anchor); vLLM picks for the built-in model's small heads.
            attention = "FLASH_ATTN" if name == "qwen05b" and device == "cuda" else None
            r |= run_vllm(path, tok, problems, args.new_tokens, args, attention, device)
        results[name] = r
        ours, raw, pf, hf = (r.get(k) for k in ("ours_vllm", "raw_vllm", "portfolio", "hf"))
        print(f"[{name}] ours/raw {fmt(ours and raw and ours / raw, 3)} (target >= 0.9), "
              f"portfolio/ours {fmt(pf and ours and pf / ours, 3)} (>= 0.9), "
              f"ours/hf {fmt(ours and hf and ours / hf, 2)}", flush=True)

    head = results[next(iter(results))]
    ours, raw, pf, hf = (head.get(k) for k in ("ours_vllm", "raw_vllm", "portfolio", "hf"))
    print(
        f"generation: device={dev_name.replace(' ', '-')} raw_vllm_tok_s={fmt(raw)} ours_vllm_tok_s={fmt(ours)} "
        f"portfolio_tok_s={fmt(pf)} hf_tok_s={fmt(hf)} ours_over_raw={fmt(ours and raw and ours / raw, 3)} "
        f"portfolio_over_ours={fmt(pf and ours and pf / ours, 3)} ours_over_hf={fmt(ours and hf and ours / hf, 2)} "
        f"wall_s={time.perf_counter() - wall:.0f}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
