"""Supervised fine-tuning on (prompt, completion) pairs: the bootstrap and every expert-iteration round.

Loss is on the completion and its end-of-sequence token only; the prompt is context. Plain torch:
AdamW, linear warm-up then cosine decay, batches of similar length to waste little on padding.
fp32 on CPU, bf16 autocast on GPU; full fine-tuning or LoRA (peft, merged back before saving, so
the result is a plain HF folder). With a checkpoint folder, an interrupted run resumes at its last
checkpoint with the same batches it would have seen.
"""

from __future__ import annotations

import math
import os
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import torch

from . import fault_point

# Label of a position that carries no loss (the prompt, padding): cross_entropy's default
# ignore_index, which HF models use too.
IGNORE = -100
# Batches per length-sorted chunk: examples are sorted by length within 50 batches' worth, so a
# batch pads little yet still draws from a random slice of the data. A choice, not tuned.
CHUNK_BATCHES = 50
# The cosine decay ends at this fraction of the peak rate, not at 0 (LLaMA's schedule ends at 10%).
LR_FLOOR = 0.1
# AdamW's betas: beta2 0.98 as in the Transformer paper (Vaswani et al. 2017): its second-moment
# average spans ~50 steps, not the ~1,000 of PyTorch's default 0.999, in runs of a few hundred.
BETAS = (0.9, 0.98)


@dataclass
class TrainConfig:
    # The defaults are a short fine-tune; the loop's config sets its own per stage (the bootstrap
    # from scratch, each round's fine-tune: `bootstrap.train`, `finetune.train`).
    steps: int = 300  # a short fine-tune (not tuned): 300 batches of 64 = 19,200 examples
    batch_size: int = 64  # the batch every run measured in the README used (not tuned)
    # 3e-4: the usual Adam rate for fine-tuning. From scratch the bootstrap takes 1e-3 (README
    # "Length generalization": 2e-3 learned slower); an early run, not recorded here, saw 5e-4 make
    # 3-digit accuracy drop in fine-tuning.
    lr: float = 3e-4
    warmup: int = 30  # a tenth of the default steps (the usual 10% warm-up)
    weight_decay: float = 0.01  # torch.optim.AdamW's default
    grad_clip: float = 1.0  # max gradient norm: HF Trainer's default (max_grad_norm)
    seed: int = 0
    # Steps between checkpoints (when a checkpoint folder is given): a kill loses at most this
    # many steps, and each write (weights plus AdamW's two moments) costs a little time.
    checkpoint_every: int = 100
    lora_r: int = 0  # 0: full fine-tuning; > 0: LoRA of this rank on every linear layer (peft)
    lora_alpha: int = 16  # updates scale by alpha / r; 16 is a common choice (peft's default is 8)
    # auto: bf16 autocast where the hardware computes bf16 natively (a GPU; a CPU with AVX-512 BF16
    # or AMX) and the model is not tiny (BF16_MIN_PARAMS), fp32 elsewhere (emulated bf16 is slower
    # than fp32); or fp32, bf16.
    precision: str = "auto"


def encode_pairs(tokenizer, pairs: Sequence[tuple[str, str]]) -> list[tuple[list[int], int]]:
    """Token ids of bos+prompt+completion+eos, with the number of prompt tokens (bos included)."""
    prompts = tokenizer([p for p, _ in pairs])["input_ids"]
    fulls = tokenizer([p + c for p, c in pairs])["input_ids"]
    eos = tokenizer.eos_token_id
    return [(f + [eos], len(p)) for p, f in zip(prompts, fulls)]


def _batch(examples, pad_id: int, device):
    T = max(len(ids) for ids, _ in examples)
    ids = torch.full((len(examples), T), pad_id, dtype=torch.long)
    labels = torch.full((len(examples), T), IGNORE, dtype=torch.long)
    attn = torch.zeros((len(examples), T), dtype=torch.long)
    for i, (seq, n_prompt) in enumerate(examples):
        ids[i, : len(seq)] = torch.tensor(seq)
        labels[i, n_prompt : len(seq)] = ids[i, n_prompt : len(seq)]
        attn[i, : len(seq)] = 1
    return ids.to(device), labels.to(device), attn.to(device)


