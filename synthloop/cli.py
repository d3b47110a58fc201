"""The `synthloop` command. User mistakes end in one readable line (exit 2), never a traceback."""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import signal
import sys
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table
from rich.text import Text
from typer.core import TyperGroup

from synthloop.cli_data import check_same_config, fail, print_table
from synthloop.errors import UserError

# The process the CLI runs in: no telemetry, no hub, quiet logs. Set (where the user has not) by
# `process_defaults`, before any command imports Prefect, transformers or datasets.
PROCESS_DEFAULTS = {
    "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
    # Prefect's own chatter stays off the terminal (its console handler: warnings only), but the
    # flow and task run loggers send INFO to the API: the UI's Logs tab shows each stage's summary
    # and the gate's reason (loop/progress.py `say`), which WARNING used to drop.
    "PREFECT_LOGGING_LEVEL": "WARNING",
    "PREFECT_LOGGING_HANDLERS_CONSOLE_LEVEL": "WARNING",
    "PREFECT_LOGGING_LOGGERS_PREFECT_FLOW_RUNS_LEVEL": "INFO",
    "PREFECT_LOGGING_LOGGERS_PREFECT_TASK_RUNS_LEVEL": "INFO",
    "HF_HUB_OFFLINE": "1",
    "TOKENIZERS_PARALLELISM": "false",
    "TRANSFORMERS_VERBOSITY": "error",
    "HF_HUB_DISABLE_PROGRESS_BARS": "1",
    # Prefect's temporary server gets 20 s to start by default; a first start on a fresh
    # PREFECT_HOME on a busy 2-core machine took longer (measured). 90 s is what the tests' harness uses.
    "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "90",
}


def process_defaults() -> None:
    """The environment above, each variable only where the user has not set it."""
    for key, value in PROCESS_DEFAULTS.items():
        os.environ.setdefault(key, value)


class _Commands(TyperGroup):
    """Every command runs inside this: a user mistake (any `UserError`) ends in one line, exit 2."""

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except UserError as e:
            fail(str(e))


