"""Read-only opens (issue 25): `synthloop status`, `datasets list` and the other readers neither
make nor change anything, take neither the run lock nor the write lock, and so answer while a run
holds the home, in another process.

DuckDB lets no other process open the file, not even read-only, while one holds it read-write
(checked below), so a reader that lands during a write waits for that write to end; a running
round holds the file only while it writes (a publish, a round record), never between writes.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import sys
import time

import duckdb
import pytest
from synthloop.warehouse import Catalog, CatalogError, to_arrow

from .fake_run import make_run

# Generous for a busy 2-core machine: each command is a fresh Python process (~1-2 s alone).
BOUND_S = 5.0

# The other process: a run holding the home. Every line on its stdin is an order; it answers each
# on stdout once done. `run_lock` is what `synthloop run` takes; `write` holds a read-write
# connection (and the write lock) until the next order; `release` ends that write.
HOLDER = """
import sys, time
from synthloop.warehouse import Catalog

cat = Catalog(sys.argv[1])
def tell(what):
    print(what, flush=True)

with cat.run_lock("synthloop run --name fake"):
    tell("locked")
    for line in sys.stdin:
        order = line.strip()
        if order == "write-lock":       # the write lock (a FileLock) alone, the file released
            cat.lock.acquire()
            tell("write-locked")
        elif order == "write":          # a write in progress: the file held read-write
            with cat.write() as con:
                con.execute("SELECT count(*) FROM datasets").fetchall()
                tell("writing")
                sys.stdin.readline()    # until told to release
            tell("released")
        elif order == "record":         # a short real write, as a round's end makes
            cat.finish_round("other", 0, dataset_version=None, model_in=None, model_out="other-m0",
                             promoted=True, reason="x", metrics={})
            tell("recorded")
        elif order == "quit":
            break
