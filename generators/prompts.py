"""Prompt variants: the same problem phrased or formatted differently, one more axis of a sampler.

A variant is a template with a `{prompt}` slot: either one of the named ones below or the user's
own string (any text containing `{prompt}`). The row keeps the problem's own prompt; the sampler's
settings keep the variant, so the exact text the model saw can always be rebuilt with `render`.
The built-in model knows only the plain format: variants are for models that read instructions.
"""

from __future__ import annotations

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
