"""The Monte Carlo over temperature of an analog or mixed-signal target.

Chips are drawn with a seeded generator (each with its own device mismatch); each runs the
image's network, read back from its bytes, with the drift of engine/resolve/drift.py applied
at temperatures spread over every band of the site's range, once with the nominal
thresholds and, when the image carries a THERMAL section, once with the thresholds the
firmware programs in that band. The same seed and image give the same figures on any
machine. Per band it reports the accuracy on the labelled stimuli and the agreement with
the nominal network (the image run by the kernel without drift), as the mean over chips and
temperatures and the worst chip at the worst temperature.

Temperatures per band: its lower edge less the hysteresis, its centre and its upper edge plus
the hysteresis (clipped to the site's range): the firmware keeps a band's thresholds until a
reading passes the band's edge by the hysteresis, so those are the farthest temperatures one
band's set meets.
"""

from __future__ import annotations

import bisect
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import attrs
import numpy as np

from engine.image import Thermal
from engine.netlist import QuantNetwork
from engine.resolve.drift import (
    CENTI,
    KELVIN_AT_0C,
    LEAK_BITS,
    MIN_SCALE,
    Bands,
    DriftModel,
    retained_leak,
)
from engine.resolve.floatnet import classify
from engine.verify import kernel

if TYPE_CHECKING:
    from engine.catalog import Part
    from engine.spec.model import SiteSpec


@attrs.frozen(eq=False)
class ChipDraw:
    """One chip: its own temperature coefficients and spreads (drawn within the stated
    uncertainty) and its mismatch, multipliers of mean 1 per neuron and per synapse."""

    model: DriftModel
    tau_syn: np.ndarray
    tau_mem: np.ndarray
    threshold: np.ndarray
    weight: np.ndarray


def draw_chips(n_neurons: int, n_synapses: int, model: DriftModel, count: int, seed: int) -> tuple[ChipDraw, ...]:
    rng = np.random.default_rng(seed)
    chips = []
    for _ in range(count):
        own = model.drawn(rng)

        def spread(name: str, size: int, own: DriftModel = own) -> np.ndarray:
            return np.maximum(MIN_SCALE, rng.normal(1.0, own.value(name), size))

        chips.append(ChipDraw(own, spread("mismatch_time_constant", n_neurons), spread("mismatch_time_constant", n_neurons),
                              spread("mismatch_threshold", n_neurons), spread("mismatch_weight", n_synapses)))
    return tuple(chips)


def _params(net: QuantNetwork, name: str) -> np.ndarray:
    return np.concatenate([p.params[name].astype(np.int64) for p in net.populations])


@attrs.frozen(eq=False)
class Physics:
    """What its temperature does to a chip without mismatch: per neuron the leaks (fractions
    of 2^LEAK_BITS lost per step), and the factors on programmed thresholds and on weights
    and biases. The host platform's emulated analog chip takes these (docs/firmware.md)."""

    leak_syn: np.ndarray
    leak_mem: np.ndarray
    threshold_scale: float
    weight_scale: float


def physics(net: QuantNetwork, model: DriftModel, temperature_k: float) -> Physics:
    ones = np.ones(net.n_neurons)
    g_tau = model.scale("tempco_time_constant", temperature_k)
    return Physics(retained_leak(_params(net, "decay_syn"), g_tau * ones), retained_leak(_params(net, "decay_mem"), g_tau * ones),
                   model.scale("tempco_threshold", temperature_k), model.scale("tempco_weight", temperature_k))


