"""The round's data plane: Parquet shards with the warehouse's schema in the round's staging folder.

What travels between tasks is a `Shard` (a path and a row count) or a `Part` (a slice of the
round's problems), never the rows themselves: Prefect walks every task argument looking for
futures (6,400 row dicts cost ~9 s a task), and a path is all another process or machine needs.
A stage reads its shard, writes a new file, and never rewrites one it was given, so any task can
be retried or run elsewhere. Writes are atomic (temp file, then rename): a killed worker leaves no
half shard behind, and a retry writes the same bytes to the same name.

    <home>/staging/<run>/round-<r>/
        plan.json                    the round's generation plan record
        parts/part-00003.parquet     problems of part 3 and each one's sampler picks
        generated/part-00003.parquet raw samples of part 3
        verified/part-00003.parquet  + verdicts and MinHash signatures
        deduped/part-00003.parquet   + dedup decisions: what publish makes a version of
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
from synthloop.domains import Problem
from synthloop.warehouse.schema import ROW_SCHEMA, missing_column


@dataclass(frozen=True)
class Shard:
    """One Parquet file of rows with the warehouse's schema."""

    path: str
    rows: int
    # Seconds the step that wrote it ran (generate, verify): what the round's cost adds up (loop/cost.py).
    seconds: float = field(default=0.0, compare=False)
    # The Ray node that wrote it (generate, verify; "" outside Ray): which node did what.
    node: str = field(default="", compare=False)

    def read(self, columns: list[str] | None = None) -> pa.Table:
        return pq.read_table(self.path, columns=columns)


@dataclass(frozen=True)
class Part:
    """One slice of the round's problems: what one generation task samples."""

    index: int
    path: str  # Parquet: the problems and their sampler picks (see `write_part`)
    problems: int
    samples: int


def ray_node() -> str:
    """The id of the Ray node this process runs on; "" outside Ray (an optional extra: not imported here)."""
    ray = sys.modules.get("ray")
    return ray.get_runtime_context().get_node_id() if ray and ray.is_initialized() else ""


def round_dir(home: str | os.PathLike, run: str, round: int) -> Path:
    return Path(home) / "staging" / run / f"round-{round}"


def shard_path(root: Path, stage: str, index: int) -> Path:
    return root / stage / f"part-{index:05d}.parquet"


def write_table(table: pa.Table, path: Path, compression: str = "zstd") -> None:
    """Write `table` to `path` atomically."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}-{uuid.uuid4().hex[:6]}")
    pq.write_table(table, tmp, compression=compression)
    os.replace(tmp, path)


def write_shard(table: pa.Table, path: Path) -> Shard:
    """Write rows (cast to the warehouse's schema, so every shard has every column) as a shard."""
    write_table(conform(table), path)
    return Shard(str(path), table.num_rows)


def conform(table: pa.Table) -> pa.Table:
    """`table` with the warehouse's columns, in its order and types; missing ones get their default
    (`rationalized`: False) or null."""
    cols = [
        table[f.name].cast(f.type) if f.name in table.column_names else missing_column(f.name, table.num_rows)
        for f in ROW_SCHEMA
    ]
    return pa.Table.from_arrays(cols, schema=ROW_SCHEMA)


def reset(root: Path) -> None:
    """Empty the round's staging folder: a new plan makes every earlier shard stale."""
    shutil.rmtree(root, ignore_errors=True)
    root.mkdir(parents=True)


# -- parts ------------------------------------------------------------------------------------
_PART_SCHEMA = pa.schema([
    ("id", pa.string()), ("domain", pa.string()), ("difficulty", pa.int32()), ("prompt", pa.string()),
    ("answer", pa.string()), ("meta", pa.string()), ("slots", pa.list_(pa.int32())),
])


def write_part(path: Path, index: int, problems: list[Problem], slots: list[list[int]]) -> Part:
    table = pa.table({
        "id": [p.id for p in problems], "domain": [p.domain for p in problems],
        "difficulty": [p.difficulty for p in problems], "prompt": [p.prompt for p in problems],
        "answer": [p.answer for p in problems], "meta": [json.dumps(p.meta, sort_keys=True) for p in problems],
        "slots": [list(s) for s in slots],
    }, schema=_PART_SCHEMA)
    write_table(table, path)
    return Part(index, str(path), len(problems), sum(map(len, slots)))


def read_part(part: Part) -> tuple[list[Problem], list[list[int]]]:
    t = pq.read_table(part.path).to_pydict()
    problems = [Problem(i, d, diff, pr, a, json.loads(m))
                for i, d, diff, pr, a, m in zip(t["id"], t["domain"], t["difficulty"], t["prompt"], t["answer"], t["meta"])]
    return problems, t["slots"]


def cut(budgets: list[int], shard_size: int) -> list[tuple[int, int]]:
    """[lo, hi) problem ranges of about `shard_size` samples each, cut at problem boundaries.

    >>> cut([3, 3, 3, 3], 6)
    [(0, 2), (2, 4)]
    >>> cut([], 6)
    []
    """
    out, lo, n = [], 0, 0
    for i, b in enumerate(budgets):
        n += b
        if n >= shard_size:
            out.append((lo, i + 1))
            lo, n = i + 1, 0
    if lo < len(budgets):
        out.append((lo, len(budgets)))
    return out


def sibling(path: str | Path, stage: str) -> Path:
    """The file of the same part in another stage's folder of the round."""
    p = Path(path)
    return p.parent.parent / stage / p.name
