"""`synthloop experiment` on a tiny config: each experiment runs through Prefect, its arms differ in
the one variable they should, the table has every cell, the page is clean in a real browser."""

import copy
import json
import math
import re
from pathlib import Path

import pytest
import yaml
from synthloop.flows.experiment import FLOWS
from synthloop.loop import experiments as es
from synthloop.warehouse import Catalog
from typer.testing import CliRunner

from synthloop.cli import app

from ..conftest import TINY_CONFIG
from ..warehouse import chromium

TINY = copy.deepcopy(TINY_CONFIG) | {"name": "x"}
# Short answers (1-2 digits fit in 24 characters): an untrained model never stops by itself, and
# generating to 96 tokens is most of the cost of a tiny run.
TINY["eval"] |= {"max_new_tokens": 24, "n_problems": 8, "difficulties": [1, 2]}
TINY["generation"]["samplers"] = [{"name": n, "temperature": t, "max_new_tokens": 24} for n, t in (("cool", 0.5), ("hot", 1.0))]
TINY["experiment"] = {
    "noise": {"static_rates": [0.4, 1.0], "dynamic_rates": [0.5], "seeds": 2,
              "overrides": {"eval": {"n_samples": 1, "k": 1}}},
    "collapse": {"rounds": 2},
    "passk": {"sft_rounds": 2, "epochs_per_round": 2, "ei_rounds": 1, "overrides": {"eval": {"n_samples": 4, "k": 2}}},
}
CELLS = ["bootstrap (before fine-tuning)", "clean", "static-0.4", "static-1", "dynamic-0.5"]


@pytest.fixture(scope="module")
def run(prefect_harness, tmp_path_factory):
    """All three experiments in one home (they share one bootstrap), through their Prefect flows."""
    tmp = tmp_path_factory.mktemp("experiment")
    path = tmp / "tiny.yaml"
    path.write_text(yaml.safe_dump(TINY))
    cfg, spec = es.load_experiment_config(path)
    home = str(tmp / "home")
    seen = []
    results = {n: FLOWS[n](home, cfg, spec, out=str(tmp / "out"), on_arm=lambda a, rows: seen.append(a.cfg.name))
               for n in es.EXPERIMENTS}
    return {"cat": Catalog(home), "cfg": cfg, "spec": spec, "res": results, "seen": seen, "path": path, "tmp": tmp}


def _numbers(row, keys):
    return all(isinstance(row[k], float) and math.isfinite(row[k]) for k in keys)


def test_arms_share_one_bootstrap_with_lineage(run):
    cat, cfg = run["cat"], run["cfg"]
    base = cat.model(f"{es.base_config(cfg).name}-m0")
    arms = [a for n in es.EXPERIMENTS for a in run["res"][n]["arms"]]
    assert len(arms) == 8 + 2 + 2 and run["seen"] == [a["run"] for a in arms]
    for a in arms:
        m0 = cat.model(f"{a['run']}-m0")
        assert m0["path"] == base["path"] and m0["parent"] == base["model_id"]
        final = cat.model(a["model"])
        if a["label"] not in ("loop", "ei"):  # (a tiny loop may keep nothing and train nothing)
            # trained on the arm's own training set, a version built from the arm's rounds
            assert final["dataset"] == f"{a['run']}-train" and final["dataset_version"] >= 1 and final["round"] >= 1
    # Only one model was trained from scratch: the base (+ one per arm round, fine-tuned).
    assert len([m for m in cat.query("SELECT * FROM models") if m["round"] == 0 and m["parent"] is None]) == 1


def test_noise_cells_differ_only_in_the_noise(run):
    cat, res = run["cat"], run["res"]["noise"]
    rows = res["rows"]
    assert [r["cell"] for r in rows] == CELLS
    assert all(_numbers(r, ["accuracy", "accuracy_min", "accuracy_max"]) and r["seeds"] == 2 for r in rows)
    assert all(_numbers(r, ["noised_rows", "wrong_answer_rows"]) for r in rows[1:])
    for seed in (0, 1):
        data = {a["label"]: cat.read_table(f"{a['run']}@1").to_pylist() for a in res["arms"] if a["seed"] == seed}
        clean = data["clean"]
        noised = {}
        for label, t in data.items():
            # The same problems in the same order, every row kept and trained on.
            assert [r["prompt"] for r in t] == [r["prompt"] for r in clean] and all(r["kept"] for r in t)
            noised[label] = {r["problem_id"] for r, c in zip(t, clean) if r["completion"] != c["completion"]}
            changed = [r for r in t if r["problem_id"] in noised[label]]
            if label.startswith("static"):
                assert all(r["correct"] for r in t)  # static noise never reaches the answer
            elif label.startswith("dynamic"):
                assert changed and all(not r["correct"] and r["error_kind"] == "dynamic" for r in changed)
        assert all(r["correct"] and r["error_kind"] == "none" for r in clean)
        # A larger share noises a superset of the problems a smaller share noised.
        assert 0 < len(noised["static-0.4"]) < len(noised["static-1"]) == len(clean)
        assert noised["static-0.4"] <= noised["static-1"] and 0 < len(noised["dynamic-0.5"]) < len(clean)
    # The two seeds are different draws.
    s0, s1 = (next(a["run"] for a in res["arms"] if a["seed"] == s and a["label"] == "clean") for s in (0, 1))
    assert cat.read_table(f"{s0}@1")["prompt"].to_pylist() != cat.read_table(f"{s1}@1")["prompt"].to_pylist()


