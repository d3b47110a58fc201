"""Multiplication through partial products: any decomposition, summed in any order.

A product line `x*y=z` multiplies the whole of one operand by a part of the other (all product
lines split the same operand, and the parts must add up to it); a sum line `s+t=u` adds two values
not yet added (partial products or earlier sums). The answer line is the one value left when the
split operand is used up. So `47*36` may go through 47*30 and 47*6, or 40*36 and 7*36, or 47*36 at
once, with sums as they come or at the end: the reference solver writes 8 such paths (`variant`).

>>> d = Multiplication()
>>> p = Problem("x", "mul", 3, "47*36=", "1692")
>>> print(d.solution(p, variant=0))
47*6=282
47*30=1410
282+1410=1692
>1692
>>> print(d.solution(p, variant=3))
40*36=1440
7*36=252
1440+252=1692
>1692
>>> d.verify(p, "47*36=1692\\n>1692").error_kind
'none'
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass, replace

from .base import Problem
from .chain import Replayed, Steps, read_int

N_VARIANTS = 8
_LINE = re.compile(r"^(\d{1,18})([*+])(\d{1,18})=(\d{1,36})$")


@dataclass(frozen=True)
class _State:
    a: int
    b: int
    split: str | None  # "a" or "b": whose parts the product lines take; None before the first
    left: int  # how much of the split operand is not yet multiplied
    pending: tuple[int, ...]  # values not yet added into another


def _parse(line: str):
    m = _LINE.match(line)
    if m is None or any(len(g) > 1 and g[0] == "0" for g in (m[1], m[3], m[4])):
        return None
    return m[2], int(m[1]), int(m[3]), int(m[4])


def _remove(pending: tuple, *vals) -> tuple | None:
    rest = list(pending)
    for v in vals:
        if v not in rest:
            return None
        rest.remove(v)
    return tuple(rest)


def _apply(s: _State, step) -> _State | None:
    op, x, y, z = step
    if op == "+":
        rest = _remove(s.pending, x, y)
        if rest is None or z != x + y:
            return None
        return replace(s, pending=(*rest, z))
    for split, whole, part in (("b", x, y), ("a", y, x)):
        full_left = s.left if s.split == split else (s.b if split == "b" else s.a)
        if s.split in (None, split) and whole == (s.a if split == "b" else s.b) and 0 < part <= full_left:
            if z != x * y:
                return None
            return replace(s, split=split, left=full_left - part, pending=(*s.pending, z))
    return None


def _places(n: int) -> list[int]:
    """The place-value parts of n, ones first: 306 -> [6, 300]."""
    out, p = [], 1
    while n:
        if n % 10:
            out.append(n % 10 * p)
        n, p = n // 10, p * 10
    return out


def _successors(s: _State):
    splits = [s.split] if s.split else ["b", "a"]
    for split in splits:
        left = s.left if s.split else (s.b if split == "b" else s.a)
        whole = s.a if split == "b" else s.b
        for part in {*_places(left), left} - {0}:
            yield replace(s, split=split, left=left - part, pending=(*s.pending, whole * part))
    p = s.pending
    for i in range(len(p)):
        for j in range(i + 1, len(p)):
            rest = p[:i] + p[i + 1 : j] + p[j + 1 :]
            yield replace(s, pending=(*rest, p[i] + p[j]))


def _final(s: _State) -> str | None:
    done = s.split is not None and s.left == 0 and len(s.pending) == 1
    return str(s.pending[0]) if done else None


def flip_digit(n: int, rng: random.Random) -> int:
    """`n` with one decimal digit changed (never a new leading zero)."""
    s = list(str(n))
    i = rng.randrange(len(s))
    choices = [c for c in "0123456789" if c != s[i] and not (i == 0 and c == "0" and len(s) > 1)]
    s[i] = rng.choice(choices)
    return int("".join(s))


class Multiplication(Replayed):
    name = "mul"

    def __init__(self, max_digits: int = 12):
        if max_digits < 1:
            raise ValueError("mul: max_digits must be >= 1")
        self.max_digits = max_digits
        self.steps = Steps(
            start=self._start, parse=_parse, apply=_apply, successors=_successors, final=_final,
            read_answer=read_int,
        )

    def knobs(self) -> dict:
        return {"digits": "first operand: difficulty digits; second: ceil(difficulty/2) digits",
                "max_digits": self.max_digits,
                "paths": "any split of either operand into parts; sums in any order"}

    def make_problems(self, n: int, seed: int, difficulties: list[int]) -> list[Problem]:
        rng = random.Random(seed)
        out = []
        for i in range(n):
            d = rng.choice(difficulties)
            da, db = min(d, self.max_digits), min((d + 1) // 2, self.max_digits)
            a = rng.randrange(10 ** (da - 1) if da > 1 else 1, 10**da)
            b = rng.randrange(10 ** (db - 1) if db > 1 else 1, 10**db)
            if rng.random() < 0.5:
                a, b = b, a
            out.append(Problem(f"mul-{seed}-{i}", self.name, d, f"{a}*{b}=", str(a * b), {"a": a, "b": b}))
        return out

    @staticmethod
    def _start(p: Problem) -> _State:
        try:
            a, b = (int(x) for x in p.prompt.rstrip("=").split("*"))
        except ValueError:
            a, b = 0, 0
        return _State(a, b, None, 0, ())

    def trace(self, problem: Problem, variant: int = 0, faults=(), rng=None) -> tuple[list[str], str]:
        """Step lines and answer of the reference path `variant`; at each step index in `faults`
        the computed value gets a wrong digit and the computation goes on from it."""
        s = self._start(problem)
        v = variant % N_VARIANTS
        split = "b" if v % 2 == 0 else "a"
        whole, cut = (s.a, s.b) if split == "b" else (s.b, s.a)
        parts = _places(cut) or [0]
        if (v // 2) % 2:
            parts = parts[::-1]  # highest place first
        running = v // 4 == 0  # add each product as it comes, or all at the end
        lines, pending = [], []

        def emit(x, op, y, z):
            if len(lines) in faults:
                z = flip_digit(z, rng)
            lines.append(f"{x}{op}{y}={z}")
            return z

        def add_two():
            x, y = pending.pop(0), pending.pop(0)
            pending.insert(0, emit(x, "+", y, x + y)) if running else pending.append(emit(x, "+", y, x + y))

        for part in parts:
            x, y = (whole, part) if split == "b" else (part, whole)
            pending.append(emit(x, "*", y, x * y))
            if running and len(pending) == 2:
                add_two()
        while len(pending) > 1:
            add_two()
        return lines, str(pending[0])
