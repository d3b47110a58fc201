"""Multi-digit addition with a worked solution, one line per digit with its carry.

The prompt's format is a knob (FORMATS; README "Length generalization" for what each scored);
the demo's is `zip`, one lettered column per digit. Whatever the prompt, the completion goes least
significant digit first, as a person adds by hand; each line is `digit_a+digit_b+carry_in=sum`,
and the last line, after `>`, is the answer's digits in the order the steps produced them (least
significant first):

>>> d = Addition(format="reversed")
>>> p = Problem("x", "addition", 3, "754+86=", "525")
>>> print(d.solution(p))
7+8+0=15
5+6+1=12
4+0+1=5
>525
>>> d.verify(p, d.solution(p)).error_kind
'none'

`>525` reads "5, 2, 5" from the ones digit up: 525. Writing the answer in step order keeps the
model from having to reverse a string, which tiny position-free models find hard. In `zip` every
column, step and answer digit carries its column's letter, so nothing is found by counting:

>>> z = Addition(format="zip")
>>> p = Problem("x", "addition", 3, write_prompt(457, 68, "zip", offset=10), "525")
>>> p.prompt
'k78l56m40='
>>> print(z.solution(p))
k7+8+0=15
l5+6+1=12
m4+0+1=5
>k5l2m5
"""

from __future__ import annotations

import random
import re
from functools import partial

from .base import Problem, Verdict
from .chain import Steps, read_int, replay

_STEP = re.compile(r"^([a-z]?)(\d)\+(\d)\+(\d)=(\d{1,2})$", re.ASCII)
_DIGITS = bytes.maketrans(b"0123456789", bytes(range(10)))  # b"457" -> bytes([4, 5, 7])

# How the prompt writes the operands (the steps and the answer line are the same in all but hints):
#   msd       457+68=        most significant digit first, as people write numbers
#   reversed  754+86=        ones digit first (Lee et al. 2025): step i reads the i-th digit of
#                            each operand, counted from where the operand starts, so the model
#                            never needs an operand's length to find a column
#   padded    754+860=       reversed, the shorter operand padded with zeros to the same length
#   hints     k7l5m4+k8l6=   reversed, each digit after a letter naming its column (index hints,
#                            Zhou et al. 2023), and each step line starts with its column's letter
#                            (`k7+8+0=15`): a column is found by matching letters, not by counting.
#                            The letters start at a random one per problem, so every letter and
#                            every letter-to-next is trained, not only the first few.
#   zip       k78l56m40=     the columns themselves, ones first: a letter, a's digit, b's digit
#                            (the shorter operand padded with 0); the step lines and the answer's
#                            digits carry the same letters (`>k5l2m5`). A step finds its column by
#                            one letter match and its two digits right after it; the answer digit
#                            of column k by the step line that starts with k. The only format whose
#                            bootstrap solves 4-digit problems at all (README "Length generalization").
FORMATS = ("zip", "reversed", "msd", "padded", "hints")
_LETTERED = ("hints", "zip")  # formats whose step lines start with the column's letter
_HINTS = "abcdefghijklmnopqrstuvwxyz"
_PROMPTS = {
    "msd": re.compile(r"^(\d+)\+(\d+)=$", re.ASCII),
    "reversed": re.compile(r"^(\d+)\+(\d+)=$", re.ASCII),
    "padded": re.compile(r"^(\d+)\+(\d+)=$", re.ASCII),
    "hints": re.compile(r"^((?:[a-z]\d){1,26})\+((?:[a-z]\d){1,26})=$", re.ASCII),
    "zip": re.compile(r"^((?:[a-z]\d\d){1,25})=$", re.ASCII),  # 25: a letter is left for the carry
}
_LETTER_DIGITS = re.compile(r"^(?:[a-z]\d)+$", re.ASCII)


def _consecutive(letters: str) -> bool:
    """Do `letters` run on from their first one ('klm' yes, 'kmn' no)?"""
    start = _HINTS.find(letters[0])
    return letters == _HINTS[start : start + len(letters)]


