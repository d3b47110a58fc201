"""Who gets the round's samples: budget shares per sampler and sample counts per problem.

Both decisions read the previous round's outcome and keep the round's total (problems x K) exactly
as configured, so adapting changes where the compute goes, never how much there is.

Samplers (`adapt_shares`), multiplicative weights with a floor:
    yield_i  = kept_i / tokens_i: verified, non-duplicate samples per generated token, smoothed
               toward the portfolio's average by PRIOR_SAMPLES pseudo-samples (a sampler seen a few
               times is not judged on noise);
    weight_i = last_share_i * (yield_i / average_yield) ** rate;
    share_i  = weight_i normalised, then clamped from below at `min_share` (exploration: no
               sampler ever starves, so one that was unlucky can come back).
Repeated over rounds, the budget compounds toward the samplers that pay best per token.

Problems (`problem_budgets`): a problem's chance of a verified sample is estimated from the last
round: from its own samples when the same prompt was asked (shrunk toward its difficulty's rate),
else from the pass rate of its domain and difficulty (fresh problems are drawn every round, so the
bucket is the usual evidence). It wants the samples that give a TARGET chance of at least one
verified answer, ceil(log(1 - TARGET) / log(1 - p)), between `k_min` (problems always solved) and
`k_max` (the cap for problems never solved); the wishes are then scaled to the round's total.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace

# The constants below are choices, not tuned on a benchmark.
# Pseudo-samples at the average yield added to each sampler's own: a sampler with a handful of
# samples stays near the average; one with thousands (the demo's round) is judged on its own.
PRIOR_SAMPLES = 8
RATE = 1.0  # exponent of the yield ratio: 1 = shares move in proportion to relative yield
TARGET = 0.9  # wanted chance that a problem gets at least one verified sample
# Pseudo-samples at the bucket's pass rate added to a repeated problem's own: its own K samples
# (2 in demo.yaml, 8 in the README's example) soon outweigh the bucket's rate.
OWN_PRIOR = 2
# Float tolerance: a value meant to be an integer (or equal to min_share) can land a hair off it,
# and ceil/floor must not step past it.
EPS = 1e-9


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


@dataclass(frozen=True)
class Outcome:
    """What a group of last round's samples gave."""

    n: int = 0  # samples
    correct: int = 0  # verified
    kept: int = 0  # verified and not a near-duplicate
    tokens: int = 0  # generated tokens


def summarize(rows: Iterable[Mapping], key) -> dict:
    """Outcome per `key(row)` over rows with `correct`, `kept` and `n_tokens`."""
    acc: dict = {}
    for r in rows:
        k = key(r)
        n, c, kp, t = acc.get(k, (0, 0, 0, 0))
        acc[k] = (n + 1, c + bool(r["correct"]), kp + bool(r["kept"]), t + int(r["n_tokens"] or 0))
    return {k: Outcome(*v) for k, v in acc.items()}


# -- samplers --------------------------------------------------------------------------------
def clamp_shares(shares: Sequence[float], floor: float) -> list[float]:
    """Normalise `shares`, then raise any below `floor` to it, taking the mass from the others.

    >>> [round(s, 3) for s in clamp_shares([0.9, 0.09, 0.01], 0.1)]
    [0.8, 0.1, 0.1]
    """
    n = len(shares)
    if not 0 <= floor <= 1 / n + 1e-12:  # 1/n itself, up to rounding
        raise ValueError(f"min_share must be in [0, 1/{n}] for {n} samplers, got {floor}")
    total = sum(shares)
    s = [x / total for x in shares] if total > 0 else [1 / n] * n
    fixed: set[int] = set()
    while True:
        free = 1 - floor * len(fixed)
        rest = sum(s[i] for i in range(n) if i not in fixed)
        if rest <= 0:  # every sampler at the floor: nothing to prefer
            return [1 / n] * n
        out = [floor if i in fixed else s[i] * free / rest for i in range(n)]
        low = {i for i in range(n) if i not in fixed and out[i] < floor}
        if not low:
            return out
        fixed |= low


def adapt_shares(
    last_shares: Mapping[str, float], outcomes: Mapping[str, Outcome], min_share: float, rate: float = RATE
) -> tuple[dict[str, float], dict[str, str]]:
    """New shares for the samplers of `last_shares` (in its order) and, for each, why."""
    names = list(last_shares)
    seen = [outcomes[n] for n in names if n in outcomes]
    kept, tokens, count = (sum(getattr(o, f) for o in seen) for f in ("kept", "tokens", "n"))
    if kept == 0 or tokens == 0:
        shares = clamp_shares([last_shares[n] for n in names], min_share)
        why = "no verified, non-duplicate sample last round: shares kept"
        return dict(zip(names, shares)), {n: why for n in names}
    avg = kept / tokens
    prior_tokens = PRIOR_SAMPLES * tokens / count
    yields = {}
    for n in names:
        o = outcomes.get(n, Outcome())
        yields[n] = (o.kept + avg * prior_tokens) / (o.tokens + prior_tokens)
    weights = [last_shares[n] * (yields[n] / avg) ** rate for n in names]
    shares = dict(zip(names, clamp_shares(weights, min_share)))
    reasons = {}
    for n in names:
        o = outcomes.get(n)
        seen_text = f"{o.kept}/{o.n} kept" if o else "not run last round"
        floor = " (floor)" if abs(shares[n] - min_share) < EPS else ""
        reasons[n] = (
            f"{seen_text}, {1000 * yields[n]:.3g} kept per 1k tokens ({yields[n] / avg:.2f}x average): "
            f"share {last_shares[n]:.3f} -> {shares[n]:.3f}{floor}"
        )
    return shares, reasons