def run_drifted_spikes(net: QuantNetwork, windows: np.ndarray, model: DriftModel, chip: ChipDraw | None,
                       temperature_k: float, thresholds: np.ndarray | None = None) -> np.ndarray:
    """Every neuron's spikes per window and step (windows, steps, neurons) of `net` on one
    chip at one temperature, each window from the zero state; `thresholds` are the
    programmed ones (default: the image's nominal)."""
    from engine.verify import native

    flat = kernel.flat_layout(net)
    n = int(flat.pop_start[-1])
    if chip is not None:
        model = attrs.evolve(chip.model, figures=tuple(
            attrs.evolve(f, value=model.value(f.name)) if f.name == "drift_reference_temperature" else f
            for f in chip.model.figures))
    ones = np.ones(n)
    g_tau = model.scale("tempco_time_constant", temperature_k)
    m_syn = chip.tau_syn if chip is not None else ones
    m_mem = chip.tau_mem if chip is not None else ones
    leak_syn = retained_leak(_params(net, "decay_syn"), g_tau * m_syn)
    leak_mem = retained_leak(_params(net, "decay_mem"), g_tau * m_mem)
    programmed = _params(net, "threshold") if thresholds is None else thresholds.astype(np.int64)
    m_th = chip.threshold if chip is not None else ones
    threshold = np.maximum(1, np.rint(programmed * model.scale("tempco_threshold", temperature_k) * m_th)).astype(np.int64)
    g_w = model.scale("tempco_weight", temperature_k)
    m_w = chip.weight if chip is not None else np.ones(flat.values.size)
    values = np.rint(flat.values.astype(np.float64) * g_w * m_w).astype(np.int32)
    bias = np.rint(_params(net, "bias") * g_w).astype(np.int64)
    out = np.zeros((windows.shape[0], windows.shape[1], n), dtype=np.int32)
    for w, window in enumerate(windows):
        x = np.ascontiguousarray(window, dtype=np.int64)
        isyn, v, previous = np.zeros(n, np.int64), np.zeros(n, np.int64), np.zeros(n, np.int64)
        native.lif_leak_run(x, flat.pop_start, flat.proj_src, flat.proj_dst, flat.proj_row, flat.proj_shift,
                            flat.indptr, flat.indices, np.ascontiguousarray(values), leak_syn, leak_mem, LEAK_BITS,
                            threshold, bias, isyn, v, previous, out[w])
    return out


def _output_slice(net: QuantNetwork) -> slice:
    start = np.cumsum([0] + [p.size for p in net.populations])
    index = [p.name for p in net.populations].index(net.output)
    return slice(int(start[index]), int(start[index + 1]))


def run_drifted(net: QuantNetwork, windows: np.ndarray, model: DriftModel, chip: ChipDraw | None,
                temperature_k: float, thresholds: np.ndarray | None = None) -> np.ndarray:
    """Output spike counts per window (windows, outputs) of `net` on one chip at one
    temperature; `thresholds` are the programmed ones (default: the image's nominal)."""
    spikes = run_drifted_spikes(net, windows, model, chip, temperature_k, thresholds)
    counts: np.ndarray = spikes[:, :, _output_slice(net)].sum(axis=1).astype(np.int64)
    return counts


@attrs.frozen
class Spread:
    mean: float
    worst: float  # lowest over chips and temperatures


def _spread(values: list[float]) -> Spread:
    return Spread(float(np.mean(values)), float(np.min(values)))


@attrs.frozen
class BandResult:
    band: int
    low_c: float
    high_c: float
    points_c: tuple[float, ...]
    accuracy: Spread  # the nominal thresholds: no compensation
    agreement: Spread  # with the nominal network, same windows
    compensated_accuracy: Spread | None
    compensated_agreement: Spread | None


