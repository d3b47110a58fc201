"""`execution: {runner: ray, address: ...}` on an existing Ray cluster of two nodes, each its own
`ray start` on this machine with its own resources: generation runs on the node with the model's
resource and verification on the head; the model's node, killed mid-round and replaced, costs no
row and publishes none twice: the rows are the local runner's."""

import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from contextlib import suppress
from pathlib import Path

import psutil
import pytest

pytest.importorskip("ray")
pytest.importorskip("prefect_ray")

from prefect_ray.context import RemoteOptionsContext
from synthloop.flows import round as round_flow_module
from synthloop.flows.execution import resources, task_runner
from synthloop.flows.round import OnPrefect
from synthloop.loop.filter import verify
from synthloop.loop.generate import generate
from synthloop.loop.shards import round_dir
from synthloop.loop.specs import ExecutionSpec

from . import test_ray
from .test_ray import _ray_round

local_round = test_ray.local_round  # the local runner's round, made again for this module

RAY = Path(sys.executable).with_name("ray")
MARK = "SYNTHLOOP_TEST_RAY_NODE"  # in the environment of the processes a node starts (not its agents')


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Node:
    """One `ray start --block`: a Ray node with its own CPU and resources, and its processes."""

    def __init__(self, logs: Path, name: str, *args: str):
        self.name = name
        # The head checks a node twice a second and gives up on it after 3 misses (Ray's default:
        # 5 misses, every 3 s): the killed node's tasks are retried without a 15 s wait. Token auth
        # as this process (the driver) has it: Ray 2.60's `ray start --head` turns it on by itself
        # where ~/.ray/auth_token exists (any local ray.init() writes one), a joining node or driver does not.
        env = os.environ | {MARK: name, "RAY_USAGE_STATS_ENABLED": "0", "RAY_health_check_period_ms": "500",
                            "RAY_health_check_failure_threshold": "3",
                            "RAY_AUTH_MODE": os.environ.get("RAY_AUTH_MODE", "disabled")}
        self.log = logs / f"{name}.log"
        with self.log.open("w") as out:
            self.proc = subprocess.Popen(
                [str(RAY), "start", "--block", "--disable-usage-stats", "--num-cpus=1", "--num-gpus=0",
                 "--include-log-monitor=false", "--object-store-memory=100000000",
                 f"--dashboard-agent-listen-port={_free_port()}", *args],  # Ray's default port: one node a machine
                env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)

    def processes(self) -> list[psutil.Process]:
        """Its process group (`ray start`, raylet, agents) and the workers, each in a group of its own."""
        found = []
        for p in psutil.process_iter():
            with suppress(psutil.Error, ProcessLookupError):
                if p.status() != psutil.STATUS_ZOMBIE and (
                        os.getpgid(p.pid) == self.proc.pid or p.environ().get(MARK) == self.name):
                    found.append(p)
        return found

    def node_id(self, timeout_s: float = 120.0) -> str:
        """Its Ray node id (its raylet's --node_id), once the node has started."""
        end = time.monotonic() + timeout_s
        while time.monotonic() < end and self.proc.poll() is None:
            if "Ray runtime started" in self.log.read_text():
                for p in self.processes():
                    with suppress(psutil.Error):
                        for arg in p.cmdline():
                            if arg.startswith("--node_id="):
                                return arg.removeprefix("--node_id=")
            time.sleep(0.1)
        raise TimeoutError(f"Ray node {self.name} did not start:\n{self.log.read_text()[-2000:]}")

    def kill(self) -> list[int]:
        """SIGKILL every process of the node, as when its machine is lost; each is stopped first,
        so none starts another meanwhile."""
        stopped = {}
        while new := [p for p in self.processes() if p.pid not in stopped]:
            for p in new:
                with suppress(psutil.Error):
                    p.suspend()
                stopped[p.pid] = p
        for p in stopped.values():
            with suppress(psutil.Error):
                p.kill()
        self.proc.wait(timeout=30)
        end = time.monotonic() + 30  # the others are not children of this process: gone or zombies
        while self.processes() and time.monotonic() < end:
            time.sleep(0.05)
        return list(stopped)


