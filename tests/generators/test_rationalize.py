"""Rationalization (STaR): hinted retries for unsolved problems, and the hint never reaches training.

One tiny built-in model is taught (a few seconds of training) exactly what the tests need from a
real backend: the round's first problem solved from its plain prompt, the second solved only from
its hinted prompt, the third answered from the hint with a line citing it. Everything else, the
loop's stages included, runs as it does in a real round.
"""

import json
from dataclasses import dataclass

import pytest
from synthloop.domains import Problem, get_domain
from synthloop.filters.verify import VerifyConfig, leaks_hint, verify_table
from synthloop.generators import PortfolioEntry, generate_rows
from synthloop.generators.base import Sampler, sample_seed
from synthloop.generators.hf import HFBackend
from synthloop.generators.rationalize import (
    DEFAULT_HINT,
    RationalizeConfig,
    hinted_prompt,
    rationalize,
    unsolved,
)
from synthloop.loop import trainset
from synthloop.loop.bootstrap import bootstrap
from synthloop.loop.config import ConfigError, LoopConfig, load_config
from synthloop.loop.plan import round_problems
from synthloop.loop.records import incumbent
from synthloop.loop.steps import data_steps
from synthloop.training.model import ModelConfig, build_model, build_tokenizer, save
from synthloop.training.sft import TrainConfig, train
from synthloop.warehouse import Catalog, to_table

HINT = "{prompt}(Hint: {answer})"  # short: the taught model trains in seconds on hinted prompts
GREEDY = {"name": "greedy", "temperature": 0.0, "max_new_tokens": 24}
CONFIG = {
    "name": "star",
    "rounds": 1,
    "generation": {
        "problems_per_round": 3, "samples_per_problem": 1, "difficulty_weights": {1: 1.0}, "adaptive": False,
        "backend": "transformers", "samplers": [GREEDY],
        "rationalize": {"enabled": True, "samples": 1, "temperature": 0.0, "hint": HINT},
    },
    "curriculum": {"policy": "fixed"},
    "finetune": {"seed_replay": 0},
    "eval": {"n_problems": 1, "difficulties": [1], "n_samples": 1, "k": 1, "max_new_tokens": 24},
    "diversity": {"embeddings": False},
}


@dataclass
class World:
    cfg: LoopConfig  # the loop's config, its incumbent the taught model
    problems: list[Problem]  # round 1's problems: solved plain, solved with the hint, cited the hint
    backend: HFBackend  # the taught model, in this process


@pytest.fixture(scope="module")
def world(tmp_path_factory) -> World:
    plain = LoopConfig.model_validate(CONFIG)
    problems = round_problems(Catalog(tmp_path_factory.mktemp("probe")), plain, 1)
    dom = get_domain("addition")
    p0, p1, p2 = problems
    pairs = [(p0.prompt, dom.solution(p0)), (hinted_prompt(p1.prompt, p1.answer, HINT), dom.solution(p1)),
             (hinted_prompt(p2.prompt, p2.answer, HINT), "hint\n" + dom.solution(p2))]
    tok = build_tokenizer()
    model = build_model(ModelConfig(hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=2), tok)
    model, _ = train(model, tok, pairs, TrainConfig(steps=80, batch_size=3, lr=1e-2, warmup=3))
    path = save(model.eval(), tok, tmp_path_factory.mktemp("model") / "taught")
    cfg = LoopConfig.model_validate(CONFIG | {"bootstrap": {"base_model": str(path)}})
    return World(cfg, problems, HFBackend(model, tok, batch_size=8, device="cpu"))


def _domains():
    return {"addition": get_domain("addition")}


def _normal_rows(world: World) -> list[dict]:
    portfolio = [PortfolioEntry(Sampler(**GREEDY), 1.0)]
    return generate_rows(world.backend, world.problems, portfolio, 1, round=1, seed=0, model_id="m", config_hash="h")


