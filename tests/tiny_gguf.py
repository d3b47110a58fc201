"""A tiny Llama written as a GGUF file, the way llama.cpp's converter writes one: for tests of the
GGUF import (nothing is downloaded).

`tiny_llama()` is a random LlamaForCausalLM (hidden 64, 2 layers, 4 heads, 2 KV heads) over a
byte-level BPE vocabulary of 256 byte tokens, a few merges and three ChatML control tokens;
`tiny_tokenizer()` is the transformers tokenizer of that vocabulary, with a chat template, so a
test can teach the model something before writing it. `write_gguf(model, path)` writes F32
tensors under llama.cpp's names, q/k rows permuted as llama.cpp permutes them (transformers
reverses that on load), and the tokenizer as `tokenizer.ggml.*` metadata (model "gpt2").
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

import numpy as np
import torch

CHAT = ("{% for m in messages %}<|im_start|>{{ m.role }}\n{{ m.content }}<|im_end|>\n{% endfor %}"
        "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}")
SPECIALS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]  # ids 0, 1, 2, as SmolLM2 numbers them
UNK, BOS, EOS = 0, 1, 2
MERGES = ["Ġ t", "h e", "i n", "Ġ a", "Ġt he", "# #", "## ##"]  # in the byte alphabet (Ġ is a space)


@cache
def _byte_alphabet() -> tuple[str, ...]:
    from transformers.convert_slow_tokenizer import bytes_to_unicode

    return tuple(bytes_to_unicode()[b] for b in range(256))


def vocabulary() -> list[str]:
    """Control tokens, the 256 byte tokens, then one token per merge (GPT-2's layout)."""
    return [*SPECIALS, *_byte_alphabet(), *(m.replace(" ", "") for m in MERGES)]


def tiny_tokenizer():
    """The tokenizer transformers builds from this GGUF, built here from the same vocabulary."""
    from tokenizers import AddedToken
    from transformers.models.gpt2.tokenization_gpt2 import GPT2Tokenizer

    tok = GPT2Tokenizer(vocab={t: i for i, t in enumerate(vocabulary())},
                        merges=[tuple(m.split(" ")) for m in MERGES])
    tok.add_special_tokens({"additional_special_tokens": [AddedToken(t, normalized=False, special=True)
                                                          for t in SPECIALS]})
    tok.bos_token, tok.eos_token, tok.unk_token, tok.pad_token = SPECIALS[BOS], SPECIALS[EOS], SPECIALS[UNK], SPECIALS[EOS]
    tok.chat_template = CHAT
    tok.padding_side = "left"
    return tok


def tiny_llama(seed: int = 0, hidden: int = 64, layers: int = 2, heads: int = 4, kv_heads: int = 2):
    """A random Llama small enough to train and convert in well under a second."""
    from transformers import LlamaConfig, LlamaForCausalLM

    cfg = LlamaConfig(vocab_size=len(vocabulary()), hidden_size=hidden, intermediate_size=2 * hidden,
                      num_hidden_layers=layers, num_attention_heads=heads, num_key_value_heads=kv_heads,
                      max_position_embeddings=256, rms_norm_eps=1e-5, tie_word_embeddings=True,
                      bos_token_id=BOS, eos_token_id=EOS, pad_token_id=EOS)
    torch.manual_seed(seed)
    return LlamaForCausalLM(cfg).eval()


def _permute(w: np.ndarray, n_head: int) -> np.ndarray:
    """llama.cpp's q/k row order (interleaved rotary halves); transformers undoes it on load."""
    return w.reshape(n_head, 2, w.shape[0] // n_head // 2, *w.shape[1:]).swapaxes(1, 2).reshape(w.shape)


def _tensors(model) -> dict[str, np.ndarray]:
    c = model.config
    sd = {k: v.detach().float().numpy() for k, v in model.state_dict().items()}
    out = {"token_embd.weight": sd["model.embed_tokens.weight"], "output_norm.weight": sd["model.norm.weight"]}
    if not c.tie_word_embeddings:
        out["output.weight"] = sd["lm_head.weight"]
    for i in range(c.num_hidden_layers):
        p = f"model.layers.{i}."
        out |= {
            f"blk.{i}.attn_norm.weight": sd[p + "input_layernorm.weight"],
            f"blk.{i}.attn_q.weight": _permute(sd[p + "self_attn.q_proj.weight"], c.num_attention_heads),
            f"blk.{i}.attn_k.weight": _permute(sd[p + "self_attn.k_proj.weight"], c.num_key_value_heads),
            f"blk.{i}.attn_v.weight": sd[p + "self_attn.v_proj.weight"],
            f"blk.{i}.attn_output.weight": sd[p + "self_attn.o_proj.weight"],
            f"blk.{i}.ffn_norm.weight": sd[p + "post_attention_layernorm.weight"],
            f"blk.{i}.ffn_gate.weight": sd[p + "mlp.gate_proj.weight"],
            f"blk.{i}.ffn_up.weight": sd[p + "mlp.up_proj.weight"],
            f"blk.{i}.ffn_down.weight": sd[p + "mlp.down_proj.weight"],
        }
    return out


def write_gguf(model, path: Path, name: str = "tiny-llama") -> Path:
    """`model` (a tiny_llama, trained or not) as an F32 GGUF file at `path`, with the tokenizer."""
    import gguf

    c = model.config
    w = gguf.GGUFWriter(str(path), "llama")
    w.add_name(name)
    w.add_context_length(c.max_position_embeddings)
    w.add_embedding_length(c.hidden_size)
    w.add_block_count(c.num_hidden_layers)
    w.add_feed_forward_length(c.intermediate_size)
    w.add_head_count(c.num_attention_heads)
    w.add_head_count_kv(c.num_key_value_heads)
    w.add_rope_dimension_count(c.hidden_size // c.num_attention_heads)
    w.add_rope_freq_base(float(c.rope_parameters["rope_theta"]))
    w.add_layer_norm_rms_eps(c.rms_norm_eps)
    w.add_vocab_size(c.vocab_size)
    w.add_file_type(gguf.LlamaFileType.ALL_F32)
    w.add_tokenizer_model("gpt2")
    w.add_token_list(vocabulary())
    w.add_token_types([gguf.TokenType.CONTROL] * len(SPECIALS)
                      + [gguf.TokenType.NORMAL] * (len(vocabulary()) - len(SPECIALS)))
    w.add_token_merges(MERGES)
    w.add_unk_token_id(UNK)
    w.add_bos_token_id(BOS)
    w.add_eos_token_id(EOS)
    w.add_pad_token_id(EOS)
    w.add_add_bos_token(False)
    w.add_chat_template(CHAT)
    for tname, arr in _tensors(model).items():
        w.add_tensor(tname, np.ascontiguousarray(arr, dtype=np.float32))
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    return Path(path)


def teach(model, pairs: list[tuple[str, str]], steps: int = 30):
    """`model` fine-tuned on (prompt, completion) pairs in the chat format, so a round's samples
    verify (what an instruction-tuned model brings); returns it."""
    from synthloop.training.sft import TrainConfig, train

    tok = tiny_tokenizer()
    chat = [(tok.apply_chat_template([{"role": "user", "content": q}], tokenize=False, add_generation_prompt=True), a)
            for q, a in pairs]
    model.train()
    model, _ = train(model, tok, chat, TrainConfig(steps=steps, lr=5e-3, warmup=2, batch_size=6))
    return model.eval()
