"""Where a round's tasks run: this process (`local`) or a Ray cluster (`ray`, issue 11).

The data is the same either way: the parts, seeds and sampler picks are fixed by the plan, so the
runner decides only which process computes each shard. Under `ray`, Prefect's `RayTaskRunner`
(prefect-ray) sends each generate and verify task to a Ray worker; a worker keeps the backend it
loaded for the whole round (`stages.backend_for`: a per-process cache keyed by the model folder),
so every part it samples after the first reuses the loaded model. We chose a cache in the worker
process over a Ray actor holding the backend: the task stays an ordinary Prefect task (states,
retries, logs in the UI), and a worker that dies takes only its cache with it; Ray re-runs its
task on another worker, which loads the model once more and writes the same shard file.

On an existing cluster (`address`), `generate_resource` and `cpu_resource` say which nodes take
which tasks (the model's node, the CPU nodes); a lost node's tasks wait for another node with the
resource (tests/flows/test_ray_cluster.py kills one mid-round and starts a new one).
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
        # "local": a new cluster even where RAY_ADDRESS is set or `ray start` ran (ray.init() joins that)
        init |= {"address": "local", "num_cpus": spec.workers, "num_gpus": gpus}
        if named := [r for r in (spec.generate_resource, spec.cpu_resource) if r]:
            init["resources"] = dict.fromkeys(named, spec.workers)  # one node: it has every one named
    return RayTaskRunner(address=spec.address, init_kwargs=init)


def resources(spec: ExecutionSpec, kind: Literal["generate", "cpu"]):
    """A context in which mapped tasks ask Ray for a generation worker's or a CPU task's resources."""
    if spec.runner != "ray":
        return nullcontext()
    import ray
    from prefect import get_run_logger
    from prefect_ray.context import remote_options

    name = spec.generate_resource if kind == "generate" else spec.cpu_resource
    placed = {"resources": {name: 1}} if name else {}  # only on nodes started with it (loop/specs.py)
    if name and ray.is_initialized() and name not in ray.cluster_resources():  # Ray would only wait, silently
        get_run_logger().warning("no node of the Ray cluster has resource %r yet: %s tasks wait for one", name, kind)
    # max_retries: a worker that dies mid-task (killed, out of memory, its node lost) has its task
    # run again elsewhere. max_calls=0: a generation worker's process lives on between tasks, so its
    # loaded backend is reused (Ray's default for GPU tasks is a new process per task).
    if kind == "generate":
        return remote_options(num_cpus=1, num_gpus=spec.gpus_per_worker, max_calls=0, max_retries=3, **placed)
    return remote_options(num_cpus=1, max_retries=3, **placed)
