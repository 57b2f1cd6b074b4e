"""Resolve a validated spec into a deployment: the model imported and quantized for the
target, the fit against the target's limits, the power budget and battery life, the
safety policy, and the placement graph.

    deployment = resolve(doc, catalog)      # raises StageError with every problem found
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import attrs
import numpy as np

from engine import memo
from engine.catalog import Catalog, MissingFigure, Part
from engine.diagnostics import Diagnostic, StageError, has_errors
from engine.resolve.alerts import window_s as window_seconds
from engine.spec import SpecDocument, site_model
from engine.spec.model import SiteSpec

if TYPE_CHECKING:
    import networkx as nx

    from engine.dsp.chain import Chain
    from engine.netlist import QuantNetwork
    from engine.resolve.fit import FitReport
    from engine.resolve.floatnet import FloatNet
    from engine.resolve.power import Activity, PowerReport
    from engine.resolve.quantize import QuantizeResult
    from engine.resolve.safety import SafetyFinding
    from engine.resolve.stimuli import SensorSetting, Stimuli

PART_POINTERS = {"chips": "/target/chip", "mcus": "/target/mcu", "sensors": "/sensor/part",
                 "radios": "/power/radio/part", "cells": "/power/battery/cell"}


@attrs.frozen(eq=False)
class Deployment:
    spec: SiteSpec  # the merged spec, typed, in SI units, defaults applied
    chain: Chain
    float_model: FloatNet
    quantized: QuantizeResult
    stimuli: Stimuli | None
    nominal_spikes: np.ndarray | None  # chain output for the nominal windows (calibration)
    fit: FitReport
    power: PowerReport | None  # None when a figure is missing
    safety: tuple[SafetyFinding, ...]
    graph: nx.DiGraph[str]
    activity: Activity
    warnings: tuple[Diagnostic, ...] = ()
    problems: tuple[Diagnostic, ...] = ()  # only when resolved with strict=False
    stimulus_spikes: np.ndarray | None = None  # the chain's spike counts for every stimulus window
    fidelity: str = "stand-in"  # how true the kernel is to the target (engine.catalog.FIDELITY_LEVELS)

    @property
    def network(self) -> QuantNetwork:
        return self.quantized.network

    def report(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "fidelity": self.fidelity,
            "fit": {"verdict": self.fit.verdict, "reason": self.fit.reason(),
                    "limits": [{"name": lim.name, "used": lim.used, "allowed": lim.allowed} for lim in self.fit.limits]},
            "safety": {"class": self.spec.safety.class_,
                       "findings": [attrs.asdict(f) for f in self.safety]},
        }
        if self.power is not None:
            p = self.power
            out["power"] = {
                "consumers": [{"name": n, "part": part, "uA": round(ua, 4), "uW": round(ua * p.voltage_v, 4),
                               "share": round(share, 4)} for n, part, ua, share in p.rows()],
                "details": {c.name: c.detail for c in p.consumers},
                # every current is drawn from the cell at its nominal voltage: uW = uA x V
                "load_uA": round(p.total_current_a * 1e6, 4),
                "load_uW": round(p.total_power_w * 1e6, 3),
                "self_discharge_uA": round(p.self_discharge_a * 1e6, 4),
                "total_uA": round(p.drain_current_a * 1e6, 4),
                "total_uW": round(p.drain_current_a * p.voltage_v * 1e6, 3),
                "budget_covers": BUDGET_COVERS,
                "inference_uW": round(p.inference_power_w * 1e6, 3),
                "budget_uW": None if p.budget_w is None else round(p.budget_w * 1e6, 3),
                "voltage_V": p.voltage_v, "usable_Ah": round(p.capacity_ah, 4),
                "life_years": round(p.life_years, 3), "required_years": round(p.required_years, 3),
            }
            if p.temperature is not None:
                t = p.temperature
                out["power"]["temperature"] = {
                    "rule": "worst band" if t.site_k is not None else "room temperature (no environment.temperature)",
                    "site_C": None if t.site_k is None else [round(k - 273.15, 3) for k in t.site_k],
                    "capacity_factor": round(t.capacity_factor, 4),
                    "self_discharge_per_year": round(t.self_discharge_per_year, 6),
                    "notes": list(t.notes), "derating": t.describe()}
            if p.uncapped_life_years is not None:
                out["power"]["life_note"] = (f"capped at the cell's {p.life_cap_years:g}-year service life (its charge "
                                             f"alone would last {p.uncapped_life_years:.1f} years)")
        return out


def _activity(spec: SiteSpec, chain: Chain, float_model: FloatNet,
              nominal_spikes: np.ndarray | None) -> tuple[Activity, dict[str, np.ndarray], float]:
    from engine.resolve.floatnet import simulate
    from engine.resolve.power import Activity, dsp_cycles_per_window

    # without a schedule the node is taken to wake once per window
    window_s = window_seconds(spec)
    interval_s = spec.runtime.schedule.interval if spec.runtime.schedule is not None else window_s
    steps = max(1, round(window_s / chain.dt))
    rates: dict[str, np.ndarray] = {}
    ops = 0.0
    input_rate = 0.0
    if nominal_spikes is not None and len(nominal_spikes):
        out = memo.call("float.simulate", (float_model, nominal_spikes), lambda: simulate(float_model, nominal_spikes))
        windows, frames = nominal_spikes.shape[:2]
        seconds = windows * frames * chain.dt
        for pop in float_model.populations:
            # a membrane readout's output is its membrane: it sends no spikes
            rates[pop.name] = (out[pop.name].sum(axis=(0, 1)) / seconds if pop.threshold is not None else
                               np.zeros(pop.size))
        for proj in float_model.projections:
            source = nominal_spikes if proj.src == "input" else out[proj.src]
            ops += float(np.sum(source.sum(axis=(0, 1)) * (proj.weight != 0).sum(axis=1))) / windows
        input_rate = float(nominal_spikes.sum() / (seconds * nominal_spikes.shape[2]))
        ops *= steps / frames
    updates = float(steps * sum(p.size for p in float_model.populations))
    activity = Activity(window_s, interval_s, steps, ops, updates, dsp_cycles_per_window(chain, window_s))
    return activity, rates, input_rate


# What power.budget limits (docs/spec.md, "Power"): the average power of inference, i.e. the
# chip and the MCU's run time for the signal chain, not the sensor, the radio or the cell.
BUDGET_COVERS = "inference: the chip and the MCU running the signal chain (not the sensor, radio or self-discharge)"

# NM410's hint. `nmspec fit` prints the ranking below this diagnostic; other commands point
# at it (cmd_fit says "below" instead).
FIT_HINT = "`nmspec fit SPEC` ranks every catalog target for this spec; choose one whose verdict is fits"
MODEL_WARNING_HINT = ("the file holds something its exporter would not write for a trained model; check model.convention "
                      "and model.dt against the framework that wrote it, or re-export it (docs/models.md)")


def model_populations(float_model: FloatNet, family: str) -> dict[str, tuple[str, ...]]:
    """Chip population -> the model's populations in it. Xylo packs every hidden layer into
    one population named hidden and calls the readout output; other families keep the
    model's names."""
    if family != "xylo":
        return {p.name: (p.name,) for p in float_model.populations}
    return {"hidden": tuple(p.name for p in float_model.populations if p.name != float_model.output),
            "output": (float_model.output,)}


