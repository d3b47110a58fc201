"""Sorting a list, one move per line: any sequence of valid moves is a valid solution.

A step moves one element to another place (insertion sort) or swaps two elements (selection sort)
and must leave fewer out-of-order pairs than before, so every step makes progress; the answer line
is the sorted list. The reference solver writes insertion sort, selection by swaps, selection by
moves, or selection of the largest to the end (`variant` 0..3), so the seed set itself varies.

>>> d = Sorting()
>>> p = Problem("x", "sort", 2, "sort 97 53 5=", "5 53 97")
>>> print(d.solution(p, variant=0))
53 97 5
5 53 97
>5 53 97
>>> print(d.solution(p, variant=1))
5 53 97
>5 53 97
>>> d.verify(p, "5 53 97\\n>5 53 97").error_kind, d.verify(p, "5 54 97\\n>5 53 97").error_kind
('none', 'static')
"""

from __future__ import annotations

import random

from .base import Problem
from .chain import Replayed, Steps, parse_ints
from .multiplication import flip_digit

N_VARIANTS = 4


def inversions(xs) -> int:
    """Pairs (i < j) with xs[i] > xs[j]."""
    return sum(1 for i in range(len(xs)) for j in range(i + 1, len(xs)) if xs[i] > xs[j])


def is_move_or_swap(prev: tuple, nxt: tuple) -> bool:
    """Is `nxt` `prev` with one element moved elsewhere or two elements swapped?"""
    if len(prev) != len(nxt) or prev == nxt:
        return False
    lo = next(i for i in range(len(prev)) if prev[i] != nxt[i])
    hi = next(i for i in range(len(prev) - 1, -1, -1) if prev[i] != nxt[i])
    a, b = prev[lo : hi + 1], nxt[lo : hi + 1]
    swap = a[0] == b[-1] and a[-1] == b[0] and a[1:-1] == b[1:-1]
    left = b[0] == a[-1] and b[1:] == a[:-1]  # the element at hi moved to lo
    right = b[-1] == a[0] and b[:-1] == a[1:]  # the element at lo moved to hi
    return swap or left or right


def is_sort_step(prev: tuple, nxt: tuple) -> bool:
    """A move or swap that leaves fewer inversions: progress towards sorted."""
    return is_move_or_swap(prev, nxt) and inversions(nxt) < inversions(prev)


def sort_successors(xs: tuple):
    """Every state one valid sorting step away from `xs`."""
    n, inv = len(xs), inversions(xs)
    seen = set()
    for i in range(n):
        for j in range(n):
            if i == j:
                continue
            moved = list(xs)
            moved.insert(j, moved.pop(i))
            cands = [tuple(moved)]
            if i < j:
                swapped = list(xs)
                swapped[i], swapped[j] = swapped[j], swapped[i]
                cands.append(tuple(swapped))
            for c in cands:
                if c not in seen and c != xs and inversions(c) < inv:
                    seen.add(c)
                    yield c


def sort_plan(xs: list, variant: int) -> list[tuple]:
    """The states a reference sort passes through (not including the start)."""
    xs, out, n = list(xs), [], len(xs)
    v = variant % N_VARIANTS
    for i in range(n):
        if v == 0:  # insertion: element i moves into the sorted prefix
            j = i
            while j > 0 and xs[j - 1] > xs[i]:
                j -= 1
            if j == i:
                continue
            xs.insert(j, xs.pop(i))
        elif v in (1, 2):  # selection of the smallest into place i, by swap or by move
            k = min(range(i, n), key=lambda t: (xs[t], t))
            if xs[k] == xs[i]:
                continue
            if v == 1:
                xs[i], xs[k] = xs[k], xs[i]
            else:
                xs.insert(i, xs.pop(k))
        else:  # selection of the largest to the end
            end = n - 1 - i
            k = max(range(end + 1), key=lambda t: (xs[t], t))
            if xs[k] == xs[end]:
                continue
            xs[k], xs[end] = xs[end], xs[k]
        out.append(tuple(xs))
    return out


def fmt(xs) -> str:
    return " ".join(str(x) for x in xs)


def read_list(text: str) -> tuple | None:
    return parse_ints(text.strip(), " ")


def flip_one(xs: tuple, rng: random.Random) -> tuple:
    """`xs` with one value given a wrong digit (a fault for the noise tests)."""
    k = rng.randrange(len(xs))
    return xs[:k] + (flip_digit(xs[k], rng),) + xs[k + 1 :]


def _read_answer(text: str) -> str | None:
    xs = read_list(text)
    return fmt(xs) if xs is not None else None


class Sorting(Replayed):
    name = "sort"

    def __init__(self, extra_length: int = 1, max_value: int = 99):
        if extra_length < 0 or not 1 <= max_value <= 10**6:
            raise ValueError("sort: need extra_length >= 0 and 1 <= max_value <= 1000000")
        self.extra_length, self.max_value = extra_length, max_value
        self.steps = Steps(
            start=lambda p: tuple(p.meta["xs"]) if "xs" in p.meta else self._xs(p),
            parse=read_list,
            apply=lambda s, x: x if is_sort_step(s, x) else None,
            successors=sort_successors,
            final=lambda s: fmt(s) if list(s) == sorted(s) else None,
            read_answer=_read_answer,
        )

    def knobs(self) -> dict:
        return {"length": f"difficulty + {self.extra_length}", "max_value": self.max_value,
                "paths": "any sequence of moves/swaps that each remove inversions"}

    def make_problems(self, n: int, seed: int, difficulties: list[int]) -> list[Problem]:
        rng = random.Random(seed)
        out = []
        for i in range(n):
            d = rng.choice(difficulties)
            xs = [rng.randint(0, self.max_value) for _ in range(d + self.extra_length)]
            out.append(Problem(f"sort-{seed}-{i}", self.name, d, f"sort {fmt(xs)}=", fmt(sorted(xs)), {"xs": xs}))
        return out

    @staticmethod
    def _xs(problem: Problem) -> tuple:
        return read_list(problem.prompt[len("sort ") :].rstrip("=")) or ()

    def trace(self, problem: Problem, variant: int = 0, faults=(), rng=None) -> tuple[list[str], str]:
        """Step lines and answer of the reference path `variant`; at each step index in `faults`
        one value of the new list gets a wrong digit and the sort goes on from it."""
        xs, lines = tuple(self.steps.start(problem)), []
        while len(lines) < 200:
            plan = sort_plan(list(xs), variant)
            if not plan:
                break
            nxt = plan[0]
            if len(lines) in faults:
                nxt = flip_one(nxt, rng)
            xs = nxt
            lines.append(fmt(xs))
        return lines, fmt(xs)
