import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from synthloop.domains import Addition
from synthloop.training import model as model_lib
from synthloop.training.sft import Interrupted, TrainConfig, train

SMALL = model_lib.ModelConfig(hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=2)


def _setup():
    d = Addition()
    tok = model_lib.build_tokenizer()
    pairs = [(p.prompt, d.solution(p)) for p in d.make_problems(200, seed=0, difficulties=[1, 2])]
    return tok, pairs


def test_interrupted_training_resumes_to_the_same_weights(tmp_path):
    tok, pairs = _setup()
    cfg = TrainConfig(steps=24, lr=3e-3, warmup=4, batch_size=16, checkpoint_every=5)
    straight, s1 = train(model_lib.build_model(SMALL, tok, seed=1), tok, pairs, cfg)

    resumed_model = model_lib.build_model(SMALL, tok, seed=1)
    with pytest.raises(Interrupted):
        train(resumed_model, tok, pairs, cfg, checkpoint_dir=tmp_path, stop_after=13)
    assert (tmp_path / "train_state.pt").exists()
    # A new process would start from a fresh model object: the checkpoint restores it.
    fresh = model_lib.build_model(SMALL, tok, seed=1)
    fresh, s2 = train(fresh, tok, pairs, cfg, checkpoint_dir=tmp_path)
    assert s2["resumed_at"] == 13 and s1["resumed_at"] == 0
    for (k, a), (_, b) in zip(straight.state_dict().items(), fresh.state_dict().items()):
        assert torch.allclose(a, b, atol=1e-6), k
    assert not (tmp_path / "train_state.pt").exists()  # removed once training finished


def test_lora_trains_only_adapters_and_merges_back():
    tok, pairs = _setup()
    m = model_lib.build_model(SMALL, tok, seed=2)
    before = {k: v.clone() for k, v in m.state_dict().items()}
    merged, stats = train(m, tok, pairs, TrainConfig(steps=10, lr=1e-2, warmup=2, batch_size=16, lora_r=4))
    assert type(merged).__name__ == "SmolLM3ForCausalLM"  # a plain HF model again
    assert set(merged.state_dict()) == set(before)
    changed = [k for k, v in merged.state_dict().items() if not torch.equal(v, before[k])]
    # LoRA touches the linear layers only; embeddings and norms stay as they were.
    assert changed and all("proj" in k for k in changed)
    assert stats["loss_last"] < stats["loss_first"]


KILLED_MID_WRITE = """
import sys, torch
torch.set_flush_denormal(True)  # as tests/conftest.py does in this process
from tests.training.test_resume import SMALL, _setup
from synthloop.training import model as model_lib
from synthloop.training.sft import TrainConfig, train
tok, pairs = _setup()
cfg = TrainConfig(steps=24, lr=3e-3, warmup=4, batch_size=16, checkpoint_every=5)
train(model_lib.build_model(SMALL, tok, seed=1), tok, pairs, cfg, checkpoint_dir=sys.argv[1])
"""


def test_a_kill_inside_a_checkpoint_write_resumes_from_the_previous_checkpoint(tmp_path):
    tok, pairs = _setup()
    cfg = TrainConfig(steps=24, lr=3e-3, warmup=4, batch_size=16, checkpoint_every=5)
    straight, _ = train(model_lib.build_model(SMALL, tok, seed=1), tok, pairs, cfg)
    # The third checkpoint write (step 15) is killed after 20,000 bytes: the step-10 one stays.
    env = {**os.environ, "SYNTHLOOP_FAULT": "checkpoint-write:3:20000"}
    root = Path(__file__).resolve().parents[2]
    p = subprocess.run([sys.executable, "-c", KILLED_MID_WRITE, str(tmp_path)], env=env, cwd=root, check=False)
    assert p.returncode == -signal.SIGKILL
    partial, previous = tmp_path / "train_state.tmp", tmp_path / "train_state.pt"
    assert partial.stat().st_size == 20_000 < previous.stat().st_size  # it died inside the write
    with pytest.raises((RuntimeError, OSError)):  # torch says 'Invalid argument' or 'failed finding central directory'
        torch.load(partial, weights_only=False)  # torn, and the resume never reads it
    assert torch.load(previous, weights_only=False)["step"] == 10

    fresh, stats = train(model_lib.build_model(SMALL, tok, seed=1), tok, pairs, cfg, checkpoint_dir=tmp_path)
    assert stats["resumed_at"] == 10
    for (k, a), (_, b) in zip(straight.state_dict().items(), fresh.state_dict().items()):
        assert torch.allclose(a, b, atol=1e-6), k
    assert sorted(os.listdir(tmp_path)) == []  # the torn .tmp was overwritten, then both removed
