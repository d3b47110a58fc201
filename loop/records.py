"""What flows out of a round's stages, typed: models, evaluations, the gate's decision and the round
record. The catalog stores them as JSON (`to_dict`); these are how the loop reads them back.

Each value is built in one place: `EvalMetrics` by `loop/evaluate.py`, `GateDecision` by
`loop/gate.py`, a `RoundRecord` only by `record_round` below (the bootstrap, a gated round, a round
that trained nothing and an experiment's shared bootstrap all finish through it).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from synthloop.warehouse import Catalog

# The held-out metrics every evaluation reports, spelled once (training/evaluate.py computes them;
# several domains are merged on these, weighted by problem count).
HEADLINE = ("accuracy", "pass_at_k", "maj_at_k", "distinct_correct")


@dataclass(frozen=True)
class EvalMetrics:
    """Held-out metrics of one model: greedy accuracy, pass@k and maj@k from `k` samples, on
    `n_problems` problems; `detail` holds the rest as measured (by difficulty and domain, the
    per-problem verdicts the gate pairs, pass@1..n, the interval, the backend)."""

    accuracy: float
    pass_at_k: float
    k: int
    maj_at_k: float
    n_problems: int
    detail: dict = field(default_factory=dict, compare=False, repr=False)

    @classmethod
    def from_dict(cls, d: dict) -> EvalMetrics:
        return cls(accuracy=d["accuracy"], pass_at_k=d["pass_at_k"], k=d.get("k", 1),
                   maj_at_k=d.get("maj_at_k", 0.0), n_problems=d.get("n_problems", 0), detail=dict(d))

    def to_dict(self) -> dict:
        return self.detail | {"accuracy": self.accuracy, "pass_at_k": self.pass_at_k, "k": self.k,
                              "maj_at_k": self.maj_at_k, "n_problems": self.n_problems}

    def line(self) -> str:
        """'held-out accuracy 0.412, pass@4 0.650': how every stage says it."""
        return f"held-out accuracy {self.accuracy:.3f}, pass@{self.k} {self.pass_at_k:.3f}"


@dataclass(frozen=True)
class ModelRef:
    """A registered model: where it is, what it was trained on and how it scored."""

    model_id: str
    path: str
    round: int
    parent: str | None
    status: str  # promoted, candidate or rejected
    dataset: str | None = None
    dataset_version: int | None = None
    reason: str | None = None
    metrics: dict = field(default_factory=dict, compare=False, repr=False)  # {"eval": ..., "train": ...}

    @classmethod
    def from_row(cls, row: dict) -> ModelRef:
        return cls(model_id=row["model_id"], path=row["path"], round=row["round"], parent=row["parent"],
                   status=row["status"], dataset=row.get("dataset"), dataset_version=row.get("dataset_version"),
                   reason=row.get("reason"), metrics=row.get("metrics") or {})

    @property
    def eval(self) -> EvalMetrics:
        return EvalMetrics.from_dict(self.metrics["eval"])

    @property
    def train(self) -> dict | None:
        return self.metrics.get("train")


@dataclass(frozen=True)
class NoData:
    """A round that fine-tunes nothing (no kept rows, or too few new ones): why."""

    reason: str


@dataclass(frozen=True)
class Published:
    """A round's dataset version and the data metrics published with it."""

    version: int
    metrics: dict


@dataclass(frozen=True)
class GateDecision:
    promoted: bool
    reason: str


@dataclass(frozen=True)
class RoundRecord:
    """One finished round as the catalog keeps it (`synthloop status` prints one per round)."""

    run: str
    round: int
    dataset_version: int | None
    model_in: str | None
    model_out: str
    promoted: bool
    reason: str
    metrics: dict = field(compare=False, repr=False)

    @classmethod
    def from_row(cls, row: dict) -> RoundRecord:
        return cls(run=row["run"], round=row["round"], dataset_version=row["dataset_version"],
                   model_in=row["model_in"], model_out=row["model_out"], promoted=row["promoted"],
                   reason=row["reason"], metrics=row["metrics"])


def recorded_round(cat: Catalog, run: str, round: int) -> RoundRecord | None:
    """Round `round` of `run` if it is finished: a rerun skips it."""
    return next((RoundRecord.from_row(r) for r in cat.rounds(run) if r["round"] == round), None)


def record_round(cat: Catalog, run: str, round: int, *, model_in: str | None, model_out: str,
                 decision: GateDecision, eval: dict, train: dict | None, dataset_version: int | None = None,
                 data: dict | None = None, extra: dict | None = None) -> RoundRecord:
    """Finish round `round`: the one place a round record is made. `data`: the round's data
    metrics (none for a bootstrap); `extra`: what an experiment adds (its arm's key)."""
    metrics = {"eval": eval, "train": train, "generated": None, "correct": None, "kept": None}
    if data is not None:
        metrics |= {k: data.get(k) for k in ("generated", "correct", "kept")} | {"data": data}
    cat.finish_round(run, round, dataset_version=dataset_version, model_in=model_in, model_out=model_out,
                     promoted=decision.promoted, reason=decision.reason, metrics=metrics | (extra or {}))
    return recorded_round(cat, run, round)


def model_ref(cat: Catalog, model_id: str) -> ModelRef | None:
    row = cat.model(model_id)
    return ModelRef.from_row(row) if row else None


def incumbent(cat: Catalog, run: str) -> ModelRef:
    """The last promoted model: the one the next round generates with."""
    rows = [r for r in cat.rounds(run) if r["promoted"]]
    if not rows:
        raise RuntimeError(f"run {run!r} has no promoted model; run the bootstrap first")
    return model_ref(cat, rows[-1]["model_out"])
