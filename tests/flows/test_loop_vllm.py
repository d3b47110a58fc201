"""A loop round with `backend: vllm` through Prefect (the CPU build, `.venv-vllm`): the engine
starts in its own process, evaluates round 0's model and generates round 1 with it, and is gone
before fine-tuning starts; the held-out evaluation samples through vLLM too."""

import copy
import os

import pyarrow.parquet as pq
from synthloop.flows.round import loop_flow
from synthloop.generators.vllm import VLLMBackend
from synthloop.loop.config import LoopConfig
from synthloop.warehouse import Catalog

from ..conftest import TINY_CONFIG


def test_a_round_with_the_vllm_backend(prefect_harness, home, monkeypatch):
    raw = copy.deepcopy(TINY_CONFIG)
    raw["generation"] |= {"backend": "vllm", "vllm": {"enforce_eager": True}}
    raw["bootstrap"]["model"]["hidden_size"] = 64  # head size 32: the CPU build's smallest
    cfg = LoopConfig.model_validate(raw)
    engines = []
    real = VLLMBackend.from_path.__func__

    def recorded(cls, *args, **kw):  # the real engine, remembered so the test can look at it
        engines.append(real(cls, *args, **kw))
        return engines[-1]

    monkeypatch.setattr(VLLMBackend, "from_path", classmethod(recorded))
    rows = loop_flow(str(home), cfg)
    assert [r["round"] for r in rows] == [0, 1] and rows[1]["generated"] == 16 * 3
    # One engine evaluated round 0's model and then generated round 1 with it (one call each: the
    # whole portfolio in one LLM.generate); it was gone before fine-tuning. A candidate, if one was
    # trained, was evaluated on an engine of its own, ended with the loop.
    assert len(engines) == (2 if rows[1]["kept"] else 1) and engines[0].engine_calls == 2
    for e in engines:
        assert e.proc is None
        try:
            os.kill(e.info["pid"], 0)
            raise AssertionError("an engine's process outlived its stage")
        except ProcessLookupError:
            pass
    t = pq.read_table(Catalog(home).resolve("tiny@1")["path"]).to_pylist()
    assert len(t) == 48 and {r["sampler"] for r in t} == {"cool", "warm", "hot"}
    assert all(r["model_id"] == "tiny-m0" and 1 <= r["n_tokens"] <= 96 for r in t)
    cat = Catalog(home)
    if rows[1]["kept"]:  # the engine is gone, so fine-tuning had the memory; the gate decided
        assert cat.model("tiny-m1")["status"] in ("promoted", "rejected")
    else:  # a random tiny model may keep nothing: recorded, no fine-tune, the incumbent stays
        assert cat.model("tiny-m1") is None and rows[1]["model"] == "tiny-m0"
        assert rows[1]["reason"].startswith("no kept rows")
