"""Writing a decimal number in another base by repeated division.

Each line divides what is left by the base, `45/2=22r1`; the answer line lists the remainders in
the order the lines produced them (lowest digit first, as in `addition`), so the model copies
instead of reversing. One path: the division chain is fully determined.

>>> d = BaseConversion()
>>> p = Problem("x", "base", 2, "44 to base 2=", "101100")
>>> print(d.solution(p))
44/2=22r0
22/2=11r0
11/2=5r1
5/2=2r1
2/2=1r0
1/2=0r1
>001101
>>> d.verify(p, d.solution(p)).extracted
'101100'
"""

from __future__ import annotations

import random
import re

from .base import Problem
from .chain import Replayed, Steps, read_int
from .multiplication import flip_digit

_LINE = re.compile(r"^(\d{1,18})/(\d{1,2})=(\d{1,18})r(\d{1,2})$")
_PROMPT = re.compile(r"^(\d{1,18}) to base (\d{1,2})=$")


def _parse(line: str):
    m = _LINE.match(line)
    if m is None or any(len(g) > 1 and g[0] == "0" for g in m.groups()):
        return None
    return tuple(int(g) for g in m.groups())


def _apply(s, step):
    n, base, digits = s
    x, b, q, r = step
    if x != n or b != base or n == 0 or not 0 <= r < b or q * b + r != x:
        return None
    return (q, base, digits + str(r))


def _successors(s):
    n, base, digits = s
    if n:
        yield (n // base, base, digits + str(n % base))


def _final(s):
    n, _, digits = s
    return (digits[::-1].lstrip("0") or "0") if n == 0 and digits else None


def _read_answer(text: str) -> str | None:
    return read_int(text, reverse=True, max_len=80)  # lowest digit first, as the lines make them


def to_base(n: int, base: int) -> str:
    out = ""
    while n:
        out, n = str(n % base) + out, n // base
    return out or "0"


class BaseConversion(Replayed):
    name = "base"

    def __init__(self, bases: tuple[int, ...] = (2, 3, 5, 8)):
        bases = tuple(bases)
        if not bases or not all(isinstance(b, int) and 2 <= b <= 10 for b in bases):
            raise ValueError("base: bases must be a non-empty list of integers from 2 to 10")
        self.bases = bases
        self.steps = Steps(
            start=self._start, parse=_parse, apply=_apply, successors=_successors, final=_final,
            read_answer=_read_answer,
        )

    def knobs(self) -> dict:
        return {"digits": "the answer has difficulty + 1 digits in the target base",
                "bases": list(self.bases), "paths": "one (the division chain)"}

    def make_problems(self, n: int, seed: int, difficulties: list[int]) -> list[Problem]:
        rng = random.Random(seed)
        out = []
        for i in range(n):
            d = rng.choice(difficulties)
            b = rng.choice(self.bases)
            x = rng.randrange(b**d, b ** (d + 1))
            out.append(Problem(f"base-{seed}-{i}", self.name, d, f"{x} to base {b}=", to_base(x, b), {"n": x, "base": b}))
        return out

    @staticmethod
    def _start(p: Problem):
        m = _PROMPT.match(p.prompt)
        return (int(m[1]), int(m[2]), "") if m else (0, 2, "")

    def trace(self, problem: Problem, variant: int = 0, faults=(), rng=None) -> tuple[list[str], str]:
        """Step lines and answer; at each step index in `faults` the quotient or the remainder
        gets a wrong digit and the division goes on from it."""
        n, base, _ = self._start(problem)
        lines, digits = [], ""
        while n and len(lines) < 200:
            q, r = divmod(n, base)
            if len(lines) in faults:
                if rng.random() < 0.5 and q:
                    q = flip_digit(q, rng)
                else:
                    r = rng.choice([d for d in range(base) if d != r])
            lines.append(f"{n}/{base}={q}r{r}")
            digits, n = digits + str(r), q
        return lines, digits
