"""The quality report: one self-contained HTML page per dataset version (plots inlined as PNG).

    synthloop report demo@2        # writes $SYNTHLOOP_HOME/reports/demo-v2.html and prints its path

The page needs nothing but a browser: no network, no files beside it. Every value that comes from
the data (prompts, completions, names) is HTML-escaped.
"""

from __future__ import annotations

import base64
import html
import io
import json
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # no display; must come before pyplot
import matplotlib.pyplot as plt

from .catalog import Catalog
from .summary import summarize

_BLUE, _GREEN, _RED, _GREY = "#3b6ea8", "#4a9a5b", "#c0504d", "#8c8c8c"


def write_report(cat: Catalog, ref: str, out: str | Path | None = None, n_samples: int = 200) -> Path:
    """Render the report of `ref` to `out` (default `<home>/reports/<name>-v<N>.html`)."""
    s = summarize(cat, ref, n_samples=n_samples)
    path = Path(out) if out else cat.home / "reports" / f"{s['info']['name']}-v{s['info']['version']}.html"
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.partial")
    tmp.write_text(render(s), encoding="utf-8")
    tmp.replace(path)
    return path


def render(s: dict) -> str:
    """The whole page for a summary from `summary.summarize`."""
    e = html.escape
    i = s["info"]
    sections = [
        _section("Summary", _cards(s) + _lineage(i)),
        _section("Pass rate by sampler", _pair(_plot_by(s["by_sampler"], "sampler"), _table(
            s["by_sampler"], ["sampler", "n", "correct", "kept", "pass_rate", "kept_rate", "tokens", "kept_per_1k_tokens"]))),
        _section("Pass rate by difficulty", _pair(_plot_by(s["by_difficulty"], "difficulty"), _table(
            s["by_difficulty"], ["difficulty", "n", "correct", "kept", "pass_rate", "kept_rate"]))),
        _section("Drop reasons", _pair(_plot_drops(s), _table(s["drop_reasons"], ["reason", "n"])
                 + _kv_table(s["counts"].get("by_error_kind", {}), "error kind", "rows"))),
        _section("Dedup clusters", _pair(_plot_clusters(s), _table(
            s["clusters"], ["cluster_id", "size", "kept", "representative"]))),
        _section("Diversity metrics", _kv_table(s["scores"], "metric", "value")),
        _section("Lengths", _plot_lengths(s)),
        _section("Across rounds", _plot_rounds(s) + _table(_history_rows(s), None)),
        _section("Sampler allocation over rounds", _plot_allocation(s)),
        _section("Samples", _samples(s)),
        _section("Config", f"<details><summary>config {e(str(i['config_hash']))}</summary><pre>"
                 f"{e(json.dumps(s['config'], indent=2, default=str))}</pre></details>"),
    ]
    alerts = "".join(f'<div class="alert">&#9888; {e(a)}</div>' for a in s["alerts"])
    return _PAGE.format(title=e(s["ref"]), css=_CSS, js=_JS, alerts=alerts, body="\n".join(sections),
                        generated=e(str(i["created_at"])))


# -- plots -----------------------------------------------------------------------------------
def _img(fig, alt: str) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100, bbox_inches="tight")
    plt.close(fig)
    data = base64.b64encode(buf.getvalue()).decode()
    return f'<img class="plot" alt="{html.escape(alt)}" src="data:image/png;base64,{data}">'


def _fig(w=5.6, h=3.0):
    fig, ax = plt.subplots(figsize=(w, h))
    ax.spines[["top", "right"]].set_visible(False)
    ax.grid(axis="y", alpha=0.3)
    return fig, ax


def _none(what: str) -> str:
    return f'<p class="none">No {html.escape(what)} in this version.</p>'


def _plot_by(rows: list[dict], key: str) -> str:
    if not rows:
        return _none("rows")
    fig, ax = _fig()
    xs = range(len(rows))
    ax.bar([x - 0.2 for x in xs], [r["pass_rate"] or 0 for r in rows], 0.4, label="correct", color=_BLUE)
    ax.bar([x + 0.2 for x in xs], [r["kept_rate"] or 0 for r in rows], 0.4, label="kept", color=_GREEN)
    ax.set_xticks(list(xs), [str(r[key]) for r in rows])
    ax.set_ylim(0, 1)
    ax.set_xlabel(key)
    ax.set_ylabel("share of samples")
    ax.legend(frameon=False)
    return _img(fig, f"pass rate by {key}")


