import json
import subprocess
import sys

import pytest
import yaml
from synthloop.loop.config import ConfigError, load_config


def _cfg(tmp_path, domains):
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump({"domains": domains}))
    return load_config(path)


def test_a_config_names_any_domain_a_mix_or_a_file(tmp_path):
    cfg = _cfg(tmp_path, [{"name": "mul", "weight": 2}, {"name": "gcd", "knobs": {"max_digits": 3}}])
    assert [(d.name, d.weight) for d in cfg.domains] == [("mul", 2.0), ("gcd", 1.0)]
    data = tmp_path / "q.jsonl"
    rows = [{"question": "1+1?", "answer": "1+1=<<1+1=2>>2\n#### 2"}, {"question": "2+2?", "answer": "#### 4"}]
    data.write_text("".join(json.dumps(r) + "\n" for r in rows))
    cfg = _cfg(tmp_path, [{"name": "file", "knobs": {"path": str(data), "checker": "pattern"}}])
    assert cfg.domains[0].knobs["checker"] == "pattern"
    # A file the run could not use is refused at load, not after the bootstrap's training.
    data.write_text(json.dumps(rows[0]) + "\n")
    with pytest.raises(ConfigError, match="only one distinct prompt"):
        _cfg(tmp_path, [{"name": "file", "knobs": {"path": str(data), "checker": "pattern"}}])


@pytest.mark.parametrize("domains, message", [
    ([{"name": "nope"}], "unknown domain"),
    ([{"name": "gcd", "knobs": {"digits": 3}}], "unexpected keyword argument 'digits'"),
    ([{"name": "file", "knobs": {"path": "missing.jsonl"}}], "no such file"),
    ([{"name": "sort"}, {"name": "sort"}], "list each domain once"),
])
def test_bad_domain_configs_are_one_clear_error(tmp_path, domains, message):
    with pytest.raises(ConfigError, match=message):
        _cfg(tmp_path, domains)


def test_cli_lists_domains_as_json():
    out = subprocess.run([sys.executable, "-m", "synthloop", "domains", "--json"], capture_output=True, text=True, check=True)
    rows = [json.loads(line) for line in out.stdout.splitlines()]
    assert {r["name"] for r in rows} >= {"addition", "mul", "sort", "median", "gcd", "base", "file"}
    assert sum(r["several_paths"] for r in rows) >= 3
