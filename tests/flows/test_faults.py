"""Fault trials in the suite (benchmarks/faults.py runs 20+): a run killed by SIGKILL inside a
checkpoint write of the bootstrap's training (the fault point, training/fault_point.py), then by
SIGTERM during generation, then rerun, ends complete and clean: training resumed from the last
whole checkpoint, one version per (dataset, round), no half-visible version, no orphan process, no
temporary file (the torn `.tmp` included) left.

Each start of `synthloop run` costs ~14 s of CPU before any work (imports, Prefect's temporary
server), so the test keeps to the three starts two kills need, and to a config smaller than the
benchmark's (24 bootstrap steps: the round keeps nothing, so no fine-tune runs here; the benchmark
and tests/training/test_resume.py cover the fine-tune's writes and the equal weights)."""

import copy
import importlib.util
import json
import os
import signal
import sys
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
spec = importlib.util.spec_from_file_location("faults", ROOT / "benchmarks" / "faults.py")
faults = importlib.util.module_from_spec(spec)
sys.modules["faults"] = faults
spec.loader.exec_module(faults)

CONFIG = copy.deepcopy(faults.CONFIG)
CONFIG["bootstrap"].update(n_problems=100)
CONFIG["bootstrap"]["train"].update(steps=24, checkpoint_every=4)  # 6 writes; the 2nd is torn
CONFIG["generation"].update(problems_per_round=8)
TORN_AT = 50_000  # bytes of the 2nd write (a whole checkpoint of this model is ~310 kB)


def _end(p):
    """Wait for the killed run and its session; the session's processes still alive 15 s later."""
    rc = p.wait(timeout=300)
    deadline = time.monotonic() + 15
    while faults.session_alive(p.pid) and time.monotonic() < deadline:
        time.sleep(0.2)
    orphans = faults.session_alive(p.pid)
    for proc in orphans:
        proc.kill()
    return rc, orphans


def test_killed_twice_then_rerun_ends_complete_and_clean(tmp_path):
    cfg_path = tmp_path / "config.yaml"
    cfg_path.write_text(yaml.safe_dump(CONFIG))
    env = {k: v for k, v in os.environ.items() if k not in ("PREFECT_API_URL", "SYNTHLOOP_FAULT")}
    env.update(PREFECT_HOME=str(tmp_path / "prefect"), PREFECT_SERVER_ANALYTICS_ENABLED="false", PYTHONUNBUFFERED="1")
    home, log_path = tmp_path / "home", tmp_path / "log"
    ckpt = home / "models" / "faults-m0"
    ckpt = ckpt.with_name(f".ckpt-{ckpt.name}")
    with open(log_path, "wb") as log:
        # 1. SIGKILL inside the bootstrap's 2nd checkpoint write: the torn .tmp beside the 1st.
        p = faults.start(home, cfg_path, env | {"SYNTHLOOP_FAULT": f"checkpoint-write:2:{TORN_AT}"}, log)
        rc, orphans = _end(p)
        assert rc == -signal.SIGKILL, log_path.read_text()[-3000:]
        assert orphans == [] and faults.half_visible(home) == []
        assert (ckpt / "train_state.tmp").stat().st_size == TORN_AT < (ckpt / "train_state.pt").stat().st_size

        # 2. SIGTERM during generation: a clean end with a resume hint.
        p = faults.start(home, cfg_path, env, log)
        faults.watch(p, home, until="generate")
        if p.poll() is None:
            p.send_signal(signal.SIGTERM)
        rc, orphans = _end(p)
        assert orphans == [] and faults.half_visible(home) == []
        if rc == 143:  # it was still running when the signal came
            assert "interrupted (SIGTERM); rerun `synthloop run --name faults`" in log_path.read_text()
        meta = json.loads((home / "models" / "faults-m0" / "synthloop.json").read_text())
        assert meta["train"]["resumed_at"] == 4  # from the whole checkpoint; the torn one was never read

        # 3. The rerun finishes.
        assert faults.start(home, cfg_path, env, log).wait(timeout=600) == 0, log_path.read_text()[-3000:]
    got = faults.fingerprint(home)
    assert sorted(got["rounds"]) == [0, 1]
    rounds = [v[0] for v in got["versions"].values()]
    assert sorted(got["versions"]) == ["faults-seed@1", "faults@1"] and sorted(rounds) == [0, 1]
    assert faults.leftovers(home) == []
