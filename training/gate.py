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

Z95 = 1.959963984540054  # two-sided 95% normal quantile


@dataclass
class GateConfig:
    max_accuracy_drop: float = 0.02  # held-out greedy accuracy may fall this much (noise), no more
    max_pass_at_k_drop: float = 0.05  # pass@k must not collapse (from 8 samples on 200 problems it moves ~0.03)
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

    The interval is the normal one on the mean difference, its variance from the discordant pairs
    (McNemar's view: ties carry no information); with no discordant pair it is [0, 0] widened by
    the rule of three, so zero wins out of n is never read as certainty.

    >>> g = paired_gain({"a": 1, "b": 1, "c": 0, "d": 1}, {"a": 0, "b": 1, "c": 0, "d": 0})
    >>> g.wins, g.losses, round(g.mean, 2)
    (2, 0, 0.5)
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
    var = (sum(x * x for x in d) / n - mean * mean) * n / max(1, n - 1)
    half = Z95 * math.sqrt(max(var, 0.0) / n) if wins + losses else 3.0 / n
    return PairedGain(n, wins, losses, mean, mean - half, mean + half)


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
