"""`datasets sql` reads the catalog and the versions and nothing else; `datasets diff` counts right."""

import pytest
from synthloop.warehouse import Catalog, CatalogError
from synthloop.warehouse.diff import diff_versions
from synthloop.warehouse.sql import run_sql


def _rows(ids, kept=True, text="c"):
    return [{"row_id": i, "prompt": f"p{i}", "completion": f"{text}{i}", "kept": kept, "correct": kept} for i in ids]


@pytest.fixture
def cat(tmp_path):
    cat = Catalog(tmp_path / "home")
    cat.publish("ds", _rows(["a", "b", "c"]), metrics={"distinct_2": 0.5, "by_sampler": {"hot": {"pass_rate": 0.2}}})
    cat.publish("ds", _rows(["b", "c", "d", "e"]), metrics={"distinct_2": 0.75, "by_sampler": {"hot": {"pass_rate": 0.5}}})
    return cat


def test_sql_over_catalog_tables_and_version_views(cat):
    cols, rows = run_sql(cat, "SELECT name, version, rows FROM datasets ORDER BY version")
    assert cols == ["name", "version", "rows"] and rows == [("ds", 1, 3), ("ds", 2, 4)]
    assert run_sql(cat, 'SELECT count(*) FROM "ds@1"')[1] == [(3,)]
    assert run_sql(cat, 'SELECT string_agg(row_id, \',\' ORDER BY row_id) FROM "ds"')[1] == [("b,c,d,e",)]
    assert run_sql(cat, "SELECT 1 AS x UNION ALL SELECT 2", limit=1)[1] == [(1,)]


@pytest.mark.parametrize("attack", [
    "DROP TABLE datasets",
    "DELETE FROM datasets",
    "INSERT INTO datasets (name, version, path) VALUES ('x', 9, 'y')",
    "UPDATE datasets SET rows = 0",
    "SELECT 1; DROP TABLE datasets",
    "COPY datasets TO '/tmp/synthloop-stolen.csv'",
    "ATTACH '/tmp/other.duckdb' AS o",
    "SET enable_external_access = true",
    "PRAGMA enable_external_access",
    "INSTALL httpfs",
    "SELECT * FROM read_csv('/etc/passwd')",
    "SELECT * FROM read_text('/etc/hostname')",
    "SELECT * FROM '/etc/passwd'",
    "SELECT * FROM read_parquet('{home}/../elsewhere/*.parquet')",
    "SELECT * FROM glob('/*')",
    "CREATE TABLE t AS SELECT 1",
])
def test_sql_refuses_writes_and_foreign_files(cat, tmp_path, attack):
    import pyarrow as pa
    import pyarrow.parquet as pq

    (tmp_path / "elsewhere").mkdir()
    pq.write_table(pa.table({"secret": [1]}), tmp_path / "elsewhere" / "s.parquet")
    with pytest.raises(CatalogError):
        run_sql(cat, attack.format(home=cat.home))
    assert [v["version"] for v in cat.versions("ds")] == [1, 2] and cat.resolve("ds@2")["rows"] == 4


def test_diff_counts_rows_examples_and_metric_deltas(cat):
    d = diff_versions(cat, "ds@1", "ds@latest")
    assert (d["a"], d["b"]) == ("ds@1", "ds@2")
    r = d["rows"]
    assert (r["added"], r["removed"], r["unchanged"]) == (2, 1, 2)
    assert r["added_examples"] == ["d", "e"] and r["removed_examples"] == ["a"]
    assert d["training_examples"] == {"added": 2, "removed": 1}
    m = d["metrics"]
    assert m["metrics.distinct_2"] == {"a": 0.5, "b": 0.75, "delta": 0.25}
    assert m["metrics.by_sampler.hot.pass_rate"]["delta"] == pytest.approx(0.3)
    assert m["rows"]["delta"] == 1 and m["counts.by_verdict.correct"]["delta"] == 1
    with pytest.raises(CatalogError, match="versions of 'ds': 1, 2"):
        diff_versions(cat, "ds@1", "ds@3")
