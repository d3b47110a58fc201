"""training/importer.py: a user's model as a .gguf file, a GGUF-converted or quantized folder, or a
hub id, made into a folder the loop can fine-tune and save -- or refused in one line.

The GGUF is written here (tests/tiny_gguf.py: a tiny Llama as llama.cpp writes one); nothing is
downloaded.
"""

import hashlib
import json
import os

import pytest
import torch
from synthloop.loop.config import ConfigError, load_config
from synthloop.training.importer import (
    ImportedModel,
    ModelImportError,
    resolve_model,
    source_problem,
)
from synthloop.training.model import load, save
from synthloop.training.sft import TrainConfig, train

from synthloop.errors import UserError

from ..tiny_gguf import CHAT, tiny_llama, tiny_tokenizer, write_gguf

PROMPTS = ["the cat", "#### 5", "What is 2 + 3?"]


@pytest.fixture(scope="module")
def original():
    return tiny_llama(seed=0)


@pytest.fixture(scope="module")
def gguf_file(tmp_path_factory, original):
    return write_gguf(original, tmp_path_factory.mktemp("gguf") / "tiny-chat.gguf")


@pytest.fixture(scope="module")
def imported(tmp_path_factory, gguf_file):
    home = tmp_path_factory.mktemp("home")
    return home, resolve_model(str(gguf_file), home)


def greedy(model, ids: list[int], n: int = 6) -> list[int]:
    with torch.no_grad():
        out = model.generate(torch.tensor([ids]), attention_mask=torch.ones(1, len(ids), dtype=torch.long),
                             max_new_tokens=n, do_sample=False, pad_token_id=2)
    return out[0, len(ids):].tolist()


def one_line(e: pytest.ExceptionInfo) -> str:
    msg = str(e.value)
    assert isinstance(e.value, UserError) and "\n" not in msg and "Traceback" not in msg, msg
    return msg


def test_gguf_becomes_a_dense_folder_with_the_same_outputs_that_trains_and_saves(imported, gguf_file, original, tmp_path):
    home, imp = imported
    sha = hashlib.sha256(gguf_file.read_bytes()).hexdigest()
    assert (imp.kind, imp.source, imp.sha256, imp.converted) == ("gguf", str(gguf_file), sha, True)
    assert imp.path == home.resolve() / "models" / "imported" / f"tiny-chat-{sha[:12]}"
    config = json.loads((imp.path / "config.json").read_text())
    assert "quantization_config" not in config and "gguf_file" not in json.dumps(config)
    meta = json.loads((imp.path / "synthloop.json").read_text())
    assert meta == {"source": str(gguf_file), "sha256": sha, "kind": "gguf", "gguf_file": "tiny-chat.gguf"}
    assert not [p for p in imp.path.parent.iterdir() if p.name.startswith(".staging")]

    model, tok = load(imp.path)
    ref = tiny_tokenizer()
    assert tok.chat_template == CHAT  # the chat template came along
    for text in PROMPTS:  # the same tokens, and the same greedy continuation as the model written
        ids = ref(text)["input_ids"]
        assert tok(text)["input_ids"] == ids
        assert greedy(model, ids) == greedy(original, ids)

    # What crashed round 1 before: the first save after fine-tuning a folder converted from GGUF.
    model, _ = train(model, tok, [("the cat", " sat"), ("2 + 3", " 5")], TrainConfig(steps=1, batch_size=2, warmup=0))
    save(model, tok, tmp_path / "m1")
    assert load(tmp_path / "m1")[0].config.to_dict().get("quantization_config") is None


def test_the_same_file_converts_once_and_a_changed_file_again(imported, gguf_file, tmp_path):
    home, first = imported
    stamp = (first.path / "model.safetensors").stat().st_mtime_ns
    again = resolve_model(str(gguf_file), home)
    assert (again.path, again.sha256, again.converted) == (first.path, first.sha256, False)
    assert (first.path / "model.safetensors").stat().st_mtime_ns == stamp

    changed = write_gguf(tiny_llama(seed=1), tmp_path / "tiny-chat.gguf")  # same name, new content
    other = resolve_model(str(changed), home)
    assert other.converted and other.sha256 != first.sha256 and other.path != first.path


