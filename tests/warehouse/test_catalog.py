import pytest
from synthloop.warehouse import Catalog, CatalogError


def _rows(n, kept_every=2):
    return [{"row_id": f"r{i}", "round": 1, "prompt": "1+1=", "completion": f"c{i}", "kept": i % kept_every == 0,
             "correct": True, "minhash": [i, i + 1] if i % kept_every == 0 else None} for i in range(n)]


def test_publish_versions_are_numbered_and_readable(tmp_path):
    cat = Catalog(tmp_path)
    assert cat.publish("ds", _rows(10), round=1, metrics={"x": 1}) == 1
    assert cat.publish("ds", _rows(4), round=2) == 2
    info = cat.resolve("ds@latest")
    assert (info["version"], info["rows"], info["kept"]) == (2, 4, 2)
    assert cat.resolve("ds@1")["metrics"] == {"x": 1}
    t = cat.read_table("ds@1", kept_only=True)
    assert t.num_rows == 5 and t["completion"].to_pylist()[:2] == ["c0", "c2"]
    assert t["minhash"].to_pylist()[1] == [2, 3]


def test_unknown_versions_and_bad_names_are_user_errors(tmp_path):
    cat = Catalog(tmp_path)
    cat.publish("ds", _rows(2))
    with pytest.raises(CatalogError, match="versions of 'ds': 1"):
        cat.resolve("ds@7")
    for bad in ["../etc", "ds; DROP TABLE datasets", "a/b", "", "ds@x"]:
        with pytest.raises(CatalogError):
            cat.resolve(bad)
    assert cat.resolve("ds")["version"] == 1  # the table survived


def test_crash_during_publish_leaves_nothing_visible(tmp_path):
    cat = Catalog(tmp_path)
    cat.publish("ds", _rows(3))
    with pytest.raises(RuntimeError, match="simulated crash"):
        cat.publish("ds", _rows(5), _crash_before_commit=True)
    assert [v["version"] for v in cat.versions("ds")] == [1]
    assert sorted(p.name for p in (tmp_path / "data" / "ds").iterdir()) == ["v1"]
    # Leftovers of a dead process are removed by the next publish.
    (tmp_path / "data" / "ds" / ".staging-999999999-dead").mkdir()
    (tmp_path / "data" / "ds" / "v9").mkdir()
    assert cat.publish("ds", _rows(2)) == 2
    assert sorted(p.name for p in (tmp_path / "data" / "ds").iterdir()) == ["v1", "v2"]


def test_publish_records_lineage_and_counts(tmp_path):
    cat = Catalog(tmp_path)
    rows = _rows(6) + [{"row_id": "w", "kept": False, "correct": False, "drop_reason": "wrong_answer"},
                       {"row_id": "s", "kept": False, "correct": True, "steps_ok": False, "drop_reason": "bad_steps"}]
    cat.publish("ds", rows, round=1, model_id="m0", config={"seed": 1}, config_hash="h", code_version="c")
    cat.publish("ds", _rows(2), round=2, parents=["ds@1", "ds-seed@1"])
    v1, v2 = cat.versions("ds")
    assert v1["parents"] == [] and v2["parents"] == ["ds@1", "ds-seed@1"] and v2["parent_version"] == 1
    assert (v1["model_id"], v1["config"], v1["config_hash"], v1["code_version"]) == ("m0", {"seed": 1}, "h", "c")
    assert v1["counts"]["by_verdict"] == {"bad_steps": 1, "correct": 6, "wrong": 1}
    assert v1["counts"]["by_drop_reason"] == {"bad_steps": 1, "unknown": 3, "wrong_answer": 1}
    assert (v1["counts"]["rows"], v1["counts"]["kept"], v1["rows"], v1["kept"]) == (8, 3, 8, 3)
    assert cat.publish("ds", _rows(1)) == 3 and cat.resolve("ds@3")["parents"] == ["ds@2"]


def test_catalog_made_before_counts_and_parents_still_opens(tmp_path):
    import duckdb
    from synthloop.warehouse.catalog import _DDL

    old = _DDL.split("-- Added after")[0]  # the tables as the first release made them
    con = duckdb.connect(str(tmp_path / "catalog.duckdb"))
    con.execute(old)
    con.execute("INSERT INTO datasets (name, version, path, rows, kept) VALUES ('old', 1, 'x', 0, 0)")
    con.close()
    cat = Catalog(tmp_path)
    assert cat.resolve("old@1")["counts"] == {} and cat.resolve("old")["parents"] == []
    assert cat.publish("old", _rows(2)) == 2


# Each attempt is a name or reference a user might type; none may reach SQL or a path.
INJECTIONS = [
    "ds'; DROP TABLE datasets; --", "ds\"; DROP TABLE datasets; --", "../../etc/passwd", "..", ".hidden",
    "/abs/path", "a/b", "a\\b", "ds\x00", "ds\n", " ds", "x" * 65, "ds OR 1=1", "ds@1 OR 1=1", "ds@1;",
    "ds@-1", "ds@1e3", "ds@0x1", "ds@1.0", "ds@../v1", "ds@@1", "ds@ 1", "ds@１", "ⓓs", "",
]


