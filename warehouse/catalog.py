"""The catalog: one DuckDB file that says which dataset versions and models exist.

Layout under SYNTHLOOP_HOME (default ./.synthloop):
    catalog.duckdb                 datasets, models and rounds tables
    data/<name>/v<N>/*.parquet     immutable dataset versions
    models/<model-id>/             HF model folders
    reports/                       HTML reports

Publishing writes Parquet to a staging folder, renames it into place and inserts the catalog row
in one transaction, all under a file lock: readers never see half a version, and a crash leaves
only staging leftovers that the next writer removes. DuckDB allows one process per database file,
so every connection here is short-lived.

What makes a run safe to kill and rerun:
- one run per home: `run_lock()` (taken by `synthloop run` and `serve`) is an OS file lock, so
  a killed holder releases it; the holder's pid, command and start time are written beside it;
- a round is published once: `publish(..., round=r)` returns the version already published for
  (name, r) instead of adding a second one, whatever crash or race came between;
- paths in the catalog are relative to the home (`data/<name>/v<N>`, `models/<id>`), so a copied
  or moved home reads its own files; catalogs with absolute paths are migrated when opened;
- cleanup deletes only what a crashed publish of this catalog left: a staging folder of a dead
  process, or a `v<N>` folder above the highest committed version holding only part files.

Readers (`synthloop status`, `datasets list|show|diff|sql`, `pull`, `report`, `load(...)`) open
the catalog with `Catalog.open_read(home)`: no folder is made, no DDL or migration runs, neither the
run lock nor the write lock is taken, and the file is opened read-only. DuckDB still lets only one
process open the file while another holds it read-write, so a reader that lands during a write
waits for that write to end (a publish or a round record: short, and a running round releases the
file between writes), never for the round.
"""

from __future__ import annotations

import fcntl
import json
import os
import re
import shutil
import sys
import time
import uuid
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
from filelock import FileLock, Timeout

from synthloop.errors import UserError

from .schema import to_table

# \Z, not $: `$` also matches before a trailing newline.
NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}\Z")
VERSION_RE = re.compile(r"^v?[0-9]{1,9}\Z")  # ASCII digits only: str.isdigit() takes '１' too
VERSION_DIR_RE = re.compile(r"^v[0-9]{1,9}\Z")
PART_RE = re.compile(r"^part-[0-9]{5}\.parquet\Z")

_DDL = """
CREATE TABLE IF NOT EXISTS datasets (
    name VARCHAR NOT NULL,
    version INTEGER NOT NULL,
    round INTEGER,
    model_id VARCHAR,
    parent_version INTEGER,
    config_hash VARCHAR,
    config JSON,
    code_version VARCHAR,
    rows BIGINT,
    kept BIGINT,
    path VARCHAR NOT NULL,
    metrics JSON,
    created_at TIMESTAMP,
    PRIMARY KEY (name, version)
);
-- Added after the first release; ALTER keeps catalogs made before then readable.
ALTER TABLE datasets ADD COLUMN IF NOT EXISTS parents JSON;   -- ["name@v", ...] this version builds on
ALTER TABLE datasets ADD COLUMN IF NOT EXISTS counts JSON;    -- rows by verdict and by drop reason
CREATE TABLE IF NOT EXISTS models (
    model_id VARCHAR PRIMARY KEY,
    round INTEGER,
    parent VARCHAR,
    path VARCHAR NOT NULL,
    dataset VARCHAR,
    dataset_version INTEGER,
    status VARCHAR,            -- bootstrap | promoted | rejected
    reason VARCHAR,
    metrics JSON,
    created_at TIMESTAMP
);
CREATE TABLE IF NOT EXISTS rounds (
    run VARCHAR NOT NULL,      -- the dataset name the loop writes
    round INTEGER NOT NULL,
    dataset_version INTEGER,
    model_in VARCHAR,
    model_out VARCHAR,
    promoted BOOLEAN,
    reason VARCHAR,
    metrics JSON,
    finished_at TIMESTAMP,
    PRIMARY KEY (run, round)
);
"""


class CatalogError(UserError):
    """A user-facing catalog problem (unknown version, bad name, busy catalog)."""


