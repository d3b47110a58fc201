"""Noise for experiments: corrupt worked solutions the two ways the literature tells apart.

- static noise: the trace is computed right, then some step lines are damaged (a digit flipped)
  or dropped; later lines and the answer stay right, so the damage is local.
- dynamic noise: a step is computed wrong (a digit of its result) and the computation goes on
  from the wrong value, so the error propagates into later steps and the answer.

Both take a rate: the chance that each step is hit. The verifier tells the two apart (`static`
vs `dynamic` error kinds); `tests/domains/test_noise.py` checks that on thousands of cases.

>>> import random
>>> from synthloop.domains import get_domain
>>> d = get_domain("gcd")
>>> p = d.make_problems(1, seed=3, difficulties=[2])[0]
>>> text, hit = dynamic_noise(d, p, rate=1.0, rng=random.Random(0))
>>> d.verify(p, text).error_kind
'dynamic'
"""

from __future__ import annotations

import random

from .base import Problem
from .chain import split_completion


def flip_digit_in_line(line: str, rng: random.Random) -> str | None:
    """`line` with one digit changed, never into a leading zero; None when it has no digit."""
    spots = []
    for i, c in enumerate(line):
        if not c.isdigit():
            continue
        leading = (i == 0 or not line[i - 1].isdigit()) and i + 1 < len(line) and line[i + 1].isdigit()
        choices = [d for d in "0123456789" if d != c and not (leading and d == "0")]
        spots.append((i, choices))
    if not spots:
        return None
    i, choices = rng.choice(spots)
    return line[:i] + rng.choice(choices) + line[i + 1 :]


def corrupt_line(solution: str, i: int, rng: random.Random, drop: bool = False) -> str:
    """Static noise at step line `i`: flip one digit in it, or drop it. The answer line stays."""
    lines, answer = split_completion(solution)
    if drop:
        lines = lines[:i] + lines[i + 1 :]
    else:
        lines = [*lines]
        lines[i] = flip_digit_in_line(lines[i], rng) or lines[i]
    return "\n".join([*lines, *([">" + answer] if answer is not None else [])])


def static_noise(solution: str, rate: float, rng: random.Random, drop_share: float = 0.5) -> tuple[str, list[int]]:
    """Each step line, with probability `rate`, gets a flipped digit or (`drop_share` of the
    time) is dropped, after the trace is computed. Returns the text and the hit line indexes."""
    lines, answer = split_completion(solution)
    out, hit = [], []
    for i, line in enumerate(lines):
        if rng.random() >= rate:
            out.append(line)
            continue
        hit.append(i)
        if rng.random() >= drop_share:
            out.append(flip_digit_in_line(line, rng) or line)
    return "\n".join([*out, *([">" + answer] if answer is not None else [])]), hit


def dynamic_noise(domain, problem: Problem, rate: float, rng: random.Random, variant: int = 0,
                  tries: int = 20) -> tuple[str, list[int]]:
    """Each step of the reference computation goes wrong with probability `rate`, and the work
    goes on from the wrong value. Draws again (up to `tries`) until the answer changes, so the
    error does reach the answer. Returns the text and the indexes of the wrong steps."""
    for _ in range(tries):
        n = len(split_completion(domain.solution(problem, variant))[0])
        faults = {i for i in range(n) if rng.random() < rate}
        text = _traced(domain, problem, variant, faults, rng)
        changed = split_completion(text)[1] != split_completion(domain.solution(problem, variant))[1]
        if not faults or (changed and _all_wrong(domain, problem, text, faults)):
            return text, sorted(faults)
    return domain.solution(problem, variant), []


def corrupt_step(domain, problem: Problem, i: int, rng: random.Random, variant: int = 0, tries: int = 20) -> str | None:
    """Dynamic noise at step `i` only; None when no wrong value at `i` changes the answer."""
    right = split_completion(domain.solution(problem, variant))[1]
    for _ in range(tries):
        text = _traced(domain, problem, variant, {i}, rng)
        if split_completion(text)[1] != right and _all_wrong(domain, problem, text, {i}):
            return text
    return None


def _all_wrong(domain, problem: Problem, text: str, faults) -> bool:
    """Is every faulty line an invalid step? A fault that lands on another valid step is no error."""
    steps = getattr(domain, "steps", None)
    if steps is None:
        return True
    state = steps.start(problem)
    for i, line in enumerate(split_completion(text)[0]):
        nxt = steps.apply(state, steps.parse(line)) if steps.parse(line) is not None else None
        if i in faults and nxt is not None:
            return False
        state = nxt if nxt is not None else state
    return True


def _traced(domain, problem, variant, faults, rng) -> str:
    lines, answer = domain.trace(problem, variant, faults=faults, rng=rng)
    return "\n".join([*lines, ">" + answer])
