"""`synthloop deploy` against a real `prefect server start`: a `prefect worker` on the work pool runs a round."""

import os
import shlex
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
from .test_serve import _free_port, _start_server, _stop, _wait


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


@pytest.mark.slow
def test_deployed_round_runs_on_a_work_pool_worker(tmp_path):
    port = _free_port()
    api = f"http://127.0.0.1:{port}/api"
    bin_dir = Path(sys.executable).parent  # the venv's prefect: its worker imports synthloop
    home = tmp_path / "home"
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")} | {
        "PREFECT_HOME": str(tmp_path / "prefect"),
        "PREFECT_API_URL": api,
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "PREFECT_RESULTS_LOCAL_STORAGE_PATH": str(tmp_path / "prefect" / "results"),
        "SYNTHLOOP_HOME": str(home),
        "PYTHONUNBUFFERED": "1",
    }
    cfg = tmp_path / "tiny.yaml"
    cfg.write_text(yaml.safe_dump(TINY_CONFIG))
    server_log, worker_log = tmp_path / "server.log", tmp_path / "worker.log"

    def cli(*args: str, timeout: float = 180) -> str:
        r = subprocess.run(args, check=False, env=env, cwd=tmp_path, capture_output=True, text=True, timeout=timeout)
        assert r.returncode == 0, f"{args}: exit {r.returncode}\n{r.stdout}\n{r.stderr}"
        return r.stdout

    def get(path: str) -> dict:
        return httpx.get(f"{api}{path}", timeout=10).raise_for_status().json()

    def post(path: str, body: dict) -> list:
        return httpx.post(f"{api}{path}", json=body, timeout=10).raise_for_status().json()

    t0 = time.time()
    server = _start_server(bin_dir, port, env, server_log)
    worker = None
    try:
        _wait("the Prefect server", lambda: httpx.get(f"{api}/health", timeout=2).status_code == 200, 120,
              [(server, server_log)])
        started = time.time() - t0
        # An hourly schedule: registered, but it does not fire while the test runs; the run is started by hand.
        out = cli(str(bin_dir / "synthloop"), "deploy", "-c", str(cfg), "--pool", "test-pool", "--interval", "3600")
        lines = out.splitlines()
        after = {line: lines[i + 1] for i, line in enumerate(lines[:-1])}
        worker_cmd = next(v for k, v in after.items() if k.startswith("start a worker"))
        run_cmd = after["run one now:"]
        assert shlex.split(worker_cmd) == ["prefect", "worker", "start", "--pool", "test-pool"], out
        assert shlex.split(run_cmd) == ["prefect", "deployment", "run", "synthloop-next-round/tiny"], out

        # What was registered: a process pool, and the deployment on it with the schedule and the config.
        assert get("/work_pools/test-pool")["type"] == "process"
        dep = get("/deployments/name/synthloop-next-round/tiny")
        assert dep["work_pool_name"] == "test-pool" and not dep["paused"] and dep["global_concurrency_limit"]["limit"] == 1
        assert [s["schedule"]["interval"] for s in dep["schedules"]] == [3600.0]
        assert dep["parameters"]["home"] == str(home.resolve()) and dep["parameters"]["config"]["name"] == "tiny" and dep["parameters"]["lock"]
        assert dep["entrypoint"] == "synthloop.flows.serve.next_round_flow"
        assert dep["pull_steps"] == [{"prefect.deployments.steps.set_working_directory": {"directory": str(tmp_path.resolve())}}]
        assert dep["job_variables"]["env"]["HF_HUB_OFFLINE"] == "1"
        deployed = time.time() - t0

        # The two printed commands, with the venv's prefect: run one now, and a worker that takes it.
        cli(str(bin_dir / "prefect"), *shlex.split(run_cmd)[1:])
        with open(worker_log, "w") as out:
            worker = subprocess.Popen([str(bin_dir / "prefect"), *shlex.split(worker_cmd)[1:], "--run-once"], env=env,
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

        runs = _wait("the flow run to complete", completed, 300, [(server, server_log)])
        ran = time.time() - t0
        # Seen through the API, as the UI shows it: the worker's run on the pool, and its round as a subflow.
        run = runs[0]
        assert run["work_pool_name"] == "test-pool" and not run["auto_scheduled"]
        subflows = post("/flow_runs/filter", {"flow_runs": {"parent_flow_run_id": {"any_": [run["id"]]}}, "limit": 5})
        assert "tiny" in {r["name"] for r in subflows}  # loop_flow; the rounds are its subflows
        rounds = post("/flow_runs/filter", {"flow_runs": {"name": {"any_": ["tiny-round-1"]}}, "limit": 5})
        assert [r["state_type"] for r in rounds] == ["COMPLETED"]
        # The round really ran, in the deployed home: the bootstrap, round 1, and its published version.
        cat = Catalog.open_read(home)
        assert [r["round"] for r in cat.rounds("tiny")] == [0, 1]
        versions = cat.versions("tiny")
        assert [v["version"] for v in versions] == [1] and versions[0]["rows"] > 0
        assert (home / "run.lock").exists()  # the round held the home, as `synthloop run` would
        worker.wait(timeout=60)  # --run-once: it returns once its run is done
        assert worker.returncode == 0, worker_log.read_text()[-3000:]
        print(f"server up {started:.1f}s, deployed {deployed:.1f}s, round completed {ran:.1f}s after start")
    finally:
        if worker is not None:
            _stop_tree(worker)
        _stop(server)
