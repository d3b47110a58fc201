"""Fault trials: kill a small run at random points of every stage, rerun it, compare with a clean run.

One uninterrupted run (the baseline) gives the final catalog and how long each stage took. Each
trial starts the same run (`python -m synthloop run`, its own session) in a fresh home, waits
until the run reaches the trial's stage (seen from the files it writes; stages taken in turn),
then a random part of that stage's baseline duration, and kills it: SIGKILL or SIGTERM, in turn.
A checkpoint write takes milliseconds, too short to hit from outside: its trials set
`SYNTHLOOP_FAULT=checkpoint-write:K:N:SIG` (training/fault_point.py), so the run signals itself
after N bytes of its K-th checkpoint write, K drawn over the bootstrap's and the fine-tune's
writes and N over the checkpoint's size (seen in the baseline); `mid_write` counts the trials
that left a torn `.tmp` behind (exactly N bytes after a SIGKILL, shorter than a checkpoint after
a SIGTERM, which the run's handler acts on between torch's records). Then it checks, before rerunning:
- half_visible: a catalog version whose files are missing, unreadable or not its row count;
- orphans: a process of the killed run's session still alive 15 s after it died (Prefect's
  temporary server, a worker);
and reruns the same command to completion, then checks:
- mismatches: the final catalog differs from the baseline's (dataset versions with their round,
  rows, kept rows and a hash of every row's id, completion and kept flag; rounds with their
  model, version and gate; models with their status; held-out accuracies);
- leftovers: temporary files left in the home (`.staging-*`, `.ckpt-*`, `*.tmp`, `.*.partial`,
  a round's staging folder).

    .venv/bin/python benchmarks/faults.py --trials 20

Last line: `faults: trials=N mismatches=M half_visible=H orphans=O leftovers=L mid_write=W wall_s=S`.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil
import yaml

RUN = "faults"
# Small enough for a trial to take well under a minute on a busy 2-core machine; every stage still
# runs: seed set, checkpointed bootstrap training, evaluation, one round with all its stages, and a
# real fine-tune and gate. That needs kept rows: one-digit sums (`fixed` curriculum, or the frontier
# would move on to two digits once one is mastered) and 600 bootstrap steps (held-out accuracy ~1.0;
# with 24 steps the round kept nothing, and the fine-tune and gate trials had nothing to kill).
CONFIG = {
    "name": RUN,
    "rounds": 1,
    "bootstrap": {
        "n_problems": 200, "difficulties": [1],
        "model": {"hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 2, "num_attention_heads": 2},
        "train": {"steps": 600, "lr": 0.003, "warmup": 4, "batch_size": 16, "checkpoint_every": 100},
    },
    "generation": {"problems_per_round": 16, "samples_per_problem": 2, "difficulty_weights": {1: 1.0},
                   "batch_size": 64},
    "curriculum": {"policy": "fixed"},
    "finetune": {"seed_replay": 10, "train": {"steps": 8, "batch_size": 8, "warmup": 1, "checkpoint_every": 2}},
    "eval": {"n_problems": 4, "difficulties": [1], "n_samples": 2, "k": 2, "max_new_tokens": 48},
    "diversity": {"embeddings": False},
}
STAGES = ("start-up", "bootstrap-train", "checkpoint", "bootstrap-eval", "generate", "filter", "publish",
          "finetune", "gate")
# Checkpoint writes of one run, in order: (model, how many); the fault point counts them in turn.
WRITES = [(f"{RUN}-m0", CONFIG["bootstrap"]["train"]["steps"] // CONFIG["bootstrap"]["train"]["checkpoint_every"]),
          (f"{RUN}-m1", CONFIG["finetune"]["train"]["steps"] // CONFIG["finetune"]["train"]["checkpoint_every"])]
TEMP_MARKERS = (".staging-", ".ckpt-")


def stage_of(home: Path) -> str:
    """The stage a run in `home` is in, read from the files it has written so far."""
    models, data, staged = home / "models", home / "data", home / "staging" / RUN / "round-1"
    if (models / f"{RUN}-m1").exists():
        return "gate"  # fine-tuned: evaluating the candidate, then the gate
    if (models / f".ckpt-{RUN}-m1").exists() or (models / f".staging-{RUN}-m1").exists() or (data / RUN / "v1").exists():
        return "finetune"
    if (staged / "deduped").exists() or (data / RUN).exists():
        return "publish"  # scored and publishing
    if (staged / "verified").exists():
        return "filter"
    if staged.exists():
        return "generate"
    if (models / f"{RUN}-m0").exists():
        return "bootstrap-eval"
    ckpt = models / f".ckpt-{RUN}-m0"
    if ckpt.exists():
        return "checkpoint" if any(ckpt.glob("*.tmp")) or _young(ckpt / "train_state.pt") else "bootstrap-train"
    if (data / f"{RUN}-seed").exists():
        return "bootstrap-train"
    return "start-up"


def _young(p: Path, s: float = 0.05) -> bool:
    try:
        return time.time() - p.stat().st_mtime < s
    except OSError:
        return False


def start(home: Path, cfg_path: Path, env: dict, log) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "synthloop", "run", "--config", str(cfg_path), "--home", str(home)],
                            env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)


def watch(p: subprocess.Popen, home: Path, until: str | None = None, poll: float = 0.01,
          sizes: dict[str, int] | None = None) -> dict[str, float]:
    """Poll the run's stage until it exits (or reaches `until`); when each stage was first seen.
    With `sizes`, also the smallest checkpoint seen of each model (model id -> bytes)."""
    t0, seen = time.monotonic(), {}
    while p.poll() is None:
        s = stage_of(home)
        seen.setdefault(s, time.monotonic() - t0)
        if s == until or (until and STAGES.index(s) > STAGES.index(until)):
            break
        for model, _ in WRITES if sizes is not None else ():
            try:
                n = (home / "models" / f".ckpt-{model}" / "train_state.pt").stat().st_size
                sizes[model] = min(n, sizes.get(model, n))
            except OSError:
                pass
        time.sleep(poll)
    return seen


def checkpoint_fault(rng: random.Random, sizes: dict[str, int], sig: signal.Signals) -> tuple[str, str, int, int]:
    """A random `SYNTHLOOP_FAULT` value for a kill inside a checkpoint write: (value, model, which of
    its writes, after how many bytes)."""
    k = rng.randint(1, sum(n for _, n in WRITES))
    before = 0
    for model, n in WRITES:
        if k <= before + n:
            break
        before += n
    size = sizes.get(model, 4096)  # not seen in the baseline: a size below any checkpoint's
    n_bytes = rng.randint(1, size - 1)
    return f"checkpoint-write:{k}:{n_bytes}:{sig.name[3:]}", model, k - before, n_bytes


def session_alive(sid: int) -> list[psutil.Process]:
    out = []
    for proc in psutil.process_iter(["pid"]):
        try:
            if os.getsid(proc.pid) == sid and proc.status() != psutil.STATUS_ZOMBIE:
                out.append(proc)
        except (ProcessLookupError, PermissionError, psutil.Error):
            continue
    return out


def fingerprint(home: Path) -> dict:
    """What must equal the baseline: versions, rows, kept, a hash of the rows; rounds; models; accuracies."""
    from synthloop.warehouse import Catalog

    cat = Catalog(home)
    versions = {}
    for v in cat.versions():
        t = cat.read_table(f"{v['name']}@{v['version']}", columns=["row_id", "completion", "kept"])
        rows = sorted(zip(*(t[c].to_pylist() for c in ("row_id", "completion", "kept"))), key=lambda r: r[0])
        digest = hashlib.sha256(json.dumps(rows).encode()).hexdigest()[:16]
        versions[f"{v['name']}@{v['version']}"] = (v["round"], v["rows"], v["kept"], digest)
    rounds = {r["round"]: (r["model_out"], r["dataset_version"], r["promoted"],
                           round(r["metrics"].get("eval", {}).get("accuracy", -1), 6)) for r in cat.rounds(RUN)}
    models = {m["model_id"]: (m["status"], m["round"]) for m in cat.query("SELECT model_id, status, round FROM models")}
    return {"versions": versions, "rounds": rounds, "models": models}


def half_visible(home: Path) -> list[str]:
    """Catalog versions a reader would see but cannot read whole."""
    if not (home / "catalog.duckdb").exists():
        return []
    import pyarrow.parquet as pq
    from synthloop.warehouse import Catalog

    bad = []
    for v in Catalog(home).versions():
        try:
            n = pq.read_table(v["path"]).num_rows
        except Exception as e:  # noqa: BLE001 - any failure to read a visible version counts
            bad.append(f"{v['name']}@{v['version']}: {type(e).__name__}")
            continue
        if n != v["rows"]:
            bad.append(f"{v['name']}@{v['version']}: {n} rows, catalog says {v['rows']}")
    return bad


def leftovers(home: Path) -> list[str]:
    out = []
    for root, dirs, files in os.walk(home):
        for name in dirs + files:
            if name.startswith(TEMP_MARKERS) or name.endswith((".tmp", ".partial")):
                out.append(os.path.relpath(os.path.join(root, name), home))
    staged = home / "staging" / RUN
    out += [str(p.relative_to(home)) for p in staged.glob("round-*")] if staged.exists() else []
    return out


def torn(home: Path, model: str) -> int | None:
    """Bytes of the `.tmp` a checkpoint write of `model` left behind, or None."""
    try:
        return (home / "models" / f".ckpt-{model}" / "train_state.tmp").stat().st_size
    except OSError:
        return None


def trial(i: int, rng: random.Random, work: Path, cfg_path: Path, env: dict, durations: dict, base: dict,
          sizes: dict[str, int], stages: tuple[str, ...] = STAGES) -> dict:
    home = work / f"trial-{i:03d}"
    target = stages[i % len(stages)]
    # In turn across stages, and each stage's signal in turn from one pass over them to the next.
    sig = (signal.SIGKILL, signal.SIGTERM)[(i // len(stages) + i % len(stages)) % 2]
    mid_write = tmp_bytes = None
    with open(work / f"trial-{i:03d}.log", "wb") as log:
        if target == "checkpoint":  # the run signals itself inside the write
            fault, model, k, n_bytes = checkpoint_fault(rng, sizes, sig)
            p = start(home, cfg_path, env | {"SYNTHLOOP_FAULT": fault}, log)
            rc = p.wait()
            killed = rc != 0
            at = f"checkpoint-write {model} #{k} after {n_bytes} bytes"
            # SIGKILL: the torn .tmp has exactly N bytes. SIGTERM: the run's handler stops it between
            # torch's records, or after the write; torn if the .tmp is shorter than a checkpoint.
            tmp_bytes = torn(home, model)
            whole = sizes.get(model, 0)
            mid_write = tmp_bytes == n_bytes if sig == signal.SIGKILL else (tmp_bytes or whole) < whole
        else:
            p = start(home, cfg_path, env, log)
            watch(p, home, until=target)
            time.sleep(rng.uniform(0, 0.8 * durations.get(target, 0.0)))
            at = stage_of(home)
            killed = p.poll() is None
            if killed:
                p.send_signal(sig)
            rc = p.wait()
        deadline = time.monotonic() + 15
        while session_alive(p.pid) and time.monotonic() < deadline:
            time.sleep(0.2)
        orphans = session_alive(p.pid)
        for proc in orphans:
            proc.kill()
        visible = half_visible(home)
        again = start(home, cfg_path, env, log)
        rerun_rc = again.wait()
    result = {"trial": i, "target": target, "at": at, "signal": sig.name if killed else "none(finished)", "rc": rc,
              "rerun_rc": rerun_rc, "orphans": [pr.pid for pr in orphans], "half_visible": visible}
    if mid_write is not None:
        result |= {"mid_write": mid_write, "tmp_bytes": tmp_bytes}
    result["leftovers"] = leftovers(home)
    got = fingerprint(home) if rerun_rc == 0 else {}
    result["mismatch"] = [k for k in ("versions", "rounds", "models") if got.get(k) != base[k]]
    return result


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--trials", type=int, default=20)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--stages", default=",".join(STAGES), help="Spread the trials over these stages (comma-separated).")
    ap.add_argument("--work", type=Path, default=None, help="Keep homes and logs here (default: a temp dir).")
    args = ap.parse_args()
    stages = tuple(args.stages.split(","))
    if not set(stages) <= set(STAGES):
        ap.error(f"--stages: each one of {', '.join(STAGES)}")
    t0 = time.monotonic()
    work = args.work or Path(tempfile.mkdtemp(prefix="synthloop-faults-"))
    work.mkdir(parents=True, exist_ok=True)
    cfg_path = work / "config.yaml"
    cfg_path.write_text(yaml.safe_dump(CONFIG))
    env = {k: v for k, v in os.environ.items() if k not in ("PREFECT_API_URL", "SYNTHLOOP_FAULT")}
    env.update(PREFECT_HOME=str(work / "prefect"), PREFECT_SERVER_ANALYTICS_ENABLED="false", PYTHONUNBUFFERED="1")

    base_home = work / "baseline"
    sizes: dict[str, int] = {}
    with open(work / "baseline.log", "wb") as log:
        p = start(base_home, cfg_path, env, log)
        seen = watch(p, base_home, sizes=sizes)
        if p.wait() != 0:
            sys.exit(f"faults: the baseline run failed; see {work / 'baseline.log'}")
    total = time.monotonic() - t0
    order = [s for s in STAGES if s in seen]
    ends = [seen[s] for s in order[1:]] + [total]
    durations = {s: max(0.0, e - seen[s]) for s, e in zip(order, ends)}
    print("baseline stages (s from start):", json.dumps({s: round(seen[s], 1) for s in order}),
          "checkpoint bytes:", json.dumps(sizes), flush=True)
    base = fingerprint(base_home)

    rng = random.Random(args.seed)
    totals = {"mismatches": 0, "half_visible": 0, "orphans": 0, "leftovers": 0, "mid_write": 0}
    for i in range(args.trials):
        r = trial(i, rng, work, cfg_path, env, durations, base, sizes, stages)
        totals["mismatches"] += bool(r["mismatch"])
        totals["half_visible"] += len(r["half_visible"])
        totals["orphans"] += len(r["orphans"])
        totals["leftovers"] += len(r["leftovers"])
        totals["mid_write"] += bool(r.get("mid_write"))
        print(json.dumps(r), flush=True)
    print(f"faults: trials={args.trials} " + " ".join(f"{k}={v}" for k, v in totals.items())
          + f" wall_s={time.monotonic() - t0:.0f}", flush=True)


if __name__ == "__main__":
    main()