class RunLocked(CatalogError):
    """Another run holds the home (and the caller asked not to wait)."""


def check_name(name: str, what: str = "dataset name") -> str:
    if not isinstance(name, str) or not NAME_RE.match(name):
        raise CatalogError(
            f"invalid {what} {name!r}: use 1-64 letters, digits, '_', '-' or '.', starting with a letter or digit"
        )
    return name


def home_dir(home: str | os.PathLike | None = None) -> Path:
    return Path(home or os.environ.get("SYNTHLOOP_HOME", ".synthloop")).resolve()


def _now():
    return datetime.now(UTC).replace(tzinfo=None)


NO_CATALOG = "no catalog in {home}: run `synthloop run` first (or pass --home / set SYNTHLOOP_HOME)"


class Catalog:
    def __init__(self, home: str | os.PathLike | None = None, lock_timeout: float = 600.0, *,
                 read_only: bool = False):
        """Open (and, unless `read_only`, create or migrate) the catalog of `home`.

        `read_only=True` (or `Catalog.open_read(home)`) makes nothing and changes nothing: no
        folder, no DDL, no path migration, no lock; a home without a catalog is a `CatalogError`.
        Its writing methods (`write`, `publish`, `register_model`, `finish_round`, `forget_run`,
        `run_lock`) refuse.
        """
        self.home = home_dir(home)
        self.db_path = self.home / "catalog.duckdb"
        self.lock = FileLock(str(self.home / "catalog.lock"))
        self.lock_timeout = lock_timeout
        self.read_only = read_only
        if read_only:
            if not self.db_path.is_file():
                raise CatalogError(NO_CATALOG.format(home=self.home))
            return
        if self.home.exists() and not self.home.is_dir():
            raise CatalogError(f"the home {self.home} is a file, not a folder; pass --home <folder>")
        self.home.mkdir(parents=True, exist_ok=True)
        with self.write() as con:
            con.execute(_DDL)
            self._migrate_paths(con)

    @classmethod
    def open_read(cls, home: str | os.PathLike | None = None) -> Catalog:
        """The catalog of `home`, read-only (see `__init__`): what every command that only reads uses."""
        return cls(home, read_only=True)

    def _writable(self, what: str) -> None:
        if self.read_only:
            raise RuntimeError(f"{what}: the catalog at {self.home} was opened read-only (Catalog.open_read)")

    # -- paths -------------------------------------------------------------------------------
    def _stored(self, path: str | os.PathLike) -> str:
        """How a path is kept in the catalog: relative to the home when it is inside it."""
        p = Path(path)
        if not p.is_absolute():
            return p.as_posix()
        try:
            return p.resolve().relative_to(self.home).as_posix()
        except ValueError:
            return str(p)  # a user's own model folder outside the home stays absolute

    def _resolved(self, stored: str | None, own: str | None = None) -> str | None:
        """The absolute path of a stored one. An absolute stored path (a catalog made before paths
        were relative, opened read-only so not migrated) is read as `_migrate_paths` would rewrite
        it, given the layout's own tail `own`."""
        if stored is None:
            return None
        if os.path.isabs(stored) and own is not None:
            stored = self._migrated(stored, own)
        return stored if os.path.isabs(stored) else str(self.home / stored)

    def _migrated(self, path: str, own: str) -> str:
        """An absolute `path` as it is kept now: relative when inside this home; in a copied or moved
        home, its layout's own tail `own` (`data/<name>/v<N>`, `models/<id>`) when it ends so."""
        new = self._stored(path)
        if os.path.isabs(new) and Path(path).as_posix().endswith("/" + own):
            new = own
        return new

    def _migrate_paths(self, con) -> None:
        """Absolute paths (catalogs made before paths were relative) become relative: inside this
        home by `relative_to`; in a copied or moved home by the layout's own tail
        (`data/<name>/v<N>`, `models/<id>`), so the copy reads its own files, not the original's."""
        changes = []
        for table, key, tail in (("datasets", "name || '@' || version", "'data/' || name || '/v' || version"),
                                 ("models", "model_id", "'models/' || model_id")):
            for k, path, own in con.execute(f"SELECT {key}, path, {tail} FROM {table}").fetchall():
                if not os.path.isabs(path):
                    continue
                new = self._migrated(path, own)
                if new != path:
                    changes.append((table, key, k, new))
        for table, key, k, new in changes:
            con.execute(f"UPDATE {table} SET path = ? WHERE {key} = ?", [new, k])

    # -- one run per home --------------------------------------------------------------------
    @contextmanager
    def run_lock(self, command: str, wait: bool = True, poll_s: float = 1.0):
        """Hold the home for one run (`synthloop run`, `serve`) until the block ends.

        An OS lock on `run.lock`: the kernel drops it when the holder dies, however it dies, so a
        lock is never stuck. The holder's pid, command and start time are written into the file
        for the message a second run prints; a record left by a holder that died is reported as
        stale and taken over. `wait=False` refuses at once instead of waiting.
        """
        self._writable("run_lock")
        path = self.home / "run.lock"
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            told = False
            while True:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    holder = _holder(path)
                    if not wait:
                        raise RunLocked(f"another run holds {self.home} ({holder}); wait for it to end, "
                                        "or drop --no-wait to queue behind it") from None
                    if not told:
                        print(f"synthloop: another run holds {self.home} ({holder}); waiting for it to end "
                              "(Ctrl-C to give up, --no-wait to refuse instead)", file=sys.stderr, flush=True)
                        told = True
                    time.sleep(poll_s)
            stale = _holder(path, default="")
            if stale:
                print(f"synthloop: a previous run ({stale}) ended without releasing {self.home} "
                      "(it was killed); its lock is stale, taking over", file=sys.stderr, flush=True)
            record = {"pid": os.getpid(), "command": command, "started_at": _now().isoformat(timespec="seconds")}
            os.ftruncate(fd, 0)
            os.pwrite(fd, json.dumps(record).encode(), 0)
            os.fsync(fd)
            try:
                yield record
            finally:
                os.ftruncate(fd, 0)  # released cleanly: no stale record for the next run
                fcntl.flock(fd, fcntl.LOCK_UN)
        finally:
            os.close(fd)

    # -- connections -------------------------------------------------------------------------
    @contextmanager
    def write(self):
        """A read-write connection held under the cross-process lock."""
        self._writable("write")
        try:
            self.lock.acquire(timeout=0)
        except Timeout:
            print(
                f"synthloop: another round is publishing to the catalog at {self.home}; "
                f"waiting up to {self.lock_timeout:.0f}s...", file=sys.stderr, flush=True,
            )
            try:
                self.lock.acquire(timeout=self.lock_timeout)
            except Timeout:
                raise CatalogError(
                    f"the catalog at {self.home} stayed locked for {self.lock_timeout:.0f}s "
                    "(another round is publishing); try again later"
                ) from None
        try:
            # The lock keeps writers out; a reader in another process (`datasets show`) can still
            # hold the file for a moment, so the connection is retried, not refused.
            con = _connect(self.db_path, read_only=False)
            try:
                yield con
            finally:
                con.close()
        finally:
            self.lock.release()

    @contextmanager
    def read(self):
        """A read-only connection; retries briefly while a writer holds the file."""
        con = _connect(self.db_path, read_only=True)
        try:
            yield con
        finally:
            con.close()

    def query(self, sql: str, params: list | None = None) -> list[dict]:
        with self.read() as con:
            try:
                cur = con.execute(sql, params or [])
            except duckdb.CatalogException as e:
                if not self.read_only:
                    raise
                # Opened read-only, nothing made the tables: a DuckDB file that is not a catalog.
                raise _unreadable(self.db_path, e) from None
            cols = [d[0] for d in cur.description]
            return [dict(zip(cols, row)) for row in cur.fetchall()]

    # -- datasets ----------------------------------------------------------------------------
    def _cleanup(self, con, name: str) -> None:
        """Remove what a crashed publish of this catalog left, and nothing else: staging folders
        of dead processes, and a `v<N>` folder renamed into place whose commit never came (N above
        the highest committed version, only part files inside). Any other folder is left alone."""
        root = self.home / "data" / name
        if not root.exists():
            return
        (top,) = con.execute("SELECT coalesce(max(version), 0) FROM datasets WHERE name = ?", [name]).fetchone()
        for p in root.iterdir():
            stale_stage = p.name.startswith(".staging-") and not _pid_alive(p.name)
            uncommitted = (VERSION_DIR_RE.match(p.name) and int(p.name[1:]) > top and p.is_dir()
                           and all(PART_RE.match(f.name) for f in p.iterdir()))
            if stale_stage or uncommitted:
                shutil.rmtree(p, ignore_errors=True)

    def publish(
        self,
        name: str,
        rows: list[dict] | pa.Table | list[Path],
        *,
        round: int | None = None,
        model_id: str | None = None,
        config: dict | None = None,
        config_hash: str | None = None,
        code_version: str | None = None,
        metrics: dict | None = None,
        parent_version: int | None = None,
        parents: list[str] | None = None,
        _crash_before_commit: bool = False,
    ) -> int:
        """Publish an immutable new version of `name`; returns its number.

        `rows` are row dicts, an Arrow table, or Parquet files with the row schema (a round's
        shards: they become the version's part-00000.parquet, part-00001.parquet, ... in order,
        all visible at once). `parents` lists the versions this one builds on (`["name@v", ...]`);
        by default the previous version of `name`. Row counts by verdict and drop reason are
        recorded with it.
        """
        self._writable("publish")
        check_name(name)
        files = list(rows) if isinstance(rows, list) and rows and isinstance(rows[0], Path) else None
        root = self.home / "data" / name
        stage = root / f".staging-{os.getpid()}-{uuid.uuid4().hex[:8]}"
        stage.mkdir(parents=True)
        try:
            if files is None:
                table = rows if isinstance(rows, pa.Table) else to_table(rows)
                pq.write_table(table, stage / "part-00000.parquet", compression="zstd")
            else:
                _stage_files(files, stage)
                table = pq.read_table(stage, columns=list(_COUNT_COLS))  # what `row_counts` reads
            with self.write() as con:
                self._cleanup(con, name)
                if round is not None:  # (name, round) is published once: a rerun gets the same version
                    done = con.execute("SELECT min(version) FROM datasets WHERE name = ? AND round = ?",
                                       [name, round]).fetchone()[0]
                    if done is not None:
                        return done
                (latest,) = con.execute("SELECT max(version) FROM datasets WHERE name = ?", [name]).fetchone()
                version = (latest or 0) + 1
                final = root / f"v{version}"
                stage.rename(final)
                try:
                    if _crash_before_commit:  # tests: a crash between the rename and the commit
                        raise RuntimeError("simulated crash during publish")
                    counts = row_counts(table)
                    parent = parent_version if parent_version is not None else latest
                    if parents is None:
                        parents = [f"{name}@{parent}"] if parent else []
                    con.execute(
                        f"INSERT INTO datasets ({', '.join(_COLS)}) VALUES ({', '.join('?' * len(_COLS))})",
                        [
                            name, version, round, model_id, parent, config_hash,
                            json.dumps(config or {}, default=str), code_version, table.num_rows,
                            counts["kept"], self._stored(final), json.dumps(metrics or {}, default=str), _now(),
                            json.dumps(parents), json.dumps(counts),
                        ],
                    )
                except BaseException:
                    shutil.rmtree(final, ignore_errors=True)
                    raise
            return version
        finally:
            if stage.exists():
                shutil.rmtree(stage, ignore_errors=True)

    def resolve(self, ref: str) -> dict:
        """`NAME`, `NAME@latest` or `NAME@N` → that version's catalog row."""
        name, _, v = ref.partition("@")
        check_name(name)
        if v in ("", "latest"):
            rows = self.query("SELECT * FROM datasets WHERE name = ? ORDER BY version DESC LIMIT 1", [name])
        elif VERSION_RE.match(v):
            rows = self.query("SELECT * FROM datasets WHERE name = ? AND version = ?", [name, int(v.lstrip("v"))])
        else:
            raise CatalogError(f"invalid version {v!r} in {ref!r}: use NAME, NAME@latest or NAME@<number>")
        if not rows:
            known = self.query("SELECT version FROM datasets WHERE name = ? ORDER BY version", [name])
            have = ", ".join(str(r["version"]) for r in known) or "none"
            raise CatalogError(f"no dataset version {ref!r} in {self.home} (versions of {name!r}: {have})")
        return self._decode(rows[0])

    def read_table(self, ref: str, columns: list[str] | None = None, kept_only: bool = False) -> pa.Table:
        info = self.resolve(ref)
        try:
            table = pq.read_table(info["path"], columns=columns)
        except (OSError, pa.ArrowException) as e:
            raise CatalogError(f"cannot read {ref} at {info['path']}: {e}") from None
        if kept_only:
            table = table.filter(table["kept"])
        return table

    def _decode(self, row: dict) -> dict:
        for key in ("parents", "counts"):  # columns added later: absent from an old catalog opened read-only
            row.setdefault(key, None)
        row = _decode(row)
        own = f"data/{row['name']}/v{row['version']}" if "name" in row and "version" in row else None
        row["path"] = self._resolved(row.get("path"), own)
        return row

    def config_hashes(self, names: list[str]) -> set[str]:
        """The config hashes the versions of these datasets were published with (None left out)."""
        if not names:
            return set()
        rows = self.query(f"SELECT DISTINCT config_hash FROM datasets WHERE name IN ({', '.join('?' * len(names))})",
                          list(names))
        return {r["config_hash"] for r in rows} - {None}

    def versions(self, name: str | None = None) -> list[dict]:
        """Catalog rows of every version of `name` (of every dataset if None), JSON fields decoded."""
        if name is None:
            rows = self.query("SELECT * FROM datasets ORDER BY name, version")
        else:
            rows = self.query("SELECT * FROM datasets WHERE name = ? ORDER BY version", [check_name(name)])
        return [self._decode(r) for r in rows]

    # -- models ------------------------------------------------------------------------------
    def register_model(self, model_id: str, path: Path, *, round: int, parent: str | None, status: str,
                       dataset: str | None = None, dataset_version: int | None = None,
                       reason: str | None = None, metrics: dict | None = None) -> None:
        check_name(model_id, "model id")
        with self.write() as con:
            con.execute(
                "INSERT OR REPLACE INTO models VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [model_id, round, parent, self._stored(path), dataset, dataset_version, status, reason,
                 json.dumps(metrics or {}, default=str), _now()],
            )

    def model(self, model_id: str) -> dict | None:
        rows = self.query("SELECT * FROM models WHERE model_id = ?", [model_id])
        if not rows:
            return None
        rows[0]["metrics"] = json.loads(rows[0]["metrics"] or "{}")
        rows[0]["path"] = self._resolved(rows[0]["path"], f"models/{model_id}")
        return rows[0]

    # -- rounds ------------------------------------------------------------------------------
    def finish_round(self, run: str, round: int, *, dataset_version: int | None, model_in: str | None,
                     model_out: str, promoted: bool, reason: str, metrics: dict) -> None:
        with self.write() as con:
            con.execute(
                "INSERT OR REPLACE INTO rounds VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [run, round, dataset_version, model_in, model_out, promoted, reason,
                 json.dumps(metrics, default=str), _now()],
            )

    def rounds(self, run: str) -> list[dict]:
        rows = self.query("SELECT * FROM rounds WHERE run = ? ORDER BY round", [run])
        for r in rows:
            r["metrics"] = json.loads(r["metrics"] or "{}")
        return rows

    # -- forgetting a run --------------------------------------------------------------------
    def forget_run(self, run: str) -> list[str]:
        """Remove run `run` from the catalog, in one transaction: its datasets (`run`, `run-seed`,
        `run-train`), its rounds and the models it made (`<run>-m<N>`, matched whole: no LIKE, so
        `demo` never touches `demo-mix` and `_` is no wildcard). Returns the paths of the models
        forgotten. Files are left alone: deleting the run's folders is the caller's."""
        check_name(run, "run name")
        owned = re.compile(re.escape(run) + r"-m[0-9]+")
        with self.write() as con:
            con.execute("BEGIN TRANSACTION")
            models = [(m, p) for m, p in con.execute("SELECT model_id, path FROM models").fetchall()
                      if owned.fullmatch(m)]
            con.execute("DELETE FROM datasets WHERE name IN (?, ?, ?)", [run, f"{run}-seed", f"{run}-train"])
            con.execute("DELETE FROM rounds WHERE run = ?", [run])
            for model_id, _ in models:
                con.execute("DELETE FROM models WHERE model_id = ?", [model_id])
            con.execute("COMMIT")
        return [self._resolved(p, f"models/{m}") for m, p in models]


