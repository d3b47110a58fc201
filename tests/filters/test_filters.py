from collections import Counter

from synthloop.domains import Addition
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