@attrs.frozen
class TemperatureSweep:
    chip: str
    chips: int
    seed: int
    windows: int
    reference_c: float
    nominal_accuracy: float  # the image without drift or mismatch (the kernel's verdict)
    mismatch_accuracy: Spread  # at the reference temperature: mismatch alone
    bands: tuple[BandResult, ...]
    hysteresis_k: float
    compensated: bool  # the image carries per-band thresholds
    model: DriftModel

    def worst_band(self, compensated: bool) -> BandResult:
        def key(b: BandResult) -> float:
            spread = b.compensated_accuracy if compensated and b.compensated_accuracy is not None else b.accuracy
            return spread.mean
        return min(self.bands, key=key)

    def summary(self) -> dict[str, Any]:
        def spread(s: Spread | None) -> dict[str, float] | None:
            return None if s is None else {"mean": round(s.mean, 6), "worst": round(s.worst, 6)}

        out: dict[str, Any] = {
            "chip": self.chip, "chips": self.chips, "seed": self.seed, "windows": self.windows,
            "reference_C": self.reference_c, "hysteresis_K": self.hysteresis_k, "compensated": self.compensated,
            "nominal_accuracy": round(self.nominal_accuracy, 6), "mismatch_accuracy": spread(self.mismatch_accuracy),
            "assumed_figures": list(self.model.assumed),
            "basis": ("assumed drift figures: nothing published for this chip backs them (docs/analog.md)"
                      if self.model.assumed else "published drift figures"),
            "bands": [{"band": b.band, "low_C": b.low_c, "high_C": b.high_c, "temperatures_C": list(b.points_c),
                       "accuracy": spread(b.accuracy), "agreement": spread(b.agreement),
                       "compensated_accuracy": spread(b.compensated_accuracy),
                       "compensated_agreement": spread(b.compensated_agreement)} for b in self.bands],
            "figures": self.model.summary(),
        }
        worst = self.worst_band(False)
        out["worst_band"] = {"uncompensated": {"band": worst.band, "accuracy": spread(worst.accuracy)}}
        if self.compensated:
            best = self.worst_band(True)
            out["worst_band"]["compensated"] = {"band": best.band, "accuracy": spread(best.compensated_accuracy)}
        return out


def band_points(bands: Bands, band: int) -> tuple[float, ...]:
    low, high = bands.edges_k[0], bands.edges_k[-1]
    h = bands.hysteresis_k
    return (max(low, bands.edges_k[band] - h), bands.centre_k(band), min(high, bands.edges_k[band + 1] + h))


def bands_of(thermal: Thermal) -> Bands:
    return Bands(tuple(KELVIN_AT_0C + e / 100 for e in thermal.edges_centi_c), thermal.hysteresis_centi / 100)


def temperature_sweep(net: QuantNetwork, windows: np.ndarray, labels: np.ndarray, model: DriftModel, bands: Bands,
                      thermal: Thermal | None, chips: int, seed: int) -> TemperatureSweep:
    """`windows`: the stimuli's input spikes (windows, steps, channels); `labels` their classes."""
    labels = np.asarray(labels)
    nominal = classify(run_drifted(net, windows, model, None, model.reference_k))
    draws = draw_chips(net.n_neurons, int(kernel.flat_layout(net).values.size), model, chips, seed)

    def scores(counts: np.ndarray) -> tuple[float, float]:
        classes = classify(counts)
        return float(np.mean(classes == labels)), float(np.mean(classes == nominal))

    at_reference = [scores(run_drifted(net, windows, model, chip, model.reference_k))[0] for chip in draws]
    results = []
    for band in range(bands.count):
        points = band_points(bands, band)
        programmed = (np.concatenate([thermal.thresholds[p.name][band] if p.name in thermal.thresholds
                                      else p.params["threshold"] for p in net.populations])
                      if thermal is not None else None)
        plain: list[tuple[float, float]] = []
        comp: list[tuple[float, float]] = []
        for chip in draws:
            for t in points:
                plain.append(scores(run_drifted(net, windows, model, chip, t)))
                if programmed is not None:
                    comp.append(scores(run_drifted(net, windows, model, chip, t, programmed)))
        results.append(BandResult(
            band, round(bands.edges_k[band] - KELVIN_AT_0C, 2), round(bands.edges_k[band + 1] - KELVIN_AT_0C, 2),
            tuple(round(t - KELVIN_AT_0C, 2) for t in points),
            _spread([a for a, _ in plain]), _spread([g for _, g in plain]),
            _spread([a for a, _ in comp]) if comp else None, _spread([g for _, g in comp]) if comp else None))
    return TemperatureSweep(model.chip, chips, seed, int(windows.shape[0]), round(model.reference_k - KELVIN_AT_0C, 2),
                            float(np.mean(nominal == labels)), _spread(at_reference), tuple(results),
                            bands.hysteresis_k, thermal is not None, model)


