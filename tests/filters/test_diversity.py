import numpy as np
import pytest
from synthloop.filters.diversity import (
    DiversityConfig,
    collapse_alerts,
    compression_ratio,
    distinct_n,
    distinct_solutions_per_problem,
    diversity_scores,
    score_rows,
)
from synthloop.filters.embed import mean_pairwise_distance, vendi_score

NO_MODEL = DiversityConfig(embeddings=False)


def test_diversity_metrics_by_hand():
    assert distinct_n(["a b a b"], 2) == 2 / 3
    assert distinct_n(["x y", "x y"], 1) == 0.5
    rows = [
        {"problem_id": "p", "correct": True, "completion": "a"},
        {"problem_id": "p", "correct": True, "completion": "b"},
        {"problem_id": "q", "correct": True, "completion": "a"},
        {"problem_id": "q", "correct": False, "completion": "z"},
    ]
    assert distinct_solutions_per_problem(rows) == 1.5


def test_fast_distinct_ngrams_equal_the_tuple_version():
    import random

    from synthloop.filters.diversity import distinct_n_slow, distinct_ngrams

    rng = random.Random(0)
    texts = [" ".join(rng.choice(["a", "b", "dd", "e.", "f,g", "12"]) for _ in range(rng.randint(0, 30)))
             for _ in range(200)]
    fast = distinct_ngrams(texts, (1, 2, 3, 4))
    assert fast == {n: distinct_n_slow(texts, n) for n in (1, 2, 3, 4)}


def test_identical_texts_have_minimal_ngram_diversity():
    same = ["carry the one then add"] * 10  # 5 tokens, 10 copies
    s = diversity_scores(same, NO_MODEL)
    assert (s["distinct_1"], s["distinct_2"], s["distinct_3"]) == (5 / 50, 4 / 40, 3 / 30)
    varied = [f"t{i} u{i} v{i} w{i} x{i}" for i in range(10)]
    assert diversity_scores(varied, NO_MODEL)["distinct_3"] == 1.0
    assert compression_ratio(same) > 2 * compression_ratio(varied)


def test_distinct_solutions_ignore_numbers():
    rows = [
        {"problem_id": "p", "correct": True, "completion": "3+4=7\n>7"},
        {"problem_id": "p", "correct": True, "completion": "4+3=7\n>7"},  # differs only in numbers
        {"problem_id": "p", "correct": True, "completion": "4 plus 3 is 7"},
    ]
    assert distinct_solutions_per_problem(rows, normalise_numbers=True) == 2
    assert distinct_solutions_per_problem(rows) == 3


def test_vendi_and_distance_on_vectors():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(50, 8))
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    lam = np.linalg.eigvalsh(x @ x.T / 50)  # the primal form, N x N
    lam = lam[lam > 1e-12]
    assert vendi_score(x) == pytest.approx(np.exp(-(lam * np.log(lam)).sum()))
    assert vendi_score(np.eye(4)) == pytest.approx(4.0)
    same = np.tile(x[:1], (6, 1))
    assert vendi_score(same) == pytest.approx(1.0)
    assert mean_pairwise_distance(same) == pytest.approx(0.0, abs=1e-12)
    brute = np.mean([1 - x[i] @ x[j] for i in range(50) for j in range(50) if i != j])
    assert mean_pairwise_distance(x) == pytest.approx(brute)


def test_embedding_scores_with_the_bundled_model():
    cfg = DiversityConfig(embed_sample=8)
    same = diversity_scores(["12+34=\n2+4+0=6\n1+3+0=4\n>46"] * 12, cfg)
    assert same["embedding_sample"] == 8
    assert same["vendi"] == pytest.approx(1.0, abs=1e-3)
    assert same["mean_embedding_distance"] == pytest.approx(0.0, abs=1e-4)
    varied = diversity_scores(["the cat sat on the mat", "12+34=46", "sorting a list of numbers",
                               "def gcd(a, b): return a", "median of five values"], cfg)
    assert varied["vendi"] > 2.0 and varied["mean_embedding_distance"] > 0.3


def stratum(kept: int = 40, **scores) -> dict:
    """Round metrics with one stratum, as the catalog keeps them (curves at 16 and 32 rows)."""
    curves = {k: {"16": v, "32": v} for k, v in scores.items()}
    return {"by_stratum": {"addition/1": {"kept": kept, "tokens": 12.0, "shared": 0, **curves}}}


