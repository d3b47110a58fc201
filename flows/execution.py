"""Where a round's tasks run: this process (`local`) or a Ray cluster (`ray`, issue 11).

The data is the same either way: the parts, seeds and sampler picks are fixed by the plan, so the
runner decides only which process computes each shard. Under `ray`, Prefect's `RayTaskRunner`
(prefect-ray) sends each generate and verify task to a Ray worker; a worker keeps the backend it
loaded for the whole round (`stages.backend_for`: a per-process cache keyed by the model folder),
so every part it samples after the first reuses the loaded model. We chose a cache in the worker
process over a Ray actor holding the backend: the task stays an ordinary Prefect task (states,
retries, logs in the UI), and a worker that dies takes only its cache with it; Ray re-runs its
task on another worker, which loads the model once more and writes the same shard file.
"""

from __future__ import annotations

import importlib.util
import socket
from contextlib import nullcontext
from typing import Literal
from urllib.parse import urlparse

from pydantic import BaseModel, ConfigDict, Field, model_validator

RAY_HINT = 'install the extra: pip install -e ".[ray]"'


class ExecutionSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")

    # local: every task in this process (generation one part at a time); ray: generate and verify
    # tasks on Ray workers.
    runner: Literal["local", "ray"] = "local"
    # Ray: an existing cluster (`ray start --head` prints it: host:6379, or ray://host:10001 for
    # Ray Client); None starts a local cluster for the round and stops it after.
    address: str | None = None
    workers: int = Field(2, ge=1)  # the local cluster's CPUs: tasks running at once (1 CPU each)
    # GPUs each generation task asks Ray for (0: CPU). With 1, Ray runs one generation task per GPU
    # and sets CUDA_VISIBLE_DEVICES for it: one vLLM engine per GPU.
    gpus_per_worker: float = Field(0, ge=0)
    # Samples per shard (a part of the round's problems, cut at problem boundaries): one generation
    # task and one verify task each, and the most rows a CPU stage holds at once. 4096 rows of
    # addition completions are ~1 MB of Parquet and ~10 MB in memory.
    shard_size: int = Field(4096, ge=1)

    @model_validator(mode="after")
    def _ray_here(self):
        if self.runner == "ray":  # refused when the config loads, with one line, not mid-round
            check_ray(self.address)
        return self


def check_ray(address: str | None) -> None:
    """Raise ValueError (one line) unless Ray and prefect-ray import and `address` answers."""
    for module in ("ray", "prefect_ray"):
        if importlib.util.find_spec(module) is None:
            raise ValueError(f"execution.runner 'ray' needs the {module} package: {RAY_HINT}")
    if address and address != "auto":
        host, port = _host_port(address)
        try:
            socket.create_connection((host, port), timeout=3).close()
        except OSError as e:
            raise ValueError(
                f"execution.address {address!r} does not answer ({e.strerror or e}): start the head with "
                "`ray start --head` and give the address it prints, or leave address empty for a local cluster"
            ) from None


def _host_port(address: str) -> tuple[str, int]:
    """ray://host:10001 (Ray Client) or host:6379 (the head's GCS)."""
    url = urlparse(address if "://" in address else f"gcs://{address}")
    default = 10001 if url.scheme == "ray" else 6379
    try:
        port = url.port or default
    except ValueError:
        raise ValueError(f"execution.address {address!r}: use host:port or ray://host:port") from None
    if not url.hostname:
        raise ValueError(f"execution.address {address!r}: use host:port or ray://host:port")
    return url.hostname, port


def task_runner(spec: ExecutionSpec):
    """The Prefect task runner for the round's data stages."""
    if spec.runner == "local":
        from prefect.task_runners import ThreadPoolTaskRunner

        # Generation holds one backend per process behind a lock; a second thread overlaps
        # verifying one shard with sampling the next.
        return ThreadPoolTaskRunner(max_workers=2)
    from prefect_ray import RayTaskRunner

    init = {"include_dashboard": False, "log_to_driver": False}
    if spec.address is None:
        gpus = int(spec.workers * spec.gpus_per_worker + 0.999)
        init |= {"num_cpus": spec.workers, "num_gpus": gpus}
    return RayTaskRunner(address=spec.address, init_kwargs=init)


def resources(spec: ExecutionSpec, kind: Literal["generate", "cpu"]):
    """A context in which mapped tasks ask Ray for a generation worker's or a CPU task's resources."""
    if spec.runner != "ray":
        return nullcontext()
    from prefect_ray.context import remote_options

    # max_retries: a worker that dies mid-task (killed, out of memory) has its task run again
    # elsewhere. max_calls=0: a generation worker's process lives on between tasks, so its loaded
    # backend is reused (Ray's default for GPU tasks is a new process per task).
    if kind == "generate":
        return remote_options(num_cpus=1, num_gpus=spec.gpus_per_worker, max_calls=0, max_retries=3)
    return remote_options(num_cpus=1, max_retries=3)
