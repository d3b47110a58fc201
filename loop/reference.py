"""Reference solutions instead of samples: the data source of an experiment's reference arms
(`noise`, and `passk`'s long SFT). A round with this source is the loop's own round
(loop/steps.py): its rows are verified (verdicts recorded; `verify.keep_all` keeps every row),
deduped, scored, published, fine-tuned on and gated like any other.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from functools import partial

import pyarrow as pa
from synthloop.domains import noise as noise_lib
from synthloop.domains.chain import split_completion
from synthloop.warehouse import Catalog

from . import shards
from .config import LoopConfig
from .plan import RoundPlan, round_course
from .problems import domains_of, sample_problems
from .records import ModelRef, RoundRecord
from .shards import Part, Shard
from .steps import LOCAL, Source, run_round


@dataclass(frozen=True)
class Noise:
    kind: str  # "clean", "static" or "dynamic"
    rate: float  # share of the samples noised
    intensity: float  # chance each step of a noised sample is hit


# -- reference solutions instead of samples --------------------------------------------------
def noised(domain, problem, solution: str, kind: str, intensity: float, rng: random.Random,
           variant: int = 0) -> tuple[str, list[int]]:
    """`solution` with noise of `kind` ("static" or "dynamic") in at least one step, and the hit
    step indexes; unchanged ([] hit) when it has no step to hit."""
    n = len(split_completion(solution)[0])
    if n == 0:
        return solution, []
    if kind == "static":
        text, hit = noise_lib.static_noise(solution, intensity, rng)
        if not hit:
            i = rng.randrange(n)
            text, hit = noise_lib.corrupt_line(solution, i, rng, drop=rng.random() < 0.5), [i]
        return text, hit
    for _ in range(5):
        text, hit = noise_lib.dynamic_noise(domain, problem, intensity, rng, variant=variant)
        if hit:
            return text, hit
    i = rng.randrange(n)
    text = noise_lib.corrupt_step(domain, problem, i, rng, variant=variant)
    return (text, [i]) if text else (solution, [])


def reference_rows(cfg: LoopConfig, round: int, noise: Noise | None, problems: list) -> list[dict]:
    """Reference solutions of `problems` (the round's) in place of samples, a `noise.rate` share
    of them noised. The same rows are picked for noise in every cell of a seed, so a larger share
    noises a superset of what a smaller one did."""
    doms = domains_of(cfg)
    pick = random.Random(f"noise-pick-{cfg.seed}-{round}")
    rng = random.Random(f"noise-{cfg.seed}-{round}-{noise}")
    rows = []
    for i, p in enumerate(problems):
        dom = doms[p.domain]
        text, hit = dom.solution(p, variant=i), []
        if pick.random() < (noise.rate if noise else 0.0):
            text, hit = noised(dom, p, text, noise.kind, noise.intensity, rng, variant=i)
        rows.append({
            "row_id": f"ref-{p.id}", "round": round, "problem_id": p.id, "domain": p.domain,
            "difficulty": p.difficulty, "prompt": p.prompt, "reference": p.answer, "completion": text,
            "sampler": f"reference+{noise.kind}" if hit else "reference", "seed": cfg.seed,
            "n_tokens": 0, "config_hash": cfg.config_hash(),
        })
    return rows


def reference_plan(cat: Catalog, cfg: LoopConfig, round: int) -> RoundPlan:
    """Round `round`'s problems (the config's difficulty weights, no curriculum) in one part."""
    problems = sample_problems(cfg, round)
    root = shards.round_dir(cat.home, cfg.name, round)
    shards.reset(root)
    part = shards.write_part(shards.shard_path(root, "parts", 0), 0, problems, [[0]] * len(problems))
    return RoundPlan(round, [part], None, round_course(cat, cfg, round))


def reference_shard(noise: Noise | None, cfg: LoopConfig, round: int, model: ModelRef, part: Part) -> Shard:
    """The part's reference solutions as its generated rows (no model samples them)."""
    problems, _ = shards.read_part(part)
    return shards.write_shard(pa.Table.from_pylist(reference_rows(cfg, round, noise, problems)),
                              shards.sibling(part.path, "generated"))


def reference_round(cat: Catalog, cfg: LoopConfig, round: int, noise: Noise | None = None,
                    data_round: int = 1) -> RoundRecord:
    """A round that fine-tunes on reference solutions (round `data_round`'s problems, published
    once) instead of samples, through the loop's own round. Resumes from the catalog."""
    source = Source(plan=reference_plan, generate=partial(reference_shard, noise), data_round=data_round,
                    by_model=False)
    return run_round(cat, cfg, round, LOCAL, source)