def write_prompt(a: int, b: int, fmt: str, offset: int = 0) -> str:
    """The prompt for a + b in format `fmt` (`offset`: the hints' first letter, hints only).

    >>> [write_prompt(457, 68, f, offset=10) for f in FORMATS]
    ['k78l56m40=', '754+86=', '457+68=', '754+860=', 'k7l5m4+k8l6=']
    """
    x, y = str(a), str(b)
    if fmt == "msd":
        return f"{x}+{y}="
    x, y = x[::-1], y[::-1]
    if fmt == "zip":
        n = max(len(x), len(y))
        return "".join(_HINTS[offset + i] + p + q for i, (p, q) in enumerate(zip(x.ljust(n, "0"), y.ljust(n, "0")))) + "="
    if fmt == "padded":
        n = max(len(x), len(y))
        x, y = x.ljust(n, "0"), y.ljust(n, "0")
    elif fmt == "hints":
        x, y = ("".join(_HINTS[offset + i] + c for i, c in enumerate(t)) for t in (x, y))
    return f"{x}+{y}="


def _columns(prompt: str, fmt: str) -> tuple[str, str, str] | None:
    """(digits of a, digits of b, ones first and padded to one length; the columns' hint letters,
    '' unless hints), or None if `prompt` is not in `fmt`."""
    m = _PROMPTS[fmt].match(prompt)
    if m is None:
        return None
    if fmt == "zip":
        cols = m[1]
        hints = cols[0::3]
        if not _consecutive(hints):
            return None  # letters out of order
        return cols[1::3], cols[2::3], hints
    a, b, hints = m[1], m[2], ""
    if fmt == "msd":
        a, b = a[::-1], b[::-1]
    elif fmt == "hints":
        la, lb = a[0::2], b[0::2]
        hints, short = (la, lb) if len(la) >= len(lb) else (lb, la)
        if not _consecutive(hints) or not hints.startswith(short):
            return None  # letters out of order, or the operands' letters disagree
        a, b = a[1::2], b[1::2]
    n = max(len(a), len(b))
    return a.ljust(n, "0"), b.ljust(n, "0"), hints


def read_columns(prompt: str, fmt: str) -> tuple[str, str] | None:
    """Both operands' digits ones digit first (not padded), or None if `prompt` is not in `fmt`.

    >>> read_columns("457+68=", "msd"), read_columns("k7l5m4+k8l6=", "hints"), read_columns("k78l56m40=", "zip")
    (('754', '86'), ('754', '86'), ('754', '86'))
    """
    m = _PROMPTS[fmt].match(prompt)
    cols = _columns(prompt, fmt)
    if m is None or cols is None:
        return None
    if fmt == "zip":  # the padding zeros at the top are not the operand's digits
        return tuple(t.rstrip("0") or "0" for t in cols[:2])
    a, b = m[1], m[2]
    if fmt == "msd":
        return a[::-1], b[::-1]
    if fmt == "hints":
        return a[1::2], b[1::2]
    return a, b


# Replay (domains/chain.py) walks the columns. A state is (digits of a, digits of b, both ones
# first and padded to one length; the columns' letters or ''; the column reached; the carry into
# it; answer digits so far).
def _start(fmt: str, problem: Problem) -> tuple:
    ra, rb, hints = _columns(problem.prompt, fmt) or ("0", "0", "")
    # bytes of digit values: 3x cheaper to build than tuples of ints, and this runs per sample
    return ra.encode().translate(_DIGITS), rb.encode().translate(_DIGITS), hints, 0, 0, ""


def _parse(line: str) -> tuple | None:
    m = _STEP.match(line)
    if m is None:
        return None
    h, x, y, c, s = m.groups()
    return h, int(x), int(y), int(c), int(s)


def _apply(state: tuple, step: tuple) -> tuple | None:
    ra, rb, hints, i, carry, digits = state
    h, x, y, c, s = step
    if i >= len(ra) or x != ra[i] or y != rb[i] or c != carry or s != x + y + c or h != hints[i : i + 1]:
        return None
    return ra, rb, hints, i + 1, s // 10, digits + str(s % 10)


def _successors(state: tuple):
    ra, rb, hints, i, carry, _ = state
    if i < len(ra):  # one path: the next column, added right
        yield _apply(state, (hints[i : i + 1], ra[i], rb[i], carry, ra[i] + rb[i] + carry))


def _final(state: tuple) -> str | None:
    ra, _, _, i, carry, digits = state
    if i < len(ra):
        return None
    return (digits + ("1" if carry else ""))[::-1].lstrip("0") or "0"


def _read_answer(fmt: str, text: str) -> str | None:
    """The answer line's number (any number of digits, written lowest first); in `zip` each digit
    after its column's letter, the letters consecutive (`k5l2m5` is 525). Never raises."""
    if fmt == "zip":
        t = text.strip()
        if not _LETTER_DIGITS.match(t):
            return None
        if not _consecutive(t[0::2]):
            return None
        text = t[1::2]
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


