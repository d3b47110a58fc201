"""vLLM backend on the CPU build (`.venv-vllm`, `make vllm`): the same records as transformers.

One engine (its own process) serves the module; the last test hands it over to fine-tuning and
back, as a loop round does. The transformers reference runs in this process, where vLLM is never
imported (in-process, vLLM patches transformers' model classes).
"""

import os

import pytest
import torch
from synthloop.domains import get_domain
from synthloop.generators import GREEDY, PortfolioEntry, Request, Sampler, generate_rows
from synthloop.generators.vllm import (
    BackendUnavailable,
    VLLMBackend,
    check_available,
    sampling_kwargs,
)

ENGINE = {"dtype": "float32", "enforce_eager": True, "max_model_len": 192}  # eager: starts faster
if torch.cuda.is_available():  # benchmarks/gpu_check.sh: fp32 on a GPU needs Triton attention
    ENGINE |= {"attention_backend": "TRITON_ATTN", "gpu_memory_utilization": 0.3}
PROMPTS = [p.prompt for p in get_domain("addition").make_problems(48, 123, [1, 2, 3, 4])]
GREEDY40 = Sampler("g", temperature=0.0, max_new_tokens=40)


def test_sampling_kwargs_carry_every_setting():
    s = Sampler("s", temperature=0.7, top_p=0.9, top_k=20, min_p=0.05, repetition_penalty=1.1, max_new_tokens=33)
    kw = sampling_kwargs(Request("1+1=", s, (1 << 64) - 1))
    assert kw == {
        "n": 1, "temperature": 0.7, "top_p": 0.9, "top_k": 20, "min_p": 0.05, "repetition_penalty": 1.1,
        "seed": (1 << 63) - 1, "max_tokens": 33, "logprobs": 0, "detokenize": False,
    }
    assert sampling_kwargs(Request("x", GREEDY, 0))["temperature"] == 0.0
    with pytest.raises(ValueError, match="up to 2"):
        sampling_kwargs(Request("x", Sampler("h", temperature=2.5), 0))


def test_a_python_without_vllm_is_one_clear_error(tmp_path):
    import sys

    for python in (sys.executable if "vllm" not in sys.modules else "/bin/false", str(tmp_path / "nope")):
        with pytest.raises(BackendUnavailable) as e:
            check_available(python)
        assert "\n" not in str(e.value) and "make vllm" in str(e.value)


@pytest.fixture(scope="module")
def engine(model_dir):
    with VLLMBackend.from_path(model_dir, **ENGINE) as vl:
        yield vl


def test_greedy_gives_the_same_completions_as_transformers(engine, hf_reference):
    reqs = [Request(p, GREEDY40, 0) for p in PROMPTS]
    a, b = hf_reference.generate(reqs), engine.generate(reqs)
    assert [c.text for c in a] == [c.text for c in b]
    assert [c.n_tokens for c in a] == [c.n_tokens for c in b]
    assert [c.finish_reason for c in a] == [c.finish_reason for c in b]
    assert [c.mean_logprob for c in b] == pytest.approx([c.mean_logprob for c in a], abs=1e-3)
    assert len({c.text for c in a}) > len(PROMPTS) // 2  # answers differ by prompt
    assert {c.finish_reason for c in a} == {"stop", "length"}  # both endings compared


def test_seeds_reproduce_samples_whatever_the_batch(engine):
    hot = Sampler("hot", temperature=1.0, max_new_tokens=24)
    reqs = [Request(p, hot, 1000 + i) for i, p in enumerate(PROMPTS)]
    batched = [c.text for c in engine.generate(reqs)]
    alone = [engine.generate([r])[0].text for r in reqs[:3]]
    mixed = engine.generate(reqs[:3] + [Request(p, hot, 7) for p in PROMPTS[:5]])  # other seeds alongside
    assert alone == batched[:3] == [c.text for c in mixed[:3]]
    assert [c.text for c in engine.generate(reqs[::-1])] == batched[::-1]
    assert len({c.text for c in engine.generate([Request(PROMPTS[-1], hot, s) for s in range(8)])}) > 1


PORTFOLIO = [
    PortfolioEntry(Sampler("cool", temperature=0.5, max_new_tokens=24), 1.0),
    PortfolioEntry(Sampler("warm", temperature=0.8, top_p=0.95, max_new_tokens=24), 1.0),
    PortfolioEntry(Sampler("topk", temperature=1.0, top_k=8, max_new_tokens=24), 1.0),
    PortfolioEntry(Sampler("hot", temperature=1.1, min_p=0.05, repetition_penalty=1.05, max_new_tokens=24), 1.0),
]


def test_both_backends_give_the_same_kind_of_rows_and_one_call_per_portfolio(engine, hf_reference):
    problems = get_domain("addition").make_problems(8, 5, [2, 3])
    kw = {"round": 1, "seed": 0, "model_id": "m", "config_hash": "h", "budgets": [4] * 8}
    before = engine.engine_calls
    rows_vl = generate_rows(engine, problems, PORTFOLIO, 4, **kw)
    assert engine.engine_calls == before + 1  # the whole portfolio in one LLM.generate call
    rows_hf = generate_rows(hf_reference, problems, PORTFOLIO, 4, **kw)
    assert len(rows_vl) == len(rows_hf) == 32
    assert {r["sampler"] for r in rows_vl} == {e.sampler.name for e in PORTFOLIO}
    for a, b in zip(rows_hf, rows_vl):
        assert set(a) == set(b) and {k: type(v) for k, v in a.items()} == {k: type(v) for k, v in b.items()}
        assert (a["row_id"], a["sampler"], a["seed"]) == (b["row_id"], b["sampler"], b["seed"])
        assert 1 <= b["n_tokens"] <= 24 and b["mean_logprob"] <= 0 and b["finish_reason"] in ("stop", "length")


def test_hand_over_frees_the_engine_then_reloads_the_fine_tuned_model(engine, model_dir, tmp_path):
    """What a round does: generate, free the engine, fine-tune, generate with the new weights.
    (Last in the module: it closes the module's engine.)"""
    from synthloop.generators.hf import HFBackend
    from synthloop.training.model import load, save
    from synthloop.training.sft import TrainConfig, train

    reqs = [Request(p, GREEDY40, 0) for p in PROMPTS[:16]]
    before = [c.text for c in engine.generate(reqs)]
    pid = engine.proc.pid
    engine.close()
    with pytest.raises(ProcessLookupError):  # the engine's process, and all its memory, is gone
        os.kill(pid, 0)

    model, tok = load(model_dir, dtype=torch.float32)
    dom = get_domain("addition")
    pairs = [(p.prompt, dom.solution(p)) for p in dom.make_problems(64, 1, [1, 2])]
    model, _ = train(model, tok, pairs, TrainConfig(steps=4, batch_size=16, lr=1e-2, warmup=1))
    tuned = save(model.eval(), tok, tmp_path / "m1")
    with VLLMBackend.from_path(tuned, **ENGINE) as vl:
        after = [c.text for c in vl.generate(reqs)]
    assert after == [c.text for c in HFBackend(model, tok, device="cpu").generate(reqs)]
    assert after != before  # the new weights, not the old engine's
