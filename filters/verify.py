"""The verifier filter: every row gets its domain's verdict, and a drop reason when it fails policy."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass

from synthloop.domains import Domain, Problem

# Drop reasons, one per rule, in the order the rules are tried.
REASONS = ("truncated", "wrong_answer", "unparseable_step", "dynamic_step", "static_step")


@dataclass
class VerifyConfig:
    # Keep a row only when every checkable step is right, not just the final answer: a right answer
    # reached through a wrong step teaches the wrong step. False keeps every right answer.
    require_steps_ok: bool = True
    # With require_steps_ok: still keep a right answer whose only fault is a static slip (a local
    # error nothing later depends on). Off by default; turn on to train with static noise.
    accept_static: bool = False


def policy(verdict, cfg: VerifyConfig) -> str | None:
    """The rule that drops a row with this verdict, or None to keep it."""
    if not verdict.correct:
        return "truncated" if verdict.error_kind == "truncated" else "wrong_answer"
    if not cfg.require_steps_ok or verdict.steps_ok:
        return None
    if verdict.error_kind == "static":
        return None if cfg.accept_static else "static_step"
    return "unparseable_step" if verdict.error_kind == "unparseable" else "dynamic_step"


def verify_rows(
    rows: list[dict], domains: Mapping[str, Domain], problems: Mapping[str, Problem], cfg: VerifyConfig
) -> Counter:
    """Fill each row's verdict fields in place; return the count of rows dropped per rule."""
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
        reason = policy(v, cfg)
        row["kept"] = reason is None
        row["drop_reason"] = reason
        if reason:
            drops[reason] += 1
    return drops
