"""`synthloop init` and `synthloop run` with a model as a .gguf file, and a problem file with a
difficulty column (training/importer.py, flows/starter.py).

The GGUF is a tiny Llama taught for a few seconds to answer the file's questions in its chat
format, written as llama.cpp writes one (tests/tiny_gguf.py); nothing is downloaded.
"""

import hashlib
import json
from pathlib import Path

import pytest
import yaml
from synthloop.loop.config import load_config
from synthloop.warehouse import Catalog
from typer.testing import CliRunner

from synthloop.cli import app

from .tiny_gguf import teach, tiny_llama, write_gguf


def problems(n=24):
    """GSM8K-style rows whose answer is always 5 (a tiny model learns it in seconds), at
    difficulties 1, 2 and 3 (n / 3 each)."""
    names, things = ("Sam", "Ana", "Li", "Ben", "Mia"), ("pens", "cups", "keys", "hats", "cats")
    return [{"question": f"{names[i % 5]} has {1 + i % 4} {things[i // 5]}, gets {4 - i % 4} more. How many?",
             "answer": f"{1 + i % 4}+{4 - i % 4}=5\n#### 5", "difficulty": 1 + i % 3} for i in range(n)]


@pytest.fixture(scope="module")
def workspace(tmp_path_factory):
    root = tmp_path_factory.mktemp("init-models")
    rows = problems()
    (root / "graded.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    (root / "leveled.jsonl").write_text("".join(json.dumps({**r, "level": r.pop("difficulty")}) + "\n" for r in rows))
    (root / "plain.jsonl").write_text("".join(json.dumps({k: r[k] for k in ("question", "answer")}) + "\n" for r in rows))
    model = teach(tiny_llama(seed=0), [(r["question"], "#### 5") for r in rows])
    write_gguf(model, root / "tiny-chat.gguf")
    return root


def cli(*args):
    res = CliRunner().invoke(app, list(args))
    assert "Traceback" not in res.output, res.output
    return res


def test_init_imports_a_gguf_and_follows_the_difficulty_column(workspace, monkeypatch):
    monkeypatch.chdir(workspace)
    home = workspace / "home-init"
    res = cli("init", "--model", "tiny-chat.gguf", "--problems", "graded.jsonl", "--small", "--home", str(home),
              "--out", "graded.yaml")
    assert res.exit_code == 0, res.output
    sha = hashlib.sha256((workspace / "tiny-chat.gguf").read_bytes()).hexdigest()
    folder = home.resolve() / "models" / "imported" / f"tiny-chat-{sha[:12]}"
    assert "importing tiny-chat.gguf" in res.output and "chat template: yes" in res.output
    assert "difficulty 1: 8 rows, 2: 8, 3: 8" in res.output
    text = (workspace / "graded.yaml").read_text()
    assert f"# imported from {workspace / 'tiny-chat.gguf'} (sha256 {sha})" in text
    cfg = load_config(workspace / "graded.yaml")
    assert cfg.bootstrap.base_model == str(folder) and (folder / "model.safetensors").is_file()
    assert cfg.domains[0].knobs["difficulty_column"] == "difficulty"
    assert list(cfg.eval.difficulties) == [1, 2, 3] and sorted(cfg.generation.difficulty_weights) == [1, 2, 3]
    assert (cfg.curriculum.policy, cfg.curriculum.max_difficulty) == ("frontier", 3)
    # a pretrained model's fine-tune: at least 2 passes over the kept rows as they accumulate
    assert cfg.finetune.epochs == 2 and cfg.finetune.steps_for(1000) == 250 > cfg.finetune.train.steps

    # Again, with the column named: the file is not converted twice.
    res = cli("init", "--model", "tiny-chat.gguf", "--problems", "leveled.jsonl", "--small", "--home", str(home),
              "--out", "leveled.yaml", "--difficulty-column", "level")
    assert res.exit_code == 0, res.output
    assert "importing" not in res.output and "imported before" in res.output
    assert load_config(workspace / "leveled.yaml").domains[0].knobs["difficulty_column"] == "level"


def test_init_without_a_difficulty_column_is_difficulty_1(workspace, monkeypatch):
    monkeypatch.chdir(workspace)
    res = cli("init", "--model", "tiny-chat.gguf", "--problems", "plain.jsonl", "--small",
              "--home", str(workspace / "home-init"), "--out", "plain.yaml")
    assert res.exit_code == 0, res.output
    assert "difficulty 1: 24 rows (no difficulty column" in res.output
    cfg = load_config(workspace / "plain.yaml")
    assert "difficulty_column" not in cfg.domains[0].knobs and "curriculum:" not in (workspace / "plain.yaml").read_text()
    assert list(cfg.eval.difficulties) == [1] and cfg.generation.difficulty_weights == {1: 1.0}


def test_init_refuses_in_one_line(workspace, monkeypatch):
    monkeypatch.chdir(workspace)
    home = str(workspace / "home-refused")
    res = cli("init", "--model", "tiny-chat.gguf", "--problems", "graded.jsonl", "--difficulty-column", "hardness",
              "--home", home, "--out", "x.yaml")
    assert res.exit_code == 2 and len(res.output.strip().splitlines()) == 1, res.output
    assert "hardness" in res.output and "question, answer, difficulty" in res.output
    (workspace / "broken.gguf").write_bytes(b"GGUF" + bytes(40))
    res = cli("init", "--model", "broken.gguf", "--problems", "graded.jsonl", "--home", home, "--out", "x.yaml")
    assert res.exit_code == 2 and "not a readable GGUF file" in res.output and len(res.output.strip().splitlines()) == 1
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    res = cli("init", "--model", "someorg/some-model", "--problems", "graded.jsonl", "--home", home, "--out", "x.yaml")
    assert res.exit_code == 2 and "offline" in res.output and len(res.output.strip().splitlines()) == 1
    assert not (workspace / "x.yaml").exists() and not (workspace / "home-refused" / "models").exists()


def test_a_round_from_a_gguf_file(prefect_harness, workspace, monkeypatch):
    """bootstrap.base_model names the .gguf itself: round 0 imports it, round 1 fine-tunes and saves m1."""
    monkeypatch.chdir(workspace)
    gguf = workspace / "tiny-chat.gguf"
    cfg = {
        "name": "gg", "rounds": 1,
        "domains": [{"name": "file", "knobs": {"path": str(workspace / "graded.jsonl"), "prompt_column": "question",
                                               "checker": "pattern", "pattern": "####", "difficulty_column": "difficulty"}}],
        "bootstrap": {"base_model": str(gguf)},
        "generation": {"problems_per_round": 6, "samples_per_problem": 2, "batch_size": 12, "difficulty_weights": {1: 1.0},
                       "samplers": [{"name": "cool", "temperature": 0.6, "max_new_tokens": 8}]},
        "finetune": {"seed_replay": 0, "train": {"steps": 2, "batch_size": 4, "warmup": 0, "lr": 1e-4}},
        "eval": {"n_problems": 4, "difficulties": [1, 2, 3], "k": 1, "n_samples": 1, "max_new_tokens": 8},
        "diversity": {"embeddings": False},
    }
    (workspace / "gg.yaml").write_text(yaml.safe_dump(cfg))
    home = workspace / "home-run"
    res = cli("run", "-c", "gg.yaml", "--home", str(home))
    assert res.exit_code == 0, res.output
    cat = Catalog(home)
    m0 = cat.model("gg-m0")
    sha = hashlib.sha256(gguf.read_bytes()).hexdigest()
    train = m0["metrics"]["train"]
    assert (train["import_kind"], train["import_source"], train["import_sha256"]) == ("gguf", str(gguf), sha)
    assert m0["path"].startswith(str(home.resolve() / "models" / "imported"))
    assert [r["round"] for r in cat.rounds("gg")] == [0, 1]
    m1 = cat.model("gg-m1")  # fine-tuned from the imported folder, and saved: the save that used to fail
    assert m1 is not None and m1["parent"] == "gg-m0"
    assert (Path(m1["path"]) / "model.safetensors").is_file()


def test_budgets_spend_a_plain_number_round_on_many_problems():
    """Plain-number answers: one sample per problem, as many problems as the round has samples
    (a second sample of a solved problem is mostly the same reply again); worked solutions keep
    several samples per problem. The sample budget is the same either way."""
    from synthloop.loop.starter import budgets

    for small in (False, True):
        for gpu in (False, True):
            num = budgets({"rows": 3000, "checker": "numeric"}, small, gpu=gpu)
            worked = budgets({"rows": 3000, "checker": "pattern"}, small, gpu=gpu)
            assert num["k"] == (2 if gpu and not small else 1) and worked["k"] == 4  # 4000 samples, 2400 rows
            assert num["ppr"] * num["k"] == worked["ppr"] * worked["k"]
    assert budgets({"rows": 3000, "checker": "numeric"}, False, gpu=False)["ppr"] == 800
    few = budgets({"rows": 500, "checker": "numeric"}, False, gpu=False)  # 400 training rows
    assert (few["ppr"], few["k"]) == (400, 2)
