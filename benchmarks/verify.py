"""Verifier throughput per domain (samples/s, one core) and GSM8K label agreement.

Each domain verifies `--samples` completions: a third reference solutions (every path), a third
with static noise, a third with dynamic noise, so the classification path is timed too. The
baseline, run side by side on the same completions, is an answer-only check (extract the final
answer and compare): the ratio is what replaying every step costs on top of it.

GSM8K: the `A:` final-answer checker against the authors' `is_correct` labels on all 5,276
completions of GSM8K's `example_model_solutions.jsonl` (openai/grade-school-math; the folder
$SYNTHLOOP_GSM8K, or `shared/data/gsm8k` beside the checkout), and the completions whose
calculator-annotated arithmetic is wrong, by kind.

    .venv/bin/python benchmarks/verify.py --samples 3000

Last line: `verify: gsm8k_agreement=<fraction> slowest_domain_per_s=<samples/s>`.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import time
from collections import Counter
from pathlib import Path

from synthloop.domains import DOMAINS, PATHS, get_domain
from synthloop.domains.checkers import Checker
from synthloop.domains.file import verify_answer
from synthloop.domains.noise import dynamic_noise, static_noise

GSM8K = Path(os.environ.get("SYNTHLOOP_GSM8K") or Path(__file__).resolve().parents[1].parent / "shared" / "data" / "gsm8k")
MODELS = ("6b_finetuning", "6b_verification", "175b_finetuning", "175b_verification")


def cases(name: str, n: int, seed: int = 0):
    d = get_domain(name)
    rng = random.Random(seed)
    out = []
    for k, p in enumerate(d.make_problems(n, seed=seed, difficulties=[1, 2, 3, 4])):
        sol = d.solution(p, variant=k % PATHS[name])
        if k % 3 == 1:
            sol = static_noise(sol, 0.3, rng)[0]
        elif k % 3 == 2:
            sol = dynamic_noise(d, p, 0.3, rng)[0]
        out.append((p, sol))
    return d, out


def rate(fn, items) -> float:
    t = time.perf_counter()
    for p, c in items:
        fn(p, c)
    return len(items) / (time.perf_counter() - t)


def gsm8k(math_too: bool) -> dict:
    rows = [json.loads(line) for line in (GSM8K / "example_model_solutions.jsonl").open()]
    c = Checker("pattern", pattern="A:")
    items = [(c.reference(r["ground_truth"]), r[m]["solution"], r[m]["is_correct"], (i, m))
             for i, r in enumerate(rows) for m in MODELS]
    t = time.perf_counter()
    verdicts = [verify_answer(c, ref, sol) for ref, sol, _, _ in items]
    per_s = len(items) / (time.perf_counter() - t)
    agree = sum(v.correct == lab for v, (_, _, lab, _) in zip(verdicts, items))
    bad = [(v, key) for v, (_, _, _, key) in zip(verdicts, items) if not v.steps_ok]
    out = {
        "completions": len(items), "agreement": agree / len(items), "per_s": per_s,
        "disagreements": [key for v, (_, _, lab, key) in zip(verdicts, items) if v.correct != lab],
        "wrong_annotated_step": len(bad), "by_kind": dict(Counter(v.error_kind for v, _ in bad)),
        "wrong_step_right_answer": [key for v, key in bad if v.correct],
    }
    if math_too:
        m = Checker("math")
        t = time.perf_counter()
        ok = [m.check(ref, c.extract(sol) or "")[0] for ref, sol, _, _ in items]
        out["math_verify_agreement"] = sum(o == lab for o, (_, _, lab, _) in zip(ok, items)) / len(items)
        out["math_verify_per_s"] = len(items) / (time.perf_counter() - t)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--samples", type=int, default=3000, help="completions verified per domain")
    ap.add_argument("--no-math", action="store_true", help="skip the (slower) math-verify agreement run")
    args = ap.parse_args()
    t_start = time.perf_counter()
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})  # one core

    per_s = {}
    print(f"{'domain':10} {'verify/s':>10} {'answer-only/s':>14} {'ratio':>7}  kinds")
    for name in DOMAINS:
        if name == "file":
            continue
        d, items = cases(name, args.samples)
        full = rate(d.verify, items)
        base = rate(lambda p, c, d=d: d.extract(c) == p.answer, items)
        kinds = Counter(d.verify(p, c).error_kind for p, c in items)
        per_s[name] = full
        print(f"{name:10} {full:10.0f} {base:14.0f} {base / full:6.1f}x  {dict(kinds)}")

    if (GSM8K / "example_model_solutions.jsonl").exists():
        g = gsm8k(not args.no_math)
        per_s["file(gsm8k)"] = g["per_s"]
        print(f"{'file(gsm8k)':10} {g['per_s']:10.0f}  (A: checker + annotated steps, {g['completions']} completions)")
        print(f"gsm8k: agreement with is_correct {g['agreement']:.4f}; disagreements {g['disagreements']}")
        if "math_verify_agreement" in g:
            print(f"gsm8k: math-verify agreement {g['math_verify_agreement']:.4f} at {g['math_verify_per_s']:.0f}/s")
        print(f"gsm8k: {g['wrong_annotated_step']} completions with a wrong annotated step, by kind {g['by_kind']}; "
              f"with a right final answer: {g['wrong_step_right_answer']}")
        agreement = f"{g['agreement']:.4f}"
    else:
        print(f"gsm8k: data not found at {GSM8K}")
        agreement = "nan"
    slowest = min(per_s, key=per_s.get)
    print(f"slowest: {slowest}")
    print(f"verify: gsm8k_agreement={agreement} slowest_domain_per_s={per_s[slowest]:.0f} "
          f"wall_s={time.perf_counter() - t_start:.0f}")


if __name__ == "__main__":
    main()
