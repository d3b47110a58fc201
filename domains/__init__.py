"""Verifiable problem families. Pure: imports nothing else from synthloop."""

from .addition import Addition
from .base import ERROR_KINDS, Domain, Problem, Verdict

DOMAINS = {"addition": Addition}


def get_domain(name: str, **knobs) -> Domain:
    """The domain called `name`, built with its difficulty knobs."""
    if name not in DOMAINS:
        raise ValueError(f"unknown domain {name!r}; known: {', '.join(sorted(DOMAINS))}")
    return DOMAINS[name](**knobs)


__all__ = ["Addition", "DOMAINS", "Domain", "ERROR_KINDS", "Problem", "Verdict", "get_domain"]
