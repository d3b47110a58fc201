"""The file domain's held-out split: training never sees a held-out prompt, in any run."""

import json
import os
import random
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from synthloop.domains import get_domain
from synthloop.training.evaluate import EvalConfig, heldout_problems

GSM8K = Path(__file__).resolve().parents[2] / ".." / "shared" / "data" / "gsm8k"


def _file(path, n, dup=0):
    rows = [{"question": f"What is {i} plus {i}?", "answer": str(2 * i)} for i in range(n)]
    rows += rows[:dup]  # the same prompt on a second row
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def _prompts(problems):
    return {p.prompt for p in problems}


def test_no_prompt_is_in_both_splits_and_training_draws_only_training_rows(tmp_path):
    d = get_domain("file", path=str(_file(tmp_path / "q.jsonl", 1000, dup=50)))
    train, held = d.split()
    assert not {r[1] for r in train} & {r[1] for r in held}
    assert len(train) + len(held) == 1050 and 0.16 < len({r[1] for r in held}) / 1000 < 0.24
    drawn = set()
    for seed in range(5):
        drawn |= _prompts(d.make_problems(2000, seed=seed, difficulties=[1]))
    assert drawn == {r[1] for r in train}  # every training row, and nothing else
    evald = _prompts(heldout_problems(d, EvalConfig(n_problems=500, difficulties=(1,))))
    assert evald == {r[1] for r in held} and not evald & drawn
    k = d.knobs()
    assert (k["train_rows"], k["heldout_rows"], k["heldout_fraction"]) == (len(train), len(held), 0.2)


def test_held_out_problems_are_capped_at_the_split_and_seeded(tmp_path):
    d = get_domain("file", path=str(_file(tmp_path / "q.jsonl", 100)))
    held = d.split()[1]
    ps = d.heldout_problems(1000, seed=3, difficulties=[1])
    assert len(ps) == len(held) == len(_prompts(ps))  # each held-out row once, not repeated to 1000
    assert ps == d.heldout_problems(1000, seed=3, difficulties=[1])
    assert [p.prompt for p in ps] != [p.prompt for p in d.heldout_problems(1000, seed=4, difficulties=[1])]


def test_split_is_stable_across_processes_row_order_and_new_rows(tmp_path):
    path = _file(tmp_path / "q.jsonl", 400)
    held = {r[1] for r in get_domain("file", path=str(path)).split()[1]}
    code = ("import json, sys; from synthloop.domains import get_domain; "
            "print(json.dumps(sorted(r[1] for r in get_domain('file', path=sys.argv[1]).split()[1])))")
    for hashseed in ("1", "12345"):  # a fresh interpreter with another str-hash seed
        out = subprocess.run([sys.executable, "-c", code, str(path)], capture_output=True, text=True, check=True,
                             env={**os.environ, "PYTHONHASHSEED": hashseed}).stdout
        assert set(json.loads(out)) == held
    # The same rows in another order, and with new rows appended: no old prompt changes side.
    lines = path.read_text().splitlines()
    random.Random(0).shuffle(lines)
    more = [json.dumps({"question": f"new question {i}?", "answer": "1"}) for i in range(100)]
    moved = tmp_path / "moved.jsonl"
    moved.write_text("\n".join(lines + more) + "\n")
    held2 = {r[1] for r in get_domain("file", path=str(moved)).split()[1]}
    assert held2 - {json.loads(m)["question"] for m in more} == held
    # A larger fraction only moves prompts from training to held out.
    assert held < {r[1] for r in get_domain("file", path=str(path), heldout_fraction=0.5).split()[1]}


def test_tiny_files_still_get_both_splits_and_bad_fractions_are_one_error(tmp_path):
    for n in (2, 3, 5):
        train, held = get_domain("file", path=str(_file(tmp_path / f"q{n}.jsonl", n))).split()
        assert train and held and len(train) + len(held) == n
    one = get_domain("file", path=str(_file(tmp_path / "one.jsonl", 1, dup=1)))
    with pytest.raises(ValueError, match="only one distinct prompt"):
        one.make_problems(1, 0, [1])
    for bad in (0, 1, 1.5, -0.1, "0.2", True):
        with pytest.raises(ValueError, match="heldout_fraction"):
            get_domain("file", path=str(tmp_path / "q2.jsonl"), heldout_fraction=bad)


def test_generated_domains_keep_drawing_held_out_problems_by_seed():
    d = get_domain("mul")
    cfg = EvalConfig(n_problems=20, difficulties=(2, 3))
    # ten at each difficulty, each difficulty with a seed of its own (training/evaluate.py)
    assert heldout_problems(d, cfg) == (d.make_problems(10, cfg.seed + 7919 * 2, [2])
                                        + d.make_problems(10, cfg.seed + 7919 * 3, [3]))


def test_the_loop_never_trains_on_a_held_out_prompt(tmp_path):
    from synthloop.loop.config import load_config
    from synthloop.loop.problems import heldout, sample_problems, seed_set

    data = _file(tmp_path / "q.jsonl", 300)
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump({
        "domains": [{"name": "file", "knobs": {"path": str(data)}}, {"name": "addition"}],
        "bootstrap": {"n_problems": 400}, "generation": {"problems_per_round": 400},
        "eval": {"n_problems": 200},
    }))
    cfg = load_config(path)
    trained = {prompt for prompt, _ in seed_set(cfg)[0]}
    for r in range(1, 4):
        trained |= _prompts(p for p in sample_problems(cfg, r) if p.domain == "file")
    held = [p for p in heldout(cfg) if p.domain == "file"]
    assert held and not _prompts(held) & trained
    assert _prompts(held) <= {r[1] for r in get_domain("file", path=str(data)).split()[1]}


@pytest.mark.skipif(not (GSM8K / "test.jsonl").exists(), reason=f"GSM8K data not found at {GSM8K}")
def test_gsm8k_splits_about_one_in_five():
    d = get_domain("file", path=str(GSM8K / "test.jsonl"), checker="pattern", pattern="####")
    train, held = d.split()
    assert len(train) + len(held) == 1319 and 0.17 < len(held) / 1319 < 0.23
    assert not {r[1] for r in train} & {r[1] for r in held}


def test_avoided_prompts_are_drawn_only_after_every_other_row(tmp_path):
    """`avoid` (the loop's solved prompts, generation.fresh_first) reorders a pass, nothing else."""
    d = get_domain("file", path=str(_file(tmp_path / "q.jsonl", 200)))
    train = [r[1] for r in d.split()[0]]
    avoid = frozenset(train[::2])  # half the training prompts
    fresh = set(train) - avoid
    first = d.make_problems(len(fresh), seed=3, difficulties=[1], avoid=avoid)
    assert _prompts(first) == fresh  # every fresh prompt once, no avoided one
    more = d.make_problems(len(train) + 5, seed=3, difficulties=[1], avoid=avoid)
    assert [p.prompt for p in more][: len(fresh)] == [p.prompt for p in first]
    assert _prompts(more[len(fresh) : len(train)]) == avoid  # then the avoided ones, each once
    assert _prompts(more[len(train) :]) <= fresh  # the second pass starts fresh again
    plain = d.make_problems(50, seed=3, difficulties=[1])  # without `avoid`: the draw of before
    assert plain == d.make_problems(50, seed=3, difficulties=[1], avoid=frozenset())
