"""Data policies select the right rows; the gate accepts an improving round and rejects a poisoned one."""

import copy

import pytest
from synthloop.domains import Addition
from synthloop.flows import stages
from synthloop.flows.config import LoopConfig
from synthloop.warehouse import Catalog

from ..conftest import TINY_CONFIG


def _rows(round, problems, solve, kept=True):
    d = Addition()
    return [
        {"row_id": f"r{round}-{p.id}-{j}", "round": round, "problem_id": f"r{round}.{p.id}", "prompt": p.prompt,
         "completion": solve(d, p), "kept": kept, "correct": kept, "sampler": "s", "difficulty": p.difficulty}
        for p in problems for j in range(2)
    ]


def _cfg(**finetune):
    c = copy.deepcopy(TINY_CONFIG)
    c["finetune"].update(finetune)
    return LoopConfig.model_validate(c)


def test_data_policies_select_the_right_rows(tmp_path):
    cat = Catalog(tmp_path)
    d = Addition()
    p1 = d.make_problems(5, seed=1, difficulties=[2])
    p2 = d.make_problems(3, seed=2, difficulties=[2])
    ok = lambda d, p: d.solution(p)
    cat.publish("tiny", _rows(1, p1, ok) + _rows(1, p1[:1], lambda d, p: "x", kept=False), round=1)
    cat.publish("tiny", _rows(2, p2, ok), round=2)

    acc = stages.training_pairs(cat, _cfg(policy="accumulate", seed_replay=0, max_per_problem=4), 2)
    assert len(acc) == 2 * 5 + 2 * 3 and ("x" not in {c for _, c in acc})
    rep = stages.training_pairs(cat, _cfg(policy="replace", seed_replay=0), 2)
    assert sorted(p for p, _ in rep) == sorted(p.prompt for p in p2 for _ in range(2))
    capped = stages.training_pairs(cat, _cfg(policy="accumulate", seed_replay=0, max_per_problem=1), 2)
    assert len(capped) == 5 + 3
    mix = stages.training_pairs(cat, _cfg(policy="mix", mix_fraction=0.5), 2)
    assert len(mix) == 12  # 6 kept rows of round 2 + 6 seed examples
    seed_prompts = {p for p, _ in stages.seed_set(_cfg())[0]}
    assert sum(p in seed_prompts for p, _ in mix[6:]) == 6
    replay = stages.training_pairs(cat, _cfg(policy="replace", seed_replay=7), 2)
    assert len(replay) == 6 + 7


@pytest.fixture(scope="module")
def gated(tmp_path_factory):
    """A bootstrap model that knows some 1-digit addition, and a catalog to gate rounds in."""
    c = copy.deepcopy(TINY_CONFIG)
    c["bootstrap"].update(difficulties=[1], n_problems=400,
                          model={"hidden_size": 48, "intermediate_size": 96, "num_hidden_layers": 3, "num_attention_heads": 2},
                          train={"steps": 300, "lr": 0.003, "warmup": 20, "batch_size": 32})
    c["eval"].update(difficulties=[1], n_problems=40)
    c["finetune"].update(policy="replace", seed_replay=0, train={"steps": 60, "lr": 0.003, "warmup": 5, "batch_size": 32})
    cfg = LoopConfig.model_validate(c)
    cat = Catalog(tmp_path_factory.mktemp("gate"))
    stages.bootstrap(cat, cfg)
    assert cat.model("tiny-m0")["metrics"]["eval"]["accuracy"] >= 0.2
    return cat, cfg


def _round(cat, cfg, round, solve):
    problems = Addition().make_problems(200, seed=100 + round, difficulties=[1])
    rows = _rows(round, problems, solve)
    v = cat.publish("tiny", rows, round=round)
    model = stages.incumbent(cat, "tiny")
    cand = stages.finetune(cat, cfg, round, model, v)
    return stages.decide(cat, cfg, round, cand, model, v, {"generated": len(rows), "correct": len(rows), "kept": len(rows)})


def test_gate_rejects_a_poisoned_round_and_accepts_a_good_one(gated):
    cat, cfg = gated

    def poisoned(d, p):  # every kept row has a wrong final answer (a verifier that failed)
        sol = d.solution(p)
        head, _, ans = sol.rpartition(">")
        return head + ">" + "".join(str((int(ch) + 3) % 10) for ch in ans)

    bad = _round(cat, cfg, 1, poisoned)
    assert not bad["promoted"] and bad["reason"].startswith("rejected")
    assert stages.incumbent(cat, "tiny")["model_id"] == "tiny-m0"  # the next round starts from m0
    assert cat.model("tiny-m1")["status"] == "rejected"

    good = _round(cat, cfg, 2, lambda d, p: d.solution(p))
    assert good["promoted"], good["reason"]
    assert good["model_in"] == "tiny-m0" and stages.incumbent(cat, "tiny")["model_id"] == "tiny-m2"
