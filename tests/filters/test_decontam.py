"""Decontamination (filters/decontam.py) on GSM8K questions: what it catches, what it leaves."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import pyarrow as pa
import pytest
from synthloop.filters.decontam import (
    HELDOUT,
    DecontamConfig,
    Source,
    build_index,
    check_table,
    file_source,
    load,
    save,
)

GSM8K = Path(os.environ.get("SYNTHLOOP_GSM8K") or Path(__file__).resolve().parents[2].parent / "shared" / "data" / "gsm8k")


def gsm8k_questions(n: int, skip: int = 0) -> list[str]:
    if not (GSM8K / "test.jsonl").exists():
        pytest.skip("GSM8K's test split is not beside the checkout (set SYNTHLOOP_GSM8K)")
    with open(GSM8K / "test.jsonl", encoding="utf-8") as f:
        lines = f.readlines()[skip : skip + n]
    return [json.loads(line)["question"] for line in lines]


@pytest.fixture
def bench(tmp_path) -> Path:
    """The first 40 questions of GSM8K's test split, as a user's benchmark file."""
    path = tmp_path / "gsm8k_test_slice.jsonl"
    path.write_text("".join(json.dumps({"question": q, "answer": "#### 0"}) + "\n" for q in gsm8k_questions(40)))
    return path


def changed_number(q: str) -> str:
    """The question with its first number changed: a rewording a benchmark leak often is."""
    m = re.search(r"\d+", q)
    return q[: m.start()] + str(int(m.group()) + 7) + q[m.end() :]


def test_gsm8k_questions_are_caught_verbatim_reworded_and_inside_a_completion(bench):
    cfg = DecontamConfig(files=[str(bench)])
    idx = build_index([file_source(str(bench), None)], cfg)
    qs = gsm8k_questions(40)
    verbatim = idx.check([q.upper() for q in qs[:10]])
    assert [h.how for h in verbatim] == ["exact"] * 10
    assert {h.source for h in verbatim} == {bench.name} and verbatim[3].item == "4"  # row numbers, 1-based
    reworded = idx.check([changed_number(q) for q in qs[10:20] if re.search(r"\d", q)])
    assert all(h is not None and h.how in ("ngram", "minhash") for h in reworded)
    # The question restated in a completion of another prompt: a shared 13-word run.
    inside = idx.check(["What is 2+2?"], [f"Let me restate: {qs[25]} So the answer is 4."])
    assert inside[0].how == "ngram" and inside[0].item == "26"


def test_other_gsm8k_questions_and_short_prompts_are_not_hits(bench):
    idx = build_index([file_source(str(bench), None), Source(HELDOUT, ["h1", "h2"], ["k3l4=", "3+4="])],
                      DecontamConfig(files=[str(bench)]))
    others = gsm8k_questions(200, skip=600)  # questions not in the file: similar style, other problems
    assert [h for h in idx.check(others) if h is not None] == []
    # A short prompt matches only itself: one changed digit is another problem.
    hits = idx.check(["3+4=", "3+5=", "k3l5=", "K3L4 ="])
    assert [h and h.item for h in hits] == ["h2", None, None, "h1"]


def test_check_table_drops_benchmark_hits_reports_generated_heldout_overlap_and_counts_once(tmp_path, bench):
    cfg = DecontamConfig(files=[str(bench)])
    q = gsm8k_questions(1)[0]
    path = tmp_path / "index.parquet"
    save(build_index([file_source(str(bench), None), Source(HELDOUT, ["h1", "f1"], ["3+4=", "a held-out question"])], cfg),
         path, {"test": True})
    idx = load(str(path), json.dumps({"files": [str(bench)]}))
    table = pa.table({
        "prompt": [q, q, "3+4=", "a held out question", "3+4=", "5+5="],
        "completion": ["#### 1"] * 6,
        "domain": ["file", "file", "addition", "file", "addition", "addition"],
        "kept": [True, False, True, True, True, True],
        "drop_reason": [None, "wrong_answer", None, None, None, None],
    })
    out, counts = check_table(table, idx)
    assert out["kept"].to_pylist() == [False, False, True, False, True, True]
    assert out["drop_reason"].to_pylist() == ["contaminated", "wrong_answer", None, "contaminated", None, None]
    tags = out["contamination"].to_pylist()
    assert tags[0] == f"{bench.name}#1 (exact)" and tags[1] is None and tags[2] == "heldout#h1 (exact)"
    assert tags[3] == "heldout#f1 (exact)" and tags[5] is None
    # Rows the verifier dropped are not checked: each drop has one reason.
    assert (counts.checked, counts.dropped, counts.heldout_overlap) == (5, 2, 2)
    assert counts.by_source == {bench.name: 1, HELDOUT: 3}
    # Under `heldout: drop` a generated domain's overlap is dropped too.
    out, counts = check_table(table, load(str(path), json.dumps({"files": [str(bench)], "heldout": "drop"})))
    assert out["kept"].to_pylist() == [False, False, False, False, False, True] and counts.heldout_overlap == 0


def test_templated_problems_match_only_themselves():
    """A chat family ("What is a + b? End your reply with ...") shares a 13-word run between two
    problems with the same second operand, and a Jaccard up to ~0.8 between any two: held out or
    listed, only the same problem is a hit (measured on SmolLM2's round 1: the near checks dropped
    11 of 14 right answers to other sums)."""
    tail = "End your reply with the number alone on the last line, and nothing after it please."
    prompt = lambda a, b: f"What is {a} + {b}? {tail}"
    held = [prompt(a, 504) for a in range(10, 400, 7)]
    listed = [prompt(a, 77) for a in range(10, 400, 7)]
    src = Source("sums.jsonl", [str(i) for i in range(len(listed))], listed)
    idx = build_index([Source(HELDOUT, [str(i) for i in range(len(held))], held), src], DecontamConfig())
    rows = [prompt(11, 504), prompt(11, 77), held[3], listed[5].upper()]
    completions = [f"{tail} 515", "88", "", "fine"]
    assert [h and (h.source, h.how) for h in idx.check(rows, completions)] == [
        None, None, (HELDOUT, "exact"), ("sums.jsonl", "exact")]
    # A file of distinct questions keeps its rewording check.
    distinct = ["Tom buys three red apples at the market and eats one of them on the way home.",
                "A train leaves the station at noon and travels sixty miles east before it stops."]
    idx = build_index([Source("bench", ["1", "2"], distinct)], DecontamConfig())
    assert len(idx.sig_rows) == 2 and idx.check([distinct[0].replace("three", "four")])[0].how in ("ngram", "minhash")


def test_a_sign_makes_another_problem():
    """Punctuation is folded, arithmetic signs are not: 12 - 5 is not the held-out 12 + 5."""
    idx = build_index([Source(HELDOUT, ["h"], ["What is 12 + 5? End your reply with the number alone."])], DecontamConfig())
    hits = idx.check(["What is 12 - 5? End your reply with the number alone.", "WHAT is 12 + 5?  End your reply, with the number alone!"])
    assert hits[0] is None and hits[1] is not None and hits[1].how == "exact"
