import pytest
import torch
from synthloop.generators import GREEDY, Request, Sampler, split_budget
from synthloop.generators.hf import HFBackend, gumbel_noise, process_logits
from synthloop.training.model import ModelConfig, build_model, build_tokenizer


@pytest.fixture(scope="module")
def backend():
    tok = build_tokenizer()
    model = build_model(ModelConfig(hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=2), tok)
    return HFBackend(model, tok, batch_size=4)


def test_same_seed_same_sample_whatever_the_batch(backend):
    hot = Sampler("hot", temperature=1.0, max_new_tokens=12)
    reqs = [Request(f"{i}+{i}=", hot, 1000 + i) for i in range(10)]
    alone = [backend.generate([r])[0].text for r in reqs]
    batched = [c.text for c in backend.generate(reqs)]
    assert alone == batched
    again = backend.generate([reqs[0]])[0].text
    assert again == alone[0]
    assert len({c.text for c in backend.generate([Request("1+1=", hot, s) for s in range(8)])}) > 1  # seeds differ


def test_records_have_token_counts_and_logprobs(backend):
    outs = backend.generate([Request("12+3=", Sampler("s", max_new_tokens=7), 1), Request("1+1=", GREEDY, 0)])
    for c in outs:
        assert 1 <= c.n_tokens <= 96
        assert c.mean_logprob <= 0
        assert c.finish_reason in ("stop", "length")
    assert outs[0].n_tokens <= 7


def test_greedy_matches_transformers_generate(backend):
    tok, model = backend.tokenizer, backend.model
    prompts = ["12+345=", "7+8=", "999+1="]
    ours = backend.generate([Request(p, Sampler("g", temperature=0.0, max_new_tokens=10), 0) for p in prompts])
    enc = tok(prompts, return_tensors="pt", padding=True)
    ref = model.generate(**enc, do_sample=False, max_new_tokens=10, pad_token_id=tok.pad_token_id, eos_token_id=tok.eos_token_id)
    for i, c in enumerate(ours):
        text = tok.decode(ref[i, enc["input_ids"].shape[1]:], skip_special_tokens=True)
        assert c.text == text


def test_warpers():
    logits = torch.tensor([[3.0, 2.0, 1.0, 0.0]])
    seen = torch.zeros(1, 4, dtype=torch.bool)
    one = torch.ones(1)

    def kept(**kw):
        args = {"temperature": one, "top_k": torch.zeros(1, dtype=torch.long), "top_p": one, "min_p": torch.zeros(1), "rep_penalty": one}
        args.update(kw)
        out = process_logits(logits, seen, **args)
        return (out > torch.finfo(out.dtype).min).sum().item()

    assert kept() == 4
    assert kept(top_k=torch.tensor([2])) == 2
    assert kept(top_p=torch.tensor([0.5])) == 1  # softmax mass of the top token is 0.64
    assert kept(min_p=torch.tensor([0.2])) == 2  # p2/p1 = e^-1 = 0.37 survives, e^-2 = 0.14 not
    noise = gumbel_noise(torch.tensor([1, 2]), 0, 50_000)
    assert abs(noise.mean().item() - 0.5772) < 0.03  # Gumbel(0, 1) mean is the Euler-Mascheroni constant


def test_split_budget():
    assert split_budget(8, [1, 1, 1]) == [3, 3, 2]
    assert sum(split_budget(13, [0.2, 0.3, 0.5])) == 13


def test_decoding_uses_the_current_cache_api():
    """No `past_key_values` deprecation warning from the decoding loop (it breaks on transformers 5.40)."""
    import warnings

    from synthloop.generators.base import Request, Sampler
    from synthloop.generators.hf import HFBackend
    from synthloop.training.model import ModelConfig, build_model, build_tokenizer

    tok = build_tokenizer(64)
    model = build_model(ModelConfig(hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=2), tok)
    backend = HFBackend(model, tok, batch_size=4)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        out = backend.generate([Request("12+3=", Sampler("s", temperature=0.7, max_new_tokens=6), i) for i in range(3)])
    assert len(out) == 3 and all(c.n_tokens >= 1 for c in out)
    assert not [w for w in caught if "past_key_values" in str(w.message)], [str(w.message) for w in caught]


def _reference_warpers(logits, seen, temperature, top_k, top_p, min_p, rep_penalty):
    """Every row sorted and filtered, as the backend did before it skipped the rows that keep all."""
    pen = rep_penalty[:, None]
    logits = torch.where(seen, torch.where(logits > 0, logits / pen, logits * pen), logits)
    greedy = temperature <= 0
    scores = logits / torch.where(greedy, 1.0, temperature)[:, None]
    sorted_scores, order = scores.sort(dim=-1, descending=True)
    probs = sorted_scores.softmax(-1)
    rank = torch.arange(scores.shape[-1])[None, :]
    drop = rank >= torch.where(top_k > 0, top_k, scores.shape[-1])[:, None]
    drop |= (probs.cumsum(-1) - probs) > top_p[:, None]
    drop |= probs < min_p[:, None] * probs[:, :1]
    drop[:, 0] = False
    return torch.empty_like(scores).scatter_(1, order, sorted_scores.masked_fill(drop, torch.finfo(scores.dtype).min))


def test_skipping_unfiltered_rows_changes_no_choice():
    """The fast path (no sort for greedy rows and rows that keep every token) picks what sorting
    every row picks: the same greedy argmax, the same surviving tokens, the same scores on them."""
    g = torch.Generator().manual_seed(0)
    B, V = 8, 3000
    logits = torch.randn(B, V, generator=g) * 4
    seen = torch.rand(B, V, generator=g) < 0.01
    args = {"temperature": torch.tensor([0.0, 0.6, 0.9, 1.0, 0.0, 0.7, 0.5, 1.2]),
            "top_k": torch.tensor([0, 0, 0, 40, 5, 0, 0, 0]),
            "top_p": torch.tensor([1.0, 1.0, 0.95, 1.0, 0.9, 1.0, 0.8, 1.0]),
            "min_p": torch.tensor([0.0, 0.0, 0.0, 0.0, 0.0, 0.05, 0.0, 0.0]),
            "rep_penalty": torch.tensor([1.0, 1.0, 1.0, 1.3, 1.0, 1.0, 1.0, 1.0])}
    fast, ref = process_logits(logits, seen, **args), _reference_warpers(logits, seen, **args)
    neg = torch.finfo(ref.dtype).min
    greedy = args["temperature"] <= 0
    assert torch.equal(fast[greedy].argmax(-1), ref[greedy].argmax(-1))
    plain = (args["rep_penalty"] == 1) & (args["top_k"] == 0) & (args["top_p"] == 1) & (args["min_p"] == 0)
    filtered = ~greedy & ~plain
    assert torch.equal(fast[filtered] > neg, ref[filtered] > neg)  # the same tokens survive
    kept = ref[filtered] > neg
    assert torch.equal(fast[filtered][kept], ref[filtered][kept])
    rows = ~greedy & plain
    assert bool((fast[rows] > neg).all())  # a row with no filter keeps every token, with its score
    assert torch.equal(fast[rows], (logits / args["temperature"][:, None])[rows])
    # Sorting such a row cut its tail where the float32 running sum passed top_p = 1.0: tokens of
    # negligible total mass, now kept.
    lost = (ref[rows] == neg)
    assert float((logits[rows] / args["temperature"][rows, None]).softmax(-1)[lost].sum()) < 1e-4
