"""A newcomer's day end to end: `synthloop init` for their own chat model and a GSM8K-style file,
`synthloop run`, then the training set of a round pulled like any version (issue 14).

The model is built here, nothing comes from a hub: a tiny random model with a character tokenizer
that has a chat template, taught for a few seconds to answer the file's questions in chat format
(what an instruction-tuned model brings), saved with save_pretrained.
"""

import json

import httpx
import pyarrow.parquet as pq
import pytest
from synthloop.generators.prompts import prompt_format
from synthloop.training.model import ModelConfig, build_model, build_tokenizer, save
from synthloop.training.sft import TrainConfig, train
from synthloop.warehouse import Catalog
from typer.testing import CliRunner

from synthloop.cli import app

CHAT = ("{% for m in messages %}<|{{ m.role }}|>{{ m.content }}\n{% endfor %}"
        "{% if add_generation_prompt %}<|assistant|>{% endif %}")


def problems(n=20):
    """GSM8K-style rows (`... #### 5`) whose answer is always 5: a model learns to say it in a few
    dozen steps, so round 1 surely keeps rows, and round 2's answers surely repeat round 1's."""
    names, things = ("Sam", "Ana", "Li", "Ben", "Mia"), ("pens", "cups", "keys", "hats")
    return [{"question": f"{names[i % 5]} has {1 + i % 4} {things[i // 5]}, gets {4 - i % 4} more. How many?",
             "answer": f"{1 + i % 4}+{4 - i % 4}=<<{1 + i % 4}+{4 - i % 4}=5>>5\n#### 5"} for i in range(n)]


@pytest.fixture(scope="module")
def workspace(tmp_path_factory):
    root = tmp_path_factory.mktemp("own-model")
    rows = problems()
    (root / "problems.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    tok = build_tokenizer(160)
    tok.chat_template = CHAT
    model = build_model(ModelConfig(hidden_size=48, intermediate_size=96, num_hidden_layers=2,
                                    num_attention_heads=2, max_length=160), tok, seed=0)
    save(model, tok, root / "my-model")  # the template travels in the tokenizer files
    fmt = prompt_format(root / "my-model", "chat")
    assert fmt.name == "chat" and fmt("Q?") == "<|user|>Q?\n<|assistant|>"
    pairs = [(fmt(r["question"]), "#### 5") for r in rows]
    model, _ = train(model, tok, pairs, TrainConfig(steps=40, lr=5e-3, warmup=4, batch_size=10))
    save(model, tok, root / "my-model")
    return root


def cli(*args):
    res = CliRunner().invoke(app, list(args))
    assert "Traceback" not in res.output, res.output
    return res


def test_init_run_and_pull_the_training_set(prefect_harness, workspace, monkeypatch):
    monkeypatch.chdir(workspace)
    home = workspace / "home"
    res = cli("init", "--model", "my-model", "--problems", "problems.jsonl", "--name", "mine", "--small")
    assert res.exit_code == 0, res.output
    assert "chat template: yes" in res.output and "pattern checker" in res.output and "synthloop run -c" in res.output
    text = (workspace / "synthloop.yaml").read_text()
    assert "base_model: " + str(workspace / "my-model") in text and "prompt_format: auto" in text
    assert cli("init", "--model", "my-model", "--problems", "problems.jsonl").exit_code == 2  # no overwrite

    res = cli("run", "-c", "synthloop.yaml", "--home", str(home))
    assert res.exit_code == 0, res.output
    assert "synthloop: round 1: gate: mine-m1" in res.output  # stage summaries reach a log file too
    cat = Catalog(home)
    rounds = {r["round"]: r for r in cat.rounds("mine")}
    # ... and Prefect's Logs tab (the API), the gate's reason included.
    from prefect.settings import PREFECT_API_URL

    logs = httpx.post(f"{PREFECT_API_URL.value()}/logs/filter", json={"limit": 200, "sort": "TIMESTAMP_DESC"}, timeout=30)
    messages = [x["message"] for x in logs.json()]
    assert any(m.startswith("round 1: gate: mine-m1") and rounds[1]["reason"] in m for m in messages), messages[:20]
    assert sorted(rounds) == [0, 1, 2]
    assert cat.model("mine-m0")["metrics"]["eval"]["prompt_format"] == "chat"  # evaluation asked as chat too
    t = pq.read_table(cat.resolve("mine@1")["path"]).to_pylist()
    assert {r["prompt_format"] for r in t} == {"chat"} and any(r["kept"] for r in t)
    # The training set of round 1 is a version: lineage model <- training set <- round version.
    train_v = cat.resolve("mine-train@1")
    assert train_v["parents"] == ["mine@1"] and train_v["metrics"]["for_model"] == "mine-m1"
    assert train_v["rows"] == cat.model("mine-m1")["metrics"]["train_examples"]
    assert (cat.model("mine-m1")["dataset"], cat.model("mine-m1")["dataset_version"]) == ("mine-train", 1)
    show = cli("datasets", "show", "mine@1", "--home", str(home)).output
    assert "used by" in show and "mine-train@1" in show and "mine-m1" in show
    res = cli("pull", "mine-train@1", "--out", str(workspace / "pulled"), "--home", str(home))
    assert res.exit_code == 0, res.output
    pulled = pq.read_table(res.output.strip().splitlines()[-1])
    assert pulled.num_rows == train_v["rows"] > 0 and set(pulled["round"].to_pylist()) == {1}
    # Round 2 ran from the promoted model (a round that keeps nothing is tests/flows/test_trainset.py's).
    assert rounds[2]["model_in"] == next(r["model_out"] for r in (rounds[1], rounds[0]) if r["promoted"])
    # A rerun moves on: nothing is redone, one more round is added.
    res = cli("run", "-c", "synthloop.yaml", "--home", str(home), "--rounds", "3")
    assert res.exit_code == 0, res.output
    assert [r["round"] for r in cat.rounds("mine")] == [0, 1, 2, 3]
    assert len(cat.versions("mine")) == 3
