"""User mistakes and hostile input end in one error line through the real CLI, never a traceback;
`--fresh` removes exactly its own run."""

import json

import pytest
from synthloop.warehouse import Catalog
from typer.testing import CliRunner

from synthloop.cli import _forget_run, app

from .warehouse.fake_run import make_run


@pytest.fixture(scope="module")
def home(tmp_path_factory):
    h = tmp_path_factory.mktemp("cli-errors")
    make_run(h, rounds=1)
    return h


def cli(*args):
    res = CliRunner().invoke(app, list(args))
    assert "Traceback" not in res.output and res.exception is None or isinstance(res.exception, SystemExit), res.output
    return res


def one_error_line(res, *expect):
    assert res.exit_code == 2, res.output
    lines = res.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error:"), res.output
    for e in expect:
        assert e in lines[0], lines[0]


@pytest.mark.parametrize("value", ["[/x]", "[red]hidden[/red]", "[bold", "$5 off", "\\[x]"])
def test_user_text_prints_as_itself_never_as_markup(home, value):
    res = cli("datasets", "sql", f"SELECT '{value}' AS \"{value}\"", "--home", str(home))
    assert res.exit_code == 0, res.output
    assert res.output.count(value) == 2, res.output  # the header and the cell, verbatim


def test_markup_in_an_error_message_is_printed_verbatim(home):
    one_error_line(cli("datasets", "show", "[/x]@1", "--home", str(home)), "'[/x]'")
    one_error_line(cli("datasets", "sql", "SELECT * FROM \"[red]nope[/red]\"", "--home", str(home)), "[red]nope[/red]")


def test_a_home_that_is_a_file(tmp_path):
    f = tmp_path / "home"
    f.write_text("not a folder")
    one_error_line(cli("run", "--home", str(f)), "is a file")
    one_error_line(cli("datasets", "list", "--home", str(f)), "no catalog")


@pytest.mark.parametrize("damage", [b"", b"garbage" * 100, None])
def test_a_damaged_catalog_is_one_line(home, tmp_path, damage):
    import shutil

    h = tmp_path / "h"
    shutil.copytree(home, h)
    db = h / "catalog.duckdb"
    db.write_bytes(damage if damage is not None else db.read_bytes()[:5000])  # None: truncated
    for args in (["datasets", "list"], ["datasets", "sql", "SELECT 1"], ["status", "--name", "fake"]):
        one_error_line(cli(*args, "--home", str(h)), "catalog")


@pytest.mark.parametrize("args, expect", [
    (["datasets", "sql", "SELECT 1", "--limit", "-1"], "greater than or equal to 0"),
    (["datasets", "sql", "SELECT 1", "--timeout", "0"], "time limit"),
    (["datasets", "sql", "SELECT 1", "--memory", "lots"], "memory limit"),
    (["datasets", "sql", "EXPLAIN ANALYZE DELETE FROM datasets"], "only SELECT"),
    (["report", "fake@1", "--samples", "-5"], "greater than or equal to 0"),
    (["report", "fake@1", "--out", "/nonexistent-dir/r.html"], "does not exist"),
])
def test_bad_options_are_one_line(home, args, expect):
    res = cli(*args, "--home", str(home))
    assert res.exit_code == 2 and expect in res.output and "Traceback" not in res.output, res.output


@pytest.mark.parametrize("pool, expect", [("a/b", "without / % & < >"), ("", "non-empty"),
                                          ("Prefect-pool", "Prefect's own")])
def test_a_pool_name_prefect_refuses_is_one_line_before_any_server(home, pool, expect):
    # No PREFECT_API_URL here: the name is refused before the server is looked for.
    one_error_line(cli("deploy", "--pool", pool, "--interval", "60", "--home", str(home)), expect)


