"""Round 2's generation plan comes from round 1's published rows; the total stays problems x K."""

import pytest
from synthloop.loop.bootstrap import bootstrap
from synthloop.loop.config import ConfigError, load_config
from synthloop.loop.plan import generation_plan, round_problems
from synthloop.loop.publish import publish
from synthloop.loop.records import incumbent
from synthloop.loop.steps import scored_steps
from synthloop.warehouse import Catalog


def test_round_two_adapts_and_records_why(home, tiny_config):
    cat = Catalog(home)
    bootstrap(cat, tiny_config)
    model = incumbent(cat, "tiny")
    filtered, metrics = scored_steps(cat, tiny_config, 1, model)
    assert "no earlier round" in metrics.allocation["reason"]
    publish(cat, tiny_config, 1, filtered.shards, metrics, model.model_id)

    problems = round_problems(cat, tiny_config, 2)  # the curriculum's draw, as `plan` makes it
    plan = generation_plan(cat, tiny_config, 2, problems)
    gen = tiny_config.generation
    assert sum(plan.budgets) == len(problems) * gen.samples_per_problem
    lo, hi = gen.sample_range()
    assert all(lo <= b <= hi for b in plan.budgets)
    assert sum(e.share for e in plan.portfolio) == pytest.approx(1.0)
    assert min(e.share for e in plan.portfolio) >= gen.min_share - 1e-9
    rec = plan.record
    assert rec["from"] == {"round": 1, "version": 1}
    assert set(rec["samplers"]) == {"cool", "warm", "hot"}
    assert all("share" in s["reason"] for s in rec["samplers"].values())
    assert set(rec["problems"]["by_bucket"]) <= {"addition/d1", "addition/d2"}

    filtered2, m2 = scored_steps(cat, tiny_config, 2, model)
    rows2 = [r for s in filtered2.shards for r in s.read(columns=["problem_id"]).to_pylist()]
    assert len(rows2) == len(problems) * gen.samples_per_problem
    assert [sum(r["problem_id"] == p.id for r in rows2) for p in problems] == plan.budgets
    assert m2.allocation == rec  # recorded in the round's metrics as planned

    off = tiny_config.model_copy(update={"generation": gen.model_copy(update={"adaptive": False})})
    assert generation_plan(cat, off, 2, problems).budgets is None


def test_generation_config_errors_are_one_line(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("generation: {min_share: 0.5}\n")
    with pytest.raises(ConfigError, match="min_share 0.5 x 3 samplers"):
        load_config(bad)
    bad.write_text("generation: {samples_per_problem: 8, max_samples_per_problem: 4}\n")
    with pytest.raises(ConfigError, match="max_samples_per_problem"):
        load_config(bad)
    bad.write_text("generation: {samplers: [{name: a, prompt_variant: fancy}]}\n")
    with pytest.raises(ConfigError, match="unknown prompt variant"):
        load_config(bad)


def test_vllm_backend_where_it_cannot_run_is_refused_at_load(tmp_path):
    cfg = tmp_path / "v.yaml"
    cfg.write_text(f"generation: {{backend: vllm, vllm: {{python: {tmp_path / 'no-python'}}}}}\n")
    with pytest.raises(ConfigError, match="generation: .*vLLM backend: .* cannot import vllm: `make vllm`"):
        load_config(cfg)
