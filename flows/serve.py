"""`synthloop serve`: the loop as a Prefect deployment, one more round per scheduled run.

Each run continues from the catalog: it does the bootstrap if the run has none, resumes a round
that was interrupted, or else adds the next round, starting from the latest promoted model. The
runner takes one run at a time (runs that fall due meanwhile wait), and the catalog's file lock
keeps a manual `synthloop run` on the same home from corrupting it.
"""

from __future__ import annotations

from contextlib import nullcontext

from prefect import flow
from prefect.deployments.runner import EntrypointType
from synthloop.loop.config import LoopConfig
from synthloop.warehouse import Catalog


@flow(name="synthloop-next-round")
def next_round_flow(home: str, config: dict, lock: bool = False) -> list[dict]:
    """One more round of the configured loop (the bootstrap first when there is none).

    `lock`: hold the home's run lock for the round, as `synthloop run` does. `synthloop serve`
    holds it itself for as long as it serves; a work pool's worker (`synthloop deploy`) holds none.
    """
    # Imported here, not at the top: the runner sends this function to its subprocess by value
    # (cloudpickle), and a flow carried along that way keeps only the globals its code names, so
    # Prefect could not resolve the `cfg: LoopConfig` annotation of `loop_flow` there. Imported
    # in the subprocess, `loop_flow` is the module's own, with its whole namespace.
    from synthloop.flows.round import loop_flow
    from synthloop.loop.status import status_rows

    cfg = LoopConfig.model_validate(config)
    cat = Catalog(home)
    with cat.run_lock(f"synthloop-next-round/{cfg.name} on a worker") if lock else nullcontext():
        done = [r["round"] for r in cat.rounds(cfg.name)]
        target = max(done) + 1 if done else 1
        loop_flow(home, cfg.model_copy(update={"rounds": target}))
    return status_rows(cat, cfg.name)


def serve(home: str, cfg: LoopConfig, cron: str | None = None, interval: float | None = None) -> None:
    """Serve `next_round_flow` as deployment `synthloop-next-round/<run name>` until interrupted.

    Needs a Prefect server (`prefect server start`, with PREFECT_API_URL pointing at it): the
    temporary server Prefect starts on its own never fires schedules. Stopping (Ctrl-C) pauses
    the schedule.
    """
    try:
        _serve(cfg, home, cron, interval)
    finally:
        # Prefect pauses on a clean shutdown, but not when Ctrl-C lands while a run is in flight:
        # pause it ourselves so a stopped `synthloop serve` never leaves a schedule firing.
        _pause(f"synthloop-next-round/{cfg.name}")


def _pause(deployment: str) -> None:
    from prefect.client.orchestration import get_client

    try:
        with get_client(sync_client=True) as client:
            client.pause_deployment(client.read_deployment_by_name(deployment).id)
    except Exception as e:  # noqa: BLE001 - never registered, or the server is gone: don't mask why we stopped
        print(f"synthloop: could not pause {deployment}: {e}")


def deployment_args(home: str, cfg: LoopConfig, lock: bool = False) -> dict:
    """What a deployment of `next_round_flow` for run `cfg.name` carries, served or on a work pool:
    the config itself (not its file's path), so a run needs no file where it runs."""
    return {
        "name": cfg.name,
        "parameters": {"home": home, "config": cfg.model_dump(mode="json"), "lock": lock},
        "description": f"one more round of synthloop run {cfg.name!r} in {home}",
        "tags": ["synthloop"],
    }


def _serve(cfg: LoopConfig, home: str, cron: str | None, interval: float | None) -> None:
    next_round_flow.serve(
        **deployment_args(home, cfg),
        cron=cron,
        interval=interval,
        limit=1,
        pause_on_shutdown=True,
        # By module path, so the runner imports the installed package, wherever it is started.
        entrypoint_type=EntrypointType.MODULE_PATH,
    )
