import random

from synthloop.domains import Addition, Problem


def test_reference_solutions_verify_and_answers_are_sums():
    d = Addition()
    for p in d.make_problems(300, seed=1, difficulties=[1, 2, 3, 4, 5, 6]):
        a, b = (int(x) for x in p.prompt.rstrip("=").split("+"))
        assert p.answer == str(a + b)
        v = d.verify(p, d.solution(p))
        assert v.correct and v.steps_ok and v.error_kind == "none", (p, d.solution(p))


def test_difficulty_is_the_number_of_digits_and_generation_is_seeded():
    d = Addition()
    ps = d.make_problems(50, seed=3, difficulties=[4])
    assert all(max(len(x) for x in p.prompt.rstrip("=").split("+")) == 4 for p in ps)
    assert ps == d.make_problems(50, seed=3, difficulties=[4])
    assert ps != d.make_problems(50, seed=4, difficulties=[4])


def test_every_step_is_checked():
    d = Addition()
    p = Problem("x", "addition", 3, "457+68=", "525")
    good = d.solution(p).splitlines()
    # Wrong digit sum in step 1 with the same carry out: a local (static) slip.
    bad = good.copy()
    bad[1] = "5+6+1=13"
    v = d.verify(p, "\n".join(bad))
    assert not v.steps_ok and v.first_bad_step == 1 and v.error_kind == "static"
    # Wrong carry out of step 0 changes step 1: dynamic.
    bad = good.copy()
    bad[0] = "7+8+0=5"
    assert d.verify(p, "\n".join(bad)).error_kind == "dynamic"
    # A right answer reached through a wrong step is correct but not steps_ok.
    bad = good.copy()
    bad[2] = "4+0+1=5x"
    v = d.verify(p, "\n".join(bad))
    assert v.correct and not v.steps_ok and v.error_kind == "unparseable"


def test_truncated_and_wrong_answers():
    d = Addition()
    p = Problem("x", "addition", 2, "19+3=", "22")
    assert d.verify(p, "9+3+0=12").error_kind == "truncated"
    v = d.verify(p, "9+3+0=12\n1+0+1=2\n>23")
    assert not v.correct and v.extracted == "32"


def test_extractor_never_raises():
    rng = random.Random(0)
    alphabet = "0123456789+=>\n\x00é€ \t"
    for _ in range(2000):
        text = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 40)))
        out = Addition.extract(text)
        assert out is None or out.isdigit()
    assert Addition.extract(">" + "9" * 10_000) == "9" * 10_000