def _plot_drops(s: dict) -> str:
    rows = s["drop_reasons"]
    if not rows:
        return _none("dropped rows")
    fig, ax = _fig(h=0.5 + 0.4 * len(rows))
    ax.barh([r["reason"] for r in rows][::-1], [r["n"] for r in rows][::-1], color=_RED)
    ax.grid(axis="x", alpha=0.3)
    ax.set_xlabel("rows dropped")
    return _img(fig, "drop reasons")


def _plot_clusters(s: dict) -> str:
    sizes = s["cluster_sizes"]
    if not sizes:
        return _none("near-duplicate clusters (no kept candidates were hashed)")
    fig, ax = _fig()
    ax.bar([str(r["size"]) for r in sizes], [r["clusters"] for r in sizes], color=_BLUE)
    ax.set_xlabel("cluster size (rows)")
    ax.set_ylabel("clusters")
    ax.set_yscale("log")
    return _img(fig, "dedup cluster sizes")


def _plot_lengths(s: dict) -> str:
    rows = s["lengths"]
    if not rows:
        return _none("rows")
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.0))
    for ax, key, label in zip(axes, ("n_tokens", "chars"), ("tokens per completion", "characters per completion")):
        ax.spines[["top", "right"]].set_visible(False)
        kept = [r[key] for r in rows if r["kept"] and r[key] is not None]
        dropped = [r[key] for r in rows if not r["kept"] and r[key] is not None]
        ax.hist([kept, dropped], bins=30, stacked=True, color=[_GREEN, _GREY], label=["kept", "dropped"])
        ax.set_xlabel(label)
        ax.set_ylabel("rows")
        ax.legend(frameon=False)
    return _img(fig, "length histograms")


def _plot_rounds(s: dict) -> str:
    hist = s["history"]
    if not hist:
        return _none("rounds")
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.2))
    ax = axes[0]
    k = next((h["k"] for h in hist if h["k"]), "k")
    for key, label in (("accuracy", "held-out accuracy"), ("pass_at_k", f"pass@{k}"), ("maj_at_k", f"maj@{k}")):
        pts = [(h["round"], h["eval"][key]) for h in hist if key in h["eval"]]
        if pts:
            ax.plot(*zip(*pts), marker="o", label=label)
    ax.set_ylim(0, 1.02)
    ax.set_title("held-out evaluation", fontsize=10)
    ax = axes[1]
    keys = sorted({key for h in hist for key in h["scores"]})
    for key in keys:
        pts = [(h["round"], h["scores"][key]) for h in hist if key in h["scores"]]
        ax.plot(*zip(*pts), marker="o", label=key)
    ax.set_title("diversity of the kept data", fontsize=10)
    for ax in axes:
        ax.spines[["top", "right"]].set_visible(False)
        ax.grid(alpha=0.3)
        ax.set_xlabel("round")
        ax.set_xticks(sorted({h["round"] for h in hist}))
        if ax.get_legend_handles_labels()[0]:
            ax.legend(frameon=False, fontsize=8)
    return _img(fig, "accuracy and diversity across rounds")


def _plot_allocation(s: dict) -> str:
    hist = [h for h in s["history"] if h["allocation"]]
    if not hist:
        return _none("sampler allocation")
    samplers = sorted({k for h in hist for k in h["allocation"]})
    fig, ax = _fig()
    bottom = [0.0] * len(hist)
    for name in samplers:
        vals = [h["allocation"].get(name, 0.0) for h in hist]
        ax.bar([str(h["round"]) for h in hist], vals, bottom=bottom, label=name)
        bottom = [b + v for b, v in zip(bottom, vals)]
    ax.set_xlabel("round")
    ax.set_ylabel("share of samples")
    ax.set_ylim(0, 1)
    ax.legend(frameon=False, fontsize=8, bbox_to_anchor=(1.0, 1.0), loc="upper left")
    return _img(fig, "sampler allocation over rounds")


# -- tables ----------------------------------------------------------------------------------
def _fmt(v) -> str:
    if v is None:
        return "-"
    if isinstance(v, float):
        return f"{v:.4g}"
    return html.escape(str(v))


