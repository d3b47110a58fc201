"""Read-only SQL over the catalog and every dataset version, for `synthloop datasets sql`.

The query runs in a private in-memory DuckDB, never on the catalog file: the three catalog tables
are copied in (they are small), each dataset version is a view over its Parquet, and then file
access is switched off and the settings locked. So a user's query can read what the catalog holds
and nothing else, and cannot write anything:

    datasets, models, rounds     the catalog tables
    "NAME@V"                     the rows of version V of dataset NAME
    "NAME"                       the rows of its latest version

Bounds (`SqlLimits`, flags of `synthloop datasets sql`): a wall-clock time limit (the query is
interrupted), a memory limit for DuckDB's operators (no spilling to disk), and a cap on the rows
fetched into Python, so an endless `WITH RECURSIVE`, a huge cross join or `range(3e8)` end in
one line instead of running until killed or a `MemoryError`.
"""

from __future__ import annotations

import math
import threading
from dataclasses import dataclass

import duckdb

from .catalog import Catalog, CatalogError

# Statement types a read-only query may contain; anything else (COPY, ATTACH, SET, INSERT...)
# is refused before it runs.
_READ_ONLY = {duckdb.StatementType.SELECT, duckdb.StatementType.EXPLAIN}


@dataclass(frozen=True)
class SqlLimits:
    timeout_s: float = 60.0  # a query over every version of a long run takes a few seconds here
    memory: str = "2GB"  # DuckDB's operator memory; the machine this runs on has 24 GB shared
    max_rows: int = 1_000_000  # rows fetched into Python at most, even with --limit 0

    def __post_init__(self):
        if not (isinstance(self.timeout_s, int | float) and math.isfinite(self.timeout_s) and self.timeout_s > 0):
            raise CatalogError(f"the SQL time limit must be a positive number of seconds, got {self.timeout_s!r}")
        if not isinstance(self.max_rows, int) or self.max_rows < 1:
            raise CatalogError(f"the SQL row cap must be a positive integer, got {self.max_rows!r}")


def _quote(ident: str) -> str:
    return '"' + ident.replace('"', '""') + '"'


def sandbox(cat: Catalog, limits: SqlLimits = SqlLimits()) -> duckdb.DuckDBPyConnection:
    """An in-memory connection with the catalog's tables and views, file access switched off."""
    con = duckdb.connect()
    try:
        con.execute(f"SET memory_limit = {_literal(limits.memory)}")
    except duckdb.Error as e:
        raise CatalogError(f"invalid memory limit {limits.memory!r} (e.g. 2GB, 500MB): {_first_line(e)}") from None
    con.execute("SET temp_directory = ''")  # no spilling: past the limit is an error, not a full disk
    with cat.read() as src:
        for table in ("datasets", "models", "rounds"):
            arrow = src.sql(f"SELECT * FROM {table}").to_arrow_table()
            con.register(f"_{table}", arrow)
            con.execute(f"CREATE TABLE {table} AS SELECT * FROM _{table}")
            con.unregister(f"_{table}")
    versions = [(v["name"], v["version"], str(v["path"])) for v in cat.versions()]  # paths resolved in the home
    latest = {name: (version, path) for name, version, path in versions}
    for name, version, path in versions:
        src = f"read_parquet({_literal(path + '/*.parquet')})"
        try:  # a version whose files are gone or damaged: its view is missing, the others work
            con.execute(f"CREATE VIEW {_quote(f'{name}@{version}')} AS SELECT * FROM {src}")
            if latest[name][0] == version:
                con.execute(f"CREATE VIEW {_quote(name)} AS SELECT * FROM {src}")
        except duckdb.Error:
            continue
    # Only the versions' own files stay readable; then nothing can change that.
    dirs = sorted({path.rstrip("/") + "/" for _, _, path in versions})
    con.execute(f"SET allowed_directories = [{', '.join(_literal(d) for d in dirs)}]")
    con.execute("SET enable_external_access = false")
    con.execute("SET autoinstall_known_extensions = false")
    con.execute("SET lock_configuration = true")
    return con


def _literal(s: str) -> str:
    return "'" + s.replace("'", "''") + "'"


def statement_kind(con, sql: str):
    """The statement type of `sql`; for `EXPLAIN [ANALYZE] [(options)] X`, the type of X, since
    EXPLAIN ANALYZE runs X."""
    statements = con.extract_statements(sql)
    if len(statements) != 1:
        raise CatalogError(f"give exactly one SELECT statement (got {len(statements)})")
    st = statements[0]
    if st.type != duckdb.StatementType.EXPLAIN:
        return st.type
    text = st.query
    tokens = [(pos, kind) for pos, kind in duckdb.tokenize(text) if kind != duckdb.token_type.comment]
    words = [(pos, text[pos:end].strip().upper(), kind) for (pos, kind), end in
             zip(tokens, [p for p, _ in tokens[1:]] + [len(text)])]
    i, depth = 1, 0  # words[0] is EXPLAIN
    while i < len(words):
        _, word, _ = words[i]
        if depth == 0 and word.startswith("("):
            depth = 1
        elif depth and word.startswith("("):
            depth += 1
        elif depth and word.startswith(")"):
            depth -= 1
        elif depth == 0 and word == "ANALYZE":
            pass
        elif depth == 0:
            break
        i += 1
    if i >= len(words):
        raise CatalogError("EXPLAIN needs a SELECT to explain")
    return statement_kind(con, text[words[i][0]:])


def run_sql(cat: Catalog, sql: str, limit: int | None = None,
            limits: SqlLimits = SqlLimits()) -> tuple[list[str], list[tuple]]:
    """Run one read-only query within `limits`; returns (column names, rows). Refuses anything
    but SELECT (and EXPLAIN of a SELECT)."""
    con = sandbox(cat, limits)
    try:
        try:
            kind = statement_kind(con, sql)
        except duckdb.Error as e:
            raise CatalogError(f"cannot parse the query: {_first_line(e)}") from None
        if kind not in _READ_ONLY:
            raise CatalogError(
                f"only SELECT queries are allowed here (got {kind.name}); "
                "the catalog is changed only by `synthloop run`"
            )
        cap = min(limit, limits.max_rows) if limit else limits.max_rows
        timer = threading.Timer(limits.timeout_s, con.interrupt)
        timer.start()
        try:
            cur = con.execute(sql)
            cols = [d[0] for d in cur.description]
            rows = cur.fetchmany(cap + 1)  # one more than the cap tells "there are more"
        except duckdb.InterruptException:
            raise CatalogError(f"the query ran past the {limits.timeout_s:g} s time limit and was stopped; "
                               "narrow it, or raise --timeout") from None
        except duckdb.OutOfMemoryException:
            raise CatalogError(f"the query needs more than the {limits.memory} memory limit; "
                               "narrow it (fewer columns, a WHERE, an aggregate), or raise --memory") from None
        except duckdb.Error as e:
            raise CatalogError(f"query failed: {_first_line(e)}") from None
        except MemoryError:
            raise CatalogError("the result does not fit in memory; add a LIMIT or an aggregate") from None
        finally:
            timer.cancel()
        if len(rows) > cap and (not limit or limit > limits.max_rows):
            raise CatalogError(f"the query returns more than {limits.max_rows} rows (the row cap); "
                               "add a LIMIT or an aggregate, or raise --max-rows")
        return cols, rows[:cap]
    finally:
        con.close()


def _first_line(e: Exception) -> str:
    return str(e).strip().splitlines()[0]
