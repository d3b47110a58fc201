"""The quality report: right numbers, self-contained and escaped HTML, clean in a real browser."""

import os
import re
import shutil
from pathlib import Path

import pytest
from synthloop.warehouse.report import write_report
from synthloop.warehouse.summary import markdown, summarize

from . import chromium
from .fake_run import make_rows, make_run, score_rows


@pytest.fixture(scope="module")
def cat(tmp_path_factory):
    cat = make_run(tmp_path_factory.mktemp("report"), rounds=3)
    # A version whose metrics carry keys this code does not know yet: more diversity scores, an
    # alert, an explicit sampler allocation. They must show up, not break anything.
    rows = make_rows(4)
    metrics = score_rows(rows) | {"vendi": 3.25, "compression_ratio": 0.41,
                                  "collapse_alert": "distinct_2 fell 40% since round 1",
                                  "allocation": {"cool": 2, "warm": 1, "hot": 1}}
    cat.publish("fake", rows, round=4, model_id="fake-m3", metrics=metrics)
    # Round 5: what a real round records that the report once drew wrong (issue 14): the count
    # `embedding_sample` beside the scores, a curriculum frontier, a sampler name with dollars.
    rows = make_rows(5)
    for r in rows:
        r["sampler"] = {"hot": "$5 off \\oops$"}.get(r["sampler"], r["sampler"])
    metrics = score_rows(rows) | {"vendi": 3.1, "embedding_sample": 256,
                                  "curriculum": {"policy": "frontier", "frontier": 2, "by_difficulty": {}}}
    v = cat.publish("fake", rows, round=5, model_id="fake-m4", metrics=metrics)
    ev = {"accuracy": 0.5, "pass_at_k": 0.6, "k": 2,
          "by_difficulty": {1: {"accuracy": 0.9, "n": 10}, 2: {"accuracy": 0.3, "n": 10}, 3: {"accuracy": 0.0, "n": 4}}}
    cat.finish_round("fake", 5, dataset_version=v, model_in="fake-m4", model_out="fake-m5", promoted=False,
                     reason="rejected: accuracy fell", metrics={"eval": ev, "data": metrics})
    return cat


def test_summary_numbers_match_the_rows(cat):
    s = summarize(cat, "fake@2")
    rows = make_rows(2)
    hot = [r for r in rows if r["sampler"] == "hot"]
    got = {r["sampler"]: r for r in s["by_sampler"]}["hot"]
    assert (got["n"], got["correct"], got["kept"]) == (len(hot), sum(r["correct"] for r in hot), sum(r["kept"] for r in hot))
    assert {r["reason"]: r["n"] for r in s["drop_reasons"]} == s["counts"]["by_drop_reason"]
    assert sum(c["size"] for c in s["clusters"]) <= sum(r["cluster_id"] is not None for r in rows)
    assert [h["round"] for h in s["history"]] == [0, 1, 2]  # not the rounds after this version
    assert s["history"][2]["eval"]["accuracy"] == pytest.approx(0.6)
    assert {r["kept"] for r in s["samples"]} == {True, False}
    md = markdown(s)
    assert md.startswith("# fake@2") and "| hot | 40 |" in md and "## Drop reasons" in md


def test_unknown_metric_keys_alerts_and_allocation_are_shown(cat):
    s = summarize(cat, "fake@4")
    assert s["scores"]["vendi"] == 3.25 and s["alerts"] == ["collapse_alert: distinct_2 fell 40% since round 1"]
    assert s["history"][-1]["allocation"] == {"cool": 0.5, "hot": 0.25, "warm": 0.25}
    page = write_report(cat, "fake@4").read_text()
    assert "vendi" in page and "distinct_2 fell 40% since round 1" in page and 'class="alert"' in page


def test_report_is_self_contained_and_escaped(cat):
    path = write_report(cat, "fake@3")
    assert path == cat.home / "reports" / "fake-v3.html"
    page = path.read_text()
    assert not re.search(r"""(src|href)=["']?(https?:|//)""", page), "the page must load nothing from outside"
    assert page.count("data:image/png;base64,") >= 7  # sampler, difficulty, drops, clusters, lengths, rounds, allocation
    assert "<script>alert('x')</script>" not in page and "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;" in page
    assert "é ü ✓" in page
    for section in ("Summary", "Pass rate by sampler", "Pass rate by difficulty", "Held-out accuracy by difficulty",
                    "Drop reasons", "Dedup clusters", "Diversity metrics", "Lengths", "Across rounds",
                    "Sampler allocation over rounds", "Samples"):
        assert f"<h2>{section}</h2>" in page


