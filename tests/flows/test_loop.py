"""The whole loop through Prefect on a tiny config, and the CLI around it."""

import json

import pyarrow.parquet as pq
import pytest
from synthloop.flows.round import loop_flow
from synthloop.loop.bootstrap import bootstrap
from synthloop.loop.config import ConfigError, load_config
from synthloop.loop.publish import publish, published
from synthloop.loop.records import incumbent
from synthloop.loop.steps import run_round, scored_steps
from synthloop.warehouse import Catalog
from typer.testing import CliRunner

from synthloop.cli import app


def test_one_round_through_prefect(prefect_harness, home, tiny_config):
    rows = loop_flow(str(home), tiny_config)
    assert [r["round"] for r in rows] == [0, 1]
    cat = Catalog(home)
    r1 = rows[1]
    assert r1["generated"] == 16 * 3
    assert 0 <= r1["kept"] <= r1["correct"] <= r1["generated"]
    assert 0.0 <= r1["heldout_accuracy"] <= 1.0
    # The published version holds every row with its whole story.
    info = cat.resolve("tiny@1")
    t = pq.read_table(info["path"]).to_pylist()
    assert len(t) == 48 and {r["sampler"] for r in t} == {"cool", "warm", "hot"}
    assert all(r["model_id"] == "tiny-m0" and r["config_hash"] == tiny_config.config_hash() for r in t)
    assert all((r["drop_reason"] is None) == r["kept"] for r in t)
    if r1["kept"]:
        assert cat.model("tiny-m1")["status"] in ("promoted", "rejected")
    else:  # nothing kept: recorded, no fine-tune, the incumbent stays (issue 14)
        assert cat.model("tiny-m1") is None and r1["reason"].startswith("no kept rows") and r1["model"] == "tiny-m0"
    # A rerun with more rounds resumes: round 1 is not redone, round 2 is added.
    rows2 = loop_flow(str(home), tiny_config.model_copy(update={"rounds": 2}))
    assert [r["round"] for r in rows2] == [0, 1, 2]
    assert rows2[1] == rows[1]
    assert len(cat.versions("tiny")) == 2


def test_resume_after_crash_between_publish_and_finetune(home, tiny_config):
    cat = Catalog(home)
    bootstrap(cat, tiny_config)
    model = incumbent(cat, "tiny")
    filtered, metrics = scored_steps(cat, tiny_config, 1, model)
    publish(cat, tiny_config, 1, filtered.shards, metrics, model.model_id)
    # ...crash here. The rerun finds the version and goes on from fine-tuning, not sampling again.
    assert published(cat, "tiny", 1).version == 1
    done = run_round(cat, tiny_config, 1)
    assert done.dataset_version == 1 and len(cat.versions("tiny")) == 1
    assert published(cat, "tiny", 1).metrics["generated"] == metrics.generated  # the data metrics, read back


def test_bad_configs_are_one_line_errors(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("generation: {samples_per_problem: -1, sampels: 3}\n")
    with pytest.raises(ConfigError, match="generation.samples_per_problem"):
        load_config(bad)
    bad.write_text("[1, 2")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config(bad)
    runner = CliRunner()
    res = runner.invoke(app, ["run", "--config", str(bad), "--home", str(tmp_path / "h")])
    assert res.exit_code == 2 and "error" in res.output and "Traceback" not in res.output
    res = runner.invoke(app, ["run", "--config", str(tmp_path / "missing.yaml")])
    assert res.exit_code == 2 and "not found" in res.output
    res = runner.invoke(app, ["status", "--home", str(tmp_path / "nothing")])
    assert res.exit_code == 2 and "synthloop run" in res.output


def test_status_json(home, tiny_config):
    cat = Catalog(home)
    bootstrap(cat, tiny_config)
    res = CliRunner().invoke(app, ["status", "--name", "tiny", "--json", "--home", str(home)])
    assert res.exit_code == 0, res.output
    rows = [json.loads(line) for line in res.output.splitlines()]
    keys = {"round", "model", "dataset_version", "generated", "correct", "kept", "heldout_accuracy", "pass_at_k", "k", "distinct_2"}
    assert rows[0]["round"] == 0 and keys <= set(rows[0])
    assert 0.0 <= rows[0]["heldout_accuracy"] <= 1.0


def test_default_config_is_valid():
    cfg = load_config()
    assert cfg.rounds == 3 and cfg.domains[0].name == "addition"
