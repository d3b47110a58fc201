"""Rows from a portfolio: seeds, prompt variants, per-problem budgets, the records both backends share."""

import pytest
from synthloop.domains import Problem
from synthloop.generators import PortfolioEntry, Request, Sampler, generate_rows
from synthloop.generators.hf import HFBackend
from synthloop.generators.prompts import check_variant, render
from synthloop.training.model import ModelConfig, build_model, build_tokenizer

ROW_KEYS = {
    "row_id", "round", "problem_id", "domain", "difficulty", "prompt", "prompt_format", "reference", "completion", "sampler",
    "sampler_settings", "seed", "model_id", "n_tokens", "mean_logprob", "finish_reason", "config_hash",
}


@pytest.fixture(scope="module")
def backend():
    tok = build_tokenizer()
    model = build_model(ModelConfig(hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=2), tok)
    return HFBackend(model, tok, batch_size=8)


PROBLEMS = [Problem(f"p{i}", "addition", 1 + i % 2, f"{i}+{2 * i}=", str(3 * i)) for i in range(6)]
PORTFOLIO = [
    PortfolioEntry(Sampler("cool", temperature=0.5, max_new_tokens=8), 1.0),
    PortfolioEntry(Sampler("warm", temperature=0.8, top_p=0.95, max_new_tokens=8), 1.0),
    PortfolioEntry(Sampler("hot", temperature=1.1, min_p=0.05, max_new_tokens=8), 1.0),
]


def _rows(backend, problems=PROBLEMS, portfolio=PORTFOLIO, **kw):
    return generate_rows(backend, problems, portfolio, 4, round=1, seed=7, model_id="m", config_hash="h", **kw)


def test_rows_are_reproducible_and_independent_of_the_batch(backend):
    a = _rows(backend)
    assert all(set(r) == ROW_KEYS for r in a)
    assert _rows(backend) == a  # same seed, same samples
    # The same problems in another order, so in other batches: each sample is unchanged.
    b = {r["row_id"]: r for r in _rows(backend, problems=PROBLEMS[::-1])}
    assert all(b[r["row_id"]]["completion"] == r["completion"] and b[r["row_id"]]["seed"] == r["seed"] for r in a)
    other = generate_rows(backend, PROBLEMS, PORTFOLIO, 4, round=1, seed=8, model_id="m", config_hash="h")
    assert [r["seed"] for r in other] != [r["seed"] for r in a]


def test_without_budgets_each_problem_splits_k_in_portfolio_order(backend):
    rows = _rows(backend)
    by_problem = [[r["sampler"] for r in rows if r["problem_id"] == p.id] for p in PROBLEMS]
    assert all(s == ["cool", "cool", "warm", "hot"] for s in by_problem)  # split_budget(4, [1, 1, 1])


def test_budgets_set_samples_per_problem_and_deal_samplers_by_share(backend):
    budgets = [1, 2, 8, 8, 3, 2]
    shares = [PortfolioEntry(e.sampler, s) for e, s in zip(PORTFOLIO, [0.5, 0.3, 0.2])]
    rows = _rows(backend, portfolio=shares, budgets=budgets)
    assert [sum(r["problem_id"] == p.id for r in rows) for p in PROBLEMS] == budgets
    assert [sum(r["sampler"] == n for r in rows) for n in ("cool", "warm", "hot")] == [12, 7, 5]
    assert len({r["row_id"] for r in rows}) == len(rows)
    with pytest.raises(ValueError, match="budgets"):
        _rows(backend, budgets=[1, 2])


def test_prompt_variant_is_what_the_model_sees(backend):
    variant = Sampler("q", temperature=1.0, max_new_tokens=8, prompt_variant="Q: {prompt}")
    rows = _rows(backend, portfolio=[PortfolioEntry(variant, 1.0)])
    r = rows[0]
    again = backend.generate([Request("Q: " + r["prompt"], variant, r["seed"])])[0]
    assert again.text == r["completion"]
    assert r["prompt"] == PROBLEMS[0].prompt  # the row keeps the problem's own prompt
    assert '"prompt_variant": "Q: {prompt}"' in r["sampler_settings"]


def test_variants_and_sampler_seed():
    assert render("1+1=", "plain") == "1+1="
    assert render("{x}", "step_by_step").startswith("{x}\n")
    with pytest.raises(ValueError, match="prompt variant"):
        check_variant("fancy")
    with pytest.raises(ValueError, match="prompt variant"):
        Sampler("s", prompt_variant="fancy")


def test_sampler_seed_gives_fresh_draws(backend):
    base = Sampler("s", temperature=1.0, max_new_tokens=8)
    reseeded = Sampler("s", temperature=1.0, max_new_tokens=8, seed=1)
    a = _rows(backend, portfolio=[PortfolioEntry(base, 1.0)])
    b = _rows(backend, portfolio=[PortfolioEntry(reseeded, 1.0)])
    assert all(x["seed"] != y["seed"] for x, y in zip(a, b))
