"""Fine-tune the incumbent on the round's training set (loop/trainset.py), evaluate the candidate
on the held-out set and register it; or say why the round trains nothing."""

from __future__ import annotations

import shutil
from dataclasses import replace
from pathlib import Path

from synthloop.generators.prompts import prompt_format
from synthloop.training import model as model_lib
from synthloop.training.sft import train
from synthloop.warehouse import Catalog

from . import trainset
from .backend import device, torch_settings
from .config import LoopConfig
from .evaluate import evaluate_against
from .problems import seed_set
from .progress import Progress, say
from .publish import code_version
from .records import ModelRef, NoData, model_ref


def train_into(model_in: Path | None, pairs, train_cfg, out: Path, cfg: LoopConfig, desc: str) -> dict:
    """Train (from `model_in`, or the built-in model from scratch) and save atomically into `out`."""
    torch_settings()
    if model_in is None:
        tok = model_lib.build_tokenizer(cfg.bootstrap.model.max_length)
        model = model_lib.build_model(cfg.bootstrap.model, tok, seed=cfg.seed)
    else:
        model, tok = model_lib.load(model_in, device=device())
    ckpt = out.with_name(f".ckpt-{out.name}")  # an interrupted training resumes from here
    with Progress(train_cfg.steps, desc) as bar:
        model, stats = train(
            model, tok, pairs, train_cfg, checkpoint_dir=ckpt,
            progress=lambda s, loss: (bar.update(1), bar.set_postfix(loss=f"{loss:.3f}")),
        )
    shutil.rmtree(ckpt, ignore_errors=True)
    stage = out.with_name(f".staging-{out.name}")
    shutil.rmtree(stage, ignore_errors=True)
    model_lib.save(model, tok, stage, meta={"parent": str(model_in) if model_in else None, "train": stats})
    shutil.rmtree(out, ignore_errors=True)
    stage.rename(out)
    return stats


def training_pairs(cat: Catalog, cfg: LoopConfig, round: int) -> list[tuple[str, str]]:
    """The round's training set under the data policy (see `FinetuneSpec`), capped per problem."""
    return trainset.training_pairs(trainset.training_rows(cat, cfg, round, lambda: seed_set(cfg)[1])[0])


def finetune(cat: Catalog, cfg: LoopConfig, round: int, model_in: ModelRef, dataset_version: int) -> ModelRef | NoData:
    """Fine-tune the incumbent on the round's training set; evaluate; register as a candidate."""
    model_id = f"{cfg.name}-m{round}"
    existing = model_ref(cat, model_id)
    if existing and "eval" in existing.metrics:
        return existing
    path = cat.home / "models" / model_id
    if why := trainset.empty_round_reason(cat, cfg, round, model_in.model_id):
        return NoData(why)  # nothing to learn from: the gate records it
    rows, sources = trainset.training_rows(cat, cfg, round, lambda: seed_set(cfg)[1])
    train_version = trainset.publish_training_set(cat, cfg, round, rows, sources, model_id, code_version())
    start = model_in if cfg.finetune.init == "previous" else model_ref(cat, f"{cfg.name}-m0")
    fmt = prompt_format(start.path, cfg.generation.prompt_format)
    pairs = [(fmt(p), c) for p, c in trainset.training_pairs(rows)]  # prompts as the model is asked them
    tcfg = replace(cfg.finetune.train, seed=cfg.seed + round, steps=cfg.finetune.steps_for(len(pairs)))
    stats = train_into(Path(start.path), pairs, tcfg, path, cfg, f"round {round}: finetune")
    ev = evaluate_against(cat, cfg, round, path)
    say(f"round {round}: fine-tuned {model_id} on {trainset.train_name(cfg.name)}@{train_version} ({len(pairs)} "
        f"examples, {fmt.name} prompts): {ev.line()}")
    cat.register_model(model_id, path, round=round, parent=model_in.model_id, status="candidate",
                       dataset=trainset.train_name(cfg.name), dataset_version=train_version,
                       metrics={"eval": ev.to_dict(), "train": stats, "train_examples": len(pairs)})
    return model_ref(cat, model_id)
