"""Rules the schema cannot express: catalog look-ups, referenced files, the signal chain's
sample rates, and cross-field consistency. Each rule reports at the value it is about."""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator
from typing import Any

from engine.catalog import KIND_SINGULAR, Catalog
from engine.diagnostics import Diagnostic
from engine.spec.document import (
    SpecDocument,
    display_name,
    is_file,
    path_problem,
    root_hint,
    stage_id,
)
from engine.spec.schema_source import STAGE_KINDS
from engine.spec.units import UnitError, parse_quantity

Rule = Callable[[SpecDocument, Catalog], Iterator[Diagnostic]]

PART_FIELDS = (
    ("/sensor/part", "sensors"),
    ("/target/chip", "chips"),
    ("/target/mcu", "mcus"),
    ("/power/battery/cell", "cells"),
    ("/power/radio/part", "radios"),
)


def get(data: Any, pointer: str) -> Any:
    node = data
    for token in pointer.split("/")[1:]:
        if isinstance(node, dict):
            node = node.get(token)
        elif isinstance(node, list) and token.isdigit() and int(token) < len(node):
            node = node[int(token)]
        else:
            return None
    return node


def quantity(doc: SpecDocument, pointer: str, dimension: str) -> float | None:
    """The SI value at `pointer`, or None when absent or malformed (the schema reports that)."""
    try:
        return parse_quantity(get(doc.data, pointer), dimension)
    except UnitError:
        return None


def check_parts(doc: SpecDocument, catalog: Catalog) -> Iterator[Diagnostic]:
    for pointer, kind in PART_FIELDS:
        value = get(doc.data, pointer)
        if not isinstance(value, str) or catalog.get(kind, value) is not None:
            continue
        near = catalog.suggest(kind, value)
        hint = f"did you mean '{near}'?" if near else f"known {kind}: {', '.join(catalog.ids(kind))}"
        label = pointer[1:].replace("/", ".")
        yield doc.at(pointer, "NM210", f"{label}: unknown {KIND_SINGULAR[kind]} '{value}'", hint=hint)


def check_files(doc: SpecDocument, catalog: Catalog) -> Iterator[Diagnostic]:
    pointers = ["/model/source"]
    stimuli = get(doc.data, "/verify/stimuli")
    if isinstance(stimuli, list):
        pointers += [f"/verify/stimuli/{i}" for i in range(len(stimuli))]
    for pointer in pointers:
        value = get(doc.data, pointer)
        if not isinstance(value, str) or not value:
            continue
        label = _label(pointer)
        too_long = path_problem(value)
        if too_long:
            yield doc.at(pointer, "NM212", f"{label}: the path {too_long}", hint="paths are relative to the file that declares them")
            continue
        target = doc.resolve_path(pointer, value)
        try:
            target.relative_to(doc.root)
        except ValueError:
            yield doc.at(pointer, "NM211", f"{label}: '{value}' is outside the spec repository ({display_name(doc.root) or '.'})",
                         hint=root_hint(doc.root, target))
            continue
        if not is_file(target):
            try:
                near = sorted(p.name for p in target.parent.glob(f"*{target.suffix}") if p.is_file()) if target.parent.is_dir() else []
            except OSError:
                near = []
            where = display_name(target.parent) or "."
            found = f"; {where} holds {', '.join(near[:5])}" if near else ""
            yield doc.at(pointer, "NM212", f"{label}: file '{value}' does not exist",
                         hint=f"paths are relative to the file that declares them (looked in {where}){found}")


