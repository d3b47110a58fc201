"""Publish a round's rows as one immutable dataset version, in one catalog commit; find it again
on a rerun."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from synthloop.filters.diversity import RoundMetrics
from synthloop.warehouse import Catalog

from synthloop import __version__

from . import shards
from .config import LoopConfig
from .progress import say
from .records import Published
from .shards import Shard


def code_version() -> str:
    """The package version and, in a git checkout, its commit: recorded with every version."""
    try:
        sha = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=Path(__file__).parent,
            capture_output=True, text=True, timeout=5, check=False,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        sha = ""
    return f"{__version__}+{sha}" if sha else __version__


def publish(cat: Catalog, cfg: LoopConfig, round: int, final: list[Shard], metrics: RoundMetrics,
            model_id: str | None) -> Published:
    """All shards of the round as one immutable dataset version; the staging folder goes."""
    version = cat.publish(
        cfg.name, [Path(s.path) for s in final], round=round, model_id=model_id,
        config=cfg.model_dump(mode="json"), config_hash=cfg.config_hash(), code_version=code_version(),
        metrics=metrics.to_dict(),
    )
    shutil.rmtree(shards.round_dir(cat.home, cfg.name, round), ignore_errors=True)
    say(f"round {round}: published {cfg.name}@{version}: {metrics.generated} rows, {metrics.kept} kept")
    return Published(version, metrics.to_dict())


def published(cat: Catalog, name: str, round: int) -> Published | None:
    """Round `round`'s published version (a crash after publishing resumes from it), if any."""
    found = [v for v in cat.versions(name) if v["round"] == round]
    return Published(found[-1]["version"], found[-1]["metrics"]) if found else None
