"""Test session set-up: one Prefect harness for the whole session, isolated homes per test."""

import os

os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")

import pytest
import torch

torch.set_flush_denormal(True)
# `make test` runs one pytest-xdist worker per core: each worker computes on its share of the cores
# (two workers each spinning torch's default of every core would oversubscribe them).
_WORKERS = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))
if _WORKERS > 1:
    torch.set_num_threads(max(1, len(os.sched_getaffinity(0)) // _WORKERS))


def pytest_collection_modifyitems(config, items):
    if torch.cuda.is_available():
        return
    skip = pytest.mark.skip(reason="needs a CUDA GPU")
    for item in items:
        if "gpu" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(scope="session")
def prefect_harness(tmp_path_factory):
    """A temporary Prefect API for the session; task results stored under a temp dir."""
    home = tmp_path_factory.mktemp("prefect-home")
    os.environ["PREFECT_HOME"] = str(home)
    os.environ["PREFECT_RESULTS_LOCAL_STORAGE_PATH"] = str(home / "results")
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=90):
        yield


@pytest.fixture
def home(tmp_path, monkeypatch):
    """An empty SYNTHLOOP_HOME."""
    h = tmp_path / "home"
    monkeypatch.setenv("SYNTHLOOP_HOME", str(h))
    return h


TINY_CONFIG = {
    "name": "tiny",
    "rounds": 1,
    "bootstrap": {
        "n_problems": 300,
        "difficulties": [1, 2],
        "model": {"hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 2, "num_attention_heads": 2},
        "train": {"steps": 30, "lr": 0.003, "warmup": 5, "batch_size": 32},
    },
    "generation": {"problems_per_round": 16, "samples_per_problem": 3, "difficulty_weights": {1: 1.0, 2: 1.0}},
    "finetune": {"seed_replay": 20, "train": {"steps": 5, "batch_size": 16, "warmup": 1}},
    "eval": {"n_problems": 12, "difficulties": [1, 2, 3], "n_samples": 2, "k": 2},
    # The MiniLM embedding metrics load a model (6-9 s) per process; tests/filters covers them.
    "diversity": {"embeddings": False},
}


@pytest.fixture
def tiny_config():
    import copy

    from synthloop.loop.config import LoopConfig

    return LoopConfig.model_validate(copy.deepcopy(TINY_CONFIG))