def check_sensor(doc: SpecDocument, catalog: Catalog) -> Iterator[Diagnostic]:
    part_id = get(doc.data, "/sensor/part")
    part = catalog.get("sensors", part_id) if isinstance(part_id, str) else None
    if part is None:
        return
    odr = quantity(doc, "/sensor/odr", "frequency")
    low, high = part.figure("odr_min").si(), part.figure("odr_max").si()
    if odr is not None and low is not None and high is not None and not (low * 0.999 <= odr <= high * 1.001):
        span = f"{part.figure('odr_min').describe()}" if low == high else f"{part.figure('odr_min').describe()} to {part.figure('odr_max').describe()}"
        yield doc.at("/sensor/odr", "NM213", f"sensor.odr: {get(doc.data, '/sensor/odr')} is outside what the {part.id} supports ({span})",
                     hint=f"choose an odr the {part.id} supports, at most {part.figure('odr_max').describe()}")
    full_scale = quantity(doc, "/sensor/range", "acceleration")
    ranges = part.figure("ranges")
    if full_scale is not None:
        if part.attribute("type") != "accelerometer":
            yield doc.at("/sensor/range", "NM214", f"sensor.range: the {part.id} is a {part.attribute('type')}; range applies to accelerometers",
                         hint="remove sensor.range")
        elif ranges.value is not None and not any(abs(full_scale - r) < 1e-9 for r in ranges.si()):
            options = ", ".join(f"{v}{ranges.unit}" for v in ranges.value)
            yield doc.at("/sensor/range", "NM214", f"sensor.range: the {part.id} has no {get(doc.data, '/sensor/range')} range",
                         hint=f"choose one of {options}")
    axes = get(doc.data, "/sensor/axes")
    count = part.figure("axes").value
    if isinstance(axes, list) and count is not None and len(axes) > count:
        yield doc.at("/sensor/axes", "NM215", f"sensor.axes: the {part.id} has {count} ax{'is' if count == 1 else 'es'}, {len(axes)} were asked for")


def _label(pointer: str) -> str:
    from engine.spec.yamlread import dotted

    return dotted(pointer)


