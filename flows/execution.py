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

from contextlib import nullcontext
from typing import Literal

from synthloop.loop.specs import ExecutionSpec


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
