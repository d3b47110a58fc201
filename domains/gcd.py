"""Greatest common divisor by Euclid's steps or the binary method, in any mix.

Each line is the pair the gcd is still to be taken of, `a,b`, with a factor in front when the
binary method has taken out common twos: `2*(42,18)` means gcd = 2 * gcd(42, 18). Valid steps
from a pair: replace the larger by its remainder mod the smaller (Euclid) or by the difference
(Euclid by subtraction); halve both when both are even (the factor doubles); halve the even one
when the other is odd. The answer line comes when one number is 0: factor * the other. The
reference solver writes Euclid (`variant` 0) or the binary method (`variant` 1).

>>> d = Gcd()
>>> p = Problem("x", "gcd", 2, "gcd 84 36=", "12")
>>> print(d.solution(p, variant=0))
36,12
12,0
>12
>>> print(d.solution(p, variant=1))
2*(42,18)
4*(21,9)
4*(12,9)
4*(6,9)
4*(3,9)
4*(3,6)
4*(3,3)
4*(0,3)
>12
"""

from __future__ import annotations

import math
import random
import re

from .base import Problem
from .chain import Replayed, Steps, read_int
from .multiplication import flip_digit

N_VARIANTS = 2
_LINE = re.compile(r"^(?:(\d{1,18})\*\()?(\d{1,18}),(\d{1,18})(\))?$")


def _parse(line: str):
    m = _LINE.match(line)
    if m is None or (m[1] is None) != (m[4] is None):
        return None
    if any(g is not None and len(g) > 1 and g[0] == "0" for g in m.groups()[:3]):
        return None
    return int(m[1] or 1), int(m[2]), int(m[3])


def _key(s):
    return s[0], min(s[1], s[2]), max(s[1], s[2])


def _moves(s):
    """The states one valid step from (factor, a, b), as written by the reference solver."""
    m, a, b = s
    lo, hi = min(a, b), max(a, b)
    if lo == 0:
        return
    yield (m, lo, hi % lo)  # Euclid: the smaller first, then the remainder
    yield (m, hi - lo, lo)  # subtraction
    if a % 2 == 0 and b % 2 == 0:
        yield (2 * m, a // 2, b // 2)
    elif a % 2 == 0:
        yield (m, a // 2, b)
    elif b % 2 == 0:
        yield (m, a, b // 2)


def _apply(s, step):
    return step if any(_key(t) == _key(step) for t in _moves(s)) else None


def _final(s):
    m, a, b = s
    return str(m * max(a, b)) if min(a, b) == 0 else None


def _fmt(s) -> str:
    m, a, b = s
    return f"{a},{b}" if m == 1 else f"{m}*({a},{b})"


class Gcd(Replayed):
    name = "gcd"

    def __init__(self, max_digits: int = 12):
        if max_digits < 1:
            raise ValueError("gcd: max_digits must be >= 1")
        self.max_digits = max_digits
        self.steps = Steps(
            start=self._start, parse=_parse, apply=_apply, successors=_moves, final=_final,
            read_answer=read_int,
        )

    def knobs(self) -> dict:
        return {"digits": "both numbers have difficulty digits", "max_digits": self.max_digits,
                "paths": "Euclid (remainder or subtraction) and binary steps, in any mix"}

    def make_problems(self, n: int, seed: int, difficulties: list[int]) -> list[Problem]:
        rng = random.Random(seed)
        out = []
        for i in range(n):
            d = min(rng.choice(difficulties), self.max_digits)
            lo, hi = 10 ** (d - 1) if d > 1 else 1, 10**d - 1
            # Half the problems share a common factor, so the answer is not almost always 1.
            g = rng.randint(2, max(2, hi // 10)) if rng.random() < 0.5 and hi >= 20 else 1
            a, b = (rng.randint(-(-lo // g), hi // g) * g for _ in range(2))
            out.append(Problem(f"gcd-{seed}-{i}", self.name, d, f"gcd {a} {b}=", str(math.gcd(a, b)), {"a": a, "b": b}))
        return out

    @staticmethod
    def _start(p: Problem):
        try:
            a, b = (int(x) for x in p.prompt[len("gcd ") :].rstrip("=").split(" "))
        except ValueError:
            a, b = 0, 0
        return (1, a, b)

    def trace(self, problem: Problem, variant: int = 0, faults=(), rng=None) -> tuple[list[str], str]:
        """Step lines and answer of the reference path `variant`; at each step index in `faults`
        the new pair gets a wrong digit and the work goes on from it."""
        s, lines = self._start(problem), []
        binary = variant % N_VARIANTS == 1
        while _final(s) is None and len(lines) < 200:
            m, a, b = s
            if not binary:
                s = (m, min(a, b), max(a, b) % min(a, b))
            elif a % 2 == 0 and b % 2 == 0:
                s = (2 * m, a // 2, b // 2)
            elif a % 2 == 0 or b % 2 == 0:
                s = (m, a // 2, b) if a % 2 == 0 else (m, a, b // 2)
            else:
                s = (m, max(a, b) - min(a, b), min(a, b)) if a >= b else (m, a, b - a)
            if len(lines) in faults:
                m, a, b = s
                s = (m, flip_digit(a, rng), b) if rng.random() < 0.5 or b == 0 else (m, a, flip_digit(b, rng))
            lines.append(_fmt(s))
        return lines, _final(s) or ""
