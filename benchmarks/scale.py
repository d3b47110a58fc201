"""How the round scales: CPU stages per sample from 1e4 to 1e6, generation workers, runner overhead.

    python benchmarks/scale.py                        # 1e4 and 1e5 samples, workers, overhead
    python benchmarks/scale.py --sizes 1e4,1e5,1e6    # the 1e6 size too (minutes)
    python benchmarks/scale.py --skip-generation      # CPU stages only

CPU stages: synthetic addition completions (8 per problem: the reference solution, or one with a
wrong digit, a wrong step or a cut-off end; exact copies are common, as with a real model on this
domain) written as a round's generated shards, then the project's own stage functions on them,
one after the other in one process pinned to one core: verify (+ MinHash signatures) per shard,
dedup (DuckDB band join over every shard's signatures), score (counts, pass rates, distinct-n,
compression; no embedding model), publish (one catalog commit). Each size runs in a fresh
process, so its peak RSS is its own. Targets (issue 11): >= 20k samples/s end to end, per-sample
cost within 1.3x from 1e4 to 1e6, peak RSS at 1e6 <= 2 GB.

Generation: the transformers backend on a small model (built here, never downloaded), the same
prompts sampled by 1 worker and by 2 Ray workers (each a process with one thread): the ratio.
Overhead: a demo-sized round's data stages through Prefect (runner local) against the same stage
functions called directly. The last line is the summary.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

for _v in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "NUMBA_NUM_THREADS", "RAYON_NUM_THREADS"):
    os.environ.setdefault(_v, "1")
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

K = 8  # samples per problem


def synthetic_round(home: Path, n: int, shard_size: int, seed: int = 0):
    """A round's parts and generated shards: n addition samples, K per problem."""
    import pyarrow as pa
    from synthloop.domains import Addition
    from synthloop.loop import shards

    dom = Addition()
    rng = random.Random(seed)
    root = shards.round_dir(home, "bench", 1)
    shards.reset(root)
    per_part = max(1, shard_size // K)
    n_problems = n // K
    parts, generated = [], []
    for i, lo in enumerate(range(0, n_problems, per_part)):
        ps = dom.make_problems(min(per_part, n_problems - lo), seed=seed * 100003 + i, difficulties=[2, 3, 4, 5])
        ps = [type(p)(f"r1.{i}.{p.id}", p.domain, p.difficulty, p.prompt, p.answer, p.meta) for p in ps]
        parts.append(shards.write_part(shards.shard_path(root, "parts", i), i, ps, [[0] * K for _ in ps]))
        rows = []
        for p in ps:
            good = dom.solution(p)
            for j in range(K):
                c, u = good, rng.random()
                if u < 0.3:  # a wrong digit somewhere: a wrong step, or a wrong answer
                    at = rng.randrange(len(c))
                    if c[at].isdigit():
                        c = c[:at] + str((int(c[at]) + 1 + rng.randrange(8)) % 10) + c[at + 1:]
                elif u < 0.4:
                    c = c[: rng.randrange(1, len(c))]  # cut off
                rows.append({"row_id": f"r1-{p.id}-{j}", "round": 1, "problem_id": p.id, "domain": p.domain,
                             "difficulty": p.difficulty, "prompt": p.prompt, "reference": p.answer,
                             "completion": c, "sampler": ("cool", "warm", "hot")[j % 3], "seed": j,
                             "model_id": "bench-m0", "n_tokens": len(c) + 1, "mean_logprob": -0.1,
                             "finish_reason": "stop", "config_hash": "bench"})
        generated.append(shards.write_shard(pa.Table.from_pylist(rows), shards.shard_path(root, "generated", i)))
    return parts, generated


def stages_child(n: int, shard_size: int) -> dict:
    """One size, in this (fresh) process: the CPU stages timed one by one."""
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})
    from synthloop.loop.config import LoopConfig
    from synthloop.loop.filter import dedup, verify
    from synthloop.loop.plan import RoundPlan, round_course
    from synthloop.loop.publish import publish
    from synthloop.loop.score import score
    from synthloop.warehouse import Catalog

    cfg = LoopConfig.model_validate({"name": "bench", "diversity": {"embeddings": False},
                                     "execution": {"shard_size": shard_size}})
    with tempfile.TemporaryDirectory(dir=os.environ.get("SCALE_TMP")) as tmp:
        home = Path(tmp)
        cat = Catalog(home)
        parts, generated = synthetic_round(home, n, shard_size)
        rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        t = {}
        t0 = time.perf_counter()
        verified = [verify(cfg, p, s)[0] for p, s in zip(parts, generated)]
        t["verify"] = time.perf_counter() - t0
        t0 = time.perf_counter()
        final, found = dedup(cat, cfg, 1, verified)
        t["dedup"] = time.perf_counter() - t0
        planned = RoundPlan(1, parts, None, round_course(cat, cfg, 1))  # what `plan` records (not timed)
        t0 = time.perf_counter()
        metrics = score(cat, cfg, 1, final, planned)
        t["score"] = time.perf_counter() - t0
        t0 = time.perf_counter()
        version = publish(cat, cfg, 1, final, metrics, "bench-m0").version
        t["publish"] = time.perf_counter() - t0
        info = cat.resolve(f"bench@{version}")
    total = sum(t.values())
    return {"n": n, "seconds": t, "total_s": total, "samples_per_s": n / total, "kept": metrics.kept,
            "near_duplicate": found.near_duplicate, "rows": info["rows"],
            "rss_before_mb": rss_before, "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}


def run_size(n: int, shard_size: int) -> dict:
    out = subprocess.run([sys.executable, __file__, "--child-stages", str(n), "--shard-size", str(shard_size)],
                         capture_output=True, text=True, check=False)
    if out.returncode != 0:
        raise SystemExit(f"size {n} failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def demo_like(home: Path, problems: int, runner: str, workers: int = 1):
    """The demo config's round shape (problems x 2 samples, its model shape), on a model built here
    with random weights (speed, not quality): the catalog holds it as the promoted round-0 model."""
    from synthloop.loop.config import load_config
    from synthloop.loop.records import incumbent
    from synthloop.training import model as model_lib
    from synthloop.warehouse import Catalog

    cfg = load_config(None).model_copy(deep=True)
    cfg = type(cfg).model_validate(cfg.model_dump() | {
        "generation": cfg.generation.model_dump() | {"problems_per_round": problems, "adaptive": False},
        "diversity": {"embeddings": False},
        # 8 parts: enough for 2 workers to share evenly
        "execution": {"runner": runner, "workers": workers, "shard_size": max(16, problems * 2 // 8)}})
    cat = Catalog(home)
    path = home / "models" / "demo-m0"
    if not path.exists():
        tok = model_lib.build_tokenizer(cfg.bootstrap.model.max_length)
        model_lib.save(model_lib.build_model(cfg.bootstrap.model, tok, seed=0), tok, path)
        cat.register_model("demo-m0", path, round=0, parent=None, status="promoted", metrics={"eval": {}})
        cat.finish_round("demo", 0, dataset_version=None, model_in=None, model_out="demo-m0", promoted=True,
                         reason="bench", metrics={})
    return cfg, cat, incumbent(cat, "demo")


def generation_and_overhead(problems: int) -> dict:
    """Generation 1 vs 2 Ray workers on the same parts; the local runner against direct calls."""
    from prefect import flow, unmapped
    from prefect.testing.utilities import prefect_test_harness
    from synthloop.flows import round as round_mod
    from synthloop.flows.execution import resources, task_runner
    from synthloop.loop.generate import generate
    from synthloop.loop.plan import plan
    from synthloop.loop.steps import scored_steps

    @flow
    def generate_only(cfg, model, parts) -> float:
        t0 = time.perf_counter()
        with resources(cfg.execution, "generate"):
            [f.result() for f in round_mod.TASKS[generate].map(unmapped(cfg), unmapped(1), unmapped(model), parts)]
        return time.perf_counter() - t0

    out = {}
    with tempfile.TemporaryDirectory(dir=os.environ.get("SCALE_TMP")) as tmp, prefect_test_harness(server_startup_timeout=120):
        home = Path(tmp)
        walls = {}
        for w in (1, 2):
            cfg, cat, model = demo_like(home, problems, "ray", w)
            parts = plan(cat, cfg, 1).parts
            walls[w] = generate_only.with_options(task_runner=task_runner(cfg.execution))(cfg, model, parts)
            print(f"generation, {w} Ray worker(s): {sum(p.samples for p in parts)} samples in {walls[w]:.1f} s "
                  f"({len(parts)} parts)", flush=True)
        out["workers2_over_1"] = f"{walls[1] / walls[2]:.2f}"
        # Overhead: the round's data stages through Prefect (local runner) vs the same calls direct.
        warm, cat, model = demo_like(home, 16, "local")
        scored_steps(cat, warm, 1, model)  # imports, numba's cache and the model load, once
        cfg, cat, model = demo_like(home, problems, "local")
        t0 = time.perf_counter()
        scored_steps(cat, cfg, 1, model)
        direct = time.perf_counter() - t0
        t0 = time.perf_counter()
        round_mod.data_flow.with_options(task_runner=task_runner(cfg.execution))(str(home), cfg, 1, model)
        through = time.perf_counter() - t0
        print(f"data stages of a {problems}x2 round: direct {direct:.1f} s, through Prefect (runner local) "
              f"{through:.1f} s (the direct run leaves its shards unpublished)", flush=True)
        out["overhead"] = f"{(through - direct) / direct:+.1%}"
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", default="1e4,1e5", help="comma-separated sample counts (e.g. 1e4,1e5,1e6)")
    ap.add_argument("--shard-size", type=int, default=4096)
    ap.add_argument("--skip-generation", action="store_true")
    ap.add_argument("--gen-problems", type=int, default=3200,
                    help="problems of the generation and overhead rounds (x2 samples; the demo's 3200)")
    ap.add_argument("--child-stages", type=float, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child_stages:
        print(json.dumps(stages_child(int(args.child_stages), args.shard_size)))
        return
    start = time.perf_counter()
    print(f"# load: {os.getloadavg()[0]:.2f} {os.getloadavg()[1]:.2f} {os.getloadavg()[2]:.2f} (1/5/15 min), "
          f"{os.cpu_count()} cores", flush=True)
    results = {}
    for s in filter(None, args.sizes.split(",")):
        n = int(float(s))
        r = results[n] = run_size(n, args.shard_size)
        sec = " ".join(f"{k}={v:.1f}s" for k, v in r["seconds"].items())
        print(f"stages n={n}: {r['samples_per_s']:.0f} samples/s ({r['total_s']:.1f} s: {sec}); "
              f"peak RSS {r['peak_rss_mb']:.0f} MB; kept {r['kept']}, near-dups {r['near_duplicate']}", flush=True)
    sizes = sorted(results)
    ratio = float("nan")
    if sizes:
        small, big = results[sizes[0]], results[sizes[-1]]
        ratio = (big["total_s"] / big["n"]) / (small["total_s"] / small["n"])
    summary = {"stages_1e4": f"{results[10**4]['samples_per_s']:.0f}" if 10**4 in results else "na",
               "stages_1e6": f"{results[10**6]['samples_per_s']:.0f}" if 10**6 in results else "na",
               "cost_ratio": f"{ratio:.2f}",
               "rss_1e6_mb": f"{results[10**6]['peak_rss_mb']:.0f}" if 10**6 in results else "na",
               "workers2_over_1": "na", "overhead": "na"}
    if not args.skip_generation:
        summary |= generation_and_overhead(args.gen_problems)
    summary["wall_s"] = f"{time.perf_counter() - start:.0f}"
    print(f"# load after: {os.getloadavg()[0]:.2f}", flush=True)
    print("scale: " + " ".join(f"{k}={v}" for k, v in summary.items()))


if __name__ == "__main__":
    main()