def _hinted_rows(world: World, rows: list[dict], samples: int = 1) -> list[dict]:
    cfg = RationalizeConfig(enabled=True, samples=samples, temperature=0.0, hint=HINT)
    return rationalize(world.backend, world.problems, rows, _domains(), cfg, base=Sampler(**GREEDY), round=1, seed=0,
                       model_id="m", config_hash="h")


def test_only_unsolved_problems_are_retried_and_kept_ones_pass_the_original_problem(world):
    rows = _normal_rows(world)
    by_id = {p.id: p for p in world.problems}
    dom = get_domain("addition")
    solved = {r["problem_id"] for r in rows if dom.verify(by_id[r["problem_id"]], r["completion"]).correct}
    hinted = _hinted_rows(world, rows, samples=2)
    assert solved and {r["problem_id"] for r in hinted} == set(by_id) - solved == {p.id for p in unsolved(world.problems, rows, _domains())}
    for r in hinted:  # generate_rows' shape; the problem's own prompt; recorded settings and seed
        pid, j = r["problem_id"], int(r["row_id"].rsplit("-h", 1)[1])
        assert set(r) == set(rows[0]) | {"rationalized"} and r["rationalized"] is True and r["sampler"] == "rationalize"
        assert r["row_id"] == f"r1-{pid}-h{j}" and r["seed"] == sample_seed(0, 1, pid, "rationalize", j)
        assert r["prompt"] == by_id[pid].prompt and r["reference"] == by_id[pid].answer
        settings = json.loads(r["sampler_settings"])
        assert settings["hint"] == HINT and settings["temperature"] == 0.0 and settings["max_new_tokens"] == 24
    assert len(hinted) == 2 * len(set(by_id) - solved)
    table, _ = verify_table(to_table(rows + hinted), _domains(), by_id, VerifyConfig())
    out = table.to_pylist()
    assert [r["rationalized"] for r in out] == [False] * len(rows) + [True] * len(hinted)
    kept = [r for r in out if r["rationalized"] and r["kept"]]
    assert kept, "the taught model solves one problem from its hint"
    assert all(dom.verify(by_id[r["problem_id"]], r["completion"]).correct for r in kept)


def test_a_completion_that_mentions_the_hint_is_dropped_as_hint_leak(world):
    hinted = _hinted_rows(world, _normal_rows(world))
    by_id = {p.id: p for p in world.problems}
    leaky = [r["row_id"] for r in hinted if "hint" in r["completion"].lower()]
    assert leaky, "the taught model cites the hint for one problem"
    # Even where its answer would be kept (steps unchecked, or no verifier at all), it is dropped.
    for cfg in (VerifyConfig(), VerifyConfig(require_steps_ok=False), VerifyConfig(keep_all=True)):
        table, metrics = verify_table(to_table(hinted), _domains(), by_id, cfg)
        dropped = [r["row_id"] for r in table.to_pylist() if r["drop_reason"] == "hint_leak"]
        assert dropped == leaky and metrics.drops["hint_leak"] == len(leaky)
        assert not any(r["kept"] for r in table.to_pylist() if r["row_id"] in leaky)
    table, _ = verify_table(to_table(hinted), _domains(), by_id, VerifyConfig(require_steps_ok=False))
    assert all(r["correct"] for r in table.to_pylist() if r["row_id"] in leaky)  # right answer, dropped anyway
    # Only hinted rows are checked: the same text sampled without a hint is judged on its verdict.
    plain = [r | {"rationalized": False} for r in hinted if r["row_id"] in leaky]
    table, _ = verify_table(to_table(plain), _domains(), by_id, VerifyConfig(require_steps_ok=False))
    assert table["drop_reason"].to_pylist() == [None] * len(plain)
    # Quoting a sentence of the hint leaks it too, without the word.
    assert leaks_hint("as we know the right total is 13", "{prompt}\nThe right total is {answer}.")
    assert not leaks_hint("4+3+0=7\n>7", DEFAULT_HINT)


