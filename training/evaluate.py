"""Held-out evaluation: greedy accuracy, pass@k (unbiased estimator), maj@k, distinct correct
solutions, each overall and by difficulty. Accuracy always comes from real generations.

The generation backend is injected (anything with `generate(requests) -> completions`).
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from math import comb

from synthloop.domains import Domain, Problem
from synthloop.generators.allocate import split_budget
from synthloop.generators.base import Request, Sampler, sample_seed
from synthloop.generators.prompts import RAW, PromptFormat

from .gate import Z95

# Each difficulty of the held-out draw has a seed of its own, seed + SEED_STRIDE * d. Any stride
# would do; this one is a prime (the 1000th), a choice.
SEED_STRIDE = 7919


def pass_at_k(n: int, c: int, k: int) -> float:
    """Unbiased pass@k from n samples of which c are correct (Chen et al. 2021): 1 - C(n-c,k)/C(n,k).

    >>> pass_at_k(4, 0, 2), pass_at_k(4, 4, 2), round(pass_at_k(4, 1, 2), 4)
    (0.0, 1.0, 0.5)
    """
    if not 0 <= c <= n or not 1 <= k <= n:
        raise ValueError(f"pass_at_k needs 0 <= c <= n and 1 <= k <= n, got n={n} c={c} k={k}")
    if n - c < k:
        return 1.0
    return 1.0 - comb(n - c, k) / comb(n, k)


@dataclass
class EvalConfig:
    # Split evenly over the difficulties: 30 each by default, where one accuracy's standard error
    # is up to +-9 points (sqrt(0.25 / 30)); overall, 270 problems: +-3.
    n_problems: int = 270
    # Every difficulty up to 3x the seed set's largest (1-3): the frontier's movement stays
    # visible beyond what the model has reached.
    difficulties: tuple[int, ...] = (1, 2, 3, 4, 5, 6, 7, 8, 9)
    seed: int = 10_000  # far from the training seeds: held-out problems never repeat per round
    k: int = 4  # pass@k and maj@k from k samples per problem at the temperature below
    n_samples: int = 8  # samples per problem drawn for pass@k (>= k)
    # The demo's `warm` sampler's temperature; Chen et al. 2021 found ~0.8 best for pass@k at large k.
    temperature: float = 0.8
    max_new_tokens: int = 96  # as generators.base.Sampler's default


def wilson(k: int, n: int, z: float = Z95) -> tuple[float, float]:
    """95% Wilson score interval of a proportion k/n (sound at 0% and 100%, unlike the normal one).

    >>> [round(x, 3) for x in wilson(0, 10)], [round(x, 3) for x in wilson(50, 100)]
    ([0.0, 0.278], [0.404, 0.596])
    """
    if n <= 0:
        return (0.0, 1.0)
    p = k / n
    den = 1 + z * z / n
    mid = (p + z * z / (2 * n)) / den
    half = z * ((p * (1 - p) / n + z * z / (4 * n * n)) ** 0.5) / den
    return (max(0.0, mid - half), min(1.0, mid + half))


def pass_at_ks(n: int) -> list[int]:
    """The k of the pass@k curve: powers of two up to n, and n itself.

    >>> pass_at_ks(16), pass_at_ks(6)
    ([1, 2, 4, 8, 16], [1, 2, 4, 6])
    """
    return sorted({2**i for i in range(n.bit_length()) if 2**i <= n} | {n})


def heldout_problems(domain: Domain, cfg: EvalConfig) -> list[Problem]:
    """The held-out problems: a domain with a fixed pool of problems (the file domain) gives them
    from its held-out split, which training never draws from; a generated domain draws them with
    the eval seed."""
    split = getattr(domain, "heldout_problems", None)
    if split is not None:
        return split(cfg.n_problems, cfg.seed, list(cfg.difficulties))
    # The same number at every difficulty (a uniform draw leaves some with few), each with a
    # seed of its own, so adding a difficulty leaves the others' problems as they were.
    diffs = sorted(set(cfg.difficulties))
    out: list[Problem] = []
    for d, n in zip(diffs, split_budget(cfg.n_problems, [1] * len(diffs))):
        out += domain.make_problems(n, cfg.seed + SEED_STRIDE * d, [d])  # ids differ: the seed is in them
    return out


def evaluate(backend, domain: Domain, problems: Sequence[Problem], cfg: EvalConfig,
             prompt_format: PromptFormat = RAW, progress: Callable[[int], None] | None = None) -> dict:
    """All held-out metrics for the model behind `backend`; prompts finished by `prompt_format`
    (the chat template when the rounds use one), `progress(n)` after each batch of generations."""
    greedy = Sampler("eval-greedy", temperature=0.0, max_new_tokens=cfg.max_new_tokens)
    hot = Sampler("eval-sample", temperature=cfg.temperature, max_new_tokens=cfg.max_new_tokens)
    reqs = [Request(prompt_format(p.prompt), greedy, 0) for p in problems]
    for p in problems:
        reqs += [Request(prompt_format(p.prompt), hot, sample_seed("eval", p.id, j)) for j in range(cfg.n_samples)]
    outs = backend.generate(reqs, progress=progress)
    g_outs, s_outs = outs[: len(problems)], outs[len(problems) :]

    by_diff: dict[int, dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    per_problem: dict[str, int] = {}  # greedy verdict per problem: the gate's paired comparison
    curve_ks = pass_at_ks(cfg.n_samples)
    curve: dict[int, list[float]] = defaultdict(list)
    for i, p in enumerate(problems):
        g = domain.verify(p, g_outs[i].text)
        samples = s_outs[i * cfg.n_samples : (i + 1) * cfg.n_samples]
        verdicts = [domain.verify(p, s.text) for s in samples]
        c = sum(v.correct for v in verdicts)
        votes = Counter(v.extracted for v in verdicts if v.extracted is not None)
        maj = votes.most_common(1)[0][0] if votes else None
        distinct = len({s.text for s, v in zip(samples, verdicts) if v.correct})
        row = by_diff[p.difficulty]
        row["accuracy"].append(float(g.correct))
        per_problem[p.id] = int(g.correct)
        row["pass_at_k"].append(pass_at_k(cfg.n_samples, c, cfg.k))
        for k in curve_ks:
            curve[k].append(pass_at_k(cfg.n_samples, c, k))
        row["maj_at_k"].append(float(maj == p.answer))
        row["distinct_correct"].append(float(distinct))
    metrics = {}
    for key in ("accuracy", "pass_at_k", "maj_at_k", "distinct_correct"):
        vals = [v for d in by_diff.values() for v in d[key]]
        metrics[key] = sum(vals) / len(vals) if vals else 0.0
    metrics["k"] = cfg.k
    # pass@k for every power of two up to n_samples, from the same samples (`synthloop experiment passk`)
    metrics["pass_at"] = {str(k): sum(v) / len(v) for k, v in curve.items() if v}
    metrics["n_problems"] = len(problems)
    metrics["accuracy_ci"] = list(wilson(sum(per_problem.values()), len(problems)))
    metrics["per_problem"] = per_problem
    metrics["prompt_format"] = prompt_format.name
    metrics["by_difficulty"] = {
        int(d): {key: sum(v) / len(v) for key, v in vals.items()} | {"n": len(vals["accuracy"])}
        for d, vals in sorted(by_diff.items())
    }
    return metrics
