"""What the quality report (`report.py`) and the experiment page (`experiment_report.py`) share:
their colours, matplotlib settings, jinja2 environment and figure helpers.

Plots are drawn on matplotlib `Figure`s (no pyplot, no global backend) and inlined as PNG data
URIs, so a page needs no file beside it. The environment has autoescape on: every value from the
data is escaped by the template, not by hand.
"""

from __future__ import annotations

import base64
import io

import jinja2
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

BLUE, GREEN, RED, GREY = "#3b6ea8", "#4a9a5b", "#c0504d", "#8c8c8c"
RC = {"text.usetex": False}  # the matplotlib settings every plot is drawn under (`rc_context(RC)`)
ENV = jinja2.Environment(loader=jinja2.PackageLoader("synthloop.warehouse", "templates"),
                         autoescape=True, undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True)


def png(fig: Figure) -> str:
    """`fig` as a `data:image/png;base64,...` URI."""
    buf = io.BytesIO()
    FigureCanvasAgg(fig)  # attaches itself to the figure: savefig then needs no pyplot
    fig.savefig(buf, format="png", dpi=100, bbox_inches="tight")
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode()


def figure(w=5.6, h=3.0, ncols=1):
    """A new figure and its axes (one, or a row of `ncols`): no top/right spines, a light y grid."""
    fig = Figure(figsize=(w, h))
    axes = fig.subplots(1, ncols, squeeze=False)[0]
    for ax in axes:
        ax.spines[["top", "right"]].set_visible(False)
        ax.grid(axis="y", alpha=0.3)
    return fig, axes if ncols > 1 else axes[0]
