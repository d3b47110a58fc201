"""The answer checkers against a careful grader's verdicts (tests/domains/checker_cases.py), and
hostile input that must never make a checker raise or hang."""

import time

import pytest
from synthloop.domains.checkers import Checker
from synthloop.domains.file import verify_answer

from .checker_cases import ANNOTATED, CASES


def checker(kind: str) -> Checker:
    if kind in ("####", "A:", "boxed"):
        return Checker("pattern", pattern=kind)
    return Checker(kind)


@pytest.mark.parametrize("kind, reference, completion, verdict", CASES)
def test_a_careful_graders_verdict(kind, reference, completion, verdict):
    t0 = time.monotonic()
    assert checker(kind).check(reference, completion)[0] is verdict
    assert time.monotonic() - t0 < 30  # nothing hangs (math-verify runs without its own time-outs)


@pytest.mark.parametrize("reference, completion, correct, steps_ok", ANNOTATED)
def test_annotations_never_raise(reference, completion, correct, steps_ok):
    v = verify_answer(Checker("pattern", pattern="####"), reference, completion)
    assert (v.correct, v.steps_ok) == (correct, steps_ok)


HOSTILE = [None, 42, "", "\x00" * 100, "\ud800\udfff", "{" * 50_000, "\\boxed{" * 10_000, "#### " * 20_000,
           "<<" * 10_000, "<<1=1>>" * 5_000, "9" * 100_000 + "/0", "1e99999", "-" * 10_000 + "1",
           "\\frac{1}{0}", "#### 1/0", "1/0", "$" * 1000, "answer is " * 5000]


@pytest.mark.parametrize("kind", ["exact", "numeric", "####", "A:", "boxed", "math"])
@pytest.mark.parametrize("text", HOSTILE, ids=range(len(HOSTILE)))
def test_hostile_completions_never_raise(kind, text):
    ok, got = checker(kind).check("42", text)
    assert ok is False and (got is None or isinstance(got, str))
    if isinstance(text, str):
        verify_answer(checker(kind), "42", text)
