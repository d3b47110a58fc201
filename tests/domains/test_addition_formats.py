"""Every addition prompt format: reference solutions verify, and each verifier tells a right
solution, a static slip and a dynamic slip apart."""

import random

import pytest
from synthloop.domains import Addition, Problem
from synthloop.domains.addition import FORMATS, read_columns, write_prompt
from synthloop.domains.noise import corrupt_line, corrupt_step


@pytest.mark.parametrize("fmt", FORMATS)
def test_prompts_read_back_and_reference_solutions_verify(fmt):
    d = Addition(format=fmt)
    for p in d.make_problems(300, seed=1, difficulties=[1, 2, 3, 4, 5, 9]):
        ra, rb = read_columns(p.prompt, fmt)
        assert int(ra[::-1]) + int(rb[::-1]) == int(p.answer) == p.meta["a"] + p.meta["b"]
        offset = "abcdefghijklmnopqrstuvwxyz".index(p.prompt[0]) if fmt in ("hints", "zip") else 0
        assert p.prompt == write_prompt(p.meta["a"], p.meta["b"], fmt, offset)
        assert max(len(str(p.meta["a"])), len(str(p.meta["b"]))) == p.difficulty
        v = d.verify(p, d.solution(p))
        assert v.correct and v.steps_ok and v.error_kind == "none", (p, d.solution(p))


@pytest.mark.parametrize("fmt", FORMATS)
def test_right_static_and_dynamic_slips_in_every_format(fmt):
    d = Addition(format=fmt)
    p = Problem("x", "addition", 3, write_prompt(457, 68, fmt, offset=10), "525")
    k, l, m = ("k", "l", "m") if fmt in ("hints", "zip") else ("", "", "")
    ans = (lambda t: "".join(c + x for c, x in zip("klm", t))) if fmt == "zip" else (lambda t: t)
    assert d.solution(p) == f"{k}7+8+0=15\n{l}5+6+1=12\n{m}4+0+1=5\n>{ans('525')}"
    assert d.verify(p, d.solution(p)).error_kind == "none"
    # static: the middle column's sum is wrong, but the carry and the answer go on right
    v = d.verify(p, f"{k}7+8+0=15\n{l}5+6+1=13\n{m}4+0+1=5\n>{ans('525')}")
    assert (v.correct, v.steps_ok, v.first_bad_step, v.error_kind) == (True, False, 1, "static")
    # dynamic: a wrong carry out of column 0 is used by column 1 and reaches the answer
    v = d.verify(p, f"{k}7+8+0=5\n{l}5+6+0=11\n{m}4+0+1=5\n>{ans('515')}")
    assert (v.correct, v.first_bad_step, v.error_kind) == (False, 0, "dynamic")
    # the noise generators (domains/noise.py) read the operands through the same format
    for i in range(3):
        assert d.verify(p, corrupt_line(d.solution(p), i, random.Random(i))).error_kind == "static"
        text = corrupt_step(d, p, i, random.Random(i))
        assert text is None or d.verify(p, text).error_kind == "dynamic"


def test_a_prompt_in_another_format_does_not_verify():
    # '754+86=' read as msd is 754 + 86 = 840, not 525: a model answering the reversed problem fails
    p = Problem("x", "addition", 3, "754+86=", "525")
    assert Addition(format="reversed").verify(p, "7+8+0=15\n5+6+1=12\n4+0+1=5\n>525").correct
    assert not Addition(format="msd").verify(p, "7+8+0=15\n5+6+1=12\n4+0+1=5\n>525").steps_ok
    assert read_columns("b7a5+a1=", "hints") is None and read_columns("754+86=", "hints") is None
    assert read_columns("k7l5+l1=", "hints") is None  # b's letters must start where a's do
    # hints: a step line with the wrong column letter is a wrong step, even with the right sums
    d = Addition(format="hints")
    p = Problem("x", "addition", 2, "c7d5+c8=", "65")
    assert d.verify(p, "c7+8+0=15\nd5+0+1=6\n>56").error_kind == "none"
    assert d.verify(p, "c7+8+0=15\ne5+0+1=6\n>56").steps_ok is False
    assert d.verify(p, "7+8+0=15\n5+0+1=6\n>56").steps_ok is False
    # zip: the letters of the columns, the steps and the answer must all line up
    z = Addition(format="zip")
    assert read_columns("k78m56=", "zip") is None  # a letter skipped
    p = Problem("x", "addition", 2, "c78d50=", "65")
    assert z.verify(p, "c7+8+0=15\nd5+0+1=6\n>c5d6").error_kind == "none"
    assert z.verify(p, "c7+8+0=15\nd5+0+1=6\n>56").extracted is None  # the answer without its letters
    assert z.verify(p, "c7+8+0=15\nd5+0+1=6\n>c5e6").extracted is None
    assert z.verify(p, "c7+8+0=15\ne5+0+1=6\n>c5d6").steps_ok is False
    with pytest.raises(ValueError, match="format"):
        Addition(format="lsd")