def _connect(path: Path, read_only: bool):
    """DuckDB lets one process at a time open the file: retry for ~90 s while another has it."""
    for attempt in range(100):
        try:
            return duckdb.connect(str(path), read_only=read_only)
        except duckdb.IOException as e:
            if "lock" not in str(e).lower():
                raise _unreadable(path, e) from None
            time.sleep(0.1 * min(attempt + 1, 10))
        except duckdb.Error as e:  # not a DuckDB file, truncated, a newer format...
            raise _unreadable(path, e) from None
    raise CatalogError(f"the catalog at {path} is busy; try again in a moment")


def _unreadable(path: Path, e: Exception) -> CatalogError:
    first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
    return CatalogError(f"cannot open the catalog {path}: {first}; if it is damaged, move it away "
                        "and rerun (the Parquet versions under data/ stay readable on their own)")


_COLS = ("name", "version", "round", "model_id", "parent_version", "config_hash", "config",
         "code_version", "rows", "kept", "path", "metrics", "created_at", "parents", "counts")


def _decode(row: dict) -> dict:
    """JSON columns decoded (the path is resolved by `Catalog._decode`)."""
    for key, empty in (("config", {}), ("metrics", {}), ("counts", {}), ("parents", [])):
        if key in row:
            row[key] = json.loads(row[key]) if row[key] else empty
    if not row.get("parents") and row.get("parent_version") and "name" in row:  # published before `parents`
        row["parents"] = [f"{row['name']}@{row['parent_version']}"]
    return row