def sensor_setting(spec: SiteSpec, chain: Chain) -> SensorSetting:
    """What a recorded trace must match: the sensor's rate, range (g) and the window length."""
    from engine.resolve.stimuli import SensorSetting

    schedule = spec.runtime.schedule if spec.runtime is not None else None
    window_s = schedule.window if schedule is not None else 1.0
    return SensorSetting(chain.sample_rate, spec.sensor.range, round(window_s * chain.sample_rate))


def _cell_temperature_problems(doc: SpecDocument, spec: SiteSpec, catalog: Catalog) -> list[Diagnostic]:
    """The site's temperature range against the cell's rated operating range."""
    site = spec.environment.temperature
    cell_id = spec.power.battery.cell
    cell = catalog.get("cells", cell_id)
    if not site or cell is None or not cell.figure("operating_temperature").known:
        return []
    low, high = site
    rated_low, rated_high = cell.figure("operating_temperature").si()
    if low >= rated_low and high <= rated_high:
        return []
    def c(kelvin: float) -> str:
        return f"{kelvin - 273.15:g} C"

    return [doc.at("/environment/temperature", "NM404",
                   f"environment.temperature: the site ranges over {c(low)}..{c(high)}, outside the {cell_id}'s rated "
                   f"{c(rated_low)}..{c(rated_high)}", hint="choose a cell rated for the site (nmspec targets --kind cells)")]


def binary_spike_excess(chip: Part, spikes: np.ndarray | None) -> int | None:
    """The largest input count when the chip has binary spikes only and a count exceeds 1:
    Loihi's kernel multiplies a weight by the input count, which is Loihi 2's graded spike."""
    graded = chip.figure("graded_spikes")
    if chip.attribute("family") != "loihi" or spikes is None or not graded.known or graded.value:
        return None
    peak = int(np.max(spikes, initial=0))
    return peak if peak > 1 else None


