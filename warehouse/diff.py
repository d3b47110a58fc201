"""What changed between two dataset versions: rows added and removed, metric deltas."""

from __future__ import annotations

import duckdb

from .catalog import Catalog


def flatten(d: dict, prefix: str = "") -> dict[str, float]:
    """Numeric leaves of a nested dict under dotted keys (`by_sampler.hot.pass_rate`).

    >>> flatten({"a": 1, "b": {"c": 0.5, "d": "x"}, "e": True})
    {'a': 1, 'b.c': 0.5}
    """
    out: dict[str, float] = {}
    for k, v in d.items():
        key = f"{prefix}{k}"
        if isinstance(v, dict):
            out |= flatten(v, key + ".")
        elif isinstance(v, (int, float)) and not isinstance(v, bool):
            out[key] = v
    return out


def diff_versions(cat: Catalog, ref_a: str, ref_b: str, examples: int = 5) -> dict:
    """Rows (by `row_id`) and training examples (kept prompt+completion) added and removed going
    from `ref_a` to `ref_b`, and the change of every numeric metric and count."""
    a, b = cat.resolve(ref_a), cat.resolve(ref_b)
    cols = ["row_id", "prompt", "completion", "kept"]
    con = duckdb.connect()
    try:
        con.register("a", cat.read_table(ref_a, columns=cols))
        con.register("b", cat.read_table(ref_b, columns=cols))

        def one(sql):
            return con.execute(sql).fetchone()[0]

        def ids(sql):
            return [r[0] for r in con.execute(sql + f" ORDER BY 1 LIMIT {int(examples)}").fetchall()]

        added = "SELECT row_id FROM b ANTI JOIN a USING (row_id)"
        removed = "SELECT row_id FROM a ANTI JOIN b USING (row_id)"
        pairs = "SELECT DISTINCT prompt, completion FROM {} WHERE kept"
        rows = {
            "added": one(f"SELECT count(*) FROM ({added})"),
            "removed": one(f"SELECT count(*) FROM ({removed})"),
            "unchanged": one("SELECT count(*) FROM a SEMI JOIN b USING (row_id)"),
            "added_examples": ids(added),
            "removed_examples": ids(removed),
        }
        kept = {
            "added": one(f"SELECT count(*) FROM ({pairs.format('b')} EXCEPT {pairs.format('a')})"),
            "removed": one(f"SELECT count(*) FROM ({pairs.format('a')} EXCEPT {pairs.format('b')})"),
        }
    finally:
        con.close()
    fa = flatten({"rows": a["rows"], "kept": a["kept"], "metrics": a["metrics"], "counts": a["counts"]})
    fb = flatten({"rows": b["rows"], "kept": b["kept"], "metrics": b["metrics"], "counts": b["counts"]})
    deltas = {
        k: {"a": fa.get(k), "b": fb.get(k), "delta": (fb[k] - fa[k]) if k in fa and k in fb else None}
        for k in sorted(fa.keys() | fb.keys())
    }
    return {
        "a": f"{a['name']}@{a['version']}",
        "b": f"{b['name']}@{b['version']}",
        "rows": rows,
        "training_examples": kept,
        "metrics": deltas,
    }
