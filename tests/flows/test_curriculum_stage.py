"""The curriculum stage in the loop: the recorded decision follows the recorded pass rates, the
round draws what it decided, and the frontier moves when the pass rates say so."""

import copy

from synthloop.generators.curriculum import decide, pass_rates
from synthloop.loop.bootstrap import bootstrap
from synthloop.loop.config import LoopConfig
from synthloop.loop.curriculum import mix_of, round_curriculum
from synthloop.loop.problems import sample_problems
from synthloop.loop.publish import publish
from synthloop.loop.records import incumbent
from synthloop.loop.status import status_rows
from synthloop.loop.steps import scored_steps
from synthloop.warehouse import Catalog


def test_the_round_records_and_follows_its_curriculum(home, tiny_config):
    cfg = tiny_config.model_copy(update={"curriculum": tiny_config.curriculum.__class__(band=(0.02, 0.9), max_difficulty=3)})
    cat = Catalog(home)
    bootstrap(cat, cfg)
    model = incumbent(cat, "tiny")
    filtered, metrics = scored_steps(cat, cfg, 1, model)
    final = filtered.shards
    course = metrics.curriculum
    # The decision is the pure function of the pass rates the incumbent's evaluation recorded.
    ev = model.metrics["eval"]["by_difficulty"]
    expect = decide(pass_rates(ev), 16, cfg.curriculum)
    assert {k: course[k] for k in ("policy", "frontier", "by_difficulty")} == expect
    assert sum(v["problems"] for v in course["by_difficulty"].values()) == 16
    assert all({"pass_rate", "share", "problems", "reason"} <= set(v) for v in course["by_difficulty"].values())
    # The rows are drawn at exactly the decided difficulties, in the decided numbers.
    drawn: dict[int, set] = {}
    for s in final:
        for r in s.read(columns=["difficulty", "problem_id"]).to_pylist():
            drawn.setdefault(r["difficulty"], set()).add(r["problem_id"])
    assert {d: len(ids) for d, ids in drawn.items()} == mix_of(course)["addition"]
    # Published with the round: the key the report and `synthloop status` read.
    v = publish(cat, cfg, 1, final, metrics, model.model_id).version
    assert cat.resolve(f"tiny@{v}")["metrics"]["curriculum"]["frontier"] == course["frontier"]
    cat.finish_round("tiny", 1, dataset_version=v, model_in="tiny-m0", model_out="tiny-m0", promoted=False,
                     reason="test", metrics={"data": metrics.to_dict()})
    assert status_rows(cat, "tiny")[1]["frontier"] == course["frontier"]


def test_the_frontier_moves_with_the_recorded_pass_rates(home, tiny_config):
    cat = Catalog(home)
    cfg = LoopConfig.model_validate(copy.deepcopy(tiny_config.model_dump()) | {"name": "moves"})
    low = {"by_difficulty": {1: {"accuracy": 0.95, "n": 10}, 2: {"accuracy": 0.3, "n": 10}, 3: {"accuracy": 0.0, "n": 10}}}
    high = {"by_difficulty": {1: {"accuracy": 1.0, "n": 10}, 2: {"accuracy": 0.95, "n": 10}, 3: {"accuracy": 0.5, "n": 10}}}
    a, b = round_curriculum(cat, cfg, 1, low), round_curriculum(cat, cfg, 1, high)
    assert (a["frontier"], b["frontier"]) == (2, 3)
    pa, pb = sample_problems(cfg, 1, mix_of(a)), sample_problems(cfg, 1, mix_of(b))
    assert max(p.difficulty for p in pa) == 2 and max(p.difficulty for p in pb) == 4  # 3 is at advance_at: 4 opens
    fixed = cfg.model_copy(update={"curriculum": cfg.curriculum.__class__(policy="fixed")})
    assert sample_problems(fixed, 1, mix_of(round_curriculum(cat, fixed, 1, high))) == sample_problems(fixed, 1)