app = typer.Typer(
    cls=_Commands,
    help="synthloop: make a language model better by training it on its own verified output.\n\n"
    "A round samples problems, generates answers with a portfolio of samplers, verifies every "
    "answer, near-dedups against all earlier rounds, scores diversity, publishes an immutable "
    "dataset version, fine-tunes the model on it, and promotes the result only if the held-out "
    "evaluation does not regress.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
# At least 150 columns; tables go through `print_table`, whole outside a terminal (CI logs, `| tee`).
console = Console(width=max(shutil.get_terminal_size((160, 24)).columns, 150))

HomeOpt = Annotated[
    Path | None,
    typer.Option("--home", help="Where catalog, data and models live (env SYNTHLOOP_HOME; default ./.synthloop)."),
]


def _home(home: Path | None) -> str:
    from synthloop.warehouse import home_dir

    return str(home_dir(home))


def _fmt(v, pct=False) -> str:
    if v is None:
        return "-"
    if isinstance(v, float):
        return f"{100 * v:.1f}%" if pct else f"{v:.2f}"
    return str(v)


def _sig(v) -> str:
    """3 significant digits: distinct-2 moves in its third digit (0.0412 -> 0.0398), which 2
    decimals hid as 0.04 every round."""
    return "-" if v is None else f"{v:.3g}"


def _alerts(stored: list | None) -> list:
    """A round's diversity alerts as `Alert`s, from what the catalog keeps: dicts, or plain strings
    in catalogs written before alerts were typed."""
    from synthloop.filters.diversity import Alert

    return [Alert.from_dict(a) for a in stored or []]


def _collapse(stored: list | None) -> str:
    """'distinct_2 fell 40%' for each diversity alert of a round, in red; '' when there is none."""
    short = [a.short for a in _alerts(stored) if a.short]
    return f"[red]{escape('; '.join(short))}[/]" if short else ""


def _status_table(rows: list[dict], title: str) -> Table:
    t = Table(title=title, title_justify="left")
    for col in ("round", "model", "data", "generated", "correct", "kept", "held-out acc",
                "pass@k", "distinct-2", "vendi", "frontier", "by difficulty", "gate", "diversity alert"):
        t.add_column(col, justify="right" if col not in ("model", "gate", "by difficulty", "diversity alert") else "left",
                     no_wrap=col == "by difficulty")
    for r in rows:
        by = " ".join(f"{d}:{100 * a:.0f}" for d, a in r["by_difficulty"].items())
        gate = "bootstrap" if r["round"] == 0 else ("promoted" if r["promoted"] else "[red]rejected[/]")
        if (r.get("reason") or "").startswith("no kept rows"):  # flows/trainset.NO_DATA: nothing was trained
            gate = "[yellow]no data[/]"
        elif (r.get("reason") or "").startswith("waiting for rows"):  # flows/trainset.WAITING: too few rows yet
            gate = "[yellow]waiting[/]"
        t.add_row(
            str(r["round"]), r["model"], _fmt(r["dataset_version"] and f"v{r['dataset_version']}"),
            _fmt(r["generated"]), _fmt(r["correct"]), _fmt(r["kept"]),
            _fmt(r["heldout_accuracy"], pct=True), f"{_fmt(r['pass_at_k'], pct=True)} (k={r['k']})",
            _sig(r["distinct_2"]), _sig(r.get("vendi")), _fmt(r.get("frontier")), by, gate,
            _collapse(r.get("collapse_alerts")),
        )
    return t


def _version(value: bool) -> None:
    if value:
        from synthloop import __version__

        typer.echo(f"synthloop {__version__}")
        raise typer.Exit()


@app.callback()
def _main(version: Annotated[bool, typer.Option("--version", callback=_version, is_eager=True,
                                                help="Print the version and exit.")] = False):
    """synthloop: make a language model better by training it on its own verified output."""
    process_defaults()  # runs before every command


@app.command()
def run(
    config: Annotated[Path | None, typer.Option("--config", "-c", help="YAML config (default: the built-in demo).")] = None,
    rounds: Annotated[int | None, typer.Option("--rounds", "-r", help="Rounds to have done in total (overrides the config).")] = None,
    name: Annotated[str | None, typer.Option("--name", help="Run / dataset name (overrides the config).")] = None,
    fresh: Annotated[bool, typer.Option("--fresh", help="Delete this run's data and models first and start over.")] = False,
    home: HomeOpt = None,
    show_config: Annotated[bool, typer.Option("--show-config", help="Print the resolved config as YAML and exit.")] = False,
    no_wait: Annotated[bool, typer.Option("--no-wait", help="If another run holds the home, refuse instead of waiting.")] = False,
):
    """Run the loop: bootstrap (round 0), then rounds until --rounds are done.

    Reruns continue from the catalog: finished rounds are kept, an interrupted round resumes at the
    stage where it stopped. With the default config this trains the built-in model from scratch on
    easy addition problems and improves it on harder ones.
    """
    from synthloop.flows import prefect_server

    # Prefect's temporary server starts now, while the model code imports (the tests' tiny run:
    # 27.1 -> 17.8 s on a fresh PREFECT_HOME, 19.0 -> 16.3 s on a used one).
    with prefect_server.launched(enabled=not show_config):
        _run(config, rounds, name, fresh, home, show_config, no_wait)


def _run(config, rounds, name, fresh, home, show_config, no_wait) -> None:
    from synthloop.loop.config import load_config
    from synthloop.warehouse import Catalog

    cfg = load_config(config, {"rounds": rounds, "name": name})
    if show_config:
        import yaml

        typer.echo(yaml.safe_dump(cfg.model_dump(mode="json"), sort_keys=False))
        return
    h = _home(home)
    cat = Catalog(h)
    with _interruptible(f"run --name {cfg.name}"), cat.run_lock(f"synthloop run --name {cfg.name}", wait=not no_wait):
        if fresh:
            _forget_run(cat, cfg.name)
        check_same_config(cat, cfg)
        from synthloop.flows import prefect_server
        from synthloop.flows.round import loop_flow

        console.print(f"synthloop: run [bold]{cfg.name}[/], {cfg.rounds} rounds, home {escape(h)}", highlight=False)
        done = {r["round"] for r in cat.rounds(cfg.name)}
        if done >= set(range(cfg.rounds + 1)):
            console.print(f"all {cfg.rounds} rounds of run {cfg.name!r} are done: --rounds {cfg.rounds + 2} goes "
                          "further, --fresh starts over", highlight=False)

        def show(rows):
            print_table(_status_table(rows, f"run {cfg.name}"))

        prefect_server.start()  # from this thread, so it cannot outlive us; a time-out is one line
        loop_flow(h, cfg, on_round=show)


@contextmanager
def _interruptible(what: str):
    """SIGTERM ends the run like Ctrl-C: stages unwind (Prefect marks the flow run crashed, the
    temporary server is stopped), then one line says how to resume. Exit code 128 + signal."""
    def on_term(signum, frame):
        raise KeyboardInterrupt(signal.Signals(signum).name)

    previous = signal.signal(signal.SIGTERM, on_term)
    try:
        yield
    except KeyboardInterrupt as e:
        name = str(e) or "SIGINT"
        console.print(Text(f"interrupted ({name}); rerun `synthloop {what}` with the same options to resume "
                           "where it stopped"), highlight=False)
        raise typer.Exit(128 + getattr(signal, name, signal.SIGINT)) from None
    finally:
        signal.signal(signal.SIGTERM, previous)


def _forget_run(cat, run: str) -> None:
    """Remove exactly run `run`: its datasets (rounds, seed set, training sets), its rounds, the models it made (`<run>-m<N>`,
    matched whole: no LIKE, so `demo` never touches `demo-mix` and `_` is no wildcard) and their
    folders under the home. A user's own base model folder is registered but never deleted."""
    owned = re.compile(re.escape(run) + r"-m[0-9]+")
    models = cat.forget_run(run)  # the catalog rows; the folders below
    for d in (cat.home / "data" / run, cat.home / "data" / f"{run}-seed", cat.home / "data" / f"{run}-train",
              cat.home / "staging" / run):
        shutil.rmtree(d, ignore_errors=True)
    root = cat.home / "models"
    for folder in root.iterdir() if root.is_dir() else []:
        # The model folders, and what an interrupted training or save left beside them.
        name = folder.name.removeprefix(".ckpt-").removeprefix(".staging-")
        if owned.fullmatch(name):
            shutil.rmtree(folder, ignore_errors=True)
    console.print(f"--fresh: removed run {run!r} ({len(models)} models) from {escape(str(cat.home))}", highlight=False)


@app.command()
def status(
    name: Annotated[str, typer.Option("--name", help="Run name.")] = "demo",
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object per round, one per line.")] = False,
    home: HomeOpt = None,
):
    """One row per round (round 0 is the bootstrap model): data made, kept, held-out accuracy, gate."""
    from synthloop.loop.status import status_rows  # not stages: no torch/Prefect import here
    from synthloop.warehouse import Catalog, CatalogError, check_name

    try:
        check_name(name, "run name")
        rows = status_rows(Catalog.open_read(_home(home)), name)  # read-only: never waits for a run
    except CatalogError as e:
        fail(str(e))
    if not rows:
        fail(f"run {name!r} has no finished round in {_home(home)}")
    if as_json:
        for r in rows:  # alerts as typed dicts, those of old catalogs (plain strings) too
            typer.echo(json.dumps(r | {"collapse_alerts": [a.to_dict() for a in _alerts(r.get("collapse_alerts"))]}))
    else:
        print_table(_status_table(rows, f"run {name}"))


@app.command()
def experiment(
    name: Annotated[str, typer.Argument(help="noise, collapse or passk.", show_default=False)],
    config: Annotated[Path | None, typer.Option("--config", "-c", help="Loop config, with an optional `experiment:` section (default: the built-in experiment config).")] = None,
    seeds: Annotated[int | None, typer.Option("--seeds", min=1, help="Seeds per arm (default: the experiment's own).")] = None,
    out: Annotated[Path | None, typer.Option("--out", help="Folder for experiment-NAME.json and .html [default <home>/reports].")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="The table as JSON, one object per row per line.")] = False,
    home: HomeOpt = None,
    show_config: Annotated[bool, typer.Option("--show-config", help="Print the loop config and the experiment's knobs as YAML and exit.")] = False,
):
    """Reproduce a finding about self-training with this loop: noise, collapse or passk.

    noise: static vs dynamic noise in worked solutions (Havrilla & Iyer 2024). collapse: rounds that
    keep every sample (no verifier, dedup or gate) vs the default loop. passk: pass@k under long SFT
    on reference solutions vs expert iteration (Havrilla et al. 2024). Every arm is a run in the
    catalog (`synthloop status --name ARM`), all from one shared bootstrap; a rerun resumes.
    See EXPERIMENTS.md.
    """
    from synthloop.loop.experiments import arms_of, load_experiment_config
    from synthloop.warehouse.experiment_report import cell, columns

    cfg, spec = load_experiment_config(config)  # a config mistake is a UserError: one line
    arms = arms_of(name, cfg, spec, seeds)
    if show_config:
        import yaml

        typer.echo(yaml.safe_dump(cfg.model_dump(mode="json") | {"experiment": spec.model_dump(mode="json")}, sort_keys=False))
        return
    h = _home(home)
    say = Console(stderr=True) if as_json else console
    say.print(f"synthloop: experiment [bold]{name}[/], {len(arms)} arms, home {escape(h)}", highlight=False)

    def tell(arm, rows):
        last = rows[-1]
        say.print(f"  {arm.cfg.name}: round {last['round']}, held-out accuracy "
                  f"{_fmt(last['heldout_accuracy'], pct=True)}", highlight=False, markup=False)

    from synthloop.flows import prefect_server
    from synthloop.flows.experiment import FLOWS
    from synthloop.warehouse import Catalog

    with _interruptible(f"experiment {name}"), Catalog(h).run_lock(f"synthloop experiment {name}"):
        prefect_server.start()  # as `run` does: from this thread, a start-up time-out is one line
        res = FLOWS[name](h, cfg, spec, seeds, str(out) if out else None, on_arm=tell)
    if as_json:
        for r in res["rows"]:
            typer.echo(json.dumps(r))
    else:
        t = Table(title=escape(f"experiment {name} ({res['seeds']} seed(s); [min, max] over seeds)"), title_justify="left")
        cols = columns(res["rows"])
        for c in cols:
            t.add_column(c)
        for r in res["rows"]:
            t.add_row(*(Text(cell(r, c)) for c in cols))
        print_table(t)
    say.print(f"page: {res['files']['html']}\njson: {res['files']['json']}", highlight=False, markup=False)


