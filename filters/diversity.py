"""Diversity and quality scores for a set of rows, and the collapse alert between rounds.

Diversity is measured on the kept completions (the data the next model trains on):
- distinct-1/2/3: distinct n-grams over all n-grams of word/punctuation tokens;
- compression ratio: raw bytes / gzip bytes of the texts joined (higher = more repetitive);
- distinct correct solutions per problem, after replacing every number by one symbol;
- mean pairwise cosine distance and the Vendi score of sentence embeddings (all-MiniLM-L6-v2) of a
  seeded uniform subsample of `embed_sample` texts; Vendi in its dual (d x d) form (`filters/embed.py`).
"""

from __future__ import annotations

import gzip
import random
import re
from collections import defaultdict
from dataclasses import dataclass

import numpy as np

_TOKEN = re.compile(r"\w+|[^\w\s]")
_NUMBER = re.compile(r"\d+")

# Scores where a lower value means more diverse: a collapse is a rise, not a fall.
LOWER_IS_DIVERSE = {"compression_ratio"}


@dataclass
class DiversityConfig:
    # Texts embedded per round (seeded uniform subsample of the kept rows). MiniLM-L6 on 2 CPU cores
    # embeds ~50-150 short texts/s, so 256 costs a few seconds a round. Vendi grows with the sample
    # size, so rounds are comparable only at the same size: keep this fixed across a run.
    embed_sample: int = 256
    embeddings: bool = True  # False: only the n-gram and compression scores (no model is loaded)
    # Alert when a watched score moves against diversity by more than this fraction vs the last round.
    collapse_drop: float = 0.2
    watch: tuple[str, ...] = ("distinct_2", "vendi", "distinct_correct_per_problem")
    seed: int = 0  # of the embedding subsample

    def __post_init__(self):
        if self.embed_sample < 2:
            raise ValueError(f"diversity.embed_sample must be at least 2, got {self.embed_sample}")
        if not 0.0 < self.collapse_drop < 1.0:
            raise ValueError(f"diversity.collapse_drop must be in (0, 1), got {self.collapse_drop}")


def distinct_ngrams(texts: list[str], ns: tuple[int, ...] = (1, 2, 3)) -> dict[int, float]:
    """distinct-n for each n in `ns`: distinct n-grams over all n-grams of word/punctuation tokens
    (Li et al. 2016), n-grams never crossing a text boundary. Tokenises once; n-grams are counted
    as integer keys in numpy, not as Python tuples.

    >>> distinct_ngrams(["a b a b", "a b a b"], (1, 2))
    {1: 0.25, 2: 0.3333333333333333}
    """
    vocab: dict[str, int] = {}
    ids, ends = [], []
    for t in texts:
        ids += [vocab.setdefault(tok, len(vocab)) for tok in _TOKEN.findall(t)]
        ends.append(len(ids))
    tok = np.asarray(ids, np.int64)
    text_of = np.repeat(np.arange(len(ends)), np.diff(np.asarray([0] + ends)))  # text index per token
    base = max(len(vocab), 1)
    out = {}
    for n in ns:
        if len(tok) < n or base ** n >= 2**63:  # (2**63)**(1/3): 2M distinct tokens for n=3
            out[n] = distinct_n_slow(texts, n) if len(tok) >= n else 0.0
            continue
        m = len(tok) - n + 1
        keys = tok[:m].copy()
        for k in range(1, n):
            keys = keys * base + tok[k : k + m]
        inside = text_of[:m] == text_of[n - 1 :]  # the n-gram starts and ends in the same text
        total = int(inside.sum())
        out[n] = len(np.unique(keys[inside])) / total if total else 0.0
    return out


def distinct_n(texts: list[str], n: int) -> float:
    """distinct-n of `texts` (see `distinct_ngrams`).

    >>> distinct_n(["a b a b", "a b a b"], 2)
    0.3333333333333333
    >>> distinct_n([], 2)
    0.0
    """
    return distinct_ngrams(texts, (n,))[n]


def distinct_n_slow(texts: list[str], n: int) -> float:
    """The same as `distinct_n`, over Python tuples (for vocabularies too large for integer keys)."""
    total, seen = 0, set()
    for t in texts:
        toks = _TOKEN.findall(t)
        grams = [tuple(toks[i : i + n]) for i in range(len(toks) - n + 1)]
        total += len(grams)
        seen.update(grams)
    return len(seen) / total if total else 0.0


