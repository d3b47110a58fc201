import pytest

from synthloop.warehouse import Catalog, CatalogError


def _rows(n, kept_every=2):
    return [{"row_id": f"r{i}", "round": 1, "prompt": "1+1=", "completion": f"c{i}", "kept": i % kept_every == 0,
             "correct": True, "minhash": [i, i + 1] if i % kept_every == 0 else None} for i in range(n)]


def test_publish_versions_are_numbered_and_readable(tmp_path):
    cat = Catalog(tmp_path)
    assert cat.publish("ds", _rows(10), round=1, metrics={"x": 1}) == 1
    assert cat.publish("ds", _rows(4), round=2) == 2
    info = cat.resolve("ds@latest")
    assert (info["version"], info["rows"], info["kept"]) == (2, 4, 2)
    assert cat.resolve("ds@1")["metrics"] == {"x": 1}
    t = cat.read_table("ds@1", kept_only=True)
    assert t.num_rows == 5 and t["completion"].to_pylist()[:2] == ["c0", "c2"]
    assert t["minhash"].to_pylist()[1] == [2, 3]


def test_unknown_versions_and_bad_names_are_user_errors(tmp_path):
    cat = Catalog(tmp_path)
    cat.publish("ds", _rows(2))
    with pytest.raises(CatalogError, match="versions of 'ds': 1"):
        cat.resolve("ds@7")
    for bad in ["../etc", "ds; DROP TABLE datasets", "a/b", "", "ds@x"]:
        with pytest.raises(CatalogError):
            cat.resolve(bad)
    assert cat.resolve("ds")["version"] == 1  # the table survived


def test_crash_during_publish_leaves_nothing_visible(tmp_path):
    cat = Catalog(tmp_path)
    cat.publish("ds", _rows(3))
    with pytest.raises(RuntimeError, match="simulated crash"):
        cat.publish("ds", _rows(5), _crash_before_commit=True)
    assert [v["version"] for v in cat.versions("ds")] == [1]
    assert sorted(p.name for p in (tmp_path / "data" / "ds").iterdir()) == ["v1"]
    # Leftovers of a dead process are removed by the next publish.
    (tmp_path / "data" / "ds" / ".staging-999999999-dead").mkdir()
    (tmp_path / "data" / "ds" / "v9").mkdir()
    assert cat.publish("ds", _rows(2)) == 2
    assert sorted(p.name for p in (tmp_path / "data" / "ds").iterdir()) == ["v1", "v2"]
