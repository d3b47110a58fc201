"""Evaluate a model on the held-out problems, through the round's own backend (vLLM for a
pretrained model where it is installed): the engine stays loaded for the next round, which
generates with this model if the gate promotes it."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
from synthloop.domains import Problem
from synthloop.generators.prompts import prompt_format
from synthloop.training.evaluate import evaluate, wilson
from synthloop.warehouse import Catalog

from .backend import GENERATING, backend_for
from .config import LoopConfig
from .problems import domains_of, heldout
from .progress import Progress
from .records import HEADLINE, EvalMetrics
from .trainset import train_name


def evaluate_model(path: Path, cfg: LoopConfig) -> EvalMetrics:
    """Held-out metrics of the model at `path`. An OpenAI server serves its own model, not this
    candidate, so that backend evaluates through transformers (loop/backend.py)."""
    fmt = prompt_format(path, cfg.generation.prompt_format)  # the rounds' format: chat models are asked as chat
    doms = domains_of(cfg)
    problems = heldout(cfg)
    per_domain = {}
    with GENERATING:
        backend = backend_for(cfg, path, evaluating=True)
        with Progress(len(problems) * (1 + cfg.eval.n_samples), f"evaluate {Path(path).name}") as bar:
            for name, dom in doms.items():
                ps = [p for p in problems if p.domain == name]
                per_domain[name] = evaluate(backend, dom, ps, cfg.eval, prompt_format=fmt, progress=bar.update)
    if len(per_domain) == 1:
        return EvalMetrics.from_dict(next(iter(per_domain.values())) | {"backend": backend.name})
    # Several domains: the headline numbers are weighted by problem count.
    total = sum(m["n_problems"] for m in per_domain.values())
    merged = {key: sum(m[key] * m["n_problems"] for m in per_domain.values()) / total for key in HEADLINE}
    per_problem = {k: v for m in per_domain.values() for k, v in m["per_problem"].items()}
    return EvalMetrics.from_dict(
        merged | {"k": cfg.eval.k, "n_problems": total, "by_domain": per_domain, "per_problem": per_problem,
                  "accuracy_ci": list(wilson(sum(per_problem.values()), total)), "backend": backend.name})


def trained_prompts(cat: Catalog, cfg: LoopConfig, round: int, prompts: Sequence[str]) -> set[str]:
    """Those of `prompts` that a training set of the run holds, up to round `round`: the seed set
    and every round's training set (`<name>-train`), kept rows only."""
    want = pa.array(sorted(set(prompts)), pa.string())
    found: set[str] = set()
    for name in (f"{cfg.name}-seed", train_name(cfg.name)):
        for v in cat.versions(name):
            if v["round"] is None or v["round"] <= round:
                col = cat.read_table(f"{name}@{v['version']}", columns=["prompt", "kept"], kept_only=True)["prompt"]
                found.update(col.filter(pc.is_in(col, value_set=want)).to_pylist())
    return found


def with_overlap(ev: EvalMetrics, problems: Sequence[Problem], seen: set[str]) -> EvalMetrics:
    """`ev` with how many held-out problems a training set held (`heldout_seen`: the same prompt)
    and the greedy accuracy on the others (`accuracy_unseen`, with its 95% interval). A generated
    domain draws from a small space at low difficulty (100 one-digit sums), so a held-out problem
    is often also a training problem: the unseen accuracy is the one that measures generalization.

    >>> ev = EvalMetrics(0.5, 0.5, 1, 0.5, 2, {"per_problem": {"a": 1, "b": 0}})
    >>> d = with_overlap(ev, [Problem("a", "x", 1, "1+1=", "2"), Problem("b", "x", 1, "1+2=", "3")], {"1+1="}).detail
    >>> d["heldout_seen"], d["accuracy_unseen"], d["n_unseen"]
    (1, 0.0, 1)
    """
    per = ev.detail.get("per_problem") or {}
    unseen = [p.id for p in problems if p.prompt not in seen and p.id in per]
    k = sum(per[i] for i in unseen)
    return EvalMetrics.from_dict(ev.to_dict() | {
        "heldout_seen": len(problems) - len(unseen), "n_unseen": len(unseen),
        "accuracy_unseen": k / len(unseen) if unseen else None,
        "accuracy_unseen_ci": list(wilson(k, len(unseen))) if unseen else None})


def evaluate_against(cat: Catalog, cfg: LoopConfig, round: int, path: Path) -> EvalMetrics:
    """`evaluate_model`, with the held-out problems that a training set so far held scored apart."""
    problems = heldout(cfg)
    ev = evaluate_model(path, cfg)
    return with_overlap(ev, problems, trained_prompts(cat, cfg, round, [p.prompt for p in problems]))
