"""Gate a round's candidate against the incumbent (training/gate.py decides), register the verdict
and record the round; a round that trained nothing is recorded with the incumbent staying."""

from __future__ import annotations

from pathlib import Path

from synthloop.training.gate import gate
from synthloop.warehouse import Catalog

from .config import LoopConfig
from .progress import say
from .records import GateDecision, ModelRef, NoData, Published, RoundRecord, record_round


def decide(cat: Catalog, cfg: LoopConfig, round: int, candidate: ModelRef | NoData, model_in: ModelRef,
           data: Published) -> RoundRecord:
    """Promote the candidate only if it does not regress; record the verdict and the round."""
    if isinstance(candidate, NoData):
        say(f"round {round}: {candidate.reason}")
        return record_round(cat, cfg.name, round, model_in=model_in.model_id, model_out=model_in.model_id,
                            decision=GateDecision(False, candidate.reason), eval=model_in.metrics.get("eval", {}),
                            train=None, dataset_version=data.version, data=data.metrics)
    ok, why = gate(candidate.metrics["eval"], model_in.metrics["eval"], cfg.gate)
    say(f"round {round}: gate: {candidate.model_id} {'promoted' if ok else 'not promoted'}: {why}")
    cat.register_model(candidate.model_id, Path(candidate.path), round=round, parent=model_in.model_id,
                       status="promoted" if ok else "rejected", dataset=candidate.dataset,
                       dataset_version=candidate.dataset_version, reason=why, metrics=candidate.metrics)
    return record_round(cat, cfg.name, round, model_in=model_in.model_id, model_out=candidate.model_id,
                        decision=GateDecision(ok, why), eval=candidate.metrics["eval"],
                        train=candidate.metrics["train"], dataset_version=data.version, data=data.metrics)
