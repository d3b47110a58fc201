import random
import string

import pytest
from synthloop.domains import Addition, Problem
from synthloop.domains.addition import FORMATS


def test_reference_solutions_verify_and_answers_are_sums():
    d = Addition(format="msd")
    for p in d.make_problems(300, seed=1, difficulties=[1, 2, 3, 4, 5, 6]):
        a, b = (int(x) for x in p.prompt.rstrip("=").split("+"))
        assert p.answer == str(a + b)
        v = d.verify(p, d.solution(p))
        assert v.correct and v.steps_ok and v.error_kind == "none", (p, d.solution(p))


def test_difficulty_is_the_number_of_digits_and_generation_is_seeded():
    d = Addition(format="msd")
    ps = d.make_problems(50, seed=3, difficulties=[4])
    assert all(max(len(x) for x in p.prompt.rstrip("=").split("+")) == 4 for p in ps)
    assert ps == d.make_problems(50, seed=3, difficulties=[4])
    assert ps != d.make_problems(50, seed=4, difficulties=[4])


def test_every_step_is_checked():
    d = Addition(format="msd")
    p = Problem("x", "addition", 3, "457+68=", "525")
    good = d.solution(p).splitlines()
    # Wrong digit sum in step 1, the lines after it and the answer as the right step leads to: static.
    bad = good.copy()
    bad[1] = "5+6+1=13"
    v = d.verify(p, "\n".join(bad))
    assert not v.steps_ok and v.first_bad_step == 1 and v.error_kind == "static" and v.correct
    # A wrong carry out of step 0 that step 1 does not use (it adds the true carry 1): still static,
    # nothing later depends on the slip.
    bad = good.copy()
    bad[0] = "7+8+0=5"
    v = d.verify(p, "\n".join(bad))
    assert (v.first_bad_step, v.error_kind, v.correct) == (0, "static", True)
    # The same slip when step 1 goes on from the wrong carry: it propagates, dynamic.
    v = d.verify(p, "7+8+0=5\n5+6+0=11\n4+0+1=5\n>515")
    assert (v.first_bad_step, v.error_kind, v.correct) == (0, "dynamic", False)
    # A wrong digit with the right carry out, but the wrong digit reaches the answer line: dynamic.
    v = d.verify(p, "7+8+0=13\n5+6+1=12\n4+0+1=5\n>325")
    assert (v.first_bad_step, v.error_kind) == (0, "dynamic")
    # A right answer reached through a wrong step is correct but not steps_ok.
    bad = good.copy()
    bad[2] = "4+0+1=5x"
    v = d.verify(p, "\n".join(bad))
    assert v.correct and not v.steps_ok and v.error_kind == "unparseable"


def test_a_dropped_column_is_a_static_slip_not_a_truncation():
    d = Addition(format="msd")
    p = Problem("x", "addition", 3, "457+68=", "525")
    # Column 1 left out: caught where the next line no longer follows, and static.
    v = d.verify(p, "7+8+0=15\n4+0+1=5\n>525")
    assert (v.correct, v.steps_ok, v.first_bad_step, v.error_kind) == (True, False, 1, "static")
    # The last column left out: the steps stop short, the answer is still the right one.
    v = d.verify(p, "7+8+0=15\n5+6+1=12\n>525")
    assert (v.first_bad_step, v.error_kind) == (2, "static")
    # Stopping short with a wrong answer is not static.
    assert d.verify(p, "7+8+0=15\n5+6+1=12\n>52").error_kind == "wrong_answer"


def test_verify_reads_the_answer_exactly_where_extract_does():
    d = Addition(format="msd")
    p = Problem("x", "addition", 2, "19+3=", "22")
    for text in ["9+3+0=12\n1+0+1=2\n>22", "9+3+0=12\n1+0+1=2\n >22", "9+3+0=12\n>2\n1+0+1=2\n>22 ",
                 "9+3+0=12\n1+0+1=2\n>22\n>x", "9+3+0=12\n1+0+1=2\n>٢٢", "9+3+0=12\r\n1+0+1=2\r\n>220"]:
        assert d.verify(p, text).extracted == d.extract(text), text
    assert d.verify(p, "9+3+0=12\n1+0+1=2\n >22").error_kind == "truncated"  # no line starts with '>'
    # Text after the answer line, or a second answer line, is not a clean solution.
    v = d.verify(p, "9+3+0=12\n1+0+1=2\n>22\n1+0+1=2")
    assert (v.correct, v.steps_ok, v.first_bad_step, v.error_kind) == (True, False, 2, "dynamic")
    assert d.verify(p, "9+3+0=12\n1+0+1=2\n>22\nthanks").error_kind == "unparseable"
    assert d.verify(p, "9+3+0=12\n>2\n1+0+1=2\n>22").first_bad_step == 1
    # only ASCII digits are digits in a step
    assert d.verify(p, "٩+3+0=12\n1+0+1=2\n>22").error_kind == "unparseable"


def test_truncated_and_wrong_answers():
    d = Addition(format="msd")
    p = Problem("x", "addition", 2, "19+3=", "22")
    assert d.verify(p, "9+3+0=12").error_kind == "truncated"
    v = d.verify(p, "9+3+0=12\n1+0+1=2\n>23")
    assert not v.correct and v.extracted == "32" and (v.steps_ok, v.error_kind) == (True, "wrong_answer")


@pytest.mark.parametrize("fmt", FORMATS)
def test_extractor_never_raises(fmt):
    d, rng = Addition(format=fmt), random.Random(0)
    alphabet = "0123456789+=>\n\x00é€ \tabz"
    for _ in range(2000):
        text = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 40)))
        out = d.extract(text)
        assert out is None or out.isdigit()
    big = ">" + ("".join(c + "9" for c in string.ascii_lowercase) if fmt == "zip" else "9" * 10_000)
    assert d.extract(big) == "9" * (26 if fmt == "zip" else 10_000)
