"""The curriculum decision on synthetic pass rates (generators/curriculum.py)."""

import pytest
from synthloop.generators.curriculum import CurriculumConfig, Rate, decide, frontier_of, pass_rates


def rates(*values):
    return {d: Rate(v, 40, "eval") for d, v in enumerate(values, start=1)}


def problems(out):
    return {d: v["problems"] for d, v in out["by_difficulty"].items() if v["problems"]}


def test_budget_goes_to_the_band_and_replay_never_starves():
    cfg = CurriculumConfig(band=(0.05, 0.9), advance_at=0.4, replay_share=0.2, next_share=0.3)
    out = decide(rates(1.0, 0.95, 0.3, 0.0, 0.0), 1000, cfg)
    got = problems(out)
    assert out["frontier"] == 3 and sum(got.values()) == 1000
    assert got[1] + got[2] == 200 and got[1] == got[2]  # replay: exactly its share, split evenly
    assert got[3] == 800 and 4 not in got and 5 not in got  # 3 at 0.30 < advance_at: next not open yet
    assert "replay" in out["by_difficulty"][1]["reason"] and "frontier" in out["by_difficulty"][3]["reason"]
    assert "not yet open" in out["by_difficulty"][4]["reason"] and "too hard" in out["by_difficulty"][5]["reason"]
    # the most budget where the signal r(1 - r) is largest, among several frontier difficulties
    got = problems(decide(rates(1.0, 0.5, 0.1, 0.0), 1000, cfg))
    assert got[2] > got[3] > 0


def test_it_moves_up_as_difficulties_are_mastered():
    cfg = CurriculumConfig(band=(0.05, 0.9), advance_at=0.4, next_share=0.3, replay_share=0.2)
    # the top of the frontier passes advance_at: the next difficulty opens with next_share
    got = problems(decide(rates(1.0, 1.0, 0.95, 0.6, 0.01), 1000, cfg))
    assert got[5] == 300 and got[4] == 500 and got[1] + got[2] + got[3] == 200
    # everything tried is mastered: the next one is the frontier and takes the non-replay budget
    out = decide(rates(1.0, 1.0, 1.0, 0.95), 1000, cfg)
    assert out["frontier"] == 5 and problems(out)[5] == 800
    # a round of progress moves the frontier and the budget up, never down
    seq = [rates(1, 1, 1, 0.1, 0), rates(1, 1, 1, 0.6, 0.05), rates(1, 1, 1, 0.95, 0.5), rates(1, 1, 1, 1, 0.93)]
    fronts = [decide(r, 100, cfg)["frontier"] for r in seq]
    assert fronts == [4, 4, 5, 6]
    tops = [max(problems(decide(r, 100, cfg))) for r in seq]
    assert tops == sorted(tops) and tops[-1] == 6


def test_a_forgotten_difficulty_comes_back_to_the_frontier():
    got = problems(decide(rates(1.0, 0.0, 0.95, 0.5), 1000, CurriculumConfig(band=(0.05, 0.9))))
    assert got[2] > 0 and got[4] > 0


def test_max_difficulty_is_never_exceeded():
    cfg = CurriculumConfig(max_difficulty=4, band=(0.05, 0.9))
    out = decide(rates(1, 1, 1, 0.95, 0.5, 0.2), 1000, cfg)  # 5 and 6 measured but above the cap
    assert max(problems(out)) <= 4 and sum(problems(out).values()) == 1000
    assert "above max_difficulty" in out["by_difficulty"][5]["reason"]
    assert out["frontier"] == 4
    # all mastered up to the cap: everything is replay, nothing beyond
    out = decide(rates(1, 1, 1, 1), 100, cfg)
    assert set(problems(out)) == {1, 2, 3, 4} and sum(problems(out).values()) == 100


def test_nothing_measured_starts_at_difficulty_one_and_fixed_keeps_the_weights():
    out = decide({}, 10, CurriculumConfig())
    assert problems(out) == {1: 10} and out["frontier"] == 1
    fixed = decide(rates(1, 1, 0.5), 100, CurriculumConfig(policy="fixed"), fixed_weights={1: 1, 4: 3})
    assert problems(fixed) == {1: 25, 4: 75} and fixed["policy"] == "fixed" and fixed["frontier"] == 3
    assert all(v["reason"].startswith("fixed") for v in fixed["by_difficulty"].values())


def test_pass_rates_prefer_the_evaluation_and_fill_in_from_rows():
    r = pass_rates({"2": {"accuracy": 0.5, "n": 30}}, {2: (100, 10), 5: (50, 5)}, "round 3")
    assert r[2] == Rate(0.5, 30, "eval") and r[5] == Rate(0.1, 50, "round 3")
    assert frontier_of(r, CurriculumConfig()) == 1  # difficulty 1 unmeasured: not mastered


@pytest.mark.parametrize("bad", [{"band": (0.9, 0.1)}, {"replay_share": 0.6, "next_share": 0.5},
                                 {"max_difficulty": 0}, {"advance_at": 2}])
def test_bad_config_is_refused(bad):
    with pytest.raises(ValueError, match="curriculum"):
        CurriculumConfig(**bad)
