"""A portfolio: several samplers, each with a share of the sampling budget.

`generate_rows` turns problems into requests (prompt variant applied, one seed per sample), runs
them through any backend in one call, and records every sample as a row. With per-problem
`budgets` (from `allocate.plan_round`) samplers are dealt across the whole round by share.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from synthloop.domains import Problem

from .allocate import deal, sampler_counts, split_budget
from .base import Completion, Request, Sampler, sample_seed
from .prompts import RAW, PromptFormat, render

__all__ = ["PortfolioEntry", "generate_rows", "sample_row", "sample_slots", "split_budget"]


@dataclass(frozen=True)
class PortfolioEntry:
    sampler: Sampler
    share: float


def sample_slots(
    n_problems: int, portfolio: Sequence[PortfolioEntry], k: int, budgets: Sequence[int] | None = None
) -> list[list[int]]:
    """Sampler index of each sample slot, problem by problem (see `generate_rows`).

    Dealt over the whole round, so a round cut into shards samples exactly what it would uncut.
    """
    shares = [e.share for e in portfolio]
    if budgets is None:
        counts = split_budget(k, shares)
        return [[i for i, n in enumerate(counts) for _ in range(n)] for _ in range(n_problems)]
    if len(budgets) != n_problems:
        raise ValueError(f"{len(budgets)} budgets for {n_problems} problems")
    return deal(budgets, sampler_counts(sum(budgets), shares))


def generate_rows(
    backend,
    problems: Sequence[Problem],
    portfolio: Sequence[PortfolioEntry],
    k: int,
    *,
    round: int,
    seed: int,
    model_id: str,
    config_hash: str,
    progress: Callable[[int], None] | None = None,
    budgets: Sequence[int] | None = None,
    slots: Sequence[Sequence[int]] | None = None,
    prompt_format: PromptFormat = RAW,
) -> list[dict]:
    """Samples per problem (k each, or `budgets[i]` for problem i) from the portfolio, as rows.

    Without budgets each problem splits its k samples by share, in portfolio order. A sample's
    seed depends on (seed, round, problem, sampler, index) only, so reruns reproduce it. `slots`
    (from `sample_slots`) gives each problem's sampler picks directly: one shard of a round.
    `prompt_format` (a chat template, or raw) finishes each prompt for the model; rows record it.
    """
    if slots is None:
        slots = sample_slots(len(problems), portfolio, k, budgets)
    elif len(slots) != len(problems):
        raise ValueError(f"{len(slots)} slot lists for {len(problems)} problems")
    requests, meta = [], []
    for p, picks in zip(problems, slots):
        for j, i in enumerate(picks):
            sampler = portfolio[i].sampler
            extra = (sampler.seed,) if sampler.seed else ()  # seed 0 keeps the seeds of old rows
            s = sample_seed(seed, round, p.id, sampler.name, j, *extra)
            requests.append(Request(prompt_format(render(p.prompt, sampler.prompt_variant)), sampler, s))
            meta.append((p, sampler, s, j))
    completions = backend.generate(requests, progress=progress)
    return [sample_row(p, c, row_id=f"r{round}-{p.id}-{j}", round=round, sampler=sampler.name,
                       settings=sampler.settings_json, seed=s, model_id=model_id, config_hash=config_hash,
                       prompt_format=prompt_format.name)
            for (p, sampler, s, j), c in zip(meta, completions)]


def sample_row(p: Problem, c: Completion, *, row_id: str, round: int, sampler: str, settings: str, seed: int,
               model_id: str, config_hash: str, prompt_format: str) -> dict:
    """One sample as a row: the problem's own prompt, what the model wrote, how it was sampled."""
    return {
        "row_id": row_id,
        "round": round,
        "problem_id": p.id,
        "domain": p.domain,
        "difficulty": p.difficulty,
        "prompt": p.prompt,
        "prompt_format": prompt_format,
        "reference": p.answer,
        "completion": c.text,
        "sampler": sampler,
        "sampler_settings": settings,
        "seed": seed,
        "model_id": model_id,
        "n_tokens": c.n_tokens,
        "mean_logprob": c.mean_logprob,
        "finish_reason": c.finish_reason,
        "config_hash": config_hash,
    }
