"""The round's stages as plain functions: what the Prefect tasks call.

Each function does one stage and can be called (and tested) without Prefect. The round's data
stages (plan → generate → verify → dedup → score → publish) take and return `Shard`s: Parquet
files in the round's staging folder (flows/shards.py), plus typed metrics; nothing is changed in
place, so any of them can run in another process. Resume lives here: a stage whose result is
already in the catalog is not done again.
"""

from __future__ import annotations

import os
import random
import shutil
import subprocess
import threading
from dataclasses import replace
from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import torch
from synthloop.domains import Domain, Problem, get_domain
from synthloop.filters.dedup import DedupMetrics, apply_decisions, with_signatures
from synthloop.filters.dedup_duckdb import dedup_parquet
from synthloop.filters.diversity import (
    RoundMetrics,
    RoundScorer,
    score_line,
    trend_alerts,
    truncation_line,
)
from synthloop.filters.verify import VerifyMetrics, verify_table
from synthloop.generators.allocate import RoundPlan, fixed_plan, plan_round, split_budget
from synthloop.generators.choose import Choice, choose
from synthloop.generators.hf import HFBackend
from synthloop.generators.portfolio import PortfolioEntry, generate_rows, sample_slots
from synthloop.generators.prompts import prompt_format
from synthloop.generators.rationalize import rationalize
from synthloop.training import model as model_lib
from synthloop.training.evaluate import evaluate, heldout_problems, wilson
from synthloop.training.gate import gate
from synthloop.training.sft import train
from synthloop.warehouse import Catalog, to_table
from transformers.utils import logging as hf_logging

from synthloop import __version__

from . import shards, trainset
from .config import LoopConfig
from .curriculum import mix_of, round_curriculum
from .progress import Progress, say
from .shards import Part, Shard
from .status import status_rows  # noqa: F401  (re-exported: round.py, serve.py)

torch.set_flush_denormal(True)  # 3.25x faster small-model training on CPU (measured: same loss)
hf_logging.disable_progress_bar()  # no per-load 'Loading weights' bars between our own


def code_version() -> str:
    try:
        sha = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=Path(__file__).parent,
            capture_output=True, text=True, timeout=5, check=False,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        sha = ""
    return f"{__version__}+{sha}" if sha else __version__


def domains_of(cfg: LoopConfig) -> dict[str, Domain]:
    return {d.name: get_domain(d.name, **d.knobs) for d in cfg.domains}


def sample_problems(cfg: LoopConfig, round: int, mix: dict[str, dict[int, int]] | None = None) -> list[Problem]:
    """This round's problems, seeded by round: `mix` ({domain: {difficulty: problems}}, the
    curriculum's) or else the domain weights and difficulty weights of the config."""
    doms = domains_of(cfg)
    diffs = sorted(cfg.generation.difficulty_weights)
    rng = random.Random(f"{cfg.seed}-{round}")
    out: list[Problem] = []
    counts = split_budget(cfg.generation.problems_per_round, [d.weight for d in cfg.domains])
    for spec, n in zip(cfg.domains, counts):
        per = split_budget(n, [cfg.generation.difficulty_weights[d] for d in diffs])
        for diff, m in (mix[spec.name].items() if mix else zip(diffs, per)):
            if m:
                out += doms[spec.name].make_problems(m, seed=rng.randrange(2**31), difficulties=[diff])
    # Ids must be unique across rounds: prefix with the round.
    return [Problem(f"r{round}.{p.id}", p.domain, p.difficulty, p.prompt, p.answer, p.meta) for p in out]


def heldout(cfg: LoopConfig) -> list[Problem]:
    doms = domains_of(cfg)
    out = []
    for spec, n in zip(cfg.domains, split_budget(cfg.eval.n_problems, [d.weight for d in cfg.domains])):
        sub = replace(cfg.eval, n_problems=n)
        out += heldout_problems(doms[spec.name], sub)
    return out


