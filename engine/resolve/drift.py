"""Temperature drift and device mismatch of an analog or mixed-signal target, as numbers.

The model (docs/analog.md) scales three things of the integer network with the chip's
temperature T against its reference temperature T0, each by `1 + tempco * (T - T0)`:
time constants (the leak of the synaptic current and of the membrane), thresholds, and
weights (with biases: both are currents). Device mismatch multiplies each neuron's time
constants and threshold and each synapse's weight by a draw of mean 1 and the catalog's
relative spread, fixed for one chip. The figures come from the chip's catalog entry with
their verification level; `assumed` ones (nothing published for the part) are carried into
every output that uses them.

Compensation is what the firmware can do without knowing the chip's own mismatch: per
temperature band, program thresholds that restore each neuron's steady-state gain at the
band's centre. It corrects the drift of gain; the change of dynamics (a longer or shorter
memory) and the mismatch stay.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import attrs
import numpy as np

from engine.catalog import MissingFigure, Part
from engine.netlist import QuantNetwork

LEAK_BITS = 24  # fixed-point fraction of the per-step leak: exact for every decay shift up to 24
LEAK_ONE = 1 << LEAK_BITS
DRIFT_FIGURES = ("drift_reference_temperature", "tempco_time_constant", "tempco_threshold", "tempco_weight",
                 "mismatch_time_constant", "mismatch_threshold", "mismatch_weight")
MIN_SCALE = 0.05  # a linear coefficient far outside its range must not turn a time constant negative
CENTI = 100  # firmware temperatures are integer centi-degrees Celsius
KELVIN_AT_0C = 273.15


@attrs.frozen
class DriftFigure:
    name: str
    value: float  # SI: kelvin, 1/K or a relative spread
    uncertainty: float | None
    verified: str
    sources: tuple[str, ...]
    note: str | None

    @property
    def assumed(self) -> bool:
        return self.verified == "assumed"


@attrs.frozen
class DriftModel:
    chip: str
    figures: tuple[DriftFigure, ...]

    def value(self, name: str) -> float:
        return next(f.value for f in self.figures if f.name == name)

    @property
    def reference_k(self) -> float:
        return self.value("drift_reference_temperature")

    @property
    def assumed(self) -> tuple[str, ...]:
        """Names of the figures nothing published for this chip backs."""
        return tuple(f.name for f in self.figures if f.assumed)

    def scale(self, tempco: str, temperature_k: float) -> float:
        return max(MIN_SCALE, 1.0 + self.value(tempco) * (temperature_k - self.reference_k))

    def drawn(self, rng: np.random.Generator) -> DriftModel:
        """One chip's figures: each figure with a stated uncertainty drawn uniformly within
        value +- uncertainty (a spread stays >= 0), so the Monte Carlo carries what is not
        known about the chip as well as its mismatch. Figures in DRIFT_FIGURES order."""
        out = []
        for f in self.figures:
            value = f.value
            if f.uncertainty:
                value = float(rng.uniform(f.value - f.uncertainty, f.value + f.uncertainty))
                if f.name.startswith("mismatch_"):
                    value = max(0.0, value)
            out.append(attrs.evolve(f, value=value))
        return attrs.evolve(self, figures=tuple(out))

    def summary(self) -> list[dict[str, object]]:
        return [{"figure": f.name, "value": f.value, "uncertainty": f.uncertainty, "verified": f.verified,
                 "assumed": f.assumed, "sources": list(f.sources), "note": f.note} for f in self.figures]


def is_analog(chip: Part) -> bool:
    return bool(chip.attribute("implementation") != "digital")


def drift_model(chip: Part, overrides: Mapping[str, float] | None = None) -> DriftModel:
    """The chip's drift figures in SI units; raises MissingFigure for one the catalog and
    the spec's target.overrides both lack. An override is the user's own measurement."""
    figures = []
    for name in DRIFT_FIGURES:
        value = chip.require(name, overrides)
        figure = chip.figure(name)
        measured = bool(overrides and name in overrides)
        figures.append(DriftFigure(name, float(value), None if measured else figure.uncertainty_si(),
                                   "measured" if measured else figure.verified,
                                   () if measured else chip.citations(name), None if measured else figure.note))
    return DriftModel(chip.id, tuple(figures))


def retained_leak(decay_shift: np.ndarray, tau_scale: np.ndarray) -> np.ndarray:
    """Per-step leak in units of 2^-LEAK_BITS for a decay shift d whose time constant is
    scaled by `tau_scale`: the nominal leak is 2^-d per step, i.e. (1 - 2^-d) is kept; a
    time constant g times as long keeps (1 - 2^-d)^(1/g). At g = 1 this is 2^(LEAK_BITS - d)
    exactly, so the drifted loop equals the generic LIF kernel bit for bit."""
    d = np.asarray(decay_shift, dtype=np.float64)
    g = np.asarray(tau_scale, dtype=np.float64)
    kept = np.power(1.0 - np.exp2(-d), 1.0 / g)
    leak = np.rint((1.0 - kept) * LEAK_ONE)
    exact = np.where(d <= LEAK_BITS, np.exp2(LEAK_BITS - np.minimum(d, LEAK_BITS)), 1.0)
    leak = np.where(g == 1.0, exact, leak)
    return np.clip(leak, 1, LEAK_ONE).astype(np.int64)


def _steady_gain(leak: np.ndarray, synaptic: bool) -> np.ndarray:
    """What a constant input settles to per unit of input: the synaptic current keeps
    (1 - f)/f of its input, the membrane 1/f of its current (docs/kernel.md's order)."""
    f = leak.astype(np.float64) / LEAK_ONE
    return (1.0 - f) / f if synaptic else 1.0 / f


def gain_ratio(model: DriftModel, decay_syn: np.ndarray, decay_mem: np.ndarray, temperature_k: float) -> np.ndarray:
    """Per neuron: steady-state membrane per unit weight at temperature_k against T0."""
    g = model.scale("tempco_time_constant", temperature_k)
    ones = np.ones(np.shape(decay_syn))
    syn0, mem0 = retained_leak(decay_syn, ones), retained_leak(decay_mem, ones)
    syn, mem = retained_leak(decay_syn, ones * g), retained_leak(decay_mem, ones * g)
    nominal = _steady_gain(syn0, True) * _steady_gain(mem0, False)
    drifted = _steady_gain(syn, True) * _steady_gain(mem, False)
    ratio = np.where(nominal > 0, drifted / np.where(nominal > 0, nominal, 1.0), 1.0)
    return ratio * model.scale("tempco_weight", temperature_k)


@attrs.frozen
class Bands:
    """The site's temperature range cut into equal bands (kelvin), and the hysteresis."""

    edges_k: tuple[float, ...]  # bands + 1, ascending
    hysteresis_k: float

    @property
    def count(self) -> int:
        return len(self.edges_k) - 1

    def centre_k(self, band: int) -> float:
        return (self.edges_k[band] + self.edges_k[band + 1]) / 2

    def edges_centi_c(self) -> tuple[int, ...]:
        return tuple(centi_celsius(t) for t in self.edges_k)

    @property
    def hysteresis_centi(self) -> int:
        return round(self.hysteresis_k * CENTI)


def centi_celsius(kelvin: float) -> int:
    return math.floor((kelvin - KELVIN_AT_0C) * CENTI + 0.5)


def temperature_bands(low_k: float, high_k: float, count: int, hysteresis_k: float) -> Bands:
    step = (high_k - low_k) / count
    # edges on whole centi-degrees, as the firmware compares them
    edges = tuple(KELVIN_AT_0C + centi_celsius(low_k + i * step) / CENTI for i in range(count + 1))
    return Bands(edges, float(hysteresis_k))


@attrs.frozen(eq=False)
class Compensation:
    """What the image carries for the firmware: band edges, hysteresis and, per band, the
    thresholds to program into each population."""

    bands: Bands
    thresholds: dict[str, np.ndarray]  # population -> int64 (bands, size)


def compensation(network: QuantNetwork, model: DriftModel, bands: Bands) -> Compensation:
    """Thresholds per band that give each neuron at the band's centre the firing its
    nominal threshold gives at T0: the nominal threshold times the gain the drift adds,
    divided by the threshold's own drift. Only the generic LIF family is modelled."""
    if network.family != "lif":
        raise ValueError(f"drift is modelled on the generic LIF arithmetic, not on {network.family}")
    out = {}
    for pop in network.populations:
        th = pop.params["threshold"].astype(np.float64)
        rows = []
        for band in range(bands.count):
            t = bands.centre_k(band)
            factor = gain_ratio(model, pop.params["decay_syn"], pop.params["decay_mem"], t)
            factor = factor / model.scale("tempco_threshold", t)
            rows.append(np.clip(np.rint(th * factor), 1, 2**31 - 1))
        out[pop.name] = np.array(rows, dtype=np.int64)
    return Compensation(bands, out)


__all__ = ["DRIFT_FIGURES", "Bands", "Compensation", "DriftModel", "MissingFigure", "centi_celsius", "compensation",
           "drift_model", "gain_ratio", "is_analog", "retained_leak", "temperature_bands"]
