"""The experiments of `synthloop experiment`, as plain functions over the loop's own stages.

An experiment compares *arms*: runs in the catalog that start from one shared bootstrap model and
differ in the one variable under test. An arm is a run like those `synthloop run` makes, named
`<name>-<experiment>-<arm>-s<seed>`: its datasets, models and rounds sit in the catalog with their
lineage (its round-0 model is the shared bootstrap), and `synthloop status --name ARM` shows it.

  noise     fine-tune on reference solutions of which a share carries static or dynamic noise
            (Havrilla & Iyer 2024); greedy held-out accuracy per cell
  collapse  rounds of self-training that keep every sample (no verifier, no dedup, no gate)
            against the default loop; accuracy and diversity per round
  passk     pass@1..n as SFT on reference solutions goes on for many epochs, against rounds of
            expert iteration (Havrilla et al. 2024)

Generation, verification, dedup, training, evaluation and the gate are `flows.stages`' functions.
The one stage added here is `reference_round`: a round whose data are reference solutions
(noised or not) instead of the model's samples. `flows/experiment.py` runs these as Prefect flows.
"""

from __future__ import annotations

import copy
import hashlib
import json
import math
import random
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

import pyarrow as pa
import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from synthloop.domains import noise as noise_lib
from synthloop.domains.chain import split_completion
from synthloop.training.evaluate import pass_at_ks
from synthloop.warehouse import Catalog

from synthloop.errors import UserError

from . import shards, stages
from .config import ConfigError, LoopConfig, default_config_text

EXPERIMENTS = ("noise", "collapse", "passk")
ALWAYS_PROMOTE = {"max_accuracy_drop": 1.0, "max_pass_at_k_drop": 1.0}
# Arms that train on reference solutions: every row is trained on exactly once (no verifier, no
# dedup, no seed replay), and each round's model goes on to the next (no gate).
REFERENCE_ARM = {
    "verify": {"keep_all": True}, "dedup": {"enabled": False}, "gate": ALWAYS_PROMOTE,
    "finetune": {"seed_replay": 0, "policy": "accumulate", "init": "previous"},
}
# What `collapse` turns off: keep every sample, right or wrong, duplicates too, every one of them
# trained on (no per-problem cap), and promote every model.
KEEP_ALL = {
    "verify": {"keep_all": True}, "dedup": {"enabled": False}, "gate": ALWAYS_PROMOTE,
    "finetune": {"max_per_problem": 1_000_000},
}


