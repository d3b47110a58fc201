"""Final-answer checkers for a user's own problems, and calculator-annotation step checks.

A checker reads the final answer out of a completion and compares it with the reference:
- `exact`: the last non-empty line equals the reference string, up to spacing, markdown
  emphasis, quotes and a closing full stop (case counts);
- `numeric`: the last number in the text is within `tolerance` of the reference number;
- `pattern`: the answer after a marker (`####`, `A:`, `\\boxed{}`, or any regex with one group),
  compared as numbers when both parse (`42 apples`, `x = 42` and `$42.00` are 42), else as text;
- `math`: mathematical equivalence by `math-verify` (the checker TRL's accuracy reward uses).

A completion may not hedge: one that commits to two different final answers (`#### 17` then
`#### 42`, `\\boxed{1} \\boxed{2}`, "the answer is 41 or 42", a last line of bare numbers) is
wrong whichever of them is right; saying the same answer twice is fine. Numbers are read in the
forms people write (`1,200`, `$5`, `-5` with a Unicode minus, `1e6`, `1/2`, `\\frac{1}{2}`,
`**42**`). No input makes a checker raise. math-verify is not handed expressions that would take
sympy minutes (towers of powers, huge factorials), and what it is handed runs in a helper process
under a time limit (`time_limit`, `math_worker.py`): a check that runs past it is a wrong answer,
and `judge` says "timeout".

>>> c = Checker("pattern", pattern="####")
>>> c.check("42", "so 6*7 = 42\\n#### 42.0")
(True, '42.0')
>>> Checker("numeric", tolerance=0.01).check("3.14", "pi is about 3.141")
(True, '3.141')
"""

from __future__ import annotations

import ast
import math
import operator
import re
from dataclasses import dataclass

CHECKERS = ("exact", "numeric", "pattern", "math")
PATTERNS = {
    "####": r"####\s*([^\n]*)",
    "A:": r"(?:^|\n)\s*A:\s*([^\n]*)",
    "boxed": r"\\boxed\{((?:[^{}]|\{[^{}]*\})*)\}",
}
# A number as written: sign, `$`, thousands commas, decimals, exponent; or a fraction `3/4`.
_NUM = re.compile(r"[-\u2212]?\$?(?:\d(?:,?\d)*(?:\.\d+)?(?:[eE][-+]?\d+)?(?:/\d+(?![\d.]))?|\.\d+)")
_THOUSANDS = re.compile(r"(?<=\d),(?=\d{3}(?!\d))")
_FRAC = re.compile(r"^\\[dt]?frac\{(-?\d+(?:\.\d+)?)\}\{(\d+(?:\.\d+)?)\}$")
_DECOR = "*_`'\" \u201c\u201d\u2018\u2019"  # markdown emphasis and quotes around an answer
# Phrases that state a final answer; two of them with different values are a hedge.
_STATED = re.compile(r"(?:answer|result)\s*(?:is|=|:)?\s*:?\s*\**\s*(" + _NUM.pattern + ")", re.IGNORECASE)
MAX_TEXT = 100_000  # longer completions are checked on their last MAX_TEXT characters


def to_number(text: str | None) -> float | None:
    """A number written the way people write them (`1,200`, `$5`, `3.50.`, `-2`), or None.

    >>> to_number("$1,200.50"), to_number("12 apples"), to_number("x")
    (1200.5, None, None)
    """
    if not isinstance(text, str) or len(text) > 400:
        return None
    t = text.strip().strip(_DECOR).rstrip(".").strip(_DECOR).replace("\\$", "").replace("$", "").strip()
    t = t.replace("\u2212", "-").removeprefix("+")
    t = _THOUSANDS.sub("", t)
    if m := _FRAC.match(t):
        t = f"{m[1]}/{m[2]}"
    try:
        if m := re.fullmatch(r"(-?\d+(?:\.\d+)?)/(\d+(?:\.\d+)?)", t):
            den = float(m[2])
            return float(m[1]) / den if den else None
        if not re.fullmatch(r"-?(?:\d+(?:\.\d+)?|\.\d+)(?:[eE][-+]?\d+)?", t):
            return None
        v = float(t)
    except (ValueError, OverflowError):
        return None
    return v if math.isfinite(v) else None


