"""transformers backend: batched sampling with a KV cache and left padding, on CPU or GPU.

One decoding loop serves every sampler: temperature, top-k, top-p, min-p and repetition penalty
are per-row tensors, so a whole portfolio shares one batch. Randomness is counter-based: the
Gumbel noise for (seed, step, token) is a hash of those three numbers, so a sample depends only
on its own seed, never on which other requests share its batch.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Sequence
from pathlib import Path

import torch

from .base import Completion, Request, completion_from_tokens

_MASK64 = (1 << 64) - 1


def _i64(c: int) -> int:
    """An unsigned 64-bit constant as the signed int64 torch stores."""
    c &= _MASK64
    return c - (1 << 64) if c >= 1 << 63 else c


# SplitMix64's constants (Steele, Lea & Flood 2014; Java's SplittableRandom): the golden-ratio
# increment and the finalizer's two multipliers; its shifts 30, 27, 31 are in `_splitmix64`.
_GOLDEN, _M1, _M2 = _i64(0x9E3779B97F4A7C15), _i64(0xBF58476D1CE4E5B9), _i64(0x94D049BB133111EB)
# An odd 64-bit multiplier that spreads consecutive steps across the seed space before mixing.
_STEP_MUL = 0xD1B54A32D192ED03
# Rows per forward pass: a choice, not tuned (memory grows with it: the KV cache is batch x length).
BATCH_SIZE = 256


def _shr(x: torch.Tensor, n: int) -> torch.Tensor:
    """Logical right shift of int64 (torch's >> is arithmetic)."""
    return (x >> n) & ((1 << (64 - n)) - 1)


def _splitmix64(x: torch.Tensor) -> torch.Tensor:
    z = x + _GOLDEN
    z = (z ^ _shr(z, 30)) * _M1
    z = (z ^ _shr(z, 27)) * _M2
    return z ^ _shr(z, 31)


def gumbel_noise(seeds: torch.Tensor, step: int, vocab: int) -> torch.Tensor:
    """(B, V) Gumbel(0, 1) noise determined by (seed, step, token id) alone."""
    base = _splitmix64(seeds + _i64(step * _STEP_MUL))  # (B,)
    ids = torch.arange(vocab, dtype=torch.int64, device=seeds.device)
    z = _splitmix64(base[:, None] ^ _splitmix64(ids)[None, :])  # (B, V)
    # The top 53 bits (a double's mantissa), centred in their cell: uniform in (0, 1), never 0 or 1.
    u = (_shr(z, 11).double() + 0.5) / float(1 << 53)
    return -torch.log(-torch.log(u))


def process_logits(
    logits: torch.Tensor,  # (B, V) float32
    seen: torch.Tensor,  # (B, V) bool: token already in the sequence
    temperature: torch.Tensor,  # (B,)
    top_k: torch.Tensor,  # (B,) int, 0 = off
    top_p: torch.Tensor,  # (B,)
    min_p: torch.Tensor,  # (B,)
    rep_penalty: torch.Tensor,  # (B,)
) -> torch.Tensor:
    """Scores to take the Gumbel-argmax of: the standard warpers, each row with its own settings.

    Only the sampled rows that filter (top-k, top-p or min-p on) are sorted, and a batch with no
    penalty skips it: the sort of a 49k vocabulary costs about as much as a small model's decoding step
    (`benchmarks/real_speed.py`), and it changes nothing for a row that keeps every token.
    """
    if bool((rep_penalty != 1).any()):
        pen = rep_penalty[:, None]
        logits = torch.where(seen, torch.where(logits > 0, logits / pen, logits * pen), logits)
    greedy = temperature <= 0
    scores = logits / torch.where(greedy, 1.0, temperature)[:, None]
    # A greedy row takes the top token, which every filter keeps: it needs no sort either.
    filters = ((top_k > 0) | (top_p < 1) | (min_p > 0)) & ~greedy
    if not bool(filters.any()):
        return scores
    rows = filters.nonzero().squeeze(1)
    out = scores.clone()
    out[rows] = _filtered(scores[rows], top_k[rows], top_p[rows], min_p[rows])
    return out


def _filtered(scores: torch.Tensor, top_k: torch.Tensor, top_p: torch.Tensor, min_p: torch.Tensor) -> torch.Tensor:
    """`scores` with the tokens that top-k, top-p and min-p drop set to the lowest float."""
    neg = torch.finfo(scores.dtype).min
    vocab = scores.shape[-1]
    sorted_scores, order = scores.sort(dim=-1, descending=True)
    probs = sorted_scores.softmax(-1)
    rank = torch.arange(vocab, device=scores.device)[None, :]
    k = torch.where(top_k > 0, top_k, vocab)[:, None]
    drop = rank >= k
    drop |= (probs.cumsum(-1) - probs) > top_p[:, None]  # keep the smallest set with mass >= p
    drop |= probs < min_p[:, None] * probs[:, :1]
    drop[:, 0] = False  # the most likely token always survives
    sorted_scores = sorted_scores.masked_fill(drop, neg)
    return torch.empty_like(scores).scatter_(1, order, sorted_scores)


def load_model(path: str | Path, device: str = "cpu", dtype: torch.dtype | None = None):
    """(model, tokenizer) of any HF causal-LM folder (the built-in model or a user's), loaded with
    the Auto classes; the tokenizer pads on the left, as generation needs."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    path = Path(path)
    if not (path / "config.json").exists():
        raise FileNotFoundError(f"{path} is not a model folder (no config.json)")
    tokenizer = AutoTokenizer.from_pretrained(path)
    tokenizer.padding_side = "left"
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    model = AutoModelForCausalLM.from_pretrained(path, dtype=dtype or torch.float32).to(device)
    return model, tokenizer


def _cache_of(out):
    """The KV cache of a forward pass's output, under its new name or its old one."""
    cache = getattr(out, "cache", None)
    return cache if cache is not None else out.past_key_values


class HFBackend:
    """Generate with any transformers causal LM (the built-in model or a user's folder)."""

    name = "transformers"

    def __init__(self, model, tokenizer, batch_size: int = BATCH_SIZE, device: str | None = None):
        self.model, self.tokenizer = model, tokenizer
        self.device = device or next(model.parameters()).device.type
        self.batch_size = batch_size
        self.tokenizer.padding_side = "left"
        # The prompt pass needs logits at the last position only: with a large vocabulary, logits
        # for every prompt position cost more time and memory than the rest of the pass.
        params = inspect.signature(model.forward).parameters
        self._last_only = "logits_to_keep" in params
        # transformers renamed the KV cache argument `past_key_values` -> `cache` (the old name
        # warns twice a round and goes away in 5.40); older releases and some models know only the old.
        self._cache_arg = "cache" if "cache" in params else "past_key_values"

    @classmethod
    def from_path(cls, path, batch_size: int = BATCH_SIZE, device: str | None = None,
                  dtype: torch.dtype | None = None) -> HFBackend:
        """`dtype` None: bf16 on a GPU, fp32 on a CPU (generators/choose.py picks for `auto`)."""
        device = device or ("cuda" if torch.cuda.is_available() else "cpu")
        dtype = dtype or (torch.bfloat16 if device == "cuda" else torch.float32)
        model, tok = load_model(path, device=device, dtype=dtype)
        return cls(model, tok, batch_size=batch_size, device=device)

    def generate(
        self, requests: Sequence[Request], progress: Callable[[int], None] | None = None
    ) -> list[Completion]:
        """One completion per request, in request order."""
        out: list[Completion | None] = [None] * len(requests)
        # Similar prompt lengths together: less padding.
        order = sorted(range(len(requests)), key=lambda i: len(requests[i].prompt))
        was_training = self.model.training
        self.model.eval()
        try:
            for start in range(0, len(order), self.batch_size):
                idx = order[start : start + self.batch_size]
                for i, c in zip(idx, self._generate_batch([requests[i] for i in idx])):
                    out[i] = c
                if progress:
                    progress(len(idx))
        finally:
            self.model.train(was_training)
        return out  # type: ignore[return-value]

    @torch.inference_mode()
    def _generate_batch(self, reqs: list[Request]) -> list[Completion]:
        tok, dev = self.tokenizer, self.device
        enc = tok([r.prompt for r in reqs], return_tensors="pt", padding=True).to(dev)
        ids, attn = enc["input_ids"], enc["attention_mask"]
        B, V = ids.shape[0], self.model.config.vocab_size
        f32 = {"dtype": torch.float32, "device": dev}
        temperature = torch.tensor([r.sampler.temperature for r in reqs], **f32)
        top_p = torch.tensor([r.sampler.top_p for r in reqs], **f32)
        min_p = torch.tensor([r.sampler.min_p for r in reqs], **f32)
        rep = torch.tensor([r.sampler.repetition_penalty for r in reqs], **f32)
        top_k = torch.tensor([r.sampler.top_k for r in reqs], dtype=torch.int64, device=dev)
        max_new = torch.tensor([r.sampler.max_new_tokens for r in reqs], device=dev)
        seeds = torch.tensor([r.seed & ((1 << 63) - 1) for r in reqs], dtype=torch.int64, device=dev)  # 63 bits: int64
        greedy = temperature <= 0
        all_greedy, hot = bool(greedy.all()), (~greedy).nonzero().squeeze(1)

        def noisy(step: int, scores: torch.Tensor) -> torch.Tensor:
            """Gumbel noise for the sampled rows, 0 for greedy ones (whose noise is never drawn)."""
            noise = torch.zeros_like(scores)
            noise[hot] = gumbel_noise(seeds[hot], step, scores.shape[-1]).to(scores.dtype)
            return noise

        eos = tok.eos_token_id
        seen = torch.zeros(B, V, dtype=torch.bool, device=dev)
        seen.scatter_(1, ids, attn.bool())

        position_ids = (attn.cumsum(-1) - 1).clamp(min=0)
        keep = {"logits_to_keep": 1} if self._last_only else {}
        out = self.model(input_ids=ids, attention_mask=attn, position_ids=position_ids, use_cache=True, **keep)
        past = _cache_of(out)
        logits = out.logits[:, -1, :].float()
        new_tokens, logps = [], []
        done = torch.zeros(B, dtype=torch.bool, device=dev)
        n_gen = torch.zeros(B, dtype=torch.int64, device=dev)
        for step in range(int(max_new.max())):
            scores = process_logits(logits, seen, temperature, top_k, top_p, min_p, rep)
            sampled = scores.argmax(-1) if all_greedy else (scores + noisy(step, scores)).argmax(-1)
            nxt = torch.where(done, tok.pad_token_id, sampled)
            logps.append(logits.log_softmax(-1).gather(1, sampled[:, None]).squeeze(1))
            new_tokens.append(nxt)
            n_gen += (~done).long()
            done |= (nxt == eos) | (n_gen >= max_new)
            if bool(done.all()):
                break
            seen.scatter_(1, nxt[:, None], True)
            attn = torch.cat([attn, torch.ones(B, 1, dtype=attn.dtype, device=dev)], dim=1)
            position_ids = position_ids[:, -1:] + 1
            out = self.model(
                input_ids=nxt[:, None],
                attention_mask=attn,
                position_ids=position_ids,
                use_cache=True,
                **{self._cache_arg: past},
            )
            past = _cache_of(out)
            logits = out.logits[:, -1, :].float()

        toks = torch.stack(new_tokens, 1).tolist()
        lps = torch.stack(logps, 1).tolist()
        ns = n_gen.tolist()
        return [completion_from_tokens(tok, toks[b][: ns[b]], sum(lps[b][: ns[b]])) for b in range(B)]