def evaluate_model(path: Path, cfg: LoopConfig) -> dict:
    """Held-out metrics of the model at `path`, sampled through the round's own backend (vLLM for a
    pretrained model where it is installed): the engine stays loaded for the next round, which
    generates with this model if the gate promotes it. An OpenAI server serves its own model, not
    this candidate, so that backend evaluates through transformers."""
    fmt = prompt_format(path, cfg.generation.prompt_format)  # the rounds' format: chat models are asked as chat
    doms = domains_of(cfg)
    problems = heldout(cfg)
    per_domain = {}
    with _GENERATING:
        backend = backend_for(cfg, path, evaluating=True)
        with _bar(len(problems) * (1 + cfg.eval.n_samples), f"evaluate {Path(path).name}") as bar:
            for name, dom in doms.items():
                ps = [p for p in problems if p.domain == name]
                per_domain[name] = evaluate(backend, dom, ps, cfg.eval, prompt_format=fmt, progress=bar.update)
    if len(per_domain) == 1:
        return next(iter(per_domain.values())) | {"backend": backend.name}
    # Several domains: the headline numbers are weighted by problem count.
    total = sum(m["n_problems"] for m in per_domain.values())
    merged = {
        key: sum(m[key] * m["n_problems"] for m in per_domain.values()) / total
        for key in ("accuracy", "pass_at_k", "maj_at_k", "distinct_correct")
    }
    per_problem = {k: v for m in per_domain.values() for k, v in m["per_problem"].items()}
    return merged | {"k": cfg.eval.k, "n_problems": total, "by_domain": per_domain, "per_problem": per_problem,
                     "accuracy_ci": list(wilson(sum(per_problem.values()), total)), "backend": backend.name}


def _bar(total: int, desc: str) -> Progress:
    return Progress(total, desc)  # a bar in a terminal, a line every 30 s in a log (flows/progress.py)


def _train_into(model_in: Path | None, pairs, train_cfg, out: Path, cfg: LoopConfig, desc: str) -> dict:
    """Train (from `model_in`, or from scratch) and save atomically into `out`."""
    if model_in is None:
        tok = model_lib.build_tokenizer(cfg.bootstrap.model.max_length)
        model = model_lib.build_model(cfg.bootstrap.model, tok, seed=cfg.seed)
    else:
        device = "cuda" if torch.cuda.is_available() else "cpu"
        model, tok = model_lib.load(model_in, device=device)
    ckpt = out.with_name(f".ckpt-{out.name}")  # an interrupted training resumes from here
    with _bar(train_cfg.steps, desc) as bar:
        model, stats = train(
            model, tok, pairs, train_cfg, checkpoint_dir=ckpt,
            progress=lambda s, loss: (bar.update(1), bar.set_postfix(loss=f"{loss:.3f}")),
        )
    shutil.rmtree(ckpt, ignore_errors=True)
    stage = out.with_name(f".staging-{out.name}")
    shutil.rmtree(stage, ignore_errors=True)
    model_lib.save(model, tok, stage, meta={"parent": str(model_in) if model_in else None, "train": stats})
    shutil.rmtree(out, ignore_errors=True)
    stage.rename(out)
    return stats


# -- round 0 ---------------------------------------------------------------------------------
def bootstrap(cat: Catalog, cfg: LoopConfig) -> dict:
    """Round 0: the seed set published as `<name>-seed`, a model trained on it (or the user's)."""
    done = [r for r in cat.rounds(cfg.name) if r["round"] == 0]
    if done:
        return done[0]
    model_id = f"{cfg.name}-m0"
    path = cat.home / "models" / model_id
    info = cat.model(model_id)
    if info is None:
        if cfg.bootstrap.base_model:
            # A folder, a .gguf file or a hub id: converted into the home once where it must be
            # (training/importer.py), so the first fine-tune can save what it trained.
            from synthloop.training.importer import resolve_model

            imported = resolve_model(cfg.bootstrap.base_model, cat.home, tell=say)
            path = imported.path
            stats = {"base_model": str(path), **imported.record()}
        else:
            pairs, rows = seed_set(cfg)
            cat.publish(f"{cfg.name}-seed", rows, round=0, config=cfg.model_dump(mode="json"),
                        config_hash=cfg.config_hash(), code_version=code_version())
            stats = _train_into(None, pairs, cfg.bootstrap.train, path, cfg, "bootstrap")
        metrics = evaluate_model(path, cfg)
        cat.register_model(model_id, path, round=0, parent=None, status="promoted",
                           metrics={"eval": metrics, "train": stats})
        info = cat.model(model_id)
    m = info["metrics"]["eval"]
    say(f"bootstrap: {model_id} from {path}: held-out accuracy {m['accuracy']:.3f}, pass@{m['k']} {m['pass_at_k']:.3f} "
        f"({m.get('prompt_format', 'raw')} prompts)")
    metrics = {"eval": m, "train": info["metrics"]["train"], "generated": None, "correct": None, "kept": None}
    cat.finish_round(cfg.name, 0, dataset_version=None, model_in=None, model_out=model_id,
                     promoted=True, reason="bootstrap", metrics=metrics)
    return cat.rounds(cfg.name)[0]


