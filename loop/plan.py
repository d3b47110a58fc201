"""Plan a round: its problems at the curriculum's difficulty mix (decided once, here), the sampler
allocation adapted to the previous round's yield, and the parts the round is cut into.

Deterministic from the catalog: the same plan whenever it is asked for, so a rerun or another
process gets the same problems, seeds and sampler picks.
"""

from __future__ import annotations

from dataclasses import dataclass

from synthloop.domains import Problem
from synthloop.generators.allocate import RoundPlan as SamplerPlan
from synthloop.generators.allocate import fixed_plan, plan_round
from synthloop.generators.portfolio import PortfolioEntry, sample_slots
from synthloop.warehouse import Catalog

from . import shards
from .config import LoopConfig
from .curriculum import mix_of, round_curriculum
from .problems import sample_problems
from .progress import say
from .shards import Part


@dataclass(frozen=True)
class RoundPlan:
    """What round `round` samples: `parts` (problems and sampler picks, one shard each), the
    sampler `allocation` and the `curriculum` decision, both recorded with the round's data."""

    round: int
    parts: list[Part]
    allocation: dict | None
    curriculum: dict


def round_course(cat: Catalog, cfg: LoopConfig, round: int) -> dict:
    """The curriculum's decision for round `round` (loop/curriculum.py): from the incumbent's
    held-out pass rates, or from last round's rows alone where no model is promoted yet (a
    catalog driven stage by stage, as benchmarks/scale.py does)."""
    promoted = [r for r in cat.rounds(cfg.name) if r["promoted"]]
    ev = cat.model(promoted[-1]["model_out"])["metrics"].get("eval") if promoted else None
    return round_curriculum(cat, cfg, round, ev)


def solved_prompts(cat: Catalog, cfg: LoopConfig, round: int) -> frozenset[str]:
    """Prompts with a kept row in a round before `round`: what `generation.fresh_first` draws last.
    Empty when it is off or no domain is a file (a generated domain has no finite pool)."""
    if not cfg.generation.fresh_first or not any(d.name == "file" for d in cfg.domains):
        return frozenset()
    out: set[str] = set()
    for v in cat.versions(cfg.name):
        if v["round"] is not None and 1 <= v["round"] < round:
            t = cat.read_table(f"{cfg.name}@{v['version']}", columns=["prompt", "kept"], kept_only=True)
            out.update(t["prompt"].to_pylist())
    return frozenset(out)


def round_problems(cat: Catalog, cfg: LoopConfig, round: int, course: dict | None = None) -> list[Problem]:
    """The problems round `round` generates for, drawn at the curriculum's difficulty mix (and,
    with `generation.fresh_first`, prompts without a kept row first)."""
    course = course or round_course(cat, cfg, round)
    solved = solved_prompts(cat, cfg, round)
    problems = sample_problems(cfg, round, mix_of(course), avoid=solved)
    if solved:  # recorded with the round's curriculum decision (the version's metrics)
        again = sum(p.prompt in solved for p in problems)
        course["fresh"] = {"solved_prompts": len(solved), "drawn": len(problems), "drawn_solved": again}
        say(f"round {round}: {len(problems) - again} of {len(problems)} problems have no kept row yet "
            f"({len(solved):,} prompts of the file have one)"
            + (": the file's unsolved prompts at this mix are used up, more problems would add more" if again else ""))
    return problems


def generation_plan(cat: Catalog, cfg: LoopConfig, round: int, problems: list[Problem]) -> SamplerPlan:
    """Sampler shares and samples per problem for `round`, adapted to the previous round's rows."""
    gen = cfg.generation
    portfolio = [PortfolioEntry(s.sampler(), s.share) for s in gen.samplers]
    if not gen.adaptive:
        return fixed_plan(problems, portfolio, gen.samples_per_problem, adaptive=False,
                          reason="generation.adaptive is off")
    last = [v for v in cat.versions(cfg.name) if v["round"] == round - 1]
    rows = None
    if last:
        cols = ["sampler", "correct", "kept", "n_tokens", "domain", "difficulty", "prompt", "rationalized"]
        # Hinted rows (generation.rationalize) are not the model's own pass rate or a sampler's yield.
        rows = [r for r in cat.read_table(f"{cfg.name}@{last[-1]['version']}", columns=cols).to_pylist()
                if not r.pop("rationalized")]
    k_min, k_max = gen.sample_range()
    plan = plan_round(problems, portfolio, gen.samples_per_problem, rows,
                      min_share=gen.min_share, k_min=k_min, k_max=k_max)
    if last:
        plan.record["from"] = {"round": round - 1, "version": last[-1]["version"]}
    return plan


def plan(cat: Catalog, cfg: LoopConfig, round: int) -> RoundPlan:
    """The round's problems cut into parts of about `execution.shard_size` samples, each with its
    sampler picks (dealt over the whole round, so the cut changes nothing). Starts the round's
    staging folder afresh."""
    course = round_course(cat, cfg, round)
    problems = round_problems(cat, cfg, round, course)
    gplan = generation_plan(cat, cfg, round, problems)
    names = [e.sampler.name for e in gplan.portfolio]
    if names != [s.name for s in cfg.generation.samplers]:  # `generate` takes samplers by index
        raise RuntimeError(f"the plan reordered the samplers: {names}")
    slots = sample_slots(len(problems), gplan.portfolio, cfg.generation.samples_per_problem, gplan.budgets)
    root = shards.round_dir(cat.home, cfg.name, round)
    shards.reset(root)
    ranges = shards.cut([len(s) for s in slots], cfg.execution.shard_size)
    parts = [shards.write_part(shards.shard_path(root, "parts", i), i, problems[lo:hi], slots[lo:hi])
             for i, (lo, hi) in enumerate(ranges)]
    return RoundPlan(round, parts, gplan.record, course)
