"""CLI papercuts (issue 14): help texts, choices, --version, concise show/diff, a light `status`."""

import json
import subprocess
import sys

import pytest
from typer.testing import CliRunner

from synthloop import __version__
from synthloop.cli import app

from .warehouse.fake_run import make_rows, make_run, score_rows


@pytest.fixture(scope="module")
def home(tmp_path_factory):
    """Two rounds, the second with an allocation record as long as a real adaptive round's."""
    h = tmp_path_factory.mktemp("cli")
    cat = make_run(h, rounds=1)
    rows = make_rows(2)
    alloc = {
        "adaptive": True, "samples": 120, "shares": {"cool": 0.5, "warm": 0.3, "hot": 0.2},
        "samplers": {n: {"share": 0.3, "samples": 40, "reason": "x" * 80} for n in ("cool", "warm", "hot")},
        "problems": {"rule": "r", "own_history": {f"r2.p{i}": {"samples": i % 7, "reason": "asked last round: " + "y" * 60}
                                                  for i in range(300)}},
    }
    cat.publish("fake", rows, round=2, model_id="fake-m1", metrics=score_rows(rows) | {"allocation": alloc})
    return h


def cli(*args, home=None):
    res = CliRunner().invoke(app, [*args, *(["--home", str(home)] if home else [])], terminal_width=100)
    assert "Traceback" not in res.output, res.output
    return res


def test_version():
    res = cli("--version")
    assert res.exit_code == 0 and res.output.strip() == f"synthloop {__version__}"


@pytest.mark.parametrize("command", [["run"], ["status"], ["pull"], ["datasets", "list"], ["report"]])
def test_help_shows_the_home_default(command):
    text = " ".join(cli(*command, "--help").output.split())  # rich wraps; compare word by word
    assert "SYNTHLOOP_HOME" in text and "./.synthloop" in text, text


def test_report_help_shows_its_default_path():
    text = " ".join(cli("report", "--help").output.split())
    assert "<home>/reports/NAME-vN.html" in text


@pytest.mark.parametrize("args, choices", [
    (["--format", "csv"], "parquet|jsonl|hf"),
    (["--as", "alpaca"], "rows|prompt-completion|messages"),
    (["--split", "test"], "train|all"),
])
def test_pull_options_are_choices(home, args, choices, tmp_path):
    wide = CliRunner().invoke(app, ["pull", "--help"], env={"COLUMNS": "240"}).output
    assert f"<{choices}>" in wide
    res = cli("pull", "fake@1", *args, "--out", str(tmp_path), home=home)
    assert res.exit_code == 2 and "is not one of" in res.output
    assert not list(tmp_path.iterdir())


def test_show_and_diff_are_concise_unless_verbose(home):
    short = cli("datasets", "show", "fake@2", home=home)
    assert short.exit_code == 0, short.output
    long = cli("datasets", "show", "fake@2", "--verbose", home=home)
    assert "shares cool 0.5, warm 0.3, hot 0.2; 120 samples" in short.output
    assert "asked last round" not in short.output and "asked last round" in long.output
    assert len(short.output.splitlines()) < 80 < len(long.output.splitlines())
    d_short = cli("datasets", "diff", "fake@1", "fake@2", home=home).output
    d_long = cli("datasets", "diff", "fake@1", "fake@2", "--verbose", home=home).output
    assert "own_history" not in d_short and "allocation-history metrics not shown" in d_short
    assert "metrics.allocation.problems.own_history.r2.p1.samples" in d_long
    assert len(d_short.splitlines()) < 80 < len(d_long.splitlines())
    assert json.loads(cli("datasets", "show", "fake@2", "--json", home=home).output)["metrics"]["allocation"]["samples"] == 120