def membrane_readout_capability(chip: Part, overrides: Mapping[str, Any]) -> bool | None:
    """Whether the host can read the chip's readout neurons' membrane: the spec's override, else
    the catalog's `membrane_readout` (None: no checked source says)."""
    if "membrane_readout" in overrides:
        return bool(overrides["membrane_readout"])
    figure = chip.figure("membrane_readout")
    return bool(figure.value) if figure.known else None


def _membrane_readout_problems(doc: SpecDocument, chip: Part, float_model: FloatNet, overrides: Mapping[str, Any],
                               catalog: Catalog) -> list[Diagnostic]:
    """A model read by its readout's membrane on a chip whose host cannot read it, or whose
    catalog entry does not say."""
    from engine.resolve.quantize import MEMBRANE_READOUT_FORMS, membrane_readout

    readout = float_model.population(float_model.output)
    if readout.threshold is not None or not membrane_readout(float_model, readout):
        return []
    able = membrane_readout_capability(chip, overrides)
    if able:
        return []
    model = (f"target.chip: the model's readout '{readout.name}' ({readout.kind}) is a leaky integrator read by its "
             "membrane (it never spikes; a window's class is the readout neuron whose membrane peaks highest)")
    # targets that would take the model: the host reads the membrane and the family runs the readout
    others = ", ".join(p for p in catalog.ids("chips") if p != chip.id
                       and catalog.part("chips", p).figure("membrane_readout").value is True
                       and catalog.part("chips", p).attribute("family") in MEMBRANE_READOUT_FORMS)
    instead = (f"train the model with a spiking readout (LIF or IF, classified by spike count), or choose a target "
               f"whose host reads the readout's membrane ({others})")
    figure = chip.figure("membrane_readout")
    if able is None:
        return [doc.at("/target/chip", "NM319", f"{model}; no checked source says whether the host can read a "
                                                f"neuron's membrane on {chip.id} (its catalog figure 'membrane_readout' "
                                                "is unverified)",
                       hint=("if the chip's documentation shows how the host reads a readout neuron's membrane, say "
                             "so in the spec (target.overrides: {membrane_readout: true}) or in a catalog file of your "
                             f"repository with its source; otherwise {instead}"))]
    said = ("target.overrides: membrane_readout: false" if "membrane_readout" in overrides else
            "; ".join(x for x in (figure.note, *chip.citations("membrane_readout")) if x) or "its catalog entry")
    return [doc.at("/target/chip", "NM310", f"{model}; the host cannot read a neuron's membrane on {chip.id} ({said})",
                   hint=instead)]


def _binary_spike_problems(doc: SpecDocument, chip: Part, spikes: np.ndarray | None) -> list[Diagnostic]:
    peak = binary_spike_excess(chip, spikes)
    if peak is None:
        return []
    return [doc.at("/target/chip", "NM317",
                   f"target.chip: {chip.id} has binary spikes only, but the encoder emits up to {peak} events per channel "
                   "and step on the stimuli; a count above 1 would need graded spikes (Loihi 2)",
                   hint="raise the encoder's threshold until no channel emits more than one event per step, or target loihi2")]


def _file_content(path: Path) -> bytes | str:
    """What keys a stage that reads `path`: its bytes, or (unreadable) its name, so that the
    stage itself reports the problem."""
    try:
        return path.read_bytes()
    except OSError:
        return str(path)


def _read_model(doc: SpecDocument, spec: SiteSpec) -> tuple[Path, FloatNet]:
    """The spec's NIR file read at its exporter's step (memoised by content). Raises StageError."""
    from engine.resolve.nir_import import ImportError_, read_nir

    model_path = doc.resolve_path("/model/source", spec.model.source)
    try:
        float_model = memo.call("nir", (_file_content(model_path), spec.model.file_dt, spec.model.convention),
                                lambda: read_nir(model_path, dt=spec.model.file_dt, convention=spec.model.convention))
    except ImportError_ as exc:
        raise StageError([doc.at("/model/source", d.code, f"model.source: {d.message}") for d in exc.diagnostics]) from None
    return model_path, float_model


def float_reading(doc: SpecDocument) -> FloatNet:
    """The float reading of the spec's model at the deployment's step, alone (no chain, no
    target): what `nmspec simulate SPEC --reference` runs. Raises StageError."""
    spec = site_model(doc)
    _, float_model = _read_model(doc, spec)
    return _at_frame(doc, spec, float_model)