class ExperimentError(UserError):
    """An experiment that cannot run as asked (e.g. its runs exist with another config)."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")



class NoiseSpec(_Strict):
    static_rates: list[float] = [0.3, 0.6, 0.9]  # share of training samples with static noise
    dynamic_rates: list[float] = [0.1, 0.2, 0.4]  # share with dynamic noise
    # Chance that each step of a noised sample is hit (at least one always is): the same
    # intensity for both kinds, so the cells differ only in the kind and the share.
    intensity: float = Field(0.3, gt=0, le=1)
    seeds: int = Field(2, ge=1)
    # Deep-merged into the loop config of every arm (not the shared bootstrap). Only greedy
    # accuracy is read here, so one eval sample per problem is enough, and no embedding scores.
    overrides: dict = {"eval": {"n_samples": 1, "k": 1}, "diversity": {"embeddings": False}}


class CollapseSpec(_Strict):
    rounds: int = Field(5, ge=1)
    seeds: int = Field(1, ge=1)
    overrides: dict = {}


class PasskSpec(_Strict):
    sft_rounds: int = Field(5, ge=1)  # checkpoints of the long-SFT arm (one evaluation each)
    epochs_per_round: float = Field(4, gt=0)  # epochs over the reference set between checkpoints
    ei_rounds: int = Field(3, ge=1)  # rounds of expert iteration (the default loop)
    seeds: int = Field(1, ge=1)
    overrides: dict = {"eval": {"n_samples": 16, "k": 4}}  # pass@1..16 from 16 samples a problem


class ExperimentSpec(_Strict):
    noise: NoiseSpec = NoiseSpec()
    collapse: CollapseSpec = CollapseSpec()
    passk: PasskSpec = PasskSpec()


# -- config ----------------------------------------------------------------------------------
def merge(base: dict, over: dict) -> dict:
    """`over` deep-merged into a copy of `base` (mappings merge, anything else replaces).

    >>> merge({"a": {"b": 1, "c": 2}, "d": 3}, {"a": {"b": 5}})
    {'a': {'b': 5, 'c': 2}, 'd': 3}
    """
    out = copy.deepcopy(base)
    for k, v in over.items():
        out[k] = merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else copy.deepcopy(v)
    return out


def _validate(model, data: dict, where: str):
    try:
        return model.model_validate(data)
    except ValidationError as e:
        problems = "; ".join(f"{'.'.join(str(x) for x in err['loc']) or '(top)'}: {err['msg']}" for err in e.errors())
        raise ConfigError(f"{where}: {problems}") from None


def load_experiment_config(path: str | Path | None = None) -> tuple[LoopConfig, ExperimentSpec]:
    """The loop config and the experiments' knobs (its optional `experiment:` section).

    Without `path`: the demo config with `configs/experiment.yaml` on top (a smaller model and
    fewer steps, so each experiment takes minutes). With it: that loop config as it is.
    """
    if path is None:
        extra = resources.files("synthloop").joinpath("configs/experiment.yaml").read_text()
        data = merge(yaml.safe_load(default_config_text()), yaml.safe_load(extra))
        where = "built-in experiment config"
    else:
        p = Path(path)
        if not p.is_file():
            raise ConfigError(f"config file not found: {p}")
        try:
            data = yaml.safe_load(p.read_text()) or {}
        except yaml.YAMLError as e:
            raise ConfigError(f"{p} is not valid YAML: {e}") from None
        if not isinstance(data, dict):
            raise ConfigError(f"{p} must be a YAML mapping of settings, got {type(data).__name__}")
        where = str(p)
    knobs = data.pop("experiment", None) or {}
    return _validate(LoopConfig, data, where), _validate(ExperimentSpec, knobs, f"{where}: experiment")


def _hash(obj) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True, default=str).encode()).hexdigest()[:8]


def base_config(cfg: LoopConfig) -> LoopConfig:
    """The run of the shared bootstrap, named by what decides its model: several experiments on
    the same loop config share it, and a changed bootstrap gets a run of its own."""
    d = cfg.model_dump(mode="json")
    key = _hash({k: d[k] for k in ("seed", "domains", "bootstrap")})
    return cfg.model_copy(update={"name": f"{cfg.name}-base-{key}", "rounds": 0})


# -- arms ------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Noise:
    kind: str  # "clean", "static" or "dynamic"
    rate: float  # share of the samples noised
    intensity: float  # chance each step of a noised sample is hit


@dataclass(frozen=True)
class Arm:
    experiment: str
    label: str  # the cell, e.g. "static-0.3", "keep-all", "sft"
    seed: int  # added to the config's seed
    cfg: LoopConfig  # the arm's whole loop config; cfg.name is its run
    setting: dict = field(default_factory=dict)  # the variable under test, as this arm sets it
    noise: Noise | None = None

    def key(self) -> dict:
        """What a rerun must match to resume this arm rather than mix two configs in one run."""
        return {"config_hash": self.cfg.config_hash(), "setting": self.setting}


def arm_config(cfg: LoopConfig, experiment: str, label: str, seed: int, *overrides: dict) -> LoopConfig:
    data = cfg.model_dump(mode="json")
    for over in overrides:
        data = merge(data, over)
    data |= {"name": f"{cfg.name}-{experiment}-{label}-s{seed}", "seed": cfg.seed + seed}
    return _validate(LoopConfig, data, f"experiment {experiment}, arm {label}")


def noise_arms(cfg: LoopConfig, spec: NoiseSpec, seeds: int | None = None) -> list[Arm]:
    """The clean control, then each static and each dynamic share, for each seed."""
    cells = [Noise("clean", 0.0, spec.intensity)]
    cells += [Noise("static", r, spec.intensity) for r in spec.static_rates]
    cells += [Noise("dynamic", r, spec.intensity) for r in spec.dynamic_rates]
    arms = []
    for s in range(seeds or spec.seeds):
        for n in cells:
            label = "clean" if n.kind == "clean" else f"{n.kind}-{n.rate:g}"
            c = arm_config(cfg, "noise", label, s, spec.overrides, REFERENCE_ARM, {"rounds": 1})
            arms.append(Arm("noise", label, s, c, {"noise": n.kind, "share": n.rate, "intensity": n.intensity}, n))
    return arms


def collapse_arms(cfg: LoopConfig, spec: CollapseSpec, seeds: int | None = None) -> list[Arm]:
    """The default loop, and the same loop keeping every sample (no verifier, dedup or gate)."""
    arms = []
    for s in range(seeds or spec.seeds):
        rounds = {"rounds": spec.rounds}
        arms.append(Arm("collapse", "loop", s, arm_config(cfg, "collapse", "loop", s, spec.overrides, rounds),
                        {"filter": "verifier, dedup, gate (the default loop)"}))
        arms.append(Arm("collapse", "keep-all", s,
                        arm_config(cfg, "collapse", "keep-all", s, spec.overrides, rounds, KEEP_ALL),
                        {"filter": "none: every sample kept and trained on"}))
    return arms


def passk_arms(cfg: LoopConfig, spec: PasskSpec, seeds: int | None = None) -> list[Arm]:
    """Long SFT on one round's reference solutions, checkpoint by checkpoint; expert iteration."""
    arms = []
    batch = cfg.finetune.train.batch_size
    steps = math.ceil(spec.epochs_per_round * cfg.generation.problems_per_round / batch)
    for s in range(seeds or spec.seeds):
        sft = {"rounds": spec.sft_rounds, "finetune": {"train": {"steps": steps}}}
        arms.append(Arm("passk", "sft", s, arm_config(cfg, "passk", "sft", s, spec.overrides, REFERENCE_ARM, sft),
                        {"training": f"SFT on reference solutions, {spec.epochs_per_round:g} epochs a round"},
                        Noise("clean", 0.0, 0.0)))
        arms.append(Arm("passk", "ei", s, arm_config(cfg, "passk", "ei", s, spec.overrides, {"rounds": spec.ei_rounds}),
                        {"training": "expert iteration (the default loop)"}))
    return arms