def seed_set(cfg: LoopConfig) -> tuple[list[tuple[str, str]], list[dict]]:
    """Reference solutions of easy problems: the bootstrap's training data, as pairs and rows."""
    doms = domains_of(cfg)
    pairs, rows = [], []
    counts = split_budget(cfg.bootstrap.n_problems, [d.weight for d in cfg.domains])
    for spec, n in zip(cfg.domains, counts):
        dom = doms[spec.name]
        for i, p in enumerate(dom.make_problems(n, cfg.bootstrap.seed, cfg.bootstrap.difficulties)):
            sol = dom.solution(p, variant=i)
            pairs.append((p.prompt, sol))
            rows.append({
                "row_id": f"seed-{p.id}", "round": 0, "problem_id": p.id, "domain": p.domain,
                "difficulty": p.difficulty, "prompt": p.prompt, "reference": p.answer,
                "completion": sol, "extracted": p.answer, "correct": True, "steps_ok": True,
                "error_kind": "none", "sampler": "reference", "kept": True, "n_tokens": 0,
                "config_hash": cfg.config_hash(),
            })
    return pairs, rows


# -- rounds 1.. ------------------------------------------------------------------------------
def incumbent(cat: Catalog, run: str) -> dict:
    """The last promoted model: the one the next round generates with."""
    rows = [r for r in cat.rounds(run) if r["promoted"]]
    if not rows:
        raise RuntimeError(f"run {run!r} has no promoted model; run the bootstrap first")
    return cat.model(rows[-1]["model_out"])


# -- the round's data, shard by shard (see flows/shards.py) --------------------------------------
def round_course(cat: Catalog, cfg: LoopConfig, round: int) -> dict:
    """The curriculum's decision for round `round` (flows/curriculum.py): from the incumbent's
    held-out pass rates, or from last round's rows alone where no model is promoted yet (a
    catalog driven stage by stage, as benchmarks/scale.py does)."""
    promoted = [r for r in cat.rounds(cfg.name) if r["promoted"]]
    ev = cat.model(promoted[-1]["model_out"])["metrics"].get("eval") if promoted else None
    return round_curriculum(cat, cfg, round, ev)


def round_problems(cat: Catalog, cfg: LoopConfig, round: int) -> list[Problem]:
    """The problems round `round` generates for: drawn at the curriculum's difficulty mix, which
    follows the incumbent's held-out pass rates (flows/curriculum.py)."""
    return sample_problems(cfg, round, mix_of(round_course(cat, cfg, round)))


def plan(cat: Catalog, cfg: LoopConfig, round: int) -> tuple[list[Part], dict]:
    """The round's problems cut into parts of about `execution.shard_size` samples, each with its
    sampler picks (dealt over the whole round, so the cut changes nothing), and the plan's record.
    Starts the round's staging folder afresh."""
    problems = round_problems(cat, cfg, round)
    gplan = generation_plan(cat, cfg, round, problems)
    names = [e.sampler.name for e in gplan.portfolio]
    if names != [s.name for s in cfg.generation.samplers]:  # `generate` takes samplers by index
        raise RuntimeError(f"the plan reordered the samplers: {names}")
    slots = sample_slots(len(problems), gplan.portfolio, cfg.generation.samples_per_problem, gplan.budgets)
    root = shards.round_dir(cat.home, cfg.name, round)
    shards.reset(root)
    ranges = shards.cut([len(s) for s in slots], cfg.execution.shard_size)
    parts = [shards.write_part(shards.shard_path(root, "parts", i), i, problems[lo:hi], slots[lo:hi])
             for i, (lo, hi) in enumerate(ranges)]
    return parts, gplan.record


