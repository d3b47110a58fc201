"""The median of an odd-length list, by sorting it or by trimming its ends.

A step is either a sorting step (a move or swap that removes inversions, as in `sort`) or a trim
(remove one smallest and one largest value). Both keep the median, so the answer line may come as
soon as the list is sorted (the middle value) or down to one value. The reference solver trims
(`variant` 0), or sorts by insertion or selection and then reads the middle (`variant` 1, 2).

>>> d = Median()
>>> p = Problem("x", "median", 2, "median 7 1 9 4 5=", "5")
>>> print(d.solution(p, variant=0))
7 4 5
5
>5
>>> print(d.solution(p, variant=2))
1 7 9 4 5
1 4 9 7 5
1 4 5 7 9
>5
"""

from __future__ import annotations

import random
from collections import Counter

from .base import Problem
from .chain import Replayed, Steps
from .sorting import flip_one, fmt, is_sort_step, read_list, sort_plan, sort_successors

N_VARIANTS = 3


def trim(xs: tuple) -> tuple:
    """`xs` without its first smallest and first largest value."""
    rest = list(xs)
    rest.remove(min(rest))
    rest.remove(max(rest))
    return tuple(rest)


def _is_trim(prev: tuple, nxt: tuple) -> bool:
    if len(prev) < 3 or len(nxt) != len(prev) - 2:
        return False
    if Counter(prev) - Counter(nxt) != Counter([min(prev), max(prev)]) or Counter(nxt) - Counter(prev):
        return False
    it = iter(prev)  # nxt keeps the order of prev: a subsequence
    return all(x in it for x in nxt)


def _final(s: tuple) -> str | None:
    if len(s) % 2 == 1 and list(s) == sorted(s):
        return str(s[len(s) // 2])
    return None


def _read_answer(text: str) -> str | None:
    xs = read_list(text)
    return str(xs[0]) if xs is not None and len(xs) == 1 else None


def _successors(s: tuple):
    if len(s) >= 3:
        yield trim(s)
    yield from sort_successors(s)


class Median(Replayed):
    name = "median"

    def __init__(self, max_value: int = 99):
        if not 1 <= max_value <= 10**6:
            raise ValueError("median: need 1 <= max_value <= 1000000")
        self.max_value = max_value
        self.steps = Steps(
            start=lambda p: tuple(read_list(p.prompt[len("median ") :].rstrip("=")) or ()),
            parse=read_list,
            apply=lambda s, x: x if _is_trim(s, x) or is_sort_step(s, x) else None,
            successors=_successors,
            final=_final,
            read_answer=_read_answer,
        )

    def knobs(self) -> dict:
        return {"length": "2 * difficulty + 1", "max_value": self.max_value,
                "paths": "trim smallest+largest pairs, or any sorting moves, in any mix"}

    def make_problems(self, n: int, seed: int, difficulties: list[int]) -> list[Problem]:
        rng = random.Random(seed)
        out = []
        for i in range(n):
            d = rng.choice(difficulties)
            xs = [rng.randint(0, self.max_value) for _ in range(2 * d + 1)]
            med = sorted(xs)[d]
            out.append(Problem(f"median-{seed}-{i}", self.name, d, f"median {fmt(xs)}=", str(med), {"xs": xs}))
        return out

    def trace(self, problem: Problem, variant: int = 0, faults=(), rng=None) -> tuple[list[str], str]:
        """Step lines and answer of the reference path `variant`; at each step index in `faults`
        one value of the new list gets a wrong digit and the work goes on from it."""
        xs, lines = self.steps.start(problem), []
        v = variant % N_VARIANTS
        while _final(xs) is None or (v == 0 and len(xs) > 1):
            if v == 0:
                nxt = trim(xs)
            else:
                plan = sort_plan(list(xs), 0 if v == 1 else 1)
                nxt = plan[0] if plan else xs
            if len(lines) in faults:
                nxt = flip_one(nxt, rng)
            if nxt == xs:
                break
            xs = nxt
            lines.append(fmt(xs))
        return lines, _final(xs) or ""
