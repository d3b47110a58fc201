from collections import Counter

import pyarrow as pa
from synthloop.domains import Addition
from synthloop.filters.verify import VerifyConfig, verify_table


def _rows(problems, completions):
    return [
        {"row_id": f"r{i}", "problem_id": p.id, "prompt": p.prompt, "completion": c, "sampler": "s",
         "difficulty": p.difficulty, "n_tokens": len(c)}
        for i, (p, c) in enumerate(zip(problems, completions))
    ]


def test_verify_table_drops_with_reasons():
    d = Addition()
    ps = d.make_problems(3, seed=0, difficulties=[3])
    given = pa.Table.from_pylist(_rows(ps, [d.solution(ps[0]), "1+1+0=2\n>9", "1+1+0"]))
    out, metrics = verify_table(given, {"addition": d}, {p.id: p for p in ps}, VerifyConfig())
    rows = out.to_pylist()
    assert [r["kept"] for r in rows] == [True, False, False]
    assert Counter(metrics.drops) == Counter({"wrong_answer": 1, "truncated": 1})
    assert (metrics.rows, metrics.correct, metrics.kept) == (3, 1, 1)
    assert rows[2]["drop_reason"] == "truncated"
    assert "kept" not in given.column_names  # the table it was given is left as it was


def test_no_answer_is_told_from_a_cut_off_reply():
    """A reply without a final answer is `truncated` only when it hit its token limit; one the model
    ended itself is `no_answer` (more tokens would not help it)."""
    d = Addition()
    ps = d.make_problems(2, seed=0, difficulties=[3])
    rows = _rows(ps, ["1+1+0", "1+1+0"])
    for r, finish in zip(rows, ["length", "stop"]):
        r["finish_reason"] = finish
    out, metrics = verify_table(pa.Table.from_pylist(rows), {"addition": d}, {p.id: p for p in ps}, VerifyConfig())
    assert out.column("drop_reason").to_pylist() == ["truncated", "no_answer"]
    assert metrics.drops == {"truncated": 1, "no_answer": 1}


def test_a_checker_that_raises_drops_its_row_not_the_round(caplog):
    """A checker's bug on one odd completion (SmolLM2's '354 + 37 = 081' once raised a TypeError in
    the equations check) drops that row as checker_error, even under keep_all; the others keep theirs."""

    class Fragile(Addition):
        def verify(self, problem, completion):
            if "boom" in completion:
                raise TypeError("bad operand type for abs(): 'NoneType'")
            return super().verify(problem, completion)

    d = Fragile()
    ps = d.make_problems(2, seed=0, difficulties=[2])
    given = pa.Table.from_pylist(_rows(ps, [d.solution(ps[0]), "boom"]))
    for cfg in (VerifyConfig(), VerifyConfig(keep_all=True)):
        out, metrics = verify_table(given, {"addition": d}, {p.id: p for p in ps}, cfg)
        rows = out.to_pylist()
        assert [r["kept"] for r in rows] == [True, False]
        assert rows[1]["drop_reason"] == rows[1]["error_kind"] == "checker_error"
        assert metrics.drops == {"checker_error": 1}
    assert "TypeError" in caplog.text and "checker_error" in caplog.text
