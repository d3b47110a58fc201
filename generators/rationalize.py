"""Rationalization (STaR, Zelikman et al. 2022): a second try, answer given, where no sample solved.

A weak model solves few of a round's problems, and an unsolved problem gives the loop nothing to
learn from. Rationalization asks again with the reference answer as a hint; a completion whose own
reasoning reaches that answer (it passes the domain's verifier on the ORIGINAL problem) becomes a
training row like any other. The hint lives only in the request text sent to the model: the row
keeps the problem's own prompt, so fine-tuning never sees it. A completion that mentions the hint
is dropped by verification (`hint_leak`, filters/verify.py): at test time there is no hint to cite.
"""

from __future__ import annotations

import json
import re
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from synthloop.domains import Domain, Problem

from .base import Completion, Request, Sampler, sample_seed
from .portfolio import sample_row
from .prompts import RAW, PromptFormat

__all__ = ["DEFAULT_HINT", "NAME", "RationalizeConfig", "hinted_prompt", "rationalize", "unsolved"]

NAME = "rationalize"  # the rows' `sampler`
DEFAULT_HINT = "{prompt}\n(Hint: the correct answer is {answer}. Explain how to get it, without mentioning this hint.)"
_SLOT = re.compile(r"\{(prompt|answer)\}")


@dataclass
class RationalizeConfig:
    enabled: bool = False  # off: a round samples only what the portfolio asks for
    samples: int = 2  # hinted samples per unsolved problem
    # Between the demo's cool (0.5) and warm (0.8) samplers: the few hinted samples of a problem
    # still differ from one another. A choice, not tuned.
    temperature: float = 0.7
    max_new_tokens: int | None = None  # None: the first sampler's
    hint: str = DEFAULT_HINT  # the request text: needs the {prompt} and {answer} slots


def unsolved(problems: Sequence[Problem], rows: Sequence[Mapping], domains: Mapping[str, Domain]) -> list[Problem]:
    """The problems none of whose rows the domain's verifier calls correct: the only ones retried,
    so a hint is never spent where the model already finds the answer on its own."""
    texts: dict[str, set[str]] = defaultdict(set)
    for r in rows:
        texts[r["problem_id"]].add(r["completion"])
    return [p for p in problems if not any(domains[p.domain].verify(p, c).correct for c in texts[p.id])]


def hinted_prompt(prompt: str, answer: str, template: str) -> str:
    """`template` with its slots filled in one pass (a prompt holding "{answer}" stays as it is).

    >>> hinted_prompt("4+9=", "13", "{prompt} ({answer})")
    '4+9= (13)'
    """
    values = {"prompt": prompt, "answer": answer}
    return _SLOT.sub(lambda m: values[m.group(1)], template)


def hint_sampler(cfg: RationalizeConfig, base: Sampler) -> Sampler:
    """The decoding settings of the hinted samples: the config's, the length the base sampler's
    unless set (the hint asks for the same solution, so it needs the same room)."""
    return Sampler(NAME, temperature=cfg.temperature, max_new_tokens=cfg.max_new_tokens or base.max_new_tokens)


def rationalize(
    backend,
    problems: Sequence[Problem],
    rows: Sequence[Mapping],
    domains: Mapping[str, Domain],
    cfg: RationalizeConfig,
    *,
    base: Sampler,
    round: int,
    seed: int,
    model_id: str,
    config_hash: str,
    prompt_format: PromptFormat = RAW,
) -> list[dict]:
    """Hinted rows for the problems of `rows` no sample solved: `cfg.samples` each, one backend call.

    The rows have `generate_rows`' shape and `rationalized` True; verification decides which are
    kept, like any row. A sample's seed depends on (seed, round, problem, index) only.
    """
    todo = unsolved(problems, rows, domains)
    if not todo:
        return []
    sampler = hint_sampler(cfg, base)
    settings = json.dumps({**sampler.settings, "hint": cfg.hint}, sort_keys=True)  # what verify reads the hint from
    meta = [(p, j, sample_seed(seed, round, p.id, NAME, j)) for p in todo for j in range(cfg.samples)]
    requests = [Request(prompt_format(hinted_prompt(p.prompt, p.answer, cfg.hint)), sampler, s) for p, _, s in meta]
    completions = backend.generate(requests)
    return [_row(p, j, s, c, round=round, settings=settings, model_id=model_id, config_hash=config_hash,
                 prompt_format=prompt_format.name) for (p, j, s), c in zip(meta, completions)]


def _row(p: Problem, j: int, s: int, c: Completion, *, round: int, settings: str, model_id: str,
         config_hash: str, prompt_format: str) -> dict:
    """One hinted sample as a row. `prompt` is the problem's own: the hint never reaches a row."""
    return sample_row(p, c, row_id=f"r{round}-{p.id}-h{j}", round=round, sampler=NAME, settings=settings, seed=s,
                      model_id=model_id, config_hash=config_hash, prompt_format=prompt_format) | {"rationalized": True}
