"""The verifier filter: every row gets its domain's verdict, and a drop reason when it fails policy."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass

from synthloop.domains import Domain, Problem


@dataclass
class VerifyConfig:
    # Keep a row only when every checkable step is right, not just the final answer: a right answer
    # reached through a wrong step teaches the wrong step.
    require_steps_ok: bool = True


def verify_rows(
    rows: list[dict], domains: Mapping[str, Domain], problems: Mapping[str, Problem], cfg: VerifyConfig
) -> Counter:
    """Fill each row's verdict fields in place; return the count of rows dropped per reason."""
    drops: Counter = Counter()
    for row in rows:
        problem = problems[row["problem_id"]]
        v = domains[problem.domain].verify(problem, row["completion"])
        row.update(
            extracted=v.extracted,
            correct=v.correct,
            steps_ok=v.steps_ok,
            first_bad_step=v.first_bad_step,
            error_kind=v.error_kind,
        )
        reason = None
        if not v.correct:
            reason = "truncated" if v.error_kind == "truncated" else "wrong_answer"
        elif cfg.require_steps_ok and not v.steps_ok:
            reason = "bad_steps"
        row["kept"] = reason is None
        row["drop_reason"] = reason
        if reason:
            drops[reason] += 1
    return drops
