from collections import Counter

from synthloop.domains import Addition
from synthloop.filters.diversity import distinct_n, distinct_solutions_per_problem, score_rows
from synthloop.filters.verify import VerifyConfig, verify_rows


def _rows(problems, completions):
    return [
        {"row_id": f"r{i}", "problem_id": p.id, "prompt": p.prompt, "completion": c, "sampler": "s",
         "difficulty": p.difficulty, "n_tokens": len(c)}
        for i, (p, c) in enumerate(zip(problems, completions))
    ]


def test_verify_rows_drops_with_reasons():
    d = Addition()
    ps = d.make_problems(3, seed=0, difficulties=[3])
    rows = _rows(ps, [d.solution(ps[0]), "1+1+0=2\n>9", "1+1+0"])
    drops = verify_rows(rows, {"addition": d}, {p.id: p for p in ps}, VerifyConfig())
    assert [r["kept"] for r in rows] == [True, False, False]
    assert drops == Counter({"wrong_answer": 1, "truncated": 1})
    assert rows[2]["drop_reason"] == "truncated"


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


def test_score_rows_counts():
    rows = [
        {"problem_id": "p", "correct": True, "kept": True, "completion": "1 2", "sampler": "a", "difficulty": 1, "n_tokens": 3, "drop_reason": None},
        {"problem_id": "p", "correct": True, "kept": False, "completion": "1 2", "sampler": "b", "difficulty": 1, "n_tokens": 3, "drop_reason": "near_duplicate"},
        {"problem_id": "q", "correct": False, "kept": False, "completion": "9", "sampler": "b", "difficulty": 2, "n_tokens": 1, "drop_reason": "wrong_answer"},
    ]
    m = score_rows(rows)
    assert (m["generated"], m["correct"], m["kept"], m["tokens"]) == (3, 2, 1, 7)
    assert m["drop_reasons"] == {"near_duplicate": 1, "wrong_answer": 1}
    assert m["by_sampler"]["b"]["pass_rate"] == 0.5
    assert m["by_difficulty"][2]["pass_rate"] == 0.0