def generate(cfg: LoopConfig, round: int, model: dict, part: Part) -> Shard:
    """The samples of one part from the incumbent model: raw rows, not yet verified."""
    out = _sibling(part.path, "generated")
    problems, slots = shards.read_part(part)
    portfolio = [PortfolioEntry(s.sampler(), s.share) for s in cfg.generation.samplers]
    with _GENERATING:  # one backend per process, used by one task at a time
        backend = backend_for(cfg, model["path"])
        fmt = prompt_format(model["path"], cfg.generation.prompt_format)
        with _bar(part.samples, f"round {round}: generate part {part.index}") as bar:
            rows = generate_rows(
                backend, problems, portfolio, cfg.generation.samples_per_problem, round=round,
                seed=cfg.seed, model_id=model["model_id"], config_hash=cfg.config_hash(),
                progress=bar.update, slots=slots, prompt_format=fmt,
            )
        hint = cfg.generation.rationalize
        if hint.enabled:  # STaR: the part's problems no sample solved, asked again with the answer as a hint
            rows += rationalize(backend, problems, rows, domains_of(cfg), hint, base=portfolio[0].sampler, round=round,
                                seed=cfg.seed, model_id=model["model_id"], config_hash=cfg.config_hash(),
                                prompt_format=fmt)
    return shards.write_shard(to_table(rows), out)  # rows without `rationalized` get False


def verify(cfg: LoopConfig, part: Part, shard: Shard) -> tuple[Shard, VerifyMetrics]:
    """Verdicts for one shard, and the MinHash signature of every row still kept."""
    problems, _ = shards.read_part(part)
    table, metrics = verify_table(shard.read(), domains_of(cfg), {p.id: p for p in problems}, cfg.verify)
    if cfg.dedup.enabled:
        table = with_signatures(table, cfg.dedup)
    return shards.write_shard(table, _sibling(shard.path, "verified")), metrics


def dedup(cat: Catalog, cfg: LoopConfig, round: int, verified: list[Shard]) -> tuple[list[Shard], DedupMetrics]:
    """Near-dup decisions over every shard of the round, in order, and every earlier round's kept
    rows (DuckDB's band join over the Parquet files, see filters/dedup_duckdb.py); new shards
    carrying them. Memory: the decisions and DuckDB's working set (it spills to the staging folder)."""
    if not cfg.dedup.enabled:
        return verified, DedupMetrics()
    prior = prior_files(cat, cfg.name, before_round=round)
    root = Path(verified[0].path).parent.parent if verified else shards.round_dir(cat.home, cfg.name, round)
    con = duckdb.connect(config={"memory_limit": DEDUP_MEMORY, "temp_directory": str(root / "duckdb-tmp"),
                                 "threads": _cores()})
    try:
        decisions = dedup_parquet([s.path for s in verified], cfg.dedup, prior=prior, con=con)
        (n_prior,) = con.execute("SELECT count(*) FROM sigs WHERE NOT is_new").fetchone()
    finally:
        con.close()
    out, at = [], 0
    for shard in verified:
        table = shard.read()
        live = table.num_rows - table["minhash"].null_count  # rows with a signature: decided in order
        table = apply_decisions(table, decisions.slice(at, live).select(["row_id", "kept", "dup_of", "cluster_id"]))
        out.append(shards.write_shard(table, _sibling(shard.path, "deduped")))
        at += live
    dropped = decisions.num_rows - (pc.sum(decisions["kept"]).as_py() or 0)
    return out, DedupMetrics(compared=decisions.num_rows, prior=n_prior, near_duplicate=dropped)


# DuckDB's memory for the band join: past it, DuckDB spills to disk instead of growing.
DEDUP_MEMORY = "1GB"