from synthloop.cli_data import register as _register_data_commands

# datasets list|show|diff|sql, pull, report, serve
_register_data_commands(app)


@app.command()
def deploy(
    config: Annotated[Path | None, typer.Option("--config", "-c", help="YAML config (default: the built-in demo).")] = None,
    pool: Annotated[str, typer.Option("--pool", help="Prefect work pool (created, type process, if missing).")] = "synthloop",
    cron: Annotated[str | None, typer.Option("--cron", help='Cron schedule, e.g. "0 */6 * * *" (every 6 hours).')] = None,
    interval: Annotated[float | None, typer.Option("--interval", help="Or: seconds between runs.", min=1)] = None,
    name: Annotated[str | None, typer.Option("--name", help="Run / dataset name (overrides the config).")] = None,
    home: HomeOpt = None,
):
    """Register scheduled rounds on a Prefect work pool; a `prefect worker` runs them.

    Unlike `serve`, nothing of ours keeps running: the Prefect server keeps the schedule, and each
    run (one more round, as `serve` does) goes to whichever worker polls the pool, started with the
    `prefect` of an environment where synthloop is installed. The deployment carries the config's
    content and the absolute home; a round runs in this folder (relative paths in the config mean
    what they mean here), so a worker on another machine needs both paths there (a shared file
    system). Needs a Prefect server: `prefect server start`, then
    `export PREFECT_API_URL=http://127.0.0.1:4200/api`. Rerun to change the config or schedule.
    """
    from synthloop.flows.deploy import check_pool_name, check_schedule
    from synthloop.flows.deploy import deploy as deploy_flow
    from synthloop.loop.config import load_config
    from synthloop.warehouse import Catalog, CatalogError

    check_schedule(cron, interval)  # before the config, as `serve` does
    check_pool_name(pool)
    cfg = load_config(config, {"name": name})
    h = _home(home)
    try:  # a home with this run already in it must have been made with this config
        check_same_config(Catalog.open_read(h), cfg)
    except CatalogError:
        pass  # no catalog here yet: the first round makes it, where the worker runs
    # The round's process gets the environment `synthloop run` gives itself (offline hub, INFO
    # flow-run logs for the UI...), as this process has it: the worker's would lack them.
    env = {k: os.environ[k] for k in PROCESS_DEFAULTS if not k.startswith("PREFECT_SERVER_")}
    d = deploy_flow(h, cfg, pool, cron=cron, interval=interval, env=env)
    when = f"cron {cron!r}" if cron else f"every {interval:g}s"
    made = "created, type process" if d.pool_created else "existing"
    for line in (f"synthloop: deployed run {cfg.name} as {d.name} on work pool {d.pool!r} ({made}), {when}",
                 f"  server {d.api}" + (f", UI {d.ui}" if d.ui else ""),
                 f"  home {h}, working directory {d.workdir}",
                 "start a worker (with the prefect of synthloop's environment; here or on a machine that sees the home):",
                 f"  prefect worker start --pool {shlex.quote(d.pool)}",
                 "run one now:",
                 f"  prefect deployment run {shlex.quote(d.name)}"):
        console.print(Text(line), highlight=False, soft_wrap=True)  # whole lines: paths and commands to copy


