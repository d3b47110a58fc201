"""vLLM backend: a clear error where it cannot run; on the GPU, the same records as transformers.

The `gpu` tests train the built-in model for a few seconds (so its greedy choices are clear-cut,
not float-rounding ties of random weights) and compare both backends on the same folder.
"""

import importlib.util

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

HAVE_VLLM = importlib.util.find_spec("vllm") is not None


@pytest.mark.skipif(HAVE_VLLM and torch.cuda.is_available(), reason="vLLM and a GPU are here")
def test_asking_for_vllm_where_it_cannot_run_is_one_clear_error(tmp_path):
    with pytest.raises(BackendUnavailable) as e:
        VLLMBackend.from_path(tmp_path)
    msg = str(e.value)
    assert "\n" not in msg
    assert ('pip install -e ".[gpu]"' in msg) if not HAVE_VLLM else ("CUDA GPU" in msg)


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


# -- on the GPU ------------------------------------------------------------------------------
def _trained_builtin(path, steps=600, device="cuda"):
    """The built-in model (small shape) trained briefly on addition solutions; saved at `path`."""
    from synthloop.training.model import ModelConfig, build_model, build_tokenizer, save

    dom = get_domain("addition")
    problems = dom.make_problems(2000, 0, [1, 2, 3])
    texts = [p.prompt + dom.solution(p, variant=i) for i, p in enumerate(problems)]
    tok = build_tokenizer()
    model = build_model(ModelConfig(hidden_size=64, intermediate_size=192, num_hidden_layers=2, num_attention_heads=2), tok)
    model.to(device).train()
    opt = torch.optim.AdamW(model.parameters(), lr=3e-3)
    g = torch.Generator().manual_seed(0)
    for _ in range(steps):
        idx = torch.randint(len(texts), (64,), generator=g).tolist()
        enc = tok([texts[i] + tok.eos_token for i in idx], return_tensors="pt", padding=True).to(device)
        labels = enc["input_ids"].masked_fill(enc["attention_mask"] == 0, -100)
        loss = model(input_ids=enc["input_ids"], attention_mask=enc["attention_mask"], labels=labels).loss
        loss.backward()
        opt.step()
        opt.zero_grad()
    model.cpu().eval()
    save(model, tok, path)
    return path


@pytest.fixture(scope="module")
def backends(tmp_path_factory):
    from synthloop.generators.hf import HFBackend
    from synthloop.training.model import load

    path = _trained_builtin(tmp_path_factory.mktemp("model") / "m")
    model, tok = load(path, device="cuda", dtype=torch.float32)  # fp32 on both sides: exact greedy
    hf = HFBackend(model, tok, batch_size=64, device="cuda")
    vl = VLLMBackend.from_path(path, dtype="float32", enforce_eager=True, gpu_memory_utilization=0.3)
    yield hf, vl
    vl.close()


PROMPTS = [p.prompt for p in get_domain("addition").make_problems(48, 123, [1, 2, 3, 4])]


@pytest.mark.gpu
def test_greedy_gives_the_same_completions_as_transformers(backends):
    hf, vl = backends
    greedy = Sampler("g", temperature=0.0, max_new_tokens=80)
    reqs = [Request(p, greedy, 0) for p in PROMPTS]
    a, b = hf.generate(reqs), vl.generate(reqs)
    assert [c.text for c in a] == [c.text for c in b]
    assert [c.n_tokens for c in a] == [c.n_tokens for c in b]
    assert [c.finish_reason for c in a] == [c.finish_reason for c in b]
    assert [c.mean_logprob for c in b] == pytest.approx([c.mean_logprob for c in a], abs=2e-3)
    assert len({c.text for c in a}) > len(PROMPTS) // 2  # a real model: answers differ by prompt
    assert sum(c.finish_reason == "stop" for c in a) > len(PROMPTS) // 2


@pytest.mark.gpu
def test_vllm_seeds_reproduce_samples_whatever_the_batch(backends):
    _, vl = backends
    hot = Sampler("hot", temperature=1.0, max_new_tokens=40)
    reqs = [Request(p, hot, 1000 + i) for i, p in enumerate(PROMPTS)]
    batched = [c.text for c in vl.generate(reqs)]
    alone = [vl.generate([r])[0].text for r in reqs[:6]]
    assert alone == batched[:6]
    assert [c.text for c in vl.generate(reqs)] == batched
    assert len({c.text for c in vl.generate([Request(PROMPTS[-1], hot, s) for s in range(16)])}) > 1


@pytest.mark.gpu
def test_both_backends_give_the_same_kind_of_rows_and_one_call_per_portfolio(backends):
    hf, vl = backends
    problems = get_domain("addition").make_problems(12, 5, [2, 3])
    portfolio = [
        PortfolioEntry(Sampler("cool", temperature=0.5, max_new_tokens=48), 1.0),
        PortfolioEntry(Sampler("warm", temperature=0.8, top_p=0.95, max_new_tokens=48), 1.0),
        PortfolioEntry(Sampler("topk", temperature=1.0, top_k=8, max_new_tokens=48), 1.0),
        PortfolioEntry(Sampler("hot", temperature=1.1, min_p=0.05, repetition_penalty=1.05, max_new_tokens=48), 1.0),
    ]
    calls = []
    real_generate = vl.llm.generate

    def counted(*args, **kw):
        calls.append(len(args[0]))
        return real_generate(*args, **kw)

    vl.llm.generate = counted
    try:
        kw = {"round": 1, "seed": 0, "model_id": "m", "config_hash": "h", "budgets": [6] * 12}
        rows_vl = generate_rows(vl, problems, portfolio, 6, **kw)
    finally:
        vl.llm.generate = real_generate
    rows_hf = generate_rows(hf, problems, portfolio, 6, **kw)
    assert calls == [72]  # the whole portfolio in one LLM.generate call
    assert len(rows_vl) == len(rows_hf) == 72
    for a, b in zip(rows_hf, rows_vl):
        assert set(a) == set(b) and {k: type(v) for k, v in a.items()} == {k: type(v) for k, v in b.items()}
        assert (a["row_id"], a["sampler"], a["seed"]) == (b["row_id"], b["sampler"], b["seed"])
        assert 1 <= b["n_tokens"] <= 48 and b["mean_logprob"] <= 0 and b["finish_reason"] in ("stop", "length")
    check_available()  # and the config check agrees that vLLM can run here
