from collections import Counter

import numpy as np
from datasketch import MinHash

from synthloop.domains import Addition
from synthloop.filters.dedup import DedupConfig, dedup_rows, shingles, signatures
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


def test_signatures_match_datasketch():
    cfg = DedupConfig(num_perm=64)
    texts = ["the quick brown fox jumps", "the quick brown fox jumped"]
    sigs = signatures(texts, cfg)
    for t, s in zip(texts, sigs):
        m = MinHash(num_perm=64, seed=cfg.seed)
        m.update_batch(shingles(t, cfg.ngram))
        assert np.array_equal(m.hashvalues.astype(np.uint32), s)


def test_dedup_within_round_and_against_prior():
    cfg = DedupConfig()
    base = "12345+67890=\n5+0+0=5\n4+9+0=13\n3+8+1=12\n2+7+1=10\n1+6+1=8\n>53280"
    rows = [
        {"row_id": "a", "prompt": "", "completion": base, "kept": True},
        {"row_id": "b", "prompt": "", "completion": base, "kept": True},  # exact duplicate
        {"row_id": "c", "prompt": "", "completion": "something else entirely, not addition", "kept": True},
        {"row_id": "d", "prompt": "", "completion": base, "kept": False},  # already dropped: untouched
    ]
    drops = dedup_rows(rows, cfg)
    assert drops["near_duplicate"] == 1
    assert rows[1]["dup_of"] == "a" and rows[1]["cluster_id"] == "a" and not rows[1]["kept"]
    assert rows[2]["kept"] and rows[3].get("dup_of") is None
    # A later round: the stored signature of "a" makes a new copy a duplicate.
    later = [{"row_id": "e", "prompt": "", "completion": base, "kept": True}]
    dedup_rows(later, cfg, prior=[("a", np.array(rows[0]["minhash"], dtype=np.uint32))])
    assert later[0]["dup_of"] == "a" and not later[0]["kept"]


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
