"""The verifier filter: every row gets its domain's verdict, and a drop reason when it fails policy.

A shard goes in as an Arrow table and a new table comes out (`verify_table`): nothing is changed in
place, so the stage can run in any process. `VerifyMetrics` is where its counts are named.
"""

from __future__ import annotations

import json
import logging
import re
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field

import pyarrow as pa
from synthloop.domains import Domain, Problem, Verdict

log = logging.getLogger("synthloop")

# Drop reasons, one per rule, in the order the rules are tried. hint_leak: a rationalized row
# (generators/rationalize.py) whose completion mentions the hint it was given; unreasoned_hint: a
# rationalized row with the right answer and no checkable step (it states the answer it was given).
# truncated: no final answer and the sample hit its token limit; no_answer: no final answer though
# the model ended its reply (SmolLM2's "I'm ready to help. What's your next question?"): raising
# max_new_tokens helps the first, never the second.
REASONS = ("hint_leak", "truncated", "no_answer", "wrong_answer", "unparseable_step", "dynamic_step", "static_step",
           "unreasoned_hint")


@dataclass
class VerifyConfig:
    # Keep a row only when every checkable step is right, not just the final answer: a right answer
    # reached through a wrong step teaches the wrong step. False keeps every right answer.
    require_steps_ok: bool = True
    # With require_steps_ok: still keep a right answer whose only fault is a static slip (a local
    # error nothing later depends on). Off by default; turn on to train with static noise.
    accept_static: bool = False
    # Keep every sample, right or wrong (verdicts are still recorded): no verifier at all, the
    # naive self-training that `synthloop experiment collapse` compares the loop against.
    keep_all: bool = False
    # A rationalized row (answer given as a hint) is kept only with at least one checked step
    # (a worked line, an annotation, or a written equation with the file domain's `equations`)
    # that holds: "The correct answer is 85." restates the hint. Trained on such rows SmolLM2
    # learned to state numbers, not compute them (README "Improve a real model").
    hinted_need_steps: bool = True


def policy(verdict, cfg: VerifyConfig) -> str | None:
    """The rule that drops a row with this verdict, or None to keep it."""
    if verdict.error_kind == "checker_error":
        return "checker_error"  # even under keep_all: no verdict is no training row
    if cfg.keep_all:
        return None
    if not verdict.correct:
        return "truncated" if verdict.error_kind == "truncated" else "wrong_answer"
    if not cfg.require_steps_ok or verdict.steps_ok:
        return None
    if verdict.error_kind == "static":
        return None if cfg.accept_static else "static_step"
    return "unparseable_step" if verdict.error_kind == "unparseable" else "dynamic_step"


def leaks_hint(completion: str, template: str) -> bool:
    """Whether a hinted completion mentions its hint: says "hint", or quotes a sentence of the
    template (4+ words). Trained on, it would teach citing a hint the model never has at test time."""
    text = completion.casefold()
    return "hint" in text or any(s in text for s in _hint_sentences(template))


def _hint_sentences(template: str) -> list[str]:
    """The template's own sentences of 4+ words, the {prompt} and {answer} slots cut out.

    4+: shorter pieces ("the answer is") are phrases an honest solution uses too."""
    parts = re.split(r"\{prompt\}|\{answer\}|[.!?\n]", template.casefold())
    return [s for s in (p.strip(" ()[]:;,'\"") for p in parts) if len(s.split()) >= 4]


def _leaks(table: pa.Table) -> list[bool]:
    """Per row: rationalized and leaking its hint (the template is in the row's sampler settings).
    A table without the `rationalized` column has no such row."""
    if "rationalized" not in table.column_names:
        return [False] * table.num_rows
    cols = (table[c].to_pylist() for c in ("rationalized", "completion", "sampler_settings"))
    return [bool(r) and leaks_hint(c, json.loads(s or "{}").get("hint", "")) for r, c, s in zip(*cols)]


def _hinted(table: pa.Table) -> list[bool]:
    """Per row: sampled with the answer as a hint (the `rationalized` column; absent: none)."""
    if "rationalized" not in table.column_names:
        return [False] * table.num_rows
    return [bool(r) for r in table["rationalized"].to_pylist()]


