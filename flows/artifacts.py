"""The round's quality summary as Prefect artifacts on its flow run (Markdown + tables).

Keys are stable per run (`synthloop-<run>-summary`, `-by-sampler`, `-rounds`), so the Prefect UI
shows each as one artifact with a version per round.
"""

from __future__ import annotations

import re

from prefect.artifacts import create_markdown_artifact, create_table_artifact
from synthloop.warehouse import Catalog
from synthloop.warehouse.summary import markdown, sampler_table, summarize


def artifact_key(run: str, what: str) -> str:
    """Prefect artifact keys allow lowercase letters, digits and dashes only.

    >>> artifact_key("My_Run.v2", "summary")
    'synthloop-my-run-v2-summary'
    """
    return re.sub(r"[^a-z0-9-]+", "-", f"synthloop-{run.lower()}-{what}").strip("-")


def publish_artifacts(home: str, ref: str) -> dict[str, str]:
    """Create the summary artifacts of dataset version `ref` in the current flow run; returns their keys."""
    s = summarize(Catalog(home), ref, n_samples=0)
    run = s["info"]["name"]
    keys = {w: artifact_key(run, w) for w in ("summary", "by-sampler", "rounds")}
    create_markdown_artifact(markdown(s), key=keys["summary"], description=f"quality summary of {s['ref']}")
    create_table_artifact(
        sampler_table(s), key=keys["by-sampler"], description=f"pass rate and cost by sampler in {s['ref']}",
    )
    create_table_artifact(rounds_table(s["history"]), key=keys["rounds"],
                          description=f"held-out evaluation, gate and diversity per round of {run}")
    return keys


def rounds_table(history: list[dict]) -> list[dict]:
    """One row per round with the same columns in every row: Prefect's table takes its columns
    from the first row, and round 0 (the bootstrap) has no data scores.

    >>> rounds_table([{"round": 0, "version": None, "model": "m0", "promoted": True, "reason": "bootstrap",
    ...                "eval": {"accuracy": 0.5}, "scores": {}},
    ...               {"round": 1, "version": 1, "model": "m1", "promoted": False, "reason": "rejected: x",
    ...                "eval": {"accuracy": 0.4}, "scores": {"vendi": 6.2}}])[0]
    {'round': 0, 'version': None, 'model': 'm0', 'gate': 'bootstrap', 'accuracy': 0.5, 'vendi': None}
    """
    rows = []
    for h in history:
        gate = h.get("reason") or (None if h["promoted"] is None else "promoted" if h["promoted"] else "rejected")
        rows.append({"round": h["round"], "version": h["version"], "model": h["model"], "gate": gate}
                    | h["eval"] | h["scores"])
    cols = list(dict.fromkeys(c for r in rows for c in r))
    return [{c: r.get(c) for c in cols} for r in rows]