ARMS = {"noise": noise_arms, "collapse": collapse_arms, "passk": passk_arms}


def arms_of(name: str, cfg: LoopConfig, spec: ExperimentSpec, seeds: int | None = None) -> list[Arm]:
    if name not in EXPERIMENTS:
        raise ExperimentError(f"unknown experiment {name!r}; choose one of: {', '.join(EXPERIMENTS)}")
    return ARMS[name](cfg, getattr(spec, name), seeds)


# -- the shared bootstrap --------------------------------------------------------------------
def share_bootstrap(cat: Catalog, base: LoopConfig, arm: Arm) -> dict:
    """Round 0 of the arm is the shared bootstrap model, evaluated with the arm's eval config."""
    done = [r for r in cat.rounds(arm.cfg.name) if r["round"] == 0]
    if done:
        if done[0]["metrics"].get("arm") != arm.key():
            raise ExperimentError(
                f"run {arm.cfg.name!r} in {cat.home} was made by another config of this experiment; "
                "use another --home, or another `name:` in the config")
        return done[0]
    m0 = cat.model(f"{base.name}-m0")
    ev = _eval_with(cat, m0, base, arm.cfg)
    metrics = {"eval": ev, "train": m0["metrics"]["train"]}
    model_id = f"{arm.cfg.name}-m0"
    cat.register_model(model_id, Path(m0["path"]), round=0, parent=m0["model_id"], status="promoted",
                       metrics=metrics)
    cat.finish_round(arm.cfg.name, 0, dataset_version=None, model_in=m0["model_id"], model_out=model_id,
                     promoted=True, reason=f"bootstrap shared: {m0['model_id']}",
                     metrics=metrics | {"generated": None, "correct": None, "kept": None, "arm": arm.key()})
    return cat.rounds(arm.cfg.name)[0]