class Cluster:
    """Ray nodes of one cluster, each its own `ray start`."""

    def __init__(self):
        self.temp = Path(tempfile.mkdtemp(prefix="ray-"))  # short: Ray's socket paths are under it
        self.port = _free_port()
        self.address = f"127.0.0.1:{self.port}"
        self.nodes: dict[str, Node] = {}

    def start(self, name: str, *args: str) -> Node:
        self.nodes[name] = Node(self.temp, name, *args)
        return self.nodes[name]

    def stop(self):
        for node in self.nodes.values():
            node.kill()
        shutil.rmtree(self.temp, ignore_errors=True)


@pytest.fixture
def cluster(local_round):  # after local_round: the nodes inherit the Prefect harness's environment
    """A head (1 CPU, resource `cpu_stage`) and a model node (1 CPU, resource `model`)."""
    c = Cluster()
    try:
        c.start("head", "--head", f"--port={c.port}", f"--temp-dir={c.temp}", "--include-dashboard=false",
                f"--ray-client-server-port={_free_port()}", "--resources=" + json.dumps({"cpu_stage": 1}))
        c.nodes["head"].node_id()
        c.start("model", f"--address={c.address}", "--resources=" + json.dumps({"model": 1}))
        yield c
    finally:
        c.stop()


class Recorded(OnPrefect):
    """The flows' runner, keeping what each mapped step returned (a shard names the node that wrote it)."""

    def __init__(self):
        self.out = {}

    def each(self, step, fixed: tuple, *mapped: list) -> list:
        self.out[step] = super().each(step, fixed, *mapped)
        return self.out[step]


def test_round_on_a_cluster_places_its_tasks_and_survives_losing_the_model_node(local_round, cluster, monkeypatch):
    tmp, src, model, local = local_round
    head, first = cluster.nodes["head"].node_id(), cluster.nodes["model"].node_id()
    runner = Recorded()
    monkeypatch.setattr(round_flow_module, "PREFECT", runner)
    generated = round_dir(tmp / "cluster", "tiny", 1) / "generated"
    seen = {}  # what the kill found

    def kill_the_model_node():
        # On the first part generated, not after a while: the other parts are still to make.
        end = time.monotonic() + 300
        while not any(generated.glob("part-*.parquet")) and time.monotonic() < end:
            time.sleep(0.02)
        seen["killed"] = cluster.nodes["model"].kill()
        return cluster.start("model-2", f"--address={cluster.address}", "--resources=" + json.dumps({"model": 1})).node_id()

    # 12 parts of 8 samples (the cut changes no row): after the first, 11 are left to the model node
    cat, rows, second = _ray_round(tmp, src, "cluster", model, during=kill_the_model_node, address=cluster.address,
                                   generate_resource="model", cpu_resource="cpu_stage", shard_size=8)

    assert seen["killed"] and not cluster.nodes["model"].processes()
    made_on = [s.node for s in runner.out[generate]]
    assert len(made_on) == 12 and set(made_on) <= {first, second}, made_on  # the model's nodes only
    assert second in made_on, "every part was made before the model's node was killed"
    assert {s.node for s, _, _ in runner.out[verify]} == {head}
    ids = [r["row_id"] for r in rows]
    assert len(ids) == len(set(ids)) == 12 * 8  # every row once
    assert rows == local  # the undisturbed local round's rows
    assert len(cat.versions("tiny")) == 1


def test_tasks_ask_for_the_named_resources_and_a_local_cluster_has_them():
    def asked(spec, kind):
        with resources(spec, kind):
            return RemoteOptionsContext.get().current_remote_options

    spec = ExecutionSpec(runner="ray", generate_resource="model", cpu_resource="cpu_stage")
    assert asked(spec, "generate")["resources"] == {"model": 1}
    assert asked(spec, "cpu")["resources"] == {"cpu_stage": 1}
    assert task_runner(spec).init_kwargs["resources"] == {"model": 2, "cpu_stage": 2}
    plain = ExecutionSpec(runner="ray")  # unnamed: any node, as before
    assert "resources" not in asked(plain, "generate") and "resources" not in asked(plain, "cpu")
    assert "resources" not in task_runner(plain).init_kwargs
