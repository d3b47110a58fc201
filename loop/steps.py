"""The order of a round, written once.

    bootstrap (round 0)
    round r:  plan → generate (each part) → verify (each part) → dedup → score → publish
              → finetune (+ evaluate) → gate, which records the round

`run_loop`, `run_round` and `data_steps` are the only places that order. Who runs each step is a
`Runner`: `Local` calls it in this process (tests, benchmarks, an experiment's reference round);
the Prefect flows (flows/round.py) pass a runner whose steps are Prefect tasks and whose round
and data are subflows. Resume is part of the order: a recorded round is skipped, a published
round's data is not made again, a registered candidate is not trained again.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from contextlib import nullcontext
from dataclasses import dataclass

from synthloop.filters.diversity import RoundMetrics
from synthloop.filters.verify import VerifyMetrics
from synthloop.warehouse import Catalog

from .backend import release_backend
from .bootstrap import bootstrap
from .config import LoopConfig
from .cost import generation_seconds
from .decontam import index_path
from .filter import Checks, Filtered, dedup, verify
from .finetune import finetune
from .gate import decide
from .generate import generate
from .plan import plan
from .publish import publish, published
from .records import ModelRef, Published, RoundRecord, incumbent, recorded_round
from .score import score, with_checks


@dataclass(frozen=True)
class Source:
    """Where a round's rows come from. The loop's: the incumbent's samples (`plan`, `generate`).
    An experiment's reference round (loop/reference.py): reference solutions, drawn once for
    round `data_round` and trained on in every round."""

    plan: Callable = plan
    generate: Callable = generate
    data_round: int | None = None  # None: each round makes its own data
    by_model: bool = True  # the rows are the model's samples (published with its id)


SAMPLES = Source()


class Local:
    """Every step called in this process, one after the other."""

    def __call__(self, step: Callable, *args):
        return step(*args)

    def each(self, step: Callable, fixed: tuple, *mapped: list) -> list:
        """`step(*fixed, *items)` for each tuple of items of `mapped`, in order."""
        return [step(*fixed, *items) for items in zip(*mapped)]

    def placed(self, cfg: LoopConfig, kind: str):
        """Where mapped steps of `kind` ("generate" or "cpu") run: here, this process."""
        return nullcontext()

    def round(self, cat: Catalog, cfg: LoopConfig, round: int) -> RoundRecord:
        return run_round(cat, cfg, round, self)

    def data(self, cat: Catalog, cfg: LoopConfig, round: int, model: ModelRef, source: Source) -> Published:
        return data_steps(cat, cfg, round, model, self, source)


LOCAL = Local()


class Timed(Local):
    """`Local`, and the seconds each step took, by the step's name (benchmarks read them)."""

    def __init__(self):
        self.seconds: dict[str, float] = {}

    def __call__(self, step: Callable, *args):
        t0 = time.perf_counter()
        try:
            return step(*args)
        finally:
            self.seconds[step.__name__] = self.seconds.get(step.__name__, 0.0) + time.perf_counter() - t0

    def each(self, step: Callable, fixed: tuple, *mapped: list) -> list:
        return [self(step, *fixed, *items) for items in zip(*mapped)]


def run_loop(cat: Catalog, cfg: LoopConfig, run: Local = LOCAL, on_round: Callable | None = None) -> None:
    """The bootstrap, then rounds until `cfg.rounds` are recorded; `on_round` after each."""
    try:
        run(bootstrap, cat, cfg)
        if on_round:
            on_round()
        for r in range(1, cfg.rounds + 1):
            if recorded_round(cat, cfg.name, r) is None:
                run.round(cat, cfg, r)
                if on_round:
                    on_round()
    finally:
        release_backend()  # the engine the last evaluation left loaded for a next round


def run_round(cat: Catalog, cfg: LoopConfig, round: int, run: Local = LOCAL, source: Source = SAMPLES) -> RoundRecord:
    """One round: its data (made, or found published before a crash) → fine-tune → gate."""
    if done := recorded_round(cat, cfg.name, round):
        return done
    model = incumbent(cat, cfg.name)
    data_round = source.data_round or round
    data = published(cat, cfg.name, data_round) or run.data(cat, cfg, data_round, model, source)
    candidate = run(finetune, cat, cfg, round, model, data.version)
    return run(decide, cat, cfg, round, candidate, model, data)


def filter_steps(cat: Catalog, cfg: LoopConfig, round: int, source: Source, model: ModelRef,
                 run: Local = LOCAL):
    """plan → generate → verify → dedup: the round's rows, filtered, and its plan."""
    planned = run(source.plan, cat, cfg, round)
    index = run(index_path, cat, cfg)  # built once into the home, found again by later rounds
    with run.placed(cfg, "generate"):
        generated = run.each(source.generate, (cfg, round, model), planned.parts)
    with run.placed(cfg, "cpu"):
        checked = run.each(verify, (cfg,), planned.parts, generated, [index] * len(planned.parts))
    release_backend()  # this process's generation backend, before dedup and fine-tuning
    final, found = run(dedup, cat, cfg, round, [shard for shard, _, _ in checked])
    return Filtered(final, sum((m for _, m, _ in checked), VerifyMetrics()), found,
                    sum((c for _, _, c in checked), Checks()), index, generation_seconds(generated),
                    sum(s.seconds for s, _, _ in checked) + found.seconds), planned


def scored_steps(cat: Catalog, cfg: LoopConfig, round: int, model: ModelRef, run: Local = LOCAL,
                 source: Source = SAMPLES) -> tuple[Filtered, RoundMetrics]:
    """The round's rows filtered (`filter_steps`) and scored, not yet published."""
    filtered, planned = filter_steps(cat, cfg, round, source, model, run)
    return filtered, with_checks(cfg, round, run(score, cat, cfg, round, filtered.shards, planned), filtered)


def data_steps(cat: Catalog, cfg: LoopConfig, round: int, model: ModelRef, run: Local = LOCAL,
               source: Source = SAMPLES) -> Published:
    """The round's data: filtered and scored (`scored_steps`) → published."""
    filtered, metrics = scored_steps(cat, cfg, round, model, run, source)
    version = run(publish, cat, cfg, round, filtered.shards, metrics, model.model_id if source.by_model else None)
    filtered.say()
    return version
