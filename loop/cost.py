"""What each kept row cost: tokens generated and compute seconds, per round and per sampler.

Compute seconds are the seconds the round's tasks ran, added up (parts that ran side by side on
several workers count each): generation, and the CPU stages after it (verify with its
decontamination and audit, near-dedup). The samplers of a part are generated in the same batches,
so a part's generation seconds are shared out over its samplers by the tokens each generated
(`sampler_seconds`); the CPU stages' seconds are the round's, not a sampler's.
"""

from __future__ import annotations

import pyarrow as pa

from .shards import Shard


def sampler_seconds(table: pa.Table, seconds: float) -> dict[str, float]:
    """`seconds` shared out over the samplers of `table` (columns sampler, n_tokens) by tokens;
    by rows when no row counted tokens.

    >>> t = pa.table({"sampler": ["cool", "hot", "hot"], "n_tokens": [10, 20, 10]})
    >>> sampler_seconds(t, 8.0)
    {'cool': 2.0, 'hot': 6.0}
    """
    if table.num_rows == 0:
        return {}
    g = table.group_by("sampler").aggregate([("n_tokens", "sum"), ("n_tokens", "count")]).to_pylist()
    total = sum(r["n_tokens_sum"] or 0 for r in g)
    key = "n_tokens_sum" if total else "n_tokens_count"
    total = total or sum(r["n_tokens_count"] for r in g)
    return {r["sampler"]: seconds * (r[key] or 0) / total for r in sorted(g, key=lambda r: r["sampler"])}


def generation_seconds(generated: list[Shard]) -> dict[str, float]:
    """Per sampler, the generation seconds of the round's shards, each part's shared out by tokens."""
    out: dict[str, float] = {}
    for g in generated:
        for name, sec in sampler_seconds(g.read(columns=["sampler", "n_tokens"]), g.seconds).items():
            out[name] = out.get(name, 0.0) + sec
    return out


def _rates(kept: int, tokens: int, seconds: float) -> dict:
    return {"kept_per_1k_tokens": 1000 * kept / tokens if tokens else None,
            "kept_per_compute_minute": 60 * kept / seconds if seconds > 0 else None}


def cost_record(by_sampler: dict[str, dict], generate_s: dict[str, float], cpu_s: float) -> dict:
    """The round's cost: tokens, compute seconds and kept rows per 1k tokens and per compute-minute,
    in all and per sampler (`by_sampler`: the round metrics' name -> {tokens, kept, ...}).

    >>> c = cost_record({"cool": {"tokens": 2000, "kept": 10}}, {"cool": 30.0}, 30.0)
    >>> c["kept_per_1k_tokens"], c["kept_per_compute_minute"], c["by_sampler"]["cool"]["kept_per_compute_minute"]
    (5.0, 10.0, 20.0)
    """
    per = {}
    for name in sorted(by_sampler.keys() | generate_s.keys()):
        s = by_sampler.get(name, {})
        tokens, kept, secs = int(s.get("tokens") or 0), int(s.get("kept") or 0), generate_s.get(name, 0.0)
        per[name] = {"tokens": tokens, "kept": kept, "generate_seconds": secs} | _rates(kept, tokens, secs)
    tokens = sum(p["tokens"] for p in per.values())
    kept = sum(p["kept"] for p in per.values())
    gen = sum(generate_s.values())
    return ({"tokens": tokens, "kept": kept, "generate_seconds": gen, "cpu_seconds": cpu_s,
             "compute_seconds": gen + cpu_s} | _rates(kept, tokens, gen + cpu_s) | {"by_sampler": per})


def cost_line(round: int, c: dict) -> str:
    """'round 1: cost: 12,345 tokens, 42.1 compute s: 3.2 kept / 1k tokens, 11.0 kept / compute-minute'."""
    def num(v) -> str:
        return "-" if v is None else f"{v:.3g}"
    return (f"round {round}: cost: {c['tokens']:,} tokens, {c['compute_seconds']:.1f} compute s: "
            f"{num(c['kept_per_1k_tokens'])} kept / 1k tokens, {num(c['kept_per_compute_minute'])} kept / compute-minute")