def steps_for(fmt: str) -> Steps:
    """The step replay of format `fmt`: the formats differ only in how the prompt is read."""
    return Steps(start=partial(_start, fmt), parse=_parse, apply=_apply, successors=_successors,
                 final=_final, read_answer=partial(_read_answer, fmt), split=_split)


class Addition:
    name = "addition"

    def __init__(self, min_digits: int = 1, max_digits: int = 8, format: str = "msd"):
        if not 1 <= min_digits <= max_digits:
            raise ValueError(f"addition: need 1 <= min_digits <= max_digits, got {min_digits}, {max_digits}")
        if format not in FORMATS:
            raise ValueError(f"addition: format must be one of {', '.join(FORMATS)}, got {format!r}")
        self.min_digits, self.max_digits, self.format = min_digits, max_digits, format
        self.steps = steps_for(format)

    def knobs(self) -> dict:
        return {"digits": [self.min_digits, self.max_digits], "format": list(FORMATS)}

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
            # hints, zip: the first letter at random, so that every letter is trained (only drawn
            # for them, so the other formats' problems stay what they always were)
            offset = 0
            if self.format in _LETTERED:  # zip keeps one letter free for the answer's carry digit
                offset = rng.randrange(len(_HINTS) - d + (self.format == "hints"))
            out.append(
                Problem(
                    id=f"add-{seed}-{i}",
                    domain=self.name,
                    difficulty=d,
                    prompt=write_prompt(a, b, self.format, offset),
                    answer=str(a + b),
                    meta={"a": a, "b": b},
                )
            )
        return out

    def columns(self, problem: Problem) -> tuple[str, str, str]:
        """Both operands' digits, ones digit first, padded with zeros to one length, and each
        column's hint letter ('' unless the format is hints): what a step line starts with."""
        return _columns(problem.prompt, self.format) or ("0", "0", "")

    def trace(self, problem: Problem, variant: int = 0, faults=(), rng=None) -> tuple[list[str], str]:
        """Step lines and answer line (after its `>`) of the reference solution. A step index in
        `faults` gets a wrong sum (drawn from `rng`) whose carry goes on into the next column:
        dynamic noise (domains/noise.py)."""
        ra, rb, hints = self.columns(problem)
        lines, digits, carry = [], [], 0
        for i, (x, y) in enumerate(zip(ra, rb)):
            s = int(x) + int(y) + carry
            if i in faults:
                s = rng.choice([t for t in range(20) if t != s])
            lines.append(f"{hints[i : i + 1]}{x}+{y}+{carry}={s}")
            digits.append(str(s % 10))
            carry = s // 10
        if carry:
            digits.append(str(carry))
        if self.format == "zip":
            start = _HINTS.find(hints[0])
            return lines, "".join(_HINTS[start + i] + c for i, c in enumerate(digits))
        return lines, "".join(digits)

    def solution(self, problem: Problem, variant: int = 0) -> str:
        lines, answer = self.trace(problem, variant)
        return "\n".join(lines) + "\n>" + answer

    def extract(self, completion: str) -> str | None:
        """The final answer (most significant digit first), or None. Never raises.

        >>> Addition().extract("1+2+0=3\\n>3"), Addition(format="zip").extract("a1+2+0=3\\n>a3")
        ('3', '3')
        >>> Addition().extract("junk") is None
        True
        """
        for line in reversed(completion.splitlines()):
            if line.startswith(">"):
                return self.steps.read_answer(line[1:])
        return None

    def verify(self, problem: Problem, completion: str) -> Verdict:
        """Replay every column (domains/chain.py). A wrong column is `static` when the lines after
        it and the answer are exactly what the right column leads to (a dropped column too), else
        `dynamic`: `7+8+0=5` followed by `5+6+1=12` is a static slip, its carry was used right.

        >>> d, p = Addition(format="msd"), Problem("x", "addition", 3, "457+68=", "525")
        >>> [d.verify(p, t).error_kind for t in ("7+8+0=5\\n5+6+1=12\\n4+0+1=5\\n>525",
        ...                                        "7+8+0=5\\n5+6+0=11\\n4+0+1=5\\n>515")]
        ['static', 'dynamic']
        """
        return replay(self.steps, problem, completion)
