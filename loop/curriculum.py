"""The curriculum stage: read the pass rates a round's decision rests on from the catalog, and
decide each domain's difficulty mix with `generators.curriculum.decide` (pure; read it there).

Evidence, newest first: the held-out evaluation of the incumbent (the model that generates this
round; every difficulty up to `eval.difficulties`), then the verified share of the previous
round's samples per (domain, difficulty), for a difficulty the evaluation does not cover.
"""

from __future__ import annotations

import pyarrow.compute as pc
from synthloop.generators.allocate import split_budget
from synthloop.generators.curriculum import decide, pass_rates
from synthloop.warehouse import Catalog

from .config import LoopConfig


def _eval_by_domain(ev: dict, names: list[str]) -> dict[str, dict]:
    if "by_domain" in ev:
        return {n: ev["by_domain"].get(n, {}).get("by_difficulty", {}) for n in names}
    return {names[0]: ev.get("by_difficulty", {})}  # one domain: the metrics are that domain's


def _row_counts(cat: Catalog, cfg: LoopConfig, round: int) -> dict[str, dict[int, tuple[int, int]]]:
    """(samples, verified) per domain and difficulty in round `round`'s published rows."""
    found = [v for v in cat.versions(cfg.name) if v["round"] == round]
    if not found or round < 1:
        return {}
    t = cat.read_table(f"{cfg.name}@{found[-1]['version']}", columns=["domain", "difficulty", "correct", "rationalized"])
    t = t.filter(pc.invert(pc.fill_null(t["rationalized"], False)))  # hinted rows say nothing of the model's own pass rate
    out: dict[str, dict[int, list[int]]] = {}
    for dom, d, ok in zip(*(t[c].to_pylist() for c in ("domain", "difficulty", "correct"))):
        n_c = out.setdefault(dom, {}).setdefault(int(d), [0, 0])
        n_c[0] += 1
        n_c[1] += bool(ok)
    return {dom: {d: (n, c) for d, (n, c) in by.items()} for dom, by in out.items()}


def round_curriculum(cat: Catalog, cfg: LoopConfig, round: int, incumbent_eval: dict) -> dict:
    """This round's decision. The top level is the first domain's decision (policy, frontier,
    by_difficulty: {d: {pass_rate, share, problems, reason}}); `by_domain` has every domain's."""
    names = [d.name for d in cfg.domains]
    evals = _eval_by_domain(incumbent_eval or {}, names)
    rows = _row_counts(cat, cfg, round - 1)
    counts = split_budget(cfg.generation.problems_per_round, [d.weight for d in cfg.domains])
    by_domain = {}
    for name, n in zip(names, counts):
        rates = pass_rates(evals.get(name), rows.get(name), f"round {round - 1}")
        by_domain[name] = decide(rates, n, cfg.curriculum, cfg.generation.difficulty_weights)
    return by_domain[names[0]] | {"by_domain": by_domain}


def mix_of(decision: dict) -> dict[str, dict[int, int]]:
    """{domain: {difficulty: problems}}: what `stages.sample_problems` draws."""
    return {name: {int(d): v["problems"] for d, v in dec["by_difficulty"].items() if v["problems"]}
            for name, dec in decision["by_domain"].items()}
