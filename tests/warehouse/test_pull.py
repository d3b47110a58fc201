"""Pulling versions into training: load() round-trips rows exactly; the files read back everywhere."""

import json

import datasets
import duckdb
import pyarrow.parquet as pq
import pytest
from synthloop.warehouse import CatalogError, export, load, to_arrow, to_pandas

from .fake_run import make_rows, make_run


@pytest.fixture(scope="module")
def run_home(tmp_path_factory):
    home = tmp_path_factory.mktemp("pull")
    make_run(home, rounds=2)
    return home


def _published(home, ref):
    """The rows exactly as publish() was given them (make_rows is seeded)."""
    from synthloop.warehouse.schema import to_table

    return to_table(make_rows(int(ref.split("@")[1]))).to_pylist()


def test_load_round_trips_rows_exactly(run_home):
    rows = _published(run_home, "fake@2")
    ds = load("fake@2", split="all", home=run_home)
    assert isinstance(ds, datasets.Dataset)
    assert ds.to_list() == rows  # every column, nulls, unicode, minhash lists, float32 log-probs
    train = load("fake@latest", home=run_home)
    assert train.to_list() == [r for r in rows if r["kept"]] and train.num_rows > 0
    assert load("fake", split="all", columns=["row_id", "drop_reason"], home=run_home).to_list() == [
        {"row_id": r["row_id"], "drop_reason": r["drop_reason"]} for r in rows]
    assert to_pandas("fake@2", split="all", home=run_home)["row_id"].tolist() == [r["row_id"] for r in rows]
    assert to_arrow("fake@2", split="all", home=run_home).to_pylist() == rows


def test_training_formats(run_home):
    kept = [r for r in _published(run_home, "fake@2") if r["kept"]]
    pc = load("fake@2", format="prompt-completion", home=run_home)
    assert pc.column_names == ["prompt", "completion"] and pc[0] == {"prompt": kept[0]["prompt"], "completion": kept[0]["completion"]}
    msgs = load("fake@2", format="messages", home=run_home)
    assert msgs[1]["messages"] == [{"role": "user", "content": kept[1]["prompt"]},
                                   {"role": "assistant", "content": kept[1]["completion"]}]


def test_exported_files_read_back_with_duckdb_pandas_and_datasets(run_home, tmp_path):
    rows = _published(run_home, "fake@2")
    kept = [r for r in rows if r["kept"]]
    seen = []
    p = export("fake@2", tmp_path, "parquet", split="all", home=run_home, progress=seen.append, batch_rows=100)
    assert p.name == "fake-v2-all.parquet" and sum(seen) == len(rows) and len(seen) == 2
    assert pq.read_table(p).to_pylist() == rows
    (n,), = duckdb.sql(f"SELECT count(*) FROM '{p}' WHERE kept").fetchall()
    assert n == len(kept)
    assert datasets.load_dataset("parquet", data_files=str(p), split="train").to_list() == rows
    j = export("fake@2", tmp_path, "jsonl", home=run_home)
    assert [json.loads(line) for line in j.read_text().splitlines()] == [
        r | {"mean_logprob": pytest.approx(r["mean_logprob"])} for r in kept]
    h = export("fake@2", tmp_path, "hf", format="messages", home=run_home)
    assert h.name == "fake-v2" and datasets.load_from_disk(str(h)).to_list() == load("fake@2", format="messages", home=run_home).to_list()
    assert sorted(x.name for x in tmp_path.iterdir()) == ["fake-v2", "fake-v2-all.parquet", "fake-v2.jsonl"]  # no partials


@pytest.mark.parametrize("kwargs, match", [
    ({"split": "test"}, "unknown split"),
    ({"format": "alpaca"}, "unknown format"),
    ({"columns": ["prompt", "nope"]}, "unknown column"),
    ({"columns": ["prompt"], "format": "messages"}, "rows format"),
])
def test_bad_pull_arguments_are_user_errors(run_home, kwargs, match):
    with pytest.raises(CatalogError, match=match):
        to_arrow("fake@1", home=run_home, **kwargs)


def test_hf_export_has_a_dataset_card(tmp_path):
    """`pull --format hf` writes README.md with YAML metadata the Hub's card parser reads (issue 14)."""
    from huggingface_hub import DatasetCard

    make_run(tmp_path / "h", rounds=2)
    path = export("fake@2", tmp_path / "out", "hf", home=tmp_path / "h")
    card = DatasetCard.load(path / "README.md")
    meta = card.data.to_dict()
    s = meta["synthloop"]
    assert s["version"] == "fake@2" and s["parents"] == ["fake@1"] and s["config_hash"] == "cafe01"
    ds = datasets.load_from_disk(str(path))
    assert s["exported"]["rows"] == len(ds) == s["kept"] and s["rows"] == 120
    assert meta["dataset_info"]["splits"] == [{"name": "train", "num_examples": len(ds)}]
    assert [f["name"] for f in meta["dataset_info"]["features"]] == ds.column_names
    assert "| `completion` | string |" in card.text and "built from: `fake@1`" in card.text
