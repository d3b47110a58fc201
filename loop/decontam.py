"""The run's decontamination index: its held-out problems and the benchmark files the config lists,
built once into the home and found again by every later round (and run) that checks against the
same texts.

The index's name is a hash of what it was built from: each file's content hash (SHA-256 of its
bytes, so an edited file is a new index and a renamed one is not), the column read, the held-out
prompts' hash and the n-gram size. That record is what a published version's lineage says it was
checked against (`checked_against`).
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from synthloop.filters.decontam import HELDOUT, Source, build_index, file_source, save, stored_meta
from synthloop.warehouse import Catalog

from .config import LoopConfig
from .problems import heldout
from .progress import say

INDEX_FORMAT = 2  # bumped when the index's layout changes, so an old index is not read as a new one


def file_sha256(path: str | Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()


def index_path(cat: Catalog, cfg: LoopConfig) -> str | None:
    """The path of the run's index, built into `<home>/decontam/` unless an identical one is there
    already; None when decontamination is off."""
    d = cfg.decontaminate
    if not d.enabled:
        return None
    held = heldout(cfg)
    prompts = [p.prompt for p in held]
    files = [str(Path(f).expanduser().resolve()) for f in d.files]
    sources = [Source(HELDOUT, [p.id for p in held], prompts)] + [file_source(f, d.column) for f in files]
    against = [{"source": HELDOUT, "items": len(prompts),
                "sha256": hashlib.sha256("\n".join(prompts).encode("utf-8", "surrogatepass")).hexdigest()}]
    against += [{"source": s.label, "path": f, "column": d.column, "items": len(s.ids), "sha256": file_sha256(f)}
                for f, s in zip(files, sources[1:])]
    meta = {"format": INDEX_FORMAT, "ngram": d.ngram, "checked_against": against}
    key = hashlib.sha256(json.dumps(meta, sort_keys=True).encode()).hexdigest()[:16]
    path = cat.home / "decontam" / f"{key}.parquet"
    if not path.exists():
        save(build_index(sources, d), path, meta | {"key": key})
        say(f"decontamination index {key}: {sum(len(s.ids) for s in sources)} texts from "
            + ", ".join(f"{a['source']} ({a['items']})" for a in against))
    return str(path)


def checked_against(path: str | None) -> dict | None:
    """The lineage record of an index: its key, n-gram size and every source with its content hash."""
    return stored_meta(path) if path else None
