"""The default precision: bf16 only where the hardware computes it natively, and bf16 greedy answers
agree with fp32's on a fixed set (the check that lets `auto` pick bf16 where it is fast)."""

import torch
from synthloop.domains import Addition
from synthloop.generators.base import Request, Sampler
from synthloop.generators.choose import choose, cpu_flags, native_bf16, pick_dtype
from synthloop.generators.hf import HFBackend

from .conftest import lively_builtin


def test_auto_picks_bf16_only_where_the_cpu_has_it(tmp_path):
    assert pick_dtype("auto", "cpu", frozenset({"avx2", "fma"}))[0] == "float32"
    assert pick_dtype("auto", "cpu", frozenset({"avx2", "avx512_bf16"}))[0] == "bfloat16"
    assert pick_dtype("auto", "cpu", frozenset({"amx_bf16", "amx_tile"}))[0] == "bfloat16"
    assert pick_dtype("auto", "cuda", frozenset())[0] == "bfloat16"
    assert pick_dtype("float32", "cuda")[0] == "float32"  # a configured dtype is kept
    # on this machine: what its own flags say, with the reason written out
    here = choose("auto", "auto", lively_builtin(tmp_path / "m"), "cpu")
    assert here.backend == "transformers" and "starts faster" in here.reason  # the built-in model's size
    assert here.dtype == ("bfloat16" if native_bf16("cpu", cpu_flags()) else "float32")


def test_bf16_greedy_answers_agree_with_fp32(tmp_path):
    """On a fixed set of 64 prompts, greedy replies in bf16 equal fp32's but for a few near-ties.

    The model's weights are random at a scale that makes replies differ from prompt to prompt
    (tests/generators/conftest.py), so their logit margins are smaller than a trained model's: the
    tolerance here (8 of 64 whole replies may differ; 57 agreed when this was written) bounds what
    bf16 does to a model with close calls; `benchmarks/real_speed.py` measures it on a real model.
    Deterministic: the same kernels on the same inputs, whatever the machine's load."""
    from synthloop.training.model import load

    m, tok = load(lively_builtin(tmp_path / "m"))
    held = Addition(format="msd").make_problems(64, seed=99, difficulties=[1, 2, 3])
    reqs = [Request(p.prompt, Sampler("g", temperature=0.0, max_new_tokens=24), 0) for p in held]
    fp32 = HFBackend(m, tok, batch_size=64).generate(reqs)
    bf16 = HFBackend(m.to(torch.bfloat16), tok, batch_size=64).generate(reqs)
    assert len({c.text for c in fp32}) > 16  # replies that differ: agreement means something
    assert sum(a.text == b.text for a, b in zip(fp32, bf16)) >= 56
