"""Injected noise is classified right by the verifiers, on thousands of generated cases."""

import random
from collections import Counter

import pytest
from synthloop.domains import get_domain
from synthloop.domains.chain import split_completion
from synthloop.domains.noise import dynamic_noise, flip_digit_in_line, static_noise

ALGO = ["addition", "mul", "sort", "median", "gcd", "base"]


@pytest.mark.parametrize("name", ALGO)
def test_static_and_dynamic_noise_are_told_apart(name):
    d = get_domain(name)
    rng = random.Random(7)
    seen = Counter()
    for k, p in enumerate(d.make_problems(600, seed=11, difficulties=[2, 3, 4])):
        sol = d.solution(p, variant=k)
        if not split_completion(sol)[0]:
            continue
        text, hit = static_noise(sol, rate=1 / len(split_completion(sol)[0]), rng=rng)
        v = d.verify(p, text)
        # Exactly one hit, so the expected verdict is known ("none": the damage formed another valid path).
        if len(hit) == 1 and v.error_kind != "none":
            seen["static"] += 1
            assert v.correct and v.error_kind == "static" and v.first_bad_step >= hit[0], (sol, text, v)
            if len(split_completion(text)[0]) == len(split_completion(sol)[0]):
                assert v.first_bad_step == hit[0]  # a flip (not a drop) is caught where it is
        text, hit = dynamic_noise(d, p, rate=0.3, rng=rng, variant=k)
        if hit:
            v = d.verify(p, text)
            seen["dynamic"] += 1
            assert not v.correct and v.error_kind == "dynamic" and v.first_bad_step == hit[0], (text, v)
    assert seen["static"] > 150 and seen["dynamic"] > 250, seen


def test_rate_sets_how_many_lines_are_hit():
    rng = random.Random(0)
    sol = "\n".join(f"{i},{i + 1}" for i in range(10, 1010)) + "\n>1"
    assert static_noise(sol, 0.0, rng)[1] == []
    assert 150 < len(static_noise(sol, 0.2, rng)[1]) < 250
    assert len(static_noise(sol, 1.0, rng)[1]) == 1000


def test_digit_flip_never_adds_a_leading_zero():
    rng = random.Random(1)
    for _ in range(2000):
        out = flip_digit_in_line("17 2 305", rng)
        assert out != "17 2 305" and all(not (len(t) > 1 and t[0] == "0") for t in out.split())
    assert flip_digit_in_line("no digits", rng) is None