"""


@pytest.fixture
def home(tmp_path):
    h = tmp_path / "home"
    make_run(h, rounds=1)
    return h


class Holder:
    def __init__(self, home):
        self.p = subprocess.Popen([sys.executable, "-c", HOLDER, str(home)], stdin=subprocess.PIPE,
                                  stdout=subprocess.PIPE, text=True)
        self.expect("locked")

    def order(self, what: str, answer: str | None = None) -> None:
        self.p.stdin.write(what + "\n")
        self.p.stdin.flush()
        if answer:
            self.expect(answer)

    def expect(self, what: str) -> None:
        line = self.p.stdout.readline().strip()
        assert line == what, f"holder said {line!r}, expected {what!r}"

    def close(self) -> None:
        self.p.kill()
        self.p.wait()


@pytest.fixture
def holder(home):
    h = Holder(home)
    yield h
    h.close()


def synthloop(*args) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "synthloop", *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def finish(p: subprocess.Popen, start: float) -> tuple[float, str]:
    """Wait (at most a minute: a hang fails the bound below, not the suite) and check the exit."""
    out, err = p.communicate(timeout=60)
    took = time.monotonic() - start
    assert p.returncode == 0, err[-2000:]
    return took, out


def timed(*args) -> tuple[float, str]:
    start = time.monotonic()
    return finish(synthloop(*args), start)


def sha(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_readers_answer_while_another_process_holds_the_run_and_write_locks(home, holder):
    """The run lock and the write lock held by a run in another process, the file itself free
    (a round between writes): `status` and `datasets list` answer at once."""
    holder.order("write-lock", "write-locked")
    took = {}
    took["status"], out = timed("status", "--name", "fake", "--home", str(home))
    assert "fake-m1" in out
    took["datasets list"], out = timed("datasets", "list", "--json", "--home", str(home))
    assert [json.loads(x)["version"] for x in out.splitlines()] == [1]
    print(f"\nunder the run and write locks: {took}")
    assert all(t < BOUND_S for t in took.values()), took


def test_a_reader_landing_during_a_write_waits_only_for_that_write(home, holder):
    holder.order("write", "writing")
    # DuckDB itself: no read-only open while another process holds the file read-write.
    with pytest.raises(duckdb.IOException, match="lock"):
        duckdb.connect(str(home / "catalog.duckdb"), read_only=True)
    start = time.monotonic()
    readers = {"status": synthloop("status", "--name", "fake", "--home", str(home)),
               "datasets list": synthloop("datasets", "list", "--home", str(home))}
    time.sleep(1.0)  # they start (a Python process each) and land on the held file
    assert all(p.poll() is None for p in readers.values())  # waiting, not failed
    released = time.monotonic()
    holder.order("release", "released")
    took = {}
    for what, p in readers.items():
        total, out = finish(p, start)
        took[what] = round(total - (released - start), 2)  # after the write ended
        assert "fake" in out
    print(f"\nafter a write ended (the write held {released - start:.1f} s): {took}")
    assert all(t < BOUND_S for t in took.values()), took
    holder.order("record", "recorded")  # the run goes on writing
    took_after, _ = timed("status", "--name", "fake", "--home", str(home))
    assert took_after < BOUND_S


def test_a_read_only_open_makes_and_changes_nothing(tmp_path):
    missing = tmp_path / "nothing"
    with pytest.raises(CatalogError, match=r"no catalog in .*: run `synthloop run` first"):
        Catalog.open_read(missing)
    assert not missing.exists()
    res = subprocess.run([sys.executable, "-m", "synthloop", "status", "--home", str(missing)],
                         capture_output=True, text=True, timeout=120, check=False)
    assert res.returncode == 2 and res.stdout.strip().startswith("error: no catalog in"), res.stdout
    assert len(res.stdout.strip().splitlines()) == 1 and not missing.exists()

    h = tmp_path / "home"
    make_run(h, rounds=1)
    before = sha(h / "catalog.duckdb")
    cat = Catalog.open_read(h)
    assert cat.resolve("fake@1")["rows"] > 0 and cat.rounds("fake") and cat.model("fake-m0")
    assert to_arrow("fake@1", home=h).num_rows == cat.resolve("fake@1")["kept"]
    for write in (lambda: cat.publish("fake", [{"row_id": "x"}]), lambda: cat.forget_run("fake"),
                  lambda: cat.finish_round("fake", 9, dataset_version=None, model_in=None, model_out="m",
                                           promoted=False, reason="x", metrics={})):
        with pytest.raises(RuntimeError, match="read-only"):
            write()
    with pytest.raises(RuntimeError, match="read-only"), cat.run_lock("x"):
        pass
    assert sha(h / "catalog.duckdb") == before
    assert sorted(p.name for p in (h / "data" / "fake").iterdir()) == ["v1"]  # no staging folder left
    assert not (h / "run.lock").exists()


def test_an_old_catalog_reads_read_only_without_being_migrated(tmp_path):
    """Made before `parents`/`counts` and relative paths, then copied: read as the migration would
    have rewritten it, the file untouched."""
    from synthloop.warehouse.catalog import _DDL

    a = tmp_path / "a"
    Catalog(a).publish("demo", [{"row_id": "r0", "kept": True}, {"row_id": "r1", "kept": False}], round=1)
    with duckdb.connect(str(a / "catalog.duckdb")) as con:  # back to the first release's tables and paths
        rows = con.execute("SELECT name, version, round, rows, kept FROM datasets").fetchall()
        con.execute("DROP TABLE datasets; DROP TABLE models; DROP TABLE rounds")
        con.execute("\n".join(x for x in _DDL.splitlines() if not x.startswith(("ALTER", "--"))))
        con.executemany("INSERT INTO datasets (name, version, round, rows, kept, path) VALUES (?, ?, ?, ?, ?, ?)",
                        [(*r, f"{a}/data/demo/v{r[1]}") for r in rows])
        con.execute("INSERT INTO models (model_id, round, path, status) VALUES ('demo-m0', 0, ?, 'promoted')",
                    [str(a / "models" / "demo-m0")])
    shutil.copytree(a, tmp_path / "b")
    shutil.rmtree(a)
    b = tmp_path / "b"
    before = sha(b / "catalog.duckdb")
    cat = Catalog.open_read(b)
    (v,) = cat.versions("demo")
    assert v["path"] == str(b / "data" / "demo" / "v1") and v["parents"] == [] and v["counts"] == {}
    assert cat.read_table("demo@1")["row_id"].to_pylist() == ["r0", "r1"]
    assert cat.model("demo-m0")["path"] == str(b / "models" / "demo-m0")
    res = subprocess.run([sys.executable, "-m", "synthloop", "datasets", "show", "demo@1", "--home", str(b)],
                         capture_output=True, text=True, timeout=120, check=False)
    assert res.returncode == 0 and "kept" in res.stdout, res.stdout + res.stderr
    assert sha(b / "catalog.duckdb") == before


def test_a_duckdb_file_that_is_no_catalog_is_one_error(tmp_path):
    duckdb.connect(str(tmp_path / "catalog.duckdb")).close()  # a valid DuckDB file without the tables
    with pytest.raises(CatalogError, match="cannot open the catalog"):
        Catalog.open_read(tmp_path).versions()


def test_named_reads_and_writes(tmp_path):
    cat = Catalog(tmp_path)
    cat.publish("demo", [{"row_id": "a"}], round=1, config_hash="h1")
    cat.publish("demo-seed", [{"row_id": "b"}], round=0, config_hash="h0")
    cat.publish("demo-mix", [{"row_id": "c"}], round=1, config_hash="h2")
    cat.publish("demo-train", [{"row_id": "d"}], round=1)
    assert cat.config_hashes(["demo", "demo-seed"]) == {"h0", "h1"}
    assert cat.config_hashes(["demo-train"]) == set() and cat.config_hashes([]) == set()
    for m in ("demo-m0", "demo-m1", "demo-mix-m0"):
        cat.register_model(m, cat.home / "models" / m, round=0, parent=None, status="promoted")
    cat.finish_round("demo", 0, dataset_version=None, model_in=None, model_out="demo-m0", promoted=True,
                     reason="x", metrics={})
    assert sorted(cat.forget_run("demo")) == [str(cat.home / "models" / m) for m in ("demo-m0", "demo-m1")]
    assert [v["name"] for v in cat.versions()] == ["demo-mix"] and cat.rounds("demo") == []
    assert cat.model("demo-mix-m0") and cat.model("demo-m0") is None
    assert cat.forget_run("demo") == []