def _eval_with(cat: Catalog, m0: dict, base: LoopConfig, cfg: LoopConfig) -> dict:
    """The bootstrap model's held-out metrics under `cfg`'s eval config, computed once per config."""
    if cfg.eval == base.eval and cfg.domains == base.domains:
        return m0["metrics"]["eval"]
    key = _hash([cfg.model_dump(mode="json")[k] for k in ("eval", "domains")])
    evals = m0["metrics"].get("evals", {})
    if key not in evals:
        evals = evals | {key: stages.evaluate_model(Path(m0["path"]), cfg)}
        cat.register_model(m0["model_id"], Path(m0["path"]), round=0, parent=m0["parent"], status=m0["status"],
                           metrics=m0["metrics"] | {"evals": evals})
    return evals[key]


# -- reference solutions instead of samples --------------------------------------------------
def noised(domain, problem, solution: str, kind: str, intensity: float, rng: random.Random,
           variant: int = 0) -> tuple[str, list[int]]:
    """`solution` with noise of `kind` ("static" or "dynamic") in at least one step, and the hit
    step indexes; unchanged ([] hit) when it has no step to hit."""
    n = len(split_completion(solution)[0])
    if n == 0:
        return solution, []
    if kind == "static":
        text, hit = noise_lib.static_noise(solution, intensity, rng)
        if not hit:
            i = rng.randrange(n)
            text, hit = noise_lib.corrupt_line(solution, i, rng, drop=rng.random() < 0.5), [i]
        return text, hit
    for _ in range(5):
        text, hit = noise_lib.dynamic_noise(domain, problem, intensity, rng, variant=variant)
        if hit:
            return text, hit
    i = rng.randrange(n)
    text = noise_lib.corrupt_step(domain, problem, i, rng, variant=variant)
    return (text, [i]) if text else (solution, [])


def reference_rows(cfg: LoopConfig, round: int, noise: Noise | None, problems: list) -> list[dict]:
    """Reference solutions of `problems` (the round's) in place of samples, a `noise.rate` share
    of them noised. The same rows are picked for noise in every cell of a seed, so a larger share
    noises a superset of what a smaller one did."""
    doms = stages.domains_of(cfg)
    pick = random.Random(f"noise-pick-{cfg.seed}-{round}")
    rng = random.Random(f"noise-{cfg.seed}-{round}-{noise}")
    rows = []
    for i, p in enumerate(problems):
        dom = doms[p.domain]
        text, hit = dom.solution(p, variant=i), []
        if pick.random() < (noise.rate if noise else 0.0):
            text, hit = noised(dom, p, text, noise.kind, noise.intensity, rng, variant=i)
        rows.append({
            "row_id": f"ref-{p.id}", "round": round, "problem_id": p.id, "domain": p.domain,
            "difficulty": p.difficulty, "prompt": p.prompt, "reference": p.answer, "completion": text,
            "sampler": f"reference+{noise.kind}" if hit else "reference", "seed": cfg.seed,
            "n_tokens": 0, "config_hash": cfg.config_hash(),
        })
    return rows


