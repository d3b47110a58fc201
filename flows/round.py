"""Prefect flows. `round_flow` is one round's DAG; `loop_flow` runs the bootstrap and the rounds.

Tasks are one-line wrappers over `flows.stages`, so everything they do is testable without Prefect.
Every task's output is its return value: the round's rows travel as `Shard`s (Parquet files in the
round's staging folder), mapped over one task per part for generation and verification.
Resume comes from the catalog: a stage whose result is recorded there is skipped on a rerun.
"""

from __future__ import annotations

from prefect import flow, get_run_logger, task, unmapped
from prefect.cache_policies import NO_CACHE
from synthloop.filters.dedup import DedupMetrics
from synthloop.filters.diversity import RoundMetrics
from synthloop.filters.verify import VerifyMetrics
from synthloop.warehouse import Catalog

from . import stages
from .artifacts import publish_artifacts
from .config import LoopConfig
from .execution import resources, task_runner
from .progress import say
from .shards import Part, Shard

_task = task(cache_policy=NO_CACHE)


@_task(name="bootstrap")
def bootstrap(home: str, cfg: LoopConfig) -> dict:
    """Round 0: train the built-in model on the seed set (or take the user's), evaluate it."""
    return stages.bootstrap(Catalog(home), cfg)


@_task(name="plan")
def plan(home: str, cfg: LoopConfig, round: int) -> tuple[list[Part], dict]:
    """The round's problems and sampler picks, cut into parts of about `execution.shard_size` samples."""
    return stages.plan(Catalog(home), cfg, round)


@_task(name="generate", retries=2)  # a lost worker: the part is sampled again, to the same file
def generate(cfg: LoopConfig, round: int, model: dict, part: Part) -> Shard:
    """One part's samples from the incumbent model with the sampler portfolio."""
    return stages.generate(cfg, round, model, part)


@_task(name="verify", retries=2)
def verify(cfg: LoopConfig, part: Part, shard: Shard) -> tuple[Shard, VerifyMetrics]:
    """Verify every answer of one shard; MinHash signatures of the rows still kept."""
    return stages.verify(cfg, part, shard)


@_task(name="dedup")
def dedup(home: str, cfg: LoopConfig, round: int, verified: list[Shard]) -> tuple[list[Shard], DedupMetrics]:
    """Near-dedup over all the round's shards and every earlier round's kept rows."""
    return stages.dedup(Catalog(home), cfg, round, verified)


@_task(name="score")
def score(home: str, cfg: LoopConfig, round: int, final: list[Shard], allocation: dict) -> RoundMetrics:
    """Counts, pass rates and diversity of the round's rows."""
    return stages.score(Catalog(home), cfg, round, final, allocation)


@_task(name="publish")
def publish(home: str, cfg: LoopConfig, round: int, final: list[Shard], metrics: RoundMetrics, model_id: str) -> int:
    """Publish all the round's shards as one immutable dataset version."""
    return stages.publish(Catalog(home), cfg, round, final, metrics, model_id)


@_task(name="finetune-evaluate")
def finetune(home: str, cfg: LoopConfig, round: int, model: dict, version: int) -> dict:
    """Fine-tune the incumbent on the kept data and evaluate the candidate on the held-out set."""
    return stages.finetune(Catalog(home), cfg, round, model, version)


@_task(name="gate")
def decide(home: str, cfg: LoopConfig, round: int, candidate: dict, model: dict, version: int, metrics: dict) -> dict:
    """Promote the candidate only if it does not regress; record the round."""
    return stages.decide(Catalog(home), cfg, round, candidate, model, version, metrics)


@flow(name="synthloop-data", flow_run_name="{cfg.name}-round-{round}-data")
def data_flow(home: str, cfg: LoopConfig, round: int, model: dict) -> tuple[int, dict]:
    """plan → generate → verify → dedup → score → publish, under the config's task runner."""
    parts, allocation = plan(home, cfg, round)
    with resources(cfg.execution, "generate"):
        generated = generate.map(unmapped(cfg), unmapped(round), unmapped(model), parts)
    with resources(cfg.execution, "cpu"):
        checked = [f.result() for f in verify.map(unmapped(cfg), parts, generated)]
    stages.release_backend()  # this process's generation backend, before fine-tuning
    final, found = dedup(home, cfg, round, [shard for shard, _ in checked])
    data = score(home, cfg, round, final, allocation)
    version = publish(home, cfg, round, final, data, model["model_id"])
    log_data_stages(sum((m for _, m in checked), VerifyMetrics()), found)
    return version, data.to_dict()


@flow(name="synthloop-round", flow_run_name="{cfg.name}-round-{round}")
def round_flow(home: str, cfg: LoopConfig, round: int) -> dict:
    """The round's data (`data_flow`) → fine-tune → evaluate → gate."""
    cat = Catalog(home)
    model = stages.incumbent(cat, cfg.name)
    existing = stages.round_version(cat, cfg.name, round)
    if existing is None:
        # A local Ray cluster lives as long as this subflow: its workers (and their GPU memory)
        # are gone before fine-tuning starts.
        version, metrics = data_flow.with_options(task_runner=task_runner(cfg.execution))(home, cfg, round, model)
    else:  # resumed: the round's data was published before the crash
        version, metrics = existing["version"], cat.resolve(f"{cfg.name}@{existing['version']}")["metrics"]
    candidate = finetune(home, cfg, round, model, version)
    result = decide(home, cfg, round, candidate, model, version, metrics)
    publish_artifacts(home, f"{cfg.name}@{version}")  # the quality summary on this flow run
    get_run_logger().info("round %d: %s", round, result["reason"])
    return result


def log_data_stages(checked: VerifyMetrics, found: DedupMetrics) -> None:
    say(  # to the run's log (the UI) and stderr, like every stage's summary (flows/progress.py)
        f"verified {checked.rows} rows: {checked.correct} right answers, {checked.kept} kept (dropped: "
        f"{checked.drops or 'none'}); near-dedup compared {found.compared} rows against {found.prior} "
        f"earlier ones, dropped {found.near_duplicate}"
    )


@flow(name="synthloop-loop", flow_run_name="{cfg.name}")
def loop_flow(home: str, cfg: LoopConfig, on_round=None) -> list[dict]:
    """The bootstrap, then rounds until `cfg.rounds` are recorded in the catalog."""
    cat = Catalog(home)
    try:
        bootstrap(home, cfg)
        if on_round:
            on_round(stages.status_rows(cat, cfg.name))
        done = {r["round"] for r in cat.rounds(cfg.name)}
        for r in range(1, cfg.rounds + 1):
            if r not in done:
                round_flow(home, cfg, r)
                if on_round:
                    on_round(stages.status_rows(cat, cfg.name))
    finally:
        stages.release_backend()  # the engine the last evaluation left loaded for a next round
    return stages.status_rows(cat, cfg.name)
