"""The regression gate: a new model is promoted only if it is not worse than the last promoted one."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class GateConfig:
    max_accuracy_drop: float = 0.02  # held-out greedy accuracy may fall this much (noise), no more
    max_pass_at_k_drop: float = 0.05  # pass@k must not collapse (from 8 samples on 200 problems it moves ~0.03)


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
    if da < -cfg.max_accuracy_drop:
        return False, f"rejected: accuracy fell by {-da:.3f} (> {cfg.max_accuracy_drop}); {why}"
    if dp < -cfg.max_pass_at_k_drop:
        return False, f"rejected: pass@k fell by {-dp:.3f} (> {cfg.max_pass_at_k_drop}); {why}"
    return True, why
