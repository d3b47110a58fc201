"""Score a round's rows: counts, pass rates by sampler and difficulty, diversity, and the alerts
that compare this round with the earlier ones; the plan's allocation and curriculum ride along."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from synthloop.filters.diversity import (
    RoundMetrics,
    RoundScorer,
    diversity_notes,
    score_line,
    trend_alerts,
    truncation_line,
)
from synthloop.warehouse import Catalog

from .audit import audit_alerts, audit_line, audit_record
from .config import LoopConfig
from .cost import cost_line, cost_record
from .decontam import checked_against
from .filter import Filtered
from .plan import RoundPlan
from .progress import say
from .shards import Shard

SCORE_COLUMNS = ["problem_id", "domain", "sampler", "difficulty", "correct", "kept", "n_tokens", "drop_reason", "completion",
                 "rationalized"]


def score(cat: Catalog, cfg: LoopConfig, round: int, final: list[Shard], plan: RoundPlan) -> RoundMetrics:
    """The round's metrics (counts, pass rates, diversity, collapse alerts), a shard at a time."""
    scorer = RoundScorer(cfg.diversity)
    for s in final:
        scorer.add(s.read(columns=SCORE_COLUMNS))
    earlier = earlier_metrics(cat, cfg.name, round)
    metrics = scorer.finish(earlier[-1] if earlier else None, kept_texts=lambda idx: kept_texts(final, idx))
    metrics.collapse_alerts += trend_alerts([*earlier, metrics.to_dict()], cfg.diversity)
    say(score_line(round, metrics))
    for note in diversity_notes(metrics.to_dict(), earlier[-1] if earlier else None, cfg.diversity):
        say(f"round {round}: {note}")
    if note := truncation_line(round, metrics, [s.max_new_tokens for s in cfg.generation.samplers]):
        say(note)
    return replace(metrics, allocation=plan.allocation, curriculum=plan.curriculum)


def earlier_metrics(cat: Catalog, name: str, round: int) -> list[dict]:
    """The data metrics of every round before `round`, oldest first (the alerts read them)."""
    return [v["metrics"] for v in cat.versions(name) if v["round"] is not None and 0 < v["round"] < round]


def kept_texts(final: list[Shard], idx: list[int]) -> list[str]:
    """Kept completions at these positions of the round (shards in order), in the order asked."""
    want = sorted(set(idx))
    found: dict[int, str] = {}
    at = 0
    for s in final:
        t = s.read(columns=["completion", "kept"])
        kept = t["completion"].filter(pc.fill_null(t["kept"], False))
        lo = np.searchsorted(want, at)
        hi = np.searchsorted(want, at + len(kept))
        if hi > lo:
            local = [w - at for w in want[lo:hi]]
            found.update(zip(want[lo:hi], kept.take(pa.array(local, pa.int64())).to_pylist()))
        at += len(kept)
    return [found[i] for i in idx]


def with_checks(cfg: LoopConfig, round: int, metrics: RoundMetrics, filtered: Filtered) -> RoundMetrics:
    """The round's metrics with what the checks beside the verifier found: decontamination (what
    the rows were checked against, by content hash: the version's lineage), the verifier audit
    and its alerts, and the cost of the kept rows."""
    found = filtered.checks.decontam
    decontam = None
    if filtered.index:
        decontam = {"checked": found.checked, "dropped": found.dropped, "heldout_overlap": found.heldout_overlap,
                    "by_source": found.by_source, "heldout_policy": cfg.decontaminate.heldout,
                    "index": checked_against(filtered.index)}
        if found.dropped or found.heldout_overlap:
            say(f"round {round}: decontamination: {found.dropped} rows dropped as contaminated, "
                f"{found.heldout_overlap} kept that match held-out problems (by source: {found.by_source})")
    audit, alerts = None, []
    if cfg.audit.enabled:
        audit = audit_record(filtered.checks.audit)
        alerts = audit_alerts(audit, cfg.audit)
        say(audit_line(round, audit))
        for a in alerts:
            say(f"round {round}: ALERT {a.message}")
    cost = cost_record(metrics.by_sampler, filtered.generate_seconds or {}, filtered.cpu_seconds)
    say(cost_line(round, cost))
    return replace(metrics, decontamination=decontam, audit=audit, audit_alerts=alerts, cost=cost)
