"""The bundle's report as a page a person reads: report.html and its plots/*.png.

render_report is pure: plain data in (the bundle's report.json, the bundle's file list,
utilization, spike rasters, a held-out evaluation), file bytes out. The same inputs give
the same bytes. engine.report.collect derives those inputs from an image, a chain and a
core map; a section whose data is absent is left out and the page says so.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import attrs
import numpy as np

from engine.evaluate import Evaluation, Rate

if TYPE_CHECKING:
    from engine.report.host_run import HostRun

# (label, (steps, n) spike counts, tick labels or None)
RasterRow = tuple[str, np.ndarray, tuple[str, ...] | None]


@attrs.frozen(eq=False)
class RasterPanel:
    title: str
    rows: tuple[RasterRow, ...]  # input first, readout last


@attrs.frozen(eq=False)
class HeldOut:
    evaluation: Evaluation
    description: str  # what the traces are and how they differ from the training data
    groups: tuple[tuple[str, Rate, Rate], ...] = ()  # (name, kernel detection, float detection) per subset


@attrs.frozen(eq=False)
class ReportInputs:
    report: Mapping[str, Any]  # the bundle's report.json
    bundle_files: tuple[tuple[str, int], ...] = ()  # (path in the bundle, bytes)
    resources: tuple[tuple[str, int, int], ...] = ()  # (what, used, allowed)
    cores: tuple[Mapping[str, Any], ...] = ()  # per core: core, x, y, neurons, synapses, input_sources, duty
    raster: tuple[RasterPanel, ...] = ()
    dt: float = 0.0
    held_out: HeldOut | None = None
    training: tuple[str, ...] = ()  # the model's training log, line by line
    host: HostRun | None = None  # the firmware compiled for the host on the held-out windows


def render_report(inputs: ReportInputs) -> dict[str, bytes]:
    from engine.report.html import render_html

    plots = _plots(inputs)
    return {"report.html": render_html(inputs, sorted(plots)).encode("utf-8"), **plots}


def _plots(inputs: ReportInputs) -> dict[str, bytes]:
    from engine.report import plots

    out: dict[str, bytes] = {}
    power = (inputs.report.get("resolve") or {}).get("power")
    if power and power.get("consumers"):
        out["plots/power.png"] = plots.power_png(power["consumers"], power["total_uA"], power.get("life_years"),
                                                 power.get("required_years"))
    if inputs.resources:
        out["plots/cores.png"] = plots.utilization_png(inputs.resources)
    if inputs.raster:
        out["plots/raster.png"] = plots.raster_png(inputs.raster, inputs.dt)
    if inputs.held_out is not None:
        e = inputs.held_out.evaluation
        out["plots/confusion.png"] = plots.confusion_png(
            [("kernel (the image)", e.kernel.confusion), ("float reference", e.float.confusion)], e.classes)
    return out
