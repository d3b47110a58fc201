"""The GPU checks of benchmarks/gpu_check.sh that are not tests or generation.py.

    python benchmarks/gpu_round.py finetune --steps 300   # a 0.5B-shaped model from a config
    python benchmarks/gpu_round.py round                  # one round with the vLLM backend

`finetune`: a 494M-parameter Qwen2-shaped Llama (random weights, nothing downloaded) trained by
`training.sft.train` (bf16 autocast on a GPU) on addition solutions; prints the loss at the start
and end and tokens/s. `round`: the round's stages on the lent GPU machine, which has torch,
transformers and vLLM but not Prefect, DuckDB or the other packages of the loop (and no
internet to fetch them): train the built-in model briefly, generate with the vLLM backend and a
3-sampler portfolio (one call), verify, free the engine, fine-tune on the verified samples,
reload vLLM on the new weights and check its greedy output against transformers'. The loop's
own round with `backend: vllm` runs in CI (tests/flows/test_loop_vllm.py) on the CPU build.
Each ends with one summary line that includes `wall_s=`; `--cpu` runs them small on a CPU (the
dry run).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import torch
from synthloop.domains import get_domain
from synthloop.generators import PortfolioEntry, Request, Sampler, generate_rows
from synthloop.generators.hf import HFBackend
from synthloop.generators.vllm import VLLMBackend
from synthloop.training import model as model_lib
from synthloop.training.sft import TrainConfig, train

torch.set_flush_denormal(True)
sys.path.insert(0, str(Path(__file__).parent))
from generation import char_tokenizer


def addition_pairs(n: int, seed: int, difficulties=(1, 2, 3)):
    dom = get_domain("addition")
    return [(p.prompt, dom.solution(p)) for p in dom.make_problems(n, seed, list(difficulties))]


def finetune(args, device: str) -> int:
    from transformers import LlamaConfig, LlamaForCausalLM

    tok = char_tokenizer(151936, 256)
    small = args.cpu
    cfg = LlamaConfig(
        hidden_size=64 if small else 896, intermediate_size=128 if small else 4864,
        num_hidden_layers=2 if small else 24, num_attention_heads=2 if small else 14,
        num_key_value_heads=2, vocab_size=151936, max_position_embeddings=256, tie_word_embeddings=True,
        bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id, pad_token_id=tok.pad_token_id,
    )
    torch.manual_seed(0)
    model = LlamaForCausalLM(cfg).to(device)
    pairs = addition_pairs(4000, 0)
    losses: list[float] = []
    t = time.perf_counter()
    model, _ = train(model, tok, pairs, TrainConfig(steps=args.steps, batch_size=args.batch, lr=3e-4, warmup=20),
                         progress=lambda step, loss: losses.append(loss))
    if device == "cuda":
        torch.cuda.synchronize()
    dt = time.perf_counter() - t
    tokens = sum(len(tok(p + s)["input_ids"]) + 1 for p, s in pairs) / len(pairs) * args.batch * args.steps
    first, last = sum(losses[:10]) / len(losses[:10]), sum(losses[-10:]) / len(losses[-10:])
    print(f"finetune: device={device} params_m={model_lib.n_params(model) / 1e6:.0f} steps={args.steps} "
          f"batch={args.batch} loss_first10={first:.3f} loss_last10={last:.3f} loss_falls={last < first} "
          f"train_tok_s={tokens / dt:.0f} wall_s={dt:.0f}")
    return 0 if last < first else 1


def gpu_free() -> float:
    return torch.cuda.mem_get_info()[0] / 2**30 if torch.cuda.is_available() else float("nan")


def one_round(args, device: str, workdir: Path) -> int:
    wall = time.perf_counter()
    engine = {"dtype": "float32", "enforce_eager": True, "max_model_len": 192, "gpu_memory_utilization": 0.3}
    if device == "cuda":
        engine["attention_backend"] = "TRITON_ATTN"  # fp32 (exact greedy comparison) needs Triton attention
    tok = model_lib.build_tokenizer()
    model = model_lib.build_model(model_lib.ModelConfig(), tok).to(device)
    model, _ = train(model, tok, addition_pairs(3000, 0), TrainConfig(steps=args.bootstrap_steps, lr=1e-3, warmup=20))
    m0 = model_lib.save(model.cpu().eval(), tok, workdir / "m0")

    dom = get_domain("addition")
    problems = dom.make_problems(args.problems, 1, [2, 3, 4])
    portfolio = [PortfolioEntry(Sampler(n, temperature=t, max_new_tokens=80), 1.0)
                 for n, t in (("cool", 0.5), ("warm", 0.8), ("hot", 1.1))]
    free0 = gpu_free()
    t = time.perf_counter()
    with VLLMBackend.from_path(m0, **engine) as vl:
        free_engine = gpu_free()
        rows = generate_rows(vl, problems, portfolio, 6, round=1, seed=0, model_id="m0", config_hash="gpu")
        calls = vl.engine_calls
    gen_s = time.perf_counter() - t
    free_after = gpu_free()  # the engine's process is gone: its memory is back
    by_id = {p.id: p for p in problems}
    kept = [r for r in rows if dom.verify(by_id[r["problem_id"]], r["completion"]).correct]
    pairs = [(r["prompt"], r["completion"]) for r in kept] or addition_pairs(200, 2)
    model, _ = train(model.to(device), tok, pairs + addition_pairs(200, 3), TrainConfig(steps=args.finetune_steps, lr=3e-4, warmup=5))
    m1 = model_lib.save(model.cpu().eval(), tok, workdir / "m1")

    reqs = [Request(p.prompt, Sampler("g", temperature=0.0, max_new_tokens=80), 0) for p in problems[:64]]
    with VLLMBackend.from_path(m1, **engine) as vl:
        after = [c.text for c in vl.generate(reqs)]
    ref = [c.text for c in HFBackend(model.float(), tok, device="cpu").generate(reqs)]
    same = sum(a == b for a, b in zip(after, ref))
    print(f"round: device={device} samples={len(rows)} engine_calls={calls} verified={len(kept)} "
          f"gen_s={gen_s:.1f} gpu_free_gib_before={free0:.1f} with_engine={free_engine:.1f} after_close={free_after:.1f} "
          f"reloaded_greedy_equal={same}/{len(reqs)} wall_s={time.perf_counter() - wall:.0f}")
    return 0 if calls == 1 and same == len(reqs) else 1


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("what", choices=["finetune", "round"])
    ap.add_argument("--steps", type=int, default=300, help="finetune: optimizer steps")
    ap.add_argument("--batch", type=int, default=32, help="finetune: sequences per step")
    ap.add_argument("--bootstrap-steps", type=int, default=600, help="round: steps before the round")
    ap.add_argument("--finetune-steps", type=int, default=100, help="round: steps on the verified samples")
    ap.add_argument("--problems", type=int, default=256, help="round: problems (6 samples each)")
    ap.add_argument("--cpu", action="store_true", help="small shapes, on the CPU (the dry run)")
    args = ap.parse_args(argv)
    device = "cuda" if torch.cuda.is_available() and not args.cpu else "cpu"
    if args.what == "finetune":
        return finetune(args, device)
    return one_round(args, device, Path(tempfile.mkdtemp(prefix="synthloop-gpu-round-")))


if __name__ == "__main__":
    sys.exit(main())
