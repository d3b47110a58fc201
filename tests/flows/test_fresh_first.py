"""generation.fresh_first: a round draws the file's prompts without a kept row before those with one."""

import json

from synthloop.loop.config import LoopConfig
from synthloop.loop.plan import round_course, round_problems, solved_prompts
from synthloop.loop.problems import domains_of
from synthloop.warehouse import Catalog


def _config(path, fresh_first: bool) -> LoopConfig:
    return LoopConfig.model_validate({
        "name": "f", "domains": [{"name": "file", "knobs": {"path": str(path), "checker": "numeric"}}],
        "generation": {"problems_per_round": 60, "samples_per_problem": 1, "fresh_first": fresh_first,
                       "difficulty_weights": {1: 1.0}},
        "curriculum": {"policy": "fixed"},  # one draw of 60 at difficulty 1
    })


def test_round_two_skips_prompts_round_one_kept(tmp_path):
    path = tmp_path / "q.jsonl"
    path.write_text("".join(json.dumps({"question": f"What is {i} + 1?", "answer": str(i + 1)}) + "\n"
                            for i in range(100)))
    cfg = _config(path, True)
    cat = Catalog(tmp_path / "home")
    one = round_problems(cat, cfg, 1)
    assert len(one) == 60 and solved_prompts(cat, cfg, 1) == frozenset()
    kept = {p.prompt for p in one[:50]}
    rows = [{"row_id": f"r1-{i}", "problem_id": p.id, "domain": "file", "difficulty": 1, "prompt": p.prompt,
             "completion": p.answer, "correct": p.prompt in kept, "kept": p.prompt in kept, "rationalized": False}
            for i, p in enumerate(one)]
    cat.publish("f", rows, round=1, config_hash=cfg.config_hash())
    assert solved_prompts(cat, cfg, 2) == kept
    assert solved_prompts(cat, cfg, 1) == frozenset()  # a rerun of round 1 does not see its own rows

    course = round_course(cat, cfg, 2)
    two = round_problems(cat, cfg, 2, course)
    train = {r[1] for r in domains_of(cfg)["file"].split()[0]}
    n_fresh = len(train - kept)
    again = [p for p in two if p.prompt in kept]
    assert len(again) == max(0, 60 - n_fresh)  # solved prompts only once the fresh ones are used up
    assert course["fresh"] == {"solved_prompts": 50, "drawn": 60, "drawn_solved": len(again)}

    off = _config(path, False)
    assert solved_prompts(cat, off, 2) == frozenset()
    assert off.config_hash() != cfg.config_hash()
    # off is left out of the hash, so old runs resume: tests/flows/test_trainset.py checks it against
    # the hash written out by hand