def last_number(text: str) -> str | None:
    found = _NUM.findall(text[-MAX_TEXT:])
    return found[-1] if found else None


def _numbers(text: str) -> list[float]:
    return [n for n in (to_number(x) for x in _NUM.findall(text)) if n is not None]


def _distinct(values: list, tol: float) -> int:
    """How many different values: numbers within `tol` (relative) are the same one."""
    kept: list = []
    for v in values:
        if not any(_equal(v, k, tol) for k in kept):
            kept.append(v)
    return len(kept)


def _equal(a, b, tol: float) -> bool:
    if isinstance(a, float) and isinstance(b, float):
        return abs(a - b) <= tol * max(1.0, abs(b))
    return a == b


def _norm_text(s: str) -> str:
    """Text compared as a grader would: spacing, emphasis, quotes and a closing stop ignored; case
    kept (`CO` is not `Co`)."""
    return " ".join(s.split()).strip(_DECOR).rstrip(".!").strip(_DECOR).strip()


_HEDGE_GLUE = re.compile(r"^(?:[\s,;|/]|\bor\b|\band\b|\bmaybe\b|\bperhaps\b)*$", re.IGNORECASE)


_EITHER = re.compile(r"(" + _NUM.pattern + r")\s*,?\s*\bor\b\s*(?:maybe\s+|perhaps\s+)?(" + _NUM.pattern + ")", re.IGNORECASE)


def _hedged_line(line: str, tol: float) -> bool:
    """A last line that offers several different numbers: only numbers ("3, 5, 7"), or two
    joined by "or" ("it could be 41, 43, or 45")."""
    if _distinct(_numbers(line), tol) < 2:
        return False
    if _HEDGE_GLUE.match(_NUM.sub(" ", line)):
        return True
    return any(_distinct(_numbers(f"{a} {b}"), tol) == 2 for a, b in _EITHER.findall(line))


def _answer_value(ans: str, tol: float):
    """A marker's answer as a value: a number when it is one (or holds one: `42 apples`, `x = 42`),
    the text otherwise; `_HEDGE` when it names several numbers (`41 or 42`)."""
    n = to_number(ans)
    if n is not None:
        return n
    tail = ans.rsplit("=", 1)[-1]  # `x = 42`, `3 + 4 = 7`: what the equation ends in
    n = to_number(tail)
    if n is not None:
        return n
    nums = _numbers(tail)
    if nums:
        return nums[0] if _distinct(nums, tol) == 1 else _HEDGE
    return _norm_text(ans)


_HEDGE = object()


