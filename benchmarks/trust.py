"""Can the checks be trusted? Plants contamination and a lenient checker in a round and counts
what the round's own checks catch (issue 26).

The round is the loop's own data round (`loop/steps.py` `data_steps`: plan → generate → verify
with decontamination and the audit → near-dedup → score → publish) on a file domain of GSM8K
questions (its test split, found at $SYNTHLOOP_GSM8K or beside the checkout), whose rows are
written here instead of sampled, so every planted fault is known:
- contamination: 1% of the round's problems are listed in a benchmark file given to
  `decontaminate.files`, half verbatim and half with a number changed;
- a lenient checker: `WRONG` of the rows get a wrong final answer, and the round's checker (the
  file domain's `pattern` checker with a planted bug) accepts `LENIENT` of those; the true
  false-accept rate of the kept rows is then counted from the rows, and the audit estimates it
  from its sample;
- a control round on the same rows with the honest checker and no benchmark file: every alert it
  raises, and every row either round drops as contaminated that was not planted, is a false alarm.

    .venv/bin/python benchmarks/trust.py [--size small|full]

Last line: `trust: planted=P caught=C audit_far=F audit_far_true=T alert_false_positives=A wall_s=W` (the line
before it: the audit's 95% interval).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import sys
import tempfile
import time
import zlib
from functools import partial
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import pyarrow as pa
from synthloop.domains import FileDomain, Verdict
from synthloop.loop import shards
from synthloop.loop.config import LoopConfig
from synthloop.loop.problems import sample_problems
from synthloop.loop.records import ModelRef
from synthloop.loop.reference import reference_plan
from synthloop.loop.steps import LOCAL, Source, data_steps
from synthloop.warehouse import Catalog

from synthloop import domains

GSM8K = Path(os.environ.get("SYNTHLOOP_GSM8K") or ROOT.parent / "shared" / "data" / "gsm8k")
SIZES = {"small": 300, "full": 1000}  # problems in the round (GSM8K's training split holds ~1,050)
CONTAMINATION = 0.01  # share of the round's problems listed in the benchmark file
WRONG = 0.2  # share of rows whose final answer is made wrong
LENIENT = 0.5  # share of the wrong rows the lenient checker accepts: true false-accept rate ~0.1 / 0.9
AUDIT_FRACTION = 0.5  # of the rows re-judged (each re-judge is a math-verify check)


class LenientFile(FileDomain):
    """The file domain with a planted bug: a wrong answer is accepted for `LENIENT` of completions
    (by a hash of the text, the same ones every run)."""

    def verify(self, problem, completion):
        v = super().verify(problem, completion)
        if not v.correct and v.extracted is not None and zlib.crc32(completion.encode()) % 1000 < LENIENT * 1000:
            return Verdict(True, v.extracted, True, None, "none", v.n_steps)
        return v


def wrong_answer(solution: str) -> str:
    """The worked solution with its final `#### N` changed to N + 1."""
    return re.sub(r"####\s*(-?[\d,]+)\s*$", lambda m: f"#### {int(m[1].replace(',', '')) + 1}", solution.strip())


def planted_rows(wrong: set[str], cfg: LoopConfig, round: int, model: ModelRef, part) -> shards.Shard:
    """The part's problems' worked solutions as its generated rows; those in `wrong` with a wrong answer."""
    problems, _ = shards.read_part(part)
    rows = [{"row_id": f"t-{p.id}", "round": round, "problem_id": p.id, "domain": p.domain,
             "difficulty": p.difficulty, "prompt": p.prompt, "reference": p.answer,
             "completion": wrong_answer(p.meta["solution"]) if p.id in wrong else p.meta["solution"],
             "sampler": "planted", "seed": 0, "n_tokens": len(p.meta["solution"]), "config_hash": cfg.config_hash()}
            for p in problems]
    return shards.write_shard(pa.Table.from_pylist(rows), shards.sibling(part.path, "generated"))


def reworded(q: str) -> str:
    m = re.search(r"\d+", q)
    return q[: m.start()] + str(int(m.group()) + 7) + q[m.end():] if m else q + " Show your work."


def one_round(home: Path, cfg: LoopConfig, wrong: set[str]) -> tuple[Catalog, dict, list[dict]]:
    cat = Catalog(home)
    source = Source(plan=reference_plan, generate=partial(planted_rows, wrong), by_model=False)
    version = data_steps(cat, cfg, 1, ModelRef("none", "", 0, None, "promoted"), LOCAL, source).version
    return cat, cat.resolve(f"{cfg.name}@{version}")["metrics"], cat.read_table(f"{cfg.name}@{version}").to_pylist()


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--size", choices=sorted(SIZES), default="small", help="small: 300 problems; full: 1,000")
    ap.add_argument("--keep", help="keep the homes in this folder instead of a temp dir")
    args = ap.parse_args(argv)
    t0 = time.perf_counter()
    if not (GSM8K / "test.jsonl").exists():
        sys.exit(f"GSM8K's test split not found at {GSM8K}: set SYNTHLOOP_GSM8K")
    work = Path(args.keep or tempfile.mkdtemp(prefix="trust-"))
    work.mkdir(parents=True, exist_ok=True)
    dom = {"name": "file", "knobs": {"path": str(GSM8K / "test.jsonl"), "checker": "pattern", "pattern": "####",
                                     "prompt_column": "question"}}
    base = {"name": "trust", "domains": [dom], "diversity": {"embeddings": False},
            # One difficulty: the file has only 1, and a weight per difficulty would draw its rows again per bucket.
            "generation": {"problems_per_round": SIZES[args.size], "difficulty_weights": {1: 1.0}},
            "eval": {"n_problems": 50},
            "audit": {"fraction": AUDIT_FRACTION}}
    honest = LoopConfig.model_validate(base)
    problems = sample_problems(honest, 1)
    rng = random.Random(0)
    listed = rng.sample(problems, max(1, round(CONTAMINATION * len(problems))))
    listed_ids = {p.id for p in listed}
    wrong = {p.id for p in problems if p.id not in listed_ids and rng.random() < WRONG}
    bench = work / "benchmark.jsonl"  # what the user evaluates on: the listed questions, half reworded
    bench.write_text("".join(json.dumps({"question": p.prompt if i % 2 == 0 else reworded(p.prompt)}) + "\n"
                             for i, p in enumerate(listed)))
    lenient = LoopConfig.model_validate(base | {"decontaminate": {"files": [str(bench)]}})

    _, control, control_rows = one_round(work / "control", honest, wrong)
    domains.DOMAINS["file"] = LenientFile  # the planted checker bug, for the lenient round only
    try:
        _, metrics, rows = one_round(work / "lenient", lenient, wrong)
    finally:
        domains.DOMAINS["file"] = FileDomain

    listed_prompts = {p.prompt for p in listed}
    planted = sum(r["prompt"] in listed_prompts for r in rows)
    caught = sum(r["prompt"] in listed_prompts and r["drop_reason"] == "contaminated" for r in rows)
    stray = sum(r["prompt"] not in listed_prompts and r["drop_reason"] == "contaminated" for r in rows)
    stray += sum(r["drop_reason"] == "contaminated" for r in control_rows)
    # The verifier's kept rows (before decontamination and dedup): what the audit estimates over.
    accepted = [r for r in rows if r["kept"] or r["drop_reason"] in ("contaminated", "near_duplicate")]
    far_true = sum(r["problem_id"] in wrong for r in accepted) / len(accepted)
    audit = metrics["audit"]
    control_alerts = control.get("audit_alerts", []) + control.get("collapse_alerts", [])
    lenient_alerts = [a["message"] for a in metrics.get("audit_alerts", [])]
    print(f"rows {len(rows)}: {len(wrong)} with a wrong answer, {len(accepted)} accepted by the lenient checker; "
          f"audit re-judged {audit['kept_judged']} kept and {audit['rejected_judged']} dropped rows "
          f"({audit['unjudged']} not judgeable); false-reject {audit['false_reject_rate']}")
    print(f"lenient round alerts: {lenient_alerts or 'none'}")
    print(f"control round (honest checker): audit {control['audit']['false_accept_rate']} false-accept, "
          f"alerts {[a['message'] for a in control_alerts] or 'none'}; rows dropped as contaminated outside "
          f"the planted ones: {stray}")
    print(f"cost (lenient round): {metrics['cost']['compute_seconds']:.1f} compute s, "
          f"{metrics['cost']['kept_per_compute_minute']:.0f} kept rows per compute-minute")
    lo, hi = audit["false_accept_ci"]
    print(f"audit false-accept rate {audit['false_accept_rate']:.3f}, 95% interval [{lo:.3f}, {hi:.3f}]; true {far_true:.3f}")
    print(f"trust: planted={planted} caught={caught} audit_far={audit['false_accept_rate']:.3f} "
          f"audit_far_true={far_true:.3f} alert_false_positives={len(control_alerts) + stray} "
          f"wall_s={time.perf_counter() - t0:.0f}")


if __name__ == "__main__":
    main()
