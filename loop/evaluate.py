"""Evaluate a model on the held-out problems, through the round's own backend (vLLM for a
pretrained model where it is installed): the engine stays loaded for the next round, which
generates with this model if the gate promotes it."""

from __future__ import annotations

from pathlib import Path

from synthloop.generators.prompts import prompt_format
from synthloop.training.evaluate import evaluate, wilson

from .backend import GENERATING, backend_for
from .config import LoopConfig
from .problems import domains_of, heldout
from .progress import Progress
from .records import HEADLINE, EvalMetrics


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
