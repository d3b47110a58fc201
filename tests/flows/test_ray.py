"""The round's data under `runner: ray` (a real local Ray cluster, 2 workers) is the data `runner:
local` publishes, also when a generation worker is killed mid-round."""

import copy
import json
import shutil
import threading
import time

import psutil
import pytest

pytest.importorskip("ray")
pytest.importorskip("prefect_ray")

from synthloop.flows.execution import task_runner
from synthloop.flows.round import data_flow
from synthloop.loop.bootstrap import bootstrap
from synthloop.loop.config import ConfigError, LoopConfig, load_config
from synthloop.loop.records import incumbent
from synthloop.warehouse import Catalog

from ..conftest import TINY_CONFIG

# What must agree, row by row.
COLUMNS = ["row_id", "problem_id", "sampler", "seed", "completion", "extracted", "correct", "steps_ok",
           "error_kind", "kept", "drop_reason", "dup_of", "cluster_id", "minhash"]


def _config(tmp_path, runner: str, **execution) -> LoopConfig:
    # A lenient checker (any number within 1e9 of the answer) and 8 samples of each short prompt:
    # the tiny model's rows are then often kept and often copies, so dedup has decisions to agree on.
    data = tmp_path / "sums.jsonl"
    if not data.exists():
        data.write_text("".join(json.dumps({"question": f"{a}+{b}=", "answer": str(a + b)}) + "\n"
                                for a in range(10) for b in range(10)))
    cfg = copy.deepcopy(TINY_CONFIG)
    cfg["domains"] = [{"name": "file", "knobs": {"path": str(data), "checker": "numeric", "tolerance": 1e9}}]
    cfg["verify"] = {"require_steps_ok": False}
    cfg["generation"] |= {"problems_per_round": 12, "samples_per_problem": 8, "adaptive": False, "samplers": [
        {"name": "cool", "temperature": 0.3, "max_new_tokens": 16},
        {"name": "warm", "temperature": 0.7, "max_new_tokens": 16}]}
    cfg["execution"] = {"runner": runner, "workers": 2, "shard_size": 16} | execution  # 6 parts
    return LoopConfig.model_validate(cfg)


@pytest.fixture(scope="module")
def local_round(tmp_path_factory, prefect_harness):
    """Round 0 and round 1's data under the local runner; the catalog to copy for the Ray runs."""
    tmp = tmp_path_factory.mktemp("ray")
    cfg = _config(tmp, "local")
    home = tmp / "local"
    cat = Catalog(home)
    bootstrap(cat, cfg)
    model = incumbent(cat, cfg.name)
    version = data_flow.with_options(task_runner=task_runner(cfg.execution))(str(home), cfg, 1, model).version
    rows = sorted(cat.read_table(f"tiny@{version}", columns=COLUMNS).to_pylist(), key=lambda r: r["row_id"])
    return tmp, home, model, rows


def _ray_round(tmp, src, name, model, during=None, **execution):
    home = tmp / name
    shutil.copytree(src, home, ignore=shutil.ignore_patterns("data", "staging", "*.lock"))
    cat = Catalog(home)
    with cat.write() as con:
        con.execute("DELETE FROM datasets WHERE name = 'tiny'")
    cfg = _config(tmp, "ray", **execution)
    out = {}
    run = threading.Thread(target=lambda: out.update(
        v=data_flow.with_options(task_runner=task_runner(cfg.execution))(str(home), cfg, 1, model)))
    run.start()
    extra = during() if during else None
    run.join(timeout=600)
    assert "v" in out, "the Ray round did not finish"
    version = out["v"].version
    rows = sorted(cat.read_table(f"tiny@{version}", columns=COLUMNS).to_pylist(), key=lambda r: r["row_id"])
    return cat, rows, extra


def test_ray_publishes_what_local_publishes(local_round):
    tmp, src, model, local = local_round
    assert len(local) == 12 * 8
    kept = [r for r in local if r["kept"]]
    dups = [r for r in local if r["drop_reason"] == "near_duplicate"]
    assert kept and dups  # the comparison below covers verdicts and dedup decisions, not just ids
    cat, rows, _ = _ray_round(tmp, src, "ray", model)
    assert rows == local
    assert len(cat.versions("tiny")) == 1


def _kill_one_generation_worker(deadline_s: float = 300.0) -> int | None:
    """SIGKILL the first Ray worker process seen running a `generate` task; its pid."""
    end = time.monotonic() + deadline_s
    while time.monotonic() < end:
        for p in psutil.process_iter(["pid", "cmdline"]):
            if "ray::generate" in " ".join(p.info["cmdline"] or []):
                p.kill()
                return p.pid
        time.sleep(0.05)
    return None


def test_killed_generation_worker_is_retried_and_nothing_is_published_twice(local_round):
    tmp, src, model, local = local_round
    cat, rows, killed = _ray_round(tmp, src, "ray-killed", model, during=_kill_one_generation_worker)
    assert killed is not None, "no generation worker was seen to kill"
    assert not psutil.pid_exists(killed) or psutil.Process(killed).status() == psutil.STATUS_ZOMBIE
    ids = [r["row_id"] for r in rows]
    assert len(ids) == len(set(ids)) == 12 * 8  # every row once
    assert rows == local  # and the same rows as an undisturbed round
    assert len(cat.versions("tiny")) == 1


def test_ray_config_is_refused_with_one_line_when_the_address_does_not_answer(tmp_path):
    bad = tmp_path / "c.yaml"
    bad.write_text("execution: {runner: ray, address: '127.0.0.1:9'}\n")
    with pytest.raises(ConfigError, match=r"execution.address '127.0.0.1:9' does not answer") as e:
        load_config(bad)
    assert "\n" not in str(e.value)
