"""The llama.cpp path of benchmarks/real_speed.py, run by an interpreter that has `llama_cpp`
(llama-cpp-python), so the project's own venv needs no llama.cpp:

    /path/to/python benchmarks/_llamacpp_worker.py JOB.json RESULT.json

JOB holds the GGUF path, the prompts as token ids (the chat-formatted text that every other path
gets, tokenized by the same tokenizer: the GGUF's own vocabulary), the sampling settings and the
thread count. This file imports nothing from synthloop. llama-cpp-python decodes one sequence at a
time (batch 1): each prompt is one `create_completion` call. RESULT gets the timings, the
generated token count (the end-of-sequence token counted, as every other path counts it) and the
greedy replies, plus this process's peak RSS.
"""

import json
import sys
import time


def peak_rss_mb() -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def main(job_path: str, out_path: str) -> int:
    with open(job_path) as f:
        job = json.load(f)
    import llama_cpp
    from llama_cpp import Llama

    t = time.perf_counter()
    llm = Llama(model_path=job["gguf"], n_ctx=job["n_ctx"], n_threads=job["threads"],
                n_threads_batch=job["threads"], n_batch=512, seed=job["seed"], verbose=False)
    start_s = time.perf_counter() - t
    prompts = job["prompt_ids"]
    eos = llm.token_eos()

    def complete(ids, max_tokens, temperature, seed):
        out = llm.create_completion(prompt=ids, max_tokens=max_tokens, temperature=temperature, top_p=1.0,
                                    top_k=0, min_p=0.0, typical_p=1.0, repeat_penalty=1.0, seed=seed)
        choice = out["choices"][0]
        # completion_tokens leaves out the end-of-sequence token that stopped it: count it, as the
        # transformers and vLLM paths do.
        return choice["text"], out["usage"]["completion_tokens"] + (choice["finish_reason"] == "stop")

    complete(prompts[0], 8, job["temperature"], job["seed"])  # warm-up: first-call costs off the clock
    t = time.perf_counter()
    tokens = 0
    for i, ids in enumerate(prompts):
        tokens += complete(ids, job["max_tokens"], job["temperature"], job["seed"] + i)[1]
    seconds = time.perf_counter() - t
    greedy = [complete(ids, job["max_tokens"], 0.0, job["seed"])[0] for ids in prompts[: job["greedy"]]]
    result = {"start_s": start_s, "seconds": seconds, "tokens": tokens, "prompts": len(prompts),
              "greedy_texts": greedy, "peak_rss_mb": peak_rss_mb(), "threads": job["threads"],
              "llama_cpp": llama_cpp.__version__, "eos": eos}
    with open(out_path, "w") as f:
        json.dump(result, f)
    return 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:3]))
