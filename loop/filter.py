"""Filter a round: verify every answer (and step) of each shard, check the rows it keeps against the
texts kept out of training (decontamination) and re-judge a sample of its verdicts (the audit),
then near-dedup the whole round against itself and every earlier round's kept rows. Every drop is
counted once, by reason: the verifier's and decontamination's (`contaminated`) in
`VerifyMetrics.drops`, dedup's as `near_duplicate`.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import duckdb
import numpy as np
import pyarrow.compute as pc
from synthloop.filters.audit import AuditCounts, audit_table
from synthloop.filters.decontam import DecontamCounts, check_table, load
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


@dataclass(frozen=True)
class Checks:
    """What the checks beside the verifier found in one or more shards (they add up)."""

    audit: AuditCounts = field(default_factory=AuditCounts)
    decontam: DecontamCounts = field(default_factory=DecontamCounts)

    def __add__(self, other: Checks) -> Checks:
        return Checks(self.audit + other.audit, self.decontam + other.decontam)


def verify(cfg: LoopConfig, part: Part, shard: Shard, index: str | None = None) -> tuple[Shard, VerifyMetrics, Checks]:
    """Verdicts for one shard; a sample of them re-judged (the audit); the rows still kept checked
    against the decontamination index at `index` (loop/decontam.py; None: not checked); and the
    MinHash signature of every row still kept."""
    t0 = time.perf_counter()
    problems, _ = shards.read_part(part)
    by_id, doms = {p.id: p for p in problems}, domains_of(cfg)
    table, metrics = verify_table(shard.read(), doms, by_id, cfg.verify)
    audit = audit_table(table, doms, by_id, cfg.audit)  # the verifier's own verdicts, before decontamination
    found = DecontamCounts()
    if index:
        table, found = check_table(table, load(index, json.dumps(asdict(cfg.decontaminate), sort_keys=True)))
        if found.dropped:
            metrics = replace(metrics, kept=metrics.kept - found.dropped,
                              drops=metrics.drops | {"contaminated": found.dropped})
    if cfg.dedup.enabled:
        table = with_signatures(table, cfg.dedup)
    out = shards.write_shard(table, shards.sibling(shard.path, "verified"))
    return replace(out, seconds=time.perf_counter() - t0, node=shards.ray_node()), metrics, Checks(audit, found)


def dedup(cat: Catalog, cfg: LoopConfig, round: int, verified: list[Shard]) -> tuple[list[Shard], DedupMetrics]:
    """Near-dup decisions over every shard of the round, in order, and every earlier round's kept
    rows (DuckDB's band join over the Parquet files, see filters/dedup_duckdb.py); new shards
    carrying them. Memory: the decisions and DuckDB's working set (it spills to the staging folder)."""
    if not cfg.dedup.enabled:
        return verified, DedupMetrics()
    t0 = time.perf_counter()
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
    return out, DedupMetrics(compared=decisions.num_rows, prior=n_prior, near_duplicate=dropped,
                             seconds=time.perf_counter() - t0)


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
    checks: Checks = field(default_factory=Checks)
    index: str | None = None  # the decontamination index the rows were checked against
    # Compute seconds: generation per sampler (loop/cost.py shares a part's out by tokens), and
    # the CPU stages after it (verify, with decontamination and the audit; near-dedup).
    generate_seconds: dict[str, float] | None = None
    cpu_seconds: float = 0.0

    @property
    def drops(self) -> dict[str, int]:
        """Rows dropped, by reason: each row counted once, by the first filter that dropped it."""
        near = {"near_duplicate": self.deduped.near_duplicate} if self.deduped.near_duplicate else {}
        return dict(self.verified.drops) | near

    def say(self) -> None:
        v, d, c = self.verified, self.deduped, self.checks.decontam
        overlap = f", {c.heldout_overlap} kept that match held-out problems (reported)" if c.heldout_overlap else ""
        say(  # to the run's log (the UI) and stderr, like every stage's summary (loop/progress.py)
            f"verified {v.rows} rows: {v.correct} right answers, {v.kept} kept (dropped: "
            f"{v.drops or 'none'}{overlap}); near-dedup compared {d.compared} rows against {d.prior} "
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
