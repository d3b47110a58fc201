"""The allocator: budget moves toward the better sampler, never starves one, keeps the total."""

import random

import pytest
from synthloop.domains import Problem
from synthloop.generators import PortfolioEntry, Sampler
from synthloop.generators.allocate import (
    Outcome,
    adapt_shares,
    clamp_shares,
    deal,
    fit_total,
    plan_round,
    problem_budgets,
    sampler_counts,
)


def test_budget_moves_toward_the_higher_yield_per_token():
    last = {"a": 1 / 3, "b": 1 / 3, "c": 1 / 3}
    # Same samples; b keeps twice as many per token as a, c as many as a but with half the tokens.
    outcomes = {"a": Outcome(300, 120, 100, 30_000), "b": Outcome(300, 220, 200, 30_000), "c": Outcome(300, 120, 100, 15_000)}
    shares, why = adapt_shares(last, outcomes, min_share=0.1)
    assert shares["b"] > last["b"] and shares["c"] > last["c"] and shares["a"] < last["a"]
    assert shares["b"] == pytest.approx(shares["c"], rel=0.05)  # same kept per token
    assert sum(shares.values()) == pytest.approx(1.0)
    assert "kept per 1k tokens" in why["b"] and "->" in why["b"]


def test_repeated_rounds_compound_but_never_starve():
    shares = {"good": 0.25, "bad": 0.25, "worse": 0.25, "zero": 0.25}
    rate = {"good": 0.010, "bad": 0.004, "worse": 0.002, "zero": 0.0}  # kept per token
    for _ in range(6):
        outcomes = {}
        for name, s in shares.items():
            n = int(4000 * s)
            outcomes[name] = Outcome(n, n // 2, int(n * 50 * rate[name]), n * 50)
        shares, why = adapt_shares(shares, outcomes, min_share=0.05)
    assert shares["good"] > 0.8
    assert min(shares.values()) == pytest.approx(0.05)  # the floor holds every sampler
    assert "(floor)" in why["zero"]


def test_no_kept_sample_keeps_the_shares():
    shares, why = adapt_shares({"a": 0.7, "b": 0.3}, {"a": Outcome(10, 0, 0, 100), "b": Outcome(5, 0, 0, 60)}, 0.1)
    assert shares == pytest.approx({"a": 0.7, "b": 0.3})
    assert "shares kept" in why["a"]


def test_clamp_and_counts():
    assert clamp_shares([1, 0, 0], 0.2) == pytest.approx([0.6, 0.2, 0.2])
    with pytest.raises(ValueError, match="min_share"):
        clamp_shares([1, 1, 1], 0.5)
    assert sampler_counts(10, [0.999, 0.0005, 0.0005]) == [8, 1, 1]  # at least one each
    assert sum(sampler_counts(6400, [0.5, 0.3, 0.2])) == 6400


def test_deal_gives_exact_counts_interleaved():
    budgets = [2, 8, 8, 3, 16]
    counts = sampler_counts(sum(budgets), [0.5, 0.3, 0.2])
    slots = deal(budgets, counts)
    assert [len(s) for s in slots] == budgets
    flat = [i for s in slots for i in s]
    assert [flat.count(i) for i in range(3)] == counts
    assert set(slots[1]) == {0, 1, 2}  # an 8-sample problem sees every sampler


def test_fit_total_keeps_the_sum_and_bounds():
    rng = random.Random(0)
    for _ in range(200):
        n = rng.randint(1, 40)
        k, lo = rng.randint(1, 10), 1
        lo = rng.randint(1, k)
        hi = rng.randint(k, 3 * k)
        wanted = [rng.choice([1, 2, 5, 30, float("inf")]) for _ in range(n)]
        out = fit_total(wanted, n * k, lo, hi)
        assert sum(out) == n * k and all(lo <= x <= hi for x in out)
        # A problem that wants more never gets fewer.
        for i in range(n):
            for j in range(n):
                if wanted[i] > wanted[j]:
                    assert out[i] >= out[j] - 1


def test_problem_budgets_easy_get_fewer_hard_get_more_up_to_the_cap():
    problems = [(f"p{i}", f"add/d{d}", ("add", f"q{i}")) for i, d in enumerate([1] * 10 + [3] * 10 + [5] * 10)]
    buckets = {"add/d1": Outcome(80, 80), "add/d3": Outcome(80, 20), "add/d5": Outcome(80, 0)}
    budgets, why, _ = problem_budgets(problems, buckets, {}, k=8, k_min=2, k_max=12)
    assert sum(budgets) == 30 * 8
    easy, mid, hard = budgets[:10], budgets[10:20], budgets[20:]
    assert max(easy) == 2 and min(hard) > min(mid) >= max(easy) and max(hard) <= 12
    assert "add/d1: 80/80 correct" in why[0] and "wants" in why[0]
    # A problem seen before is judged on its own samples (shrunk toward its bucket).
    own = {("add", "q25"): Outcome(8, 8)}
    budgets2, why2, _ = problem_budgets(problems, buckets, own, k=8, k_min=2, k_max=12)
    assert budgets2[25] < budgets2[24] and "asked last round: 8/8" in why2[25]
    # No history at all: everyone gets K.
    assert problem_budgets(problems, {}, {}, 8, 2, 12)[0] == [8] * 30


def _problems(n_per_diff):
    out = []
    for d in (1, 4):
        out += [Problem(f"r2.{d}.{i}", "addition", d, f"{d}{i}+{i}=", "x") for i in range(n_per_diff)]
    return out


def test_plan_round_from_last_rows_keeps_the_total_and_records_why():
    portfolio = [PortfolioEntry(Sampler("cool", temperature=0.5), 1.0), PortfolioEntry(Sampler("hot", temperature=1.1), 1.0)]
    problems = _problems(20)
    first = plan_round(problems, portfolio, 8, None, min_share=0.1, k_min=2, k_max=16)
    assert first.budgets is None and "no earlier round" in first.record["reason"]
    last_rows = []
    for i in range(200):  # cool: always right and short on d1; hot: right only half the time
        for s, ok, toks in (("cool", True, 20), ("hot", i % 2 == 0, 40)):
            d = 1 if i < 100 else 4
            last_rows.append({"sampler": s, "correct": ok and d == 1, "kept": ok and d == 1 and i % 3 == 0,
                              "n_tokens": toks, "domain": "addition", "difficulty": d, "prompt": f"old{i}"})
    plan = plan_round(problems, portfolio, 8, last_rows, min_share=0.1, k_min=2, k_max=16)
    assert sum(plan.budgets) == len(problems) * 8
    shares = {e.sampler.name: e.share for e in plan.portfolio}
    assert shares["cool"] > 0.5 > shares["hot"] >= 0.1
    rec = plan.record
    assert rec["samples"] == 320 and rec["samplers"]["cool"]["reason"].startswith("34/200 kept")
    d1, d4 = rec["problems"]["by_bucket"]["addition/d1"], rec["problems"]["by_bucket"]["addition/d4"]
    assert d1["max"] < d4["min"] and d1["last_pass_rate"] == pytest.approx(0.75) and d4["last_pass_rate"] == 0
    assert "correct last round" in d4["reason"]


def test_first_round_records_what_each_sampler_really_gets():
    """2 samples per problem over 3 equal samplers: the third gets none, and the record says so
    (it said 1/3 each)."""
    portfolio = [PortfolioEntry(Sampler(n), 1.0) for n in ("cool", "warm", "hot")]
    problems = [object()] * 10
    plan = plan_round(problems, portfolio, 2, None, min_share=0.1, k_min=1, k_max=4)
    assert plan.record["shares"] == {"cool": 0.5, "warm": 0.5, "hot": 0.0}
    assert {n: v["samples"] for n, v in plan.record["samplers"].items()} == {"cool": 10, "warm": 10, "hot": 0}
    assert sum(v["samples"] for v in plan.record["samplers"].values()) == plan.record["samples"] == 20
