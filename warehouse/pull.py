"""Pull a dataset version into your own training: Arrow, pandas, Hugging Face `datasets`, files.

    from synthloop.warehouse import load
    ds = load("demo@latest")                     # kept rows (the training split), every column
    ds = load("demo@2", split="all", columns=["prompt", "completion", "kept", "drop_reason"])
    ds = load("demo", format="messages")         # [{role, content}, ...] chat format

`split="train"` is the kept rows, `split="all"` every generated row with its verdict.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from .catalog import Catalog, CatalogError
from .schema import COLUMNS

SPLITS = ("train", "all")
# Training formats: the rows as stored; TRL's prompt-completion; TRL's conversational messages.
FORMATS = ("rows", "prompt-completion", "messages")
FILE_FORMATS = ("parquet", "jsonl", "hf")

_MESSAGE = pa.struct([("role", pa.string()), ("content", pa.string())])


def to_arrow(ref: str, split: str = "train", columns: list[str] | None = None, format: str = "rows",
             home: str | os.PathLike | None = None) -> pa.Table:
    """The rows of `ref` (`NAME`, `NAME@latest` or `NAME@N`) as an Arrow table."""
    if split not in SPLITS:
        raise CatalogError(f"unknown split {split!r}: use one of {', '.join(SPLITS)}")
    if format not in FORMATS:
        raise CatalogError(f"unknown format {format!r}: use one of {', '.join(FORMATS)}")
    if columns is not None:
        unknown = [c for c in columns if c not in COLUMNS]
        if unknown:
            raise CatalogError(f"unknown column(s) {', '.join(map(repr, unknown))}; columns are: {', '.join(COLUMNS)}")
        if format != "rows":
            raise CatalogError("--columns only goes with the rows format")
    need = list(columns) if columns is not None else None
    if format != "rows":
        need = ["prompt", "completion"]
    read = None if need is None else list(dict.fromkeys(need + ["kept"]))
    table = Catalog.open_read(home).read_table(ref, columns=read, kept_only=split == "train")
    if need is not None:
        table = table.select(need)
    if format == "messages":
        msgs = [
            [{"role": "user", "content": p}, {"role": "assistant", "content": c}]
            for p, c in zip(table["prompt"].to_pylist(), table["completion"].to_pylist())
        ]
        table = pa.table({"messages": pa.array(msgs, type=pa.list_(_MESSAGE))})
    return table


def to_pandas(ref: str, split: str = "train", columns: list[str] | None = None, format: str = "rows",
              home: str | os.PathLike | None = None):
    """The rows of `ref` as a pandas DataFrame."""
    return to_arrow(ref, split, columns, format, home).to_pandas()


def load(ref: str, split: str = "train", columns: list[str] | None = None, format: str = "rows",
         home: str | os.PathLike | None = None):
    """The rows of `ref` as a Hugging Face `datasets.Dataset` (kept rows unless `split="all"`)."""
    import datasets

    return datasets.Dataset(to_arrow(ref, split, columns, format, home))


def export(ref: str, out_dir: str | os.PathLike, file_format: str = "parquet", split: str = "train",
           format: str = "rows", columns: list[str] | None = None, home: str | os.PathLike | None = None,
           progress=None, batch_rows: int = 8192) -> Path:
    """Write `ref` under `out_dir` as `<name>-v<N>.parquet`, `.jsonl`, or an HF `save_to_disk` folder.

    The file appears only once complete (written beside it, then renamed). `progress(n)` is called
    with the number of rows written after each batch.
    """
    if file_format not in FILE_FORMATS:
        raise CatalogError(f"unknown file format {file_format!r}: use one of {', '.join(FILE_FORMATS)}")
    info = Catalog.open_read(home).resolve(ref)
    table = to_arrow(f"{info['name']}@{info['version']}", split, columns, format, home)
    out_dir = Path(out_dir)
    if out_dir.exists() and not out_dir.is_dir():
        raise CatalogError(f"--out {out_dir} is a file; give a folder")
    out_dir.mkdir(parents=True, exist_ok=True)
    stem = f"{info['name']}-v{info['version']}" + ("" if split == "train" else f"-{split}")
    final = out_dir / (stem if file_format == "hf" else f"{stem}.{file_format}")
    tmp = out_dir / f".{final.name}.partial"
    _remove(tmp)
    batches = table.to_batches(max_chunksize=batch_rows)
    if file_format == "parquet":
        with pq.ParquetWriter(tmp, table.schema, compression="zstd") as w:
            for b in batches:
                w.write_batch(b)
                progress and progress(b.num_rows)
    elif file_format == "jsonl":
        with open(tmp, "w", encoding="utf-8") as f:
            for b in batches:
                f.writelines(json.dumps(r, ensure_ascii=False) + "\n" for r in b.to_pylist())
                progress and progress(b.num_rows)
    else:
        import datasets

        datasets.Dataset(table).save_to_disk(str(tmp))
        (tmp / "README.md").write_text(dataset_card(info, table, split, format), encoding="utf-8")
        progress and progress(table.num_rows)
    _remove(final)
    tmp.rename(final)
    return final


def _remove(p: Path) -> None:
    if p.is_dir():
        shutil.rmtree(p)
    elif p.exists():
        p.unlink()


def dataset_card(info: dict, table: pa.Table, split: str, format: str) -> str:
    """README.md of an `hf` export: YAML metadata the Hub and `datasets` read (configs, features,
    size), synthloop's lineage (parents, model, config hash, code version) and the counts."""
    import yaml
    from datasets import Features

    ref = f"{info['name']}@{info['version']}"
    features = Features.from_arrow_schema(table.schema)
    counts = info.get("counts") or {}
    meta = {
        "pretty_name": ref,
        "tags": ["synthloop", "synthetic", "verified"],
        "size_categories": [_size_category(table.num_rows)],
        "dataset_info": {
            "features": features._to_yaml_list(),
            "splits": [{"name": split, "num_examples": table.num_rows}],
        },
        "synthloop": {
            "version": ref, "round": info.get("round"), "model": info.get("model_id"),
            "parents": info.get("parents") or [], "config_hash": info.get("config_hash"),
            "code_version": info.get("code_version"), "published": str(info.get("created_at")),
            "rows": info.get("rows"), "kept": info.get("kept"), "exported": {"split": split, "format": format,
                                                                            "rows": table.num_rows},
            "by_verdict": counts.get("by_verdict", {}), "by_drop_reason": counts.get("by_drop_reason", {}),
        },
    }
    cols = "\n".join(f"| `{f.name}` | {f.type} |" for f in table.schema)
    parents = ", ".join(f"`{p}`" for p in info.get("parents") or []) or "none"
    return (f"---\n{yaml.safe_dump(meta, sort_keys=False, allow_unicode=True)}---\n\n"
            f"# {ref}\n\n"
            f"Written by `synthloop pull {ref} --format hf` ({split} split, {format} format): "
            f"{table.num_rows} rows of {info.get('rows')} ({info.get('kept')} kept by the verifier and near-dedup).\n\n"
            f"- round {info.get('round')}, generated by model `{info.get('model_id')}`\n"
            f"- built from: {parents}\n"
            f"- config hash `{info.get('config_hash')}`, code version `{info.get('code_version')}`\n\n"
            "Load it with `datasets.load_from_disk(<this folder>)`.\n\n"
            f"| column | type |\n|---|---|\n{cols}\n")


def _size_category(n: int) -> str:
    """The Hub's size bucket.

    >>> _size_category(5), _size_category(2737), _size_category(10**5)
    ('n<1K', '1K<n<10K', '100K<n<1M')
    """
    for limit, name in ((10**3, "n<1K"), (10**4, "1K<n<10K"), (10**5, "10K<n<100K"), (10**6, "100K<n<1M")):
        if n < limit:
            return name
    return "n>1M"