def _table(rows: list[dict], cols: list[str] | None) -> str:
    if not rows:
        return ""
    cols = cols or list(dict.fromkeys(c for r in rows for c in r))
    head = "".join(f"<th>{html.escape(c)}</th>" for c in cols)
    body = "".join("<tr>" + "".join(f"<td>{_fmt(r.get(c))}</td>" for c in cols) + "</tr>" for r in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _kv_table(d: dict, k: str, v: str) -> str:
    return _table([{k: key, v: val} for key, val in d.items()], [k, v]) if d else ""


def _history_rows(s: dict) -> list[dict]:
    out = []
    for h in s["history"]:
        gate = None if h["promoted"] is None else ("promoted" if h["promoted"] else "rejected")
        out.append({"round": h["round"], "version": h["version"], "model": h["model"], "gate": gate}
                   | h["eval"] | h["scores"])
    return out


def _cards(s: dict) -> str:
    i, c, m = s["info"], s["counts"], s["metrics"]
    cards = [("rows", i["rows"]), ("kept", i["kept"]), ("dropped", i["rows"] - i["kept"]),
             ("kept share", f"{100 * i['kept'] / i['rows']:.1f}%" if i["rows"] else "-")]
    cards += [(f"verdict: {k}", v) for k, v in c.get("by_verdict", {}).items()]
    if "problems" in m:
        cards.append(("problems solved", f"{m.get('problems_solved', '-')} / {m['problems']}"))
    if "tokens" in m:
        cards.append(("tokens generated", m["tokens"]))
    return '<div class="cards">' + "".join(
        f'<div class="card"><div class="v">{_fmt(v)}</div><div class="k">{html.escape(k)}</div></div>' for k, v in cards
    ) + "</div>"


def _lineage(i: dict) -> str:
    rows = [("version", f"{i['name']}@{i['version']}"), ("round", i["round"]), ("model", i["model_id"]),
            ("parents", ", ".join(i["parents"] or []) or None), ("config hash", i["config_hash"]),
            ("code version", i["code_version"]), ("published", i["created_at"]), ("files", i["path"])]
    return _table([{"lineage": k, "": v} for k, v in rows], ["lineage", ""])


def _samples(s: dict) -> str:
    e = html.escape
    samplers = sorted({r["sampler"] or "-" for r in s["samples"]})
    controls = (
        '<div class="controls"><span class="filter">'
        + "".join(f'<button type="button" data-show="{v}"{" class=on" if v == "all" else ""}>{v}</button>'
                  for v in ("all", "kept", "dropped"))
        + '</span> <select id="sampler"><option value="">every sampler</option>'
        + "".join(f'<option value="{e(x)}">{e(x)}</option>' for x in samplers)
        + '</select> <input id="search" type="search" placeholder="search prompt or completion">'
        + ' <span id="shown"></span></div>'
    )
    rows = []
    for r in s["samples"]:
        verdict = ("correct" if r["correct"] and r["steps_ok"] is not False else
                   "bad steps" if r["correct"] else "wrong" if r["correct"] is not None else "unverified")
        why = r["drop_reason"] or ""
        if r["dup_of"]:
            why += f" (of {r['dup_of']})"
        if r["first_bad_step"] is not None and not r["kept"]:
            why += f" · first bad step {r['first_bad_step']}"
        rows.append(
            f'<tr class="{"kept" if r["kept"] else "dropped"}" data-sampler="{e(r["sampler"] or "-")}">'
            f'<td>{e(r["row_id"])}</td><td>{"kept" if r["kept"] else "dropped"}<br><small>{e(why)}</small></td>'
            f'<td>{e(verdict)}<br><small>{e(str(r["error_kind"] or ""))}</small></td>'
            f'<td>{e(str(r["sampler"]))}</td><td>{_fmt(r["difficulty"])}</td>'
            f'<td><pre>{e(r["prompt"] or "")}</pre></td><td><pre>{e(r["completion"] or "")}</pre></td>'
            f'<td>{e(str(r["reference"]))}<br><small>got {e(str(r["extracted"]))}</small></td></tr>'
        )
    head = "".join(f"<th>{c}</th>" for c in ("row", "kept", "verdict", "sampler", "difficulty", "prompt",
                                              "completion", "answer"))
    n_kept = sum(1 for r in s["samples"] if r["kept"])
    note = (f'<p class="none">{len(s["samples"])} rows ({n_kept} kept, {len(s["samples"]) - n_kept} dropped): '
            "a seeded sample of the version.</p>")
    return (note + controls + f'<table id="samples"><thead><tr>{head}</tr></thead><tbody>'
            + "".join(rows) + "</tbody></table>")


def _pair(left: str, right: str) -> str:
    return f'<div class="pair"><div>{left}</div><div>{right}</div></div>'


def _section(title: str, body: str) -> str:
    anchor = title.lower().replace(" ", "-")
    return f'<section id="{anchor}"><h2>{html.escape(title)}</h2>{body}</section>'


_CSS = """
body{font:14px/1.45 system-ui,-apple-system,'Segoe UI',sans-serif;margin:0;color:#222;background:#fafafa}
header{background:#23395b;color:#fff;padding:14px 28px}header h1{margin:0;font-size:22px}
header p{margin:4px 0 0;opacity:.8}main{padding:8px 28px 40px;max-width:1200px}
nav a{color:#cfe0f5;margin-right:12px;font-size:13px}
section{background:#fff;border:1px solid #e3e3e3;border-radius:6px;padding:4px 18px 14px;margin:14px 0}
h2{font-size:17px;margin:12px 0}table{border-collapse:collapse;margin:8px 0;font-size:13px}
th,td{border-bottom:1px solid #eee;padding:3px 10px;text-align:left;vertical-align:top}
th{background:#f3f5f8}pre{margin:0;white-space:pre-wrap;font:12px/1.3 ui-monospace,monospace;max-width:420px}
.cards{display:flex;flex-wrap:wrap;gap:10px;margin:8px 0}.card{border:1px solid #e3e3e3;border-radius:6px;
padding:8px 14px;min-width:90px}.card .v{font-size:20px;font-weight:600}.card .k{font-size:12px;color:#666}
.pair{display:flex;flex-wrap:wrap;gap:8px 28px;align-items:flex-start}.plot{max-width:100%;display:block;margin:6px 0}.none{color:#777}
.alert{background:#fff4e5;border:1px solid #f0b35b;border-radius:6px;padding:8px 14px;margin:12px 0}
.controls{margin:8px 0}.filter button{border:1px solid #bbb;background:#fff;padding:3px 10px;cursor:pointer}
.filter button.on{background:#23395b;color:#fff}tr.dropped td:nth-child(2){color:#c0504d}
tr.kept td:nth-child(2){color:#4a9a5b}small{color:#777}
"""

_JS = """
document.addEventListener('DOMContentLoaded', function () {
  var rows = Array.prototype.slice.call(document.querySelectorAll('#samples tbody tr'));
  var show = 'all', sampler = document.getElementById('sampler'), search = document.getElementById('search');
  function apply() {
    var q = search.value.toLowerCase(), n = 0;
    rows.forEach(function (r) {
      var ok = (show === 'all' || r.classList.contains(show)) &&
               (!sampler.value || r.dataset.sampler === sampler.value) &&
               (!q || r.textContent.toLowerCase().indexOf(q) >= 0);
      r.style.display = ok ? '' : 'none';
      if (ok) { n += 1; }
    });
    document.getElementById('shown').textContent = n + ' of ' + rows.length + ' shown';
  }
  document.querySelectorAll('.filter button').forEach(function (b) {
    b.addEventListener('click', function () {
      document.querySelectorAll('.filter button').forEach(function (x) { x.classList.remove('on'); });
      b.classList.add('on');
      show = b.dataset.show;
      apply();
    });
  });
  sampler.addEventListener('change', apply);
  search.addEventListener('input', apply);
  apply();
});
"""

_PAGE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<link rel="icon" href="data:,">
<title>{title} · synthloop quality report</title>
<style>{css}</style></head>
<body><header><h1>{title}</h1><p>synthloop quality report · published {generated}</p>
<nav><a href="#summary">summary</a><a href="#pass-rate-by-sampler">samplers</a><a href="#drop-reasons">drops</a>
<a href="#dedup-clusters">dedup</a><a href="#diversity-metrics">diversity</a><a href="#across-rounds">rounds</a>
<a href="#samples">samples</a></nav></header>
<main>{alerts}
{body}
</main>
<script>{js}</script>
</body></html>
"""