def _cores() -> int:
    """The cores this process may run on (DuckDB's default counts every core of the machine)."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


def prior_files(cat: Catalog, name: str, before_round: int) -> list[Path]:
    """The Parquet files of every version of earlier rounds, in version then file order."""
    out = []
    for v in cat.versions(name):
        if v["round"] is not None and v["round"] < before_round:
            out += sorted((cat.home / v["path"]).glob("*.parquet"))  # (an absolute path stays as it is)
    return out


SCORE_COLUMNS = ["problem_id", "sampler", "difficulty", "correct", "kept", "n_tokens", "drop_reason", "completion",
                 "rationalized"]


def score(cat: Catalog, cfg: LoopConfig, round: int, final: list[Shard], allocation: dict | None = None) -> RoundMetrics:
    """The round's metrics (counts, pass rates, diversity, collapse alerts), a shard at a time."""
    scorer = RoundScorer(cfg.diversity)
    for s in final:
        scorer.add(s.read(columns=SCORE_COLUMNS))
    metrics = scorer.finish(previous_metrics(cat, cfg.name, round), kept_texts=lambda idx: _kept_texts(final, idx))
    metrics.collapse_alerts += trend_alerts([*earlier_metrics(cat, cfg.name, round), metrics.to_dict()], cfg.diversity)
    say(score_line(round, metrics))
    if note := truncation_line(round, metrics, [s.max_new_tokens for s in cfg.generation.samplers]):
        say(note)
    # The difficulty mix and its reasons (flows/curriculum.py), as `plan` decided it: the same
    # incumbent and catalog give the same decision.
    return replace(metrics, allocation=allocation, curriculum=round_course(cat, cfg, round))


def publish(cat: Catalog, cfg: LoopConfig, round: int, final: list[Shard], metrics: RoundMetrics, model_id: str) -> int:
    """All shards of the round as one immutable dataset version, in one catalog commit."""
    version = cat.publish(
        cfg.name, [Path(s.path) for s in final], round=round, model_id=model_id,
        config=cfg.model_dump(mode="json"), config_hash=cfg.config_hash(), code_version=code_version(),
        metrics=metrics.to_dict(),
    )
    shutil.rmtree(shards.round_dir(cat.home, cfg.name, round), ignore_errors=True)
    say(f"round {round}: published {cfg.name}@{version}: {metrics.generated} rows, {metrics.kept} kept")
    return version


def data_stages(cat: Catalog, cfg: LoopConfig, round: int, model: dict) -> tuple[list[Shard], RoundMetrics]:
    """plan → generate → verify → dedup → score, called in this process one after the other: the
    round's data without an orchestrator (tests, benchmarks). `flows/round.py` maps the same calls."""
    parts, allocation = plan(cat, cfg, round)
    verified = [verify(cfg, p, generate(cfg, round, model, p))[0] for p in parts]
    release_backend()
    final, _ = dedup(cat, cfg, round, verified)
    return final, score(cat, cfg, round, final, allocation)


def _sibling(path: str, stage: str) -> Path:
    """The file of the same part in another stage's folder of the round."""
    p = Path(path)
    return p.parent.parent / stage / p.name


def _kept_texts(final: list[Shard], idx: list[int]) -> list[str]:
    """Kept completions at these positions of the round (shards in order), in the order asked."""
    want = sorted(set(idx))
    found: dict[int, str] = {}
    at = 0
    for s in final:
        t = s.read(columns=["completion", "kept"])
        kept = t["completion"].filter(pc.fill_null(t["kept"], False))
        lo = np.searchsorted(want, at)
        hi = np.searchsorted(want, at + len(kept))
        if hi > lo:
            local = [w - at for w in want[lo:hi]]
            found.update(zip(want[lo:hi], kept.take(pa.array(local, pa.int64())).to_pylist()))
        at += len(kept)
    return [found[i] for i in idx]


# One backend per process for the round, loaded once: every generate task a worker runs reuses it.
_GENERATING = threading.Lock()
_BACKEND: dict = {}


def backend_for(cfg: LoopConfig, path, evaluating: bool = False):
    """This process's backend for the model at `path`, loaded on first use; another model replaces it.
    `evaluating`: for the held-out evaluation, where an OpenAI server (another model) cannot stand in."""
    choice = backend_choice(cfg, path)
    kind = "transformers" if evaluating and choice.backend == "openai" else choice.backend
    key = (kind, choice.dtype, str(path), cfg.generation.batch_size, cfg.seed)
    if _BACKEND.get("key") != key:
        release_backend()
        say(f"backend for {Path(path).name}: {choice.reason}")
        _BACKEND.update(key=key, backend=make_backend(cfg, path, kind, choice.dtype))
    return _BACKEND["backend"]


