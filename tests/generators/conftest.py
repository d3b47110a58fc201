"""What the vLLM and OpenAI-server tests share: one built-in model folder per session.

Training even a small model takes minutes on a busy 2-core machine, so the weights are random,
drawn at a scale (1/sqrt(fan-in), embeddings x4) that makes greedy answers differ from prompt to
prompt, with the end-of-sequence row of the (tied) embedding scaled up so some answers stop early
and others run to the length limit: both endings get compared.
"""

import pytest
import torch

SMALL = {"hidden_size": 64, "intermediate_size": 192, "num_hidden_layers": 2, "num_attention_heads": 2}


def lively_builtin(path, seed=0):
    """The built-in model (small shape), lively random weights, saved at `path`."""
    from synthloop.training.model import ModelConfig, build_model, build_tokenizer, save

    tok = build_tokenizer()
    model = build_model(ModelConfig(**SMALL), tok)
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if p.dim() == 2:
                p.copy_(torch.randn(p.shape, generator=g) / p.shape[1] ** 0.5 * (4 if "embed" in name else 1))
        model.get_input_embeddings().weight[tok.eos_token_id] *= 6
    save(model.eval(), tok, path)
    return path


@pytest.fixture(scope="session")
def model_dir(tmp_path_factory):
    return lively_builtin(tmp_path_factory.mktemp("model") / "m")


@pytest.fixture(scope="session")
def hf_reference(model_dir):
    """Our transformers backend on that folder, in this process (vLLM never imports here)."""
    from synthloop.generators.hf import HFBackend
    from synthloop.training.model import load

    model, tok = load(model_dir, dtype=torch.float32)
    return HFBackend(model, tok, batch_size=64, device="cpu")
