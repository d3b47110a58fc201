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

_STEP = re.compile(r"^(\d)\+(\d)\+(\d)=(\d{1,2})$")


class Addition:
    name = "addition"

    def __init__(self, min_digits: int = 1, max_digits: int = 8):
        if not 1 <= min_digits <= max_digits:
            raise ValueError(f"addition: need 1 <= min_digits <= max_digits, got {min_digits}, {max_digits}")
        self.min_digits, self.max_digits = min_digits, max_digits

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
                digits = line[1:].strip()
                if digits.isascii() and digits.isdigit():
                    return digits[::-1].lstrip("0") or "0"
                return None
        return None

    def verify(self, problem: Problem, completion: str) -> Verdict:
        a, b = self._operands(problem)
        n = max(len(a), len(b))
        ra, rb = a[::-1].ljust(n, "0"), b[::-1].ljust(n, "0")
        extracted = self.extract(completion)
        correct = extracted is not None and extracted == problem.answer
        lines = [ln for ln in completion.splitlines() if ln and not ln.startswith(">")]
        if extracted is None and not any(ln.startswith(">") for ln in completion.splitlines()):
            # No answer line: the model stopped (or ran out of tokens) mid-solution.
            return Verdict(False, None, False, len(lines), "truncated", len(lines))
        first_bad, kind = None, "none"
        carry = 0
        for i in range(max(n, len(lines))):
            m = _STEP.match(lines[i]) if i < len(lines) else None
            if m is None:
                first_bad = i
                kind = "unparseable" if i < len(lines) else "truncated"
                break
            x, y, c, s = (int(g) for g in m.groups())
            if i >= n or x != int(ra[i]) or y != int(rb[i]) or c != carry or s != x + y + c:
                first_bad = i
                # A wrong step whose carry out is still right does not change later steps.
                true_s = int(ra[i]) + int(rb[i]) + carry if i < n else -1
                kind = "static" if i < n and s // 10 == true_s // 10 else "dynamic"
                break
            carry = s // 10
        if kind == "none" and not correct:
            kind = "wrong_answer"
        return Verdict(correct, extracted, first_bad is None, first_bad, kind, len(lines))
