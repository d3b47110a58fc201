from collections import Counter

import pyarrow as pa
from synthloop.domains import get_domain
from synthloop.filters.verify import VerifyConfig, verify_table


def _rows(p, completions):
    return [{"row_id": f"r{i}", "problem_id": p.id, "completion": c} for i, c in enumerate(completions)]


def _run(cfg):
    d = get_domain("gcd")
    p = d.make_problems(1, seed=0, difficulties=[2])[0]
    good = d.solution(p)
    lines = good.splitlines()
    static = "\n".join([lines[0] + "9", *lines[1:]])  # a slip the rest does not use
    completions = [good, static, "1,1", "0,5\n>" + str(int(p.answer) + 1), "oops\n>" + p.answer]
    out, metrics = verify_table(pa.Table.from_pylist(_rows(p, completions)), {"gcd": d}, {p.id: p}, cfg)
    return out.to_pylist(), Counter(metrics.drops)


def test_default_keeps_only_fully_correct_chains_and_counts_each_rule():
    rows, drops = _run(VerifyConfig())
    assert [r["kept"] for r in rows] == [True, False, False, False, False]
    assert drops == Counter({"static_step": 1, "truncated": 1, "wrong_answer": 1, "unparseable_step": 1})
    assert rows[1]["error_kind"] == "static" and rows[1]["first_bad_step"] == 0


def test_accept_static_keeps_right_answers_with_static_slips():
    rows, drops = _run(VerifyConfig(accept_static=True))
    assert [r["kept"] for r in rows] == [True, True, False, False, False]
    assert "static_step" not in drops


def test_answers_only_policy():
    rows, _ = _run(VerifyConfig(require_steps_ok=False))
    assert [r["kept"] for r in rows] == [True, True, False, False, True]