@app.command()
def init(
    model: Annotated[str, typer.Option("--model", "-m", help="Your model: an HF folder (saved with save_pretrained), "
                                       "a .gguf file (imported once into the home as an fp32 HF folder) or a hub id "
                                       "org/name (downloaded only with HF_HUB_OFFLINE=0).", show_default=False)],
    problems: Annotated[Path, typer.Option("--problems", "-p", help="Your problems: JSONL or Parquet with a prompt "
                                           "(or question) and an answer column.", show_default=False)],
    out: Annotated[Path, typer.Option("--out", "-o", help="Config file to write.")] = Path("synthloop.yaml"),
    name: Annotated[str, typer.Option("--name", help="Run / dataset name.")] = "mine",
    small: Annotated[bool, typer.Option("--small", help="Tiny budgets: a first try on a CPU in minutes.")] = False,
    force: Annotated[bool, typer.Option("--force", help="Overwrite --out if it exists.")] = False,
    difficulty_column: Annotated[str | None, typer.Option(
        "--difficulty-column", help="The problems' difficulty column (integers >= 1): the curriculum follows it. "
        "Default: `difficulty` when the file has one; without one every problem is difficulty 1.",
        show_default=False)] = None,
    home: HomeOpt = None,
):
    """Write a commented starter config for your own model (folder, .gguf or hub id) and problem file."""
    from synthloop.loop.starter import difficulty_line, write_starter

    s = write_starter(out, model, problems, name, small, force, home=home, difficulty_column=difficulty_column,
                      tell=lambda line: console.print(escape(line), highlight=False))
    m, p, imp = s.model, s.problems, s.model["imported"]
    console.print(f"wrote {escape(str(out))}: model {escape(model)} (chat template: "
                  f"{'yes' if m['chat_template'] else 'no'}), problems {escape(str(problems))} ({p['rows']} rows, "
                  f"{p['prompt_column']} -> answer, {p['checker']} checker)", highlight=False)
    if imp.kind != "folder" or imp.sha256:  # converted or downloaded: say where it is and from what
        how = "imported now" if imp.converted else "imported before"
        console.print(f"model folder: {escape(str(imp.path))} ({how} from {escape(imp.source)}"
                      f"{f', sha256 {imp.sha256[:12]}' if imp.sha256 else ''})", highlight=False)
    console.print(escape(difficulty_line(p)), highlight=False)
    console.print(f"next: synthloop run -c {escape(str(out))}   (round 0 evaluates your model, then "
                  "rounds generate, verify, fine-tune and gate)", highlight=False)


@app.command()
def domains(
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object per domain, one per line.")] = False,
):
    """List the problem domains with their knobs (set them under `domains: [{name, weight, knobs}]`)."""
    from synthloop.domains import describe

    rows = describe()
    if as_json:
        for r in rows:
            typer.echo(json.dumps(r))
        return
    t = Table(title="domains", title_justify="left")
    for col in ("name", "paths", "difficulty", "knobs (defaults)", "what"):
        t.add_column(col)
    for r in rows:
        knobs = ", ".join(f"{k}={v}" for k, v in r["knobs"].items()) or "-"
        paths = "several" if r["several_paths"] else "one"
        t.add_row(r["name"], paths, r["difficulty"], knobs, r["summary"])
    print_table(t)


def main() -> None:
    process_defaults()
    app()


if __name__ == "__main__":
    sys.exit(main())