def sampler_counts(total: int, shares: Sequence[float]) -> list[int]:
    """Samples per sampler for the round: by share, and at least one each when there are enough."""
    counts = split_budget(total, shares)
    if total >= len(counts):
        for i, c in enumerate(counts):
            if c == 0:
                counts[max(range(len(counts)), key=counts.__getitem__)] -= 1
                counts[i] = 1
    return counts


def deal(budgets: Sequence[int], counts: Sequence[int]) -> list[list[int]]:
    """Sampler index of every sample slot, problem by problem, interleaving samplers evenly.

    Smooth weighted round robin over the whole round: sampler i gets exactly counts[i] slots, and
    each problem sees the samplers mixed as the shares say, whatever its own budget.

    >>> deal([3, 3], [4, 2])
    [[0, 1, 0], [0, 1, 0]]
    """
    total = sum(budgets)
    if sum(counts) != total:
        raise ValueError(f"deal: {sum(counts)} sampler slots for {total} samples")
    current = [0] * len(counts)
    seq = []
    for _ in range(total):
        for i, c in enumerate(counts):
            current[i] += c
        j = max(range(len(counts)), key=lambda i: (current[i], -i))
        current[j] -= total
        seq.append(j)
    out, at = [], 0
    for b in budgets:
        out.append(seq[at : at + b])
        at += b
    return out


# -- problems --------------------------------------------------------------------------------
def samples_for(p: float, target: float = TARGET) -> float:
    """Samples giving a `target` chance of at least one success at pass rate p (inf when p = 0).

    >>> samples_for(0.5), samples_for(1.0), samples_for(0.0)
    (4, 1, inf)
    """
    if p >= 1:
        return 1
    if p <= 0:
        return math.inf
    return math.ceil(math.log(1 - target) / math.log(1 - p) - EPS)


def fit_total(wanted: Sequence[float], total: int, lo: int, hi: int) -> list[int]:
    """Integers in [lo, hi], proportional to `wanted` (one common scale), that sum to `total`.

    >>> fit_total([1, 1, 100], 12, 2, 6)
    [3, 3, 6]
    """
    n = len(wanted)
    if not n * lo <= total <= n * hi:
        raise ValueError(f"cannot give {n} problems {total} samples with {lo} to {hi} each")
    w = [min(x, 1e12) for x in wanted]  # inf (a never-solved problem) made finite: hi caps it anyway

    def fitted(scale):
        return [min(max(scale * x, lo), hi) for x in w]

    a, b = 0.0, 1.0
    while sum(fitted(b)) < total and b < 1e15:  # 1e15: only a guard against looping forever
        b *= 2
    for _ in range(100):  # bisection on the common scale: 100 halvings reach float precision
        m = (a + b) / 2
        a, b = (m, b) if sum(fitted(m)) < total else (a, m)
    x = fitted(b)
    out = [min(math.floor(v + EPS), hi) for v in x]
    short = total - sum(out)
    order = sorted((i for i in range(n) if out[i] < hi), key=lambda i: (-(x[i] - out[i]), i))
    for i in order[: max(short, 0)]:
        out[i] += 1
    for i in sorted(range(n), key=lambda i: (out[i] - x[i], i), reverse=True):  # rounding overshoot
        if sum(out) <= total:
            break
        if out[i] > lo:
            out[i] -= 1
    return out


def problem_budgets(
    problems: Sequence[tuple[str, str, object]],
    buckets: Mapping[str, Outcome],
    own: Mapping[object, Outcome],
    k: int,
    k_min: int,
    k_max: int,
) -> tuple[list[int], list[str], list[float]]:
    """Samples per problem, the reason for each, and what each wanted before scaling.

    `problems` are (problem id, bucket, prompt key); `buckets` and `own` hold last round's outcome
    per bucket and per prompt key.
    """
    wanted, reasons = [], []
    for _, bucket, key in problems:
        b, o = buckets.get(bucket), own.get(key)
        if b is None and o is None:
            wanted.append(float(k))
            reasons.append(f"{bucket}: no history, the configured {k}")
            continue
        # The Jeffreys prior's estimate (half a success in one pseudo-sample): never exactly 0 or 1.
        p_bucket = (b.correct + 0.5) / (b.n + 1) if b else 0.5
        if o is not None:
            p = (o.correct + OWN_PRIOR * p_bucket) / (o.n + OWN_PRIOR)
            why = f"asked last round: {o.correct}/{o.n} correct"
        else:
            p = p_bucket
            why = f"{bucket}: {b.correct}/{b.n} correct last round"
        want = min(max(samples_for(p), k_min), k_max)
        wanted.append(float(want))
        reasons.append(f"{why} (p~{p:.2f}): wants {want} for a {TARGET:.0%} chance of one verified")
    budgets = fit_total(wanted, k * len(problems), k_min, k_max)
    return budgets, reasons, wanted


