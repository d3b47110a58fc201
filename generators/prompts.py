"""Prompt variants: the same problem phrased or formatted differently, one more axis of a sampler.

A variant is a template with a `{prompt}` slot: either one of the named ones below or the user's
own string (any text containing `{prompt}`). The row keeps the problem's own prompt; the sampler's
settings keep the variant, so the exact text the model saw can always be rebuilt with `render`.
The built-in model knows only the plain format: variants are for models that read instructions.
A chat model's prompt then goes through its chat template (`prompt_format`, below).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass

from synthloop.errors import UserError

SLOT = "{prompt}"

VARIANTS = {
    "plain": SLOT,  # the domain's own format, as the model was trained on it
    "instruct": "Solve the following problem. Show your work, then give the final answer.\n\n" + SLOT,
    "step_by_step": SLOT + "\nLet's think step by step.\n",
}


def check_variant(variant: str) -> str:
    """`variant` if it is a known name or a template with a `{prompt}` slot, else a ValueError.

    >>> check_variant("plain"), check_variant("Q: {prompt}")
    ('plain', 'Q: {prompt}')
    """
    if variant not in VARIANTS and SLOT not in variant:
        raise ValueError(
            f"unknown prompt variant {variant!r}: use one of {', '.join(VARIANTS)} "
            f"or a template containing {SLOT}"
        )
    return variant


def render(prompt: str, variant: str = "plain") -> str:
    """The text the model sees for `prompt` under `variant`.

    >>> render("12+3=", "plain"), render("12+3=", "Q: {prompt} A:")
    ('12+3=', 'Q: 12+3= A:')
    """
    template = VARIANTS.get(check_variant(variant), variant)
    return template.replace(SLOT, prompt)  # not str.format: prompts may hold braces


# -- chat templates --------------------------------------------------------------------------
# `generation.prompt_format`: how the rendered prompt becomes the model's input text.
#   auto  the model's chat template when its tokenizer has one (instruction-tuned models), else raw
#   chat  the chat template, and an error when the tokenizer has none
#   raw   the text as it is (the built-in model, base models)
# Applied here, where prompts are built, so every backend (transformers, vLLM, a server) gets the
# same finished text; the held-out evaluation and fine-tuning format their prompts the same way.
PROMPT_FORMATS = ("auto", "chat", "raw")


class PromptFormatError(UserError, ValueError):
    """`prompt_format: chat` for a model whose tokenizer has no chat template."""


@dataclass(frozen=True)
class PromptFormat:
    """A rendered prompt -> the model's input text. `name` ("raw" or "chat") is recorded per row."""

    name: str
    apply: Callable[[str], str] | None = None

    def __call__(self, text: str) -> str:
        return text if self.apply is None else self.apply(text)


RAW = PromptFormat("raw")


def prompt_format(model_path, mode: str = "auto") -> PromptFormat:
    """The prompt format for the model folder at `model_path` under `mode` (see PROMPT_FORMATS)."""
    if mode not in PROMPT_FORMATS:
        raise PromptFormatError(f"prompt_format {mode!r}: use one of {', '.join(PROMPT_FORMATS)}")
    if mode == "raw":
        return RAW
    return _chat_format(str(model_path), mode == "chat")


@functools.lru_cache(maxsize=8)
def _chat_format(path: str, required: bool) -> PromptFormat:
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(path)  # the tokenizer only: no weights are read
    if not getattr(tok, "chat_template", None):
        if required:
            raise PromptFormatError(f"prompt_format chat: the tokenizer in {path} has no chat template; "
                                    "use prompt_format auto or raw")
        return RAW
    # Templates usually write the BOS token as text; encoding adds it again, so it is left out here.
    adds_bos = tok.bos_token is not None and tok("x")["input_ids"][:1] == [tok.bos_token_id]
    bos = tok.bos_token if adds_bos else None

    def chat(text: str) -> str:
        out = tok.apply_chat_template([{"role": "user", "content": text}], tokenize=False, add_generation_prompt=True)
        return out[len(bos):] if bos and out.startswith(bos) else out

    return PromptFormat("chat", chat)
