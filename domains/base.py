"""What every domain shares: a problem, a verdict, and the small interface a domain implements.

A domain is pure: it makes problems from a seed, writes a worked solution for the seed set, and
verifies a completion. It imports nothing else from synthloop.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

# error_kind values, in the vocabulary of the noise literature:
#   none        every step checks and the final answer is right
#   static      a local slip that later steps do not depend on (the answer can still be right)
#   dynamic     an error that propagates into later steps (the answer is then usually wrong)
#   unparseable the completion does not follow the solution format
#   truncated   the completion stops before a final answer
#   wrong_answer steps could not be checked (or all checked) but the final answer is wrong
#   timeout     the answer check ran past its time limit (the math checker): counted as wrong
# checker_error: the checker raised on this completion (a bug in it); the row is dropped, the round goes on.
ERROR_KINDS = ("none", "static", "dynamic", "unparseable", "truncated", "wrong_answer", "timeout", "checker_error")


@dataclass(frozen=True)
class Problem:
    """One verifiable problem. `answer` is the reference final answer as a string."""

    id: str
    domain: str
    difficulty: int
    prompt: str
    answer: str
    meta: dict = field(default_factory=dict, compare=False, hash=False)


@dataclass(frozen=True)
class Verdict:
    """What a verifier says about one completion."""

    correct: bool  # final answer right
    extracted: str | None  # the final answer read from the completion, if any
    steps_ok: bool  # every checkable step is right
    first_bad_step: int | None  # 0-based index of the first wrong step, None when all are right
    error_kind: str  # one of ERROR_KINDS
    n_steps: int = 0


class Domain(Protocol):
    """A verifiable problem family."""

    name: str

    def knobs(self) -> dict:
        """The difficulty knobs with their ranges, for `synthloop domains`."""

    def make_problems(self, n: int, seed: int, difficulties: list[int]) -> list[Problem]:
        """`n` problems drawn with `seed`, difficulty drawn uniformly from `difficulties`.

        A domain with a fixed pool of problems (the file domain) draws only from its training
        split here and also has `heldout_problems(n, seed, difficulties)`, drawing only from
        the held-out split; `training.evaluate.heldout_problems` uses it when present."""

    def solution(self, problem: Problem, variant: int = 0) -> str:
        """A worked, correct completion for `problem` (the text after the prompt)."""

    def verify(self, problem: Problem, completion: str) -> Verdict:
        """Check the final answer and every step of `completion`."""
