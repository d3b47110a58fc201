"""Collapse alerts compare like with like (issue 26): within strata, with enough rows, and a collapse
is many problems getting the same completion, not replies that got terse."""

import doctest
import json
import random

import pytest
from synthloop.filters import alerts, diversity
from synthloop.filters.diversity import (
    Alert,
    DiversityConfig,
    collapse_alerts,
    diversity_notes,
    score_rows,
    trend_alerts,
)

NO_MODEL = DiversityConfig(embeddings=False)
WORDS = [f"w{i}" for i in range(300)]


def row(pid: str, text: str, difficulty: int = 1, domain: str = "addition") -> dict:
    return {"problem_id": pid, "domain": domain, "difficulty": difficulty, "correct": True, "kept": True,
            "completion": text, "sampler": "s", "n_tokens": len(text.split()), "drop_reason": None}


def short(i: int) -> str:
    """A short, varied reply (difficulty 1)."""
    rng = random.Random(i)
    return " ".join(rng.choice(WORDS) for _ in range(6))


def long(i: int) -> str:
    """A long reply with a repeated scaffold (difficulty 3): fewer distinct bigrams per bigram."""
    rng = random.Random(-i - 1)
    return " ".join(f"carry the one then add {rng.choice(WORDS)} to the column" for _ in range(6))


def test_the_modules_examples():
    for mod in (alerts, diversity):
        result = doctest.testmod(mod)
        assert result.attempted > 0 and result.failed == 0, mod.__name__


def test_a_new_difficulty_mix_with_the_same_strata_is_no_collapse():
    """Round 2 of `make demo`: the curriculum moved to longer problems. Distinct-2 over all kept rows
    falls by far more than 20%, but each difficulty's rows are as diverse as before."""
    before = [row(f"a{i}", short(i)) for i in range(60)] + [row(f"c{i}", long(i), 3) for i in range(20)]
    after = [row(f"a{i}", short(i)) for i in range(100, 120)] + [row(f"c{i}", long(i), 3) for i in range(100, 160)]
    prev = score_rows(before, NO_MODEL)
    now = score_rows(after, NO_MODEL, previous=prev)
    assert now["distinct_2"] < 0.8 * prev["distinct_2"]  # what the old, pooled comparison alerted on
    assert set(now["by_stratum"]) == {"addition/1", "addition/3"}
    compared = alerts.compare(now, prev, "distinct_2", NO_MODEL)  # both strata, at 16 rows each
    assert [s[0] for s in compared.strata] == ["addition/3", "addition/1"] and compared.size == 16
    assert abs(compared.change) < 0.05
    assert now["collapse_alerts"] == []
    assert trend_alerts([prev, prev, now], NO_MODEL) == []


def test_one_completion_for_every_problem_is_a_collapse():
    prev = score_rows([row(f"p{i}", short(i)) for i in range(40)], NO_MODEL)
    now = score_rows([row(f"q{i}", "The answer is 42.") for i in range(40)], NO_MODEL, previous=prev)
    assert now["shared_completions"] == 1.0 and prev["shared_completions"] == 0.0
    first = Alert.from_dict(now["collapse_alerts"][0])
    assert (first.kind, first.metric, first.short) == ("collapse", "shared_completions", "shared_completions rose to 100%")
    assert first.strata == ("addition/1",) and (first.rows_before, first.rows_after) == (40, 40)
    assert 0 < first.low <= first.change == 1.0
    msg = first.message  # says what was seen, where, on how many rows, and how sure
    assert "100% of kept rows repeat a completion kept for another problem" in msg
    assert "addition/1 +100 points (40 -> 40 rows)" in msg and "95% interval" in msg and "at least 16 kept rows" in msg
    assert "'The answer is 42.' kept 40 times, for more than one problem" in msg
    assert Alert.from_dict(json.loads(json.dumps(first.to_dict()))) == first  # as the catalog keeps it


def test_six_rows_against_one_say_nothing():
    """A round of 6 kept rows against a round of 1 printed `distinct_2 fell 62% (1 -> 0.375)`."""
    prev = score_rows([row("p0", "12 + 30 = 42")], NO_MODEL)
    now = score_rows([row(f"q{i}", "the answer is 7") for i in range(6)], NO_MODEL, previous=prev)
    assert now["distinct_2"] < 0.5 * prev["distinct_2"] and now["shared_completions"] == 1.0
    assert now["collapse_alerts"] == []
    assert now["by_stratum"]["addition/1"]["distinct_2"] == {}  # fewer than min_rows: no sample size reached