# Under this many parameters `auto` trains in fp32 on a CPU even where bf16 is native: the matrices
# are too narrow for bf16 kernels to pay for autocast's casts. Measured on 2 cores of an AMD EPYC
# with AVX-512 BF16 (2026-12-08, the demo's seed set, batch 64, 4 layers at hidden 128 and 192, 6 at 256 and 512), bf16 steps/s over fp32: 0.82x at
# 0.87M parameters (the demo's built-in model, hidden 128), 1.11x at 1.9M (hidden 192), 1.42x at
# 5.1M (hidden 256), 1.45x at 20.5M (hidden 512); SmolLM2-135M 1.43x.
BF16_MIN_PARAMS = 1_500_000


def bf16_autocast(precision: str, device: str, n_params: int | None = None) -> bool:
    """Train under bf16 autocast? `auto`: only where the hardware has native bf16
    (generators/choose.py) and, on a CPU, for a model of at least BF16_MIN_PARAMS parameters."""
    if precision not in ("auto", "fp32", "bf16"):
        raise ValueError(f"train.precision must be auto, fp32 or bf16, got {precision!r}")
    if precision != "auto":
        return precision == "bf16"
    from synthloop.generators.choose import native_bf16

    small = device == "cpu" and n_params is not None and n_params < BF16_MIN_PARAMS
    return native_bf16(device) and not small


def completion_loss(model, ids, attn, labels):
    """The mean next-token loss over the labelled (completion) tokens, as `model(labels=...)`
    computes it, but with the output layer applied only from the first labelled position on.

    The output layer of a chat model is the vocabulary (49k rows for SmolLM2) times the hidden size:
    a fifth of a 135M model's compute per token. A chat prompt (system turn, user turn) is most of
    each training sequence and needs no logits, only its keys and values, so they are skipped.
    """
    valid = (labels != IGNORE).any(0).nonzero()
    first = int(valid[0]) if len(valid) else labels.shape[1] - 1  # position of the first label
    start = max(first - 1, 0)  # the position whose logits predict it
    keep = ids.shape[1] - start
    out = model(input_ids=ids, attention_mask=attn, logits_to_keep=keep)
    logits = out.logits[:, :-1].float()
    target = labels[:, start + 1 :]
    return torch.nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]), target.reshape(-1), ignore_index=IGNORE)


class Interrupted(Exception):
    """Training stopped on purpose before its last step (tests of resume)."""


def _chunks(n: int, batch_size: int, seed: int):
    """Endless shuffled epochs of example indices, cut into chunks of CHUNK_BATCHES batches."""
    rng = random.Random(seed)
    while True:
        order = list(range(n))
        rng.shuffle(order)
        chunk = CHUNK_BATCHES * batch_size
        for c in range(0, n, chunk):
            yield order[c : c + chunk]


def _lr_at(step: int, cfg: TrainConfig) -> float:
    if step < cfg.warmup:
        return cfg.lr * (step + 1) / cfg.warmup
    t = (step - cfg.warmup) / max(1, cfg.steps - cfg.warmup)
    return cfg.lr * (LR_FLOOR + (1 - LR_FLOOR) * 0.5 * (1 + math.cos(math.pi * t)))


