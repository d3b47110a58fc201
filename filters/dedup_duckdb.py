"""Near-dedup for data larger than memory: signature shards in Parquet, candidates from DuckDB.

Each shard's signatures are computed where the shard is (a worker, a GPU box) and written with
`write_shard`. `dedup_parquet` then lets DuckDB cut every signature into the LSH bands, group equal
band hashes (a self-join on (band, hash)) and count equal signature positions of each candidate
pair; only the confirmed pairs (few) come back to Python, where the same greedy keep-first rule as
`dedup.dedup_signatures` resolves them in order. Earlier rounds are read straight from the
warehouse's Parquet files (kept rows, `minhash` column). Same data in, same decisions out as the
in-memory path (tested).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from .dedup import DedupConfig


def write_shard(path: str | Path, row_ids: Sequence[str], sigs: np.ndarray, start: int) -> Path:
    """Write one shard's signatures; `start` is the global position of its first row (its order)."""
    sigs = np.ascontiguousarray(sigs, np.uint32)
    n, p = sigs.shape
    table = pa.table({
        "ord": pa.array(np.arange(start, start + n, dtype=np.int64)),
        "row_id": pa.array(list(row_ids), pa.string()),
        "minhash": pa.ListArray.from_arrays(pa.array(np.arange(0, n * p + 1, p, dtype=np.int32)),
                                            pa.array(sigs.reshape(-1))),
    })
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(table, path, compression="zstd")
    return path


def _files(paths: Sequence[str | Path]) -> str:
    return "[" + ", ".join("'" + str(p).replace("'", "''") + "'" for p in paths) + "]"


def candidate_pairs(con: duckdb.DuckDBPyConnection, cfg: DedupConfig) -> np.ndarray:
    """(P, 3) int64 rows (i, j, equal positions) for new row i and earlier row j sharing a band."""
    b, r = cfg.bands
    con.execute(f"""
        CREATE OR REPLACE TEMP TABLE bands AS
        SELECT s.ord, s.is_new, k.k, hash(list_slice(s.minhash, k.k * {r} + 1, (k.k + 1) * {r})) AS h
        FROM sigs s, range({b}) k(k)
    """)
    pairs = con.execute(f"""
        WITH cand AS (
            SELECT DISTINCT y.ord AS i, x.ord AS j
            FROM bands x JOIN bands y ON x.k = y.k AND x.h = y.h AND x.ord < y.ord
            WHERE y.is_new
        )
        SELECT c.i, c.j,
               list_sum(list_transform(range(1, {cfg.num_perm} + 1),
                        lambda p: (a.minhash[p] = o.minhash[p])::INTEGER)) AS eq
        FROM cand c JOIN sigs a ON a.ord = c.i JOIN sigs o ON o.ord = c.j
        ORDER BY c.i, c.j
    """).fetchnumpy()
    return np.stack([pairs["i"], pairs["j"], pairs["eq"]], axis=1).astype(np.int64) if len(pairs["i"]) else np.zeros((0, 3), np.int64)


