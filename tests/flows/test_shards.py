"""The round's data plane: shards in, new shards out; dedup over shards decides what the in-memory
dedup decides; a round's shards are published as one version."""

from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
from synthloop.filters.dedup import (
    DedupConfig,
    apply_decisions,
    decide,
    live_signatures,
    with_signatures,
)
from synthloop.loop import shards
from synthloop.loop.config import LoopConfig
from synthloop.loop.filter import dedup, prior_signatures
from synthloop.warehouse import Catalog

from ..filters.test_dedup import corpus


def _verified(root, texts, start, n_shards, prefix):
    """Rows as the verify stage leaves them (every other one dropped as wrong), cut into shards."""
    cfg = DedupConfig(threshold=0.7)
    rows = [{"row_id": f"{prefix}{start + i}", "prompt": "", "completion": t, "kept": i % 5 != 3,
             "drop_reason": None if i % 5 != 3 else "wrong_answer"} for i, t in enumerate(texts)]
    size = -(-len(rows) // n_shards)
    return [shards.write_shard(with_signatures(shards.conform(pa.Table.from_pylist(rows[lo:lo + size])), cfg),
                               shards.shard_path(root, "verified", k))
            for k, lo in enumerate(range(0, len(rows), size))]


def test_dedup_over_shards_and_earlier_rounds_decides_as_in_memory(tmp_path):
    cfg = LoopConfig.model_validate({"name": "d", "dedup": {"threshold": 0.7}})
    cat = Catalog(tmp_path)
    texts, _ = corpus(700, seed=3, dup_every=3, edits=4)
    # Round 1, published from 2 shards; round 2 (3 shards) repeats some of its texts.
    r1 = _verified(shards.round_dir(tmp_path, "d", 1), texts[:200], 0, 2, "a")
    r1_final, _ = dedup(cat, cfg, 1, r1)
    cat.publish("d", [Path(s.path) for s in r1_final], round=1)
    r2 = _verified(shards.round_dir(tmp_path, "d", 2), texts[150:], 150, 3, "b")
    before = [s.read() for s in r2]
    final, found = dedup(cat, cfg, 2, r2)

    # The in-memory path on the same rows: one table, the earlier round's stored signatures.
    whole = pa.concat_tables(before)
    ids, sigs = live_signatures(whole)
    expect = apply_decisions(whole, decide(ids, sigs, cfg.dedup, prior_signatures(cat, "d", 2)))
    got = pa.concat_tables([s.read() for s in final])
    assert got.equals(expect)
    assert [s.read().equals(b) for s, b in zip(r2, before)] == [True] * 3  # the inputs are untouched
    n_dup = pc.sum(pc.equal(got["drop_reason"], "near_duplicate")).as_py()
    assert found.near_duplicate == n_dup > 50 and found.prior == cat.resolve("d@1")["kept"]
    assert any(d.startswith("a") for d in got["dup_of"].drop_null().to_pylist())  # across rounds too


def test_a_rounds_shards_are_one_version(tmp_path):
    cat = Catalog(tmp_path)
    root = shards.round_dir(tmp_path, "d", 1)
    parts = [shards.write_shard(pa.table({"row_id": [f"r{k}-{i}" for i in range(5)], "kept": [True] * 5}),
                                shards.shard_path(root, "deduped", k)) for k in range(3)]
    v = cat.publish("d", [Path(s.path) for s in parts], round=1)
    info = cat.resolve(f"d@{v}")
    assert info["rows"] == 15 and info["kept"] == 15 and len(cat.versions("d")) == 1
    assert cat.read_table(f"d@{v}")["row_id"].to_pylist() == [f"r{k}-{i}" for k in range(3) for i in range(5)]
    assert sorted(p.name for p in Path(info["path"]).iterdir()) == [
        "part-00000.parquet", "part-00001.parquet", "part-00002.parquet"]


def test_parts_cut_at_problem_boundaries():
    assert shards.cut([8] * 5, 16) == [(0, 2), (2, 4), (4, 5)]
    assert shards.cut([20, 1], 16) == [(0, 1), (1, 2)]
