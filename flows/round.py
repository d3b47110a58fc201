"""Prefect flows. `round_flow` is one round's DAG; `loop_flow` runs the bootstrap and the rounds.

Tasks are one-line wrappers over `flows.stages`, so everything they do is testable without Prefect.
Resume comes from the catalog: a stage whose result is recorded there is skipped on a rerun.
"""

from __future__ import annotations

from prefect import flow, get_run_logger, task
from prefect.cache_policies import NO_CACHE
from synthloop.warehouse import Catalog

from . import stages
from .artifacts import publish_artifacts
from .config import LoopConfig

_task = task(cache_policy=NO_CACHE)


@_task(name="bootstrap")
def bootstrap(home: str, cfg: LoopConfig) -> dict:
    """Round 0: train the built-in model on the seed set (or take the user's), evaluate it."""
    return stages.bootstrap(Catalog(home), cfg)


@_task(name="generate")
def generate(home: str, cfg: LoopConfig, round: int, model: dict) -> list[dict]:
    """K samples per problem from the incumbent model with the sampler portfolio."""
    return stages.make_rows(Catalog(home), cfg, round, model)


@_task(name="filter")
def verify_dedup_score(home: str, cfg: LoopConfig, round: int, rows: list[dict]) -> dict:
    """Verify every answer, near-dedup against this and earlier rounds, score diversity."""
    return stages.filter_rows(Catalog(home), cfg, round, rows)


@_task(name="publish")
def publish(home: str, cfg: LoopConfig, round: int, rows: list[dict], metrics: dict, model_id: str) -> int:
    """Publish the round's rows as an immutable dataset version."""
    return Catalog(home).publish(
        cfg.name, rows, round=round, model_id=model_id, config=cfg.model_dump(mode="json"),
        config_hash=cfg.config_hash(), code_version=stages.code_version(), metrics=metrics,
    )


@_task(name="finetune-evaluate")
def finetune(home: str, cfg: LoopConfig, round: int, model: dict, version: int) -> dict:
    """Fine-tune the incumbent on the kept data and evaluate the candidate on the held-out set."""
    return stages.finetune(Catalog(home), cfg, round, model, version)


@_task(name="gate")
def decide(home: str, cfg: LoopConfig, round: int, candidate: dict, model: dict, version: int, metrics: dict) -> dict:
    """Promote the candidate only if it does not regress; record the round."""
    return stages.decide(Catalog(home), cfg, round, candidate, model, version, metrics)


@flow(name="synthloop-round", flow_run_name="{cfg.name}-round-{round}")
def round_flow(home: str, cfg: LoopConfig, round: int) -> dict:
    """sample → generate → verify → dedup → score → publish → fine-tune → evaluate → gate."""
    cat = Catalog(home)
    model = stages.incumbent(cat, cfg.name)
    existing = stages.round_version(cat, cfg.name, round)
    if existing is None:
        rows = generate(home, cfg, round, model)
        metrics = verify_dedup_score(home, cfg, round, rows)
        version = publish(home, cfg, round, rows, metrics, model["model_id"])
    else:  # resumed: the round's data was published before the crash
        version, metrics = existing["version"], cat.resolve(f"{cfg.name}@{existing['version']}")["metrics"]
    candidate = finetune(home, cfg, round, model, version)
    result = decide(home, cfg, round, candidate, model, version, metrics)
    publish_artifacts(home, f"{cfg.name}@{version}")  # the quality summary on this flow run
    get_run_logger().info("round %d: %s", round, result["reason"])
    return result


@flow(name="synthloop-loop", flow_run_name="{cfg.name}")
def loop_flow(home: str, cfg: LoopConfig, on_round=None) -> list[dict]:
    """The bootstrap, then rounds until `cfg.rounds` are recorded in the catalog."""
    cat = Catalog(home)
    bootstrap(home, cfg)
    if on_round:
        on_round(stages.status_rows(cat, cfg.name))
    done = {r["round"] for r in cat.rounds(cfg.name)}
    for r in range(1, cfg.rounds + 1):
        if r not in done:
            round_flow(home, cfg, r)
            if on_round:
                on_round(stages.status_rows(cat, cfg.name))
    return stages.status_rows(cat, cfg.name)