def check_stages(doc: SpecDocument, catalog: Catalog) -> Iterator[Diagnostic]:
    stages = get(doc.data, "/preprocessing")
    if not isinstance(stages, list):
        return
    seen: dict[str, int] = {}
    encoders = []
    rate = quantity(doc, "/sensor/odr", "frequency")
    rate_text = get(doc.data, "/sensor/odr")
    decimated = 1
    lowpass_cutoff: float | None = None
    lowpass_at: int | None = None
    for index, stage in enumerate(stages):
        pointer = f"/preprocessing/{index}"
        if not isinstance(stage, dict):
            continue
        kinds = [k for k in stage if k in STAGE_KINDS]
        if "$delete" in stage:
            named = [stage_id(other) for other in stages if isinstance(other, dict) and "$delete" not in other]
            yield doc.at(pointer, "NM220", f"preprocessing[{index}]: '$delete' only removes a stage inherited from a base; no stage '{stage['$delete']}' was inherited",
                         hint=f"remove this item, or name one of the stages there are: {', '.join(n for n in named if n)}")
            continue
        placed = [k for k in ("insert_after", "insert_before") if k in stage]
        if placed:
            named = [stage_id(other) for other in stages if isinstance(other, dict) and "$delete" not in other]
            yield doc.at(f"{pointer}/{placed[0]}", "NM220",
                         f"preprocessing[{index}].{placed[0]}: no stage '{stage[placed[0]]}' was inherited to place this "
                         "stage by" + (" (give only one of insert_after, insert_before)" if len(placed) > 1 else ""),
                         hint="name an inherited stage: " + ", ".join(n for n in named if n and n != stage_id(stage))
                              + "; in a spec without extends, list the stages in their order instead")
            continue
        if not kinds and any(k not in ("id", "$delete", "insert_after", "insert_before") for k in stage):
            continue  # an unknown key: the schema check names it with a did-you-mean
        if len(kinds) != 1:
            text = "no stage kind" if not kinds else f"{len(kinds)} stage kinds ({', '.join(kinds)})"
            yield doc.at(pointer, "NM220", f"preprocessing[{index}]: has {text}; each item is one stage",
                         hint=f"write one of: {', '.join(STAGE_KINDS)}")
            continue
        kind = kinds[0]
        params = stage[kind] if isinstance(stage[kind], dict) else {}
        name = stage_id(stage) or kind
        if name in seen:
            yield doc.at(pointer, "NM221", f"preprocessing[{index}]: stage id '{name}' is used twice (first at preprocessing[{seen[name]}])",
                         hint="give one of them its own id (id: ...) so overlays can address each stage")
        seen.setdefault(name, index)
        if kind == "encode":
            encoders.append(index)
        if rate is None:
            continue
        nyquist = rate / decimated / 2
        where = f"{rate_text}" + (f" decimated by {decimated}" if decimated > 1 else "")

        above = functools.partial(_above_nyquist, doc, pointer, kind, index, nyquist, where)

        if kind == "notch":
            freq = quantity(doc, f"{pointer}/notch/freq", "frequency") or quantity(doc, "/environment/mains", "frequency") or 50.0
            harmonics = params.get("harmonics", 1) if isinstance(params.get("harmonics", 1), int) else 1
            for h in range(1, harmonics + 1):
                if freq * h >= nyquist:
                    param = "harmonics" if h > 1 else ("freq" if "freq" in params else "harmonics")
                    what = f"harmonic {h} ({_hz(freq * h)})" if h > 1 else f"{_hz(freq)}"
                    fix = (f"harmonics: {h - 1} keeps every notched harmonic below {_hz(nyquist)}" if h > 1
                           else None)
                    yield above(param if param in params else "freq", freq * h, what, fix)
                    break
        elif kind in ("lowpass", "highpass", "dc_block", "envelope"):
            cutoff = quantity(doc, f"{pointer}/{kind}/cutoff", "frequency")
            if cutoff is not None and cutoff >= nyquist:
                yield above("cutoff", cutoff, _hz(cutoff))
            if kind == "lowpass" and cutoff is not None:
                if lowpass_cutoff is None or cutoff < lowpass_cutoff:
                    lowpass_at = index
                lowpass_cutoff = cutoff if lowpass_cutoff is None else min(lowpass_cutoff, cutoff)
        elif kind == "decimate" and isinstance(params.get("factor"), int):
            factor = params["factor"]
            new_nyquist = rate / (decimated * factor) / 2
            has_fir = isinstance(params.get("taps"), int) and params["taps"] > 0
            if not has_fir and (lowpass_cutoff is None or lowpass_cutoff > new_nyquist * 1.0001):
                found = f"the nearest low-pass is at {_hz(lowpass_cutoff)}" if lowpass_cutoff else "no low-pass precedes it"
                wanted = _hz(new_nyquist * 0.8)
                if lowpass_at is not None:  # a low-pass exists: lower it rather than add a second one
                    hint = (f"lower preprocessing[{lowpass_at}].lowpass.cutoff to {wanted} (below the new Nyquist "
                            f"frequency {_hz(new_nyquist)}), or give decimate an FIR (taps: 31)")
                else:
                    hint = (f"add '- lowpass: {{cutoff: {wanted}}}' before it, or give decimate an FIR (taps: 31)")
                yield doc.at(f"{pointer}/decimate/factor", "NM224",
                             f"preprocessing[{index}].decimate: frequencies above {_hz(new_nyquist)} will alias ({found})",
                             hint=hint, severity="warning")
            decimated *= factor
            lowpass_cutoff = lowpass_at = None
        elif kind == "band_energy":
            fmax = quantity(doc, f"{pointer}/band_energy/fmax", "frequency")
            fmin = quantity(doc, f"{pointer}/band_energy/fmin", "frequency") or 0.0
            if fmax is not None and fmax > nyquist * 1.0001:
                yield above("fmax", fmax, _hz(fmax))
            top = fmax if fmax is not None else nyquist
            if fmin >= top:
                yield doc.at(f"{pointer}/band_energy/fmin", "NM225", f"preprocessing[{index}].band_energy.fmin: {_hz(fmin)} is not below fmax ({_hz(top)})")
            fft = params.get("fft", 256)
            bands = params.get("bands")
            if isinstance(fft, int) and isinstance(bands, int) and bands > fft // 2:
                yield doc.at(f"{pointer}/band_energy/bands", "NM225",
                             f"preprocessing[{index}].band_energy.bands: {bands} bands need more than the {fft // 2} bins of a {fft}-point FFT")
    if not encoders:
        yield doc.at("/preprocessing", "NM222", "preprocessing: no encode stage; the chain must end with the spike encoder",
                     hint="add '- encode: {kind: delta, threshold: 0.05}' as the last stage")
    elif encoders[-1] != _last_stage(stages) or len(encoders) > 1:
        index = encoders[0] if len(encoders) > 1 else encoders[-1]
        yield doc.at(f"/preprocessing/{index}", "NM222", "preprocessing: the encode stage must be the last stage, and the only one",
                     hint="move the encode stage to the end of preprocessing" if len(encoders) == 1 else "keep one encode stage, the last")


