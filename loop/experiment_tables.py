"""The tables of `synthloop experiment`, read back from the catalog: one row per cell (noise) or
per arm and round (collapse, passk), mean, min and max over seeds."""

from __future__ import annotations

from synthloop.training.evaluate import pass_at_ks
from synthloop.warehouse import Catalog

from .config import LoopConfig
from .experiments import Arm, ExperimentSpec
from .publish import code_version as current_code_version


def held(cat: Catalog, run: str) -> list[tuple[dict, dict]]:
    """Per finished round: (the held-out metrics of the model the run holds after it, the round)."""
    out, current = [], None
    for r in cat.rounds(run):
        if r["promoted"] or current is None:
            current = r["metrics"]["eval"]
        out.append((current, r))
    return out


def _spread(rows: list[dict], keys: list[str]) -> dict:
    """Mean over seeds of each key, with `<key>_min` / `<key>_max` (None when no seed has it)."""
    out = {"seeds": len(rows)}
    for k in keys:
        vals = [r[k] for r in rows if isinstance(r.get(k), (int, float))]
        out[k] = sum(vals) / len(vals) if vals else None
        out[f"{k}_min"] = min(vals) if vals else None
        out[f"{k}_max"] = max(vals) if vals else None
    return out


def _group(arms: list[Arm]) -> dict[str, list[Arm]]:
    groups: dict[str, list[Arm]] = {}
    for a in arms:
        groups.setdefault(a.label, []).append(a)
    return groups


def noise_table(cat: Catalog, arms: list[Arm]) -> list[dict]:
    """One row per cell: held-out accuracy after fine-tuning (mean, min, max over seeds), and what
    the cell's training set held (share noised, share with a wrong final answer)."""
    out = []
    first = arms[0]
    boot = [cat.rounds(a.cfg.name)[0]["metrics"]["eval"]["accuracy"] for a in arms if a.label == first.label]
    out.append({"cell": "bootstrap (before fine-tuning)", "noise": "-", "share": None, "noised_rows": None,
                "wrong_answer_rows": None} | _spread([{"accuracy": b} for b in boot], ["accuracy"]))
    for label, group in _group(arms).items():
        per_seed = []
        for a in group:
            r = next(r for r in cat.rounds(a.cfg.name) if r["round"] == 1)
            t = cat.read_table(f"{a.cfg.name}@{r['dataset_version']}", columns=["sampler", "correct"])
            n = max(1, t.num_rows)
            per_seed.append({"accuracy": r["metrics"]["eval"]["accuracy"],
                             "noised_rows": sum(s != "reference" for s in t["sampler"].to_pylist()) / n,
                             "wrong_answer_rows": sum(not c for c in t["correct"].to_pylist()) / n})
        agg = _spread(per_seed, ["accuracy", "noised_rows", "wrong_answer_rows"])
        out.append({"cell": label, "noise": group[0].noise.kind, "share": group[0].noise.rate,
                    "noised_rows": agg.pop("noised_rows"), "wrong_answer_rows": agg.pop("wrong_answer_rows")}
                   | {k: v for k, v in agg.items() if not k.startswith(("noised_rows", "wrong_answer_rows"))})
    return out


COLLAPSE_KEYS = ["accuracy", "pass_at_k", "heldout_distinct_correct", "correct_share", "distinct_correct",
                 "distinct_2", "vendi"]


def collapse_table(cat: Catalog, arms: list[Arm]) -> list[dict]:
    """One row per arm and round: the held model's held-out accuracy, pass@k and distinct correct
    samples; the round's kept data: share verified correct, distinct correct solutions per
    problem, distinct-2 and Vendi."""
    out = []
    for label, group in _group(arms).items():
        runs = [(a, held(cat, a.cfg.name)) for a in group]
        for i in range(max(len(r) for _, r in runs)):
            per_seed = []
            for a, run in runs:
                if i >= len(run):
                    continue
                ev, r = run[i]
                data = r["metrics"].get("data") or {}
                per_seed.append({
                    "accuracy": ev["accuracy"], "pass_at_k": ev["pass_at_k"],
                    "heldout_distinct_correct": ev.get("distinct_correct"),
                    "correct_share": _kept_correct_share(cat, a.cfg.name, r["dataset_version"]),
                    "distinct_correct": data.get("distinct_correct_per_problem"),
                    "distinct_2": data.get("distinct_2"), "vendi": data.get("vendi"),
                    "promoted": r["promoted"],
                })
            row = {"arm": label, "round": i, "promoted": sum(p["promoted"] for p in per_seed)}
            out.append(row | _spread(per_seed, COLLAPSE_KEYS))
    return out


def _kept_correct_share(cat: Catalog, run: str, version: int | None) -> float | None:
    """Share of a round's kept rows (what the model trains on) whose final answer is right."""
    if version is None:
        return None
    t = cat.read_table(f"{run}@{version}", columns=["correct", "kept"], kept_only=True)
    return sum(t["correct"].to_pylist()) / t.num_rows if t.num_rows else None


def passk_table(cat: Catalog, arms: list[Arm]) -> list[dict]:
    """One row per arm and checkpoint: greedy accuracy and pass@k for k = 1, 2, 4, ... n_samples."""
    out = []
    ks = pass_at_ks(arms[0].cfg.eval.n_samples)
    keys = ["accuracy"] + [f"pass@{k}" for k in ks]
    for label, group in _group(arms).items():
        runs = [held(cat, a.cfg.name) for a in group]
        for i in range(max(len(r) for r in runs)):
            per_seed = [{"accuracy": run[i][0]["accuracy"]} | {f"pass@{k}": run[i][0].get("pass_at", {}).get(str(k))
                                                               for k in ks} for run in runs if i < len(run)]
            epochs = i * (group[0].cfg.finetune.train.steps * group[0].cfg.finetune.train.batch_size
                          / group[0].cfg.generation.problems_per_round)
            step = f"{epochs:.0f} epochs" if label == "sft" else f"round {i}"
            out.append({"arm": label, "checkpoint": i, "training": step} | _spread(per_seed, keys))
    return out


TABLES = {"noise": noise_table, "collapse": collapse_table, "passk": passk_table}


def result(cat: Catalog, name: str, cfg: LoopConfig, spec: ExperimentSpec, base: LoopConfig, arms: list[Arm],
           code_version: str | None = None) -> dict:
    """Everything the table, the JSON and the page show, read back from the catalog.
    `code_version`: the code the arms ran (taken when the experiment started)."""
    return {
        "experiment": name, "rows": TABLES[name](cat, arms),
        "arms": [{"run": a.cfg.name, "label": a.label, "seed": a.seed, "setting": a.setting,
                  "model": held(cat, a.cfg.name)[-1][1]["model_out"]} for a in arms],
        "base_model": f"{base.name}-m0", "seeds": len({a.seed for a in arms}),
        "code_version": code_version or current_code_version(), "config": cfg.model_dump(mode="json"),
        "spec": getattr(spec, name).model_dump(mode="json"),
    }
