"""`synthloop serve` against a real `prefect server start`: a scheduled run does a round."""

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
import yaml
from synthloop.warehouse import Catalog

from ..conftest import TINY_CONFIG


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


@pytest.mark.slow
def test_served_deployment_runs_a_round_on_schedule(tmp_path):
    port = _free_port()
    api = f"http://127.0.0.1:{port}/api"
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")} | {
        "PREFECT_HOME": str(tmp_path / "prefect"),
        "PREFECT_API_URL": api,
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "PREFECT_RUNNER_POLL_FREQUENCY": "2",
        "PREFECT_RESULTS_LOCAL_STORAGE_PATH": str(tmp_path / "prefect" / "results"),
        "PYTHONUNBUFFERED": "1",  # the serve log is complete even if the process is killed
    }
    cfg = tmp_path / "tiny.yaml"
    cfg.write_text(yaml.safe_dump(TINY_CONFIG))
    home = tmp_path / "home"
    bin_dir = Path(sys.executable).parent
    server_log, serve_log = tmp_path / "server.log", tmp_path / "serve.log"
    t0 = time.time()
    server = _start_server(bin_dir, port, env, server_log)
    serve = None
    try:
        _wait("the Prefect server", lambda: httpx.get(f"{api}/health", timeout=2).status_code == 200, 120,
              [(server, server_log)])
        started = time.time() - t0
        with _interruptible(), open(serve_log, "w") as out:
            serve = subprocess.Popen([sys.executable, "-m", "synthloop", "serve", "--config", str(cfg), "--interval",
                                      "10", "--home", str(home)], env=env, stdout=out, stderr=subprocess.STDOUT,
                                     start_new_session=True)

        def completed_run():
            body = {"flow_runs": {"state": {"type": {"any_": ["COMPLETED"]}}, "deployment_id": {"is_null_": False}},
                    "sort": "START_TIME_DESC", "limit": 5, "offset": 0}
            return httpx.post(f"{api}/flow_runs/filter", json=body, timeout=10).json()

        runs = _wait("a scheduled run to complete", completed_run, 300, [(server, server_log), (serve, serve_log)])
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
        print(f"prefect server healthy after {started:.1f}s; first scheduled run completed after {ran:.1f}s")
    finally:
        if serve is not None:
            _stop(serve, signal.SIGINT)
        _stop(server)