@dataclass(frozen=True)
class Checker:
    """One way to read and compare final answers; `check(reference, completion)` never raises."""

    kind: str = "numeric"
    tolerance: float = 1e-6  # numeric: |got - want| <= tolerance * max(1, |want|)
    pattern: str = "####"  # pattern: a key of PATTERNS or a regex whose group 1 is the answer
    # math: seconds one check may take (parse and compare); a right answer takes ~1-100 ms, so
    # 5 s leaves room for a busy machine, and a check past it is wrong ("timeout").
    time_limit: float = 5.0

    def __post_init__(self):
        if self.kind not in CHECKERS:
            raise ValueError(f"checker must be one of {', '.join(CHECKERS)}, got {self.kind!r}")
        if self.tolerance < 0:
            raise ValueError("tolerance must be >= 0")
        limit = self.time_limit
        if isinstance(limit, bool) or not isinstance(limit, int | float) or not 0 < limit <= 3600:
            raise ValueError(f"time_limit must be a number of seconds in (0, 3600], got {limit!r}")
        try:
            rx = re.compile(PATTERNS.get(self.pattern, self.pattern))
        except re.error as e:
            raise ValueError(f"pattern {self.pattern!r} is not a valid regex: {e}") from None
        if rx.groups < 1:
            raise ValueError(f"pattern {self.pattern!r} needs one (group) around the answer")
        object.__setattr__(self, "_rx", rx)

    def extract(self, text: str) -> str | None:
        """The final answer in `text` as this checker reads it, or None. Never raises."""
        if not isinstance(text, str):
            return None
        text = text[-MAX_TEXT:]
        if self.kind == "exact":
            lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
            return lines[-1] if lines else None
        if self.kind == "numeric":
            return last_number(text)
        if self.kind == "pattern":
            found = self._rx.findall(text)
            if not found:
                return None
            last = found[-1] if isinstance(found[-1], str) else found[-1][0]
            return last.strip() or None
        return text.strip() or None

    def reference(self, answer: str) -> str | None:
        """The reference answer from a file's answer cell: with the `pattern` checker a worked
        solution that ends in the marker (GSM8K's `... #### 18`) gives what follows the marker."""
        if self.kind == "pattern" and self._rx.search(answer):
            return self.extract(answer)
        return answer.strip() or None

    def parses(self, answer: str) -> bool:
        """Can this checker compare against `answer` at all? (Bad rows fail this.)"""
        if self.kind == "numeric":
            return to_number(answer) is not None
        if self.kind == "math":
            found = _math_compare(answer, [], self.time_limit)
            return bool(found and found["gold"])  # one that takes longer than the limit is unreadable
        return bool(answer.strip())

    def check(self, reference: str, completion: str) -> tuple[bool, str | None]:
        """(is the completion's final answer right, the answer it gives). Never raises."""
        return self.judge(reference, completion)[:2]

    def judge(self, reference: str, completion: str) -> tuple[bool, str | None, str | None]:
        """`check`, and why a check was cut short: "timeout" (then it is wrong), else None."""
        try:
            return (*self._check(reference, completion), None)
        except CheckTimeout as e:
            return False, e.got, "timeout"
        except (ValueError, TypeError, OverflowError, RecursionError, MemoryError, re.error):
            return False, None, None  # an answer that cannot be read is not a right answer

    def _check(self, reference: str, completion: str) -> tuple[bool, str | None]:
        got = self.extract(completion)
        if got is None or not isinstance(reference, str):
            return False, None
        text = completion[-MAX_TEXT:]
        tol = self.tolerance
        if self.kind == "exact":
            return _norm_text(got) == _norm_text(reference), got
        if self.kind == "math":
            return _math_check(reference, text, got, self.time_limit), got
        if self.kind == "pattern":
            found = [f if isinstance(f, str) else f[0] for f in self._rx.findall(text)]
            values = [_answer_value(a.strip(), tol) for a in found if a.strip()]
            if not values or any(v is _HEDGE for v in values) or _distinct(values, tol) > 1:
                return False, got  # no answer, or more than one
            want = to_number(reference)
            have = values[-1]
            if want is not None and isinstance(have, float):
                return _equal(have, want, tol), got
            return have == _norm_text(reference), got
        # numeric: the last number, unless the text commits to different ones
        want, have = to_number(reference), to_number(got)
        if want is None or have is None:
            return False, got
        stated = _numbers(" ".join(m for m in _STATED.findall(text)))
        lines = [ln for ln in text.splitlines() if ln.strip()]
        if _distinct(stated + [have], tol) > 1 or (lines and _hedged_line(lines[-1], tol)):
            return False, got
        return _equal(have, want, tol), got


MATH_TEXT = 2_000  # math-verify sees only the end of a completion: sympy on huge input is slow


class CheckTimeout(Exception):
    """A math check ran past the checker's time limit."""

    def __init__(self, got: str | None):
        super().__init__("the math check ran past its time limit")
        self.got = got


_BOXED = re.compile(PATTERNS["boxed"])
# What sympy would take minutes or all memory over: a power of a power, a big exponent, a big
# factorial, a huge literal. No right answer a dataset holds looks like this. Caught here, such
# input costs nothing; what gets past it is still cut off by the time limit (and a restart).
_COSTLY = re.compile(r"\^\s*\{[^{}]*\^|\^\s*\{?\s*\d{4,}|\d{4,}\s*!|\d{300,}|\*\*\s*\(?\s*\d+\s*\*\*")


