"""Round 0: the seed set published as `<name>-seed` and a model trained on it (the built-in
model), or the user's model imported into the home; evaluated, promoted, recorded."""

from __future__ import annotations

from synthloop.warehouse import Catalog

from .config import LoopConfig
from .evaluate import evaluate_against
from .finetune import train_into
from .problems import seed_set
from .progress import say
from .publish import code_version
from .records import GateDecision, RoundRecord, model_ref, record_round, recorded_round


def bootstrap(cat: Catalog, cfg: LoopConfig) -> RoundRecord:
    """Round 0 of `cfg.name`; a rerun finds it (or the model it got to) and goes on."""
    if done := recorded_round(cat, cfg.name, 0):
        return done
    model_id = f"{cfg.name}-m0"
    path = cat.home / "models" / model_id
    if cat.model(model_id) is None:
        if cfg.bootstrap.base_model:
            # A folder, a .gguf file or a hub id: converted into the home once where it must be
            # (training/importer.py), so the first fine-tune can save what it trained.
            from synthloop.training.importer import resolve_model

            imported = resolve_model(cfg.bootstrap.base_model, cat.home, tell=say)
            path = imported.path
            stats = {"base_model": str(path), **imported.record()}
        else:
            pairs, rows = seed_set(cfg)
            cat.publish(f"{cfg.name}-seed", rows, round=0, config=cfg.model_dump(mode="json"),
                        config_hash=cfg.config_hash(), code_version=code_version())
            stats = train_into(None, pairs, cfg.bootstrap.train, path, cfg, "bootstrap")
        ev = evaluate_against(cat, cfg, 0, path)
        cat.register_model(model_id, path, round=0, parent=None, status="promoted",
                           metrics={"eval": ev.to_dict(), "train": stats})
    m0 = model_ref(cat, model_id)
    say(f"bootstrap: {model_id} from {m0.path}: {m0.eval.line()} ({m0.eval.detail.get('prompt_format', 'raw')} prompts)")
    return record_round(cat, cfg.name, 0, model_in=None, model_out=model_id, decision=GateDecision(True, "bootstrap"),
                        eval=m0.metrics["eval"], train=m0.train)