def compression_ratio(texts: list[str]) -> float:
    """Raw size / gzip size of the texts joined by newlines: 1 is incompressible, higher is redundant.

    >>> compression_ratio(["abc abc abc"] * 100) > 10 * compression_ratio(["q7x", "zk2", "m1w"])
    True
    """
    raw = "\n".join(texts).encode("utf-8", "surrogatepass")
    return len(raw) / len(gzip.compress(raw, mtime=0)) if raw else 0.0


def distinct_solutions_per_problem(rows: list[dict], normalise_numbers: bool = False) -> float:
    """Mean number of distinct correct completions per problem that has at least one."""
    by_problem: dict[str, set[str]] = defaultdict(set)
    for r in rows:
        if r["correct"]:
            text = _NUMBER.sub("N", r["completion"]) if normalise_numbers else r["completion"]
            by_problem[r["problem_id"]].add(text.strip())
    return sum(map(len, by_problem.values())) / len(by_problem) if by_problem else 0.0


def embedding_scores(texts: list[str], cfg: DiversityConfig) -> dict:
    """Vendi score and mean pairwise distance over a seeded subsample of `texts`."""
    from .embed import embed, mean_pairwise_distance, vendi_score

    sample = texts if len(texts) <= cfg.embed_sample else random.Random(cfg.seed).sample(texts, cfg.embed_sample)
    x = embed(sample)
    return {
        "vendi": vendi_score(x) if len(sample) else None,
        "mean_embedding_distance": mean_pairwise_distance(x),
        "embedding_sample": len(sample),
    }


def diversity_scores(texts: list[str], cfg: DiversityConfig | None = None) -> dict:
    """distinct-1/2/3, compression ratio and (unless disabled) the embedding scores of `texts`."""
    cfg = cfg or DiversityConfig()
    out = {f"distinct_{n}": v for n, v in distinct_ngrams(texts, (1, 2, 3)).items()}
    out["compression_ratio"] = compression_ratio(texts)
    if cfg.embeddings:
        out |= embedding_scores(texts, cfg)
    return out


def collapse_alerts(current: dict, previous: dict | None, cfg: DiversityConfig) -> list[str]:
    """One line per watched score that moved against diversity by more than `collapse_drop`.

    >>> collapse_alerts({"distinct_2": 0.3}, {"distinct_2": 0.5}, DiversityConfig())
    ['diversity collapse: distinct_2 fell 40% (0.5 -> 0.3), more than the 20% allowed']
    """
    out = []
    for key in cfg.watch:
        now, before = (current or {}).get(key), (previous or {}).get(key)
        if not isinstance(now, (int, float)) or not isinstance(before, (int, float)) or before <= 0:
            continue
        change = (now - before) / before
        worse = change if key in LOWER_IS_DIVERSE else -change
        if worse > cfg.collapse_drop:
            verb = "rose" if key in LOWER_IS_DIVERSE else "fell"
            out.append(f"diversity collapse: {key} {verb} {abs(change):.0%} ({before:.3g} -> {now:.3g}), "
                       f"more than the {cfg.collapse_drop:.0%} allowed")
    return out


def score_rows(rows: list[dict], cfg: DiversityConfig | None = None, previous: dict | None = None) -> dict:
    """Round metrics: counts, pass rates by sampler and difficulty, diversity of the kept set.

    `previous` is the last round's metrics: when given, `collapse_alerts` lists the scores that fell
    by more than `cfg.collapse_drop` against it.
    """
    cfg = cfg or DiversityConfig()
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
    metrics = {
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
        **diversity_scores([r["completion"] for r in kept], cfg),
        # Solutions that differ only in their numbers count once (the definition) ...
        "distinct_correct_per_problem": distinct_solutions_per_problem(rows, normalise_numbers=True),
        # ... and verbatim, for domains whose solution paths differ only in numbers.
        "distinct_correct_per_problem_exact": distinct_solutions_per_problem(rows),
    }
    metrics["collapse_alerts"] = collapse_alerts(metrics, previous, cfg) if previous else []
    return metrics