def _math_check(reference: str, text: str, got: str, limit_s: float) -> bool:
    """Every boxed answer equals the reference (one or more, all the same value); with none, the
    answer math-verify finds at the end of the text. Raises CheckTimeout past `limit_s`."""
    boxed = _BOXED.findall(text[-MATH_TEXT:])
    candidates = [f"\\boxed{{{b}}}" for b in boxed] if boxed else [got]
    if any(_COSTLY.search(c[-MATH_TEXT:]) for c in candidates):
        return False
    found = _math_compare(reference, [c[-MATH_TEXT:] for c in candidates], limit_s)
    if found is None:
        raise CheckTimeout(got)
    return found["ok"]


def _math_compare(reference: str, preds: list[str], limit_s: float) -> dict | None:
    """math_worker.compare of the reference (a bare `x+1` parses as math) with `preds`; None past
    the limit. A costly reference parses as nothing."""
    # Absolute, not `.math_worker`: benchmarks/checkers.py loads an old revision of this file alone.
    from synthloop.domains.math_worker import compare

    if _COSTLY.search(reference[-MATH_TEXT:]):
        return {"gold": False, "ok": False}
    return compare([reference[-MATH_TEXT:], f"${reference[-MATH_TEXT:]}$"], preds, limit_s)


# -- calculator annotations: GSM8K writes each step as `<<48/2=24>>` --------------------------
_ANN = re.compile(r"<<([^<>\n]{1,200})>>")
_OPS = {ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul,
        ast.Div: operator.truediv, ast.FloorDiv: operator.floordiv, ast.Mod: operator.mod, ast.Pow: operator.pow}
_PERCENT = re.compile(r"(\d(?:\.\d+)?)%(?![\d.(])")
_LEADING_ZEROS = re.compile(r"(?<![\d.])0+(?=\d)")  # zeros before a digit that start a number


def _eval(node) -> float:
    if isinstance(node, ast.Constant) and type(node.value) in (int, float):
        return node.value
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub | ast.UAdd):
        v = _eval(node.operand)
        return -v if isinstance(node.op, ast.USub) else v
    if isinstance(node, ast.BinOp) and type(node.op) in _OPS:
        a, b = _eval(node.left), _eval(node.right)
        if isinstance(node.op, ast.Pow) and (abs(b) > 64 or abs(a) > 1e6):
            raise ValueError("power too large")
        if isinstance(node.op, ast.Mult | ast.Pow) and max(abs(a), abs(b)) > 1e300:
            raise ValueError("too large to check")  # keeps big-int products from growing without end
        return _OPS[type(node.op)](a, b)
    raise ValueError("not arithmetic")


def arith(text: str) -> float | None:
    """The value of a plain arithmetic expression (`+ - * / // % **`, parentheses, `1,200`,
    `5%` as 0.05), or None when it is not one. Safe: no names, no calls.

    >>> arith("48/2"), arith("1,200*3"), arith("x+1"), arith("081"), arith("1.05+0.5")
    (24.0, 3600.0, None, 81.0, 1.55)
    """
    t = _THOUSANDS.sub("", text.strip().replace("$", ""))
    t = _PERCENT.sub(r"(\1/100)", t)
    t = _LEADING_ZEROS.sub("", t)  # "081" (a chat model's 3-digit sum) is 81; Python reads it as an error
    if not t or len(t) > 200:
        return None
    try:
        v = float(_eval(ast.parse(t, mode="eval").body))  # float() of a huge int overflows: not checkable
    except (SyntaxError, ValueError, ZeroDivisionError, OverflowError, TypeError, MemoryError, RecursionError):
        return None
    return v if math.isfinite(v) else None


def _same(true: float, written: str) -> bool:
    """Is `written` the true value, up to the rounding (or truncation) its decimals show?"""
    w = arith(written)
    if w is None:
        return False
    if abs(true - w) <= 1e-9 * max(1.0, abs(true)):
        return True
    decimals = len(written.split(".")[1]) if "." in written else 0
    return abs(true - w) < 10.0**-decimals  # 2/3 written as 0.67, 0.666 or 0.7 is fine


@dataclass(frozen=True)
class AnnotatedStep:
    text: str  # what is between << and >>
    value: float | None  # the true value of the left side; None when it is not arithmetic
    claimed: str | None  # the written result (after the last '=')
    ok: bool | None  # None: not checkable