def test_fresh_removes_exactly_its_own_run(tmp_path):
    """Runs `demo`, `demo-mix` and `deXo`: `--fresh` of `demo` (or `de_o`) leaves the others whole."""
    cat = Catalog(tmp_path)
    runs = ("demo", "demo-mix", "deXo", "de_o")
    for run in runs:
        for r in (0, 1):
            folder = cat.home / "models" / f"{run}-m{r}"
            folder.mkdir(parents=True)
            (folder / "config.json").write_text("{}")
            cat.register_model(f"{run}-m{r}", folder, round=r, parent=None, status="promoted")
            cat.finish_round(run, r, dataset_version=None, model_in=None, model_out=f"{run}-m{r}", promoted=True,
                             reason="x", metrics={})
        cat.publish(f"{run}-seed", [{"row_id": "a", "kept": True}], round=0)
        cat.publish(run, [{"row_id": "b", "kept": True}], round=1)
    (cat.home / "models" / ".ckpt-demo-m2").mkdir()  # an interrupted training of the run
    user_model = tmp_path / "mine"
    user_model.mkdir()
    cat.register_model("demo-m9", user_model, round=0, parent=None, status="promoted")  # a user's base model

    _forget_run(cat, "demo")
    _forget_run(cat, "de_o")
    left = sorted(p.name for p in (cat.home / "models").iterdir())
    assert left == sorted(["demo-mix-m0", "demo-mix-m1", "deXo-m0", "deXo-m1"])
    assert sorted(r["model_id"] for r in cat.query("SELECT model_id FROM models")) == left
    assert sorted({v["name"] for v in cat.versions()}) == ["deXo", "deXo-seed", "demo-mix", "demo-mix-seed"]
    assert all(cat.read_table(f"{n}@latest").num_rows == 1 for n in ("demo-mix", "deXo-seed"))
    assert {r["run"] for r in cat.query("SELECT run FROM rounds")} == {"demo-mix", "deXo"}
    assert user_model.is_dir()  # registered by the run, but not the run's to delete


def test_json_output_is_unchanged_by_escaping(home):
    res = cli("datasets", "sql", "SELECT '[/x]' AS v", "--json", "--home", str(home))
    assert json.loads(res.output) == {"v": "[/x]"}


def test_run_no_wait_refuses_while_another_run_holds_the_home(tmp_path):
    import subprocess
    import sys

    hold = ("import sys, time\nfrom synthloop.warehouse import Catalog\n"
            "with Catalog(sys.argv[1]).run_lock('synthloop run --name demo'):\n"
            "    print('holding', flush=True)\n    time.sleep(60)\n")
    p = subprocess.Popen([sys.executable, "-c", hold, str(tmp_path)], stdout=subprocess.PIPE, text=True)
    try:
        assert p.stdout.readline().strip() == "holding"
        one_error_line(cli("run", "--no-wait", "--home", str(tmp_path)), f"pid {p.pid}", "synthloop run --name demo")
    finally:
        p.kill()
        p.wait()


def test_a_run_that_fails_before_its_round_leaves_no_prefect_server(tmp_path, monkeypatch):
    """`run` starts Prefect's temporary server early, beside its imports; a config mistake found
    after that stops the server's process too (in-process, as here, nothing waits for exit)."""
    from prefect.settings import PREFECT_API_URL, temporary_settings
    from synthloop.flows import prefect_server

    started = []

    def record(port, env):
        started.append(launch(port, env))
        return started[-1]

    launch = prefect_server._uvicorn
    monkeypatch.setattr(prefect_server, "_uvicorn", record)
    monkeypatch.delenv("PREFECT_API_URL", raising=False)
    bad = tmp_path / "bad.yaml"
    bad.write_text("rounds: [not a number\n")
    with temporary_settings(updates={PREFECT_API_URL: None}):
        one_error_line(cli("run", "-c", str(bad), "--home", str(tmp_path / "home")), str(bad.name))
    assert len(started) == 1 and started[0].poll() is not None  # it ran, and it is gone
    assert prefect_server._launched is None
