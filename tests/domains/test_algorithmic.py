"""Property tests on every algorithmic domain: references verify, single-step corruptions are caught
and classified, extractors never raise, and several valid paths are accepted."""

import random

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from synthloop.domains import DOMAINS, PATHS, Problem, get_domain
from synthloop.domains.chain import _run, split_completion
from synthloop.domains.noise import corrupt_line, corrupt_step

ALGO = [n for n in DOMAINS if n != "file"]
FAST = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _problem(name, seed, diff):
    return get_domain(name).make_problems(1, seed=seed, difficulties=[diff])[0]


@pytest.mark.parametrize("name", ALGO)
@FAST
@given(seed=st.integers(0, 10**6), diff=st.integers(1, 4), variant=st.integers(0, 7))
def test_every_reference_path_verifies(name, seed, diff, variant):
    d = get_domain(name)
    p = _problem(name, seed, diff)
    sol = d.solution(p, variant=variant)
    v = d.verify(p, sol)
    assert (v.correct, v.steps_ok, v.error_kind, v.first_bad_step) == (True, True, "none", None), sol
    assert sol.isascii() and v.extracted == p.answer


@pytest.mark.parametrize("name", ALGO)
def test_generation_is_seeded_and_difficulty_is_a_size(name):
    d = get_domain(name)
    a = d.make_problems(30, seed=5, difficulties=[1, 2, 3])
    assert a == d.make_problems(30, seed=5, difficulties=[1, 2, 3]) != d.make_problems(30, seed=6, difficulties=[1, 2, 3])
    small = sum(len(p.prompt) for p in d.make_problems(50, seed=1, difficulties=[1]))
    big = sum(len(p.prompt) for p in d.make_problems(50, seed=1, difficulties=[4]))
    assert big > small


def _bad_flip_is_still_valid(d, p, sol, text, i):
    """A flipped line that is itself a valid step is another path, not a corruption."""
    lines = split_completion(sol)[0]
    _, state, _ = _run(d.steps, d.steps.start(p), [d.steps.parse(ln) for ln in lines[:i]])
    step = d.steps.parse(split_completion(text)[0][i])
    return step is not None and d.steps.apply(state, step) is not None


@pytest.mark.parametrize("name", ALGO)
@FAST
@given(seed=st.integers(0, 10**6), diff=st.integers(1, 4), variant=st.integers(0, 7), noise_seed=st.integers(0, 2**32))
def test_every_single_step_corruption_is_caught_and_classified(name, seed, diff, variant, noise_seed):
    # (a seeded Random, not st.randoms(): torch's flush-denormal mode breaks hypothesis floats)
    r = random.Random(noise_seed)
    d = get_domain(name)
    p = _problem(name, seed, diff)
    sol = d.solution(p, variant=variant)
    n = len(split_completion(sol)[0])
    for i in range(n):
        # static: one digit flipped after the trace was computed; the answer stays right
        text = corrupt_line(sol, i, r)
        if not _bad_flip_is_still_valid(d, p, sol, text, i):
            v = d.verify(p, text)
            assert (v.correct, v.steps_ok, v.first_bad_step, v.error_kind) == (True, False, i, "static"), text
        # static: one line dropped; caught at it or later, unless the rest is still a valid path
        v = d.verify(p, corrupt_line(sol, i, r, drop=True))
        assert v.error_kind in ("none", "static") and v.correct
        if v.error_kind == "static":
            assert v.first_bad_step >= i
        # dynamic: step i computed wrong, the work goes on from the wrong value
        text = corrupt_step(d, p, i, r, variant=variant)
        if text is not None:
            v = d.verify(p, text)
            assert (v.correct, v.steps_ok, v.first_bad_step, v.error_kind) == (False, False, i, "dynamic"), text


@pytest.mark.parametrize("name", ALGO)
@FAST
@given(text=st.one_of(
    st.text(max_size=300),
    st.binary(max_size=300).map(lambda b: b.decode("latin-1")),
    st.text(alphabet="0123456789 ,>*+=/r()\n", max_size=200),
    st.just(""), st.just(">"), st.just(">\x00"), st.just("> ١٢٣"), st.just(">²"),
))
def test_extractor_and_verifier_never_raise(name, text):
    d = get_domain(name)
    p = _problem(name, 1, 2)
    out = d.extract(text)
    assert out is None or isinstance(out, str)
    v = d.verify(p, text)
    assert v.error_kind in ("none", "static", "dynamic", "unparseable", "truncated", "wrong_answer")


@pytest.mark.parametrize("name", ALGO)
def test_extractor_on_huge_input(name):
    d = get_domain(name)
    huge = ("12 34\n" * 200_000) + ">" + "9" * 50
    d.extract(huge)
    d.verify(_problem(name, 1, 2), "x" * 1_000_000)


@pytest.mark.parametrize("name", ["mul", "sort", "median", "gcd"])
def test_several_paths_give_distinct_verified_solutions(name):
    d = get_domain(name)
    distinct = []
    for p in d.make_problems(40, seed=2, difficulties=[3]):
        sols = {d.solution(p, variant=k) for k in range(PATHS[name])}
        assert all(d.verify(p, s).error_kind == "none" for s in sols)
        distinct.append(len(sols))
    assert sum(distinct) / len(distinct) >= 1.5


def test_paths_the_reference_never_writes_are_accepted():
    mul, srt, gcd, med = (get_domain(n) for n in ("mul", "sort", "gcd", "median"))
    p = Problem("x", "mul", 3, "47*36=", "1692")
    for text in ["47*36=1692\n>1692", "47*20=940\n47*16=752\n940+752=1692\n>1692",
                 "47*1=47\n47*35=1645\n1645+47=1692\n>1692"]:
        assert mul.verify(p, text).error_kind == "none", text
    # splitting both operands at once is not a valid decomposition step
    assert mul.verify(p, "40*30=1200\n7*6=42\n1200+42=1242\n>1242").error_kind == "dynamic"
    p = Problem("x", "sort", 3, "sort 4 3 2 1=", "1 2 3 4")
    bubble = "3 4 2 1\n3 2 4 1\n2 3 4 1\n2 3 1 4\n2 1 3 4\n1 2 3 4\n>1 2 3 4"
    assert srt.verify(p, bubble).error_kind == "none"
    assert srt.verify(p, "4 3 1 2\n>1 2 3 4").error_kind == "static"  # steps stop short: skipped work
    # a step that adds inversions is not progress
    assert srt.verify(p, "3 4 2 1\n4 3 2 1\n1 2 3 4\n>1 2 3 4").first_bad_step == 1
    p = Problem("x", "gcd", 2, "gcd 84 36=", "12")
    assert gcd.verify(p, "48,36\n12,36\n2*(6,18)\n2*(6,0)\n>12").error_kind == "none"  # subtract, mod, halve
    p = Problem("x", "median", 2, "median 7 1 9 4 5=", "5")
    assert med.verify(p, "1 7 9 4 5\n7 4 5\n5\n>5").error_kind == "none"  # a sort step, then trims


def test_truncated_unparseable_and_wrong_answer():
    d = get_domain("gcd")
    p = Problem("x", "gcd", 2, "gcd 84 36=", "12")
    assert d.verify(p, "36,12").error_kind == "truncated"
    v = d.verify(p, "36,12\n12;0\n>12")
    assert (v.error_kind, v.first_bad_step, v.correct) == ("unparseable", 1, True)
    v = d.verify(p, "36,12\n12,0\n>6")
    assert (v.error_kind, v.steps_ok, v.correct) == ("wrong_answer", True, False)