def release_backend() -> None:
    """Free this process's backend (vLLM holds GPU memory that fine-tuning needs next)."""
    backend = _BACKEND.pop("backend", None)
    _BACKEND.pop("key", None)
    if hasattr(backend, "close"):
        backend.close()


def backend_choice(cfg: LoopConfig, path) -> Choice:
    """Which backend and dtype the model at `path` gets (generators/choose.py: `auto` picks vLLM
    for a pretrained model where it is installed, bf16 where the hardware has it)."""
    gen = cfg.generation
    device = "cuda" if torch.cuda.is_available() else "cpu"
    dtype = gen.vllm.dtype if gen.backend == "vllm" and gen.vllm.dtype != "auto" else gen.dtype
    choice = choose(gen.backend, dtype, path, device, gen.vllm.python)
    if gen.backend == "auto" and choice.backend == "vllm" and (hot := gen.too_hot_for_vllm()):
        return Choice("transformers", choice.dtype, f"transformers: vLLM takes temperatures up to 2, "
                      f"sampler(s) {', '.join(hot)} go higher")
    return choice


def make_backend(cfg: LoopConfig, path, kind: str, dtype: str):
    """The generation backend `kind` (`backend_choice`'s) in `dtype` over the model folder at `path`."""
    if kind == "vllm":
        from synthloop.generators.vllm import VLLMBackend

        opts = vars(cfg.generation.vllm) | {"dtype": dtype}
        return VLLMBackend.from_path(path, seed=cfg.seed, **opts)
    if kind == "openai":  # the server's model, not `path` (README: Generation backends)
        from synthloop.generators.openai import OpenAIBackend

        return OpenAIBackend.connect(cfg.generation.openai)
    torch_dtype = {"bfloat16": torch.bfloat16, "float32": torch.float32}.get(dtype)
    return HFBackend.from_path(path, batch_size=cfg.generation.batch_size, dtype=torch_dtype)


def generation_plan(cat: Catalog, cfg: LoopConfig, round: int, problems: list[Problem]) -> RoundPlan:
    """Sampler shares and samples per problem for `round`, adapted to the previous round's rows.

    Deterministic from the catalog: the same plan whenever it is asked for.
    """
    gen = cfg.generation
    portfolio = [PortfolioEntry(s.sampler(), s.share) for s in gen.samplers]
    if not gen.adaptive:
        return fixed_plan(problems, portfolio, gen.samples_per_problem, adaptive=False,
                          reason="generation.adaptive is off")
    last = round_version(cat, cfg.name, round - 1)
    rows = None
    if last is not None:
        cols = ["sampler", "correct", "kept", "n_tokens", "domain", "difficulty", "prompt", "rationalized"]
        # Hinted rows (generation.rationalize) are not the model's own pass rate or a sampler's yield.
        rows = [r for r in cat.read_table(f"{cfg.name}@{last['version']}", columns=cols).to_pylist()
                if not r.pop("rationalized")]
    k_min, k_max = gen.sample_range()
    plan = plan_round(problems, portfolio, gen.samples_per_problem, rows,
                      min_share=gen.min_share, k_min=k_min, k_max=k_max)
    if last is not None:
        plan.record["from"] = {"round": round - 1, "version": last["version"]}
    return plan


def prior_signatures(cat: Catalog, name: str, before_round: int):
    """(row_id, signature) of every kept row of earlier rounds, read from the stored `minhash` column."""
    for v in cat.versions(name):
        if v["round"] is not None and v["round"] < before_round:
            t = cat.read_table(f"{name}@{v['version']}", columns=["row_id", "minhash", "kept"], kept_only=True)
            t = t.filter(t["minhash"].is_valid())
            if t.num_rows == 0:
                continue
            col = t["minhash"].combine_chunks()
            # One (N, num_perm) view of the list column instead of a Python list per row.
            sigs = col.flatten().to_numpy().astype(np.uint32, copy=False).reshape(t.num_rows, -1)
            yield from zip(t["row_id"].to_pylist(), sigs)


def earlier_metrics(cat: Catalog, name: str, round: int) -> list[dict]:
    """The data metrics of every round before `round`, oldest first (the trend alert reads them)."""
    return [v["metrics"] for v in cat.versions(name) if v["round"] is not None and 0 < v["round"] < round]


