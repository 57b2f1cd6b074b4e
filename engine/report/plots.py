"""The report's figures as PNG bytes: matplotlib's object API on the Agg canvas (no pyplot
state, no display), matplotlib's default style whatever the user's matplotlibrc says, and
no Software/date metadata, so the same data gives the same bytes."""

from __future__ import annotations

import functools
import io
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, ParamSpec

import numpy as np

if TYPE_CHECKING:
    from matplotlib.figure import Figure
    from matplotlib.typing import RcKeyType

    from engine.report import RasterPanel

P = ParamSpec("P")

DPI = 100
INK, MUTED, ACCENT, WARN = "#1f2933", "#7b8794", "#2f6fbd", "#c2410c"


STYLE: dict[RcKeyType, Any] = {"font.family": "DejaVu Sans", "font.size": 9, "axes.edgecolor": MUTED, "axes.labelcolor": INK,
         "xtick.color": INK, "ytick.color": INK, "path.simplify": False}


def styled(draw: Callable[P, bytes]) -> Callable[P, bytes]:
    """Run a figure function, drawing and saving, under the fixed style."""

    @functools.wraps(draw)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> bytes:
        import matplotlib
        import matplotlib.style

        with matplotlib.style.context("default"), matplotlib.rc_context(STYLE):
            return draw(*args, **kwargs)

    return wrapper


def _figure(width: float, height: float) -> Figure:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(width, height), dpi=DPI)
    FigureCanvasAgg(figure)
    return figure


def _png(figure: Figure) -> bytes:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=DPI, metadata={"Software": None})
    return buffer.getvalue()


@styled
def power_png(consumers: Sequence[Mapping[str, Any]], total_ua: float, life_years: float | None, required_years: float | None) -> bytes:
    """Average current per consumer, largest first."""
    rows = sorted(consumers, key=lambda c: (-c["uA"], c["name"]))
    figure = _figure(6.4, 0.45 * len(rows) + 1.1)
    ax = figure.add_subplot(1, 1, 1)
    names = [f"{c['name']} ({c['part']})" for c in rows]
    values = [c["uA"] for c in rows]
    y = np.arange(len(rows))[::-1]
    ax.barh(y, values, color=ACCENT, height=0.6)
    for yi, c in zip(y, rows, strict=True):
        ax.text(c["uA"], yi, f"  {c['uA']:.2f} uA ({c['share']:.0%})", va="center", color=INK)
    ax.set_yticks(y, names)
    ax.set_xlim(0, max(values) * 1.45 if values else 1)
    ax.set_xlabel("average current (uA)")
    life = "" if life_years is None else f"; battery life {life_years:.1f} y"
    if life and required_years is not None:
        life += f" (required {required_years:g} y)"
    ax.set_title(f"power: {total_ua:.2f} uA in total{life}", loc="left", color=INK)
    ax.spines[["top", "right"]].set_visible(False)
    figure.tight_layout()
    return _png(figure)


@styled
def utilization_png(resources: Sequence[tuple[str, int, int]]) -> bytes:
    """(name, used, allowed) as a fraction of the allowed, one bar each."""
    figure = _figure(6.4, 0.4 * len(resources) + 1.1)
    ax = figure.add_subplot(1, 1, 1)
    y = np.arange(len(resources))[::-1]
    fractions = [used / allowed for _, used, allowed in resources]
    colours = [WARN if f > 0.9 else ACCENT for f in fractions]
    ax.barh(y, fractions, color=colours, height=0.6)
    for yi, (_, used, allowed), f in zip(y, resources, fractions, strict=True):
        ax.text(min(f, 1.0), yi, f"  {used} of {allowed}", va="center", color=INK)
    ax.set_yticks(y, [name for name, _, _ in resources])
    ax.set_xlim(0, 1.35)
    ax.set_xticks([0, 0.25, 0.5, 0.75, 1.0], ["0", "25%", "50%", "75%", "100%"])
    ax.axvline(1.0, color=MUTED, linewidth=0.8, linestyle="--")
    ax.set_title("core utilization: used of what the chip allows", loc="left", color=INK)
    ax.spines[["top", "right"]].set_visible(False)
    figure.tight_layout()
    return _png(figure)


@styled
def raster_png(panels: Sequence[RasterPanel], dt: float) -> bytes:
    """One column per window, one row per layer (input channels first, the readout last)."""
    from matplotlib.ticker import MaxNLocator

    layers = len(panels[0].rows)
    figure = _figure(4.2 * len(panels) + 0.6, 2.1 * layers + 0.4)
    heights = [max(np.asarray(counts).shape[1], 4) ** 0.6 for _, counts, _ in panels[0].rows]
    grid = figure.add_gridspec(layers, len(panels), height_ratios=heights)
    for column, panel in enumerate(panels):
        for row, (label, counts, ticks) in enumerate(panel.rows):
            ax = figure.add_subplot(grid[row, column])
            counts = np.asarray(counts)
            steps, cells = np.nonzero(counts)
            last = row == layers - 1
            ax.scatter(steps * dt, cells, s=4 + 3 * counts[steps, cells], marker="|", linewidths=0.8,
                       color=WARN if last else INK)
            ax.set_xlim(0, counts.shape[0] * dt)
            ax.set_ylim(-0.5, counts.shape[1] - 0.5)
            if ticks is not None:
                ax.set_yticks(range(len(ticks)), ticks if column == 0 else [""] * len(ticks))
            else:
                ax.yaxis.set_major_locator(MaxNLocator(integer=True))
            if last:
                ax.set_xlabel("time in window (s)")
            else:
                ax.set_xticks([])
            if column == 0 and ticks is None:
                ax.set_ylabel(label)
            if row == 0:
                ax.set_title(panel.title, loc="left", color=INK)
            ax.spines[["top", "right"]].set_visible(False)
    figure.tight_layout()
    return _png(figure)


@styled
def confusion_png(matrices: Sequence[tuple[str, Sequence[Sequence[int]]]], classes: Sequence[str]) -> bytes:
    """Window counts, true class down, predicted class across; one matrix per model."""
    figure = _figure(3.3 * len(matrices) + 0.4, 3.4)
    for i, (title, matrix) in enumerate(matrices):
        ax = figure.add_subplot(1, len(matrices), i + 1)
        m = np.asarray(matrix, dtype=float)
        share = m / np.maximum(m.sum(axis=1, keepdims=True), 1)
        ax.imshow(share, cmap="Blues", vmin=0, vmax=1, interpolation="nearest")
        for (r, c), value in np.ndenumerate(np.asarray(matrix)):
            ax.text(c, r, str(value), ha="center", va="center", color="white" if share[r, c] > 0.6 else INK)
        ax.set_xticks(range(len(classes)), classes, rotation=30, ha="right")
        ax.set_yticks(range(len(classes)), classes if i == 0 else [""] * len(classes))
        ax.set_xlabel("predicted")
        if i == 0:
            ax.set_ylabel("true")
        ax.set_title(title, loc="left", color=INK)
    figure.tight_layout()
    return _png(figure)
