"""The loop's whole config: it composes each stage's own config (loop/specs.py and the stages'
dataclasses).

Values come from a YAML file (the built-in default is `synthloop/configs/demo.yaml`); CLI flags
override. Unknown keys and wrong types are rejected with the path of the bad key.
"""

from __future__ import annotations

import hashlib
import json
import math
from importlib import resources
from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator
from synthloop.filters.audit import AuditConfig
from synthloop.filters.decontam import DecontamConfig
from synthloop.filters.dedup import DedupConfig
from synthloop.filters.diversity import DiversityConfig
from synthloop.filters.verify import VerifyConfig
from synthloop.generators.curriculum import CurriculumConfig
from synthloop.training.evaluate import EvalConfig
from synthloop.training.gate import GateConfig

from .specs import (
    BootstrapSpec,
    ConfigError,
    DomainSpec,
    ExecutionSpec,
    FinetuneSpec,
    GenerationSpec,
)


class LoopConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")  # a typo in a key is an error, not a silent default

    name: str = "demo"  # the dataset the loop publishes; also names the run
    seed: int = 0
    rounds: int = Field(3, ge=0)
    domains: list[DomainSpec] = [DomainSpec()]

    @field_validator("domains")
    @classmethod
    def _one_each(cls, v: list[DomainSpec]) -> list[DomainSpec]:
        names = [d.name for d in v]
        if not v or len(set(names)) != len(names):
            raise ValueError("list each domain once (a mix is several different names with weights)")
        return v
    bootstrap: BootstrapSpec = BootstrapSpec()
    generation: GenerationSpec = GenerationSpec()
    # Which difficulties each round draws (generators/curriculum.py): `frontier` follows the
    # pass rates, `fixed` uses generation.difficulty_weights.
    curriculum: CurriculumConfig = CurriculumConfig()
    verify: VerifyConfig = VerifyConfig()
    dedup: DedupConfig = DedupConfig()
    # Kept rows checked against the run's held-out problems and the benchmark files listed here
    # (filters/decontam.py): `decontaminate: {files: [gsm8k_test.jsonl], column: question}`.
    decontaminate: DecontamConfig = DecontamConfig()
    # A sample of each round's verdicts re-judged by an independent second judge (filters/audit.py).
    audit: AuditConfig = AuditConfig()
    diversity: DiversityConfig = DiversityConfig()
    finetune: FinetuneSpec = FinetuneSpec()
    eval: EvalConfig = EvalConfig()
    gate: GateConfig = GateConfig()
    execution: ExecutionSpec = ExecutionSpec()  # where the round's tasks run; never changes the data

    @field_validator("name")
    @classmethod
    def _name(cls, v: str) -> str:
        from synthloop.warehouse.catalog import NAME_RE

        if not NAME_RE.match(v):
            raise ValueError("name: use letters, digits, '_', '-' or '.'")
        return v

    @model_validator(mode="after")
    def _in_range(self):
        problems = range_problems(self)
        if problems:
            raise ValueError("; ".join(problems))
        return self

    def config_hash(self) -> str:
        """Hash of everything that decides the data (not the number of rounds, where it runs, nor
        the audit, which only reads verdicts). Decontamination, `finetune.epochs` and
        `generation.fresh_first` at their defaults are left out too, so a run made before they
        existed keeps its hash and resumes."""
        skip: dict = {"rounds": True, "execution": True, "audit": True}
        if self.decontaminate == DecontamConfig():
            skip["decontaminate"] = True
        if not self.finetune.epochs:
            skip["finetune"] = {"epochs"}
        if not self.generation.fresh_first:
            skip["generation"] = {"fresh_first"}
        blob = json.dumps(self.model_dump(mode="json", exclude=skip), sort_keys=True)
        return hashlib.sha256(blob.encode()).hexdigest()[:16]


BIG = 10**9  # no count in a config is larger than this (steps, problems, sizes): a typo, not a plan