def test_what_the_report_once_drew_wrong(cat):
    """Issue 14: `embedding_sample` (a count) is not a score; a sampler called `$5 off \\oops$` is
    text, not mathtext (which failed to parse); the frontier is marked; a number keeps 4 digits."""
    s = summarize(cat, "fake@5")
    assert "embedding_sample" not in s["scores"] and s["scores"]["vendi"] == 3.1
    assert s["history"][-1]["frontier"] == 2 and s["history"][-1]["by_difficulty"] == {1: 0.9, 2: 0.3, 3: 0.0}
    page = write_report(cat, "fake@5").read_text()
    assert "$5 off \\oops$" in page and "Outlined: the curriculum's frontier" in page
    assert "Embedding scores over 256 kept texts" in page
    d2 = s["scores"]["distinct_2"]
    assert f"{d2:.4g}" in page and len(f"{d2:.4g}") > 4  # 0.2412, not 0.24


def test_samples_grouped_by_problem_with_the_first_bad_step_marked(cat):
    from synthloop.warehouse.report import split_step

    s = summarize(cat, "fake@3")
    page = write_report(cat, "fake@3").read_text()
    problems = {r["problem_id"] for r in s["samples"]}
    assert page.count('<tbody class="problem">') == len(problems) > 1
    bad = [r for r in s["samples"] if r["first_bad_step"] is not None and r["steps_ok"] is False]
    assert bad and page.count('<mark class="bad" title="first failing step">') >= len(bad)
    before, step, after = split_step(bad[0]["completion"], bad[0]["first_bad_step"])
    assert before + step + after == bad[0]["completion"] and step
    assert s["near_duplicates"] and all(d["dup_of_completion"] for d in s["near_duplicates"])
    assert page.count("<tr><td><small>") >= len(s["near_duplicates"])  # the pairs, side by side


@pytest.mark.skipif(chromium.available() is not None, reason=chromium.available() or "")
def test_report_in_headless_chromium(cat, tmp_path):
    path = write_report(cat, "fake@3", tmp_path / "report.html")
    shot = tmp_path / "report.png"
    with chromium.Page() as page:
        page.goto(path.as_uri())
        assert page.errors() == []
        assert page.eval("document.title").startswith("fake@3")
        images = page.eval("Array.from(document.images).map(i => [i.alt, i.complete && i.naturalWidth > 0])")
        assert len(images) >= 7 and all(ok for _, ok in images), images
        total = page.eval("document.querySelectorAll('#samples tr.sample').length")
        dropped = page.eval("document.querySelectorAll('#samples tr.sample.dropped').length")
        page.eval("document.querySelector('button[data-show=dropped]').click()")
        assert page.eval("document.getElementById('shown').textContent") == f"{dropped} of {total} shown"
        assert 0 < dropped < total
        hidden = page.eval("Array.from(document.querySelectorAll('#samples tbody.problem'))"
                           ".filter(g => g.style.display === 'none').length")
        kept_only = page.eval("Array.from(document.querySelectorAll('#samples tbody.problem'))"
                              ".filter(g => !g.querySelector('tr.sample.dropped')).length")
        assert hidden == kept_only  # a problem with no dropped row is hidden, heading and all
        page.eval("document.querySelector('button[data-show=all]').click()")
        assert page.eval("document.querySelectorAll('#samples tr.sample mark.bad').length") > 0
        assert page.eval("document.querySelectorAll('table.dups tbody tr').length") > 0
        # Nothing sticks out of its box, the across-rounds table included, on a narrow window too.
        for width in (1280, 900):
            page.call("Emulation.setDeviceMetricsOverride", width=width, height=1000, deviceScaleFactor=1, mobile=False)
            wide = page.eval("Array.from(document.querySelectorAll('section'))"
                             ".filter(x => x.scrollWidth > x.clientWidth + 1).map(x => x.id)")
            assert wide == [], (width, wide)
            out = page.eval("""Array.from(document.querySelectorAll('section img, section table')).filter(e => {
                var s = e.closest('section').getBoundingClientRect(), r = e.getBoundingClientRect();
                return r.right > s.right + 1 && !e.closest('.scroll'); }).map(e => e.alt || e.closest('section').id)""")
            assert out == [], (width, out)
        page.call("Emulation.clearDeviceMetricsOverride")
        page.screenshot(shot)
        assert page.errors() == []
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and shot.stat().st_size > 50_000
    if os.environ.get("SYNTHLOOP_SCREENSHOT_DIR"):  # to look at it: SYNTHLOOP_SCREENSHOT_DIR=out make test
        Path(os.environ["SYNTHLOOP_SCREENSHOT_DIR"]).mkdir(parents=True, exist_ok=True)
        shutil.copy(shot, Path(os.environ["SYNTHLOOP_SCREENSHOT_DIR"]) / "report-fake-v3.png")
