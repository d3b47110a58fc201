"""Verifiable problem families. Pure: imports nothing else from synthloop.

Built in: `addition`, `mul`, `sort`, `median`, `gcd`, `base` (algorithmic: every step is replayed
and checked), and `file` (a user's own JSONL/Parquet problems with a chosen answer checker).
"""

from .addition import Addition
from .base import ERROR_KINDS, Domain, Problem, Verdict
from .baseconv import BaseConversion
from .file import FileDomain
from .gcd import Gcd
from .median import Median
from .multiplication import Multiplication
from .sorting import Sorting

DOMAINS = {
    "addition": Addition,
    "mul": Multiplication,
    "sort": Sorting,
    "median": Median,
    "gcd": Gcd,
    "base": BaseConversion,
    "file": FileDomain,
}
# Domains whose verifier accepts several valid solution paths (and whose reference solver can
# write several: `solution(problem, variant=k)` for k in range(n)).
PATHS = {"addition": 1, "mul": 8, "sort": 4, "median": 3, "gcd": 2, "base": 1, "file": 1}
# What the integer `difficulty` (1, 2, ...) sets in each domain.
DIFFICULTY = {
    "addition": "digits of the larger operand",
    "mul": "digits of one operand (the other has half as many)",
    "sort": "list length - extra_length",
    "median": "(list length - 1) / 2",
    "gcd": "digits of both numbers",
    "base": "answer digits - 1",
    "file": "the difficulty_column, else every row is 1",
}


def get_domain(name: str, **knobs) -> Domain:
    """The domain called `name`, built with its knobs; a bad knob is a ValueError naming it."""
    if name not in DOMAINS:
        raise ValueError(f"unknown domain {name!r}; known: {', '.join(sorted(DOMAINS))}")
    try:
        return DOMAINS[name](**knobs)
    except TypeError as e:
        raise ValueError(f"domain {name!r}: {e}; see `synthloop domains` for its knobs") from None


def describe() -> list[dict]:
    """One entry per domain: name, knobs with their defaults, number of reference paths, summary."""
    import inspect

    out = []
    for name, cls in DOMAINS.items():
        params = inspect.signature(cls.__init__).parameters
        knobs = {k: (None if p.default is inspect.Parameter.empty else p.default)
                 for k, p in params.items() if k != "self"}
        doc = (inspect.getdoc(inspect.getmodule(cls)) or "").splitlines()[0]
        out.append({"name": name, "knobs": knobs, "difficulty": DIFFICULTY[name], "reference_paths": PATHS[name],
                    "several_paths": name in ("mul", "sort", "median", "gcd"), "summary": doc})
    return out


__all__ = [
    "DOMAINS",
    "ERROR_KINDS",
    "PATHS",
    "Addition",
    "BaseConversion",
    "Domain",
    "FileDomain",
    "Gcd",
    "Median",
    "Multiplication",
    "Problem",
    "Sorting",
    "Verdict",
    "describe",
    "get_domain",
]
