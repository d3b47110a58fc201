"""The experiments of `synthloop experiment`: arms that differ in the one variable under test.

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

Every arm runs the loop's own round (loop/steps.py); an arm on reference solutions runs it with
the reference source (loop/reference.py). Its tables: loop/experiment_tables.py. The Prefect
flows: flows/experiment.py.
"""

from __future__ import annotations

import copy
import hashlib
import json
import math
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from synthloop.warehouse import Catalog

from synthloop.errors import UserError

from .config import ConfigError, LoopConfig, default_config_text
from .evaluate import evaluate_model
from .records import GateDecision, ModelRef, RoundRecord, model_ref, record_round, recorded_round
from .reference import Noise

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


def validate(model, data: dict, where: str):
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
    return validate(LoopConfig, data, where), validate(ExperimentSpec, knobs, f"{where}: experiment")


def digest(obj) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True, default=str).encode()).hexdigest()[:8]


def base_config(cfg: LoopConfig) -> LoopConfig:
    """The run of the shared bootstrap, named by what decides its model: several experiments on
    the same loop config share it, and a changed bootstrap gets a run of its own."""
    d = cfg.model_dump(mode="json")
    key = digest({k: d[k] for k in ("seed", "domains", "bootstrap")})
    return cfg.model_copy(update={"name": f"{cfg.name}-base-{key}", "rounds": 0})


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
    return validate(LoopConfig, data, f"experiment {experiment}, arm {label}")


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
def share_bootstrap(cat: Catalog, base: LoopConfig, arm: Arm) -> RoundRecord:
    """Round 0 of the arm is the shared bootstrap model, evaluated with the arm's eval config."""
    if done := recorded_round(cat, arm.cfg.name, 0):
        if done.metrics.get("arm") != arm.key():
            raise ExperimentError(
                f"run {arm.cfg.name!r} in {cat.home} was made by another config of this experiment; "
                "use another --home, or another `name:` in the config")
        return done
    m0 = model_ref(cat, f"{base.name}-m0")
    ev = eval_with(cat, m0, base, arm.cfg)
    model_id = f"{arm.cfg.name}-m0"
    cat.register_model(model_id, Path(m0.path), round=0, parent=m0.model_id, status="promoted",
                       metrics={"eval": ev, "train": m0.train})
    return record_round(cat, arm.cfg.name, 0, model_in=m0.model_id, model_out=model_id,
                        decision=GateDecision(True, f"bootstrap shared: {m0.model_id}"), eval=ev, train=m0.train,
                        extra={"arm": arm.key()})


def eval_with(cat: Catalog, m0: ModelRef, base: LoopConfig, cfg: LoopConfig) -> dict:
    """The bootstrap model's held-out metrics under `cfg`'s eval config, computed once per config."""
    if cfg.eval == base.eval and cfg.domains == base.domains:
        return m0.metrics["eval"]
    key = digest([cfg.model_dump(mode="json")[k] for k in ("eval", "domains")])
    evals = m0.metrics.get("evals", {})
    if key not in evals:
        evals = evals | {key: evaluate_model(Path(m0.path), cfg).to_dict()}
        cat.register_model(m0.model_id, Path(m0.path), round=0, parent=m0.parent, status=m0.status,
                           metrics=m0.metrics | {"evals": evals})
    return evals[key]
