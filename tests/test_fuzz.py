"""Property-based fuzz: the config loader, the name/version parser and hostile CLI invocations
end in a result or one `UserError` line, never a traceback.

The default profile runs a few hundred cases per test; `SYNTHLOOP_FUZZ=10000` runs that many each
(how the counts in the README were measured).
"""

import math
import os

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from synthloop.loop.config import LoopConfig, load_config
from synthloop.warehouse import Catalog
from synthloop.warehouse.catalog import check_name
from typer.testing import CliRunner

from synthloop.cli import app
from synthloop.errors import UserError

N = int(os.environ.get("SYNTHLOOP_FUZZ", "100"))
FUZZ = settings(max_examples=N, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)

scalars = st.one_of(
    st.none(), st.booleans(), st.integers(min_value=-(10**40), max_value=10**40),
    st.floats(allow_nan=True, allow_infinity=True, allow_subnormal=False), st.text(max_size=12),  # torch flushes denormals
    st.sampled_from([0, -1, 1, 2**31, 10**9 + 1, "", "nan", "[/x]", "$x$", "{prompt}", "\x00"]),
)
values = st.recursive(scalars, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
                      max_leaves=8)
# Keys of the real config, so the fuzz reaches the range checks and not only "unknown key".
DEFAULT = LoopConfig().model_dump(mode="json")


def _paths(d, prefix=()):
    for k, v in d.items():
        yield (*prefix, k)
        if isinstance(v, dict):
            yield from _paths(v, (*prefix, k))


PATHS = sorted(_paths(DEFAULT))


@st.composite
def configs(draw):
    cfg: dict = {}
    for path in draw(st.lists(st.sampled_from(PATHS), min_size=1, max_size=4)):
        node = cfg
        for k in path[:-1]:
            node = node.setdefault(k, {}) if isinstance(node.get(k, {}), dict) else {}
        node[path[-1]] = draw(values)
    return cfg


def _load(tmp_path, text: str | bytes):
    p = tmp_path / "c.yaml"
    p.write_bytes(text if isinstance(text, bytes) else text.encode("utf-8", "surrogatepass"))
    try:
        cfg = load_config(p)
    except UserError as e:
        assert str(e).strip()  # the CLI prints it as one line (newlines in it are joined)
        return None
    # Accepted: then every number a run uses is in range (what training would otherwise hit).
    assert cfg.finetune.train.checkpoint_every >= 1 and cfg.eval.k <= cfg.eval.n_samples
    assert all(math.isfinite(x) for x in (cfg.bootstrap.train.lr, cfg.finetune.train.lr))
    return cfg


@FUZZ
@given(cfg=configs())
def test_config_loader_on_structured_fuzz(tmp_path_factory, cfg):
    _load(tmp_path_factory.mktemp("c"), yaml.safe_dump(cfg, allow_unicode=True))


@FUZZ
@given(text=st.one_of(st.binary(max_size=200), st.text(max_size=200),
                      st.builds(lambda n, s: "a: " + "[" * n + s + "]" * n, st.integers(0, 3000), st.text(max_size=5)),
                      st.builds(lambda n: "seed: " + "9" * n, st.integers(1, 6000))))
def test_config_loader_on_raw_bytes(tmp_path_factory, text):
    _load(tmp_path_factory.mktemp("c"), text)


@FUZZ
@given(ref=st.text(max_size=40))
def test_name_and_version_parser(tmp_path_factory, ref):
    cat = _CAT.setdefault("cat", Catalog(tmp_path_factory.mktemp("names")))
    try:
        cat.resolve(ref)
    except UserError as e:
        assert str(e)
    try:
        check_name(ref)
    except UserError:
        pass


_CAT: dict = {}

WORDS = ["run", "status", "datasets", "list", "show", "diff", "sql", "pull", "report", "serve", "domains",
         "--home", "--name", "--json", "--limit", "--format", "--as", "--split", "--out", "--samples", "--cron",
         "--interval", "--config", "--rounds", "--no-wait", "--timeout", "--max-rows", "--memory", "fake", "fake@1",
         "fake@x", "@", "-1", "0", "1e99", "[/x]", "$5 off", "SELECT 1", "DROP TABLE datasets", "../..", "/dev/null",
         "", "\x00", "nan"]


@FUZZ
@given(args=st.lists(st.one_of(st.sampled_from(WORDS), st.text(max_size=10)), min_size=1, max_size=6))
def test_hostile_cli_invocations(tmp_path_factory, args):
    home = _CAT.setdefault("cli-home", tmp_path_factory.mktemp("cli"))
    if "run" in args or "serve" in args:  # never start training or a server from the fuzz
        args = [a for a in args if a not in ("run", "serve")] or ["status"]
    res = CliRunner().invoke(app, [*args, "--home", str(home)] if "--home" not in args else args)
    assert res.exit_code in (0, 1, 2), (args, res.output)
    assert res.exception is None or isinstance(res.exception, SystemExit), (args, repr(res.exception))
    assert "Traceback" not in res.output


@pytest.mark.parametrize("args", [
    ["run", "--config", "/dev/null", "--rounds", "-3"],
    ["run", "--name", "bad name!"],
    ["run", "--name", "[/x]"],
    ["run", "--config", "/nonexistent.yaml"],
    ["serve", "--interval", "0"],
])
def test_hostile_run_and_serve_stop_before_any_training(tmp_path, args):
    res = CliRunner().invoke(app, [*args, "--home", str(tmp_path / "h")])
    assert res.exit_code == 2 and "Traceback" not in res.output, res.output