def _above_nyquist(doc: SpecDocument, pointer: str, kind: str, index: int, nyquist: float, where: str,
                   param: str, value: float, what: str, hint: str | None = None) -> Diagnostic:
    return doc.at(f"{pointer}/{kind}/{param}", "NM223",
                  f"preprocessing[{index}].{kind}.{param}: {what} is at or above the Nyquist frequency {_hz(nyquist)} at this point of the chain (sensor {where})",
                  hint=hint or f"choose a {param} below {_hz(nyquist)}")


def _last_stage(stages: list[Any]) -> int:
    real = [i for i, stage in enumerate(stages) if not (isinstance(stage, dict) and "$delete" in stage)]
    return real[-1] if real else -1


def _hz(value: float | None) -> str:
    if value is None:
        return "?"
    if value >= 1000:
        return f"{value / 1000:g}kHz"
    return f"{value:g}Hz"


def check_ranges(doc: SpecDocument, catalog: Catalog) -> Iterator[Diagnostic]:
    low = quantity(doc, "/environment/temperature/0", "temperature")
    high = quantity(doc, "/environment/temperature/1", "temperature")
    if low is not None and high is not None and low >= high:
        yield doc.at("/environment/temperature", "NM230", "environment.temperature: the minimum must be below the maximum",
                     hint="write [min, max], e.g. [-20C, 85C]")
    interval = quantity(doc, "/runtime/schedule/interval", "time")
    window = quantity(doc, "/runtime/schedule/window", "time")
    if interval is not None and window is not None and window > interval:
        yield doc.at("/runtime/schedule/window", "NM231",
                     f"runtime.schedule.window: {get(doc.data, '/runtime/schedule/window')} is longer than the interval {get(doc.data, '/runtime/schedule/interval')}",
                     hint=f"shorten the window to at most {get(doc.data, '/runtime/schedule/interval')}, or lengthen runtime.schedule.interval")
    frame = quantity(doc, "/runtime/frame", "time")
    dt = frame if frame is not None else quantity(doc, "/model/dt", "time")
    if window is not None and dt is not None and window < dt:
        step = "runtime.frame" if frame is not None else "model.dt"
        yield doc.at("/runtime/schedule/window", "NM231", f"runtime.schedule.window: shorter than one model step ({step})")
    latency = quantity(doc, "/alerts/max_latency", "time")
    if latency is not None and interval is not None and latency < interval:
        yield doc.at("/alerts/max_latency", "NM232",
                     f"alerts.max_latency: {get(doc.data, '/alerts/max_latency')} is shorter than the measurement interval {get(doc.data, '/runtime/schedule/interval')}",
                     hint="an anomaly may be detected up to one interval after it starts")


def check_site_name(doc: SpecDocument, catalog: Catalog) -> Iterator[Diagnostic]:
    site = get(doc.data, "/metadata/site")
    if isinstance(site, str) and any(part in ("", ".", "..") for part in site.split("/")):
        yield doc.at("/metadata/site", "NM240", f"metadata.site: '{site}' has an empty, '.' or '..' segment",
                     hint="site names become folder names in the build; write them like plant-7/compressor-3")


RULES: tuple[Rule, ...] = (check_parts, check_files, check_sensor, check_stages, check_ranges, check_site_name)


def check_semantics(doc: SpecDocument, catalog: Catalog) -> list[Diagnostic]:
    out: list[Diagnostic] = []
    for rule in RULES:
        out.extend(rule(doc, catalog))
    return out
