"""Charts for the HTML report, drawn with matplotlib (Agg) and returned as inline SVG text.

Every function takes small aggregate tables (never microdata) and returns an ``<svg>`` string
that needs no fonts, scripts or network: text is drawn as paths, ids are salted with a fixed
string and the metadata block (date, tool URLs) is dropped, so the same input gives the same
bytes.
"""

from __future__ import annotations

import io
import re

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import matplotlib.ticker  # noqa: E402
import numpy as np  # noqa: E402

#: Colour-blind-safe palette (Okabe & Ito 2008), used in this order everywhere.
PALETTE = ("#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#F0E442",
           "#000000")
INK = "#1f2933"
#: "path" draws text as outlines (no font needed to view); tests set "none" to read the text.
SVG_FONTTYPE = "path"
GRID = "#d9dee3"

_RC = {
    "svg.hashsalt": "miglink-report",
    "font.size": 9,
    "axes.titlesize": 10,
    "axes.titleweight": "bold",
    "axes.labelsize": 9,
    "axes.edgecolor": "#9aa5b1",
    "axes.labelcolor": INK,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.grid": True,
    "axes.axisbelow": True,
    "grid.color": GRID,
    "grid.linewidth": 0.6,
    "xtick.color": INK,
    "ytick.color": INK,
    "legend.frameon": False,
    "legend.fontsize": 8,
    "figure.dpi": 96,
}


def _svg(fig) -> str:
    """Serialise a figure to a bare, deterministic ``<svg>`` element and close it."""
    buf = io.StringIO()
    with matplotlib.rc_context({"svg.hashsalt": "miglink-report", "svg.fonttype": SVG_FONTTYPE}):
        fig.savefig(buf, format="svg", metadata={"Date": None})
    plt.close(fig)
    text = buf.getvalue()
    text = text[text.index("<svg"):]
    text = re.sub(r"<metadata>.*?</metadata>\s*", "", text, flags=re.S)
    # let the page size the chart: keep the viewBox, make width responsive
    text = re.sub(r'<svg([^>]*?) width="([\d.]+)pt" height="([\d.]+)pt"',
                  r'<svg\1 class="chart" style="max-width:\2pt"', text, count=1)
    return text


def _figure(width: float = 7.5, height: float = 3.2, ncols: int = 1, nrows: int = 1, **kw):
    with matplotlib.rc_context(_RC):
        fig, axes = plt.subplots(nrows, ncols, figsize=(width, height), squeeze=False,
                                 layout="constrained", **kw)
    return fig, axes


def histogram(edges, counts, *, xlabel: str, ylabel: str = "pairs", title: str = "",
              vline: float | None = None, vline_label: str = "", log: bool = False) -> str:
    """Bars of pre-binned counts (``edges`` has one more entry than ``counts``)."""
    with matplotlib.rc_context(_RC):
        fig, axes = _figure(7.5, 3.0)
        ax = axes[0, 0]
        edges = np.asarray(edges, dtype=float)
        counts = np.asarray(counts, dtype=float)
        ax.bar(edges[:-1], counts, width=np.diff(edges), align="edge", color=PALETTE[0],
               edgecolor="white", linewidth=0.4)
        if log:
            ax.set_yscale("symlog", linthresh=1)
        if vline is not None:
            ax.axvline(vline, color=PALETTE[5], linestyle="--", linewidth=1.2,
                       label=vline_label or None)
            if vline_label:
                ax.legend(loc="lower left", bbox_to_anchor=(0.0, 1.0))
        ax.set_xlabel(xlabel)
        ax.set_ylabel(ylabel)
        if title:
            ax.set_title(title, loc="left")
        return _svg(fig)


