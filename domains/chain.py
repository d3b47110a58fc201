"""Replaying a worked solution line by line: the step checker the algorithmic domains share.

A worked solution is step lines, then one answer line that starts with `>`. A domain describes its
steps with five small functions (see `Steps`); `replay` walks the lines from the problem's start
state and returns a `Verdict`:

- a line that does not parse is `unparseable`;
- a line that is not a valid step from the state so far is the first bad step. It is `static`
  when the rest of the solution (later lines and the answer) is exactly what a right step would
  have led to: the slip stayed local, or one step was silently skipped; otherwise the error
  reached later steps or the answer, and it is `dynamic`;
- no answer line is `truncated`; valid steps with a wrong answer line is `wrong_answer`.

Any valid path is accepted, not only the reference one: validity is a property of each step
(`apply`), never a comparison with a reference text.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from .base import Problem, Verdict

State = Any
Step = Any


@dataclass(frozen=True)
class Steps:
    """How one domain's solutions step. Every function is pure and must never raise."""

    start: Callable[[Problem], State]  # the state the problem states
    parse: Callable[[str], Step | None]  # one line -> a step, or None when it does not parse
    apply: Callable[[State, Step], State | None]  # the state a valid step leads to; None if invalid
    successors: Callable[[State], Iterable[State]]  # plausible right next states (finite)
    final: Callable[[State], str | None]  # the answer a finished state implies; None if unfinished
    read_answer: Callable[[str], str | None]  # the answer line's text (after '>') -> answer, or None
    # completion -> (step lines, answer line's text or None); None: `split_completion`. A domain
    # whose extractor finds the answer line its own way passes that here, so the two never disagree.
    split: Callable[[str], tuple[list[str], str | None]] | None = None


def split_completion(completion: str) -> tuple[list[str], str | None]:
    """(step lines before the answer line, text after '>' on the last answer line, or None).

    >>> split_completion("3 1\\n1 3\\n>1 3\\n")
    (['3 1', '1 3'], '1 3')
    >>> split_completion("3 1")
    (['3 1'], None)
    """
    lines = [ln.strip() for ln in completion.splitlines()]
    lines = [ln for ln in lines if ln]
    for i in range(len(lines) - 1, -1, -1):
        if lines[i].startswith(">"):
            return lines[:i], lines[i][1:].strip()
    return lines, None


def _run(steps: Steps, state: State, parsed: list) -> tuple[int | None, State, bool]:
    """Apply `parsed` from `state`: (index of the first failing line or None, state before it, parsed?)."""
    for j, p in enumerate(parsed):
        if p is None:
            return j, state, False
        nxt = steps.apply(state, p)
        if nxt is None:
            return j, state, True
        state = nxt
    return None, state, True


def _finishes(steps: Steps, state: State, rest: list, answer: str) -> bool:
    """Do the lines `rest`, from `state`, verify and end in `answer`?"""
    bad, end, _ = _run(steps, state, rest)
    return bad is None and steps.final(end) == answer


def _recovers(steps: Steps, state: State, parsed: list, i: int, answer: str) -> bool:
    """Is line i a local slip or a skipped step, with everything after it right?"""
    for s in steps.successors(state):
        # A slip: line i should have been s, and the rest follows from s.
        if _finishes(steps, s, parsed[i + 1 :], answer):
            return True
        # A skipped step: s was left out, and line i is a valid step from s.
        if i < len(parsed) and parsed[i] is not None:
            t = steps.apply(s, parsed[i])
            if t is not None and _finishes(steps, t, parsed[i + 1 :], answer):
                return True
    return False


