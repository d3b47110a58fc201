"""The file domain: a user's JSONL/Parquet problems, answer checkers, and real GSM8K data."""

import json
import os
from collections import Counter
from pathlib import Path

import duckdb
import pytest
from synthloop.domains import get_domain
from synthloop.domains.checkers import Checker, annotated_steps
from synthloop.domains.file import verify_answer

GSM8K = Path(os.environ.get("SYNTHLOOP_GSM8K") or Path(__file__).resolve().parents[2].parent / "shared" / "data" / "gsm8k")
needs_gsm8k = pytest.mark.skipif(not (GSM8K / "test.jsonl").exists(),
                                 reason=f"GSM8K data (openai/grade-school-math test.jsonl) not found at {GSM8K}: set SYNTHLOOP_GSM8K")
MODELS = ("6b_finetuning", "6b_verification", "175b_finetuning", "175b_verification")


def _jsonl(path, rows):
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in rows))
    return path


def test_bad_rows_are_reported_with_row_numbers_and_skipped(tmp_path, caplog):
    path = _jsonl(tmp_path / "p.jsonl", [
        {"q": "1+1?", "a": "2"},
        {"q": "", "a": "3"},            # empty prompt
        {"q": "2+2?"},                  # missing answer
        "{not json",                    # malformed line
        {"q": "3+3?", "a": "six"},      # not numeric
        {"q": "4+4?", "a": 8},          # numbers are fine
    ])
    d = get_domain("file", path=str(path), prompt_column="q", answer_column="a")
    assert [n for n, _ in d.skipped] == [2, 3, 4, 5]
    assert "row 4: not valid JSON" in caplog.text
    ps = d.make_problems(5, seed=0, difficulties=[1])  # the training split: one of the two rows
    held = d.heldout_problems(5, seed=0, difficulties=[1])  # the other, once
    assert len(ps) == 5 and len({p.answer for p in ps}) == 1 and len(held) == 1
    assert sorted({p.answer for p in ps + held}) == ["2", "8"]
    assert d.verify(ps[0], f"it is {ps[0].answer}").correct


def test_parquet_with_difficulty_and_solution_columns(tmp_path):
    path = tmp_path / "p.parquet"
    duckdb.sql("SELECT * FROM (VALUES ('x^2 at 3?', '9', 'x^2 = 9 so \\boxed{9}', 2), ('1/2+1/4?', '3/4', NULL, 1)) "
               "t(problem, answer, worked, level)").write_parquet(str(path))
    d = get_domain("file", path=str(path), checker="math", solution_column="worked", difficulty_column="level")
    # Two rows: one is training, the other held out; either way difficulty picks its row.
    both = d.make_problems(3, seed=1, difficulties=[1, 2]) + d.heldout_problems(3, seed=1, difficulties=[1, 2])
    hard = [p for p in both if p.difficulty == 2]
    assert {p.prompt for p in hard} == {"x^2 at 3?"}
    assert d.verify(hard[0], d.solution(hard[0])).correct
    easy = next(p for p in both if p.difficulty == 1)
    assert d.verify(easy, "so it is $\\frac{3}{4}$").correct and d.verify(easy, "0.75").correct
    assert not d.verify(easy, "$\\frac{2}{3}$").correct


def test_every_checker():
    assert Checker("exact").check("Paris", "the capital:\n Paris ") == (True, "Paris")
    assert not Checker("exact").check("Paris", "paris")[0]
    assert Checker("numeric", tolerance=1e-3).check("1000", "about 1,000.4 dollars")[0]
    assert not Checker("numeric").check("1000", "about 1,001 dollars")[0]
    assert Checker("pattern", pattern="A:").check("18", "so 9*2=18\nA: $18")[0]
    assert Checker("pattern", pattern="boxed").check("7", "thus \\boxed{7}.")[0]
    assert Checker("pattern", pattern=r"Answer: (\w+)").check("blue", "Answer: blue")[0]
    assert Checker("math").check("\\frac{1}{2}", "the answer is $0.5$")[0]
    for bad in ({"kind": "fuzzy"}, {"kind": "pattern", "pattern": "(unclosed"}, {"kind": "pattern", "pattern": "no group"}):
        with pytest.raises(ValueError):
            Checker(**bad)


