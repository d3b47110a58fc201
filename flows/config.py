"""The loop's whole config: it composes each stage's own config dataclass.

Values come from a YAML file (the built-in default is `synthloop/configs/demo.yaml`); CLI flags
override. Unknown keys and wrong types are rejected with the path of the bad key.
"""

from __future__ import annotations

import hashlib
import json
from importlib import resources
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator
from synthloop.domains import DOMAINS
from synthloop.filters.dedup import DedupConfig
from synthloop.filters.diversity import DiversityConfig
from synthloop.filters.verify import VerifyConfig
from synthloop.generators.base import Sampler
from synthloop.training.evaluate import EvalConfig
from synthloop.training.gate import GateConfig
from synthloop.training.model import ModelConfig
from synthloop.training.sft import TrainConfig

from synthloop.errors import UserError

from .execution import ExecutionSpec


class ConfigError(UserError):
    """A config the user wrote that cannot be used; the message says which key and why."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class DomainSpec(_Strict):
    # Any name `synthloop domains` lists; `file` takes its options in knobs, e.g.
    # {name: file, knobs: {path: data.jsonl, checker: pattern, pattern: "####", prompt_column: question}}
    name: str = "addition"
    weight: float = Field(1.0, gt=0)  # share of each round's problems, relative to the other domains
    knobs: dict = {}

    @field_validator("name")
    @classmethod
    def _known(cls, v: str) -> str:
        if v not in DOMAINS:
            raise ValueError(f"unknown domain {v!r}; known: {', '.join(sorted(DOMAINS))}")
        return v

    @model_validator(mode="after")
    def _buildable(self):
        # Build it once now, so a bad knob or a missing file is one config error, not a crash later.
        from synthloop.domains import get_domain

        get_domain(self.name, **self.knobs)
        return self


class SamplerSpec(_Strict):
    name: str
    share: float = Field(1.0, gt=0)
    temperature: float = Field(1.0, ge=0)
    top_p: float = Field(1.0, gt=0, le=1)
    top_k: int = Field(0, ge=0)
    min_p: float = Field(0.0, ge=0, lt=1)
    repetition_penalty: float = Field(1.0, gt=0)
    max_new_tokens: int = Field(96, ge=1)
    prompt_variant: str = "plain"  # a name in generators/prompts.py or a template with {prompt}
    seed: int = 0  # non-zero: fresh draws for the same settings

    @field_validator("prompt_variant")
    @classmethod
    def _variant(cls, v: str) -> str:
        from synthloop.generators.prompts import check_variant

        return check_variant(v)

    def sampler(self) -> Sampler:
        return Sampler(**self.model_dump(exclude={"share"}))


class BootstrapSpec(_Strict):
    base_model: str | None = None  # a local HF model folder; when set, no model is trained from scratch
    n_problems: int = Field(3000, ge=1)  # seed set: reference solutions of easy problems
    difficulties: list[int] = [1, 2, 3]
    seed: int = 0
    model: ModelConfig = ModelConfig()
    train: TrainConfig = TrainConfig(steps=1000, lr=1e-3, warmup=50)


class GenerationSpec(_Strict):
    problems_per_round: int = Field(800, ge=1)
    # Difficulty -> weight of problems drawn at that difficulty each round.
    difficulty_weights: dict[int, float] = {1: 0.05, 2: 0.05, 3: 0.1, 4: 0.5, 5: 0.3}
    samples_per_problem: int = Field(8, ge=1)
    batch_size: int = Field(256, ge=1)
    samplers: list[SamplerSpec] = [
        SamplerSpec(name="cool", temperature=0.5, top_p=1.0),
        SamplerSpec(name="warm", temperature=0.8, top_p=0.95),
        SamplerSpec(name="hot", temperature=1.1, min_p=0.05),
    ]
    # -- adaptive allocation and backend (issue 4; see generators/allocate.py) --
    backend: Literal["transformers", "vllm"] = "transformers"  # vllm: GPU, `pip install -e ".[gpu]"`
    # From round 2 on: shift sampler shares toward the best kept-per-token yield of the last round
    # and give problems samples by last round's pass rates; the round's total stays problems x K.
    adaptive: bool = True
    min_share: float = Field(0.1, gt=0, le=1)  # every sampler keeps at least this share (exploration)
    min_samples_per_problem: int | None = Field(None, ge=1)  # problems always solved; None: K // 4, >= 1
    max_samples_per_problem: int | None = Field(None, ge=1)  # cap for problems never solved; None: 2 K

    @field_validator("backend")
    @classmethod
    def _backend_here(cls, v: str) -> str:
        if v == "vllm":  # fail at load time with one line, not inside the round
            from synthloop.generators.vllm import BackendUnavailable, check_available

            try:
                check_available()
            except BackendUnavailable as e:
                raise ValueError(str(e)) from None
        return v

    @model_validator(mode="after")
    def _budgets(self):
        n, k = len(self.samplers), self.samples_per_problem
        if n and self.min_share * n > 1 + 1e-9:
            raise ValueError(f"min_share {self.min_share} x {n} samplers exceeds 1: use at most {1 / n:.3f}")
        if not self.sample_range()[0] <= k <= self.sample_range()[1]:
            raise ValueError("need min_samples_per_problem <= samples_per_problem <= max_samples_per_problem")
        hot = [s.name for s in self.samplers if s.temperature > 2]
        if self.backend == "vllm" and hot:
            raise ValueError(f"vLLM takes temperatures up to 2; sampler(s) {', '.join(hot)} go higher")
        return self

    def sample_range(self) -> tuple[int, int]:
        """(fewest, most) samples a problem can get in an adaptive round."""
        k = self.samples_per_problem
        return self.min_samples_per_problem or max(1, k // 4), self.max_samples_per_problem or 2 * k


class FinetuneSpec(_Strict):
    train: TrainConfig = TrainConfig(steps=250, lr=3e-4, warmup=25)
    # Which kept rows a round trains on:
    #   accumulate  every kept row of this and earlier rounds (what the model-collapse literature
    #               recommends: never train on the latest generation alone)
    #   replace     this round's kept rows only
    #   mix         this round's kept rows plus seed-set examples, `mix_fraction` of the total
    policy: Literal["accumulate", "replace", "mix"] = "accumulate"
    mix_fraction: float = Field(0.3, ge=0, lt=1)
    seed_replay: int = Field(500, ge=0)  # seed-set examples added under accumulate/replace (forgetting)
    # previous: fine-tune the last promoted model; base: restart from the round-0 model each
    # round on the data so far (ReST-EM).
    init: Literal["previous", "base"] = "previous"
    max_per_problem: int = Field(4, ge=1)  # kept samples per problem at most, so easy problems don't dominate


class LoopConfig(_Strict):
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
    verify: VerifyConfig = VerifyConfig()
    dedup: DedupConfig = DedupConfig()
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

    def config_hash(self) -> str:
        """Hash of everything that decides the data (not the number of rounds, nor where it runs)."""
        blob = json.dumps(self.model_dump(mode="json", exclude={"rounds", "execution"}), sort_keys=True)
        return hashlib.sha256(blob.encode()).hexdigest()[:16]


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
        text, where = p.read_text(), str(p)
    try:
        data = yaml.safe_load(text) or {}
    except yaml.YAMLError as e:
        raise ConfigError(f"{where} is not valid YAML: {e}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{where} must be a YAML mapping of settings, got {type(data).__name__}")
    for key, value in (overrides or {}).items():
        if value is not None:
            data[key] = value
    try:
        return LoopConfig.model_validate(data)
    except ValidationError as e:
        problems = "; ".join(
            f"{'.'.join(str(x) for x in err['loc']) or '(top)'}: {err['msg']}" for err in e.errors()
        )
        raise ConfigError(f"{where}: {problems}") from None
