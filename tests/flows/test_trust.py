"""Issue 26 in a round: decontamination, the verifier audit and the cost of a kept row.

Most rounds here are made of reference solutions (loop/reference.py: no model is trained or
sampled), so what is kept, planted and caught is known; the cost test runs a real tiny round.
"""

from __future__ import annotations

import copy
import hashlib
import json
import os
import zlib
from functools import partial
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from synthloop.domains import Addition, Verdict
from synthloop.loop.config import LoopConfig
from synthloop.loop.problems import heldout, sample_problems
from synthloop.loop.publish import publish
from synthloop.loop.records import ModelRef
from synthloop.loop.reference import Noise, reference_plan, reference_shard
from synthloop.loop.status import status_rows
from synthloop.loop.steps import LOCAL, Source, run_loop, scored_steps
from synthloop.warehouse import Catalog
from synthloop.warehouse.summary import markdown, sampler_table, summarize

from synthloop import domains
from tests.conftest import TINY_CONFIG

GSM8K = Path(os.environ.get("SYNTHLOOP_GSM8K") or Path(__file__).resolve().parents[2].parent / "shared" / "data" / "gsm8k")
NO_MODEL = ModelRef("none", "", 0, None, "promoted")  # reference rows: no model writes them


def reference(noise: Noise | None = None) -> Source:
    return Source(plan=reference_plan, generate=partial(reference_shard, noise), by_model=False)


def config(**over) -> LoopConfig:
    base = {"name": "trust", "generation": {"problems_per_round": 30, "difficulty_weights": {1: 1.0}},
            "eval": {"n_problems": 10, "difficulties": [1]}, "diversity": {"embeddings": False}}
    for k, v in over.items():
        base[k] = base.get(k, {}) | v if isinstance(v, dict) else v
    return LoopConfig.model_validate(base)


def gsm8k_lines(n: int, skip: int = 0) -> list[dict]:
    if not (GSM8K / "test.jsonl").exists():
        pytest.skip("GSM8K's test split is not beside the checkout (set SYNTHLOOP_GSM8K)")
    with open(GSM8K / "test.jsonl", encoding="utf-8") as f:
        return [json.loads(x) for x in f.readlines()[skip : skip + n]]


def test_planted_benchmark_rows_are_dropped_counted_shown_and_in_the_lineage(tmp_path):
    problems = tmp_path / "problems.jsonl"  # a user's problems: 60 GSM8K questions with worked answers
    problems.write_text("".join(json.dumps(r) + "\n" for r in gsm8k_lines(60)))
    dom = {"name": "file", "knobs": {"path": str(problems), "checker": "pattern", "pattern": "####"}}
    plain = config(domains=[dom])
    drawn = [p.prompt for p in sample_problems(plain, 1)]
    # The benchmark: one drawn question verbatim, one with a number changed, and 20 others.
    reworded = drawn[1].replace("2", "7", 1) if "2" in drawn[1] else drawn[1] + " Explain."
    bench = tmp_path / "bench.jsonl"
    bench.write_text("".join(json.dumps({"question": q}) + "\n"
                             for q in [drawn[0], reworded] + [r["question"] for r in gsm8k_lines(20, skip=700)]))
    cfg = config(domains=[dom], decontaminate={"files": [str(bench)]})
    cat = Catalog(tmp_path / "home")
    filtered, metrics = scored_steps(cat, cfg, 1, NO_MODEL, LOCAL, reference())
    version = publish(cat, cfg, 1, filtered.shards, metrics, None).version
    assert filtered.drops["contaminated"] == 2 and metrics.drop_reasons["contaminated"] == 2
    rows = cat.read_table(f"trust@{version}").to_pylist()
    hit = [r for r in rows if r["drop_reason"] == "contaminated"]
    assert sorted(r["prompt"] for r in hit) == sorted(drawn[:2]) and not any(r["kept"] for r in hit)
    assert all(r["contamination"].startswith("bench.jsonl#") for r in hit)
    assert sum(r["kept"] for r in rows) == len(rows) - 2  # reference solutions: only the planted two go
    # The lineage: what the version was checked against, by content hash.
    rec = cat.resolve(f"trust@{version}")["metrics"]["decontamination"]
    against = {a["source"]: a for a in rec["index"]["checked_against"]}
    assert against["bench.jsonl"]["sha256"] == hashlib.sha256(bench.read_bytes()).hexdigest()
    assert against["bench.jsonl"]["items"] == 22 and against["heldout"]["items"] == len(heldout(cfg))
    # The report shows them.
    s = summarize(cat, f"trust@{version}")
    assert len(s["contamination"]["examples"]) == 2 and "2 dropped as contaminated" in markdown(s)
    # The index is kept in the home and found again by the next round, not built again.
    (index,) = (tmp_path / "home" / "decontam").glob("*.parquet")
    built = index.stat().st_mtime_ns
    again, _ = scored_steps(cat, cfg, 2, NO_MODEL, LOCAL, reference())
    assert again.index == str(index) and index.stat().st_mtime_ns == built