def previous_metrics(cat: Catalog, name: str, round: int) -> dict | None:
    """The data metrics of the last round before `round` (the collapse alert compares against them)."""
    earlier = [v for v in cat.versions(name) if v["round"] is not None and 0 < v["round"] < round]
    return earlier[-1]["metrics"] if earlier else None


def round_version(cat: Catalog, name: str, round: int) -> dict | None:
    found = [v for v in cat.versions(name) if v["round"] == round]
    return found[-1] if found else None


def training_pairs(cat: Catalog, cfg: LoopConfig, round: int) -> list[tuple[str, str]]:
    """The round's training set under the data policy (see `FinetuneSpec`), capped per problem."""
    return trainset.training_pairs(trainset.training_rows(cat, cfg, round, lambda: seed_set(cfg)[1])[0])


def finetune(cat: Catalog, cfg: LoopConfig, round: int, model_in: dict, dataset_version: int) -> dict:
    """Fine-tune the incumbent on the round's training set; evaluate; register as a candidate."""
    model_id = f"{cfg.name}-m{round}"
    existing = cat.model(model_id)
    if existing and "eval" in existing["metrics"]:
        return existing
    path = cat.home / "models" / model_id
    if why := trainset.empty_round_reason(cat, cfg, round, model_in):
        return {"model_id": None, "no_data": why}  # nothing to learn from: `decide` records it
    rows, sources = trainset.training_rows(cat, cfg, round, lambda: seed_set(cfg)[1])
    train_version = trainset.publish_training_set(cat, cfg, round, rows, sources, model_id, code_version())
    tcfg = replace(cfg.finetune.train, seed=cfg.seed + round)
    start = model_in if cfg.finetune.init == "previous" else cat.model(f"{cfg.name}-m0")
    fmt = prompt_format(start["path"], cfg.generation.prompt_format)
    pairs = [(fmt(p), c) for p, c in trainset.training_pairs(rows)]  # prompts as the model is asked them
    stats = _train_into(Path(start["path"]), pairs, tcfg, path, cfg, f"round {round}: finetune")
    metrics = evaluate_model(path, cfg)
    say(f"round {round}: fine-tuned {model_id} on {trainset.train_name(cfg.name)}@{train_version} ({len(pairs)} examples, "
        f"{fmt.name} prompts): held-out accuracy {metrics['accuracy']:.3f}, pass@{metrics['k']} {metrics['pass_at_k']:.3f}")
    cat.register_model(model_id, path, round=round, parent=model_in["model_id"], status="candidate",
                       dataset=trainset.train_name(cfg.name), dataset_version=train_version,
                       metrics={"eval": metrics, "train": stats, "train_examples": len(pairs)})
    return cat.model(model_id)


def decide(cat: Catalog, cfg: LoopConfig, round: int, candidate: dict, model_in: dict,
           dataset_version: int, data_metrics: dict) -> dict:
    """Gate the candidate against the incumbent, record the verdict and the round."""
    if candidate.get("no_data"):
        say(f"round {round}: {candidate['no_data']}")
        return trainset.record_empty_round(cat, cfg, round, model_in, dataset_version, data_metrics, candidate["no_data"])
    ok, why = gate(candidate["metrics"]["eval"], model_in["metrics"]["eval"], cfg.gate)
    say(f"round {round}: gate: {candidate['model_id']} {'promoted' if ok else 'not promoted'}: {why}")
    cat.register_model(candidate["model_id"], Path(candidate["path"]), round=round,
                       parent=model_in["model_id"], status="promoted" if ok else "rejected",
                       dataset=candidate["dataset"], dataset_version=candidate["dataset_version"], reason=why,
                       metrics=candidate["metrics"])
    metrics = {
        "eval": candidate["metrics"]["eval"], "train": candidate["metrics"]["train"],
        "generated": data_metrics["generated"], "correct": data_metrics["correct"],
        "kept": data_metrics["kept"], "data": data_metrics,
    }
    cat.finish_round(cfg.name, round, dataset_version=dataset_version, model_in=model_in["model_id"],
                     model_out=candidate["model_id"], promoted=ok, reason=why, metrics=metrics)
    return next(r for r in cat.rounds(cfg.name) if r["round"] == round)