def test_status_reads_typed_alerts_and_the_plain_strings_of_old_catalogs(tmp_path):
    """Alerts are kept as dicts (`filters.diversity.Alert`); a catalog written before that kept
    plain strings. The run table shows the short form of both; --json gives both as dicts."""
    from synthloop.filters.diversity import DiversityConfig, collapse_alerts, trend_alerts
    from synthloop.warehouse import Catalog

    from synthloop.cli import _collapse

    cfg = DiversityConfig()
    s = lambda **v: {"by_stratum": {"addition/1": {"kept": 40, "tokens": 9, **{k: {"16": x} for k, x in v.items()}}}}
    typed = [*collapse_alerts(s(distinct_2=0.3), s(distinct_2=0.5), cfg),
             *trend_alerts([s(vendi=6.59), s(vendi=6.45), s(vendi=6.27)], cfg)]
    legacy = "diversity collapse: compression_ratio rose 50% (2 -> 3), more than the 20% allowed"
    cat = Catalog(tmp_path)
    for r, alerts in ((0, []), (1, [legacy]), (2, [a.to_dict() for a in typed])):
        cat.finish_round("a", r, dataset_version=None, model_in=None, model_out=f"a-m{r}", promoted=True,
                         reason="x", metrics={"eval": {}, "data": {"collapse_alerts": alerts}})
    rows = [json.loads(x) for x in cli("status", "--name", "a", "--json", home=tmp_path).output.splitlines()]
    assert rows[0]["collapse_alerts"] == []
    assert rows[1]["collapse_alerts"] == [{"kind": "legacy", "metric": None, "before": None, "after": None,
                                           "change": None, "rounds": None, "message": legacy, "strata": [],
                                           "rows_before": None, "rows_after": None, "low": None, "high": None}]
    assert rows[2]["collapse_alerts"] == [a.to_dict() for a in typed]
    assert rows[2]["collapse_alerts"][1] | {"change": None} == {
        "kind": "trend", "metric": "vendi", "before": 6.59, "after": 6.27, "change": None, "rounds": 3,
        "message": "diversity trend: vendi fell 3 rounds in a row within strata (-2.1%, -2.8% a round, -4.9% in "
                   "all; addition/1 with 40 kept rows)",
        "strata": ["addition/1"], "rows_before": 40, "rows_after": 40, "low": None, "high": None}
    assert [_collapse(r["collapse_alerts"]) for r in rows] == [
        "", "[red]compression_ratio rose 50%[/]", "[red]distinct_2 fell 40%; vendi fell 3 rounds in a row[/]"]
    assert _collapse([legacy]) == _collapse(rows[1]["collapse_alerts"])  # the string itself, as stored
    table = cli("status", "--name", "a", home=tmp_path)
    assert table.exit_code == 0 and "rose 50%" in table.output and "distinct_2 fell" in table.output, table.output


def test_status_imports_neither_torch_nor_prefect(home):
    """`synthloop status` reads the catalog only: no torch, transformers or Prefect import (32 s before)."""
    res = subprocess.run([sys.executable, "-X", "importtime", "-m", "synthloop", "status", "--name", "fake",
                          "--home", str(home)], capture_output=True, text=True, timeout=120, check=False)
    assert res.returncode == 0, res.stderr[-2000:]
    assert "fake-m1" in res.stdout
    imported = {line.split("|")[-1].strip().split(".")[0] for line in res.stderr.splitlines() if "|" in line}
    assert "duckdb" in imported  # the check sees imports at all
    assert not imported & {"torch", "transformers", "prefect", "datasets", "matplotlib"}, imported


def test_prefect_run_logs_reach_the_api_but_not_the_terminal():
    """The CLI used to set Prefect's log level to WARNING: the UI's Logs tab stayed empty. Now (its
    `process_defaults`, which runs before every command) the flow and task run loggers pass INFO (each stage's summary) to the API handler, while Prefect's
    console handler still prints warnings only."""
    code = ("import logging, synthloop.cli; synthloop.cli.process_defaults(); import prefect; from prefect.logging.configuration import setup_logging; "
            "setup_logging(incremental=False); "
            "r = logging.getLogger('prefect.task_runs'); c = [h for h in logging.getLogger().handlers] + "
            "[h for h in logging.getLogger('prefect').handlers]; "
            "print(r.getEffectiveLevel(), logging.getLogger('prefect.flow_runs').getEffectiveLevel(), "
            "sorted({h.level for h in c if type(h).__name__ == 'PrefectConsoleHandler'}))")
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=180, check=False)
    assert res.returncode == 0, res.stderr[-2000:]
    assert res.stdout.split() == ["20", "20", "[30]"], res.stdout


def test_tables_print_whole_outside_a_terminal(tmp_path):
    """Piped to a log or CI (not a TTY), `status` printed `demo-…` and `held-o…`: every cell is whole
    there; `run` prints its rounds through the same table."""
    from synthloop.warehouse import Catalog

    run = "demo-with-a-run-name-long-enough-to-be-cut"
    alert = {"kind": "collapse", "metric": "shared_completions", "before": 0.0, "after": 0.9, "change": 0.9,
             "rounds": None, "message": "diversity collapse: ..."}
    cat = Catalog(tmp_path)
    for r in range(3):
        ev = {"accuracy": 0.125 * r, "pass_at_k": 0.5, "k": 8,
              "by_difficulty": {d: {"accuracy": 0.1 * d} for d in range(1, 9)}}
        cat.finish_round(run, r, dataset_version=r or None, model_in=f"{run}-m{max(r - 1, 0)}", model_out=f"{run}-m{r}",
                         promoted=r != 1, reason="x", metrics={"eval": ev, "generated": 123456, "correct": 65432,
                                                               "kept": 54321, "data": {"distinct_2": 0.0412,
                                                                                       "vendi": 6.59, "collapse_alerts": [alert] * r}})
    res = cli("status", "--name", run, home=tmp_path)
    assert res.exit_code == 0, res.output
    assert "…" not in res.output, res.output
    lines = res.output.splitlines()
    for r in range(3):
        assert any(f" {run}-m{r} " in line for line in lines), res.output  # whole, on one line
    assert "held-out acc" in res.output and "diversity alert" in res.output
    assert "shared_completions rose to 90%; shared_completions rose to 90%" in res.output