def annotated_steps(completion: str) -> list[AnnotatedStep]:
    """Every `<<expr=result>>` in `completion`, checked. Chains `a=b=c` check every checkable part."""
    out = []
    for m in _ANN.finditer(completion[-MAX_TEXT:]):
        parts = m[1].split("=")
        if len(parts) < 2:
            out.append(AnnotatedStep(m[1], None, None, None))
            continue
        claimed = parts[-1].strip()
        vals = [v for v in (arith(p) for p in parts[:-1]) if v is not None]
        if not vals or arith(claimed) is None:
            out.append(AnnotatedStep(m[1], vals[0] if vals else None, claimed, None))
            continue
        out.append(AnnotatedStep(m[1], vals[0], claimed, all(_same(v, claimed) for v in vals)))
    return out


_PLAIN = r"(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?"
# A written equation outside any annotation: `47 + 35 = 82`, `28 - 18 = 10`, `3 × 4 = 12`; two or
# more numbers joined by + - * / × ÷, then `=` and a number. Not a date (2024-01-05) or a range:
# the expression must have a space or an operator between plain numbers and end in `= number`.
_WRITTEN = re.compile(rf"(?<![\w.,/-])((?:{_PLAIN})(?:\s*[-+*/×÷]\s*(?:{_PLAIN}))+)\s*=\s*(-?{_PLAIN})(?!\d|\.\d|,\d|\s*[-+*/×÷]\s*\d)")


def written_steps(completion: str) -> list[AnnotatedStep]:
    """Every plain-text equation `a op b = c` in `completion`, checked like an annotation.

    A chat model that writes `14 - 15 = 1` and ends on 1 has the final answer of `15 - 14` and a
    false equation: with the file domain's `equations` knob such a row fails its steps check.

    >>> [(s.text, s.ok) for s in written_steps("So 47 + 35 = 82, and 14 - 15 = 1.\\n82")]
    [('47 + 35=82', True), ('14 - 15=1', False)]
    >>> written_steps("on 2024-01-05 at 10:30 = now")
    []
    """
    out = []
    for m in _WRITTEN.finditer(completion[-MAX_TEXT:]):
        expr = m[1].replace("×", "*").replace("÷", "/")
        value = arith(expr)
        out.append(AnnotatedStep(f"{m[1]}={m[2]}", value, m[2], None if value is None else _same(value, m[2])))
    return out


_OPERAND = re.compile(r"\d[\d,]*(?:\.\d+)?|\.\d+")


def _operands(text: str) -> list[float]:
    """The unsigned numbers in an expression: in `10-8` the operands are 10 and 8."""
    return [n for n in (to_number(x) for x in _OPERAND.findall(text)) if n is not None]


def classify_annotations(completion: str, correct: bool, answer: str | None,
                         written: bool = False) -> tuple[int | None, str, int]:
    """(index of the first wrong annotated step, its kind, number of annotated steps).

    The kind is `dynamic` when the wrong result is used later (it is an operand of a later
    annotated step) or when it became the final answer and that answer is wrong; otherwise the
    slip stayed local and it is `static`. `none` when every checkable step is right. `written`:
    plain-text equations (`47 + 35 = 82`) count as steps too.

    >>> classify_annotations("2*3=<<2*3=7>>7 and 7+1=<<7+1=8>>8\\nA: 8", False, "8")
    (0, 'dynamic', 2)
    >>> classify_annotations("2*3=<<2*3=7>>6 and 6+1=<<6+1=7>>7\\nA: 7", True, "7")
    (0, 'static', 2)
    """
    steps = annotated_steps(completion) + (written_steps(completion) if written else [])
    final = to_number(answer)
    for i, s in enumerate(steps):
        if s.ok is False:
            wrong = arith(s.claimed)
            if wrong is None:  # a claim that is no number cannot be traced into a later step or the answer
                return i, "static", len(steps)
            w = abs(wrong)

            def near(x, w=w):
                return x is not None and abs(abs(x) - w) <= 1e-9 * max(1.0, w)

            used = any(near(x) for t in steps[i + 1 :] for x in _operands(t.text.split("=")[0]))
            return i, "dynamic" if used or (near(final) and not correct) else "static", len(steps)
    return None, "none", len(steps)