def dedup_parquet(
    shards: Sequence[str | Path], cfg: DedupConfig, prior: Sequence[str | Path] = (),
    con: duckdb.DuckDBPyConnection | None = None,
) -> pa.Table:
    """Decisions for the rows of `shards` against each other and the kept rows of `prior` files.

    `shards` are Parquet files with row_id and minhash (a round's verified shards, or `write_shard`'s
    files): their rows with a signature, in file order then row order, are the new rows. `prior`
    are warehouse Parquet files (row_id, minhash, kept). Returns a table (ord, row_id, kept, dup_of,
    cluster_id) in `ord` order: the same as `dedup.decide` on the same rows.
    """
    con = con or duckdb.connect()
    # Earlier rounds get negative positions, in the order given: before every new row, never
    # compared with each other, and ties between them broken as the in-memory path breaks them.
    parts = [
        f"SELECT {f} AS f, filename AS fn, file_row_number AS rn, row_id, minhash, kept "
        f"FROM read_parquet({_files([p])}, filename=true, file_row_number=true)"
        for f, p in enumerate(prior)
    ]
    prior_sql = (
        f"SELECT row_number() OVER (ORDER BY f, fn, rn) - count(*) OVER () - 1 AS ord, row_id, "
        f"minhash::UINTEGER[] AS minhash, false AS is_new FROM ({' UNION ALL '.join(parts)}) "
        f"WHERE kept AND minhash IS NOT NULL"
        if parts else "SELECT NULL::BIGINT, NULL::VARCHAR, NULL::UINTEGER[], false LIMIT 0"
    )
    # New rows: in the order of `shards`, then of their rows; rows without a signature (dropped
    # before dedup) take no position.
    new_parts = [
        f"SELECT {f} AS f, file_row_number AS rn, row_id, minhash "
        f"FROM read_parquet({_files([p])}, file_row_number=true) WHERE minhash IS NOT NULL"
        for f, p in enumerate(shards)
    ]
    new_sql = (
        f"SELECT row_number() OVER (ORDER BY f, rn) - 1 AS ord, row_id, minhash::UINTEGER[] AS minhash, "
        f"true AS is_new FROM ({' UNION ALL '.join(new_parts)})"
        if new_parts else "SELECT NULL::BIGINT, NULL::VARCHAR, NULL::UINTEGER[], true LIMIT 0"
    )
    con.execute(f"""
        CREATE OR REPLACE TEMP TABLE sigs AS
        {new_sql}
        UNION ALL ({prior_sql})
    """)
    ((bad,),) = con.execute(f"SELECT count(*) FROM sigs WHERE len(minhash) <> {cfg.num_perm}").fetchall()
    if bad:
        raise ValueError(f"{bad} signatures do not have num_perm={cfg.num_perm} values: were they made with another config?")
    new = con.sql("SELECT ord, row_id FROM sigs WHERE is_new ORDER BY ord").to_arrow_table()
    pairs = candidate_pairs(con, cfg)
    ids = dict(con.execute("SELECT ord, row_id FROM sigs WHERE NOT is_new").fetchall())
    ords = new["ord"].to_numpy()
    dup = _resolve(ords, pairs, cfg)
    ids.update(zip(ords.tolist(), new["row_id"].to_pylist()))
    dup_ids = [ids[d] if d is not None else None for d in dup]
    rid = new["row_id"].to_pylist()
    return pa.table({
        "ord": ords, "row_id": rid, "kept": [d is None for d in dup], "dup_of": dup_ids,
        "cluster_id": [d if d is not None else r for d, r in zip(dup_ids, rid)],
    })


def _resolve(ords: np.ndarray, pairs: np.ndarray, cfg: DedupConfig) -> list[int | None]:
    """Greedy keep-first over confirmed pairs: the rule of `dedup.dedup_signatures`."""
    dropped: set[int] = set()  # earlier rounds' rows (negative ords) are never dropped
    out: list[int | None] = []
    confirmed = pairs[pairs[:, 2] / cfg.num_perm >= cfg.threshold] if len(pairs) else pairs
    starts = np.searchsorted(confirmed[:, 0], ords, side="left")
    ends = np.searchsorted(confirmed[:, 0], ords, side="right")
    for o, s, e in zip(ords.tolist(), starts.tolist(), ends.tolist()):
        best, best_eq = None, -1
        for _, j, eq in confirmed[s:e].tolist():  # sorted by j: the earliest wins a tie
            if j not in dropped and eq > best_eq:
                best, best_eq = j, eq
        if best is not None:
            dropped.add(o)
        out.append(best)
    return out


def prior_rows(con: duckdb.DuckDBPyConnection) -> int:
    """How many earlier rounds' rows the last `dedup_parquet` on `con` compared against."""
    ((n,),) = con.execute("SELECT count(*) FROM sigs WHERE NOT is_new").fetchall()
    return n
