"""Fault trials in the suite (benchmarks/faults.py runs 20+): a run killed by SIGTERM during the
bootstrap's training, then by SIGKILL during generation, then rerun, ends complete and clean: one
version per (dataset, round), no half-visible version, no orphan process, no temporary file left."""

import importlib.util
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


def _kill_at(home, cfg_path, env, log, stage, sig):
    p = faults.start(home, cfg_path, env, log)
    faults.watch(p, home, until=stage)
    if p.poll() is None:
        p.send_signal(sig)
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
    cfg_path.write_text(yaml.safe_dump(faults.CONFIG))
    env = {k: v for k, v in os.environ.items() if k != "PREFECT_API_URL"}
    env.update(PREFECT_HOME=str(tmp_path / "prefect"), PREFECT_SERVER_ANALYTICS_ENABLED="false", PYTHONUNBUFFERED="1")
    home = tmp_path / "home"
    with open(tmp_path / "log", "wb") as log:
        rc, orphans = _kill_at(home, cfg_path, env, log, "bootstrap-train", signal.SIGTERM)
        assert orphans == [] and faults.half_visible(home) == []
        text = (tmp_path / "log").read_text()
        if rc == 143:  # it was still running when the signal came: a clean end with a resume hint
            assert "interrupted (SIGTERM); rerun `synthloop run --name faults`" in text, text[-2000:]
        rc, orphans = _kill_at(home, cfg_path, env, log, "generate", signal.SIGKILL)
        assert orphans == [] and faults.half_visible(home) == []
        assert faults.start(home, cfg_path, env, log).wait(timeout=600) == 0, (tmp_path / "log").read_text()[-3000:]
    got = faults.fingerprint(home)
    assert sorted(got["rounds"]) == [0, 1]
    rounds = [v[0] for v in got["versions"].values()]
    assert sorted(got["versions"]) == ["faults-seed@1", "faults@1"] and sorted(rounds) == [0, 1]
    assert faults.leftovers(home) == []
