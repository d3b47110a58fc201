"""The page of a `synthloop experiment` result: its table, its plots and the arms behind them.

    synthloop experiment noise     # writes <home>/reports/experiment-noise.html (and .json)

Same look as the quality report: its stylesheet (`templates/_style.html`), its jinja2 environment
(autoescape on, so every value from the data is escaped by the template) and its plot helpers
(`warehouse/look.py`). Self-contained (plots inlined as PNG). It renders from the result dict
alone, so the JSON beside it renders the same page again.
"""

from __future__ import annotations

import json
from pathlib import Path

from matplotlib import rc_context
from matplotlib.figure import Figure

from . import look

_SHADES = ("#9ecae1", "#6baed6", "#4292c6", "#2171b5", "#08519c", "#08306b")


def write_experiment(res: dict, out_dir: str | Path) -> dict[str, Path]:
    """`experiment-<name>.json` and `.html` in `out_dir` (each written whole, then renamed)."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = {"json": out_dir / f"experiment-{res['experiment']}.json",
             "html": out_dir / f"experiment-{res['experiment']}.html"}
    for kind, text in (("json", json.dumps(res, indent=1, default=str)), ("html", render(res))):
        tmp = paths[kind].with_name(f".{paths[kind].name}.partial")
        tmp.write_text(text, encoding="utf-8")
        tmp.replace(paths[kind])
    return paths


def render(res: dict) -> str:
    name = res["experiment"]
    with rc_context(look.RC):
        plot = {"noise": _plot_noise, "collapse": _plot_collapse, "passk": _plot_passk}[name](res["rows"])
    cols = columns(res["rows"])
    arms = [{"run": a["run"], "arm": a["label"], "seed": a["seed"], "final model": a["model"],
             "setting": json.dumps(a["setting"])} for a in res["arms"]]
    return look.ENV.get_template("experiment.html").render(
        res=res, about=_ABOUT[name], plot=plot, cols=cols, rows=[[cell(r, c) for c in cols] for r in res["rows"]],
        arms=arms, config_json=json.dumps({"experiment": res["spec"], "loop": res["config"]}, indent=2),
    )


_ABOUT = {
    "noise": "Each cell fine-tunes the shared bootstrap model once on reference solutions of the same "
             "problems, a share of them noised: static noise damages a step after it is computed (the answer "
             "stays right), dynamic noise computes a step wrong and carries the error on into the answer. "
             "Held-out accuracy is greedy, on problems no cell trained on.",
    "collapse": "Both arms run rounds of self-training from the shared bootstrap model with the same sampling and "
                "training. The loop arm verifies every step, near-dedups and gates; the keep-all arm keeps every "
                "sample, right or wrong, trains on all of them and promotes every model.",
    "passk": "From the shared bootstrap model, the SFT arm fine-tunes on one round's reference solutions for "
             "more and more epochs (one evaluation per checkpoint); the EI arm runs rounds of expert iteration "
             "(the default loop). pass@k from the same samples for every k (unbiased estimator).",
}


# -- plots (matplotlib Figures, no pyplot: as in warehouse/report.py) --------------------------
def _band(ax, xs, rows, key, color, label, style="-o"):
    ax.plot(xs, [r[key] for r in rows], style, color=color, label=label, ms=4)
    lo, hi = [r.get(f"{key}_min") for r in rows], [r.get(f"{key}_max") for r in rows]
    if any(a != b for a, b in zip(lo, hi) if a is not None):
        ax.fill_between(xs, lo, hi, color=color, alpha=0.15, linewidth=0)


def _grid(nrows: int, ncols: int, w: float, h: float):
    fig = Figure(figsize=(w, h))
    axes = fig.subplots(nrows, ncols, squeeze=False)
    for ax in axes.flat:
        ax.spines[["top", "right"]].set_visible(False)
        ax.grid(alpha=0.3)
    return fig, axes


def _plot_noise(rows: list[dict]) -> str:
    fig, ax = look.figure(6.4, 3.4)
    boot = next(r for r in rows if r["noise"] == "-")
    clean = next(r for r in rows if r["noise"] == "clean")
    ax.axhline(clean["accuracy"], color=look.GREEN, ls="--", label="clean control")
    ax.axhspan(clean["accuracy_min"], clean["accuracy_max"], color=look.GREEN, alpha=0.1)
    ax.axhline(boot["accuracy"], color=look.GREY, ls=":", label="bootstrap (no fine-tuning)")
    for kind, color in (("static", look.BLUE), ("dynamic", look.RED)):
        cells = sorted((r for r in rows if r["noise"] == kind), key=lambda r: r["share"])
        if cells:
            ax.errorbar([r["share"] for r in cells], [r["accuracy"] for r in cells], fmt="-o", color=color,
                        capsize=3, label=f"{kind} noise",
                        yerr=[[r["accuracy"] - r["accuracy_min"] for r in cells],
                              [r["accuracy_max"] - r["accuracy"] for r in cells]])
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1.02)
    ax.set_xlabel("share of training samples noised")
    ax.set_ylabel("held-out accuracy (greedy)")
    ax.legend(frameon=False, fontsize=8)
    return look.png(fig)


def _plot_collapse(rows: list[dict]) -> str:
    panels = [("accuracy", "held-out accuracy"), ("pass_at_k", "held-out pass@k"),
              ("correct_share", "kept data: share with a right answer"),
              ("distinct_correct", "kept data: distinct correct solutions / problem"),
              ("distinct_2", "kept data: distinct-2"), ("vendi", "kept data: Vendi score")]
    fig, axes = _grid(2, 3, 12, 6)
    for ax, (key, title) in zip(axes.flat, panels):
        for arm, color in (("loop", look.GREEN), ("keep-all", look.RED)):
            pts = [r for r in rows if r["arm"] == arm and r[key] is not None]
            if pts:
                _band(ax, [r["round"] for r in pts], pts, key, color, arm)
        ax.set_title(title, fontsize=10)
        ax.set_xlabel("round")
        if ax.get_legend_handles_labels()[0]:
            ax.legend(frameon=False, fontsize=8)
    fig.tight_layout()
    return look.png(fig)


def _plot_passk(rows: list[dict]) -> str:
    ks = sorted(int(k[5:]) for k in rows[0] if k.startswith("pass@") and not k.endswith(("_min", "_max")))
    fig, axes = _grid(1, 3, 13, 3.6)
    axes = axes[0]
    for ax, arm in zip(axes[:2], ("sft", "ei")):
        pts = [r for r in rows if r["arm"] == arm]
        for i, r in enumerate(pts):
            shade = _SHADES[min(len(_SHADES) - 1, int(i * len(_SHADES) / max(1, len(pts))))]
            ax.plot(ks, [r[f"pass@{k}"] for k in ks], "-o", ms=3, color=shade, label=r["training"])
        ax.set_xscale("log", base=2)
        ax.set_xticks(ks, [str(k) for k in ks])
        ax.set_title(f"{'long SFT' if arm == 'sft' else 'expert iteration'}: pass@k by checkpoint", fontsize=10)
        ax.set_xlabel("k")
    ax = axes[2]
    for arm, color in (("sft", look.BLUE), ("ei", look.GREEN)):
        pts = [r for r in rows if r["arm"] == arm]
        _band(ax, [r["checkpoint"] for r in pts], pts, "pass@1", color, f"{arm} pass@1", "--o")
        _band(ax, [r["checkpoint"] for r in pts], pts, f"pass@{ks[-1]}", color, f"{arm} pass@{ks[-1]}")
    ax.set_title("pass@1 and pass@max over training", fontsize=10)
    ax.set_xlabel("checkpoint (SFT: epochs x const; EI: round)")
    for ax in axes:
        ax.set_ylim(0, 1.02)
        ax.legend(frameon=False, fontsize=7)
    fig.tight_layout()
    return look.png(fig)


# -- tables ----------------------------------------------------------------------------------
def cell(row: dict, key: str) -> str:
    """A table cell: the mean, and the range over seeds when they differ."""
    v, lo, hi = row.get(key), row.get(f"{key}_min"), row.get(f"{key}_max")
    if isinstance(v, float) and lo is not None and hi is not None and hi - lo > 1e-9:
        return f"{v:.3f} [{lo:.3f}, {hi:.3f}]"
    return f"{v:.3f}" if isinstance(v, float) else ("-" if v is None else str(v))


def columns(rows: list[dict]) -> list[str]:
    """Every key of the rows but the ranges (shown inside their mean's cell)."""
    keys = list(dict.fromkeys(k for r in rows for k in r))
    return [k for k in keys if not (k.endswith(("_min", "_max")) and k.rsplit("_", 1)[0] in keys)]
