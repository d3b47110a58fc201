"""The verifier audit: a sample of each round's rows judged again by a second, independent judge.

The verifier's answer verdict (`correct`) is what decides a row; a lenient checker (a bug, or a
model that learned to game it) lets wrong rows into training, and that is amplified every round.
The second judge shares no code with the first where it matters:
- a built-in domain: the answer computed from the problem's operands by plain arithmetic
  (`a + b`, `sorted(xs)`, ...), not by the domain's step replay nor its stored reference, compared
  with the answer the verifier read from the completion;
- a file domain: another checker against the file's reference answer (the row's label): `math`
  (math-verify) when the run checks with `exact`, `numeric` or `pattern`, `numeric` when it checks
  with `math`.
Rows are drawn by a hash of their id (`fraction` of them, the same ones in any process). Kept rows
the judge finds wrong estimate the false-accept rate; rows dropped for a wrong answer that it finds
right, the false-reject rate. Rows dropped for a step (their answer was right) are not re-judged:
the second judge reads answers only. `loop/audit.py` turns the counts into rates with intervals
and alerts.

>>> from synthloop.domains import Problem
>>> plain_answer(Problem("x", "sort", 2, "sort 97 53 5=", "5 53 97", {"xs": [97, 53, 5]}))
'5 53 97'
>>> plain_answer(Problem("x", "base", 2, "44 to base 2=", "101100", {"n": 44, "base": 2}))
'101100'
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

import pyarrow as pa
import xxhash
from synthloop.domains import Domain, Problem
from synthloop.domains.checkers import Checker

# A second checker for each file-domain checker: one that reads answers another way.
OTHER_CHECKER = {"exact": "math", "numeric": "math", "pattern": "math", "math": "numeric"}


@dataclass
class AuditConfig:
    enabled: bool = True
    # Share of each round's rows re-judged. 0.2 of a 1e4-row round is 2,000 rows: a false-accept
    # rate near 2% is then known to about +-1 point (95%); a tiny run audits a handful.
    fraction: float = 0.2
    # An alert when the 95% interval's low end of the false-accept rate is above this: a verified
    # dataset is meant to be at least 98% right (a choice; the README's audit measures the checkers).
    max_false_accept: float = 0.02
    # The same for false rejects, looser: a false reject costs yield, not correctness, and a second
    # checker reads some formats the first refuses on purpose (pattern wants its marker).
    max_false_reject: float = 0.10
    # No alert from fewer re-judged rows than this on a side: a disagreement or two in a handful
    # of rows says little about a checker (the rates are still recorded).
    min_rows: int = 30
    seed: int = 0  # which rows are drawn

    def __post_init__(self):
        if not 0.0 <= self.fraction <= 1.0:
            raise ValueError(f"audit.fraction must be in [0, 1], got {self.fraction}")
        for key in ("max_false_accept", "max_false_reject"):
            if not 0.0 <= getattr(self, key) < 1.0:
                raise ValueError(f"audit.{key} must be in [0, 1), got {getattr(self, key)}")
        if not isinstance(self.min_rows, int) or self.min_rows < 1:
            raise ValueError(f"audit.min_rows must be an integer >= 1, got {self.min_rows!r}")


@dataclass
class AuditCounts:
    """Re-judged rows of one or more shards (they add up): kept rows the second judge found wrong
    (false accepts), answer-dropped rows it found right (false rejects), rows it could not judge."""

    kept: int = 0
    false_accepts: int = 0
    rejected: int = 0
    false_rejects: int = 0
    unjudged: int = 0
    examples: tuple[dict, ...] = ()  # a few disagreements, for the report

    def __add__(self, other: AuditCounts) -> AuditCounts:
        return AuditCounts(self.kept + other.kept, self.false_accepts + other.false_accepts,
                           self.rejected + other.rejected, self.false_rejects + other.false_rejects,
                           self.unjudged + other.unjudged, (self.examples + other.examples)[:MAX_EXAMPLES])


MAX_EXAMPLES = 5  # disagreements kept for the report


def plain_answer(problem: Problem) -> str | None:
    """The answer of a built-in problem from its operands by plain arithmetic, written as the
    domain writes answers; None when the problem carries no operands (or is not built in)."""
    m, d = problem.meta, problem.domain
    try:
        if d == "addition":
            return str(int(m["a"]) + int(m["b"]))
        if d == "mul":
            return str(int(m["a"]) * int(m["b"]))
        if d == "sort":
            return " ".join(str(x) for x in sorted(int(x) for x in m["xs"]))
        if d == "median":
            xs = sorted(int(x) for x in m["xs"])
            return str(xs[len(xs) // 2]) if len(xs) % 2 else None  # the domain draws odd lengths
        if d == "gcd":
            return str(math.gcd(int(m["a"]), int(m["b"])))
        if d == "base":
            n, base, digits = int(m["n"]), int(m["base"]), ""
            while n:
                n, r = divmod(n, base)
                digits = "0123456789"[r] + digits
            return digits or "0"
    except (KeyError, TypeError, ValueError):
        return None
    return None


def second_judge(domain: Domain, problem: Problem, completion: str, extracted: str | None) -> bool | None:
    """The second judge's verdict on a completion's answer: right, wrong, or None (cannot judge)."""
    checker = getattr(domain, "checker", None)
    if isinstance(checker, Checker):  # a file domain: another checker against the row's label
        other = Checker(OTHER_CHECKER[checker.kind], tolerance=checker.tolerance, time_limit=checker.time_limit)
        return other.check(problem.answer, completion or "")[0]
    truth = plain_answer(problem)
    if truth is None:
        return None
    return extracted is not None and " ".join(extracted.split()) == truth


def drawn(row_id: str, cfg: AuditConfig) -> bool:
    """Whether a row is in the audit's sample: a hash of its id under `fraction`."""
    return xxhash.xxh64_intdigest(row_id.encode("utf-8", "surrogatepass"), seed=cfg.seed) < cfg.fraction * 2**64


def audit_table(table: pa.Table, domains: Mapping[str, Domain], problems: Mapping[str, Problem],
                cfg: AuditConfig) -> AuditCounts:
    """The second judge on the drawn rows of a verified shard (columns row_id, problem_id,
    completion, extracted, correct, kept)."""
    out = AuditCounts()
    if not cfg.enabled or cfg.fraction == 0:
        return out
    examples = []
    cols = (table[c].to_pylist() for c in ("row_id", "problem_id", "completion", "extracted", "correct", "kept"))
    for row_id, pid, completion, extracted, correct, kept in zip(*cols):
        side = "kept" if kept else "rejected" if correct is False else None
        if side is None or not drawn(row_id, cfg):
            continue
        p = problems[pid]
        judged = second_judge(domains[p.domain], p, completion, extracted)
        if judged is None:
            out.unjudged += 1
            continue
        if side == "kept":
            out.kept += 1
            out.false_accepts += not judged
        else:
            out.rejected += 1
            out.false_rejects += judged
        if judged != (side == "kept") and len(examples) < MAX_EXAMPLES:
            examples.append({"row_id": row_id, "verifier": "right" if side == "kept" else "wrong",
                             "judge": "right" if judged else "wrong", "prompt": p.prompt[:200],
                             "reference": p.answer, "extracted": extracted, "completion": (completion or "")[-300:]})
    out.examples = tuple(examples)
    return out