def train(
    model,
    tokenizer,
    pairs: Sequence[tuple[str, str]],
    cfg: TrainConfig,
    progress: Callable[[int, float], None] | None = None,
    checkpoint_dir: str | os.PathLike | None = None,
    stop_after: int | None = None,
):
    """Train `model` on `pairs` for `cfg.steps` steps; returns (model, stats).

    The returned model is `model` itself for full fine-tuning, or the LoRA-merged model. With
    `checkpoint_dir`, state is saved every `cfg.checkpoint_every` steps and a rerun resumes from it.
    `stop_after` (tests) stops early as if interrupted, leaving the checkpoint behind.
    """
    if not pairs:
        raise ValueError("nothing to train on: the dataset has no kept rows")
    device = next(model.parameters()).device
    if cfg.lora_r > 0:
        from peft import LoraConfig, get_peft_model

        model = get_peft_model(
            model, LoraConfig(r=cfg.lora_r, lora_alpha=cfg.lora_alpha, target_modules="all-linear",
                              lora_dropout=0.0)  # peft's default: no dropout
        )
    examples = encode_pairs(tokenizer, pairs)
    lengths = [len(e[0]) for e in examples]
    torch.manual_seed(cfg.seed)
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=cfg.lr, weight_decay=cfg.weight_decay, betas=BETAS)

    # Batch plan: a deterministic function of the seed, so a resumed run sees the same batches.
    rng = random.Random(cfg.seed)
    plan: list[list[int]] = []
    # Within a chunk, batches hold examples of similar length; batch order is shuffled.
    for chunk in _chunks(len(examples), cfg.batch_size, cfg.seed):
        part = sorted(chunk, key=lengths.__getitem__)
        bs = [part[i : i + cfg.batch_size] for i in range(0, len(part), cfg.batch_size)]
        rng.shuffle(bs)
        plan += bs
        if len(plan) >= cfg.steps:
            break

    start, losses = 0, []
    ckpt = Path(checkpoint_dir) / "train_state.pt" if checkpoint_dir else None
    if ckpt is not None and ckpt.exists():
        state = torch.load(ckpt, map_location=device, weights_only=False)
        if state["steps"] == cfg.steps and state["n_examples"] == len(examples):
            model.load_state_dict(state["model"])
            opt.load_state_dict(state["opt"])
            start, losses = state["step"], state["losses"]

    use_bf16 = bf16_autocast(cfg.precision, device.type, sum(p.numel() for p in model.parameters()))
    model.train()
    tokens, t0 = 0, time.perf_counter()
    for step in range(start, cfg.steps):
        ids, labels, attn = _batch([examples[i] for i in plan[step]], tokenizer.pad_token_id, device)
        for g in opt.param_groups:
            g["lr"] = _lr_at(step, cfg)
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=use_bf16):
            loss = completion_loss(model, ids, attn, labels)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, cfg.grad_clip)
        opt.step()
        losses.append(loss.item())
        tokens += int(attn.sum())
        if progress:
            progress(step, losses[-1])
        done = step + 1
        if ckpt is not None and (done % cfg.checkpoint_every == 0 or done == stop_after):
            ckpt.parent.mkdir(parents=True, exist_ok=True)
            tmp = ckpt.with_suffix(".tmp")
            torch.save({"model": model.state_dict(), "opt": opt.state_dict(), "step": done, "losses": losses,
                        "steps": cfg.steps, "n_examples": len(examples)}, fault_point.checkpoint_file(tmp))
            tmp.replace(ckpt)  # atomic: a crash mid-save leaves the previous checkpoint
        if stop_after is not None and done >= stop_after:
            raise Interrupted(f"stopped after step {done} (stop_after)")
    model.eval()
    secs = time.perf_counter() - t0
    if cfg.lora_r > 0:
        model = model.merge_and_unload()
    if ckpt is not None and ckpt.exists():
        ckpt.unlink()
    k = max(1, len(losses) // 10)  # loss_first / loss_last: means over the first and last tenth
    stats = {
        "steps": cfg.steps,
        "resumed_at": start,
        "examples": len(examples),
        "loss_first": sum(losses[:k]) / k,
        "loss_last": sum(losses[-k:]) / k,
        "tokens_per_s": tokens / secs if secs else 0.0,
        "seconds": secs,
        "precision": "bf16" if use_bf16 else "fp32",
    }
    return model, stats
