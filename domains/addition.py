"""Multi-digit addition with a worked solution, one line per digit with its carry.

Format (the completion follows the prompt `a+b=`), least significant digit first, as a person
adds by hand; each line is `digit_a+digit_b+carry_in=sum`, and the last line, after `>`, is the
answer's digits in the order the steps produced them (least significant first):

>>> d = Addition()
>>> p = Problem("x", "addition", 3, "457+68=", "525")
>>> print(d.solution(p))
7+8+0=15
5+6+1=12
4+0+1=5
>525
>>> d.verify(p, d.solution(p)).error_kind
'none'

`>525` reads "5, 2, 5" from the ones digit up: 525. Writing the answer in step order keeps the
model from having to reverse a string, which tiny position-free models find hard.
"""

from __future__ import annotations

import random
import re

from .base import Problem, Verdict
from .chain import Steps, read_int, replay

_STEP = re.compile(r"^(\d)\+(\d)\+(\d)=(\d{1,2})$", re.ASCII)
_PROMPT = re.compile(r"^(\d+)\+(\d+)=$", re.ASCII)


_DIGITS = bytes.maketrans(b"0123456789", bytes(range(10)))  # b"457" -> bytes([4, 5, 7])


# Replay (domains/chain.py) walks the columns. A state is (digits of a, digits of b, both ones
# first and padded to one length; the column reached; the carry into it; answer digits so far).
def _start(problem: Problem) -> tuple:
    m = _PROMPT.match(problem.prompt)
    a, b = (m[1], m[2]) if m else ("0", "0")
    n = max(len(a), len(b))
    # bytes of digit values: 3x cheaper to build than tuples of ints, and this runs per sample
    ra = a[::-1].ljust(n, "0").encode().translate(_DIGITS)
    rb = b[::-1].ljust(n, "0").encode().translate(_DIGITS)
    return ra, rb, 0, 0, ""


def _parse(line: str) -> tuple | None:
    m = _STEP.match(line)
    if m is None:
        return None
    x, y, c, s = m.groups()
    return int(x), int(y), int(c), int(s)


def _apply(state: tuple, step: tuple) -> tuple | None:
    ra, rb, i, carry, digits = state
    x, y, c, s = step
    if i >= len(ra) or x != ra[i] or y != rb[i] or c != carry or s != x + y + c:
        return None
    return ra, rb, i + 1, s // 10, digits + str(s % 10)


def _successors(state: tuple):
    ra, rb, i, carry, _ = state
    if i < len(ra):  # one path: the next column, added right
        yield _apply(state, (ra[i], rb[i], carry, ra[i] + rb[i] + carry))


def _final(state: tuple) -> str | None:
    ra, _, i, carry, digits = state
    if i < len(ra):
        return None
    return (digits + ("1" if carry else ""))[::-1].lstrip("0") or "0"


def _read_answer(text: str) -> str | None:
    # The same reading as `Addition.extract`: any number of digits, written lowest first.
    return read_int(text, reverse=True, max_len=None)


def _split(completion: str) -> tuple[list[str], str | None]:
    """(step lines, the answer line's text). The answer line is the last line that starts with
    '>', exactly where `Addition.extract` looks, so verify and extract read the same answer. Every
    other non-empty line is a step, text after the answer line too: a completion that runs on past
    its answer is not a clean solution."""
    raw = completion.splitlines()
    for i in range(len(raw) - 1, -1, -1):
        if raw[i].startswith(">"):
            return [t for ln in raw[:i] + raw[i + 1 :] if (t := ln.strip())], raw[i][1:].strip()
    return [t for ln in raw if (t := ln.strip())], None


STEPS = Steps(start=_start, parse=_parse, apply=_apply, successors=_successors, final=_final,
              read_answer=_read_answer, split=_split)


class Addition:
    name = "addition"

    def __init__(self, min_digits: int = 1, max_digits: int = 8):
        if not 1 <= min_digits <= max_digits:
            raise ValueError(f"addition: need 1 <= min_digits <= max_digits, got {min_digits}, {max_digits}")
        self.min_digits, self.max_digits = min_digits, max_digits
        self.steps = STEPS

    def knobs(self) -> dict:
        return {"digits": [self.min_digits, self.max_digits]}

    def make_problems(self, n: int, seed: int, difficulties: list[int]) -> list[Problem]:
        rng = random.Random(seed)
        out = []
        for i in range(n):
            d = rng.choice(difficulties)
            # The larger operand has exactly d digits; the other has 1..d digits.
            a = rng.randrange(10 ** (d - 1) if d > 1 else 0, 10**d)
            e = rng.randint(1, d)
            b = rng.randrange(10 ** (e - 1) if e > 1 else 0, 10**e)
            if rng.random() < 0.5:
                a, b = b, a
            out.append(
                Problem(
                    id=f"add-{seed}-{i}",
                    domain=self.name,
                    difficulty=d,
                    prompt=f"{a}+{b}=",
                    answer=str(a + b),
                    meta={"a": a, "b": b},
                )
            )
        return out

    @staticmethod
    def _operands(problem: Problem) -> tuple[str, str]:
        a, b = problem.prompt.rstrip("=").split("+")
        return a, b

    def solution(self, problem: Problem, variant: int = 0) -> str:
        a, b = self._operands(problem)
        n = max(len(a), len(b))
        ra, rb = a[::-1].ljust(n, "0"), b[::-1].ljust(n, "0")
        lines, digits, carry = [], [], 0
        for x, y in zip(ra, rb):
            s = int(x) + int(y) + carry
            lines.append(f"{x}+{y}+{carry}={s}")
            digits.append(str(s % 10))
            carry = s // 10
        if carry:
            digits.append(str(carry))
        return "\n".join(lines) + "\n>" + "".join(digits)

    @staticmethod
    def extract(completion: str) -> str | None:
        """The final answer (most significant digit first), or None. Never raises.

        >>> Addition.extract("1+2+0=3\\n>3")
        '3'
        >>> Addition.extract("junk") is None
        True
        """
        for line in reversed(completion.splitlines()):
            if line.startswith(">"):
                return _read_answer(line[1:])
        return None

    def verify(self, problem: Problem, completion: str) -> Verdict:
        """Replay every column (domains/chain.py). A wrong column is `static` when the lines after
        it and the answer are exactly what the right column leads to (a dropped column too), else
        `dynamic`: `7+8+0=5` followed by `5+6+1=12` is a static slip, its carry was used right.

        >>> d, p = Addition(), Problem("x", "addition", 3, "457+68=", "525")
        >>> [d.verify(p, t).error_kind for t in ("7+8+0=5\\n5+6+1=12\\n4+0+1=5\\n>525",
        ...                                        "7+8+0=5\\n5+6+0=11\\n4+0+1=5\\n>515")]
        ['static', 'dynamic']
        """
        return replay(self.steps, problem, completion)