def test_a_generated_domain_reports_its_heldout_overlap_and_drops_it_only_when_asked(tmp_path):
    cfg = config(domains=[{"name": "addition", "knobs": {"format": "msd"}}])  # 1-digit sums: 100 of them
    held = {p.prompt for p in heldout(cfg)}
    planted = sum(p.prompt in held for p in sample_problems(cfg, 1))
    assert planted > 0  # 30 sums drawn from 100 against 10 held out: some repeat by construction
    filtered, metrics = scored_steps(Catalog(tmp_path / "a"), cfg, 1, NO_MODEL, LOCAL, reference())
    assert filtered.checks.decontam.heldout_overlap == planted and "contaminated" not in filtered.drops
    assert metrics.decontamination["heldout_overlap"] == planted
    strict = config(domains=[{"name": "addition", "knobs": {"format": "msd"}}], decontaminate={"heldout": "drop"})
    filtered, _ = scored_steps(Catalog(tmp_path / "b"), strict, 1, NO_MODEL, LOCAL, reference())
    assert filtered.drops["contaminated"] == planted and filtered.checks.decontam.heldout_overlap == 0


class LenientAddition(Addition):
    """A checker with a planted bug: it accepts a wrong answer for half of the completions (by a
    hash of the text, so the same ones every run)."""

    def verify(self, problem, completion):
        v = super().verify(problem, completion)
        if not v.correct and v.extracted is not None and zlib.crc32(completion.encode()) % 2 == 0:
            return Verdict(True, v.extracted, True, None, "none", v.n_steps)
        return v


def audit_round(tmp_path, name: str):
    cfg = config(name=name, domains=[{"name": "addition", "knobs": {"format": "msd"}}],
                 generation={"problems_per_round": 150, "difficulty_weights": {2: 1.0, 3: 1.0}},
                 audit={"fraction": 1.0})
    # Half of the reference solutions get a step wrong that carries into the answer.
    return scored_steps(Catalog(tmp_path / name), cfg, 1, NO_MODEL, LOCAL, reference(Noise("dynamic", 0.5, 1.0)))


def test_the_audit_catches_a_lenient_checker_and_a_healthy_one_raises_nothing(tmp_path, monkeypatch):
    filtered, healthy = audit_round(tmp_path, "healthy")
    assert healthy.audit["false_accepts"] == 0 and healthy.audit["false_rejects"] == 0
    assert healthy.audit["rejected_judged"] > 30 and healthy.audit_alerts == []
    monkeypatch.setitem(domains.DOMAINS, "addition", LenientAddition)
    filtered, lenient = audit_round(tmp_path, "lenient")
    a = lenient.audit
    # Every kept row was re-judged (fraction 1): the false accepts are exactly the kept wrong answers.
    rows = [r for s in filtered.shards for r in s.read().to_pylist()]
    wrong_kept = sum(1 for r in rows if r["kept"] and r["extracted"] != r["reference"])
    assert wrong_kept > 0 and a["false_accepts"] + a["false_rejects"] > 0
    assert a["false_accepts"] >= wrong_kept - filtered.deduped.near_duplicate  # dedup runs after the audit
    assert a["false_accept_ci"][0] > 0.02
    (alert,) = lenient.audit_alerts
    assert alert.kind == "audit" and alert.metric == "false_accept_rate" and alert.low > 0.02
    assert "lenient checker" in alert.message and alert.short.startswith("false_accept_rate")
    assert lenient.to_dict()["audit_alerts"][0]["metric"] == "false_accept_rate"


def test_cost_per_kept_row_and_unseen_accuracy_in_status_report_and_artifact(tmp_path):
    c = copy.deepcopy(TINY_CONFIG)
    c["generation"] |= {"problems_per_round": 8, "samplers": [{"name": "cool", "temperature": 0.5, "max_new_tokens": 24},
                                                              {"name": "hot", "temperature": 1.1, "max_new_tokens": 24}]}
    c["eval"] |= {"n_problems": 6, "n_samples": 2, "max_new_tokens": 24}
    cfg = LoopConfig.model_validate(c)
    cat = Catalog(tmp_path / "home")
    run_loop(cat, cfg)
    r0, r1 = status_rows(cat, "tiny")
    json.dumps(r1)  # what `status --json` prints
    cost = r1["cost"]
    rows = pq.read_table(cat.resolve("tiny@1")["path"]).to_pylist()
    assert cost["tokens"] == sum(r["n_tokens"] for r in rows) > 0 and set(cost["by_sampler"]) == {"cool", "hot"}
    assert sum(s["tokens"] for s in cost["by_sampler"].values()) == cost["tokens"]
    assert cost["compute_seconds"] >= cost["generate_seconds"] > 0
    assert cost["kept_per_1k_tokens"] == pytest.approx(1000 * r1["kept"] / cost["tokens"])
    assert cost["kept_per_compute_minute"] == pytest.approx(60 * r1["kept"] / cost["compute_seconds"])
    assert sum(s["generate_seconds"] for s in cost["by_sampler"].values()) == pytest.approx(cost["generate_seconds"])
    # A healthy tiny run: the audit raised nothing.
    assert r1["audit_alerts"] == [] and r1["audit"]["false_accepts"] == 0
    # Held-out problems some training set held (the seed set has 1-digit sums), scored apart.
    seed_prompts = {r["prompt"] for r in cat.read_table("tiny-seed@1").to_pylist()}
    assert r0["heldout_seen"] == sum(p.prompt in seed_prompts for p in heldout(cfg))
    assert r0["accuracy_unseen"] is not None
    # The report and the Prefect artifact's table carry the cost.
    s = summarize(cat, "tiny@1")
    assert "kept / compute-minute" in markdown(s) and "## Cost" in markdown(s)
    table = sampler_table(s)
    assert {r["sampler"] for r in table} == {"cool", "hot"}
    assert all(r["generate_seconds"] > 0 and "kept_per_compute_minute" in r for r in table)
