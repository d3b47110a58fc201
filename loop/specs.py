"""The parts of the loop's config, one per stage: what each stage of a round reads.

`LoopConfig` (loop/config.py) composes them with the stages' own config dataclasses.
"""

from __future__ import annotations

import importlib.util
import math
import socket
from typing import Literal
from urllib.parse import urlparse

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from synthloop.domains import DOMAINS
from synthloop.generators.base import Sampler
from synthloop.generators.openai import OpenAIConfig
from synthloop.generators.rationalize import RationalizeConfig
from synthloop.generators.vllm import VLLMConfig
from synthloop.training.model import ModelConfig
from synthloop.training.sft import TrainConfig

from synthloop.errors import UserError


class ConfigError(UserError):
    """A config the user wrote that cannot be used; the message says which key and why."""


class Strict(BaseModel):
    """A config section: unknown keys are errors (a typo must not pass silently)."""

    model_config = ConfigDict(extra="forbid")


class DomainSpec(Strict):
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
        # Build it once now, so a bad knob or a missing file is one config error, not a crash later;
        # `knobs()` reads a file domain's rows, so a missing column or a bad row is found now too.
        from synthloop.domains import get_domain

        try:
            get_domain(self.name, **self.knobs).knobs()
        except (TypeError, KeyError, IndexError, OSError, UnicodeError, RecursionError) as e:
            raise ValueError(f"domain {self.name!r}: {type(e).__name__}: {e}") from None
        return self


class SamplerSpec(Strict):
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


class BootstrapSpec(Strict):
    base_model: str | None = None  # a local HF model folder; when set, no model is trained from scratch
    n_problems: int = Field(3000, ge=1)  # seed set: reference solutions of easy problems
    difficulties: list[int] = [1, 2, 3]  # the seed set: 1-3 digits; the rounds must teach the longer ones
    seed: int = 0
    model: ModelConfig = ModelConfig()
    # The built-in model from scratch: the demo's budget (a choice, not tuned here); 1e-3 is a
    # usual from-scratch rate for a small transformer.
    train: TrainConfig = TrainConfig(steps=1000, lr=1e-3, warmup=50)


