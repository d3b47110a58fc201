"""Prefect flows of the loop: `loop_flow` runs the bootstrap and the rounds, `round_flow` is one
round, `data_flow` a round's data under the config's task runner (threads, or a Ray cluster).

The order of a round is not here: it is `loop/steps.py`'s, written once. This module hands it a
runner (`OnPrefect`) whose steps are Prefect tasks (states, retries and logs in the UI) and whose
rounds and data are subflows. Every task's output is its return value: the round's rows travel as
`Shard`s (Parquet files in the round's staging folder), mapped over one task per part for
generation and verification.
"""

from __future__ import annotations

from prefect import flow, get_run_logger, task, unmapped
from prefect.cache_policies import NO_CACHE
from synthloop.loop import (
    bootstrap,
    decontam,
    filter,
    finetune,
    gate,
    generate,
    plan,
    publish,
    score,
)
from synthloop.loop.config import LoopConfig
from synthloop.loop.records import ModelRef, Published, RoundRecord
from synthloop.loop.status import status_rows
from synthloop.loop.steps import LOCAL, SAMPLES, Local, Source, data_steps, run_loop, run_round
from synthloop.warehouse import Catalog

from .artifacts import publish_artifacts
from .execution import resources, task_runner


def _task(fn, name: str, retries: int = 0):
    return task(fn, name=name, retries=retries, cache_policy=NO_CACHE)


# Each step of a round as a Prefect task. generate and verify retry: a lost worker's part is done
# again, to the same file.
TASKS = {
    bootstrap.bootstrap: _task(bootstrap.bootstrap, "bootstrap"),
    plan.plan: _task(plan.plan, "plan"),
    decontam.index_path: _task(decontam.index_path, "decontam-index"),
    generate.generate: _task(generate.generate, "generate", retries=2),
    filter.verify: _task(filter.verify, "verify", retries=2),
    filter.dedup: _task(filter.dedup, "dedup"),
    score.score: _task(score.score, "score"),
    publish.publish: _task(publish.publish, "publish"),
    finetune.finetune: _task(finetune.finetune, "finetune-evaluate"),
    gate.decide: _task(gate.decide, "gate"),
}


class OnPrefect(Local):
    """`loop/steps.py`'s order with each step a Prefect task, each round and its data a subflow."""

    def __call__(self, step, *args):
        return TASKS[step](*args)

    def each(self, step, fixed: tuple, *mapped: list) -> list:
        futures = TASKS[step].map(*(unmapped(a) for a in fixed), *mapped)
        return [f.result() for f in futures]

    def placed(self, cfg: LoopConfig, kind: str):
        return resources(cfg.execution, kind)

    def round(self, cat: Catalog, cfg: LoopConfig, round: int) -> RoundRecord:
        return round_flow(str(cat.home), cfg, round)

    def data(self, cat: Catalog, cfg: LoopConfig, round: int, model: ModelRef, source: Source) -> Published:
        if source is not SAMPLES:  # reference solutions (an experiment's arm): no tasks of their own
            return data_steps(cat, cfg, round, model, LOCAL, source)
        # A local Ray cluster lives as long as this subflow: its workers (and their GPU memory)
        # are gone before fine-tuning starts.
        return data_flow.with_options(task_runner=task_runner(cfg.execution))(str(cat.home), cfg, round, model)


PREFECT = OnPrefect()


@flow(name="synthloop-data", flow_run_name="{cfg.name}-round-{round}-data")
def data_flow(home: str, cfg: LoopConfig, round: int, model: ModelRef) -> Published:
    """plan → generate → verify → dedup → score → publish, under the config's task runner."""
    return data_steps(Catalog(home), cfg, round, model, PREFECT)


@flow(name="synthloop-round", flow_run_name="{cfg.name}-round-{round}")
def round_flow(home: str, cfg: LoopConfig, round: int) -> RoundRecord:
    """The round's data (`data_flow`) → fine-tune → evaluate → gate."""
    record = run_round(Catalog(home), cfg, round, PREFECT)
    publish_artifacts(home, f"{cfg.name}@{record.dataset_version}")  # the quality summary on this flow run
    get_run_logger().info("round %d: %s", round, record.reason)
    return record


@flow(name="synthloop-loop", flow_run_name="{cfg.name}")
def loop_flow(home: str, cfg: LoopConfig, on_round=None) -> list[dict]:
    """The bootstrap, then rounds until `cfg.rounds` are recorded in the catalog. `on_round`
    gets the status rows after each."""
    cat = Catalog(home)
    run_loop(cat, cfg, PREFECT, on_round and (lambda: on_round(status_rows(cat, cfg.name))))
    return status_rows(cat, cfg.name)
