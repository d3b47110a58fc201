"""The regression gate: a candidate is promoted only if it is not worse than the last promoted model,
and, with `require_gain`, only if it is better by more than noise.

Both models answer the same held-out problems greedily, so the comparison is paired: per problem
the candidate gains (+1), loses (-1) or ties (0). The 95% interval of the mean of those
differences is far tighter than two independent intervals on the accuracies (the ties, most of the
set, carry no noise), and it is what tells a real gain or a real drop from noise.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

# The standard normal's 97.5% quantile: a two-sided 95% interval is the mean +- Z95 standard errors.
Z95 = 1.959963984540054


@dataclass
class GateConfig:
    # Held-out greedy accuracy may fall this much (noise), no more. A choice, not tuned: a real
    # drop of any size is also rejected by the paired interval (`paired_gain`).
    max_accuracy_drop: float = 0.02
    # pass@k must not collapse: from 8 samples on 200 problems it moves ~0.03 between evaluations
    # of the same model, so 0.05 is above that noise.
    max_pass_at_k_drop: float = 0.05
    # True: promote only when the paired 95% interval of the accuracy gain lies above 0 (a gain
    # that is not noise); a candidate that changes nothing measurable is not promoted. False: promote
    # whatever does not regress (the built-in demo, whose rounds each add a few points).
    require_gain: bool = False


@dataclass(frozen=True)
class PairedGain:
    """The candidate's accuracy gain over the incumbent on the same problems, with its 95% interval."""

    n: int  # problems both models answered
    wins: int  # the candidate right, the incumbent wrong
    losses: int  # the incumbent right, the candidate wrong
    mean: float
    low: float
    high: float

    def __str__(self) -> str:
        return (f"paired gain {100 * self.mean:+.1f} pts, 95% CI [{100 * self.low:+.1f}, {100 * self.high:+.1f}] "
                f"on {self.n} problems ({self.wins} won, {self.losses} lost)")


def paired_gain(new: dict[str, float], old: dict[str, float]) -> PairedGain | None:
    """The paired difference over the problems both per-problem maps hold (None if they share none).

    Only the discordant pairs carry information (McNemar): of the b problems where the two models
    disagree, the candidate wins w. The gain is (w - (b - w)) / n; its interval is the exact
    (Clopper-Pearson) 95% interval of the win share w / b, mapped onto the gain, so that four wins
    and no loss (a sign test's p = 0.125) is not read as a gain, however small its spread looks;
    the normal interval of the mean difference widens it where that is wider.
    With no discordant pair at all the interval is +-3/n (the rule of three), never a point.

    >>> g = paired_gain({"a": 1, "b": 1, "c": 0, "d": 1}, {"a": 0, "b": 1, "c": 0, "d": 0})
    >>> g.wins, g.losses, round(g.mean, 2), g.low < 0 < g.high
    (2, 0, 0.5, True)
    >>> paired_gain({"a": 1}, {"b": 1}) is None
    True
    """
    common = sorted(set(new) & set(old))
    if not common:
        return None
    d = [float(new[k]) - float(old[k]) for k in common]
    n = len(d)
    wins, losses = sum(x > 0 for x in d), sum(x < 0 for x in d)
    mean = sum(d) / n
    b = wins + losses
    if b == 0:
        return PairedGain(n, 0, 0, mean, mean - 3.0 / n, mean + 3.0 / n)  # the rule of three
    lo, hi = clopper_pearson(wins, b)
    # The exact interval takes b as given; the normal one on the mean difference also carries how
    # many problems are discordant. Either can be the wider: the reported interval spans both.
    half = Z95 * math.sqrt(max(sum(x * x for x in d) / n - mean * mean, 0.0) / max(1, n - 1))
    return PairedGain(n, wins, losses, mean, min(b / n * (2 * lo - 1), mean - half),
                      max(b / n * (2 * hi - 1), mean + half))


def clopper_pearson(k: int, n: int, alpha: float = 0.05) -> tuple[float, float]:
    """The exact two-sided (1 - alpha) interval of a binomial proportion k / n.

    >>> [round(x, 3) for x in clopper_pearson(4, 4)], [round(x, 3) for x in clopper_pearson(0, 12)]
    ([0.398, 1.0], [0.0, 0.265])
    """
    lo = 0.0 if k == 0 else _solve(lambda p: _tail_at_least(k, n, p) - alpha / 2)
    hi = 1.0 if k == n else _solve(lambda p: alpha / 2 - _tail_at_most(k, n, p))
    return lo, hi


def _log_pmf(i: int, n: int, p: float) -> float:
    return math.lgamma(n + 1) - math.lgamma(i + 1) - math.lgamma(n - i + 1) + i * math.log(p) + (n - i) * math.log1p(-p)


def _tail_at_least(k: int, n: int, p: float) -> float:
    return min(1.0, sum(math.exp(_log_pmf(i, n, p)) for i in range(k, n + 1)))


def _tail_at_most(k: int, n: int, p: float) -> float:
    return min(1.0, sum(math.exp(_log_pmf(i, n, p)) for i in range(k + 1)))


def _solve(f, lo: float = 1e-12, hi: float = 1 - 1e-12) -> float:
    """The root of an increasing `f` on (0, 1), by bisection (60 halvings: below 1e-15).

    The ends stay 1e-12 inside (0, 1), where `_log_pmf` takes log(p) and log(1 - p)."""
    for _ in range(60):
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if f(mid) < 0 else (lo, mid)
    return (lo + hi) / 2


def gate(new: dict, incumbent: dict, cfg: GateConfig) -> tuple[bool, str]:
    """(promote?, why) comparing held-out metrics of the candidate and the incumbent.

    >>> gate({"accuracy": 0.7, "pass_at_k": 0.8}, {"accuracy": 0.6, "pass_at_k": 0.8}, GateConfig())
    (True, 'accuracy 0.600 -> 0.700, pass@k 0.800 -> 0.800')
    >>> gate({"accuracy": 0.5, "pass_at_k": 0.8}, {"accuracy": 0.6, "pass_at_k": 0.8}, GateConfig())[0]
    False
    """
    da = new["accuracy"] - incumbent["accuracy"]
    dp = new["pass_at_k"] - incumbent["pass_at_k"]
    why = (
        f"accuracy {incumbent['accuracy']:.3f} -> {new['accuracy']:.3f}, "
        f"pass@k {incumbent['pass_at_k']:.3f} -> {new['pass_at_k']:.3f}"
    )
    paired = paired_gain(new.get("per_problem") or {}, incumbent.get("per_problem") or {})
    if paired is not None:
        why += f"; {paired}"
    if da < -cfg.max_accuracy_drop:
        return False, f"rejected: accuracy fell by {-da:.3f} (> {cfg.max_accuracy_drop}); {why}"
    if paired is not None and paired.high < 0:
        return False, f"rejected: a real drop (the whole interval is below 0); {why}"
    if dp < -cfg.max_pass_at_k_drop:
        return False, f"rejected: pass@k fell by {-dp:.3f} (> {cfg.max_pass_at_k_drop}); {why}"
    if cfg.require_gain:
        if paired is None:
            return False, f"rejected: gate.require_gain needs per-problem results of both models; {why}"
        if paired.low <= 0:
            return False, f"rejected: no gain beyond noise (the interval reaches 0); {why}"
    return True, why