# -- the round's plan ------------------------------------------------------------------------
@dataclass
class RoundPlan:
    portfolio: list  # PortfolioEntry with this round's shares
    budgets: list[int] | None  # samples per problem in problem order; None: k each, as configured
    record: dict  # JSON: what was decided and why (round metrics, the report)


def fixed_plan(problems: Sequence, portfolio: Sequence, k: int, *, adaptive: bool, reason: str) -> RoundPlan:
    """K samples per problem, each problem splitting its K by share (`split_budget`), as configured.

    The record says what the samplers will really get, not the configured shares: 2 samples per
    problem over 3 equal samplers give the third none, and the record says 0 for it, not 1/3.

    >>> from types import SimpleNamespace as S
    >>> pf = [S(sampler=S(name=n), share=1.0) for n in ("cool", "warm", "hot")]
    >>> r = fixed_plan(range(5), pf, 2, adaptive=False, reason="").record
    >>> r["shares"], r["samplers"]["hot"]
    ({'cool': 0.5, 'warm': 0.5, 'hot': 0.0}, {'configured_share': 0.333, 'share': 0.0, 'samples': 0})
    """
    per_problem = split_budget(k, [e.share for e in portfolio])
    total = k * len(problems)
    configured = sum(e.share for e in portfolio)
    samplers = {
        e.sampler.name: {"configured_share": round(e.share / configured, 3),
                         "share": c / k if k else 0.0, "samples": c * len(problems)}
        for e, c in zip(portfolio, per_problem)
    }
    return RoundPlan(list(portfolio), None, {
        "adaptive": adaptive, "samples": total, "shares": {n: v["share"] for n, v in samplers.items()},
        "samplers": samplers, "reason": reason,
    })


def plan_round(
    problems: Sequence,
    portfolio: Sequence,
    k: int,
    last_rows: Sequence[Mapping] | None,
    *,
    min_share: float,
    k_min: int,
    k_max: int,
) -> RoundPlan:
    """This round's shares and per-problem budgets from last round's rows (None: no history)."""
    config = {e.sampler.name: e.share / sum(x.share for x in portfolio) for e in portfolio}
    if not last_rows:
        return fixed_plan(problems, portfolio, k, adaptive=True,
                          reason="no earlier round: configured shares, the same K for every problem")
    by_sampler = summarize(last_rows, lambda r: r["sampler"])
    n_last = sum(by_sampler[n].n for n in config if n in by_sampler)
    # Last round's real shares (what the samplers got); a sampler new to the config starts at its own.
    last = {n: (by_sampler[n].n / n_last if n in by_sampler and n_last else config[n]) for n in config}
    last = {n: s / sum(last.values()) for n, s in last.items()}
    shares, why_share = adapt_shares(last, by_sampler, min_share)
    new_portfolio = [replace(e, share=shares[e.sampler.name]) for e in portfolio]

    def bucket_of(domain, difficulty):
        return f"{domain}/d{difficulty}"

    buckets = summarize(last_rows, lambda r: bucket_of(r["domain"], r["difficulty"]))
    own = summarize(last_rows, lambda r: (r["domain"], r["prompt"]))
    keys = [(p.id, bucket_of(p.domain, p.difficulty), (p.domain, p.prompt)) for p in problems]
    budgets, why_budget, wanted = problem_budgets(keys, buckets, own, k, k_min, k_max)
    counts = sampler_counts(sum(budgets), [e.share for e in new_portfolio])

    by_bucket: dict[str, dict] = {}
    for (_, bucket, key), b, w, why in zip(keys, budgets, wanted, why_budget):
        d = by_bucket.setdefault(bucket, {"problems": 0, "samples": 0, "min": b, "max": b, "wanted": w})
        d["problems"] += 1
        d["samples"] += b
        d["min"], d["max"] = min(d["min"], b), max(d["max"], b)
        if key not in own:
            d["reason"] = why
    for bucket, d in by_bucket.items():
        o = buckets.get(bucket)
        d["last_pass_rate"] = o.correct / o.n if o else None
    record = {
        "adaptive": True,
        "samples": sum(budgets),
        "shares": shares,
        "samplers": {
            e.sampler.name: {
                "last_share": last[e.sampler.name], "share": shares[e.sampler.name], "samples": c,
                "reason": why_share[e.sampler.name],
            }
            for e, c in zip(new_portfolio, counts)
        },
        "problems": {
            "rule": f"samples for a {TARGET:.0%} chance of one verified answer at last round's pass "
                    f"rate, between {k_min} and {k_max}, scaled to {k} per problem on average",
            "by_bucket": dict(sorted(by_bucket.items())),
            "own_history": {
                pid: {"samples": b, "reason": r}
                for (pid, _, key), b, r in zip(keys, budgets, why_budget) if key in own
            },
        },
    }
    return RoundPlan(new_portfolio, budgets, record)
