"""`synthloop serve` and `synthloop deploy` against one real `prefect server start` (started once for
the module: its first start migrates a fresh database, ~10 s of CPU): a scheduled run does a round,
and a `prefect worker` on a work pool runs a deployed round."""

import contextlib
import os
import shlex
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import psutil
import pytest
import yaml
from synthloop.warehouse import Catalog

from ..conftest import TINY_CONFIG

BIN = Path(sys.executable).parent  # the venv's prefect and synthloop: a worker imports synthloop


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait(what: str, check, timeout: float, procs=()):
    deadline = time.time() + timeout
    while time.time() < deadline:
        for p, log in procs:
            if p.poll() is not None:
                raise AssertionError(f"{what}: a process exited early ({p.returncode}):\n{Path(log).read_text()[-3000:]}")
        try:
            found = check()
        except httpx.HTTPError:
            found = None
        if found:
            return found
        time.sleep(1)
    logs = "".join(f"\n--- {log}:\n{Path(log).read_text()[-3000:]}" for _, log in procs)
    raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}{logs}")


@contextlib.contextmanager
def _interruptible():
    """Children started inside get SIGINT at its default, as in a terminal. A shell that runs us in
    the background sets SIGINT to ignored, children inherit that, and Ctrl-C (sent below) would not
    reach `synthloop serve`; a handled SIGINT, by contrast, resets to the default on exec."""
    old = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, old)


def _start_server(bin_dir: Path, port: int, env: dict, log: Path) -> subprocess.Popen:
    """`prefect server start` on 127.0.0.1:`port`, in its own session, its output in `log`."""
    with _interruptible(), open(log, "w") as out:  # the child keeps its own copy of the fd
        return subprocess.Popen([str(bin_dir / "prefect"), "server", "start", "--host", "127.0.0.1", "--port",
                                 str(port)], env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)


def _stop(p: subprocess.Popen, sig=signal.SIGTERM) -> None:
    if p.poll() is None:
        os.killpg(p.pid, sig)
        try:
            # Generous: a round may be running when the signal comes, and it pauses the schedule
            # only once it has shut down cleanly (a loaded 2-core CI machine needed over 30 s).
            p.wait(timeout=120)
        except subprocess.TimeoutExpired:
            os.killpg(p.pid, signal.SIGKILL)
            p.wait()


def _stop_tree(p: subprocess.Popen) -> None:
    """Stop `p` and everything under it: the worker starts each flow run in a process group of its own,
    which killing the worker's group would leave running."""
    try:
        below = psutil.Process(p.pid).children(recursive=True)
    except psutil.NoSuchProcess:
        below = []
    _stop(p)
    for q in below:
        try:
            q.terminate()
        except psutil.NoSuchProcess:
            pass
    for q in psutil.wait_procs(below, timeout=30)[1]:
        q.kill()


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """A real Prefect server on a free port of 127.0.0.1 with its own PREFECT_HOME: yields its API URL, the
    environment its clients run in, and (process, log) for `_wait` to report a server that died."""
    tmp = tmp_path_factory.mktemp("prefect-server")
    port = _free_port()
    api = f"http://127.0.0.1:{port}/api"
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")} | {
        "PREFECT_HOME": str(tmp / "prefect"),
        "PREFECT_API_URL": api,
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "PREFECT_RESULTS_LOCAL_STORAGE_PATH": str(tmp / "prefect" / "results"),
        "PYTHONUNBUFFERED": "1",  # a child's log is complete even if the process is killed
    }
    log = tmp / "server.log"
    t0 = time.time()
    proc = _start_server(BIN, port, env, log)
    try:
        _wait("the Prefect server", lambda: httpx.get(f"{api}/health", timeout=2).status_code == 200, 120, [(proc, log)])
        print(f"prefect server healthy after {time.time() - t0:.1f}s")
        yield api, env, (proc, log)
    finally:
        _stop(proc)


