"""The generation interface both backends implement: requests in, completions out.

A *sampler* is a named, recorded set of decoding settings; a request is one prompt, one sampler
and one seed. Backends return one `Completion` per request, in order.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field


@dataclass(frozen=True)
class Sampler:
    """Decoding settings. temperature 0 means greedy; top_k 0, top_p 1 and min_p 0 disable them."""

    name: str
    temperature: float = 1.0
    top_p: float = 1.0
    top_k: int = 0
    min_p: float = 0.0
    repetition_penalty: float = 1.0
    # Half of the built-in model's 192-token window (training.model.ModelConfig.max_length), the
    # other half left to the prompt; the demo's samplers ask for 128 (a worked 10-digit sum).
    max_new_tokens: int = 96
    prompt_variant: str = "plain"  # how the problem is phrased; see generators.prompts
    seed: int = 0  # mixed into every request seed when non-zero: same settings, fresh draws

    def __post_init__(self):
        if self.temperature < 0:
            raise ValueError(f"sampler {self.name}: temperature must be >= 0, got {self.temperature}")
        if not 0 < self.top_p <= 1:
            raise ValueError(f"sampler {self.name}: top_p must be in (0, 1], got {self.top_p}")
        if not 0 <= self.min_p < 1:
            raise ValueError(f"sampler {self.name}: min_p must be in [0, 1), got {self.min_p}")
        if self.top_k < 0 or self.max_new_tokens < 1 or self.repetition_penalty <= 0:
            raise ValueError(f"sampler {self.name}: top_k >= 0, max_new_tokens >= 1, repetition_penalty > 0")
        from .prompts import check_variant

        check_variant(self.prompt_variant)

    @property
    def settings(self) -> dict:
        return asdict(self)

    @property
    def settings_json(self) -> str:
        return json.dumps(self.settings, sort_keys=True)


GREEDY = Sampler("greedy", temperature=0.0)


@dataclass(frozen=True)
class Request:
    prompt: str
    sampler: Sampler
    seed: int


@dataclass
class Completion:
    text: str
    n_tokens: int  # generated tokens, the end-of-sequence token included when produced
    mean_logprob: float  # mean log-probability of the generated tokens under the model (T=1)
    finish_reason: str  # "stop" (end of sequence) or "length" (max_new_tokens reached)
    meta: dict = field(default_factory=dict)


def completion_from_tokens(tokenizer, token_ids: Sequence[int], logprob_sum: float) -> Completion:
    """The record both backends return for one sample: text, token count, mean log-prob, finish.

    `token_ids` are the generated tokens, the end-of-sequence token included when produced; the text
    leaves it (and any special token) out, so both backends decode the same ids to the same text.
    """
    ids = list(token_ids)
    n = len(ids)
    stopped = n > 0 and ids[-1] == tokenizer.eos_token_id
    text = tokenizer.decode(ids[:-1] if stopped else ids, skip_special_tokens=True)
    mean_lp = logprob_sum / n if n else 0.0
    # -1e9 stands in for a non-finite mean (-inf, NaN): a finite float for JSON and Parquet.
    return Completion(text, n, mean_lp if math.isfinite(mean_lp) else -1e9, "stop" if stopped else "length")


def sample_seed(*parts) -> int:
    """A stable 63-bit seed from any parts (problem id, sampler name, sample index, round seed).

    63 bits: non-negative in a signed int64 (torch, vLLM, Parquet)."""
    h = hashlib.blake2b(repr(parts).encode(), digest_size=8).digest()
    return int.from_bytes(h, "little") >> 1
