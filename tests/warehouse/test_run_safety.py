"""One run per home, a round published once, a moved home that reads its own files, and cleanup
that deletes only what a crashed publish of this catalog left."""

import json
import os
import shutil
import subprocess
import sys

import duckdb
import pytest
from synthloop.warehouse import Catalog
from synthloop.warehouse.catalog import RunLocked
from synthloop.warehouse.sql import run_sql


def _rows(n, tag="r"):
    return [{"row_id": f"{tag}{i}", "prompt": f"p{i}", "completion": f"c{i}", "kept": i % 2 == 0} for i in range(n)]


HOLD_RUN = """
import sys, time
from synthloop.warehouse import Catalog
with Catalog(sys.argv[1]).run_lock("synthloop run --name demo"):
    print("holding", flush=True)
    time.sleep(float(sys.argv[2]))
"""


def _hold(home, seconds):
    p = subprocess.Popen([sys.executable, "-c", HOLD_RUN, str(home), str(seconds)], stdout=subprocess.PIPE, text=True)
    assert p.stdout.readline().strip() == "holding"
    return p


def test_a_second_run_refuses_or_waits_and_names_the_holder(tmp_path, capsys):
    cat = Catalog(tmp_path)
    holder = _hold(tmp_path, 3)
    try:
        with pytest.raises(RunLocked, match=rf"pid {holder.pid}, `synthloop run --name demo`, since 20"), \
                cat.run_lock("synthloop run --name other", wait=False):
            pass
        with cat.run_lock("synthloop run --name other", poll_s=0.2) as mine:  # waits for the holder to end
            assert mine["pid"] == os.getpid()
            assert json.loads((tmp_path / "run.lock").read_text())["command"] == "synthloop run --name other"
    finally:
        holder.wait(timeout=60)
    err = capsys.readouterr().err
    assert "waiting for it to end" in err and "stale" not in err
    assert (tmp_path / "run.lock").read_text() == ""  # released cleanly: nothing stale left


def test_a_killed_holder_leaves_a_stale_record_that_is_taken_over(tmp_path, capsys):
    holder = _hold(tmp_path, 60)
    holder.kill()  # SIGKILL: no clean-up runs, the record stays, the kernel drops the lock
    holder.wait(timeout=30)
    with Catalog(tmp_path).run_lock("synthloop run --name demo", wait=False):
        pass
    assert f"previous run (pid {holder.pid}" in capsys.readouterr().err


def test_a_round_is_published_once(tmp_path):
    cat = Catalog(tmp_path)
    assert cat.publish("demo-seed", _rows(3), round=0) == 1
    assert cat.publish("demo-seed", _rows(3), round=0) == 1  # a restarted bootstrap
    assert cat.publish("demo", _rows(4), round=1) == 1
    assert cat.publish("demo", _rows(5), round=1) == 1  # a rerun after a crash past the commit
    assert cat.publish("demo", _rows(5), round=2) == 2
    assert [(v["version"], v["round"], v["rows"]) for v in cat.versions("demo")] == [(1, 1, 4), (2, 2, 5)]
    assert sorted(p.name for p in (tmp_path / "data" / "demo").iterdir()) == ["v1", "v2"]  # no staging left


PUBLISH_ROUND = """
import sys
from synthloop.warehouse import Catalog
print(Catalog(sys.argv[1]).publish("demo", [{"row_id": sys.argv[2], "kept": True}], round=1))
"""


def test_two_processes_publishing_the_same_round_make_one_version(tmp_path):
    Catalog(tmp_path)
    procs = [subprocess.Popen([sys.executable, "-c", PUBLISH_ROUND, str(tmp_path), w], stdout=subprocess.PIPE, text=True)
             for w in ("a", "b")]
    outs = [p.communicate(timeout=120)[0].strip() for p in procs]
    assert outs == ["1", "1"]
    assert [v["version"] for v in Catalog(tmp_path).versions("demo")] == [1]