@pytest.mark.parametrize("kind", ["exact", "numeric", "pattern", "math"])
@pytest.mark.parametrize("text", ["", "\x00\xff" * 50, "é∑😀" * 100, "#### " + "9" * 5000, "A:\n" * 1000, "1" * 200_000])
def test_checkers_never_raise(kind, text):
    c = Checker(kind, pattern="A:")
    ok, got = c.check("42", text)
    assert isinstance(ok, bool) and (got is None or isinstance(got, str))


def test_missing_file_and_columns_are_one_clear_error(tmp_path):
    with pytest.raises(ValueError, match="no such file"):
        get_domain("file", path=str(tmp_path / "nope.jsonl"))
    path = _jsonl(tmp_path / "p.jsonl", [{"text": "hi", "answer": "1"}])
    with pytest.raises(ValueError, match="set prompt_column"):
        get_domain("file", path=str(path)).make_problems(1, 0, [1])
    with pytest.raises(ValueError, match="unexpected keyword"):
        get_domain("file", path=str(path), colum="x")


@needs_gsm8k
def test_gsm8k_test_set_loads_as_it_is_and_its_solutions_verify():
    d = get_domain("file", path=str(GSM8K / "test.jsonl"), checker="pattern", pattern="####")
    assert d.knobs()["rows"] == 1319 and d.skipped == []
    n_train = len(d.split()[0])
    ps = d.make_problems(n_train, seed=0, difficulties=[1]) + d.heldout_problems(1319, seed=0, difficulties=[1])
    assert len({p.prompt for p in ps}) == len(ps) == 1319  # every row, once
    assert ps[0].answer.lstrip("-").replace(".", "").isdigit()
    kinds = Counter(d.verify(p, d.solution(p)).error_kind for p in ps)
    assert kinds == Counter({"none": 1319})  # every annotated step of the references checks


@needs_gsm8k
def test_gsm8k_labels_agree_and_annotated_errors_are_found():
    rows = [json.loads(line) for line in (GSM8K / "example_model_solutions.jsonl").open()]
    c = Checker("pattern", pattern="A:")
    agree, n, kinds, bad_right = 0, 0, Counter(), []
    for i, r in enumerate(rows):
        ref = c.reference(r["ground_truth"])
        for m in MODELS:
            v = verify_answer(c, ref, r[m]["solution"])
            n += 1
            agree += v.correct == r[m]["is_correct"]
            if not v.steps_ok:
                kinds[v.error_kind] += 1
                if v.correct:
                    bad_right.append((i, m))
    assert (agree, n) == (5276, 5276)
    # 39 completions with a wrong annotated step: 2 of them with a right final answer (static).
    assert sum(kinds.values()) == 39 and kinds["dynamic"] == 33 and kinds["static"] == 5
    assert bad_right == [(580, "175b_verification"), (1099, "6b_verification")]


def test_annotation_checks_allow_rounding_but_not_slips():
    steps = annotated_steps("<<10/3=3.33>> <<2/3=0.67>> <<12*20,000=240,000>> <<5-3=2.5>> <<x+1=3>>")
    assert [s.ok for s in steps] == [True, True, True, False, None]


def test_written_equations_must_hold_with_the_equations_knob(tmp_path):
    """A chat reply with the right last number but a false equation on the way is not verified
    when `equations` is on (a row to train on must not teach `14 - 15 = 1`)."""
    import json

    from synthloop.domains.file import FileDomain

    path = tmp_path / "p.jsonl"
    path.write_text("".join(json.dumps({"question": f"Subtract {b} from {a}.", "answer": str(a - b)}) + "\n"
                            for a, b in [(15, 14), (40, 12), (99, 9)]))
    strict, plain = FileDomain(str(path), equations=True), FileDomain(str(path))
    p = next(q for q in strict.make_problems(3, 0, [1]) + strict.heldout_problems(3, 0, [1]) if q.answer == "1")
    bad, good = "14 - 15 = 1\n1", "15 - 14 = 1\n1"
    assert plain.verify(p, bad).correct and plain.verify(p, bad).steps_ok  # the answer alone passes
    v = strict.verify(p, bad)
    assert v.correct and not v.steps_ok and v.first_bad_step == 0  # the step policy drops it
    assert strict.verify(p, good).steps_ok and strict.verify(p, "The answer is 1.").steps_ok
    # A sum written with a leading zero (SmolLM2's round 2: "354 + 37 = 081") is read as 81: a false
    # step that drops the row, not a crash of the round's verify step.
    v = strict.verify(p, "14 + 1 = 01\n1")
    assert v.correct and not v.steps_ok and v.first_bad_step == 0
    assert strict.verify(p, "15 - 14 = 01\n1").steps_ok