@pytest.mark.parametrize("ref", INJECTIONS)
def test_injection_attempts_are_refused(tmp_path, ref):
    cat = Catalog(tmp_path)
    cat.publish("ds", _rows(2))
    with pytest.raises(CatalogError):
        cat.resolve(ref)
    with pytest.raises(CatalogError):
        cat.read_table(ref)
    name = ref.split("@")[0]
    if name != "ds":
        with pytest.raises(CatalogError):
            cat.publish(name, _rows(1))
        with pytest.raises(CatalogError):
            cat.versions(name)
    # Nothing changed, nothing was written outside the data folder.
    assert [v["version"] for v in cat.versions("ds")] == [1]
    assert sorted(p.name for p in (tmp_path / "data").iterdir()) == ["ds"]


HOLD_LOCK = """
import sys, time
from synthloop.warehouse import Catalog
cat = Catalog(sys.argv[1])
with cat.write() as con:          # a publish in progress: the lock and the DuckDB file are held
    print("holding", flush=True)
    time.sleep(float(sys.argv[2]))
"""


def _hold(home, seconds):
    import subprocess
    import sys

    p = subprocess.Popen([sys.executable, "-c", HOLD_LOCK, str(home), str(seconds)], stdout=subprocess.PIPE, text=True)
    assert p.stdout.readline().strip() == "holding"
    return p


def test_a_second_writer_waits_for_the_lock_or_gives_up_clearly(tmp_path, capsys):
    Catalog(tmp_path).publish("ds", _rows(2))
    holder = _hold(tmp_path, 3)
    try:
        with pytest.raises(CatalogError, match="another round is publishing.*try again"):
            Catalog(tmp_path, lock_timeout=0.5).publish("ds", _rows(2))
        assert "another round is publishing" in capsys.readouterr().err
        # With time to wait, the same publish goes through once the holder is done.
        assert Catalog(tmp_path, lock_timeout=60).publish("ds", _rows(3)) == 2
    finally:
        holder.wait(timeout=30)
    assert "waiting" in capsys.readouterr().err
    assert [(v["version"], v["rows"]) for v in Catalog(tmp_path).versions("ds")] == [(1, 2), (2, 3)]
    assert sorted(p.name for p in (tmp_path / "data" / "ds").iterdir()) == ["v1", "v2"]


PUBLISH_MANY = """
import sys
from synthloop.warehouse import Catalog
cat = Catalog(sys.argv[1])
for i in range(5):
    cat.publish("ds", [{"row_id": f"{sys.argv[2]}-{i}", "kept": True}], model_id=sys.argv[2])
"""


def test_two_processes_publishing_at_once_do_not_corrupt_the_catalog(tmp_path):
    import subprocess
    import sys

    Catalog(tmp_path)
    procs = [subprocess.Popen([sys.executable, "-c", PUBLISH_MANY, str(tmp_path), w]) for w in ("a", "b")]
    assert [p.wait(timeout=120) for p in procs] == [0, 0]
    cat = Catalog(tmp_path)
    versions = cat.versions("ds")
    assert [v["version"] for v in versions] == list(range(1, 11))
    got = sorted(cat.read_table(f"ds@{v['version']}")["row_id"].to_pylist()[0] for v in versions)
    assert got == sorted(f"{w}-{i}" for w in "ab" for i in range(5))


KILLED_MID_PUBLISH = """
import os, sys
from synthloop.warehouse import Catalog, catalog
# Die hard (no cleanup, no finally) after the version folder is renamed into place, before the
# catalog row is written: what a power cut or OOM kill would do.
catalog.row_counts = lambda table: os._exit(9)
Catalog(sys.argv[1]).publish("ds", [{"row_id": "doomed", "kept": True}])
"""


def test_a_process_killed_mid_publish_leaves_nothing_visible(tmp_path):
    import subprocess
    import sys

    Catalog(tmp_path).publish("ds", _rows(2))
    died = subprocess.run([sys.executable, "-c", KILLED_MID_PUBLISH, str(tmp_path)], check=False)
    assert died.returncode == 9
    assert (tmp_path / "data" / "ds" / "v2").exists()  # the folder is there, but no reader sees it
    cat = Catalog(tmp_path, lock_timeout=5)  # the dead process's lock is free again
    assert [v["version"] for v in cat.versions("ds")] == [1]
    with pytest.raises(CatalogError):
        cat.resolve("ds@2")
    assert cat.publish("ds", _rows(3)) == 2  # the leftover is cleaned up and the number reused
    assert cat.read_table("ds@2")["row_id"].to_pylist() == ["r0", "r1", "r2"]


HOLD_READER = """
import sys, time, duckdb
con = duckdb.connect(sys.argv[1], read_only=True)  # e.g. a `datasets show` in another terminal
print("reading", flush=True)
time.sleep(2)
"""


def test_a_publish_waits_for_a_reader_in_another_process(tmp_path):
    import subprocess
    import sys

    Catalog(tmp_path).publish("ds", _rows(2))
    reader = subprocess.Popen([sys.executable, "-c", HOLD_READER, str(tmp_path / "catalog.duckdb")],
                              stdout=subprocess.PIPE, text=True)
    try:
        assert reader.stdout.readline().strip() == "reading"
        assert Catalog(tmp_path).publish("ds", _rows(3)) == 2
    finally:
        reader.wait(timeout=30)
    assert [v["rows"] for v in Catalog(tmp_path).versions("ds")] == [2, 3]
