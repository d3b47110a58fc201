"""Generate one part of a round: the incumbent's samples with the sampler portfolio (and, with
`generation.rationalize`, hinted retries of the problems no sample solved), unverified."""

from __future__ import annotations

import time
from dataclasses import replace

from synthloop.generators.portfolio import PortfolioEntry, generate_rows
from synthloop.generators.prompts import prompt_format
from synthloop.generators.rationalize import rationalize
from synthloop.warehouse import to_table

from . import shards
from .backend import GENERATING, backend_for
from .config import LoopConfig
from .problems import domains_of
from .progress import Progress
from .records import ModelRef
from .shards import Part, Shard


def generate(cfg: LoopConfig, round: int, model: ModelRef, part: Part) -> Shard:
    """The samples of one part from `model`: raw rows, not yet verified."""
    t0 = time.perf_counter()
    problems, slots = shards.read_part(part)
    portfolio = [PortfolioEntry(s.sampler(), s.share) for s in cfg.generation.samplers]
    with GENERATING:  # one backend per process, used by one task at a time
        backend = backend_for(cfg, model.path)
        fmt = prompt_format(model.path, cfg.generation.prompt_format)
        with Progress(part.samples, f"round {round}: generate part {part.index}") as bar:
            rows = generate_rows(
                backend, problems, portfolio, cfg.generation.samples_per_problem, round=round,
                seed=cfg.seed, model_id=model.model_id, config_hash=cfg.config_hash(),
                progress=bar.update, slots=slots, prompt_format=fmt,
            )
        hint = cfg.generation.rationalize
        if hint.enabled:  # STaR: the part's problems no sample solved, asked again with the answer as a hint
            rows += rationalize(backend, problems, rows, domains_of(cfg), hint, base=portfolio[0].sampler, round=round,
                                seed=cfg.seed, model_id=model.model_id, config_hash=cfg.config_hash(),
                                prompt_format=fmt)
    # rows without `rationalized` get False
    shard = shards.write_shard(to_table(rows), shards.sibling(part.path, "generated"))
    return replace(shard, seconds=time.perf_counter() - t0, node=shards.ray_node())