@pytest.mark.parametrize("damage", ["truncated", "header only", "random bytes", "magic, then garbage", "empty"])
def test_a_corrupt_gguf_is_one_line_and_leaves_nothing(gguf_file, tmp_path, damage):
    data = gguf_file.read_bytes()
    blob = {"truncated": data[: len(data) * 2 // 3], "header only": data[:64], "random bytes": os.urandom(4096),
            "magic, then garbage": b"GGUF" + os.urandom(200), "empty": b""}[damage]
    bad = tmp_path / "broken.gguf"
    bad.write_bytes(blob)
    home = tmp_path / "home"
    with pytest.raises(ModelImportError) as e:
        resolve_model(str(bad), home)
    assert one_line(e).startswith(f"not a readable GGUF file: {bad}")
    assert not (home / "models" / "imported").exists() or not list((home / "models" / "imported").iterdir())


def folder_with_quantization(tmp_path, quantization: dict):
    model, tok = tiny_llama(seed=2), tiny_tokenizer()
    folder = tmp_path / "converted"
    save(model, tok, folder)
    config = json.loads((folder / "config.json").read_text())
    (folder / "config.json").write_text(json.dumps(config | {"quantization_config": quantization}))
    return folder


def test_a_folder_converted_from_gguf_is_copied_without_the_key(tmp_path):
    folder = folder_with_quantization(tmp_path, {"quant_method": "gguf", "gguf_file": "x.gguf", "dequantize": False})
    assert source_problem(str(folder)) is None
    imp = resolve_model(str(folder), tmp_path / "home")
    assert imp.kind == "folder" and imp.converted and imp.path.parent == (tmp_path / "home" / "models" / "imported").resolve()
    assert "quantization_config" not in json.loads((imp.path / "config.json").read_text())
    assert "quantization_config" in json.loads((folder / "config.json").read_text())  # the user's folder is untouched
    model, tok = load(imp.path)
    save(model, tok, tmp_path / "saved")  # a model with the key refuses this
    again = resolve_model(str(folder), tmp_path / "home")  # copied once
    assert again == ImportedModel(imp.path, "folder", str(folder.resolve()), imp.sha256, converted=False)


def test_a_plain_folder_is_used_as_it_is(tmp_path):
    folder = tmp_path / "plain"
    save(tiny_llama(seed=3), tiny_tokenizer(), folder)
    imp = resolve_model(str(folder), tmp_path / "home")
    assert (imp.path, imp.kind, imp.converted, imp.sha256) == (folder.resolve(), "folder", False, None)
    assert not (tmp_path / "home").exists()


def test_another_quantization_is_refused_in_one_line(tmp_path):
    folder = folder_with_quantization(tmp_path, {"quant_method": "bitsandbytes", "load_in_4bit": True})
    with pytest.raises(ModelImportError) as e:
        resolve_model(str(folder), tmp_path / "home")
    msg = one_line(e)
    assert "bitsandbytes" in msg and "unquantized" in msg and ".gguf" in msg
    assert source_problem(str(folder)) == msg
    with pytest.raises(ConfigError) as e:  # refused when the config is read, not at the first save
        load_config(None, {"bootstrap": {"base_model": str(folder)}})
    assert "bitsandbytes" in str(e.value)


def test_a_hub_id_offline_says_so_and_how_to_pass_a_file(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ModelImportError) as e:
        resolve_model("HuggingFaceTB/SmolLM2-135M-Instruct", tmp_path / "home")
    msg = one_line(e)
    assert "offline" in msg and "HF_HUB_OFFLINE" in msg and ".gguf" in msg and "folder" in msg
    assert not (tmp_path / "home").exists()
    assert source_problem("HuggingFaceTB/SmolLM2-135M-Instruct") is None  # a config may name one


def test_what_is_no_model_is_one_line(tmp_path, gguf_file, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "notes.txt").write_text("hi")
    (tmp_path / "empty").mkdir()
    for source, says in [("missing/dir/model", "no such model folder"), ("notes.txt", "not a .gguf file"),
                         ("empty", "no config.json"), ("x" * 5000, "no such model folder")]:
        with pytest.raises(ModelImportError) as e:
            resolve_model(source, tmp_path / "home")
        assert says in one_line(e) and len(str(e.value)) < 400
        assert source_problem(source)  # the config check refuses it too
    # The config check takes each accepted form without loading anything.
    for ok in (str(gguf_file), "org/some-model"):
        assert load_config(None, {"bootstrap": {"base_model": ok}}).bootstrap.base_model == ok
    with pytest.raises(ConfigError) as e:
        load_config(None, {"bootstrap": {"base_model": str(tmp_path / "notes.txt")}})
    assert "bootstrap.base_model" in str(e.value) and "not a .gguf file" in str(e.value)