class GenerationSpec(Strict):
    problems_per_round: int = Field(800, ge=1)  # the demo's round size (a choice, not tuned)
    # A file of problems (a finite pool): draw the prompts this run has no kept row for yet before
    # those it has, so samples go where a new training row can come from (a solved prompt sampled
    # again mostly gives the same reply, dropped as a near-duplicate). Off: every prompt alike.
    # Generated domains (addition, ...) have no finite pool and ignore it.
    fresh_first: bool = False
    # Difficulty -> weight of problems drawn at that difficulty each round (`curriculum: fixed`):
    # most of the round just past the seed set's 1-3 digits, a little of what is known (forgetting).
    difficulty_weights: dict[int, float] = {1: 0.05, 2: 0.05, 3: 0.1, 4: 0.5, 5: 0.3}
    # 8 samples a problem, so that problems the model solves one time in a few still yield a row
    # (the adaptive allocator moves samples between problems, generators/allocate.py).
    samples_per_problem: int = Field(8, ge=1)
    batch_size: int = Field(256, ge=1)  # prompts per forward pass of the transformers backend
    samplers: list[SamplerSpec] = [
        # A portfolio from near-greedy to exploratory: the allocator shifts shares to what yields
        # kept rows (README "Generation: samplers, adaptive portfolio").
        SamplerSpec(name="cool", temperature=0.5, top_p=1.0),
        SamplerSpec(name="warm", temperature=0.8, top_p=0.95),
        SamplerSpec(name="hot", temperature=1.1, min_p=0.05),
    ]
    # -- adaptive allocation and backend (issue 4; see generators/allocate.py) --
    # How prompts reach the model (generators/prompts.py): auto uses the tokenizer's chat template
    # when it has one (instruction-tuned models), chat requires it, raw sends the text as it is.
    # Generation, the held-out evaluation and fine-tuning all use the same format; rows record it.
    prompt_format: Literal["auto", "chat", "raw"] = "auto"
    # vllm: its engine in its own process (`make vllm` builds .venv-vllm, the CPU build; on a GPU,
    # a Python with vllm installed); see README "Generation backends".
    # openai: any OpenAI-compatible server (`vllm serve`, SGLang, TGI) at generation.openai.base_url.
    # auto: vLLM for a pretrained model where it is installed, transformers for the built-in model
    # (generators/choose.py says why; the round logs the choice). Generation and evaluation alike.
    backend: Literal["auto", "transformers", "vllm", "openai"] = "auto"
    # auto: bfloat16 where the hardware computes it natively (GPU; CPU with AVX-512 BF16 or AMX),
    # float32 elsewhere. Used by both backends (a non-auto generation.vllm.dtype wins for vLLM).
    dtype: Literal["auto", "float32", "bfloat16"] = "auto"
    vllm: VLLMConfig = VLLMConfig()
    openai: OpenAIConfig = OpenAIConfig()
    # From round 2 on: shift sampler shares toward the best kept-per-token yield of the last round
    # and give problems samples by last round's pass rates; the round's total stays problems x K.
    adaptive: bool = True
    min_share: float = Field(0.1, gt=0, le=1)  # every sampler keeps at least this share (exploration)
    min_samples_per_problem: int | None = Field(None, ge=1)  # problems always solved; None: K // 4, >= 1
    max_samples_per_problem: int | None = Field(None, ge=1)  # cap for problems never solved; None: 2 K
    # STaR's rationalization (generators/rationalize.py): problems no sample solved are asked again
    # with the answer as a hint; the rows keep the plain prompt. Off by default.
    rationalize: RationalizeConfig = RationalizeConfig()

    @model_validator(mode="after")
    def _backend_here(self):
        if self.backend == "vllm":  # fail at load time with one line, not inside the round
            from synthloop.generators.vllm import BackendUnavailable, check_available

            try:
                check_available(self.vllm.python)
            except BackendUnavailable as e:
                raise ValueError(str(e)) from None
        return self

    @model_validator(mode="after")
    def _budgets(self):
        n, k = len(self.samplers), self.samples_per_problem
        if n and self.min_share * n > 1 + 1e-9:
            raise ValueError(f"min_share {self.min_share} x {n} samplers exceeds 1: use at most {1 / n:.3f}")
        if not self.sample_range()[0] <= k <= self.sample_range()[1]:
            raise ValueError("need min_samples_per_problem <= samples_per_problem <= max_samples_per_problem")
        hot = self.too_hot_for_vllm()
        if self.backend == "vllm" and hot:
            raise ValueError(f"vLLM takes temperatures up to 2; sampler(s) {', '.join(hot)} go higher")
        return self

    def too_hot_for_vllm(self) -> list[str]:
        """The samplers (rationalization's included) whose temperature vLLM refuses (it takes up to 2)."""
        return [s.name for s in self.samplers if s.temperature > 2] + ["rationalize"] * (self.rationalize.temperature > 2)

    def sample_range(self) -> tuple[int, int]:
        """(fewest, most) samples a problem can get in an adaptive round."""
        k = self.samples_per_problem
        return self.min_samples_per_problem or max(1, k // 4), self.max_samples_per_problem or 2 * k


class FinetuneSpec(Strict):
    # A round's fine-tune of the built-in model: about a third of the bootstrap's rate (the demo's
    # budget, a choice; init sizes a pretrained model's: loop/starter.py `budgets`).
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
    # Under accumulate: the newest round's rows are repeated until they make up this share of the
    # training set (Lee et al. 2025 give the newest round 50%: the frontier's few new rows are not
    # drowned by every earlier round). 0: every row once.
    recent_share: float = Field(0.0, ge=0, lt=1)
    # Fine-tune only once this many new kept rows have come in since the last fine-tune; fewer wait
    # for the next round (status: "waiting"). 1: every round with a kept row trains.
    min_rows: int = Field(1, ge=1)
    # Passes over the training rows at least: a fine-tune takes max(train.steps, ceil(epochs x rows /
    # batch_size)) steps, so a training set that has outgrown train.steps is still seen `epochs`
    # times (accumulated rows grow every round). 0: train.steps whatever the rows.
    epochs: float = Field(0.0, ge=0)

    def steps_for(self, rows: int) -> int:
        """Fine-tuning steps for a training set of `rows` rows.

        >>> FinetuneSpec(train=TrainConfig(steps=40, batch_size=8), epochs=2).steps_for(466)
        117
        >>> FinetuneSpec(train=TrainConfig(steps=40, batch_size=8), epochs=2).steps_for(13)
        40
        """
        return max(self.train.steps, math.ceil(self.epochs * rows / self.train.batch_size))


RAY_HINT = 'install the extra: pip install -e ".[ray]"'


class ExecutionSpec(Strict):
    # local: every task in this process (generation one part at a time); ray: generate and verify
    # tasks on Ray workers.
    runner: Literal["local", "ray"] = "local"
    # Ray: an existing cluster (`ray start --head` prints it: host:6379, or ray://host:10001 for
    # Ray Client); None starts a local cluster for the round and stops it after.
    address: str | None = None
    workers: int = Field(2, ge=1)  # the local cluster's CPUs: tasks running at once (1 CPU each)
    # GPUs each generation task asks Ray for (0: CPU). With 1, Ray runs one generation task per GPU
    # and sets CUDA_VISIBLE_DEVICES for it: one vLLM engine per GPU.
    gpus_per_worker: float = Field(0, ge=0)
    # Ray: custom resources that place tasks on a cluster's nodes. Each generation task asks for 1
    # of `generate_resource`, each verify task 1 of `cpu_resource`, so they run only on nodes started
    # with it (`ray start --resources='{"model": 2}'`), at most that many at once on each: with a
    # per-process model cache, 2 means two loaded models there. A resource, not a node label: it
    # also caps tasks per node, and `ray start --labels` is still a hidden option in Ray 2.60.
    # None: any node with a free CPU (and GPU). A local cluster has `workers` of each one named.
    generate_resource: str | None = Field(None, min_length=1)
    cpu_resource: str | None = Field(None, min_length=1)
    # Samples per shard (a part of the round's problems, cut at problem boundaries): one generation
    # task and one verify task each, and the most rows a CPU stage holds at once. 4096 rows of
    # addition completions are ~1 MB of Parquet and ~10 MB in memory.
    shard_size: int = Field(4096, ge=1)

    @model_validator(mode="after")
    def _ray_here(self):
        if self.runner == "ray":  # refused when the config loads, with one line, not mid-round
            check_ray(self.address)
        return self


def check_ray(address: str | None) -> None:
    """Raise ValueError (one line) unless Ray and prefect-ray import and `address` answers."""
    for module in ("ray", "prefect_ray"):
        if importlib.util.find_spec(module) is None:
            raise ValueError(f"execution.runner 'ray' needs the {module} package: {RAY_HINT}")
    if address and address != "auto":
        host, port = _host_port(address)
        try:
            socket.create_connection((host, port), timeout=3).close()
        except OSError as e:
            raise ValueError(
                f"execution.address {address!r} does not answer ({e.strerror or e}): start the head with "
                "`ray start --head` and give the address it prints, or leave address empty for a local cluster"
            ) from None


def _host_port(address: str) -> tuple[str, int]:
    """ray://host:10001 (Ray Client) or host:6379 (the head's GCS)."""
    url = urlparse(address if "://" in address else f"gcs://{address}")
    default = 10001 if url.scheme == "ray" else 6379
    try:
        port = url.port or default
    except ValueError:
        raise ValueError(f"execution.address {address!r}: use host:port or ray://host:port") from None
    if not url.hostname:
        raise ValueError(f"execution.address {address!r}: use host:port or ray://host:port")
    return url.hostname, port
