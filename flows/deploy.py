"""`synthloop deploy`: the loop's next round as a deployment on a Prefect work pool.

`synthloop serve` runs each scheduled round in its own process, for as long as it runs. Deployed on
a work pool instead, the schedule is kept by the Prefect server and each round is run by whichever
`prefect worker` polls the pool, on whatever machine: nothing of ours stays running in between.
The flow is `serve`'s own (`next_round_flow`: one more round from the catalog), and the deployment
carries what `serve` passes (`deployment_args`), so a round on a worker is the round `serve` runs.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from synthloop.loop.config import LoopConfig

from synthloop.errors import UserError

from .serve import deployment_args, next_round_flow

START_SERVER = "start one with `prefect server start` and `export PREFECT_API_URL=http://127.0.0.1:4200/api`"


@dataclass
class Deployed:
    id: str
    name: str  # flow/deployment, as `prefect deployment run` takes it
    pool: str
    pool_created: bool
    api: str
    ui: str | None
    workdir: Path


def check_schedule(cron: str | None, interval: float | None) -> None:
    if (cron is None) == (interval is None):
        raise UserError("give exactly one of --cron or --interval")
    if cron is not None:
        from prefect.client.schemas.schedules import CronSchedule
        from pydantic import ValidationError

        try:
            CronSchedule(cron=cron)
        except ValidationError:
            raise UserError(f"invalid cron schedule {cron!r}: five fields, e.g. \"0 */6 * * *\" (every 6 hours)") from None


def check_pool_name(pool: str) -> None:
    """Refuse in one line a pool name the Prefect server would refuse (with a traceback, mid-deploy)."""
    from prefect.client.schemas.actions import WorkPoolCreate
    from pydantic import ValidationError

    try:
        WorkPoolCreate(name=pool, type="process")
    except ValidationError:
        raise UserError(f"invalid work pool name {pool!r}: a non-empty name without / % & < >") from None
    if pool.lower().startswith("prefect"):  # the server's rule (403), not the schema's
        raise UserError(f"invalid work pool name {pool!r}: names starting with 'prefect' are Prefect's own")


def check_server() -> str:
    """The API URL of the Prefect server, which must be a real one and answer."""
    from prefect.client.orchestration import get_client
    from prefect.settings import PREFECT_API_URL

    api = PREFECT_API_URL.value()
    if not api:  # without it Prefect starts a temporary server that is gone, schedule and all, when we exit
        raise UserError(f"a work pool's schedule needs a Prefect server that keeps running: {START_SERVER}")
    with get_client(sync_client=True) as client:
        err = client.api_healthcheck()
    if err is not None:
        raise UserError(f"the Prefect server at {api} does not answer ({type(err).__name__}): {START_SERVER}, "
                        "or set PREFECT_API_URL to yours")
    return api


def _ensure_pool(pool: str) -> bool:
    """Create work pool `pool` (type process) unless it exists; True when created."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.actions import WorkPoolCreate
    from prefect.exceptions import ObjectAlreadyExists, ObjectNotFound
    from prefect.workers.process import ProcessWorker

    with get_client(sync_client=True) as client:
        try:
            found = client.read_work_pool(pool)
        except ObjectNotFound:
            # The template from the worker class here: `prefect work-pool create` looks it up online.
            template = ProcessWorker.get_default_base_job_template()
            try:
                client.create_work_pool(WorkPoolCreate(name=pool, type="process", base_job_template=template))
            except ObjectAlreadyExists:  # another deploy made it meanwhile
                return False
            return True
    # A round runs in the worker's own Python (the installed package) in a folder of this machine's
    # paths; a container pool has neither, unless built for it, which we have not done or tested.
    if found.type != "process":
        raise UserError(f"work pool {pool!r} is of type {found.type!r}; `synthloop deploy` needs a process "
                        "pool (rounds run in the worker's own Python environment): pick another --pool")
    return False


def deploy(home: str, cfg: LoopConfig, pool: str, cron: str | None = None, interval: float | None = None,
           env: dict[str, str] | None = None, workdir: Path | None = None) -> Deployed:
    """Register (or update) deployment `synthloop-next-round/<run name>` on process work pool `pool`.

    Rounds run with `env` set and in `workdir` (default: here), so relative paths in the config mean
    what they do for `synthloop run` started here. The worker imports the flow from the installed
    package by module path, so it needs synthloop installed, not this folder's code.
    """
    from prefect.deployments.runner import RunnerDeployment
    from prefect.runner.storage import LocalStorage
    from prefect.settings import PREFECT_UI_URL

    check_schedule(cron, interval)
    check_pool_name(pool)
    api = check_server()
    created = _ensure_pool(pool)
    workdir = (workdir or Path.cwd()).resolve()
    entrypoint = f"{next_round_flow.fn.__module__}.{next_round_flow.fn.__name__}"
    # `from_storage`, which `flow.from_source(...).to_deployment` calls, without setting the storage
    # on the shared flow object; `apply` rather than `deploy`, which prints tables and hints of its own.
    deployment = RunnerDeployment.from_storage(
        storage=LocalStorage(str(workdir)),  # its pull step: the run's working directory
        entrypoint=entrypoint,
        **deployment_args(home, cfg, lock=True),  # nothing else holds the home for the worker's round
        cron=cron,
        interval=interval,
        paused=False,  # a redeploy resumes a schedule that a stopped `synthloop serve` paused
        concurrency_limit=1,  # one round at a time, as `serve` runs them: a due run waits its turn
        work_pool_name=pool,
        job_variables={"env": env or {}},
    )
    deployment_id = deployment.apply(work_pool_name=pool)
    ui = PREFECT_UI_URL.value()
    return Deployed(str(deployment_id), f"{next_round_flow.name}/{cfg.name}", pool, created, api,
                    f"{ui}/deployments/deployment/{deployment_id}" if ui else None, workdir)
