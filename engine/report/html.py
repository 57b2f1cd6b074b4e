"""report.html from the report inputs: a Jinja template with autoescaping, so every string
from a spec (site names, part names, notes) reaches the page escaped."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import jinja2

from engine.evaluate import Rate

if TYPE_CHECKING:
    from engine.report import ReportInputs

# How the verification summary's keys read on the page; keys not listed keep their own name.
VERIFICATION_LABELS = {
    "verdict": "verdict",
    "fidelity": "target fidelity",
    "passed": "verification passed",
    "agreement": "kernel vs float model: same class",
    "min_agreement": "required agreement",
    "windows": "stimulus windows",
    "steps": "model steps run",
    "kernel_accuracy": "kernel accuracy",
    "float_accuracy": "float model accuracy",
    "detection_rate": "kernel detection rate",
    "false_alarm_rate": "kernel false-alarm rate",
    "float_detection_rate": "float detection rate",
    "float_false_alarm_rate": "float false-alarm rate",
    "spike_count_correlation": "spike-count correlation per output",
    "readout": "readout (membrane: the class is the output whose membrane peaks highest, the correlation is of the peaks)",
    "deterministic": "two kernel runs identical",
    "synaptic_ops": "synaptic events",
    "image_bytes": "image size (bytes)",
    "cycles.model": "cycle model",
    "cycles.peak_per_step": "cycles per step, busiest core: peak",
    "cycles.mean_per_step": "cycles per step, busiest core: mean",
    "cycles.peak_latency_s": "latency per step: peak",
    "cycles.mean_latency_s": "latency per step: mean",
    "cycles.clock_hz": "chip clock",
    "cycles.min_clock_hz": "lowest real-time clock",
    "cycles.worst_case_clock_hz": "worst-case real-time clock with margin",
    "cycles.real_time": "keeps up in real time",
    "cycles.energy_per_window_j": "energy per window",
    "power.inference_uW": "inference power from the kernel's counts (uW)",
    "power.estimate_inference_uW": "inference power estimated by resolve (uW)",
    "power.within_budget": "within the power budget",
    "power.life_years": "battery life from the kernel's counts (years)",
}
FRACTIONS = {"agreement", "min_agreement", "kernel_accuracy", "float_accuracy", "detection_rate", "false_alarm_rate",
             "float_detection_rate", "float_false_alarm_rate"}


def percent(value: float | None, digits: int = 1) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    return f"{100 * value:.{digits}f}%"


def interval(rate: Rate) -> str:
    low, high = rate.interval()
    if math.isnan(low):
        return "-"
    return f"{100 * low:.1f}-{100 * high:.1f}%"


def plain(value: Any) -> str:
    """A figure as text: booleans as yes/no, floats to 4 significant digits, lists joined."""
    if value is None:
        return "unknown"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, int):
        return f"{value:,}".replace(",", " ")
    if isinstance(value, (list, tuple)):
        return ", ".join(plain(v) for v in value)
    return str(value)


def flatten(data: Mapping[str, Any], prefix: str = "") -> list[tuple[str, Any]]:
    """Nested mappings as (dotted key, value) rows, keys sorted."""
    rows = []
    for key in sorted(data):
        value = data[key]
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            rows += flatten(value, name + ".")
        else:
            rows.append((name, value))
    return rows


def with_unit(key: str, value: Any) -> str:
    """Fractions as percentages; SI suffixes in the key (_s, _hz, _j) as engineering units."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return plain(value)
    if key in FRACTIONS:
        return percent(value)
    for suffix, units in (("_s", ((1, "s"), (1e-3, "ms"), (1e-6, "us"))), ("_hz", ((1e6, "MHz"), (1e3, "kHz"), (1, "Hz"))),
                          ("_j", ((1, "J"), (1e-3, "mJ"), (1e-6, "uJ"), (1e-9, "nJ")))):
        if key.endswith(suffix):
            scale, unit = next(((f, u) for f, u in units if abs(value) >= f), units[-1])
            return f"{value / scale:.4g} {unit}"
    return plain(value)


_UNIT_SUFFIXES = ("_uW", "_uA", "_V", "_Ah", "_hz", "_j", "_s")


def readable(key: str) -> str:
    """A dotted report key as words: 'cycles.dynamic_energy_j' -> 'cycles: dynamic energy'
    (the value carries the unit)."""
    parts = key.split(".")
    last = parts[-1]
    for suffix in _UNIT_SUFFIXES:
        if last.endswith(suffix) and len(last) > len(suffix):
            last = last[: -len(suffix)]
            break
    words = [p.replace("_", " ") for p in (*parts[:-1], last)]
    return ": ".join(words)


def verification_rows(verification: Mapping[str, Any]) -> list[tuple[str, str]]:
    """The labelled figures in VERIFICATION_LABELS order, then every other figure by key."""
    order = {key: i for i, key in enumerate(VERIFICATION_LABELS)}
    rows = sorted(flatten(verification), key=lambda kv: (order.get(kv[0], len(order)), kv[0]))
    out = []
    for key, value in rows:
        label = VERIFICATION_LABELS.get(key, readable(key))
        out.append((label, with_unit(key, value)))
    return out


def _environment() -> jinja2.Environment:
    # the template sits beside this module, where the package data rule ("*.j2") ships it
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(str(Path(__file__).parent)),
                             autoescape=True, undefined=jinja2.StrictUndefined, keep_trailing_newline=True,
                             trim_blocks=True, lstrip_blocks=True)
    env.filters.update(percent=percent, interval=interval, plain=plain)
    return env


def render_html(inputs: ReportInputs, plots: Sequence[str]) -> str:
    report = inputs.report
    resolve = report.get("resolve") or {}
    held_out = inputs.held_out
    return _environment().get_template("report.html.j2").render(
        report=report, power=resolve.get("power"), fit=resolve.get("fit"), safety=resolve.get("safety"),
        mapping=report.get("mapping"), verification=report.get("verification"),
        verification_rows=verification_rows({k: v for k, v in (report.get("verification") or {}).items()
                                             if k != "temperature"}),
        temperature=(report.get("verification") or {}).get("temperature"),
        cores=inputs.cores, bundle_files=inputs.bundle_files, plots=set(plots), held_out=held_out,
        evaluation=held_out.evaluation if held_out else None, training=inputs.training, raster=inputs.raster,
        host=inputs.host, firmware_rows=[(readable(key), with_unit(key, value))
                                         for key, value in flatten(report.get("firmware") or {})])