def row_counts(table: pa.Table) -> dict:
    """Rows by verdict and by drop reason: what `datasets show` and the report print.

    `verdict` is `correct` (right answer, every step right), `bad_steps` (right answer reached
    through a wrong step), `wrong` (wrong or no answer), or `unverified` (no verdict recorded).
    """
    def col(name):
        return table[name].to_pylist() if name in table.column_names else [None] * table.num_rows

    verdicts: dict[str, int] = {}
    for correct, steps_ok in zip(col("correct"), col("steps_ok")):
        v = "unverified" if correct is None else "wrong" if not correct else "bad_steps" if steps_ok is False else "correct"
        verdicts[v] = verdicts.get(v, 0) + 1
    reasons: dict[str, int] = {}
    for kept, reason in zip(col("kept"), col("drop_reason")):
        if not kept:
            reasons[reason or "unknown"] = reasons.get(reason or "unknown", 0) + 1
    errors: dict[str, int] = {}
    for kind in col("error_kind"):
        if kind is not None:
            errors[kind] = errors.get(kind, 0) + 1
    kept = sum(1 for k in col("kept") if k)
    return {"rows": table.num_rows, "kept": kept, "dropped": table.num_rows - kept,
            "by_verdict": dict(sorted(verdicts.items())), "by_drop_reason": dict(sorted(reasons.items())),
            "by_error_kind": dict(sorted(errors.items()))}


_COUNT_COLS = ("correct", "steps_ok", "kept", "drop_reason", "error_kind")


def _stage_files(files: list[Path], stage: Path) -> None:
    """Put the shard files into the staging folder: hard links (no copy) where the file system allows."""
    for i, f in enumerate(files):
        dst = stage / f"part-{i:05d}.parquet"
        try:
            os.link(f, dst)
        except OSError:
            shutil.copyfile(f, dst)


def _holder(path: Path, default: str = "holder unknown") -> str:
    """'pid 123, `synthloop run`, since 2026-12-01T22:00:00' from a run lock's record."""
    try:
        rec = json.loads(path.read_text() or "null")
        return f"pid {int(rec['pid'])}, `{rec['command']}`, since {rec['started_at']} UTC"
    except (OSError, ValueError, TypeError, KeyError):
        return default


def _pid_alive(stage_name: str) -> bool:
    """Whether the process that made `.staging-<pid>-<id>` still runs (then it is not stale)."""
    try:
        pid = int(stage_name.split("-")[1])
    except (IndexError, ValueError):
        return False
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
