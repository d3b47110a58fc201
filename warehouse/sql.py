"""Read-only SQL over the catalog and every dataset version, for `synthloop datasets sql`.

The query runs in a private in-memory DuckDB, never on the catalog file: the three catalog tables
are copied in (they are small), each dataset version is a view over its Parquet, and then file
access is switched off and the settings locked. So a user's query can read what the catalog holds
and nothing else, and cannot write anything:

    datasets, models, rounds     the catalog tables
    "NAME@V"                     the rows of version V of dataset NAME
    "NAME"                       the rows of its latest version
"""

from __future__ import annotations

import duckdb

from .catalog import Catalog, CatalogError

# Statement types a read-only query may contain; anything else (COPY, ATTACH, SET, INSERT...)
# is refused before it runs.
_READ_ONLY = {duckdb.StatementType.SELECT, duckdb.StatementType.EXPLAIN}


def _quote(ident: str) -> str:
    return '"' + ident.replace('"', '""') + '"'


def sandbox(cat: Catalog) -> duckdb.DuckDBPyConnection:
    """An in-memory connection with the catalog's tables and views, file access switched off."""
    con = duckdb.connect()
    with cat.read() as src:
        for table in ("datasets", "models", "rounds"):
            arrow = src.sql(f"SELECT * FROM {table}").to_arrow_table()
            con.register(f"_{table}", arrow)
            con.execute(f"CREATE TABLE {table} AS SELECT * FROM _{table}")
            con.unregister(f"_{table}")
    versions = con.execute("SELECT name, version, path FROM datasets ORDER BY name, version").fetchall()
    latest = {name: (version, path) for name, version, path in versions}
    for name, version, path in versions:
        src = f"read_parquet({_literal(path + '/*.parquet')})"
        con.execute(f"CREATE VIEW {_quote(f'{name}@{version}')} AS SELECT * FROM {src}")
        if latest[name][0] == version:
            con.execute(f"CREATE VIEW {_quote(name)} AS SELECT * FROM {src}")
    # Only the versions' own files stay readable; then nothing can change that.
    dirs = sorted({path.rstrip("/") + "/" for _, _, path in versions})
    con.execute(f"SET allowed_directories = [{', '.join(_literal(d) for d in dirs)}]")
    con.execute("SET enable_external_access = false")
    con.execute("SET autoinstall_known_extensions = false")
    con.execute("SET lock_configuration = true")
    return con


def _literal(s: str) -> str:
    return "'" + s.replace("'", "''") + "'"


def run_sql(cat: Catalog, sql: str, limit: int | None = None) -> tuple[list[str], list[tuple]]:
    """Run one read-only query; returns (column names, rows). Refuses anything but SELECT."""
    con = sandbox(cat)
    try:
        try:
            statements = con.extract_statements(sql)
        except duckdb.Error as e:
            raise CatalogError(f"cannot parse the query: {_first_line(e)}") from None
        if len(statements) != 1:
            raise CatalogError(f"give exactly one SELECT statement (got {len(statements)})")
        if statements[0].type not in _READ_ONLY:
            raise CatalogError(
                f"only SELECT queries are allowed here (got {statements[0].type.name}); "
                "the catalog is changed only by `synthloop run`"
            )
        try:
            cur = con.execute(sql)
            cols = [d[0] for d in cur.description]
            rows = cur.fetchmany(limit) if limit else cur.fetchall()
        except duckdb.Error as e:
            raise CatalogError(f"query failed: {_first_line(e)}") from None
        return cols, rows
    finally:
        con.close()


def _first_line(e: Exception) -> str:
    return str(e).strip().splitlines()[0]