@dataclass
class VerifyMetrics:
    """What verification found in one or more shards (they add up: `a + b`)."""

    rows: int = 0
    correct: int = 0  # right final answer (whatever the steps)
    kept: int = 0  # passed the policy
    drops: dict[str, int] = field(default_factory=dict)  # rule -> rows it dropped

    def __add__(self, other: VerifyMetrics) -> VerifyMetrics:
        return VerifyMetrics(self.rows + other.rows, self.correct + other.correct, self.kept + other.kept,
                             dict(Counter(self.drops) + Counter(other.drops)))


# The columns verification writes, with the warehouse's types.
VERDICT_TYPES = {
    "extracted": pa.string(), "correct": pa.bool_(), "steps_ok": pa.bool_(), "first_bad_step": pa.int32(),
    "error_kind": pa.string(), "kept": pa.bool_(), "drop_reason": pa.string(),
}


def verify_table(
    table: pa.Table, domains: Mapping[str, Domain], problems: Mapping[str, Problem], cfg: VerifyConfig
) -> tuple[pa.Table, VerifyMetrics]:
    """A new table: `table` with each row's verdict, kept flag and drop reason; and the counts.

    Needs the columns `problem_id` and `completion`; every other column passes through unchanged.
    A rationalized row that leaks its hint is dropped as `hint_leak` whatever its verdict (even
    under `keep_all`: the hint must never reach training).
    """
    out: dict[str, list] = {k: [] for k in VERDICT_TYPES}
    drops: Counter = Counter()
    # Verifiers are pure: a completion repeated for the same problem (common: a model that has
    # learned the task writes the same chain K times) is checked once.
    seen: dict[tuple[str, str], tuple] = {}
    leaks = _leaks(table)
    hinted = _hinted(table)
    # Rows without a finish reason (older shards, hand-made tables) keep the domain's `truncated`.
    ended = [f == "stop" for f in table["finish_reason"].to_pylist()] if "finish_reason" in table.column_names \
        else [False] * table.num_rows
    for pid, completion, leak, hint, stopped in zip(table["problem_id"].to_pylist(), table["completion"].to_pylist(),
                                                    leaks, hinted, ended):
        hit = seen.get((pid, completion))
        if hit is None:
            problem = problems[pid]
            try:
                verdict = domains[problem.domain].verify(problem, completion)
            except Exception as e:  # noqa: BLE001 (a checker's bug on one odd completion must not lose the round)
                verdict = Verdict(False, None, False, None, "checker_error", 0)
                if not drops["checker_error"]:
                    log.warning("checker of %s raised %s: %s on problem %s (%r): the row is dropped as "
                                "checker_error", problem.domain, type(e).__name__, e, pid, completion[-200:])
            hit = seen[(pid, completion)] = (verdict, policy(verdict, cfg))
        v, reason = hit
        reason = "no_answer" if reason == "truncated" and stopped else reason
        reason = "hint_leak" if leak else reason
        if hint and reason is None and cfg.hinted_need_steps and not cfg.keep_all and not v.n_steps:
            reason = "unreasoned_hint"
        for key, value in (("extracted", v.extracted), ("correct", v.correct), ("steps_ok", v.steps_ok),
                           ("first_bad_step", v.first_bad_step), ("error_kind", v.error_kind),
                           ("kept", reason is None), ("drop_reason", reason)):
            out[key].append(value)
        if reason:
            drops[reason] += 1
    for name, typ in VERDICT_TYPES.items():
        table = set_column(table, name, pa.array(out[name], typ))
    n = table.num_rows
    metrics = VerifyMetrics(n, sum(out["correct"]), n - sum(drops.values()), dict(drops))
    return table, metrics


def set_column(table: pa.Table, name: str, values: pa.Array) -> pa.Table:
    """A new table with column `name` replaced (or appended): Arrow tables are never changed."""
    i = table.schema.get_field_index(name)
    if i >= 0:
        return table.set_column(i, pa.field(name, values.type), values)
    return table.append_column(pa.field(name, values.type), values)
