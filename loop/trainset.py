"""A round's training set as a dataset version of its own, and the round that keeps nothing.

A round's model trains on more than that round's version: `accumulate` takes every kept row so far,
`max_per_problem` caps each problem, `mix`/`seed_replay` add seed-set rows,
`recent_share` repeats the newest round's rows. `training_rows` builds
exactly that table; `publish_training_set` makes it `<run>-train@N` with lineage (its parents are
the round versions and the seed set it drew from; the model is registered on it), so
`synthloop pull <run>-train@N` gives the very rows the model was fine-tuned on.

A round whose version kept no row has nothing new to learn from: it is recorded as such
(`empty_round_reason`), nothing is fine-tuned, the incumbent stays, and the next round runs.
Imports the catalog only: no torch, no Prefect.
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Callable
from typing import TYPE_CHECKING

import pyarrow as pa
from synthloop.warehouse import COLUMNS, ROW_SCHEMA, Catalog, to_table
from synthloop.warehouse.schema import missing_column

if TYPE_CHECKING:
    from .config import LoopConfig

NO_DATA = "no kept rows"  # how a round without training data starts its reason (status shows "no data")
WAITING = "waiting for rows"  # fewer new kept rows than finetune.min_rows (status shows "waiting")


def train_name(run: str) -> str:
    return f"{run}-train"


def training_rows(cat: Catalog, cfg: LoopConfig, round: int,
                  seed_rows: Callable[[], list[dict]] | None = None) -> tuple[pa.Table, dict[str, int]]:
    """The rows round `round` fine-tunes on, under the data policy (see `FinetuneSpec`) and the
    per-problem cap, in training order; and how many come from each version (`{"run@v": n}`)."""
    ft = cfg.finetune
    versions = [v for v in cat.versions(cfg.name) if v["round"] is not None and v["round"] <= round]
    if ft.policy in ("replace", "mix"):
        versions = [v for v in versions if v["round"] == round]
    per_problem: Counter = Counter()
    parts, sources = [], {}
    newest = ref_newest = None  # this round's rows: `recent_share` weights them up
    for v in versions:
        ref = f"{cfg.name}@{v['version']}"
        t = _rows(cat.read_table(ref, kept_only=True))
        take = []
        for i, pid in enumerate(t["problem_id"].to_pylist()):
            if per_problem[pid] < ft.max_per_problem:
                per_problem[pid] += 1
                take.append(i)
        if take:
            parts.append(t.take(pa.array(take, pa.int64())))
            sources[ref] = len(take)
            if v["round"] == round:
                newest, ref_newest = len(parts) - 1, ref
    n_from_rounds = sum(p.num_rows for p in parts)
    n_seed = ft.seed_replay
    if ft.policy == "mix":  # seed examples make up mix_fraction of the result
        n_seed = int(n_from_rounds * ft.mix_fraction / (1 - ft.mix_fraction) + 0.5)
    replay = n_seed and not cfg.bootstrap.base_model
    seed = cat.versions(f"{cfg.name}-seed") if replay else []
    if replay and (seed or seed_rows):
        # The published seed set; without one (a catalog made by hand), the rows `seed_rows` makes.
        ref = f"{cfg.name}-seed@{seed[-1]['version']}" if seed else f"{cfg.name}-seed (not published)"
        t = _rows(cat.read_table(ref)) if seed else to_table(seed_rows())
        rng = random.Random(f"replay-{cfg.seed}-{round}")
        # random.sample picks positions from the population's length alone: the same picks as
        # sampling the seed set's (prompt, completion) pairs, which is what training used before.
        picks = rng.sample(range(t.num_rows), min(n_seed, t.num_rows))
        parts.append(t.take(pa.array(picks, pa.int64())))
        sources[ref] = len(picks)
    if ft.policy == "accumulate" and ft.recent_share and newest is not None:
        parts[newest], sources[ref_newest] = _upweight(parts[newest], sum(p.num_rows for p in parts), ft.recent_share)
    table = pa.concat_tables(parts) if parts else ROW_SCHEMA.empty_table()
    return table, sources


def _upweight(t: pa.Table, total: int, share: float) -> tuple[pa.Table, int]:
    """`t` repeated (cyclically, in order) until it is `share` of a table of `total` rows that
    holds it once; never fewer rows than `t` has.

    >>> _upweight(pa.table({"x": [1, 2]}), 6, 0.5)[0]["x"].to_pylist()
    [1, 2, 1, 2]
    """
    rest = total - t.num_rows
    n = max(t.num_rows, round(share * rest / (1 - share)))
    return t.take(pa.array([i % t.num_rows for i in range(n)], pa.int64())), n


def _rows(t: pa.Table) -> pa.Table:
    """`t` with exactly the row schema's columns (versions written before a column existed get its
    default, else nulls)."""
    cols = [t[c] if c in t.column_names else missing_column(c, t.num_rows) for c in COLUMNS]
    return pa.table(cols, names=COLUMNS).cast(ROW_SCHEMA)


def training_pairs(table: pa.Table) -> list[tuple[str, str]]:
    # A rationalized row's `prompt` is the problem's own: the hint it was sampled with never reaches training.
    return list(zip(table["prompt"].to_pylist(), table["completion"].to_pylist()))


def training_set_of(cat: Catalog, run: str, round: int) -> dict | None:
    """The published training set of `round` of `run`, if any."""
    found = [v for v in cat.versions(train_name(run)) if v["round"] == round]
    return found[-1] if found else None


def publish_training_set(cat: Catalog, cfg: LoopConfig, round: int, table: pa.Table, sources: dict[str, int],
                         model_id: str, code_version: str | None = None) -> int:
    """Publish the rows `model_id` is fine-tuned on as `<run>-train@N`; a rerun finds it again."""
    existing = training_set_of(cat, cfg.name, round)
    if existing is not None:
        return existing["version"]
    ft = cfg.finetune
    metrics = {"policy": ft.policy, "max_per_problem": ft.max_per_problem, "seed_replay": ft.seed_replay,
               "recent_share": ft.recent_share,
               "mix_fraction": ft.mix_fraction if ft.policy == "mix" else None, "examples": table.num_rows,
               "from": dict(sources), "for_model": model_id}
    return cat.publish(train_name(cfg.name), table, round=round, model_id=model_id, parents=[r for r in sources if "@" in r],
                       config=cfg.model_dump(mode="json"), config_hash=cfg.config_hash(),
                       code_version=code_version, metrics=metrics)


def empty_round_reason(cat: Catalog, cfg: LoopConfig, round: int, model_in: str) -> str | None:
    """Why round `round` fine-tunes nothing, or None when it trains: its version kept no row, or
    fewer new kept rows than `finetune.min_rows` have come in since the last fine-tune (a handful of
    rows teaches a pretrained model nothing and invites the gate to promote noise). Under
    `accumulate` the waiting rows join the next round's training set; `status` shows "waiting"."""
    found = [v for v in cat.versions(cfg.name) if v["round"] == round]
    if found and found[-1]["kept"] == 0:
        return (f"{NO_DATA} in {cfg.name}@{found[-1]['version']} ({found[-1]['rows']} generated, none verified and "
                f"unique): no fine-tune, {model_in} stays")
    need = cfg.finetune.min_rows
    if need > 1:
        new = new_kept_rows(cat, cfg, round)
        if new < need:
            then = "they join the next round's training set" if cfg.finetune.policy == "accumulate" else \
                f"under policy {cfg.finetune.policy} they are not carried over"
            return (f"{WAITING}: {new} new kept rows < finetune.min_rows {need}: no fine-tune, "
                    f"{model_in} stays; {then}")
    return None


def new_kept_rows(cat: Catalog, cfg: LoopConfig, round: int) -> int:
    """Kept rows published since the last round that fine-tuned (this round's included); under a
    policy other than `accumulate`, this round's only (earlier rows are not trained on again)."""
    if cfg.finetune.policy != "accumulate":
        return sum(v["kept"] for v in cat.versions(cfg.name) if v["round"] == round)
    trained = [r["round"] for r in cat.rounds(cfg.name) if r["round"] > 0 and (r.get("metrics") or {}).get("train")]
    since = max(trained, default=0)
    return sum(v["kept"] for v in cat.versions(cfg.name) if v["round"] is not None and since < v["round"] <= round)