def test_collapse_alert_against_previous_round():
    cfg = DiversityConfig(collapse_drop=0.25, watch=("distinct_2", "compression_ratio"))
    prev = stratum(distinct_2=0.5, compression_ratio=2.0)
    assert collapse_alerts(stratum(distinct_2=0.4, compression_ratio=2.4), prev, cfg) == []
    alerts = collapse_alerts(stratum(distinct_2=0.3, compression_ratio=3.0), prev, cfg)
    assert len(alerts) == 2 and "distinct_2 fell 40%" in alerts[0].message and "compression_ratio rose 50%" in alerts[1].message
    assert [(a.kind, a.metric, a.short) for a in alerts] == [("collapse", "distinct_2", "distinct_2 fell 40%"),
                                                             ("collapse", "compression_ratio", "compression_ratio rose 50%")]
    assert collapse_alerts(stratum(distinct_2=0.1), None, cfg) == []
    assert collapse_alerts(stratum(kept=15, distinct_2=0.1), prev, cfg) == []  # under min_rows: not compared


def test_score_rows_counts():
    rows = [
        {"problem_id": "p", "correct": True, "kept": True, "completion": "1 2", "sampler": "a", "difficulty": 1, "n_tokens": 3, "drop_reason": None},
        {"problem_id": "p", "correct": True, "kept": False, "completion": "1 2", "sampler": "b", "difficulty": 1, "n_tokens": 3, "drop_reason": "near_duplicate"},
        {"problem_id": "q", "correct": False, "kept": False, "completion": "9", "sampler": "b", "difficulty": 2, "n_tokens": 1, "drop_reason": "wrong_answer"},
    ]
    m = score_rows(rows, NO_MODEL)
    assert (m["generated"], m["correct"], m["kept"], m["tokens"]) == (3, 2, 1, 7)
    assert m["drop_reasons"] == {"near_duplicate": 1, "wrong_answer": 1}
    assert m["by_sampler"]["b"]["pass_rate"] == 0.5
    assert m["by_difficulty"][2]["pass_rate"] == 0.0
    assert m["distinct_1"] == 1.0 and m["collapse_alerts"] == [] and "vendi" not in m
    assert m["by_stratum"]["?/1"]["kept"] == 1 and m["shared_completions"] == 0.0  # rows without a domain
    # A round kept before strata compares with nothing (tests/filters/test_alerts.py has the alerts).
    assert score_rows(rows, NO_MODEL, previous={"distinct_2": 1.0, "distinct_correct_per_problem": 3.0})["collapse_alerts"] == []


def test_a_steady_decline_is_an_alert_where_no_single_drop_is():
    """Vendi 6.59 -> 6.45 -> 6.27 (issue 14): each step is ~2-3%, far from the 20% collapse alert."""
    from synthloop.filters.diversity import DiversityConfig, collapse_alerts, trend_alerts

    cfg = DiversityConfig()
    series = [stratum(vendi=6.59, distinct_2=0.041), stratum(vendi=6.45, distinct_2=0.043),
              stratum(vendi=6.27, distinct_2=0.040)]
    assert collapse_alerts(series[2], series[1], cfg) == [] and collapse_alerts(series[1], series[0], cfg) == []
    (alert,) = trend_alerts(series, cfg)
    assert alert.message.startswith("diversity trend: vendi fell 3 rounds in a row") and "-4.9% in all" in alert.message
    assert (alert.kind, alert.rounds, alert.short) == ("trend", 3, "vendi fell 3 rounds in a row")
    assert trend_alerts(series[:2], cfg) == []  # two rounds are not a trend
    rising = [stratum(compression_ratio=x) for x in (3.0, 3.1, 3.3)]  # lower is more diverse: a rise is a decline
    assert trend_alerts(rising, DiversityConfig(watch=("compression_ratio",)))[0].message.startswith(
        "diversity trend: compression_ratio rose")


def test_scoring_shard_by_shard_gives_the_numbers_of_all_rows_at_once():
    import random

    import pyarrow as pa
    from synthloop.filters.diversity import RoundScorer, compression_ratio, distinct_ngrams

    rng = random.Random(0)
    rows = []
    for i in range(900):
        ok = rng.random() < 0.6
        kept = ok and rng.random() < 0.7
        rows.append({"problem_id": f"p{i % 120}", "sampler": rng.choice("abc"), "difficulty": i % 4, "correct": ok,
                     "kept": kept, "n_tokens": rng.randrange(50),
                     "drop_reason": None if kept else ("near_duplicate" if ok else "wrong_answer"),
                     "completion": f"{rng.randrange(100)}+{rng.randrange(50)} = x{rng.randrange(20)} ; é {rng.randrange(9)}"})
    whole = score_rows(rows, NO_MODEL)
    scorer = RoundScorer(NO_MODEL)
    table = pa.Table.from_pylist(rows)
    for lo in range(0, len(rows), 200):
        scorer.add(table.slice(lo, 200))
    assert scorer.finish().to_dict() == whole
    kept = [r["completion"] for r in rows if r["kept"]]  # the one-shot definitions
    assert whole["distinct_2"] == distinct_ngrams(kept)[2] and whole["compression_ratio"] == compression_ratio(kept)
