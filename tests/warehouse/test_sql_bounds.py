"""`datasets sql` has bounds: a time limit, a memory limit and a row cap, each one line when hit;
EXPLAIN [ANALYZE] is judged by the statement it explains; a broken version breaks only itself."""

import shutil
import time

import pytest
from synthloop.warehouse import Catalog, CatalogError
from synthloop.warehouse.sql import SqlLimits, run_sql


@pytest.fixture
def cat(tmp_path):
    cat = Catalog(tmp_path / "home")
    for n in (3, 4):
        cat.publish("ds", [{"row_id": str(i), "prompt": "p", "completion": "c", "kept": True} for i in range(n)])
    return cat


def test_an_endless_recursive_query_stops_at_the_time_limit(cat):
    t0 = time.monotonic()
    with pytest.raises(CatalogError, match="time limit"):
        run_sql(cat, "WITH RECURSIVE r(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM r) SELECT count(*) FROM r",
                limits=SqlLimits(timeout_s=1))
    assert time.monotonic() - t0 < 30  # it was interrupted, not run to the end (never, here)


def test_a_huge_cross_join_stops_at_the_time_limit(cat):
    with pytest.raises(CatalogError, match="time limit"):
        run_sql(cat, "SELECT count(*) FROM range(1000000) a, range(1000000) b", limits=SqlLimits(timeout_s=1))


def test_more_rows_than_the_cap_is_one_error_not_a_memory_error(cat):
    with pytest.raises(CatalogError, match="more than 1000 rows"):
        run_sql(cat, "SELECT * FROM range(300000000)", limits=SqlLimits(max_rows=1000))
    # With a --limit under the cap, the first rows come back as before.
    assert len(run_sql(cat, "SELECT * FROM range(300000000)", limit=5, limits=SqlLimits(max_rows=1000))[1]) == 5


def test_the_memory_limit_is_one_error(cat):
    with pytest.raises(CatalogError, match="memory limit"):
        run_sql(cat, "SELECT list(range) FROM range(50000000)", limits=SqlLimits(memory="50MB"))
    with pytest.raises(CatalogError, match="invalid memory limit"):
        run_sql(cat, "SELECT 1", limits=SqlLimits(memory="lots"))


@pytest.mark.parametrize("bad", [0, -1, float("nan"), float("inf")])
def test_bad_limits_are_refused(bad):
    with pytest.raises(CatalogError):
        SqlLimits(timeout_s=bad)


@pytest.mark.parametrize("query", [
    "EXPLAIN ANALYZE CREATE TABLE t AS SELECT 1",
    "EXPLAIN ANALYZE DELETE FROM datasets",
    "/* hi */ explain analyze COPY (SELECT 1) TO '/tmp/synthloop-x.csv'",
    "EXPLAIN (FORMAT json) ANALYZE INSERT INTO datasets (name, version, path) VALUES ('x', 9, 'y')",
    "EXPLAIN EXPLAIN ANALYZE DROP TABLE datasets",
    "EXPLAIN",
])
def test_explain_is_judged_by_what_it_explains(cat, query):
    with pytest.raises(CatalogError):
        run_sql(cat, query)
    assert run_sql(cat, "SELECT count(*) FROM datasets")[1] == [(2,)]


def test_explain_of_a_select_still_works(cat):
    assert run_sql(cat, 'EXPLAIN SELECT count(*) FROM "ds@1"')[1]
    assert run_sql(cat, 'EXPLAIN ANALYZE SELECT count(*) FROM "ds@1"')[1]


def test_a_missing_version_breaks_only_its_own_view(cat):
    shutil.rmtree(cat.resolve("ds@1")["path"])
    assert run_sql(cat, 'SELECT count(*) FROM "ds@2"')[1] == [(4,)]
    with pytest.raises(CatalogError, match="ds@1"):
        run_sql(cat, 'SELECT count(*) FROM "ds@1"')
