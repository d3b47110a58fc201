import itertools
from math import comb

import pytest
import torch
from synthloop.domains import Addition
from synthloop.generators.hf import HFBackend
from synthloop.training import model as model_lib
from synthloop.training.evaluate import EvalConfig, evaluate, pass_at_k
from synthloop.training.gate import GateConfig, gate
from synthloop.training.sft import TrainConfig, train

SMALL = model_lib.ModelConfig(hidden_size=48, intermediate_size=96, num_hidden_layers=3, num_attention_heads=2)


def test_model_folder_loads_with_auto_classes(tmp_path):
    tok = model_lib.build_tokenizer()
    m = model_lib.build_model(SMALL, tok)
    assert all(x == 0 for x in m.config.no_rope_layers)  # NoPE in every layer
    model_lib.save(m, tok, tmp_path / "m")
    m2, tok2 = model_lib.load(tmp_path / "m")
    ids = tok2(["12+34="], return_tensors="pt")["input_ids"]
    assert torch.allclose(m(ids).logits, m2(ids).logits)
    assert tok2.decode(tok2("7+8=\n>51")["input_ids"], skip_special_tokens=True) == "7+8=\n>51"


def test_training_changes_parameters_and_accuracy_comes_from_generations():
    d = Addition()
    tok = model_lib.build_tokenizer()
    m = model_lib.build_model(SMALL, tok, seed=0)
    before = {k: v.clone() for k, v in m.state_dict().items()}
    problems = d.make_problems(400, seed=0, difficulties=[1])
    pairs = [(p.prompt, d.solution(p)) for p in problems]
    cfg = EvalConfig(n_problems=30, difficulties=(1,), n_samples=2, k=1)
    held = d.make_problems(30, seed=99, difficulties=[1])
    acc0 = evaluate(HFBackend(m, tok), d, held, cfg)["accuracy"]
    m, stats = train(m, tok, pairs, TrainConfig(steps=300, lr=3e-3, warmup=20, batch_size=32))
    changed = [k for k, v in m.state_dict().items() if not torch.equal(v, before[k])]
    assert len(changed) == len(before)
    assert stats["loss_last"] < stats["loss_first"] / 2
    ev = evaluate(HFBackend(m, tok), d, held, cfg)
    # An untrained model gets none right; 300 steps of a 3-layer NoPE model learn part of 1-digit
    # addition (it needs depth to tell operand positions apart: layer 1 sees a bag of tokens).
    assert acc0 == 0.0 and ev["accuracy"] >= 0.2, ev
    assert set(ev["by_difficulty"]) == {1}


def test_pass_at_k_matches_brute_force():
    for n, c, k in [(5, 2, 1), (5, 2, 3), (6, 0, 2), (6, 6, 4), (8, 3, 5)]:
        samples = [1] * c + [0] * (n - c)
        subsets = list(itertools.combinations(range(n), k))
        brute = sum(any(samples[i] for i in s) for s in subsets) / comb(n, k)
        assert pass_at_k(n, c, k) == pytest.approx(brute)


def test_gate_rejects_regressions():
    inc = {"accuracy": 0.6, "pass_at_k": 0.8}
    assert gate({"accuracy": 0.61, "pass_at_k": 0.8}, inc, GateConfig())[0]
    assert gate({"accuracy": 0.59, "pass_at_k": 0.8}, inc, GateConfig())[0]  # within the margin
    assert not gate({"accuracy": 0.5, "pass_at_k": 0.9}, inc, GateConfig())[0]
    assert not gate({"accuracy": 0.7, "pass_at_k": 0.5}, inc, GateConfig())[0]


def test_evaluation_reports_progress_and_its_prompt_format():
    """Evaluation (1,800 generations in the demo) had no progress at all (issue 14)."""
    from synthloop.domains import get_domain
    from synthloop.generators.hf import HFBackend
    from synthloop.generators.prompts import PromptFormat
    from synthloop.training.evaluate import EvalConfig, evaluate
    from synthloop.training.model import ModelConfig, build_model, build_tokenizer

    tok = build_tokenizer(64)
    model = build_model(ModelConfig(hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=2), tok)
    dom = get_domain("addition")
    cfg = EvalConfig(n_problems=3, difficulties=(1,), n_samples=2, k=2, max_new_tokens=4)
    problems = dom.make_problems(3, cfg.seed, [1])
    done, seen = [], []
    backend = HFBackend(model, tok, batch_size=4)
    real = backend.generate
    backend.generate = lambda reqs, progress=None: (seen.extend(r.prompt for r in reqs), real(reqs, progress))[1]
    m = evaluate(backend, dom, problems, cfg, prompt_format=PromptFormat("chat", lambda t: f"Q: {t}"), progress=done.append)
    assert sum(done) == 3 * (1 + 2) and len(done) >= 2  # after each batch of generations
    assert m["prompt_format"] == "chat" and all(p.startswith("Q: ") for p in seen)


def test_completion_loss_equals_the_models_own_loss():
    """The loss with the output layer applied from the first completion token on is the full loss."""
    from synthloop.training.sft import _batch, completion_loss, encode_pairs

    tok = model_lib.build_tokenizer()
    m = model_lib.build_model(SMALL, tok, seed=1)
    pairs = [("12+34=", "46"), ("7+8=", "15 and more"), ("123+4=", "127")]
    ids, labels, attn = _batch(encode_pairs(tok, pairs), tok.pad_token_id, "cpu")
    full = m(input_ids=ids, attention_mask=attn, labels=labels).loss
    assert torch.allclose(completion_loss(m, ids, attn, labels), full, atol=1e-6)


def test_bf16_autocast_only_where_the_hardware_has_it(monkeypatch):
    from synthloop.generators import choose
    from synthloop.generators.choose import native_bf16
    from synthloop.training.sft import BF16_MIN_PARAMS, bf16_autocast

    assert bf16_autocast("auto", "cpu") == native_bf16("cpu")
    # A tiny model trains in fp32 on a CPU whatever it has (bf16's casts cost more than they save);
    # a GPU takes bf16 for any size.
    assert bf16_autocast("auto", "cpu", n_params=BF16_MIN_PARAMS) == native_bf16("cpu")
    assert bf16_autocast("auto", "cpu", n_params=BF16_MIN_PARAMS - 1) is False
    assert bf16_autocast("auto", "cuda", n_params=1000) is True
    # The size rule on a CPU with native bf16, whatever CPU runs this test.
    monkeypatch.setattr(choose, "native_bf16", lambda device, flags=None: True)
    assert bf16_autocast("auto", "cpu", n_params=BF16_MIN_PARAMS) is True
    assert bf16_autocast("auto", "cpu", n_params=BF16_MIN_PARAMS - 1) is False
    assert bf16_autocast("fp32", "cuda") is False and bf16_autocast("bf16", "cpu") is True
    assert not native_bf16("cpu", frozenset({"avx2", "fma"}))
    assert native_bf16("cpu", frozenset({"avx2", "amx_bf16"})) and native_bf16("cpu", frozenset({"avx512_bf16"}))
    with pytest.raises(ValueError):
        bf16_autocast("half", "cpu")
