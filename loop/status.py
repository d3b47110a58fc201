"""The rows `synthloop status` prints: one per finished round, read from the catalog alone.

Kept apart from `stages` on purpose: `synthloop status` imports this module and the catalog only,
never torch, transformers or Prefect, so it answers in about a second (`python -X importtime`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from synthloop.warehouse import Catalog


def status_rows(cat: Catalog, run: str) -> list[dict]:
    """One row per finished round, the keys `synthloop status --json` prints."""
    out = []
    for r in cat.rounds(run):
        m = r["metrics"]
        ev = m.get("eval", {})
        data = m.get("data", {})
        out.append({
            "round": r["round"], "model": r["model_out"], "promoted": r["promoted"],
            "dataset_version": r["dataset_version"], "generated": m.get("generated"),
            "correct": m.get("correct"), "kept": m.get("kept"),
            "heldout_accuracy": ev.get("accuracy"), "pass_at_k": ev.get("pass_at_k"), "k": ev.get("k"),
            "maj_at_k": ev.get("maj_at_k"), "distinct_2": data.get("distinct_2"),
            "distinct_correct_per_problem": data.get("distinct_correct_per_problem"),
            "distinct_3": data.get("distinct_3"), "compression_ratio": data.get("compression_ratio"),
            "vendi": data.get("vendi"), "mean_embedding_distance": data.get("mean_embedding_distance"),
            "collapse_alerts": data.get("collapse_alerts", []),
            # held-out problems a training set so far held, and the accuracy on the others
            "heldout_seen": ev.get("heldout_seen"), "accuracy_unseen": ev.get("accuracy_unseen"),
            "contaminated": (data.get("drop_reasons") or {}).get("contaminated", 0) if data else None,
            "audit": _audit(data.get("audit")), "audit_alerts": data.get("audit_alerts", []),
            "cost": data.get("cost"),  # tokens, compute seconds, kept per 1k tokens and per minute, per sampler
            "by_difficulty": {d: v["accuracy"] for d, v in ev.get("by_difficulty", {}).items()},
            # the difficulty this round's curriculum was learning at (generators/curriculum.py)
            "frontier": (data.get("curriculum") or {}).get("frontier"),
            "reason": r["reason"],
        })
    return out


def _audit(record: dict | None) -> dict | None:
    """The audit's rates and intervals (its examples stay in the report)."""
    return {k: v for k, v in record.items() if k != "examples"} if record else None