def range_problems(cfg: LoopConfig) -> list[str]:
    """Every value out of its range, as 'key: what is wrong' -- checked at load, before any training,
    for what the types allow but a run cannot use (a NaN learning rate, k > n_samples, ...)."""
    out: list[str] = []

    def need(ok: bool, key: str, msg: str) -> None:
        if not ok:
            out.append(f"{key}: {msg}")

    def count(v, key: str, lo: int = 1) -> bool:
        ok = isinstance(v, int) and not isinstance(v, bool) and lo <= v <= BIG
        need(ok, key, f"must be an integer from {lo} to {BIG:,}, got {_short(v)}")
        return ok

    def real(v, key: str, lo: float = 0.0, hi: float = math.inf, open_lo: bool = False) -> None:
        ok = isinstance(v, int | float) and math.isfinite(v) and (v > lo if open_lo else v >= lo) and v <= hi
        bound = f"{'>' if open_lo else '>='} {lo:g}" + (f" and <= {hi:g}" if hi < math.inf else "")
        need(ok, key, f"must be a finite number {bound}, got {_short(v)}")

    count(cfg.seed, "seed", 0)
    b = cfg.bootstrap
    m = b.model
    sizes = [count(getattr(m, f), f"bootstrap.model.{f}")
             for f in ("hidden_size", "intermediate_size", "num_hidden_layers", "num_attention_heads")]
    count(m.max_length, "bootstrap.model.max_length", 8)
    if all(sizes):
        need(m.hidden_size % m.num_attention_heads == 0, "bootstrap.model.hidden_size",
             f"must be a multiple of num_attention_heads ({m.num_attention_heads}), got {m.hidden_size}")
        need(m.hidden_size <= 65_536 and m.intermediate_size <= 262_144 and m.num_hidden_layers <= 256,
             "bootstrap.model", "is far too large to train from scratch here (hidden_size <= 65536, "
             "intermediate_size <= 262144, num_hidden_layers <= 256)")
    need(bool(b.difficulties) and all(d >= 1 for d in b.difficulties), "bootstrap.difficulties",
         f"must list at least one difficulty, each >= 1, got {_short(b.difficulties)}")
    count(b.n_problems, "bootstrap.n_problems")
    count(b.seed, "bootstrap.seed", 0)
    if b.base_model is not None:
        # An HF folder, a .gguf file or a hub id (training/importer.py converts at the bootstrap);
        # a folder quantized in a way the loop cannot fine-tune and save is refused here, not at a save.
        from synthloop.training.importer import source_problem

        problem = source_problem(str(b.base_model))
        need(problem is None, "bootstrap.base_model", problem or "")
    for where, t in (("bootstrap.train", b.train), ("finetune.train", cfg.finetune.train)):
        count(t.steps, f"{where}.steps")
        count(t.batch_size, f"{where}.batch_size")
        real(t.lr, f"{where}.lr", 0, 10, open_lo=True)
        count(t.warmup, f"{where}.warmup", 0)
        real(t.weight_decay, f"{where}.weight_decay", 0, 10)
        real(t.grad_clip, f"{where}.grad_clip", 0, open_lo=True)
        count(t.checkpoint_every, f"{where}.checkpoint_every")
        count(t.seed, f"{where}.seed", 0)
        count(t.lora_r, f"{where}.lora_r", 0)
        real(t.lora_alpha, f"{where}.lora_alpha", 0, open_lo=True)
        need(t.precision in ("auto", "fp32", "bf16"), f"{where}.precision",
             f"must be auto, fp32 or bf16, got {_short(t.precision)}")
    g = cfg.generation
    w = g.difficulty_weights
    need(bool(w) and all(k >= 1 for k in w), "generation.difficulty_weights",
         f"must map difficulties (integers >= 1) to weights, got {_short(w)}")
    need(all(math.isfinite(v) and v >= 0 for v in w.values()) and sum(w.values()) > 0,
         "generation.difficulty_weights", "weights must be finite, >= 0, and not all 0")
    need(bool(g.samplers), "generation.samplers", "list at least one sampler")
    names = [s.name for s in g.samplers]
    need(len(set(names)) == len(names), "generation.samplers", f"sampler names must differ, got {_short(names)}")
    need(all(n.strip() and n.isprintable() and len(n) <= 64 for n in names), "generation.samplers",
         "every sampler needs a name: printable, not blank, at most 64 characters")
    for i, s in enumerate(g.samplers):
        count(s.max_new_tokens, f"generation.samplers.{i}.max_new_tokens")
        count(s.top_k, f"generation.samplers.{i}.top_k", 0)
        count(s.seed, f"generation.samplers.{i}.seed", 0)
    for f in ("problems_per_round", "samples_per_problem", "batch_size"):
        count(getattr(g, f), f"generation.{f}")
    r = g.rationalize
    count(r.samples, "generation.rationalize.samples")
    real(r.temperature, "generation.rationalize.temperature", 0)
    if r.max_new_tokens is not None:
        count(r.max_new_tokens, "generation.rationalize.max_new_tokens")
    need(isinstance(r.hint, str) and "{prompt}" in r.hint and "{answer}" in r.hint, "generation.rationalize.hint",
         f"must contain {{prompt}} and {{answer}}, got {_short(r.hint)}")
    count(cfg.finetune.max_per_problem, "finetune.max_per_problem")
    count(cfg.finetune.seed_replay, "finetune.seed_replay", 0)
    count(cfg.finetune.min_rows, "finetune.min_rows")
    e = cfg.eval
    ok = [count(e.n_problems, "eval.n_problems"), count(e.k, "eval.k"), count(e.n_samples, "eval.n_samples")]
    count(e.max_new_tokens, "eval.max_new_tokens")
    count(e.seed, "eval.seed", 0)
    real(e.temperature, "eval.temperature", 0)
    if all(ok):
        need(e.k <= e.n_samples, "eval.k", f"pass@k needs k <= n_samples, got k={e.k} and n_samples={e.n_samples}")
    need(bool(e.difficulties) and all(d >= 1 for d in e.difficulties), "eval.difficulties",
         f"must list at least one difficulty, each >= 1, got {_short(list(e.difficulties))}")
    real(cfg.gate.max_accuracy_drop, "gate.max_accuracy_drop", 0, 1)
    real(cfg.gate.max_pass_at_k_drop, "gate.max_pass_at_k_drop", 0, 1)
    count(cfg.dedup.num_perm, "dedup.num_perm", 2)
    count(cfg.dedup.ngram, "dedup.ngram")
    count(cfg.dedup.seed, "dedup.seed", 0)
    count(cfg.diversity.embed_sample, "diversity.embed_sample", 2)
    # Floats anywhere else: NaN and inf pass the `ge`/`gt` bounds pydantic checks.
    said = {line.split(":")[0] for line in out}
    for key, v in _leaves(cfg.model_dump()):
        if isinstance(v, float) and not math.isfinite(v) and key not in said:
            out.append(f"{key}: must be a finite number, got {v!r}")
    return out