def test_no_hint_reaches_a_training_row(world, tmp_path):
    cfg = world.cfg
    cat = Catalog(tmp_path / "home")
    bootstrap(cat, cfg)
    metrics = data_steps(cat, cfg, 1, incumbent(cat, "star")).metrics
    rows = cat.read_table("star@1").to_pylist()
    prompts = {p.id: p.prompt for p in world.problems}
    assert {r["problem_id"] for r in rows} == set(prompts)  # the round the model was taught for
    hinted = [r for r in rows if r["rationalized"]]
    assert hinted and all(r["prompt"] == prompts[r["problem_id"]] for r in hinted)
    assert all(r["rationalized"] is False for r in rows if r["sampler"] != "rationalize")
    assert "hint_leak" in {r["drop_reason"] for r in hinted}
    # Counted apart in the round's metrics, as the catalog keeps them.
    stored = cat.resolve("star@1")["metrics"]
    assert stored["rationalized_generated"] == metrics["rationalized_generated"] == len(hinted)
    assert stored["rationalized_kept"] == metrics["rationalized_kept"] == sum(r["kept"] for r in hinted) >= 1
    # The training set: the kept hinted rows are in it, their prompts plain, no hint anywhere.
    table, _ = trainset.training_rows(cat, cfg, 1)
    assert any(table["rationalized"].to_pylist())
    for prompt, completion in trainset.training_pairs(table):
        assert "hint" not in prompt.lower() and "hint" not in completion.lower()
        assert prompt in prompts.values() and "(Hint:" not in prompt + completion


def test_config_rejects_a_hint_without_its_slots_in_one_line(tmp_path):
    assert load_config().generation.rationalize.enabled is False  # off by default
    bad = tmp_path / "bad.yaml"
    bad.write_text('generation: {rationalize: {enabled: true, hint: "{prompt} Try again."}}\n')
    with pytest.raises(ConfigError, match=r"generation\.rationalize\.hint: must contain \{prompt\} and \{answer\}") as e:
        load_config(bad)
    assert "\n" not in str(e.value)
    bad.write_text("generation: {rationalize: {samples: 0, temperature: -1}}\n")
    with pytest.raises(ConfigError, match="rationalize.samples.*rationalize.temperature"):
        load_config(bad)



def test_a_hinted_reply_that_only_states_the_answer_is_dropped(tmp_path):
    """Given the answer, a chat model often just states it ("The correct answer is 85."): that
    row restates the hint and is dropped as `unreasoned_hint`; a hinted reply whose written
    equation reaches the answer is kept, and an unhinted reply is judged on its verdict alone."""
    from synthloop.domains.file import FileDomain

    path = tmp_path / "sums.jsonl"
    path.write_text("".join(json.dumps({"question": f"Add {a} and 32.", "answer": str(a + 32)}) + "\n"
                            for a in range(50, 60)))
    dom = FileDomain(str(path), equations=True)
    (p,) = dom.make_problems(1, seed=0, difficulties=[1])
    a, total = p.prompt.split()[1], int(p.answer)
    replies = [f"The correct answer is {total}.", f"{a} + 32 = {total}", f"{a} + 32 = {total + 1}, so {total}"]
    rows = [{"problem_id": p.id, "completion": c, "rationalized": h, "sampler_settings": json.dumps({"hint": HINT})}
            for h in (True, False) for c in replies]

    def reasons(cfg):
        table, metrics = verify_table(to_table(rows), {p.domain: dom}, {p.id: p}, cfg)
        return table["drop_reason"].to_pylist(), metrics

    got, metrics = reasons(VerifyConfig())
    assert got == ["unreasoned_hint", None, "static_step", None, None, "static_step"]  # a false equation
    assert metrics.drops["unreasoned_hint"] == 1
    assert reasons(VerifyConfig(hinted_need_steps=False))[0][0] is None