@pytest.mark.slow
def test_served_deployment_runs_a_round_on_schedule(server, tmp_path):
    api, env, watched = server
    env = env | {"PREFECT_RUNNER_POLL_FREQUENCY": "2"}
    cfg = tmp_path / "tiny.yaml"
    cfg.write_text(yaml.safe_dump(TINY_CONFIG))
    home, serve_log = tmp_path / "home", tmp_path / "serve.log"
    t0 = time.time()
    serve = None
    try:
        with _interruptible(), open(serve_log, "w") as out:
            serve = subprocess.Popen([sys.executable, "-m", "synthloop", "serve", "--config", str(cfg), "--interval",
                                      "10", "--home", str(home)], env=env, stdout=out, stderr=subprocess.STDOUT,
                                     start_new_session=True)

        def completed_run():
            body = {"flow_runs": {"state": {"type": {"any_": ["COMPLETED"]}}, "deployment_id": {"is_null_": False}},
                    "deployments": {"name": {"any_": ["tiny"]}}, "sort": "START_TIME_DESC", "limit": 5, "offset": 0}
            return httpx.post(f"{api}/flow_runs/filter", json=body, timeout=10).json()

        runs = _wait("a scheduled run to complete", completed_run, 300, [watched, (serve, serve_log)])
        ran = time.time() - t0
        deployment = httpx.get(f"{api}/deployments/{runs[0]['deployment_id']}", timeout=10).json()
        assert deployment["name"] == "tiny" and runs[0]["auto_scheduled"]
        # The run did the bootstrap and round 1 in the catalog, and left the round's summary artifact.
        rounds = Catalog(home).rounds("tiny")
        assert [r["round"] for r in rounds][:2] == [0, 1] and rounds[1]["dataset_version"] == 1
        body = {"artifacts": {"key": {"any_": ["synthloop-tiny-summary"]}}, "limit": 1, "offset": 0, "sort": "UPDATED_DESC"}
        art = httpx.post(f"{api}/artifacts/filter", json=body, timeout=10).json()
        assert art and art[0]["data"].startswith("# tiny@")
        # Ctrl-C stops serving and pauses the schedule.
        _stop(serve, signal.SIGINT)
        try:
            _wait("the schedule to be paused",
                  lambda: httpx.get(f"{api}/deployments/{deployment['id']}", timeout=10).json()["paused"], 30)
        except AssertionError as e:
            raise AssertionError(f"{e}\n--- serve log:\n{Path(serve_log).read_text()[-3000:]}") from None
        print(f"first scheduled run completed {ran:.1f}s after `synthloop serve` started")
    finally:
        if serve is not None:
            _stop(serve, signal.SIGINT)