def site_sweep(net: QuantNetwork, thermal: Thermal | None, spec: SiteSpec, windows: np.ndarray, labels: np.ndarray,
               chip: Part) -> tuple[TemperatureSweep | None, str | None]:
    """The Monte Carlo for a site: over its environment.temperature, with its
    verify.drift chips and seed; (None, None) for a digital target, (None, why) when an
    analog one cannot be swept."""
    from engine.catalog import MissingFigure
    from engine.resolve.drift import drift_model, is_analog, temperature_bands

    if not is_analog(chip):
        return None, None
    if net.family != "lif":
        return None, f"drift is modelled on the generic LIF arithmetic, not on {net.family}"
    if net.readout == "membrane":
        return None, "the drift model counts readout spikes; a membrane readout is not swept"
    if spec.environment.temperature is None:
        return None, "no environment.temperature: nothing to sweep"
    try:
        model = drift_model(chip, spec.part_overrides()["chips"])
    except MissingFigure as exc:
        return None, f"no drift model: {exc.message}"
    low, high = spec.environment.temperature
    bands = bands_of(thermal) if thermal is not None else temperature_bands(
        low, high, spec.target.compensation.bands, spec.target.compensation.hysteresis)
    drift = spec.verify.drift if spec.verify is not None else None
    chips, seed = (drift.chips, drift.seed) if drift is not None else (4, 0)
    return temperature_sweep(net, windows, labels, model, bands, thermal, chips, seed), None


NO_READING = -32768  # what the platform's temperature reading returns when there is none


@attrs.frozen
class BandStep:
    band: int  # -1 before the first good reading
    event: str  # hold, switch, missing, out-of-range
    inhibit: bool  # the window's result is withheld


def band_switch(thermal: Thermal, readings: Sequence[int | None]) -> list[BandStep]:
    """The firmware's band switch (templates/thermal.c.j2) over readings in centi-degrees
    Celsius (None or NO_READING: no reading), written apart from the C as its reference:
    a reading outside the range by more than the hysteresis, or none, holds the band and
    withholds the result; a good reading past the band in force by more than the hysteresis,
    or the first good one, selects the band that holds it (an edge belongs to the band above)."""
    edges, h = thermal.edges_centi_c, thermal.hysteresis_centi
    band, out = -1, []
    for reading in readings:
        if reading is None or reading == NO_READING:
            out.append(BandStep(band, "missing", True))
        elif not edges[0] - h <= reading <= edges[-1] + h:
            out.append(BandStep(band, "out-of-range", True))
        elif band >= 0 and edges[band] - h <= reading <= edges[band + 1] + h:
            out.append(BandStep(band, "hold", False))
        else:
            band = min(max(bisect.bisect_right(edges, reading) - 1, 0), len(edges) - 2)
            out.append(BandStep(band, "switch", False))
    return out


@attrs.frozen(eq=False)
class CompensatedWindow:
    step: BandStep  # the band switch on this window's reading
    output_spikes: np.ndarray  # (steps, outputs)
    window_class: int | None  # None: withheld by the fail-safe


def compensated_run(net: QuantNetwork, thermal: Thermal, model: DriftModel, windows: np.ndarray,
                    chip_centi_c: Sequence[int], readings: Sequence[int | None]) -> list[CompensatedWindow]:
    """The node's window loop with compensation (templates/runtime.c.j2), written apart from
    the C as its reference: per window the band switch on that window's reading, then the
    window on a chip without mismatch at its own temperature (chip_centi_c, which a missing or
    wrong reading does not change) with the thresholds of the band in force programmed (the
    image's own before the first good reading). A window read as missing or out of range,
    or before any good reading, is withheld."""
    steps = band_switch(thermal, readings)
    nominal = _params(net, "threshold")
    out = []
    for w, (step, centi) in enumerate(zip(steps, chip_centi_c, strict=True)):
        programmed = (np.concatenate([np.asarray(thermal.thresholds[p.name])[step.band] if p.name in thermal.thresholds
                                      else p.params["threshold"] for p in net.populations]).astype(np.int64)
                      if step.band >= 0 else nominal)
        spikes = run_drifted_spikes(net, windows[w:w + 1], model, None, KELVIN_AT_0C + centi / CENTI, programmed)[0]
        output = spikes[:, _output_slice(net)]
        out.append(CompensatedWindow(step, output, None if step.inhibit else int(classify(output.sum(axis=0)[None, :])[0])))
    return out
