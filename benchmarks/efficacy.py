"""Efficacy: does the full loop beat a naive self-training loop, from the same bootstrap model?

Side by side, on CPU, from one bootstrap model and the same seeds:
  (a) synthloop's default loop: sampler portfolio, step verifier, MinHash dedup, regression gate;
  (b) a naive loop: one sampler at temperature 1, no dedup, final-answer check only, no gate.
Per round it prints generated tokens, held-out accuracy (all, and on problems harder than the
seed set), pass@k and distinct correct solutions per problem. The last line is
  efficacy: final_acc=… rounds=… minutes=… token_ratio_naive_over_ours=… passk_never_falls=true|false

    python benchmarks/efficacy.py --rounds 5            # the full run (tens of minutes on 2 cores)
    python benchmarks/efficacy.py --size small          # a quick check of the machinery
"""

from __future__ import annotations

import argparse
import copy
import os
import shutil
import sys
import tempfile
import time

os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")

import yaml
from synthloop.flows import stages
from synthloop.flows.config import LoopConfig, default_config_text
from synthloop.warehouse import Catalog

SMALL = {  # minutes, not tens of minutes: checks the machinery, not the targets
    "bootstrap": {"n_problems": 1000, "train": {"steps": 300, "lr": 0.002, "warmup": 30, "batch_size": 64}},
    "generation": {"problems_per_round": 100, "samples_per_problem": 4},
    "finetune": {"train": {"steps": 60, "lr": 0.0005, "warmup": 10, "batch_size": 64}},
    "eval": {"n_problems": 60},
}


def _merge(base: dict, over: dict) -> dict:
    out = copy.deepcopy(base)
    for k, v in over.items():
        out[k] = _merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out


def configs(size: str, rounds: int) -> tuple[LoopConfig, LoopConfig]:
    base = yaml.safe_load(default_config_text())
    if size == "small":
        base = _merge(base, SMALL)
    base["rounds"] = rounds
    ours = LoopConfig.model_validate(_merge(base, {"name": "ours"}))
    naive = _merge(base, {
        "name": "naive",
        "generation": {"samplers": [{"name": "t1", "temperature": 1.0}]},
        "verify": {"require_steps_ok": False},  # the final answer only
        "dedup": {"enabled": False},
        "gate": {"max_accuracy_drop": 1.0, "max_pass_at_k_drop": 1.0},  # always promote
        "finetune": {"max_per_problem": 10_000},
    })
    return ours, LoopConfig.model_validate(naive)


def share_bootstrap(cat: Catalog, src: LoopConfig, dst: LoopConfig) -> None:
    """Round 0 of `dst` is round 0 of `src`: the same model folder and evaluation."""
    m0 = cat.model(f"{src.name}-m0")
    cat.register_model(f"{dst.name}-m0", m0["path"], round=0, parent=None, status="promoted", metrics=m0["metrics"])
    r0 = cat.rounds(src.name)[0]
    cat.finish_round(dst.name, 0, dataset_version=None, model_in=None, model_out=f"{dst.name}-m0",
                     promoted=True, reason="bootstrap (shared)", metrics=r0["metrics"])


def run_round(cat: Catalog, cfg: LoopConfig, r: int) -> dict:
    model = stages.incumbent(cat, cfg.name)
    final, metrics = stages.data_stages(cat, cfg, r, model)
    v = stages.publish(cat, cfg, r, final, metrics, model["model_id"])
    cand = stages.finetune(cat, cfg, r, model, v)
    return stages.decide(cat, cfg, r, cand, model, v, metrics.to_dict())


def harder_accuracy(ev: dict, seed_max: int) -> float:
    by = {int(k): v for k, v in ev["by_difficulty"].items() if int(k) > seed_max}
    n = sum(v["n"] for v in by.values())
    return sum(v["accuracy"] * v["n"] for v in by.values()) / n if n else float("nan")


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--size", choices=["small", "full"], default="full", help="small: a quick check; full: the demo config")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--keep", help="keep the catalog in this folder instead of a temp dir")
    args = ap.parse_args(argv)

    ours, naive = configs(args.size, args.rounds)
    home = args.keep or tempfile.mkdtemp(prefix="efficacy-")
    cat = Catalog(home)
    seed_max = max(ours.bootstrap.difficulties)
    t0 = time.perf_counter()
    stages.bootstrap(cat, ours)
    share_bootstrap(cat, ours, naive)
    boot_min = (time.perf_counter() - t0) / 60

    results: dict[str, list[dict]] = {"ours": [], "naive": []}
    minutes = {"ours": boot_min, "naive": 0.0}
    for cfg in (ours, naive):
        ev0 = cat.model(f"{cfg.name}-m0")["metrics"]["eval"]
        results[cfg.name].append({"round": 0, "tokens": 0, "acc": ev0["accuracy"], "harder": harder_accuracy(ev0, seed_max),
                                  "passk": ev0["pass_at_k"], "distinct": ev0["distinct_correct"], "promoted": True})
        tokens = 0
        for r in range(1, args.rounds + 1):
            t = time.perf_counter()
            done = run_round(cat, cfg, r)
            minutes[cfg.name] += (time.perf_counter() - t) / 60
            tokens += done["metrics"]["data"]["tokens"]
            inc = stages.incumbent(cat, cfg.name)["metrics"]["eval"]  # what the next round uses
            results[cfg.name].append({"round": r, "tokens": tokens, "acc": inc["accuracy"],
                                      "harder": harder_accuracy(inc, seed_max), "passk": inc["pass_at_k"],
                                      "distinct": inc["distinct_correct"], "promoted": done["promoted"]})
            row = results[cfg.name][-1]
            print(f"{cfg.name:5s} round {r}: tokens={tokens:>9,d} acc={row['acc']:.3f} harder={row['harder']:.3f} "
                  f"pass@k={row['passk']:.3f} distinct={row['distinct']:.2f} "
                  f"{'promoted' if row['promoted'] else 'rejected'} ({minutes[cfg.name]:.1f} min)", flush=True)

    a, b = results["ours"], results["naive"]
    print("\nround  ours: tokens   acc  harder pass@k | naive: tokens   acc  harder pass@k")
    for ra, rb in zip(a, b):
        print(f"{ra['round']:5d}  {ra['tokens']:12,d} {ra['acc']:.3f} {ra['harder']:.3f} {ra['passk']:.3f} | "
              f"{rb['tokens']:12,d} {rb['acc']:.3f} {rb['harder']:.3f} {rb['passk']:.3f}")

    # Tokens each loop needed to first reach the accuracy both loops reach.
    target = min(max(r["acc"] for r in a[1:]), max(r["acc"] for r in b[1:]))
    tok_a = next(r["tokens"] for r in a if r["acc"] >= target)
    tok_b = next(r["tokens"] for r in b if r["acc"] >= target)
    ratio = tok_b / tok_a if tok_a else float("nan")
    never_falls = all(a[i + 1]["passk"] >= a[i]["passk"] for i in range(len(a) - 1))
    print(f"\ncommon accuracy {target:.3f}: ours reached it with {tok_a:,d} generated tokens, naive with {tok_b:,d}")
    print(f"efficacy: final_acc={a[-1]['acc']:.3f} rounds={args.rounds} minutes={minutes['ours']:.1f} "
          f"token_ratio_naive_over_ours={ratio:.2f} passk_never_falls={'true' if never_falls else 'false'}")
    if not args.keep:
        shutil.rmtree(home, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