def test_terse_correct_answers_replacing_chatty_ones_are_no_collapse():
    """A chat model's round 2: replies converged from chatter to `a + b = c` while accuracy rose."""
    pairs = [(a, b) for a in range(1, 10) for b in range(1, 10)][:40]
    rng = random.Random(0)
    chatty = [row(f"p{a}_{b}", f"Sure! Let me {' '.join(rng.choice(WORDS) for _ in range(30))} so {a} plus {b} is {a + b}.")
              for a, b in pairs]
    terse = [row(f"p{a}_{b}", f"{a} + {b} = {a + b}") for a, b in pairs]
    prev = score_rows(chatty, NO_MODEL)
    now = score_rows(terse, NO_MODEL, previous=prev)
    assert now["distinct_2"] < 0.6 * prev["distinct_2"]  # what the old comparison alerted on
    assert now["shared_completions"] == 0.0  # each problem got its own reply
    assert now["collapse_alerts"] == []
    (note,) = diversity_notes(now, prev, NO_MODEL)
    assert note.startswith("distinct_2 fell") and "in addition/1 while its replies got" in note
    assert "not counted as a collapse; 0 of 40 kept rows there repeat another problem's completion" in note
    # The same replies repeated across the problems are still caught.
    same = score_rows([row(f"p{a}_{b}", "1 + 1 = 2") for a, b in pairs], NO_MODEL, previous=prev)
    assert [a["metric"] for a in same["collapse_alerts"]] == ["shared_completions"]


def test_a_score_that_falls_within_its_strata_is_an_alert():
    """Distinct-2 falls inside the stratum, at the same sample size and reply length."""
    prev = score_rows([row(f"p{i}", short(i)) for i in range(40)], NO_MODEL)
    narrow = [" ".join(random.Random(i).choice(WORDS[:8]) for _ in range(6)) for i in range(40)]
    now = score_rows([row(f"q{i}", t) for i, t in enumerate(narrow)], NO_MODEL, previous=prev)
    (a,) = [Alert.from_dict(x) for x in now["collapse_alerts"] if x["metric"] == "distinct_2"]
    assert a.short.startswith("distinct_2 fell") and "within strata" in a.message and "at 32 rows a stratum" in a.message


def test_old_rounds_and_old_configs_still_read():
    """Metrics kept before strata compare with nothing; alerts kept before the strata fields read back;
    a config that sets only the old keys loads."""
    assert collapse_alerts({"distinct_2": 0.3}, {"distinct_2": 0.5}, NO_MODEL) == []
    old = {"kind": "collapse", "metric": "distinct_2", "before": 0.5, "after": 0.3, "change": -0.4, "rounds": None,
           "message": "diversity collapse: distinct_2 fell 40% (0.5 -> 0.3), more than the 20% allowed"}
    a = Alert.from_dict(old)
    assert a.short == "distinct_2 fell 40%" and a.strata == () and a.low is None
    from synthloop.loop.config import LoopConfig

    from tests.conftest import TINY_CONFIG

    cfg = LoopConfig.model_validate({**TINY_CONFIG, "diversity": {"embeddings": False, "collapse_drop": 0.3,
                                                                  "watch": ["distinct_2"], "trend_rounds": 4}})
    assert (cfg.diversity.collapse_drop, cfg.diversity.min_rows) == (0.3, 16)
    with pytest.raises(ValueError, match="min_rows"):
        DiversityConfig(min_rows=1)


def test_strata_read_their_embedding_scores_from_the_rounds_sample():
    """No text is embedded twice: each stratum's Vendi comes from the round's embedding subsample."""
    cfg = DiversityConfig(embed_sample=40, min_rows=8)
    m = score_rows([row(f"p{i}", short(i)) for i in range(40)] + [row(f"c{i}", long(i), 3) for i in range(20)], cfg)
    assert m["embedding_sample"] == 40
    curves = {s: v["vendi"] for s, v in m["by_stratum"].items()}
    assert set(curves["addition/1"]) >= {"8", "16"} and set(curves["addition/3"]) >= {"8"}
    assert all(1.0 <= x <= 16 for c in curves.values() for x in c.values())


def test_a_flat_round_ends_a_trend():
    """`make demo` (2026-12-07) alerted on distinct correct solutions per problem going -3.7% and
    then -0.1%: a step under `trend_step` is a flat round, and two rounds down are no trend."""
    from synthloop.filters.diversity import DiversityConfig

    def s(v):
        return {"by_stratum": {"addition/4": {"kept": 104, "tokens": 9, "distinct_correct_per_problem": v}}}

    cfg = DiversityConfig(watch=("distinct_correct_per_problem",))
    assert trend_alerts([s(1.04), s(1.0015), s(1.0005)], cfg) == []
    (alert,) = trend_alerts([s(1.10), s(1.06), s(1.02)], cfg)
    assert alert.short == "distinct_correct_per_problem fell 3 rounds in a row"