def _at_frame(doc: SpecDocument, spec: SiteSpec, float_model: FloatNet) -> FloatNet:
    """The model, read with the exporter's dt, as one step of model.dt each, at the
    deployment's step (runtime.frame)."""
    from engine.resolve.rediscretise import RediscretiseError, at_model_step, rediscretise
    from engine.resolve.spikecap import bounded

    frame = spec.frame_period
    try:
        at_frame = rediscretise(at_model_step(float_model, spec.model.dt), frame)
    except RediscretiseError as exc:
        raise StageError([doc.at("/runtime/frame", "NM318", f"runtime.frame: {reason}",
                                 hint="a model runs at the step it was trained at unless its time constants carry it to "
                                      "another; docs/models.md says what re-discretises")
                          for reason in exc.reasons]) from None
    return bounded(at_frame, spec.model.max_spikes.hidden, spec.model.max_spikes.readout)


def resolve_partial(doc: SpecDocument, catalog: Catalog) -> Deployment:
    """As resolve, but fit, power and safety problems are kept in `problems` instead of raised."""
    return resolve(doc, catalog, strict=False)


def resolve(doc: SpecDocument, catalog: Catalog, *, strict: bool = True) -> Deployment:
    from engine.dsp import ChainError
    from engine.dsp.from_spec import chain_for_spec
    from engine.resolve.fit import check_fit
    from engine.resolve.graph import placement_graph
    from engine.resolve.power import site_power
    from engine.resolve.quantize import QuantizeError, quantize
    from engine.resolve.safety import check_safety
    from engine.resolve.stimuli import TraceError, load_traces

    spec = site_model(doc)
    problems: list[Diagnostic] = []
    try:
        chain = chain_for_spec(spec, catalog.get("sensors", spec.sensor.part))
    except ChainError as exc:
        index = next((i for i, stage in enumerate(spec.preprocessing) if stage.id == exc.stage), 0)
        raise StageError([doc.at(f"/preprocessing/{index}", "NM320", f"preprocessing[{index}]: {exc.message}")]) from None
    model_path, float_model = _read_model(doc, spec)
    # said with any error that follows too: a lossy file is often why a later stage refuses it
    model_warnings = [doc.at("/model/source", "NM307", f"model.source: {model_path.name}: {w}", severity="warning",
                             hint=MODEL_WARNING_HINT) for w in float_model.warnings]
    if float_model.n_inputs != chain.n_channels:
        problems.append(doc.at("/model/source", "NM304", f"model.source: the model takes {float_model.n_inputs} inputs "
                                                          f"but the preprocessing chain produces {chain.n_channels} channels"))
    n_out = float_model.population(float_model.output).size
    if n_out != len(spec.model.labels):
        problems.append(doc.at("/model/labels", "NM305", f"model.labels: {len(spec.model.labels)} labels for "
                                                          f"{n_out} output neurons"))
    if has_errors(problems):
        raise StageError(model_warnings + problems)
    stimuli = None
    paths = [(f"/verify/stimuli/{i}", s) for i, s in enumerate(spec.verify.stimuli if spec.verify is not None else ())]
    if paths:
        try:
            stimuli = load_traces([doc.resolve_path(p, s) for p, s in paths], [Path(s).name for _, s in paths],
                                  n_labels=len(spec.model.labels), sensor=sensor_setting(spec, chain))
        except TraceError as exc:
            raise StageError([doc.at(paths[exc.index][0], "NM306", f"verify.stimuli[{exc.index}]: {exc}",
                                     hint=exc.hint)]) from None
        if stimuli.samples.shape[2] != chain.axes:
            raise StageError([doc.at("/verify/stimuli", "NM306", f"verify.stimuli: traces have {stimuli.samples.shape[2]} "
                                                                   f"axes, the sensor reads {chain.axes}")])
    nominal = stimulus_spikes = None
    if stimuli is not None:
        # every window once: calibration takes the nominal ones, verification all of them
        stimulus_spikes = memo.call("chain", (chain, stimuli.samples), lambda: chain.run(stimuli.samples))
        nominal = stimulus_spikes[stimuli.labels == 0] if np.any(stimuli.labels == 0) else stimulus_spikes
    float_model = _at_frame(doc, spec, float_model)
    chip = catalog.part("chips", spec.target.chip)
    overrides = spec.part_overrides()
    readout_problems = _membrane_readout_problems(doc, chip, float_model, overrides["chips"], catalog)
    if readout_problems:
        raise StageError(model_warnings + readout_problems)
    weight_bits = overrides["chips"].get("weight_bits", chip.figure("weight_bits").value or 8)
    try:
        q = spec.model.quantization
        family = chip.attribute("family")
        neurons = overrides["chips"].get("hidden_neurons", chip.figure("hidden_neurons").value)
        max_neurons = int(neurons) if isinstance(neurons, (int, float)) else None
        quantized = memo.call("quantize", (float_model, family, nominal, q.headroom, q.granularity, int(weight_bits),
                                           max_neurons),
                              lambda: quantize(float_model, family, stimuli=nominal, headroom=q.headroom,
                                               granularity=q.granularity, weight_bits=int(weight_bits),
                                               max_neurons=max_neurons))
    except QuantizeError as exc:
        # a network silent on the calibration stimuli is about the stimuli as much as the model
        raise StageError(model_warnings + [doc.at("/verify/stimuli", d.code, f"verify.stimuli: {d.message}", hint=d.hint)
                          if d.code == "NM316" else
                          doc.at("/model/quantization/granularity", d.code, f"model.quantization.{d.message}",
                                 hint="set granularity: per_layer (this target's scales are per layer)")
                          if d.message.startswith("granularity ") else
                          doc.at("/model/source", d.code, f"model.source: {d.message}", hint=d.hint)
                          for d in exc.diagnostics]) from None
    warnings: list[Diagnostic] = list(model_warnings)
    warnings += [doc.at("/verify/stimuli", "NM306", f"verify.stimuli: {w}", severity="warning")
                 for w in (stimuli.warnings if stimuli is not None else ())]
    for layer in quantized.layers:
        if layer.total_weights and layer.zeroed_weights == layer.total_weights:
            problems.append(doc.at("/model/source", "NM312", f"model.source: every weight into '{layer.population}' "
                                                              "quantizes to zero"))
        if layer.never_fire == layer.size:
            problems.append(doc.at("/model/source", "NM313", f"model.source: no neuron of '{layer.population}' can ever "
                                                              "reach its threshold after quantization"))
    problems += _binary_spike_problems(doc, chip, stimulus_spikes)
    activity, rates, input_rate = _activity(spec, chain, float_model, nominal)
    fit = check_fit(quantized.network, chip, overrides["chips"], float_model.conv_shapes())
    if fit.violations:
        problems.append(doc.at("/target/chip", "NM410", f"target.chip: the network does not fit: {fit.reason()}",
                               hint=FIT_HINT))
    safety = check_safety(spec, chip)
    problems += [doc.at(f.pointer, f.code, f.message, hint=f.hint) for f in safety]
    power = None
    try:
        power = site_power(spec, catalog, activity, overrides, chip)
    except MissingFigure as exc:
        problems.append(doc.at(PART_POINTERS[exc.part.kind], "NM402", f"power: {exc.message}", hint=exc.hint_with(catalog)))
    problems += _cell_temperature_problems(doc, spec, catalog)
    if power is not None:
        if power.life_years < power.required_years:
            problems.append(doc.at("/power/battery/lifetime", "NM401",
                                   f"power.battery.lifetime: the node lasts {power.life_years:.2f} years on "
                                   f"{spec.power.battery.cell}, less than the {power.required_years:g} required "
                                   f"(average {power.total_current_a * 1e6:.1f} uA)",
                                   hint="`nmspec fit` shows the power table; lengthen runtime.schedule.interval or use a larger cell"))
        if power.budget_w is not None and power.inference_power_w > power.budget_w:
            chip_w = next(c.current_a for c in power.consumers if c.name == "chip") * power.voltage_v
            problems.append(doc.at("/power/budget", "NM403",
                                   f"power.budget: inference needs {power.inference_power_w * 1e6:.1f} uW "
                                   f"(chip {chip_w * 1e6:.1f} uW + MCU signal chain "
                                   f"{(power.inference_power_w - chip_w) * 1e6:.1f} uW), more than the "
                                   f"{power.budget_w * 1e6:g} uW budget",
                                   hint="`nmspec fit SPEC` prints the power table; lengthen runtime.schedule.interval "
                                        "(inference energy is spent once per interval), shorten runtime.schedule.window, "
                                        f"or raise power.budget to {math.ceil(power.inference_power_w * 1e6)}uW"))
    if strict and has_errors(problems):
        raise StageError(problems)
    if quantized.network.family == "xylo" and rates:  # hidden layers are packed into one population
        hidden = [p.name for p in float_model.populations if p.name != float_model.output]
        rates = {"hidden": np.concatenate([rates[h] for h in hidden]), "output": rates[float_model.output]}
    graph = placement_graph(quantized.network, chain, chip.id, rates, input_rate,
                            model_names=model_populations(float_model, quantized.network.family))
    return Deployment(spec, chain, float_model, quantized, stimuli, nominal, fit, power, safety, graph, activity,
                      tuple(warnings), tuple(problems), stimulus_spikes, chip.fidelity)
