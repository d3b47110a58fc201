"""The data side of the `synthloop` command: `datasets list|show|diff|sql`, `pull`, `report`, `serve`.

Registered on the main app by `synthloop/cli.py`. Like the rest of the CLI, a user mistake ends in
one readable line (exit code 2), never a traceback.
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path
from typing import Annotated, Literal

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from synthloop.errors import UserError

console = Console(width=max(shutil.get_terminal_size((160, 24)).columns, 150))
# Widest line a table gets outside a terminal: far past any run name or metric, short of a runaway.
LOG_WIDTH = 10_000


def print_table(table: Table, to: Console | None = None) -> None:
    """A table on `to` (the stdout console): in a terminal at its width, as rich fits it; elsewhere
    (a log, CI, `| tee`) as wide as its widest cells, so that no cell is cut to `demo-…`."""
    to = to or console
    if to.is_terminal:
        to.print(table)
        return
    wide = max(to.measure(table, options=to.options.update_width(LOG_WIDTH)).maximum, to.width)
    Console(file=to.file, width=wide).print(table)  # print(width=) caps at the console's own width
# Progress and notes go to stderr, so `$(synthloop pull ...)` captures just the path.
err = Console(stderr=True)
datasets_app = typer.Typer(
    help="Dataset versions in the catalog: list them, show one's lineage and stats, diff two, query with SQL.",
    no_args_is_help=True,
)

HomeOpt = Annotated[
    Path | None,
    typer.Option("--home", help="Where catalog, data and models live (env SYNTHLOOP_HOME; default ./.synthloop)."),
]
JsonOpt = Annotated[bool, typer.Option("--json", help="JSON output, one object per line.")]
VerboseOpt = Annotated[bool, typer.Option("--verbose", "-v", help="Everything, the allocation history included.")]
Ref = Annotated[str, typer.Argument(help="NAME, NAME@latest or NAME@<version>.", show_default=False)]


def fail(msg: str) -> None:
    """Print `msg` as one error line (never read as markup) and exit 2."""
    one_line = re.sub(r"\s*\n\s*", " ", str(msg)).strip()
    console.print(Text.assemble(("error:", "bold red"), " ", one_line), highlight=False, soft_wrap=True)
    raise typer.Exit(2)


def check_same_config(cat, cfg) -> None:
    """Refuse (a `UserError`) to continue run `cfg.name` with a config other than the one it was made with."""
    hashes = cat.config_hashes([cfg.name, f"{cfg.name}-seed"])
    if hashes and hashes != {cfg.config_hash()}:
        raise UserError(
            f"run {cfg.name!r} in {cat.home} was made with a different config; "
            "`synthloop run --fresh` starts it over; or pick another --name"
        )


def _catalog(home: Path | None):
    """The catalog at `home`, opened read-only (no DDL, no lock, nothing made); an error line (not
    an empty new catalog) when there is none."""
    from synthloop.warehouse import Catalog

    return _guard(lambda: Catalog.open_read(home))


def _guard(fn):
    """Run `fn()`, turning catalog errors into one error line."""
    from synthloop.warehouse import CatalogError

    try:
        return fn()
    except CatalogError as e:
        fail(str(e))


def _num(v) -> str:
    """A cell: user data (SQL values, sampler names, paths) escaped, so `[/x]` prints as itself."""
    if v is None:
        return "-"
    return f"{v:.4g}" if isinstance(v, float) else escape(str(v))


def _json(obj) -> str:
    return json.dumps(obj, default=str)


# -- datasets --------------------------------------------------------------------------------
@datasets_app.command("list")
def list_(name: Annotated[str | None, typer.Argument(help="Only this dataset.")] = None,
          as_json: JsonOpt = False, home: HomeOpt = None):
    """Every dataset version: rows, kept, round, model, parents."""
    cat = _catalog(home)
    versions = _guard(lambda: cat.versions(name))
    keys = ("name", "version", "rows", "kept", "round", "model_id", "parents", "config_hash", "code_version",
            "created_at", "path")
    if as_json:
        for v in versions:
            typer.echo(_json({k: v.get(k) for k in keys}))
        return
    if not versions:
        console.print(f"no dataset versions in {escape(str(cat.home))}", highlight=False)
        return
    t = Table(title=f"datasets in {escape(str(cat.home))}", title_justify="left")
    for col in ("dataset", "rows", "kept", "kept %", "round", "model", "parents", "published"):
        t.add_column(col, justify="right" if col in ("rows", "kept", "kept %", "round") else "left")
    for v in versions:
        pct = f"{100 * v['kept'] / v['rows']:.1f}" if v["rows"] else "-"
        t.add_row(f"{v['name']}@{v['version']}", str(v["rows"]), str(v["kept"]), pct, _num(v["round"]),
                  v["model_id"] or "-", ", ".join(v["parents"] or []) or "-", str(v["created_at"])[:19])
    print_table(t)


@datasets_app.command()
def show(ref: Ref, as_json: JsonOpt = False, verbose: VerboseOpt = False, home: HomeOpt = None):
    """One version: lineage, row counts by verdict and drop reason, metrics (--verbose: the
    sampler and per-problem allocation history too)."""
    from synthloop.warehouse.catalog import row_counts

    cat = _catalog(home)
    v = _guard(lambda: cat.resolve(ref))
    if not v["counts"]:  # published before counts were recorded
        v["counts"] = row_counts(_guard(lambda: cat.read_table(ref, columns=["correct", "steps_ok", "kept",
                                                                               "drop_reason", "error_kind"])))
    if as_json:
        typer.echo(_json(v))
        return
    t = Table(title=f"{v['name']}@{v['version']}", title_justify="left", show_header=False)
    t.add_column(style="bold")
    t.add_column()
    c = v["counts"]
    for k, val in (("round", v["round"]), ("model", v["model_id"]), ("parents", ", ".join(v["parents"] or []) or "-"),
                   ("config hash", v["config_hash"]), ("code version", v["code_version"]),
                   ("published", v["created_at"]), ("files", v["path"]), ("rows", v["rows"]), ("kept", v["kept"]),
                   ("by verdict", _pairs(c.get("by_verdict"))), ("drop reasons", _pairs(c.get("by_drop_reason"))),
                   ("error kinds", _pairs(c.get("by_error_kind")))):
        t.add_row(k, _num(val))
    from synthloop.warehouse.lineage import used_by

    for child in _guard(lambda: used_by(cat, v["name"], v["version"])):  # e.g. the training set of a round
        models = ", ".join(f"{x['model_id']} ({x['status']})" for x in child["models"])
        t.add_row("used by", escape(f"{child['ref']} ({child['rows']} rows)" + (f" -> model {models}" if models else "")))
    m = v["metrics"]
    for k, val in m.items():
        if k in _LONG:
            continue
        if isinstance(val, dict) and k not in ("by_sampler", "by_difficulty"):
            val = _pairs(val)
        if not isinstance(val, dict):
            t.add_row(f"metrics.{k}", _num(val) if not isinstance(val, list) else escape(", ".join(map(str, val))))
    for k, val in _concise(m, verbose).items():
        t.add_row(f"metrics.{k}", escape(val))
    print_table(t)
    for key, label in (("by_sampler", "sampler"), ("by_difficulty", "difficulty")):
        rows = m.get(key) or {}
        if rows:
            cols = list(dict.fromkeys(c for r in rows.values() if isinstance(r, dict) for c in r))
            bt = Table(title=f"by {label}", title_justify="left")
            for col in [label, *cols]:
                bt.add_column(col, justify="left" if col == label else "right")
            for name, r in rows.items():
                bt.add_row(escape(str(name)), *(_num(r.get(col)) for col in cols))
            print_table(bt)


# Metrics whose full record runs to hundreds of lines (a reason per sampler, bucket and problem):
# one line each by default, all of it with --verbose.
_LONG = ("allocation", "curriculum")


def _concise(m: dict, verbose: bool) -> dict[str, str]:
    """The long metrics of `m` as one line each (or, verbose, as indented JSON)."""
    out = {}
    for k in _LONG:
        rec = m.get(k)
        if not isinstance(rec, dict):
            continue
        if verbose:
            out[k] = json.dumps(rec, indent=1, default=str)
            continue
        shares = rec.get("shares")
        if k == "allocation" and isinstance(shares, dict):
            line = "shares " + ", ".join(f"{n} {_num(v)}" for n, v in shares.items())
            line += f"; {rec.get('samples', '-')} samples"
        else:
            line = ", ".join(f"{kk}: {_num(v)}" for kk, v in rec.items() if not isinstance(v, dict | list))
        out[k] = f"{line} (--verbose for the whole record)"
    return out


def _pairs(d) -> str:
    return ", ".join(f"{k}: {_num(v)}" for k, v in (d or {}).items()) or "-"


@datasets_app.command()
def diff(a: Ref, b: Ref, as_json: JsonOpt = False, all_metrics: Annotated[bool, typer.Option(
        "--all", help="List unchanged metrics too.")] = False, verbose: VerboseOpt = False, home: HomeOpt = None):
    """What changed from A to B: rows added and removed, training examples, metric deltas
    (--verbose: the allocation history too)."""
    from synthloop.warehouse.diff import diff_versions

    cat = _catalog(home)
    d = _guard(lambda: diff_versions(cat, a, b))
    if as_json:
        typer.echo(_json(d))
        return
    r, k = d["rows"], d["training_examples"]
    console.print(f"[bold]{d['a']} → {d['b']}[/]", highlight=False)
    console.print(f"rows (by row_id): [green]+{r['added']}[/] added, [red]-{r['removed']}[/] removed, "
                  f"{r['unchanged']} in both", highlight=False)
    console.print(f"kept training examples (prompt + completion): [green]+{k['added']}[/] added, "
                  f"[red]-{k['removed']}[/] removed", highlight=False)
    for what in ("added", "removed"):
        if r[f"{what}_examples"]:
            console.print(f"  e.g. {what}: {escape(', '.join(r[f'{what}_examples']))}", highlight=False)
    t = Table(title="metrics", title_justify="left")
    for col in ("metric", d["a"], d["b"], "change"):
        t.add_column(col, justify="left" if col == "metric" else "right")
    hidden = 0
    for key, m in d["metrics"].items():
        if not all_metrics and m["delta"] == 0:
            continue
        if not verbose and _history_key(key):
            hidden += 1
            continue
        delta = m["delta"]
        style = "" if delta is None or delta == 0 else ("green" if delta > 0 else "red")
        t.add_row(key, _num(m["a"]), _num(m["b"]),
                  f"[{style}]{delta:+.4g}[/]" if style else _num(delta))
    print_table(t)
    if hidden:
        console.print(f"({hidden} allocation-history metrics not shown; --verbose lists them)")


def _history_key(key: str) -> bool:
    """A per-sampler/per-bucket/per-problem entry of a long record, not its headline shares.

    >>> _history_key("metrics.allocation.problems.own_history.r2.p1.samples"), _history_key("metrics.allocation.shares.hot")
    (True, False)
    """
    parts = key.split(".")
    return len(parts) > 2 and parts[0] == "metrics" and parts[1] in _LONG and parts[2] not in ("shares", "samples")


@datasets_app.command()
def sql(query: Annotated[str, typer.Argument(help="One SELECT statement (example above).", show_default=False)],
        as_json: JsonOpt = False,
        limit: Annotated[int, typer.Option("--limit", min=0, help="Print at most this many rows (0: all).")] = 100,
        timeout: Annotated[float, typer.Option("--timeout", help="Stop the query after this many seconds.")] = 60.0,
        memory: Annotated[str, typer.Option("--memory", help="DuckDB's memory limit for the query, e.g. 2GB.")] = "2GB",
        max_rows: Annotated[int, typer.Option("--max-rows", help="Refuse results longer than this, even with --limit 0.")] = 1_000_000,
        home: HomeOpt = None):
    """Read-only SQL over the catalog (tables datasets, models, rounds) and the rows of every
    version (views "NAME@V", and "NAME" for the latest). Nothing else is readable or writable.

    e.g. synthloop datasets sql 'SELECT sampler, avg(correct::INT) FROM "demo" GROUP BY 1'
    """
    from synthloop.warehouse.sql import SqlLimits, run_sql

    limits = SqlLimits(timeout_s=timeout, memory=memory, max_rows=max_rows)
    cat = _catalog(home)
    cols, rows = _guard(lambda: run_sql(cat, query, limit=limit or None, limits=limits))
    if as_json:
        for row in rows:
            typer.echo(_json(dict(zip(cols, row))))
        return
    t = Table(title_justify="left")
    for c in cols:
        t.add_column(escape(c))
    for row in rows:
        t.add_row(*(_num(x) for x in row))
    print_table(t)
    if limit and len(rows) == limit:
        console.print(f"(first {limit} rows; --limit 0 for all)")


# -- pull, report, serve ---------------------------------------------------------------------
def pull(
    ref: Ref,
    out: Annotated[Path, typer.Option("--out", "-o", help="Folder to write into.")] = Path("."),
    file_format: Annotated[Literal["parquet", "jsonl", "hf"], typer.Option(
        "--format", "-f", help="parquet, jsonl, or hf (a datasets save_to_disk folder with a dataset card).")] = "parquet",
    as_: Annotated[Literal["rows", "prompt-completion", "messages"], typer.Option(
        "--as", help="rows (every column), prompt-completion, or messages ([{role, content}]).")] = "rows",
    split: Annotated[Literal["train", "all"], typer.Option(
        "--split", help="train (kept rows) or all (with dropped rows and verdicts).")] = "train",
    columns: Annotated[str | None, typer.Option("--columns", help="Comma-separated columns (rows format only).")] = None,
    home: HomeOpt = None,
):
    """Write a dataset version to files for your own training; prints the path written."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from synthloop.warehouse.pull import export

    cat = _catalog(home)
    info = _guard(lambda: cat.resolve(ref))
    total = info["rows"] if split == "all" else info["kept"]
    cols = [c.strip() for c in columns.split(",") if c.strip()] if columns else None
    if file_format == "hf":
        import datasets

        datasets.disable_progress_bars()  # ours is enough
    with Progress(TextColumn("pull {task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                  console=err, transient=True) as bar:
        task = bar.add_task(f"{info['name']}@{info['version']}", total=total)
        path = _guard(lambda: export(ref, out, file_format, split=split, format=as_, columns=cols, home=cat.home,
                                     progress=lambda n: bar.advance(task, n)))
    err.print(f"wrote {total} rows of {info['name']}@{info['version']} ({split}, {as_}):", highlight=False)
    if total == 0 and split == "train":
        err.print("note: this version kept no rows; --split all writes the dropped ones with their reasons")
    typer.echo(str(path))


def report(
    ref: Ref,
    out: Annotated[Path | None, typer.Option("--out", "-o", help="HTML file to write (default: <home>/reports/NAME-vN.html).")] = None,
    open_: Annotated[bool, typer.Option("--open", help="Open it in the default browser.")] = False,
    samples: Annotated[int, typer.Option("--samples", min=0, help="Rows in the sample browser (half kept, half dropped).")] = 200,
    home: HomeOpt = None,
):
    """Write the quality report of a version (one self-contained HTML page) and print its path."""
    from synthloop.warehouse.report import write_report

    cat = _catalog(home)
    if out is not None and out.is_dir():
        fail(f"--out {out} is a folder; give a file name ending in .html")
    if out is not None and not out.parent.is_dir():
        fail(f"--out {out}: the folder {out.parent} does not exist; create it first")
    path = _guard(lambda: write_report(cat, ref, out, n_samples=samples))
    typer.echo(str(path))
    if open_:
        import webbrowser

        webbrowser.open(path.resolve().as_uri())


def serve(
    config: Annotated[Path | None, typer.Option("--config", "-c", help="YAML config (default: the built-in demo).")] = None,
    name: Annotated[str | None, typer.Option("--name", help="Run / dataset name (overrides the config).")] = None,
    cron: Annotated[str | None, typer.Option("--cron", help='Cron schedule, e.g. "0 */6 * * *" (every 6 hours).')] = None,
    interval: Annotated[float | None, typer.Option("--interval", help="Or: seconds between runs.", min=1)] = None,
    home: HomeOpt = None,
    no_wait: Annotated[bool, typer.Option("--no-wait", help="If another run holds the home, refuse instead of waiting.")] = False,
):
    """Run one more round on a schedule, as a Prefect deployment, until Ctrl-C.

    Each scheduled run continues from the catalog (the bootstrap first if needed, then the next
    round from the latest promoted model). Needs a Prefect server: `prefect server start`, then
    `prefect config set PREFECT_API_URL=http://127.0.0.1:4200/api`; watch runs in its UI.
    """
    from synthloop.flows.deploy import check_schedule
    from synthloop.loop.config import load_config
    from synthloop.warehouse import Catalog, home_dir

    check_schedule(cron, interval)
    cfg = load_config(config, {"name": name})
    from prefect.settings import PREFECT_API_URL

    api = PREFECT_API_URL.value()
    if not api:
        fail("schedules need a running Prefect server: start one with `prefect server start`, then "
              "`prefect config set PREFECT_API_URL=http://127.0.0.1:4200/api` (or export PREFECT_API_URL)")
    h = str(home_dir(home))
    cat = Catalog(h)
    with cat.run_lock(f"synthloop serve --name {cfg.name}", wait=not no_wait):
        check_same_config(cat, cfg)
        from synthloop.flows.serve import serve as serve_flow

        when = f"cron {cron!r}" if cron else f"every {interval:g}s"
        console.print(f"synthloop: serving run [bold]{cfg.name}[/] ({when}) on {escape(str(api))}, home {escape(h)}; "
                      "Ctrl-C stops it", highlight=False)
        try:
            serve_flow(h, cfg, cron=cron, interval=interval)
        except KeyboardInterrupt:
            console.print("stopped; the schedule is paused")


def register(app: typer.Typer) -> None:
    """Add these commands to the main `synthloop` app."""
    app.add_typer(datasets_app, name="datasets")
    app.command()(pull)
    app.command()(report)
    app.command()(serve)
