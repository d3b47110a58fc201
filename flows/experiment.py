"""Prefect flows of `synthloop experiment`: each experiment's arms over the loop's own flows.

An arm that runs the loop runs the loop's own `loop_flow` as a subflow; an arm that trains on
reference solutions runs `reference_round` tasks: the loop's own round with reference solutions
for data (loop/reference.py). A rerun resumes: finished rounds are read back from the catalog.
"""

from __future__ import annotations

from pathlib import Path

from prefect import flow, task
from prefect.artifacts import create_table_artifact
from prefect.cache_policies import NO_CACHE
from synthloop.loop import experiments as es
from synthloop.loop.bootstrap import bootstrap
from synthloop.loop.config import LoopConfig
from synthloop.loop.experiment_tables import result
from synthloop.loop.publish import code_version
from synthloop.loop.records import RoundRecord
from synthloop.loop.reference import Noise
from synthloop.loop.reference import reference_round as reference_round_steps
from synthloop.loop.status import status_rows
from synthloop.warehouse import Catalog
from synthloop.warehouse.experiment_report import write_experiment

from .artifacts import artifact_key
from .round import PREFECT, loop_flow

_task = task(cache_policy=NO_CACHE)


@_task(name="share-bootstrap")
def share_bootstrap(home: str, base: LoopConfig, arm: es.Arm) -> RoundRecord:
    """Round 0 of the arm: the shared bootstrap model, evaluated with the arm's eval config."""
    return es.share_bootstrap(Catalog(home), base, arm)


@_task(name="reference-round")
def reference_round(home: str, cfg: LoopConfig, round: int, noise: Noise) -> RoundRecord:
    """Fine-tune on (noised) reference solutions instead of samples; evaluate; record the round."""
    return reference_round_steps(Catalog(home), cfg, round, noise)


@_task(name="experiment-report")
def report(home: str, name: str, cfg: LoopConfig, spec: es.ExperimentSpec, base: LoopConfig,
           arms: list[es.Arm], out: str | None, code_version: str) -> dict:
    """The table, read back from the catalog; written as JSON and an HTML page; a Prefect artifact."""
    res = result(Catalog(home), name, cfg, spec, base, arms, code_version)
    res["files"] = {k: str(v) for k, v in write_experiment(res, Path(out) if out else Catalog(home).home / "reports").items()}
    create_table_artifact(res["rows"], key=artifact_key(cfg.name, f"experiment-{name}"),
                          description=f"synthloop experiment {name}: {len(arms)} arms, {res['seeds']} seed(s)")
    return res


def _arm(home: str, base: LoopConfig, arm: es.Arm, on_arm) -> None:
    share_bootstrap(home, base, arm)
    if arm.noise is not None:  # trains on reference solutions
        for r in range(1, arm.cfg.rounds + 1):
            reference_round(home, arm.cfg, r, arm.noise)
    else:
        loop_flow(home, arm.cfg)
    if on_arm:
        on_arm(arm, status_rows(Catalog(home), arm.cfg.name))


def _run(home: str, name: str, cfg: LoopConfig, spec: es.ExperimentSpec, seeds, out, on_arm) -> dict:
    code = code_version()  # now: a checkout can move while a long experiment runs
    base = es.base_config(cfg)
    arms = es.arms_of(name, cfg, spec, seeds)
    PREFECT(bootstrap, Catalog(home), base)  # once for every arm (and every experiment on this config)
    for arm in arms:
        _arm(home, base, arm, on_arm)
    return report(home, name, cfg, spec, base, arms, out, code)


@flow(name="synthloop-experiment-noise", flow_run_name="{cfg.name}-noise")
def noise_flow(home: str, cfg: LoopConfig, spec: es.ExperimentSpec, seeds: int | None = None,
               out: str | None = None, on_arm=None) -> dict:
    """Clean, static and dynamic noise cells: fine-tune the bootstrap on each cell's references."""
    return _run(home, "noise", cfg, spec, seeds, out, on_arm)


@flow(name="synthloop-experiment-collapse", flow_run_name="{cfg.name}-collapse")
def collapse_flow(home: str, cfg: LoopConfig, spec: es.ExperimentSpec, seeds: int | None = None,
                  out: str | None = None, on_arm=None) -> dict:
    """The default loop and the keep-every-sample loop, round by round from the same bootstrap."""
    return _run(home, "collapse", cfg, spec, seeds, out, on_arm)


@flow(name="synthloop-experiment-passk", flow_run_name="{cfg.name}-passk")
def passk_flow(home: str, cfg: LoopConfig, spec: es.ExperimentSpec, seeds: int | None = None,
               out: str | None = None, on_arm=None) -> dict:
    """Long SFT on reference solutions, checkpoint by checkpoint, and rounds of expert iteration."""
    return _run(home, "passk", cfg, spec, seeds, out, on_arm)


FLOWS = {"noise": noise_flow, "collapse": collapse_flow, "passk": passk_flow}
