"""Filter a round: verify every answer (and step) of each shard, then near-dedup the whole round
against itself and every earlier round's kept rows. Every drop is counted once, by reason: the
verifier's in `VerifyMetrics.drops`, dedup's as `near_duplicate`.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import duckdb
import numpy as np
import pyarrow.compute as pc
from synthloop.filters.dedup import DedupMetrics, apply_decisions, with_signatures
from synthloop.filters.dedup_duckdb import dedup_parquet, prior_rows
from synthloop.filters.verify import VerifyMetrics, verify_table
from synthloop.warehouse import Catalog

from . import shards
from .config import LoopConfig
from .problems import domains_of
from .progress import say
from .shards import Part, Shard

# DuckDB's memory for the band join: past it, DuckDB spills to disk instead of growing.
DEDUP_MEMORY = "1GB"


def verify(cfg: LoopConfig, part: Part, shard: Shard) -> tuple[Shard, VerifyMetrics]:
    """Verdicts for one shard, and the MinHash signature of every row still kept."""
    problems, _ = shards.read_part(part)
    table, metrics = verify_table(shard.read(), domains_of(cfg), {p.id: p for p in problems}, cfg.verify)
    if cfg.dedup.enabled:
        table = with_signatures(table, cfg.dedup)
    return shards.write_shard(table, shards.sibling(shard.path, "verified")), metrics


def dedup(cat: Catalog, cfg: LoopConfig, round: int, verified: list[Shard]) -> tuple[list[Shard], DedupMetrics]:
    """Near-dup decisions over every shard of the round, in order, and every earlier round's kept
    rows (DuckDB's band join over the Parquet files, see filters/dedup_duckdb.py); new shards
    carrying them. Memory: the decisions and DuckDB's working set (it spills to the staging folder)."""
    if not cfg.dedup.enabled:
        return verified, DedupMetrics()
    prior = prior_files(cat, cfg.name, before_round=round)
    root = Path(verified[0].path).parent.parent if verified else shards.round_dir(cat.home, cfg.name, round)
    con = duckdb.connect(config={"memory_limit": DEDUP_MEMORY, "temp_directory": str(root / "duckdb-tmp"),
                                 "threads": cores()})
    try:
        decisions = dedup_parquet([s.path for s in verified], cfg.dedup, prior=prior, con=con)
        n_prior = prior_rows(con)
    finally:
        con.close()
    out, at = [], 0
    for shard in verified:
        table = shard.read()
        live = table.num_rows - table["minhash"].null_count  # rows with a signature: decided in order
        table = apply_decisions(table, decisions.slice(at, live).select(["row_id", "kept", "dup_of", "cluster_id"]))
        out.append(shards.write_shard(table, shards.sibling(shard.path, "deduped")))
        at += live
    dropped = decisions.num_rows - (pc.sum(decisions["kept"]).as_py() or 0)
    return out, DedupMetrics(compared=decisions.num_rows, prior=n_prior, near_duplicate=dropped)


def cores() -> int:
    """The cores this process may run on (DuckDB's default counts every core of the machine)."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


def prior_files(cat: Catalog, name: str, before_round: int) -> list[Path]:
    """The Parquet files of every version of earlier rounds, in version then file order."""
    out = []
    for v in cat.versions(name):
        if v["round"] is not None and v["round"] < before_round:
            out += sorted((cat.home / v["path"]).glob("*.parquet"))  # (an absolute path stays as it is)
    return out


@dataclass(frozen=True)
class Filtered:
    """The round's rows after the verifier and near-dedup, with what each dropped."""

    shards: list[Shard]
    verified: VerifyMetrics
    deduped: DedupMetrics

    @property
    def drops(self) -> dict[str, int]:
        """Rows dropped, by reason: each row counted once, by the first filter that dropped it."""
        near = {"near_duplicate": self.deduped.near_duplicate} if self.deduped.near_duplicate else {}
        return dict(self.verified.drops) | near

    def say(self) -> None:
        v, d = self.verified, self.deduped
        say(  # to the run's log (the UI) and stderr, like every stage's summary (loop/progress.py)
            f"verified {v.rows} rows: {v.correct} right answers, {v.kept} kept (dropped: "
            f"{v.drops or 'none'}); near-dedup compared {d.compared} rows against {d.prior} "
            f"earlier ones, dropped {d.near_duplicate}"
        )


def prior_signatures(cat: Catalog, name: str, before_round: int):
    """(row_id, signature) of every kept row of earlier rounds, read from the stored `minhash`
    column: the in-memory path's prior (`filters.dedup.decide`), which the DuckDB path must match."""
    for v in cat.versions(name):
        if v["round"] is not None and v["round"] < before_round:
            t = cat.read_table(f"{name}@{v['version']}", columns=["row_id", "minhash", "kept"], kept_only=True)
            t = t.filter(t["minhash"].is_valid())
            if t.num_rows == 0:
                continue
            col = t["minhash"].combine_chunks()
            # One (N, num_perm) view of the list column instead of a Python list per row.
            sigs = col.flatten().to_numpy().astype(np.uint32, copy=False).reshape(t.num_rows, -1)
            yield from zip(t["row_id"].to_pylist(), sigs)
