"""Which difficulties a round draws its problems from: a curriculum that follows the model's frontier.

Learning signal is largest where the model is right about half the time and vanishes where it is
always or never right (Bae et al. 2025, online difficulty filtering; DAPO's dynamic sampling). Lee
et al. 2025 extend a model one length at a time, keeping earlier lengths in the mix. So, per
domain, from the pass rate at each difficulty (held-out greedy accuracy of the model that will
generate, else the verified share of last round's samples):

    mastered   pass rate >= band[1]            -> `replay_share` of the budget, split evenly
                                                  (against forgetting; never starved)
    frontier   band[0] <= pass rate < band[1]  -> the rest, weighted by r(1 - r) + SIGNAL_FLOOR
    next       the lowest difficulty above every mastered and frontier one: `next_share` once the
               top of the frontier passes `advance_at` (it is almost solved: start on the next);
               all of the non-replay budget when there is no frontier (everything tried is mastered)
    too hard   pass rate < band[0], above the next one -> nothing
    (a difficulty above `max_difficulty` is never drawn)

`policy: fixed` draws from `generation.difficulty_weights` as before; the pass rates, the frontier
and the reasons are still computed and recorded, so the two policies compare row for row.

A pure function of its inputs: the round's decision can be recomputed from the catalog at any time.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

from .allocate import split_budget

# A frontier difficulty at 1% still gets a little budget (its samples are rare, not useless):
# r(1 - r) peaks at 0.25, so the floor is a fifth of the best weight. A choice, not tuned.
SIGNAL_FLOOR = 0.05


@dataclass(frozen=True)
class CurriculumConfig:
    # frontier: follow the pass rates (this module); fixed: `generation.difficulty_weights`
    policy: Literal["frontier", "fixed"] = "frontier"
    # Pass rates inside [lo, hi) are the frontier; at or above hi a difficulty is mastered.
    # hi = 0.9: the target accuracy; lo = 0.02: one verified sample in ~50 is still signal.
    band: tuple[float, float] = (0.02, 0.9)
    # Open the next difficulty once the top of the frontier reaches this pass rate. An early probe
    # (its record is not in this repository): moving to 5 digits once 4 digits reached ~40% worked;
    # earlier wastes budget.
    advance_at: float = 0.4
    # Of the round's problems, for mastered difficulties (against forgetting), and for the next
    # difficulty once it is open. Choices, not tuned; the rest goes to the frontier.
    replay_share: float = 0.15
    next_share: float = 0.3
    # Never draw above this (addition: the model's max_length bounds it; demo.yaml sets 10, since
    # 128 new tokens hold a worked 10-digit sum and not an 11-digit one).
    max_difficulty: int = 12

    def __post_init__(self):
        lo, hi = self.band
        if not 0 <= lo < hi <= 1:
            raise ValueError(f"curriculum.band: need 0 <= lo < hi <= 1, got [{lo}, {hi}]")
        if not 0 <= self.advance_at <= 1:
            raise ValueError(f"curriculum.advance_at: need a pass rate in [0, 1], got {self.advance_at}")
        if not (0 <= self.replay_share < 1 and 0 <= self.next_share < 1 and self.replay_share + self.next_share < 1):
            raise ValueError("curriculum: replay_share and next_share must each be in [0, 1) and sum below 1")
        if self.max_difficulty < 1:
            raise ValueError(f"curriculum.max_difficulty: need >= 1, got {self.max_difficulty}")


@dataclass(frozen=True)
class Rate:
    """The pass rate at one difficulty, with what it rests on."""

    rate: float
    n: int  # problems (held-out) or samples (last round) it was measured on
    source: str  # "eval" or "round N"


def pass_rates(eval_by_difficulty: Mapping | None, round_rows: Mapping[int, tuple[int, int]] | None = None,
               round_label: str = "last round") -> dict[int, Rate]:
    """Merge the evidence: held-out greedy accuracy where the evaluation has the difficulty (it
    measured the model that generates next), else the verified share of last round's samples.

    >>> r = pass_rates({"1": {"accuracy": 1.0, "n": 40}}, {1: (10, 9), 4: (20, 5)}, "round 2")
    >>> r[1], r[4]
    (Rate(rate=1.0, n=40, source='eval'), Rate(rate=0.25, n=20, source='round 2'))
    """
    out: dict[int, Rate] = {}
    for d, (n, correct) in (round_rows or {}).items():
        if n:
            out[int(d)] = Rate(correct / n, n, round_label)
    for d, m in (eval_by_difficulty or {}).items():
        if m.get("n", 1):
            out[int(d)] = Rate(float(m["accuracy"]), int(m.get("n", 0)), "eval")
    return out


def frontier_of(rates: Mapping[int, Rate], cfg: CurriculumConfig) -> int:
    """The lowest difficulty not yet mastered (capped at max_difficulty): where the model is learning.

    >>> frontier_of({1: Rate(1, 9, "eval"), 2: Rate(0.95, 9, "eval"), 3: Rate(0.5, 9, "eval")}, CurriculumConfig())
    3
    """
    d = 1
    while d < cfg.max_difficulty and d in rates and rates[d].rate >= cfg.band[1]:
        d += 1
    return d


def decide(rates: Mapping[int, Rate], n_problems: int, cfg: CurriculumConfig,
           fixed_weights: Mapping[int, float] | None = None) -> dict:
    """This round's difficulty mix for one domain: {policy, frontier, by_difficulty: {d: {pass_rate,
    share, problems, reason}}}. `problems` sums to `n_problems`; shares sum to 1.

    >>> r = {1: Rate(1.0, 40, "eval"), 2: Rate(0.97, 40, "eval"), 3: Rate(0.5, 40, "eval"), 4: Rate(0.0, 40, "eval")}
    >>> out = decide(r, 100, CurriculumConfig())
    >>> out["frontier"], {d: v["problems"] for d, v in out["by_difficulty"].items()}
    (3, {1: 8, 2: 7, 3: 55, 4: 30})
    """
    lo, hi = cfg.band
    rates = {d: r for d, r in rates.items() if 1 <= d}
    tried = sorted(rates)
    mastered = [d for d in tried if d <= cfg.max_difficulty and rates[d].rate >= hi]
    band = [d for d in tried if d <= cfg.max_difficulty and lo <= rates[d].rate < hi]
    top = max(mastered + band, default=0)
    # A difficulty below the top that fell under the band was forgotten: it is frontier again.
    band = sorted(set(band) | {d for d in tried if d < top and rates[d].rate < lo})
    nxt = top + 1 if top + 1 <= cfg.max_difficulty else None

    shares: dict[int, float] = {}
    reasons: dict[int, str] = {}
    replay = cfg.replay_share if mastered else 0.0
    if band:
        lead = rates[max(band)].rate
        open_next = nxt is not None and lead >= cfg.advance_at
        nxt_share = cfg.next_share if open_next else 0.0
        if nxt is not None:
            reasons[nxt] = (f"next: top of the frontier ({max(band)}) at {lead:.2f} >= advance_at {cfg.advance_at}"
                            if open_next else
                            f"next, not yet open: top of the frontier ({max(band)}) at {lead:.2f} < advance_at {cfg.advance_at}")
            shares[nxt] = nxt_share
        w = {d: rates[d].rate * (1 - rates[d].rate) + SIGNAL_FLOOR for d in band}
        total = sum(w.values())
        for d in band:
            shares[d] = (1 - replay - nxt_share) * w[d] / total
            reasons[d] = f"frontier: pass rate {rates[d].rate:.2f} in band [{lo}, {hi})"
    elif nxt is not None:
        shares[nxt] = 1 - replay
        reasons[nxt] = "next: every difficulty tried so far is mastered" if mastered else "next: nothing measured yet"
    else:  # mastered up to max_difficulty: all of it is replay
        replay = 1.0
    for d in mastered:
        shares[d] = replay / len(mastered)
        reasons[d] = f"replay: mastered (pass rate {rates[d].rate:.2f} >= {hi})"
    for d in tried:
        if d not in shares:
            shares[d] = 0.0
            reasons[d] = (f"above max_difficulty {cfg.max_difficulty}" if d > cfg.max_difficulty
                          else f"too hard: pass rate {rates[d].rate:.2f} < {lo}, beyond the next difficulty")
    frontier = frontier_of(rates, cfg)

    if cfg.policy == "fixed":
        if not fixed_weights:
            raise ValueError("curriculum.policy fixed needs generation.difficulty_weights")
        total = sum(fixed_weights.values())
        shares = {d: 0.0 for d in shares} | {int(d): w / total for d, w in fixed_weights.items()}
        reasons = {d: "fixed: generation.difficulty_weights" for d in shares}

    order = sorted(shares)
    counts = split_budget(n_problems, [shares[d] for d in order]) if sum(shares.values()) > 0 else [0] * len(order)
    by = {}
    for d, m in zip(order, counts):
        r = rates.get(d)
        by[d] = {"pass_rate": None if r is None else round(r.rate, 4), "n": 0 if r is None else r.n,
                 "source": None if r is None else r.source, "share": round(shares[d], 4), "problems": m,
                 "reason": reasons[d]}
    return {"policy": cfg.policy, "frontier": frontier, "by_difficulty": by}