def _short(v) -> str:
    """A value for an error line: a 5,000-digit integer is not printed whole."""
    r = repr(v) if not isinstance(v, int) or abs(v) < 10**30 else f"an integer of {len(str(abs(v)))} digits"
    return r if len(r) <= 80 else r[:77] + "..."


def _leaves(obj, key: str = ""):
    if isinstance(obj, dict):
        for k, v in obj.items():
            yield from _leaves(v, f"{key}.{k}" if key else str(k))
    elif isinstance(obj, list | tuple):
        for i, v in enumerate(obj):
            yield from _leaves(v, f"{key}.{i}")
    else:
        yield key, obj


MAX_CONFIG_BYTES = 1_000_000  # a config is a page of YAML; more is the wrong file


def default_config_text() -> str:
    return resources.files("synthloop").joinpath("configs/demo.yaml").read_text()


def load_config(path: str | Path | None = None, overrides: dict | None = None) -> LoopConfig:
    """The config in `path` (or the built-in default), with `overrides` applied on top."""
    if path is None:
        text, where = default_config_text(), "built-in demo config"
    else:
        p = Path(path)
        if not p.is_file():
            raise ConfigError(f"config file not found: {p}")
        where = str(p)
        try:
            if p.stat().st_size > MAX_CONFIG_BYTES:
                raise ConfigError(f"{where} is over {MAX_CONFIG_BYTES:,} bytes: not a config file")
            text = p.read_text(encoding="utf-8")
        except UnicodeDecodeError as e:
            raise ConfigError(f"{where} is not UTF-8 text (byte {e.start}): save it as UTF-8") from None
        except OSError as e:
            raise ConfigError(f"cannot read {where}: {e.strerror or e}") from None
    try:
        data = yaml.safe_load(text) or {}
    except yaml.YAMLError as e:
        raise ConfigError(f"{where} is not valid YAML: {e}") from None
    except RecursionError:
        raise ConfigError(f"{where} is nested too deeply to be a config") from None
    except ValueError as e:  # an integer of more than 4,300 digits (Python's conversion limit)
        raise ConfigError(f"{where}: a value is not usable ({str(e).split(':')[0]})") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{where} must be a YAML mapping of settings, got {type(data).__name__}")
    for key, value in (overrides or {}).items():
        if value is not None:
            data[key] = value
    try:
        return LoopConfig.model_validate(data)
    except ValidationError as e:
        problems = "; ".join(_say(err) for err in e.errors())
        raise ConfigError(f"{where}: {problems}") from None
    except RecursionError:
        raise ConfigError(f"{where} is nested too deeply to be a config") from None


def _say(err: dict) -> str:
    msg = str(err["msg"]).removeprefix("Value error, ")
    where = ".".join(str(x) for x in err["loc"])
    return f"{where}: {msg}" if where else msg
