"""Which addition prompt format lets the built-in model (SmolLM3, every layer NoPE) generalize in
length, and keep extending itself? One format per process, same seeds and budgets for each:

  1. bootstrap: train from scratch on reference solutions of 1-3 digit problems;
  2. greedy accuracy per length 1..--eval-max on held-out problems;
  3. --rounds of Lee et al.'s schedule, stripped down: each round samples problems one length
     beyond the longest mastered one, keeps the verified completions (step by step), fine-tunes
     the last model on them plus everything kept before plus seed replay, evaluates again.

The last line is `formats: format=… boot_len4=… max_len_90=… by_len=… wall_s=…`.

    python benchmarks/formats.py --format reversed --size small    # a few minutes on 2 cores
    python benchmarks/formats.py --format zip --size full --rounds 0 --curve 500 --eval-max 8 --threads 1
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import time

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")

import torch
from synthloop.domains.addition import FORMATS, Addition
from synthloop.generators.base import Request, Sampler, sample_seed
from synthloop.generators.hf import HFBackend
from synthloop.training import model as model_lib
from synthloop.training.sft import TrainConfig, train

SIZES = {  # seed problems, bootstrap steps, problems per round, fine-tune steps, eval per length
    "small": {"n_seed": 2000, "boot_steps": 600, "per_round": 400, "ft_steps": 150, "n_eval": 40},
    "full": {"n_seed": 20000, "boot_steps": 2500, "per_round": 800, "ft_steps": 250, "n_eval": 40},
}


def accuracy_by_length(backend, dom: Addition, lengths, n: int, seed: int) -> dict[int, float]:
    greedy = Sampler("greedy", temperature=0.0, max_new_tokens=12 * max(lengths) + 8)
    out = {}
    for d in lengths:
        ps = dom.make_problems(n, seed=seed + 7919 * d, difficulties=[d])
        comps = backend.generate([Request(p.prompt, greedy, 0) for p in ps])
        out[d] = sum(dom.verify(p, c.text).correct for p, c in zip(ps, comps)) / n
    return out


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--format", choices=FORMATS, required=True)
    ap.add_argument("--size", choices=sorted(SIZES), default="small")
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--eval-max", type=int, default=7)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--boot-steps", type=int, help="override the size's bootstrap steps")
    ap.add_argument("--seed-problems", type=int, help="override the size's number of seed problems")
    ap.add_argument("--lr", type=float, default=1e-3, help="bootstrap learning rate")
    ap.add_argument("--curve", type=int, default=0, help="also evaluate every N bootstrap steps (0: only at the end)")
    ap.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    args = ap.parse_args(argv)
    z = dict(SIZES[args.size], **({"boot_steps": args.boot_steps} if args.boot_steps else {}),
             **({"n_seed": args.seed_problems} if args.seed_problems else {}))
    torch.set_flush_denormal(True)
    if args.threads:
        torch.set_num_threads(args.threads)
    t0 = time.perf_counter()
    dom = Addition(format=args.format)
    seed_ps = dom.make_problems(z["n_seed"], seed=args.seed, difficulties=[1, 2, 3])
    seed_pairs = [(p.prompt, dom.solution(p)) for p in seed_ps]
    tok = model_lib.build_tokenizer(256)
    model = model_lib.build_model(model_lib.ModelConfig(max_length=256), tok, seed=args.seed)
    lengths = list(range(1, args.eval_max + 1))

    def curve(step: int, loss: float) -> None:  # the learning curve: when does each length click?
        if args.curve and (step + 1) % args.curve == 0 and step + 1 < z["boot_steps"]:
            acc = accuracy_by_length(HFBackend(model, tok, batch_size=256), dom, lengths, z["n_eval"], seed=10_000)
            model.train()
            print(f"{args.format} bootstrap step {step + 1}: " + " ".join(f"{d}:{a:.2f}" for d, a in acc.items()), flush=True)

    model, _ = train(model, tok, seed_pairs, TrainConfig(steps=z["boot_steps"], lr=args.lr, warmup=50, seed=args.seed),
                     progress=curve)
    backend = HFBackend(model, tok, batch_size=256)
    acc = accuracy_by_length(backend, dom, lengths, z["n_eval"], seed=10_000)
    boot4 = acc[4]
    print(f"{args.format} round 0: " + " ".join(f"{d}:{a:.2f}" for d, a in acc.items()) +
          f" ({time.perf_counter() - t0:.0f} s)", flush=True)
    kept: list[tuple[str, str]] = []
    rng = random.Random(args.seed)
    for r in range(1, args.rounds + 1):
        frontier = max([d for d in lengths if acc[d] >= 0.9] or [0]) + 1
        ps = dom.make_problems(z["per_round"], seed=1000 + r, difficulties=[frontier])
        hot = Sampler("hot", temperature=0.7, max_new_tokens=12 * frontier + 8)
        reqs = [Request(p.prompt, hot, sample_seed("fmt", p.id, j)) for p in ps for j in range(2)]
        comps = backend.generate(reqs)
        new = {}
        for i, c in enumerate(comps):
            p = ps[i // 2]
            v = dom.verify(p, c.text)
            if v.correct and v.steps_ok:
                new[p.prompt] = c.text
        kept += list(new.items())
        pairs = kept + rng.sample(seed_pairs, min(len(seed_pairs), max(500, len(kept))))
        model, _ = train(model, tok, pairs, TrainConfig(steps=z["ft_steps"], lr=5e-4, warmup=20, seed=args.seed + r))
        backend = HFBackend(model, tok, batch_size=256)
        acc = accuracy_by_length(backend, dom, lengths, z["n_eval"], seed=10_000)
        print(f"{args.format} round {r}: frontier={frontier} kept={len(new)}/{len(ps)} " +
              " ".join(f"{d}:{a:.2f}" for d, a in acc.items()) + f" ({time.perf_counter() - t0:.0f} s)", flush=True)
    max90 = 0
    for d in lengths:
        if acc[d] < 0.9:
            break
        max90 = d
    by = ",".join(f"{a:.2f}" for a in acc.values())
    print(f"formats: format={args.format} boot_len4={boot4:.2f} max_len_90={max90} by_len={by} "
          f"wall_s={time.perf_counter() - t0:.0f}")


if __name__ == "__main__":
    sys.exit(main())