def bars(labels, values, *, xlabel: str = "", ylabel: str = "", title: str = "",
         horizontal: bool = False, color: str = PALETTE[0]) -> str:
    """A simple bar chart of one series."""
    with matplotlib.rc_context(_RC):
        n = len(labels)
        fig, axes = _figure(7.5, max(2.2, 0.28 * n + 0.8) if horizontal else 3.0)
        ax = axes[0, 0]
        pos = np.arange(n)
        if horizontal:
            ax.barh(pos, values, color=color)
            ax.set_yticks(pos, [str(x) for x in labels])
            ax.invert_yaxis()
            ax.grid(axis="y", visible=False)
        else:
            ax.bar(pos, values, color=color)
            ax.set_xticks(pos, [str(x) for x in labels])
            ax.grid(axis="x", visible=False)
        ax.set_xlabel(xlabel)
        ax.set_ylabel(ylabel)
        if title:
            ax.set_title(title, loc="left")
        return _svg(fig)


def grouped_bars(categories, series: dict, *, ylabel: str = "", title: str = "",
                 xlabel: str = "") -> str:
    """Bars of several series side by side per category (``series``: name -> values)."""
    with matplotlib.rc_context(_RC):
        fig, axes = _figure(7.5, 3.0)
        ax = axes[0, 0]
        k = max(len(series), 1)
        width = 0.8 / k
        pos = np.arange(len(categories))
        for i, (name, vals) in enumerate(series.items()):
            ax.bar(pos - 0.4 + width * (i + 0.5), vals, width=width, label=str(name),
                   color=PALETTE[i % len(PALETTE)])
        ax.set_xticks(pos, [str(c) for c in categories])
        ax.grid(axis="x", visible=False)
        ax.set_ylabel(ylabel)
        ax.set_xlabel(xlabel)
        if title:
            ax.set_title(title, loc="left")
        if len(series) > 1:
            ax.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0))
        return _svg(fig)


