"""The gate's paired interval: a gain beyond noise is promoted, noise is not (with require_gain),
and a real drop is rejected whatever the accuracy tolerance."""

from synthloop.training.gate import GateConfig, gate, paired_gain


def _evals(old_right: int, new_right: int, n: int = 400, shared: int | None = None):
    """Per-problem verdicts: the incumbent right on the first `old_right`, the candidate on the
    first `new_right` (so every candidate win is a problem the incumbent missed, and vice versa)."""
    old = {f"p{i}": int(i < old_right) for i in range(n)}
    new = {f"p{i}": int(i < new_right) for i in range(n)}
    mk = lambda pp: {"accuracy": sum(pp.values()) / n, "pass_at_k": 0.5, "per_problem": pp}
    return mk(new), mk(old)


def test_a_real_gain_is_promoted_and_noise_is_not():
    strict = GateConfig(require_gain=True)
    new, old = _evals(old_right=47, new_right=223)  # 11.7% -> 55.8% on 400 problems
    ok, why = gate(new, old, strict)
    assert ok and "95% CI" in why and "400 problems" in why
    g = paired_gain(new["per_problem"], old["per_problem"])
    assert g.wins == 176 and g.losses == 0 and 0.39 < g.low < g.mean < g.high
    new, old = _evals(old_right=200, new_right=204)  # +1 point: within noise
    ok, why = gate(new, old, strict)
    assert not ok and "no gain beyond noise" in why
    assert gate(new, old, GateConfig())[0]  # the default (no regression) promotes it


def test_a_real_drop_is_rejected_even_within_the_accuracy_tolerance():
    # 12 problems lost, none won, on 2,000: -0.6 points (inside max_accuracy_drop 0.02), but every
    # discordant pair goes against the candidate: the whole interval is below 0.
    new, old = _evals(old_right=1000, new_right=988, n=2000)
    ok, why = gate(new, old, GateConfig(max_accuracy_drop=0.02))
    assert not ok and "real drop" in why


def test_without_per_problem_results_the_gate_falls_back_and_require_gain_refuses():
    new = {"accuracy": 0.7, "pass_at_k": 0.8}
    old = {"accuracy": 0.6, "pass_at_k": 0.8}
    assert gate(new, old, GateConfig())[0]
    ok, why = gate(new, old, GateConfig(require_gain=True))
    assert not ok and "per-problem" in why
