"""Lineage read downward: which versions were built from a version, and which models trained on them.

Upward lineage is stored with each version (`parents`) and each model (`dataset`, `dataset_version`);
this answers the other question `datasets show` asks: model <- training set <- round versions, seen
from a round's version.
"""

from __future__ import annotations

from .catalog import Catalog


def used_by(cat: Catalog, name: str, version: int) -> list[dict]:
    """Versions whose parents include `name@version`, each with the models registered on it.

    Each item: `{"ref", "rows", "round", "models": [{"model_id", "status"}]}`.
    """
    ref = f"{name}@{version}"
    children = [v for v in cat.versions() if ref in (v["parents"] or []) and v["name"] != name]
    out = []
    for v in children:
        models = cat.query("SELECT model_id, status FROM models WHERE dataset = ? AND dataset_version = ? "
                           "ORDER BY model_id", [v["name"], v["version"]])
        out.append({"ref": f"{v['name']}@{v['version']}", "rows": v["rows"], "round": v["round"], "models": models})
    return out