def small_multiples(panels: dict, *, ylabel: str = "", kind: str = "line",
                    ncols: int = 3) -> str:
    """One panel per key (e.g. per residence rule); each panel is ``{series: (x, y)}``.

    ``kind`` is ``line`` (stocks at reference dates) or ``bar`` (flows per year).
    Panels share the y axis so rules can be compared at a glance.
    """
    with matplotlib.rc_context(_RC):
        n = max(len(panels), 1)
        ncols = min(ncols, n)
        nrows = int(np.ceil(n / ncols))
        fig, axes = _figure(2.6 * ncols + 0.9, 2.5 * nrows + 0.3, ncols=ncols, nrows=nrows,
                            sharey=True)
        names = []
        for idx, (title, series) in enumerate(panels.items()):
            ax = axes[idx // ncols, idx % ncols]
            k = max(len(series), 1)
            for i, (name, (x, y)) in enumerate(series.items()):
                colour = PALETTE[i % len(PALETTE)]
                if kind == "bar":
                    xs = np.arange(len(x))
                    w = 0.8 / k
                    ax.bar(xs - 0.4 + w * (i + 0.5), y, width=w, color=colour, label=name)
                    ax.set_xticks(xs, [str(v) for v in x], rotation=45 if len(x) > 6 else 0)
                    ax.grid(axis="x", visible=False)
                else:
                    ax.plot(list(x), list(y), marker="o", markersize=3.5, linewidth=1.6,
                            color=colour, label=name)
                    if len(x) > 3:
                        ax.tick_params(axis="x", labelrotation=45)
                if name not in names:
                    names.append(name)
            ax.set_title(f"rule {title}", loc="left")
            if idx % ncols == 0:
                ax.set_ylabel(ylabel)
        for idx in range(len(panels), nrows * ncols):
            axes[idx // ncols, idx % ncols].set_visible(False)
        if len(names) > 1:
            handles, labels = axes[0, 0].get_legend_handles_labels()
            fig.legend(handles, labels, loc="outside lower center", ncol=min(len(names), 4))
        return _svg(fig)


def pyramid(age_groups, male: dict, female: dict, *, title: str = "",
            xlabel: str = "persons") -> str:
    """A population pyramid: males to the left, females to the right.

    ``male`` and ``female`` map a series name (native-born, foreign-born) to counts per age
    group, youngest first; the series are stacked outwards in the order given.
    """
    with matplotlib.rc_context(_RC):
        n = len(age_groups)
        fig, axes = _figure(7.5, max(3.0, 0.2 * n + 1.0))
        ax = axes[0, 0]
        pos = np.arange(n)
        left = np.zeros(n)
        right = np.zeros(n)
        for i, name in enumerate(male):
            m = np.asarray(male[name], dtype=float)
            f = np.asarray(female.get(name, np.zeros(n)), dtype=float)
            colour = PALETTE[i % len(PALETTE)]
            ax.barh(pos, -m, left=-left, color=colour, height=0.85, label=name)
            ax.barh(pos, f, left=right, color=colour, height=0.85)
            left += m
            right += f
        lim = max(left.max(initial=0), right.max(initial=0)) * 1.08 or 1
        ax.set_xlim(-lim, lim)
        ax.set_yticks(pos, [str(a) for a in age_groups])
        ax.grid(axis="y", visible=False)
        ax.axvline(0, color=INK, linewidth=0.6)
        ax.xaxis.set_major_locator(matplotlib.ticker.MaxNLocator(nbins=8, integer=True,
                                                                 symmetric=True))
        ax.xaxis.set_major_formatter(matplotlib.ticker.FuncFormatter(
            lambda t, _: f"{abs(t):,.0f}"))
        ax.set_xlim(-lim, lim)
        ax.set_xlabel(xlabel)
        ax.text(0.02, 0.98, "Males", transform=ax.transAxes, va="top", fontweight="bold")
        ax.text(0.98, 0.98, "Females", transform=ax.transAxes, va="top", ha="right",
                fontweight="bold")
        ax.legend(loc="lower right", bbox_to_anchor=(1.0, 0.0))
        if title:
            ax.set_title(title, loc="left")
        return _svg(fig)


def forest(labels, estimates, lows, highs, *, chosen: int | None = None,
           truth: float | None = None, xlabel: str = "estimated population size",
           title: str = "") -> str:
    """Point estimates with intervals, one row per model; ``chosen`` is drawn highlighted.

    Missing interval ends (NaN) draw the point alone.
    """
    with matplotlib.rc_context(_RC):
        n = len(labels)
        fig, axes = _figure(7.5, max(2.0, 0.3 * n + 1.0))
        ax = axes[0, 0]
        pos = np.arange(n)
        est = np.asarray(estimates, dtype=float)
        lo = np.asarray(lows, dtype=float)
        hi = np.asarray(highs, dtype=float)
        for i in range(n):
            hl = chosen is not None and i == chosen
            colour = PALETTE[5] if hl else PALETTE[0]
            if np.isfinite(lo[i]) and np.isfinite(hi[i]):
                ax.plot([lo[i], hi[i]], [i, i], color=colour, linewidth=2.4 if hl else 1.4,
                        solid_capstyle="butt")
            if np.isfinite(est[i]):
                ax.plot([est[i]], [i], marker="D" if hl else "o", markersize=7 if hl else 4.5,
                        color=colour, zorder=3)
        if truth is not None and np.isfinite(truth):
            ax.axvline(truth, color=PALETTE[2], linestyle="--", linewidth=1.2,
                       label="true size (synthetic truth)")
            ax.legend(loc="lower right", bbox_to_anchor=(1.0, 1.0))
        ax.set_yticks(pos, [str(x) for x in labels])
        for i, t in enumerate(ax.get_yticklabels()):
            if chosen is not None and i == chosen:
                t.set_fontweight("bold")
                t.set_color(PALETTE[5])
        ax.invert_yaxis()
        ax.grid(axis="y", visible=False)
        ax.set_xlabel(xlabel)
        if title:
            ax.set_title(title, loc="left")
        return _svg(fig)
