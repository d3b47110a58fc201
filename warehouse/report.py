"""The quality report: one self-contained HTML page per dataset version (plots inlined as PNG).

    synthloop report demo@2        # writes $SYNTHLOOP_HOME/reports/demo-v2.html and prints its path

The page needs nothing but a browser: no network, no files beside it. It is rendered by jinja2
with autoescape on (`templates/report.html`), so every value from the data (prompts, completions,
sampler names) is escaped by the template, not by hand. Plots are drawn on matplotlib `Figure`s
(no pyplot, no global backend); user text in a label has its `$` escaped, so a sampler called
`$5 off $10` is text, not mathtext (which can even fail to parse).
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from matplotlib import rc_context
from matplotlib.figure import Figure

from .catalog import Catalog
from .look import BLUE, ENV, GREEN, GREY, RC, RED, figure, png
from .summary import summarize, trust_lines

# Calculator annotations are a file-domain completion's steps; elsewhere a step is a line.
_ANNOTATION = re.compile(r"<<[^<>\n]{1,200}>>")


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
    with rc_context(RC):
        plots = {
            "by_sampler": _plot_by(s["by_sampler"], "sampler"),
            "by_difficulty": _plot_by(s["by_difficulty"], "difficulty"),
            "drops": _plot_drops(s["drop_reasons"]),
            "clusters": _plot_clusters(s["cluster_sizes"]),
            "lengths": _plot_lengths(s["lengths"]),
            "eval": _plot_eval(s["history"]),
            "diversity": _plot_diversity(s["history"]),
            "heatmap": _plot_heatmap(s["history"]),
            "allocation": _plot_allocation(s["history"]),
        }
    return ENV.get_template("report.html").render(
        s=s, i=s["info"], plots=plots, cards=_cards(s), lineage=_lineage(s["info"]),
        history=_history_rows(s["history"]), score_changes=_score_changes(s), problems=_by_problem(s["samples"]),
        trust=trust_lines(s),
        config_json=json.dumps(s["config"], indent=2, default=str), fmt=_fmt,
    )


# -- plots -----------------------------------------------------------------------------------
def _t(text) -> str:
    """User text for a matplotlib label: `$` escaped, so it is never read as mathtext.

    >>> print(_t("$5 off $10"))
    \\$5 off \\$10
    """
    return str(text).replace("$", r"\$")


def _plot_by(rows: list[dict], key: str) -> str | None:
    if not rows:
        return None
    fig, ax = figure()
    xs = range(len(rows))
    ax.bar([x - 0.2 for x in xs], [r["pass_rate"] or 0 for r in rows], 0.4, label="correct", color=BLUE)
    ax.bar([x + 0.2 for x in xs], [r["kept_rate"] or 0 for r in rows], 0.4, label="kept", color=GREEN)
    ax.set_xticks(list(xs), [_t(r[key]) for r in rows])
    ax.set_ylim(0, 1)
    ax.set_xlabel(key)
    ax.set_ylabel("share of samples")
    ax.legend(frameon=False)
    return png(fig)


def _plot_drops(rows: list[dict]) -> str | None:
    if not rows:
        return None
    fig, ax = figure(h=0.5 + 0.4 * len(rows))
    ax.barh([_t(r["reason"]) for r in rows][::-1], [r["n"] for r in rows][::-1], color=RED)
    ax.grid(axis="x", alpha=0.3)
    ax.set_xlabel("rows dropped")
    return png(fig)


def _plot_clusters(sizes: list[dict]) -> str | None:
    if not sizes:
        return None
    fig, ax = figure()
    ax.bar([str(r["size"]) for r in sizes], [r["clusters"] for r in sizes], color=BLUE)
    ax.set_xlabel("cluster size (rows)")
    ax.set_ylabel("clusters")
    ax.set_yscale("log")
    return png(fig)


def _plot_lengths(rows: list[dict]) -> str | None:
    if not rows:
        return None
    fig, axes = figure(10, 3.0, ncols=2)
    for ax, key, label in zip(axes, ("n_tokens", "chars"), ("tokens per completion", "characters per completion")):
        kept = [r[key] for r in rows if r["kept"] and r[key] is not None]
        dropped = [r[key] for r in rows if not r["kept"] and r[key] is not None]
        ax.hist([kept, dropped], bins=30, stacked=True, color=[GREEN, GREY], label=["kept", "dropped"])
        ax.set_xlabel(label)
        ax.set_ylabel("rows")
        ax.legend(frameon=False)
    return png(fig)


def _rounds_axis(ax, hist):
    ax.set_xlabel("round")
    ax.set_xticks(sorted({h["round"] for h in hist}))
    ax.grid(alpha=0.3)


def _plot_eval(hist: list[dict]) -> str | None:
    if not hist:
        return None
    fig, ax = figure()
    k = next((h["k"] for h in hist if h["k"]), "k")
    for key, label in (("accuracy", "held-out accuracy"), ("pass_at_k", f"pass@{k}"), ("maj_at_k", f"maj@{k}")):
        pts = [(h["round"], h["eval"][key]) for h in hist if key in h["eval"]]
        if pts:
            ax.plot(*zip(*pts), marker="o", label=label)
    ax.set_ylim(0, 1.02)
    ax.set_title("held-out evaluation", fontsize=10)
    _rounds_axis(ax, hist)
    if ax.get_legend_handles_labels()[0]:
        ax.legend(frameon=False, fontsize=8)
    return png(fig)


def _plot_diversity(hist: list[dict]) -> str | None:
    """One small panel per score, each on its own y scale: on one shared axis Vendi (~6) flattens
    distinct-2 (~0.04) into a line that never moves."""
    keys = sorted({key for h in hist for key in h["scores"]})
    if not keys:
        return None
    ncols = min(len(keys), 4)
    nrows = -(-len(keys) // ncols)
    fig = Figure(figsize=(2.6 * ncols, 2.1 * nrows))
    axes = fig.subplots(nrows, ncols, squeeze=False).ravel()
    for ax, key in zip(axes, keys):
        pts = [(h["round"], h["scores"][key]) for h in hist if key in h["scores"]]
        ax.plot(*zip(*pts), marker="o", color=BLUE)
        ax.set_title(_t(key), fontsize=9)
        ax.spines[["top", "right"]].set_visible(False)
        ax.tick_params(labelsize=7)
        ax.ticklabel_format(axis="y", useOffset=False, style="plain") if ax.get_yscale() == "linear" else None
        _rounds_axis(ax, hist)
        ax.set_xlabel("")
    for ax in axes[len(keys):]:
        ax.set_visible(False)
    fig.tight_layout()
    return png(fig)


def _plot_heatmap(hist: list[dict]) -> str | None:
    """Held-out accuracy by difficulty (rows) and round (columns); the curriculum's frontier of a
    round, when it recorded one, outlined in black."""
    rounds = [h for h in hist if h["by_difficulty"]]
    if not rounds:
        return None
    diffs = sorted({d for h in rounds for d in h["by_difficulty"]})
    grid = [[h["by_difficulty"].get(d) for h in rounds] for d in diffs]
    data = [[float("nan") if v is None else v for v in row] for row in grid]
    fig, ax = figure(1.6 + 0.7 * len(rounds), 0.9 + 0.45 * len(diffs))
    ax.grid(False)
    im = ax.imshow(data, vmin=0, vmax=1, cmap="viridis", aspect="auto", origin="lower")
    for y, row in enumerate(grid):
        for x, v in enumerate(row):
            if v is not None:
                ax.text(x, y, f"{100 * v:.0f}", ha="center", va="center", fontsize=8,
                        color="white" if v < 0.6 else "black")
    from matplotlib.patches import Rectangle

    for x, h in enumerate(rounds):
        if h["frontier"] in diffs:
            y = diffs.index(h["frontier"])
            ax.add_patch(Rectangle((x - 0.5, y - 0.5), 1, 1, fill=False, edgecolor="black", linewidth=2.5))
    ax.set_xticks(range(len(rounds)), [str(h["round"]) for h in rounds])
    ax.set_yticks(range(len(diffs)), [str(d) for d in diffs])
    ax.set_xlabel("round")
    ax.set_ylabel("difficulty")
    fig.colorbar(im, ax=ax, fraction=0.05, label="held-out accuracy")
    return png(fig)


def _plot_allocation(hist: list[dict]) -> str | None:
    hist = [h for h in hist if h["allocation"]]
    if not hist:
        return None
    samplers = sorted({k for h in hist for k in h["allocation"]})
    fig, ax = figure()
    bottom = [0.0] * len(hist)
    for name in samplers:
        vals = [h["allocation"].get(name, 0.0) for h in hist]
        ax.bar([str(h["round"]) for h in hist], vals, bottom=bottom, label=_t(name))
        bottom = [b + v for b, v in zip(bottom, vals)]
    ax.set_xlabel("round")
    ax.set_ylabel("share of samples")
    ax.set_ylim(0, 1)
    ax.legend(frameon=False, fontsize=8, bbox_to_anchor=(1.0, 1.0), loc="upper left")
    return png(fig)


# -- what the template shows -----------------------------------------------------------------
def _fmt(v) -> str:
    """Numbers to 4 significant digits (distinct-2 at 0.0412, not 0.04); '-' for none."""
    if v is None:
        return "-"
    if isinstance(v, float):
        return f"{v:.4g}"
    return str(v)


def _cards(s: dict) -> list[tuple[str, object]]:
    i, c, m = s["info"], s["counts"], s["metrics"]
    cards = [("rows", i["rows"]), ("kept", i["kept"]), ("dropped", i["rows"] - i["kept"]),
             ("kept share", f"{100 * i['kept'] / i['rows']:.1f}%" if i["rows"] else "-")]
    cards += [(f"verdict: {k}", v) for k, v in c.get("by_verdict", {}).items()]
    if "problems" in m:
        cards.append(("problems solved", f"{m.get('problems_solved', '-')} / {m['problems']}"))
    if "tokens" in m:
        cards.append(("tokens generated", m["tokens"]))
    return cards


def _lineage(i: dict) -> list[tuple[str, object]]:
    return [("version", f"{i['name']}@{i['version']}"), ("round", i["round"]), ("model", i["model_id"]),
            ("parents", ", ".join(i["parents"] or []) or None), ("config hash", i["config_hash"]),
            ("code version", i["code_version"]), ("published", i["created_at"]), ("files", i["path"])]


def _history_rows(hist: list[dict]) -> dict:
    """The across-rounds table: a fixed set of columns, so it fits its box."""
    scores = sorted({k for h in hist for k in h["scores"]})
    cols = ["round", "version", "model", "gate", "accuracy", "accuracy_unseen", "pass_at_k", "maj_at_k", *scores]
    rows = []
    for h in hist:
        gate = None if h["promoted"] is None else ("promoted" if h["promoted"] else "rejected")
        rows.append({"round": h["round"], "version": h["version"], "model": h["model"], "gate": gate,
                     "reason": h.get("reason")} | h["eval"] | h["scores"])
    return {"cols": cols, "rows": rows}


def _score_changes(s: dict) -> list[dict]:
    """Each score of this version with its change from the round before (what a flat plot hid)."""
    hist = [h for h in s["history"] if h["round"] is not None and h["round"] < (s["info"]["round"] or 0)]
    before = hist[-1]["scores"] if hist else {}
    out = []
    for k, v in s["scores"].items():
        b = before.get(k)
        change = (v - b) / abs(b) if isinstance(b, (int, float)) and b else None
        out.append({"metric": k, "value": v, "before": b, "change": change})
    return out


def split_step(completion: str, step: int | None) -> tuple[str, str, str]:
    """(before, the first failing step, after) of a completion: the step is the `step`-th
    calculator annotation when the completion has them, else its `step`-th line.

    >>> split_step("1+2=3\\n4+5=8\\n>8", 1)
    ('1+2=3\\n', '4+5=8', '\\n>8')
    >>> split_step("a <<2*3=7>> b <<7+1=8>>", 0)
    ('a ', '<<2*3=7>>', ' b <<7+1=8>>')
    >>> split_step("no steps", None)
    ('no steps', '', '')
    """
    if step is None or step < 0:
        return completion, "", ""
    spans = [m.span() for m in _ANNOTATION.finditer(completion)]
    if not spans:
        at = 0
        for k, line in enumerate(completion.split("\n")):
            if k == step:
                spans = [(at, at + len(line))]
                break
            at += len(line) + 1
        step = 0
    if step >= len(spans):
        return completion, "", ""
    a, b = spans[step]
    return completion[:a], completion[a:b], completion[b:]


def _by_problem(samples: list[dict]) -> list[dict]:
    """The sampled rows grouped by problem: the prompt and reference once, then each sample."""
    groups: dict[str, dict] = {}
    for r in samples:
        g = groups.setdefault(r["problem_id"] or r["row_id"], {
            "problem_id": r["problem_id"], "prompt": r["prompt"], "reference": r["reference"],
            "difficulty": r["difficulty"], "rows": []})
        verdict = ("correct" if r["correct"] and r["steps_ok"] is not False else
                   "bad steps" if r["correct"] else "wrong" if r["correct"] is not None else "unverified")
        why = r["drop_reason"] or ""
        if r["dup_of"]:
            why += f" (of {r['dup_of']})"
        bad = r["first_bad_step"] if r["steps_ok"] is False or not r["correct"] else None
        if bad is not None:
            why += f" · first bad step {bad + 1}"
        g["rows"].append(r | {"verdict": verdict, "why": why, "parts": split_step(r["completion"] or "", bad)})
    for g in groups.values():
        g["kept"] = sum(1 for r in g["rows"] if r["kept"])
    return list(groups.values())
