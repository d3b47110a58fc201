"""The built-in model: a small causal LM from a standard transformers config, character tokenizer.

Why SmolLM3 with every layer NoPE: a tiny model trained on 1–3 digit addition with rotary
position embeddings scores 0% on 4 digits, so the self-training loop never gets a verified sample
to learn from. Without position embeddings (causal attention still tells positions apart) it
length-generalises a little, and that little is what the loop amplifies, measured on 2 CPU cores.
`SmolLM3Config(no_rope_layers=[0] * n)` is the standard config that says "no RoPE in any layer",
so the folder loads with the Auto classes and with vLLM, unpatched.
"""

from __future__ import annotations

import json
import string
from dataclasses import dataclass
from pathlib import Path

import torch
from synthloop.generators.hf import load_model
from tokenizers import Tokenizer, decoders, models, processors
from transformers import PreTrainedTokenizerFast, SmolLM3Config, SmolLM3ForCausalLM

# Loading a model folder is the sampling backends' job (generators sit below training); the name
# stays here for the callers that load folders as `training.model.load`.
load = load_model

PAD, BOS, EOS, UNK = "<pad>", "<bos>", "<eos>", "<unk>"
# Every printable ASCII character and newline: enough for every built-in domain.
CHARS = sorted(set(string.printable) - set("\t\r\x0b\x0c"))


@dataclass
class ModelConfig:
    """Shape of the built-in model. Defaults: ~0.8M parameters, fast enough to train on 2 cores."""

    hidden_size: int = 128
    intermediate_size: int = 384  # SwiGLU, so 3 matrices of hidden x intermediate per layer
    num_hidden_layers: int = 4
    num_attention_heads: int = 4
    max_length: int = 192  # prompt + completion, in characters (tokens)


def build_tokenizer(max_length: int = 192) -> PreTrainedTokenizerFast:
    """A character-level tokenizer: BPE with no merges, so every character is one token."""
    vocab = {t: i for i, t in enumerate([PAD, BOS, EOS, UNK, *CHARS])}
    tok = Tokenizer(models.BPE(vocab=vocab, merges=[], unk_token=UNK))
    tok.decoder = decoders.Fuse()
    tok.post_processor = processors.TemplateProcessing(
        single=f"{BOS} $A", special_tokens=[(BOS, vocab[BOS])]
    )
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok,
        bos_token=BOS,
        eos_token=EOS,
        pad_token=PAD,
        unk_token=UNK,
        model_max_length=max_length,
        padding_side="left",  # generation pads on the left; training pads itself
    )
    return fast


def build_model(cfg: ModelConfig, tokenizer: PreTrainedTokenizerFast, seed: int = 0) -> SmolLM3ForCausalLM:
    """A freshly initialised model of shape `cfg` (weights drawn with `seed`)."""
    n = cfg.num_hidden_layers
    config = SmolLM3Config(
        vocab_size=len(tokenizer),
        hidden_size=cfg.hidden_size,
        intermediate_size=cfg.intermediate_size,
        num_hidden_layers=n,
        num_attention_heads=cfg.num_attention_heads,
        num_key_value_heads=cfg.num_attention_heads,
        max_position_embeddings=cfg.max_length,
        no_rope_layers=[0] * n,  # 0 = this layer uses no rotary embedding (NoPE)
        use_sliding_window=False,
        tie_word_embeddings=True,
        pad_token_id=tokenizer.pad_token_id,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
    )
    torch.manual_seed(seed)
    return SmolLM3ForCausalLM(config)


def save(model, tokenizer, path: Path, meta: dict | None = None) -> Path:
    """Save an HF folder (config, safetensors, tokenizer) plus synthloop's own `synthloop.json`."""
    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(path)
    tokenizer.save_pretrained(path)
    if meta is not None:
        (path / "synthloop.json").write_text(json.dumps(meta, indent=2, default=str))
    return path


def n_params(model) -> int:
    return sum(p.numel() for p in model.parameters())
