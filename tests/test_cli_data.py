"""`synthloop datasets list|show|diff|sql`, `pull`, `report`, `serve` through the real CLI."""

import json
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from synthloop.cli import app

from .warehouse.fake_run import make_rows, make_run


@pytest.fixture(scope="module")
def home(tmp_path_factory):
    h = tmp_path_factory.mktemp("cli-data")
    make_run(h, rounds=2)
    return h


def cli(*args, home=None):
    res = CliRunner().invoke(app, [*args, *(["--home", str(home)] if home else [])])
    assert "Traceback" not in res.output, res.output
    return res


def test_datasets_list(home):
    res = cli("datasets", "list", "--json", home=home)
    assert res.exit_code == 0, res.output
    rows = [json.loads(line) for line in res.output.splitlines()]
    assert [(r["name"], r["version"]) for r in rows] == [("fake", 1), ("fake", 2)]
    assert {"name", "version", "rows", "kept", "parents", "round", "model_id"} <= set(rows[0])
    assert rows[1]["rows"] == 120 and rows[1]["kept"] == sum(r["kept"] for r in make_rows(2))
    assert rows[1]["parents"] == ["fake@1"]
    res = cli("datasets", "list", home=home)
    assert res.exit_code == 0 and "fake@2" in res.output


def test_datasets_show(home):
    res = cli("datasets", "show", "fake@1", home=home)
    assert res.exit_code == 0, res.output
    assert "near_duplicate" in res.output and "by sampler" in res.output and "cafe01" in res.output
    info = json.loads(cli("datasets", "show", "fake", "--json", home=home).output)
    assert info["version"] == 2 and info["counts"]["rows"] == 120 and "distinct_2" in info["metrics"]


def test_datasets_diff(home):
    res = cli("datasets", "diff", "fake@1", "fake@2", home=home)
    assert res.exit_code == 0, res.output
    assert "+120 added, -120 removed, 0 in both" in res.output and "metrics.distinct_2" in res.output
    d = json.loads(cli("datasets", "diff", "fake@1", "fake@2", "--json", home=home).output)
    assert d["rows"]["added"] == 120


def test_datasets_sql(home):
    res = cli("datasets", "sql", 'SELECT sampler, count(*) AS n FROM "fake@2" GROUP BY 1 ORDER BY 1', "--json", home=home)
    assert res.exit_code == 0, res.output
    assert [json.loads(x) for x in res.output.splitlines()] == [{"sampler": s, "n": 40} for s in ("cool", "hot", "warm")]
    res = cli("datasets", "sql", "DELETE FROM datasets", home=home)
    assert res.exit_code == 2 and "only SELECT" in res.output


def test_pull_each_format(home, tmp_path):
    for fmt, name in (("parquet", "fake-v2.parquet"), ("jsonl", "fake-v2.jsonl"), ("hf", "fake-v2")):
        res = cli("pull", "fake@2", "--format", fmt, "--out", str(tmp_path), home=home)
        assert res.exit_code == 0, res.output
        assert res.output.strip().splitlines()[-1] == str(tmp_path / name)
    kept = [r for r in make_rows(2) if r["kept"]]
    assert pq.read_table(tmp_path / "fake-v2.parquet").column("row_id").to_pylist() == [r["row_id"] for r in kept]
    res = cli("pull", "fake", "--as", "messages", "--split", "all", "--format", "jsonl", "--out", str(tmp_path), home=home)
    first = json.loads((tmp_path / "fake-v2-all.jsonl").read_text().splitlines()[0])
    assert res.exit_code == 0 and first["messages"][0] == {"role": "user", "content": make_rows(2)[0]["prompt"]}


def test_report_writes_the_page_and_prints_its_path(home, tmp_path):
    res = cli("report", "fake@1", home=home)
    assert res.exit_code == 0, res.output
    path = res.output.strip().splitlines()[-1]
    assert path == str(home / "reports" / "fake-v1.html") and "Across rounds" in Path(path).read_text()
    res = cli("report", "fake", "--out", str(tmp_path / "r.html"), home=home)
    assert res.exit_code == 0 and (tmp_path / "r.html").exists()


@pytest.mark.parametrize("args, message", [
    (["datasets", "show", "fake@9"], "versions of 'fake': 1, 2"),
    (["datasets", "show", "fake;DROP TABLE datasets"], "invalid dataset name"),
    (["datasets", "diff", "fake@1", "../../etc@1"], "invalid dataset name"),
    (["datasets", "sql", "SELECT * FROM read_csv('/etc/passwd')"], "disabled by configuration"),
    (["datasets", "sql", "SELEC 1"], "cannot parse"),
    (["pull", "fake@x"], "invalid version"),
    (["report", "nope"], "no dataset version 'nope'"),
    (["serve", "--interval", "5", "--cron", "* * * * *"], "exactly one of --cron or --interval"),
    (["serve"], "exactly one of --cron or --interval"),
    (["serve", "--cron", "every six hours"], "invalid cron schedule"),
])
def test_bad_input_is_one_error_line(home, args, message):
    res = cli(*args, home=home)
    assert res.exit_code == 2, res.output
    assert message in res.output and res.output.startswith("error:")
    listed = cli("datasets", "list", "--json", home=home).output.splitlines()
    assert [json.loads(x)["version"] for x in listed] == [1, 2]  # nothing was changed


def test_commands_on_a_missing_home_say_so(tmp_path):
    res = cli("datasets", "list", home=tmp_path / "nothing")
    assert res.exit_code == 2 and "synthloop run" in res.output
    assert not (tmp_path / "nothing").exists()


def test_serve_needs_a_prefect_server(monkeypatch, tmp_path):
    monkeypatch.delenv("PREFECT_API_URL", raising=False)
    from prefect.settings import PREFECT_API_URL, temporary_settings

    with temporary_settings(updates={PREFECT_API_URL: None}):
        res = cli("serve", "--interval", "60", home=tmp_path)
    assert res.exit_code == 2 and "prefect server start" in res.output