def reference_round(cat: Catalog, cfg: LoopConfig, round: int, noise: Noise | None = None,
                    data_round: int = 1) -> dict:
    """A round that fine-tunes on reference solutions (round `data_round`'s problems, published
    once) instead of samples: verify (verdicts recorded; `verify.keep_all` keeps every row) →
    dedup → score → publish → fine-tune → evaluate → gate, the loop's own stages. Resumes from
    the catalog."""
    done = [r for r in cat.rounds(cfg.name) if r["round"] == round]
    if done:
        return done[0]
    model = stages.incumbent(cat, cfg.name)
    existing = stages.round_version(cat, cfg.name, data_round)
    if existing is None:
        problems = stages.sample_problems(cfg, data_round)
        root = shards.round_dir(cat.home, cfg.name, data_round)
        shards.reset(root)
        part = shards.write_part(shards.shard_path(root, "parts", 0), 0, problems, [[0]] * len(problems))
        raw = shards.write_shard(pa.Table.from_pylist(reference_rows(cfg, data_round, noise, problems)),
                                 shards.shard_path(root, "generated", 0))
        verified, _ = stages.verify(cfg, part, raw)
        final, _ = stages.dedup(cat, cfg, data_round, [verified])
        metrics = stages.score(cat, cfg, data_round, final)
        version = stages.publish(cat, cfg, data_round, final, metrics, model_id=None)
        metrics = metrics.to_dict()
    else:
        version = existing["version"]
        metrics = cat.resolve(f"{cfg.name}@{version}")["metrics"]
    candidate = stages.finetune(cat, cfg, round, model, version)
    return stages.decide(cat, cfg, round, candidate, model, version, metrics)


# -- tables ----------------------------------------------------------------------------------
def held(cat: Catalog, run: str) -> list[tuple[dict, dict]]:
    """Per finished round: (the held-out metrics of the model the run holds after it, the round)."""
    out, current = [], None
    for r in cat.rounds(run):
        if r["promoted"] or current is None:
            current = r["metrics"]["eval"]
        out.append((current, r))
    return out


def _spread(rows: list[dict], keys: list[str]) -> dict:
    """Mean over seeds of each key, with `<key>_min` / `<key>_max` (None when no seed has it)."""
    out = {"seeds": len(rows)}
    for k in keys:
        vals = [r[k] for r in rows if isinstance(r.get(k), (int, float))]
        out[k] = sum(vals) / len(vals) if vals else None
        out[f"{k}_min"] = min(vals) if vals else None
        out[f"{k}_max"] = max(vals) if vals else None
    return out


def _group(arms: list[Arm]) -> dict[str, list[Arm]]:
    groups: dict[str, list[Arm]] = {}
    for a in arms:
        groups.setdefault(a.label, []).append(a)
    return groups


def noise_table(cat: Catalog, arms: list[Arm]) -> list[dict]:
    """One row per cell: held-out accuracy after fine-tuning (mean, min, max over seeds), and what
    the cell's training set held (share noised, share with a wrong final answer)."""
    out = []
    first = arms[0]
    boot = [cat.rounds(a.cfg.name)[0]["metrics"]["eval"]["accuracy"] for a in arms if a.label == first.label]
    out.append({"cell": "bootstrap (before fine-tuning)", "noise": "-", "share": None, "noised_rows": None,
                "wrong_answer_rows": None} | _spread([{"accuracy": b} for b in boot], ["accuracy"]))
    for label, group in _group(arms).items():
        per_seed = []
        for a in group:
            r = next(r for r in cat.rounds(a.cfg.name) if r["round"] == 1)
            t = cat.read_table(f"{a.cfg.name}@{r['dataset_version']}", columns=["sampler", "correct"])
            n = max(1, t.num_rows)
            per_seed.append({"accuracy": r["metrics"]["eval"]["accuracy"],
                             "noised_rows": sum(s != "reference" for s in t["sampler"].to_pylist()) / n,
                             "wrong_answer_rows": sum(not c for c in t["correct"].to_pylist()) / n})
        agg = _spread(per_seed, ["accuracy", "noised_rows", "wrong_answer_rows"])
        out.append({"cell": label, "noise": group[0].noise.kind, "share": group[0].noise.rate,
                    "noised_rows": agg.pop("noised_rows"), "wrong_answer_rows": agg.pop("wrong_answer_rows")}
                   | {k: v for k, v in agg.items() if not k.startswith(("noised_rows", "wrong_answer_rows"))})
    return out