@pytest.mark.slow
def test_deployed_round_runs_on_a_work_pool_worker(server, tmp_path):
    api, env, watched = server
    home = tmp_path / "home"
    env = env | {"SYNTHLOOP_HOME": str(home)}
    cfg = tmp_path / "pooled.yaml"  # its own name: the serve test's deployment lives on the same server
    cfg.write_text(yaml.safe_dump(TINY_CONFIG | {"name": "pooled"}))
    worker_log = tmp_path / "worker.log"

    def cli(*args: str, timeout: float = 180) -> str:
        r = subprocess.run(args, check=False, env=env, cwd=tmp_path, capture_output=True, text=True, timeout=timeout)
        assert r.returncode == 0, f"{args}: exit {r.returncode}\n{r.stdout}\n{r.stderr}"
        return r.stdout

    def get(path: str) -> dict:
        return httpx.get(f"{api}{path}", timeout=10).raise_for_status().json()

    def post(path: str, body: dict) -> list:
        return httpx.post(f"{api}{path}", json=body, timeout=10).raise_for_status().json()

    t0 = time.time()
    worker = None
    try:
        # An hourly schedule: registered, but it does not fire while the test runs; the run is started by hand.
        out = cli(str(BIN / "synthloop"), "deploy", "-c", str(cfg), "--pool", "test-pool", "--interval", "3600")
        lines = out.splitlines()
        after = {line: lines[i + 1] for i, line in enumerate(lines[:-1])}
        worker_cmd = next(v for k, v in after.items() if k.startswith("start a worker"))
        run_cmd = after["run one now:"]
        assert shlex.split(worker_cmd) == ["prefect", "worker", "start", "--pool", "test-pool"], out
        assert shlex.split(run_cmd) == ["prefect", "deployment", "run", "synthloop-next-round/pooled"], out

        # What was registered: a process pool, and the deployment on it with the schedule and the config.
        assert get("/work_pools/test-pool")["type"] == "process"
        dep = get("/deployments/name/synthloop-next-round/pooled")
        assert dep["work_pool_name"] == "test-pool" and not dep["paused"] and dep["global_concurrency_limit"]["limit"] == 1
        assert [s["schedule"]["interval"] for s in dep["schedules"]] == [3600.0]
        assert dep["parameters"]["home"] == str(home.resolve()) and dep["parameters"]["config"]["name"] == "pooled" and dep["parameters"]["lock"]
        assert dep["entrypoint"] == "synthloop.flows.serve.next_round_flow"
        assert dep["pull_steps"] == [{"prefect.deployments.steps.set_working_directory": {"directory": str(tmp_path.resolve())}}]
        assert dep["job_variables"]["env"]["HF_HUB_OFFLINE"] == "1"
        deployed = time.time() - t0

        # The two printed commands, with the venv's prefect: run one now, and a worker that takes it.
        cli(str(BIN / "prefect"), *shlex.split(run_cmd)[1:])
        with open(worker_log, "w") as out:
            worker = subprocess.Popen([str(BIN / "prefect"), *shlex.split(worker_cmd)[1:], "--run-once"], env=env,
                                      stdout=out, stderr=subprocess.STDOUT, start_new_session=True)

        def completed():
            ended = {"any_": ["COMPLETED", "FAILED", "CRASHED"]}  # not the hourly schedule's future runs
            runs = post("/flow_runs/filter", {"flow_runs": {"deployment_id": {"any_": [dep["id"]]},
                                                            "state": {"type": ended}}, "limit": 5})
            if any(r["state_type"] in ("FAILED", "CRASHED") for r in runs):
                raise AssertionError(f"the flow run failed: {runs}\n{worker_log.read_text()[-3000:]}")
            done = [r for r in runs if r["state_type"] == "COMPLETED"]
            if not done and worker.poll() is not None:
                raise AssertionError(f"the worker exited ({worker.returncode}) with no completed run:\n"
                                     f"{worker_log.read_text()[-3000:]}")
            return done

        runs = _wait("the flow run to complete", completed, 300, [watched])
        ran = time.time() - t0
        # Seen through the API, as the UI shows it: the worker's run on the pool, and its round as a subflow.
        run = runs[0]
        assert run["work_pool_name"] == "test-pool" and not run["auto_scheduled"]
        subflows = post("/flow_runs/filter", {"flow_runs": {"parent_flow_run_id": {"any_": [run["id"]]}}, "limit": 5})
        assert "pooled" in {r["name"] for r in subflows}  # loop_flow; the rounds are its subflows
        rounds = post("/flow_runs/filter", {"flow_runs": {"name": {"any_": ["pooled-round-1"]}}, "limit": 5})
        assert [r["state_type"] for r in rounds] == ["COMPLETED"]
        # The round really ran, in the deployed home: the bootstrap, round 1, and its published version.
        cat = Catalog.open_read(home)
        assert [r["round"] for r in cat.rounds("pooled")] == [0, 1]
        versions = cat.versions("pooled")
        assert [v["version"] for v in versions] == [1] and versions[0]["rows"] > 0
        assert (home / "run.lock").exists()  # the round held the home, as `synthloop run` would
        worker.wait(timeout=60)  # --run-once: it returns once its run is done
        assert worker.returncode == 0, worker_log.read_text()[-3000:]
        print(f"deployed {deployed:.1f}s, round completed {ran:.1f}s after `synthloop deploy` started")
    finally:
        if worker is not None:
            _stop_tree(worker)
