"""Diversity and quality scores for a set of rows."""

from __future__ import annotations

import re
from collections import defaultdict

_TOKEN = re.compile(r"\w+|[^\w\s]")
_NUMBER = re.compile(r"\d+")


def distinct_n(texts: list[str], n: int) -> float:
    """Distinct n-grams over all n-grams of word/punctuation tokens (Li et al. 2016).

    >>> distinct_n(["a b a b", "a b a b"], 2)
    0.3333333333333333
    >>> distinct_n([], 2)
    0.0
    """
    total, seen = 0, set()
    for t in texts:
        toks = _TOKEN.findall(t)
        grams = [tuple(toks[i : i + n]) for i in range(len(toks) - n + 1)]
        total += len(grams)
        seen.update(grams)
    return len(seen) / total if total else 0.0


def distinct_solutions_per_problem(rows: list[dict], normalise_numbers: bool = False) -> float:
    """Mean number of distinct correct completions per problem that has at least one."""
    by_problem: dict[str, set[str]] = defaultdict(set)
    for r in rows:
        if r["correct"]:
            text = _NUMBER.sub("N", r["completion"]) if normalise_numbers else r["completion"]
            by_problem[r["problem_id"]].add(text.strip())
    return sum(map(len, by_problem.values())) / len(by_problem) if by_problem else 0.0


def score_rows(rows: list[dict]) -> dict:
    """Round metrics: counts, pass rates by sampler and difficulty, diversity of the kept set."""
    kept = [r for r in rows if r["kept"]]
    correct = [r for r in rows if r["correct"]]
    by_sampler: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0, 0])  # n, correct, kept, tokens
    by_diff: dict[int, list[int]] = defaultdict(lambda: [0, 0])
    drops: dict[str, int] = defaultdict(int)
    for r in rows:
        s = by_sampler[r["sampler"]]
        s[0] += 1
        s[1] += r["correct"]
        s[2] += r["kept"]
        s[3] += r["n_tokens"]
        by_diff[r["difficulty"]][0] += 1
        by_diff[r["difficulty"]][1] += r["correct"]
        if r["drop_reason"]:
            drops[r["drop_reason"]] += 1
    kept_texts = [r["completion"] for r in kept]
    return {
        "generated": len(rows),
        "correct": len(correct),
        "kept": len(kept),
        "tokens": sum(r["n_tokens"] for r in rows),
        "problems": len({r["problem_id"] for r in rows}),
        "problems_solved": len({r["problem_id"] for r in correct}),
        "drop_reasons": dict(drops),
        "by_sampler": {
            k: {"n": n, "correct": c, "kept": kp, "tokens": t, "pass_rate": c / n, "kept_per_1k_tokens": 1000 * kp / max(t, 1)}
            for k, (n, c, kp, t) in sorted(by_sampler.items())
        },
        "by_difficulty": {int(k): {"n": n, "pass_rate": c / n} for k, (n, c) in sorted(by_diff.items())},
        "distinct_1": distinct_n(kept_texts, 1),
        "distinct_2": distinct_n(kept_texts, 2),
        "distinct_correct_per_problem": distinct_solutions_per_problem(rows),
    }
