"""Data policies select the right rows; the gate accepts an improving round and rejects a poisoned one."""

import copy

import pytest
from synthloop.domains import Addition
from synthloop.loop.bootstrap import bootstrap
from synthloop.loop.config import LoopConfig
from synthloop.loop.finetune import finetune, training_pairs
from synthloop.loop.gate import decide
from synthloop.loop.problems import seed_set
from synthloop.loop.records import Published, incumbent, model_ref
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

    acc = training_pairs(cat, _cfg(policy="accumulate", seed_replay=0, max_per_problem=4), 2)
    assert len(acc) == 2 * 5 + 2 * 3 and ("x" not in {c for _, c in acc})
    rep = training_pairs(cat, _cfg(policy="replace", seed_replay=0), 2)
    assert sorted(p for p, _ in rep) == sorted(p.prompt for p in p2 for _ in range(2))
    capped = training_pairs(cat, _cfg(policy="accumulate", seed_replay=0, max_per_problem=1), 2)
    assert len(capped) == 5 + 3
    mix = training_pairs(cat, _cfg(policy="mix", mix_fraction=0.5), 2)
    assert len(mix) == 12  # 6 kept rows of round 2 + 6 seed examples
    seed_prompts = {p for p, _ in seed_set(_cfg())[0]}
    assert sum(p in seed_prompts for p, _ in mix[6:]) == 6
    replay = training_pairs(cat, _cfg(policy="replace", seed_replay=7), 2)
    assert len(replay) == 6 + 7


@pytest.fixture(scope="module")
def gated(tmp_path_factory):
    """A bootstrap model that knows some 1-digit addition, and a catalog to gate rounds in."""
    c = copy.deepcopy(TINY_CONFIG)
    c["bootstrap"].update(difficulties=[1], n_problems=400,
                          model={"hidden_size": 48, "intermediate_size": 96, "num_hidden_layers": 3, "num_attention_heads": 2},
                          train={"steps": 300, "lr": 0.003, "warmup": 20, "batch_size": 32})
    c["eval"].update(difficulties=[1], n_problems=40)
    c["finetune"].update(policy="replace", seed_replay=0, train={"steps": 60, "lr": 0.001, "warmup": 5, "batch_size": 32})
    cfg = LoopConfig.model_validate(c)
    cat = Catalog(tmp_path_factory.mktemp("gate"))
    bootstrap(cat, cfg)
    assert cat.model("tiny-m0")["metrics"]["eval"]["accuracy"] >= 0.2
    return cat, cfg


def _poisoned(d, p):  # every kept row has a wrong final answer (a verifier that failed)
    sol = d.solution(p)
    head, _, ans = sol.rpartition(">")
    return head + ">" + "".join(str((int(ch) + 3) % 10) for ch in ans)


def test_gate_rejects_a_poisoned_round_and_accepts_a_good_one(tmp_path):
    """The gate's decision and its bookkeeping on fixed held-out metrics (no training noise)."""
    cat = Catalog(tmp_path)
    cfg = _cfg()
    ev = lambda acc, pk: {"eval": {"accuracy": acc, "pass_at_k": pk}, "train": {}}
    cat.register_model("tiny-m0", tmp_path / "m0", round=0, parent=None, status="promoted", metrics=ev(0.40, 0.70))
    cat.finish_round("tiny", 0, dataset_version=None, model_in=None, model_out="tiny-m0", promoted=True,
                     reason="bootstrap", metrics=ev(0.40, 0.70))
    data = {"generated": 10, "correct": 10, "kept": 10}

    def round(r, acc, pk):
        cat.register_model(f"tiny-m{r}", tmp_path / f"m{r}", round=r, parent="tiny-m0", status="candidate",
                           metrics=ev(acc, pk))
        model = incumbent(cat, "tiny")
        return decide(cat, cfg, r, model_ref(cat, f"tiny-m{r}"), model, Published(r, data))

    bad = round(1, 0.05, 0.20)  # what training on wrong answers does (measured below)
    assert not bad.promoted and bad.reason.startswith("rejected: accuracy fell by 0.350")
    assert incumbent(cat, "tiny").model_id == "tiny-m0"  # the next round starts from m0
    assert cat.model("tiny-m1")["status"] == "rejected"
    noise = round(2, 0.39, 0.70)  # within max_accuracy_drop (0.02): noise, not a regression
    assert noise.promoted and noise.model_in == "tiny-m0"
    assert incumbent(cat, "tiny").model_id == "tiny-m2"
    worse_pk = round(3, 0.45, 0.60)  # accuracy up, pass@k down by more than 0.05
    assert not worse_pk.promoted and "pass@k fell" in worse_pk.reason
    assert incumbent(cat, "tiny").model_id == "tiny-m2"


def test_finetuning_on_poisoned_data_collapses_accuracy_and_on_good_data_does_not(gated):
    """The real fine-tune, with margins that hold. Measured (2026-12-01, load ~14): incumbent
    0.350, after 60 steps on 400 wrong answers 0.100, after the same steps on right answers
    0.525. Each bound below sits >= 0.15 (6 of 40 problems, ~2 sigma of a 40-problem accuracy)
    from what was measured; the gate's own decision is tested on fixed metrics above."""
    cat, cfg = gated
    m0 = model_ref(cat, "tiny-m0")
    base = m0.eval.accuracy
    problems = Addition().make_problems(200, seed=101, difficulties=[1])
    v1 = cat.publish("tiny", _rows(1, problems, _poisoned), round=1)
    bad = finetune(cat, cfg, 1, m0, v1).eval.accuracy
    v2 = cat.publish("tiny", _rows(2, problems, lambda d, p: d.solution(p)), round=2)
    good = finetune(cat, cfg, 2, m0, v2).eval.accuracy
    seen = f"incumbent {base:.3f}, poisoned {bad:.3f}, good {good:.3f}"
    assert base - bad >= 0.1, seen  # wrong answers are learned: accuracy falls
    assert good - bad >= 0.2, seen
    assert good >= base - 0.1, seen  # right answers do not break the model