COLLAPSE_KEYS = ["accuracy", "pass_at_k", "heldout_distinct_correct", "correct_share", "distinct_correct",
                 "distinct_2", "vendi"]


def collapse_table(cat: Catalog, arms: list[Arm]) -> list[dict]:
    """One row per arm and round: the held model's held-out accuracy, pass@k and distinct correct
    samples; the round's kept data: share verified correct, distinct correct solutions per
    problem, distinct-2 and Vendi."""
    out = []
    for label, group in _group(arms).items():
        runs = [(a, held(cat, a.cfg.name)) for a in group]
        for i in range(max(len(r) for _, r in runs)):
            per_seed = []
            for a, run in runs:
                if i >= len(run):
                    continue
                ev, r = run[i]
                data = r["metrics"].get("data") or {}
                per_seed.append({
                    "accuracy": ev["accuracy"], "pass_at_k": ev["pass_at_k"],
                    "heldout_distinct_correct": ev.get("distinct_correct"),
                    "correct_share": _kept_correct_share(cat, a.cfg.name, r["dataset_version"]),
                    "distinct_correct": data.get("distinct_correct_per_problem"),
                    "distinct_2": data.get("distinct_2"), "vendi": data.get("vendi"),
                    "promoted": r["promoted"],
                })
            row = {"arm": label, "round": i, "promoted": sum(p["promoted"] for p in per_seed)}
            out.append(row | _spread(per_seed, COLLAPSE_KEYS))
    return out


def _kept_correct_share(cat: Catalog, run: str, version: int | None) -> float | None:
    """Share of a round's kept rows (what the model trains on) whose final answer is right."""
    if version is None:
        return None
    t = cat.read_table(f"{run}@{version}", columns=["correct", "kept"], kept_only=True)
    return sum(t["correct"].to_pylist()) / t.num_rows if t.num_rows else None


def passk_table(cat: Catalog, arms: list[Arm]) -> list[dict]:
    """One row per arm and checkpoint: greedy accuracy and pass@k for k = 1, 2, 4, ... n_samples."""
    out = []
    ks = pass_at_ks(arms[0].cfg.eval.n_samples)
    keys = ["accuracy"] + [f"pass@{k}" for k in ks]
    for label, group in _group(arms).items():
        runs = [held(cat, a.cfg.name) for a in group]
        for i in range(max(len(r) for r in runs)):
            per_seed = [{"accuracy": run[i][0]["accuracy"]} | {f"pass@{k}": run[i][0].get("pass_at", {}).get(str(k))
                                                               for k in ks} for run in runs if i < len(run)]
            epochs = i * (group[0].cfg.finetune.train.steps * group[0].cfg.finetune.train.batch_size
                          / group[0].cfg.generation.problems_per_round)
            step = f"{epochs:.0f} epochs" if label == "sft" else f"round {i}"
            out.append({"arm": label, "checkpoint": i, "training": step} | _spread(per_seed, keys))
    return out


TABLES = {"noise": noise_table, "collapse": collapse_table, "passk": passk_table}


def result(cat: Catalog, name: str, cfg: LoopConfig, spec: ExperimentSpec, base: LoopConfig, arms: list[Arm],
           code_version: str | None = None) -> dict:
    """Everything the table, the JSON and the page show, read back from the catalog.
    `code_version`: the code the arms ran (taken when the experiment started)."""
    return {
        "experiment": name, "rows": TABLES[name](cat, arms),
        "arms": [{"run": a.cfg.name, "label": a.label, "seed": a.seed, "setting": a.setting,
                  "model": held(cat, a.cfg.name)[-1][1]["model_out"]} for a in arms],
        "base_model": f"{base.name}-m0", "seeds": len({a.seed for a in arms}),
        "code_version": code_version or stages.code_version(), "config": cfg.model_dump(mode="json"),
        "spec": getattr(spec, name).model_dump(mode="json"),
    }