def test_paths_are_relative_and_a_moved_home_reads_its_own_files(tmp_path):
    a = tmp_path / "a"
    cat = Catalog(a)
    cat.publish("demo", _rows(4), round=1)
    (a / "models" / "demo-m0").mkdir(parents=True)
    cat.register_model("demo-m0", a / "models" / "demo-m0", round=0, parent=None, status="promoted")
    with duckdb.connect(str(a / "catalog.duckdb"), read_only=True) as con:
        assert con.execute("SELECT path FROM datasets").fetchall() == [("data/demo/v1",)]
        assert con.execute("SELECT path FROM models").fetchall() == [("models/demo-m0",)]
    shutil.copytree(a, tmp_path / "b")
    shutil.rmtree(a)  # the original is gone: the copy must not need it
    b = Catalog(tmp_path / "b")
    assert b.resolve("demo@1")["path"] == str(tmp_path / "b" / "data" / "demo" / "v1")
    assert b.read_table("demo@1").num_rows == 4
    assert b.model("demo-m0")["path"] == str(tmp_path / "b" / "models" / "demo-m0")
    assert run_sql(b, 'SELECT count(*) FROM "demo"')[1] == [(4,)]


def test_an_old_catalog_with_absolute_paths_is_migrated_on_open(tmp_path):
    """A home made before paths were relative, then copied: the copy reads its own files."""
    a = tmp_path / "a"
    cat = Catalog(a)
    cat.publish("demo", _rows(4), round=1)
    cat.publish("demo", _rows(2, "s"), round=2)
    user_model = tmp_path / "my-model"
    with duckdb.connect(str(a / "catalog.duckdb")) as con:  # what the old code wrote
        con.execute("UPDATE datasets SET path = ? || '/data/demo/v' || version", [str(a)])
        con.execute("INSERT INTO models (model_id, round, path, status) VALUES ('demo-m0', 0, ?, 'promoted'), "
                    "('demo-m1', 1, ?, 'promoted')", [str(a / "models" / "demo-m1"), str(user_model)])
    shutil.copytree(a, tmp_path / "b")
    b = Catalog(tmp_path / "b")  # opening migrates
    with duckdb.connect(str(tmp_path / "b" / "catalog.duckdb"), read_only=True) as con:
        paths = dict(con.execute("SELECT name || '@' || version, path FROM datasets").fetchall())
        models = dict(con.execute("SELECT model_id, path FROM models").fetchall())
    assert paths == {"demo@1": "data/demo/v1", "demo@2": "data/demo/v2"}
    # demo-m0's folder is not at its own tail (models/demo-m0): left as it was, not guessed at.
    assert models == {"demo-m0": str(a / "models" / "demo-m1"), "demo-m1": str(user_model)}
    shutil.rmtree(a / "data")  # reading the original's files would fail now
    assert b.read_table("demo@2")["row_id"].to_pylist() == ["s0", "s1"]
    assert b.publish("demo", _rows(1), round=3) == 3  # a publish into the copy keeps its versions
    assert sorted(p.name for p in (tmp_path / "b" / "data" / "demo").iterdir()) == ["v1", "v2", "v3"]


def test_cleanup_deletes_only_what_a_crashed_publish_left(tmp_path):
    cat = Catalog(tmp_path)
    cat.publish("demo", _rows(2), round=1)
    root = tmp_path / "data" / "demo"
    crashed = root / "v2"  # renamed into place, never committed: only part files
    crashed.mkdir()
    shutil.copy(root / "v1" / "part-00000.parquet", crashed / "part-00000.parquet")
    mine = root / "v7"  # above the top version, but with a user's own file in it
    mine.mkdir()
    (mine / "notes.txt").write_text("mine")
    other = root / "backup"
    other.mkdir()
    dead_stage = root / ".staging-999999999-abcd"
    dead_stage.mkdir()
    assert cat.publish("demo", _rows(3), round=2) == 2
    assert cat.read_table("demo@2").num_rows == 3
    assert sorted(p.name for p in root.iterdir()) == ["backup", "v1", "v2", "v7"]
    assert (mine / "notes.txt").read_text() == "mine"
