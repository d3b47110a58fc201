"""The audit's rates (filters/audit.py re-judges the rows): false-accept and false-reject rates with
95% Wilson intervals, and an `Alert` when one is above its limit beyond doubt (the interval's low
end, on at least `min_rows` re-judged rows)."""

from __future__ import annotations

from synthloop.filters.alerts import Alert
from synthloop.filters.audit import AuditConfig, AuditCounts
from synthloop.training.evaluate import wilson


def audit_record(c: AuditCounts) -> dict:
    """The round's audit as the catalog keeps it.

    >>> r = audit_record(AuditCounts(kept=50, false_accepts=5, rejected=10, false_rejects=0))
    >>> r["false_accept_rate"], [round(x, 3) for x in r["false_accept_ci"]]
    (0.1, [0.043, 0.214])
    """
    out = {"kept_judged": c.kept, "false_accepts": c.false_accepts, "rejected_judged": c.rejected,
           "false_rejects": c.false_rejects, "unjudged": c.unjudged, "examples": list(c.examples)}
    for name, k, n in (("false_accept", c.false_accepts, c.kept), ("false_reject", c.false_rejects, c.rejected)):
        out[f"{name}_rate"] = k / n if n else None
        out[f"{name}_ci"] = list(wilson(k, n)) if n else None
    return out


def audit_alerts(record: dict, cfg: AuditConfig) -> list[Alert]:
    """An alert per rate whose 95% interval lies wholly above its limit (on enough rows).

    >>> cfg = AuditConfig(min_rows=30)
    >>> [a.metric for a in audit_alerts(audit_record(AuditCounts(kept=50, false_accepts=5)), cfg)]
    ['false_accept_rate']
    >>> audit_alerts(audit_record(AuditCounts(kept=50, false_accepts=1)), cfg)
    []
    """
    out = []
    for name, n_key, limit, what in (
        ("false_accept", "kept_judged", cfg.max_false_accept, "kept rows the second judge finds wrong"),
        ("false_reject", "rejected_judged", cfg.max_false_reject, "rows dropped as wrong that it finds right"),
    ):
        n, rate, ci = record[n_key], record[f"{name}_rate"], record[f"{name}_ci"]
        if n < cfg.min_rows or rate is None or ci[0] <= limit:
            continue
        k = record["false_accepts" if name == "false_accept" else "false_rejects"]
        cause = "a lenient checker or a gamed verifier" if name == "false_accept" else "a strict or broken checker"
        out.append(Alert(
            "audit", f"{name}_rate", None, rate, None, None,
            f"verifier audit: {name.replace('_', '-')} rate {rate:.1%} [{ci[0]:.1%}, {ci[1]:.1%}] ({k} of {n} "
            f"{what}), above the {limit:.0%} allowed: {cause}?",
            rows_after=n, low=ci[0], high=ci[1]))
    return out


def audit_line(round: int, record: dict) -> str:
    """The log's line: 'round 2: audit: false-accept 0.0% [0.0%, 7.0%] of 51 kept, ...'."""
    def part(name: str, n_key: str, what: str) -> str:
        rate, ci = record[f"{name}_rate"], record[f"{name}_ci"]
        return f"{name.replace('_', '-')} -" if rate is None else \
            f"{name.replace('_', '-')} {rate:.1%} [{ci[0]:.1%}, {ci[1]:.1%}] of {record[n_key]} {what}"
    return (f"round {round}: verifier audit: {part('false_accept', 'kept_judged', 'kept')}, "
            f"{part('false_reject', 'rejected_judged', 'dropped')} ({record['unjudged']} not judgeable)")
