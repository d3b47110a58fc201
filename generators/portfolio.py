"""A portfolio: several samplers, each with a share of the sampling budget."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from synthloop.domains import Problem

from .base import Request, Sampler, sample_seed


@dataclass(frozen=True)
class PortfolioEntry:
    sampler: Sampler
    share: float


def split_budget(k: int, shares: Sequence[float]) -> list[int]:
    """Split k samples among samplers by share (largest remainder, ties to the earlier sampler).

    >>> split_budget(8, [1, 1, 1])
    [3, 3, 2]
    >>> split_budget(8, [0.5, 0.25, 0.25])
    [4, 2, 2]
    """
    total = sum(shares)
    if k < 0 or total <= 0 or any(s < 0 for s in shares):
        raise ValueError("split_budget needs k >= 0 and non-negative shares with a positive sum")
    exact = [k * s / total for s in shares]
    counts = [int(e) for e in exact]
    by_remainder = sorted(range(len(shares)), key=lambda i: (-(exact[i] - counts[i]), i))
    for i in by_remainder[: k - sum(counts)]:
        counts[i] += 1
    return counts


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
) -> list[dict]:
    """K samples per problem split across the portfolio, each seeded and recorded as a row."""
    counts = split_budget(k, [e.share for e in portfolio])
    requests, meta = [], []
    for p in problems:
        j = 0
        for entry, n in zip(portfolio, counts):
            for _ in range(n):
                s = sample_seed(seed, round, p.id, entry.sampler.name, j)
                requests.append(Request(p.prompt, entry.sampler, s))
                meta.append((p, entry.sampler, s, j))
                j += 1
    completions = backend.generate(requests, progress=progress)
    rows = []
    for (p, sampler, s, j), c in zip(meta, completions):
        rows.append(
            {
                "row_id": f"r{round}-{p.id}-{j}",
                "round": round,
                "problem_id": p.id,
                "domain": p.domain,
                "difficulty": p.difficulty,
                "prompt": p.prompt,
                "reference": p.answer,
                "completion": c.text,
                "sampler": sampler.name,
                "sampler_settings": sampler.settings_json,
                "seed": s,
                "model_id": model_id,
                "n_tokens": c.n_tokens,
                "mean_logprob": c.mean_logprob,
                "finish_reason": c.finish_reason,
                "config_hash": config_hash,
            }
        )
    return rows
