"""Which problems a round works on: the round's draw, the held-out set and the seed set.

Deterministic from the config (and, for a round, the curriculum's mix): the same problems whenever
they are asked for, in any process.
"""

from __future__ import annotations

import random
from dataclasses import replace

from synthloop.domains import Domain, Problem, get_domain
from synthloop.domains.file import FileDomain
from synthloop.generators.allocate import split_budget
from synthloop.training.evaluate import heldout_problems

from .config import LoopConfig


def domains_of(cfg: LoopConfig) -> dict[str, Domain]:
    return {d.name: get_domain(d.name, **d.knobs) for d in cfg.domains}


def sample_problems(cfg: LoopConfig, round: int, mix: dict[str, dict[int, int]] | None = None,
                    avoid: frozenset[str] = frozenset()) -> list[Problem]:
    """This round's problems, seeded by round: `mix` ({domain: {difficulty: problems}}, the
    curriculum's) or else the domain weights and difficulty weights of the config. A file domain
    draws the prompts in `avoid` only after all its others (`generation.fresh_first`)."""
    doms = domains_of(cfg)
    diffs = sorted(cfg.generation.difficulty_weights)
    rng = random.Random(f"{cfg.seed}-{round}")
    out: list[Problem] = []
    counts = split_budget(cfg.generation.problems_per_round, [d.weight for d in cfg.domains])
    for spec, n in zip(cfg.domains, counts):
        per = split_budget(n, [cfg.generation.difficulty_weights[d] for d in diffs])
        for diff, m in (mix[spec.name].items() if mix else zip(diffs, per)):
            if not m:
                continue
            dom, seed = doms[spec.name], rng.randrange(2**31)
            if avoid and isinstance(dom, FileDomain):
                out += dom.make_problems(m, seed=seed, difficulties=[diff], avoid=avoid)
            else:
                out += dom.make_problems(m, seed=seed, difficulties=[diff])
    # Ids must be unique across rounds: prefix with the round.
    return [Problem(f"r{round}.{p.id}", p.domain, p.difficulty, p.prompt, p.answer, p.meta) for p in out]


def heldout(cfg: LoopConfig) -> list[Problem]:
    """The held-out problems every model of the run is evaluated on, split over the domains."""
    doms = domains_of(cfg)
    out = []
    for spec, n in zip(cfg.domains, split_budget(cfg.eval.n_problems, [d.weight for d in cfg.domains])):
        out += heldout_problems(doms[spec.name], replace(cfg.eval, n_problems=n))
    return out


def seed_set(cfg: LoopConfig) -> tuple[list[tuple[str, str]], list[dict]]:
    """Reference solutions of easy problems: the bootstrap's training data, as pairs and rows."""
    doms = domains_of(cfg)
    pairs, rows = [], []
    counts = split_budget(cfg.bootstrap.n_problems, [d.weight for d in cfg.domains])
    for spec, n in zip(cfg.domains, counts):
        dom = doms[spec.name]
        for i, p in enumerate(dom.make_problems(n, cfg.bootstrap.seed, cfg.bootstrap.difficulties)):
            sol = dom.solution(p, variant=i)
            pairs.append((p.prompt, sol))
            rows.append({
                "row_id": f"seed-{p.id}", "round": 0, "problem_id": p.id, "domain": p.domain,
                "difficulty": p.difficulty, "prompt": p.prompt, "reference": p.answer,
                "completion": sol, "extracted": p.answer, "correct": True, "steps_ok": True,
                "error_kind": "none", "sampler": "reference", "kept": True, "n_tokens": 0,
                "config_hash": cfg.config_hash(),
            })
    return pairs, rows