def test_collapse_arms_differ_only_in_the_filter(run):
    cfg, spec = run["cfg"], run["spec"]
    loop, keep = es.collapse_arms(cfg, spec.collapse)
    diff = _diff(loop.cfg.model_dump(mode="json"), keep.cfg.model_dump(mode="json"))
    assert diff == {"name", "verify.keep_all", "dedup.enabled", "gate.max_accuracy_drop", "gate.max_pass_at_k_drop",
                    "finetune.max_per_problem"}
    rows = run["res"]["collapse"]["rows"]
    assert [(r["arm"], r["round"]) for r in rows] == [("loop", 0), ("loop", 1), ("loop", 2),
                                                      ("keep-all", 0), ("keep-all", 1), ("keep-all", 2)]
    for r in rows:
        assert _numbers(r, ["accuracy", "pass_at_k", "heldout_distinct_correct"])
        if r["round"] > 0:  # (a tiny loop may keep nothing: no correct share then)
            assert _numbers(r, ["distinct_2"]) and isinstance(r["distinct_correct"], float)
            assert r["arm"] == "loop" or _numbers(r, ["correct_share"])
    cat = run["cat"]
    for v in cat.versions(keep.cfg.name):  # keep-all keeps every row, right or wrong
        assert v["kept"] == v["rows"] > 0
    assert any(r["correct_share"] < 1 for r in rows if r["arm"] == "keep-all" and r["round"] > 0)
    assert all(r["correct_share"] == 1.0 for r in rows if r["arm"] == "loop" and r["correct_share"] is not None)


def test_passk_table_has_every_k_for_every_checkpoint(run):
    rows = run["res"]["passk"]["rows"]
    assert [(r["arm"], r["checkpoint"]) for r in rows] == [("sft", 0), ("sft", 1), ("sft", 2), ("ei", 0), ("ei", 1)]
    assert [r["training"] for r in rows] == ["0 epochs", "2 epochs", "4 epochs", "round 0", "round 1"]
    for r in rows:
        assert _numbers(r, ["accuracy", "pass@1", "pass@2", "pass@4"])
        assert r["pass@1"] <= r["pass@2"] <= r["pass@4"]
    cat = run["cat"]
    sft, ei = (a["run"] for a in run["res"]["passk"]["arms"])
    # The SFT arm trains on one published set of references, again and again; EI on its own samples.
    assert [v["version"] for v in cat.versions(sft)] == [1]
    assert set(cat.read_table(f"{sft}@1")["sampler"].to_pylist()) == {"reference"}
    assert [r["dataset_version"] for r in cat.rounds(sft)] == [None, 1, 1]
    assert "reference" not in set(cat.read_table(f"{ei}@1")["sampler"].to_pylist())


def test_cli_json_resumes_and_writes_the_page(run, tmp_path):
    home = str(run["cat"].home)
    res = CliRunner().invoke(app, ["experiment", "passk", "--config", str(run["path"]), "--home", home, "--json",
                                   "--out", str(tmp_path)])
    assert res.exit_code == 0, res.output
    lines = [json.loads(x) for x in res.stdout.splitlines() if x.startswith("{")]
    assert lines == run["res"]["passk"]["rows"]  # nothing retrained: the rerun read the catalog
    page = (tmp_path / "experiment-passk.html").read_text()
    assert page.count("data:image/png;base64,") == 1 and not re.search(r"""(src|href)=["']?(https?:|//)""", page)
    assert json.loads((tmp_path / "experiment-passk.json").read_text())["rows"] == lines
    bad = CliRunner().invoke(app, ["experiment", "nope", "--config", str(run["path"]), "--home", home])
    assert bad.exit_code == 2 and "noise, collapse, passk" in bad.output and "Traceback" not in bad.output


def test_a_changed_config_is_refused_not_mixed(run, tmp_path):
    other = copy.deepcopy(TINY)
    other["finetune"]["train"]["steps"] = 6
    path = tmp_path / "other.yaml"
    path.write_text(yaml.safe_dump(other))
    res = CliRunner().invoke(app, ["experiment", "noise", "--config", str(path), "--home", str(run["cat"].home)])
    assert res.exit_code == 2 and "another config" in res.output


@pytest.mark.skipif(chromium.available() is not None, reason=chromium.available() or "")
def test_pages_in_headless_chromium(run):
    with chromium.Page() as page:
        for name in es.EXPERIMENTS:
            page.goto(Path(run["res"][name]["files"]["html"]).as_uri())
            assert page.errors() == []
            assert page.eval("document.title").startswith(f"experiment {name}")
            images = page.eval("Array.from(document.images).map(i => [i.alt, i.complete && i.naturalWidth > 0])")
            assert len(images) == 1 and images[0][1], images
            cells = page.eval("Array.from(document.querySelectorAll('#result-table td')).map(td => td.textContent)")
            n_cols = page.eval("document.querySelectorAll('#result-table th').length")
            assert len(cells) == len(run["res"][name]["rows"]) * n_cols and "" not in cells


def _diff(a: dict, b: dict, prefix: str = "") -> set[str]:
    out = set()
    for k in set(a) | set(b):
        if isinstance(a.get(k), dict) and isinstance(b.get(k), dict):
            out |= _diff(a[k], b[k], f"{prefix}{k}.")
        elif a.get(k) != b.get(k):
            out.add(f"{prefix}{k}")
    return out