def replay(steps: Steps, problem: Problem, completion: str) -> Verdict:
    """Check every step and the final answer of `completion` (see the module docstring)."""
    lines, answer_text = (steps.split or split_completion)(completion)
    n = len(lines)
    extracted = steps.read_answer(answer_text) if answer_text is not None else None
    correct = extracted is not None and extracted == problem.answer
    parsed = [steps.parse(ln) for ln in lines]
    bad, state, parses = _run(steps, steps.start(problem), parsed)
    if answer_text is None:
        return Verdict(False, None, False, n if bad is None else bad, "truncated", n)
    if bad is not None:
        if not parses:
            return Verdict(correct, extracted, False, bad, "unparseable", n)
        kind = "static" if correct and _recovers(steps, state, parsed, bad, extracted) else "dynamic"
        return Verdict(correct, extracted, False, bad, kind, n)
    final = steps.final(state)
    if final is not None and final == extracted:
        return Verdict(correct, extracted, True, None, "none" if correct else "wrong_answer", n)
    if final is not None:
        # Every step right, the answer line is not what they lead to.
        return Verdict(correct, extracted, True, None, "wrong_answer", n)
    # The steps stop short of a finished state but an answer is given: a skipped last step (static,
    # when the answer is right) or an answer guessed before the work was done.
    if correct and _recovers(steps, state, parsed, n, extracted):
        return Verdict(True, extracted, False, n, "static", n)
    return Verdict(correct, extracted, False, n, "static" if correct else "wrong_answer", n)


def parse_ints(text: str, sep: str = " ", limit: int = 64) -> tuple[int, ...] | None:
    """Non-negative decimal integers separated by `sep`; None unless all parse. Never raises.

    >>> parse_ints("3 10 7")
    (3, 10, 7)
    >>> parse_ints("3 x") is None
    True
    """
    parts = text.split(sep)
    if not parts or len(parts) > limit:
        return None
    out = []
    for p in parts:
        # isascii first: str.isdigit accepts non-ASCII digits such as '²', which int() rejects.
        if not (p.isascii() and p.isdigit()) or len(p) > 18 or (len(p) > 1 and p[0] == "0"):
            return None
        out.append(int(p))
    return tuple(out)


def read_int(text: str, reverse: bool = False, max_len: int | None = 40) -> str | None:
    """An answer line's non-negative integer, leading zeros dropped; None unless it is all ASCII
    digits (at most `max_len` of them; None: any number). `reverse`: written lowest digit first.
    Never raises.

    >>> read_int(" 0042 "), read_int("0"), read_int("0012", reverse=True), read_int("4x")
    ('42', '0', '2100', None)
    """
    t = text.strip()
    if not (t.isascii() and t.isdigit()) or (max_len is not None and len(t) > max_len):
        return None
    return (t[::-1] if reverse else t).lstrip("0") or "0"


class Replayed:
    """`solution`, `extract` and `verify` for a domain that has `steps` (a `Steps`) and
    `trace(problem, variant) -> (step lines, answer)`: the step-replay domains share them.

    >>> class Count(Replayed):  # count down from the prompt's number to 0
    ...     steps = Steps(start=lambda p: int(p.prompt), parse=lambda ln: int(ln) if ln.isdigit() else None,
    ...                   apply=lambda s, x: x if x == s - 1 else None, successors=lambda s: [s - 1],
    ...                   final=lambda s: "done" if s == 0 else None, read_answer=str.strip)
    ...     def trace(self, problem, variant=0):
    ...         return [str(i) for i in range(int(problem.prompt) - 1, -1, -1)], "done"
    >>> p = Problem("x", "count", 1, "2", "done")
    >>> print(Count().solution(p))
    1
    0
    >done
    >>> Count().extract("1\\n> done"), Count().verify(p, "1\\n0\\n>done").error_kind
    ('done', 'none')
    """

    steps: Steps

    def solution(self, problem: Problem, variant: int = 0) -> str:
        """A worked, correct completion: the reference path `variant`'s step lines, then `>answer`."""
        lines, ans = self.trace(problem, variant)
        return "\n".join([*lines, ">" + ans])

    def extract(self, completion: str) -> str | None:
        """The answer after the last '>', read as the domain's `steps.read_answer` reads it, or
        None. Never raises."""
        text = split_completion(completion)[1]
        return self.steps.read_answer(text) if text is not None else None

    def verify(self, problem: Problem, completion: str) -> Verdict:
        """Replay every step and check the answer (see the module docstring)."""
        return replay(self.steps, problem, completion)
