"""Cycle accounting per core and step, latency, the lowest real-time clock, and energy.

Two cycle models:

- `xylo-step`: the per-step clock-cycle model SynSense publishes for Xylo Audio 2 in
  Rockpool (`rockpool.devices.xylo.syns61201.power_cycles_model.cycles_model`), evaluated
  step by step with the step's own activity instead of an average rate. Its constants
  (facts of that published model, cited in XYLO_STEP_CYCLES) cost, per time step:
  every input channel 1 cycle, plus 3.5 cycles per input-expansion neuron (all hidden
  neurons) for each channel that has events; every hidden neuron 3 cycles of synaptic
  update, plus 7 cycles per recurrent synapse of each hidden neuron that spiked on the
  previous step; each such neuron 1 + 8 x outputs cycles of readout; every hidden neuron
  19 cycles of neuron update, plus the model's spike and alias terms; every output neuron
  12 cycles. Only whether a channel or neuron had events counts, not how many. The second
  synapse works in parallel and adds no cycles. For Xylo IMU and Audio 3 Rockpool ships
  its own model (`rockpool.devices.xylo.syns63300.power_cycles_model`, XYLO_EXPANSION_SOURCE):
  the same constants, but the input loop runs over the hidden neurons that have input
  weights and the readout over those that have readout weights, not over all of them.
- `speck-event`: Speck's DYNAP-CNN cores have no clock; Richter et al. (arXiv:2304.06793)
  publish the latency of one incoming event through a 9-layer network, 3.36 us (catalog
  `latency_per_event`). nmspec charges every event a layer receives (an input event, or a
  spike of a source layer, once per destination layer) that figure divided evenly over the
  9 layers it was measured through, 3.36 / 9 = 0.3733 us, and takes the events one after
  another with no overlap between layers: a step lasts (sum over layers of the events it
  receives) x 0.3733 us. That is an upper bound for the pipeline (its layers work in
  parallel), and it does not grow with how many neurons an event updates (the published
  figure does not say how it scales). In the counters a "cycle" is one event through one
  layer and the "clock" 1 / 0.3733 us = 2.679 MHz, so latency = cycles / clock as for
  the other models; cores are the one pipeline.
- `per-event`: for targets without a published model, cycles of one core in one step are
  input events x c_in + synaptic events x c_syn + neurons x c_neuron + spikes sent x
  c_spike + link forwards at its router x c_hop, constants from the catalog
  (cycles_per_*), else nmspec's defaults (engine/mapping/target.py), said so.

Cores work in parallel and the step is synchronous, so a step lasts as long as its
busiest core: latency = max over cores of cycles / clock; the lowest clock that keeps
real time is the peak cycles per step / dt.

Energy per inference (one window of steps): dynamic = synaptic events x energy per
synaptic op + neuron updates x energy per neuron update, when the catalog has both, else
the chip's dynamic power x the window's duration when the catalog has that (Speck); plus
static power x the window's duration, when the catalog has it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

import attrs
import numpy as np
from numpy.typing import NDArray

from engine.netlist import INPUT, Projection, QuantNetwork

if TYPE_CHECKING:
    from scipy.sparse import csr_matrix

    from engine.catalog import Part
    from engine.verify.kernel import KernelRun

# Rockpool 3.1, rockpool/devices/xylo/syns61201/power_cycles_model.py (cycles_model and
# est_clock_freq): the published per-step cycle constants of Xylo Audio 2.
XYLO_STEP_CYCLES = {
    "input_channel": 1.0,  # per input channel, every step
    "input_loop": 3.5,  # per input-expansion neuron, for each input channel with events
    "hidden_isyn": 3.0,  # per hidden neuron, every step
    "hidden_synapse": 7.0,  # per recurrent synapse (average fan-out) of a hidden neuron that spiked
    "readout_neuron": 1.0,  # per hidden neuron that spiked, plus readout_synapse per output
    "readout_synapse": 8.0,
    "hidden_fixed": 19.0,  # per hidden neuron, every step
    "output_fixed": 12.0,  # per output neuron, every step
    "clock_margin": 0.2,  # est_clock_freq's default safety margin on the worst case
}
XYLO_STEP_SOURCE = "Rockpool 3.1 rockpool/devices/xylo/syns61201/power_cycles_model.py (cycles_model, est_clock_freq)"
XYLO_EXPANSION_SOURCE = "Rockpool 3.1 rockpool/devices/xylo/syns63300/power_cycles_model.py (cycles_model)"
# chips whose published model counts only the input- and readout-expansion neurons
XYLO_EXPANSION_CHIPS = ("xylo-imu", "xylo-audio3")
DEFAULT_HOP_CYCLES = 4  # nmspec's own figure: one router forward, for targets that publish none
# Richter et al. 2023 (arXiv:2304.06793), abstract: "latency for 9 sCNN layers to 3.36 us for an
# incoming event": the catalog's latency_per_event was measured through this many layers
SPECK_LATENCY_LAYERS = 9
COUNTERS = ("input_events", "synaptic_ops", "neuron_updates", "spikes_sent", "hops")

# a share of channels or neurons with events: per step, or one number for the worst case
_Share = NDArray[np.float64] | float


@attrs.frozen
class CycleModel:
    chip: str
    kind: str  # "xylo-step" | "speck-event" | "per-event"
    clock_hz: float
    per_event: Mapping[str, float]  # counter name -> cycles (per-event model)
    energy_per_synaptic_op: float | None  # J
    energy_per_neuron_update: float | None  # J
    static_power: float | None  # W
    provenance: tuple[tuple[str, str], ...]  # (constant, where it came from)
    expansion_only: bool = False  # xylo-step: count only neurons with input / readout weights
    dynamic_power: float | None = None  # W while inferring, for chips published as resting + dynamic power


def cycle_model(part: Part, overrides: Mapping[str, float] | None = None) -> CycleModel:
    """The cycle model of a catalog chip; spec overrides win over catalog figures."""
    from engine.mapping.target import DEFAULT_CLOCK_HZ, DEFAULT_CYCLES

    overrides = overrides or {}
    provenance = []

    def figure(name: str, default: float | None, default_note: str) -> float | None:
        if name in overrides:
            provenance.append((name, "spec target.overrides"))
            return overrides[name]
        fig = part.figure(name)
        if fig.known:
            cited = ", ".join(part.citations(name)) or fig.note or ""
            provenance.append((name, f"catalog, {fig.verified}" + (f": {cited}" if cited else "")))
            value: float = fig.si()  # a known scalar figure is one number in SI units
            return value
        if default is not None:
            provenance.append((name, default_note))
        else:
            provenance.append((name, "unknown (catalog: unverified)"))
        return default

    def figure_or(name: str, default: float, default_note: str) -> float:
        value = figure(name, default, default_note)
        return default if value is None else value  # None only when unknown, and then the default stands

    family = part.attribute("family")
    if family == "speck" and (part.figure("latency_per_event").known or "latency_per_event" in overrides):
        event = figure("latency_per_event", None, "")
        assert event is not None  # known, or given by the spec
        how = (f"every event a layer receives costs latency_per_event / {SPECK_LATENCY_LAYERS} = "
               f"{event / SPECK_LATENCY_LAYERS * 1e6:.4g} us (the published figure is through {SPECK_LATENCY_LAYERS} "
               "layers), one event after another with no overlap between layers: an upper bound")
        provenance.append(("speck event model", how))
        e_syn, e_neu = figure("energy_per_synaptic_op", None, ""), figure("energy_per_neuron_update", None, "")
        static, dynamic = figure("idle_power", None, ""), figure("dynamic_power", None, "")
        return CycleModel(part.id, "speck-event", SPECK_LATENCY_LAYERS / event, {}, e_syn, e_neu, static,
                          tuple(provenance), dynamic_power=dynamic)
    clock = figure_or("clock", DEFAULT_CLOCK_HZ, f"nmspec default {DEFAULT_CLOCK_HZ / 1e6:g} MHz (no catalog figure)")
    default_note = "nmspec default (engine/mapping/target.py); no vendor figure"
    per_event: dict[str, float] = {}
    kind = "per-event"
    if family != "xylo":
        per_event = {
            "input_events": figure_or("cycles_per_input_event", DEFAULT_CYCLES["input_event"], default_note),
            "synaptic_ops": figure_or("cycles_per_synaptic_op", DEFAULT_CYCLES["synaptic_op"], default_note),
            "neuron_updates": figure_or("cycles_per_neuron_update", DEFAULT_CYCLES["neuron_update"], default_note),
            "spikes_sent": figure_or("cycles_per_spike", DEFAULT_CYCLES["spike_sent"], default_note),
            "hops": figure_or("cycles_per_hop", DEFAULT_HOP_CYCLES, default_note),
        }
    else:
        kind = "xylo-step"
        if part.id in XYLO_EXPANSION_CHIPS:
            provenance.append(("xylo step model", XYLO_EXPANSION_SOURCE))
        else:
            provenance.append(("xylo step model", XYLO_STEP_SOURCE + ("" if part.id == "xylo-audio2" else
                                                                      "; published for Xylo Audio 2, applied to this Xylo core")))
    e_syn = figure("energy_per_synaptic_op", None, "")
    e_neu = figure("energy_per_neuron_update", None, "")
    static = figure("idle_power", None, "")
    return CycleModel(part.id, kind, float(clock), per_event, e_syn, e_neu, static, tuple(provenance),
                      kind == "xylo-step" and part.id in XYLO_EXPANSION_CHIPS)


@attrs.frozen(eq=False)
class CycleCounts:
    """Per step and core: the counters and the cycles they cost."""

    counters: Mapping[str, NDArray[np.int64]]  # name -> (steps, n_cores)
    cycles: NDArray[np.float64]  # (steps, n_cores)
    clock_hz: float
    dt: float
    worst_case_cycles: float | None = None  # xylo-step: every channel and neuron active

    @property
    def step_cycles(self) -> NDArray[np.float64]:
        busiest: NDArray[np.float64] = self.cycles.max(axis=1)
        return busiest

    @property
    def latency_s(self) -> NDArray[np.float64]:
        return self.step_cycles / self.clock_hz

    @property
    def min_clock_hz(self) -> float:
        return float(self.step_cycles.max(initial=0.0)) / self.dt

    @property
    def real_time(self) -> bool:
        return bool(self.latency_s.max(initial=0.0) <= self.dt)


def _per_core_rows(network: QuantNetwork, proj: Projection) -> csr_matrix:
    """(n_src, n_cores) sparse: synapses of each source row on each core."""
    from scipy import sparse

    n_cores = network.placement.n_cores if network.placement is not None else 1
    w = proj.weights
    rows = np.repeat(np.arange(w.n_src), np.diff(w.indptr))
    cores = _core_of(network, proj.dst)[w.indices]
    return sparse.csr_matrix((np.ones(rows.size, dtype=np.int64), (rows, cores)), shape=(w.n_src, n_cores))


def _core_of(network: QuantNetwork, population: str) -> NDArray[np.int64]:
    if network.placement is None:
        return np.zeros(network.population(population).size, dtype=np.int64)
    return np.asarray(network.placement.neuron_core[population], dtype=np.int64)


def _delivered_sources(network: QuantNetwork, run: KernelRun, proj: Projection) -> NDArray[np.int64] | NDArray[np.int32]:
    """The source counts whose synaptic events happen in each step (family timing)."""
    if proj.src == INPUT:
        return run.inputs
    spikes = run.spikes[proj.src]
    if network.family in ("loihi", "speck"):  # a Dense computes on the step its source spiked; Speck's
        return spikes  # asynchronous pipeline hands a layer's spikes on within the step
    previous = np.zeros_like(spikes)
    previous[1:] = spikes[:-1]
    if len(previous):  # a continued run: the step before its first
        previous[0] = run.before[proj.src]
    return previous


def _times(counts: NDArray[np.integer], per_core: csr_matrix) -> NDArray[np.int64]:
    from scipy import sparse

    return np.asarray((sparse.csr_matrix(counts) @ per_core).toarray(), dtype=np.int64)


def count_events(network: QuantNetwork, run: KernelRun) -> dict[str, NDArray[np.int64]]:
    """Per step and core: input events, synaptic events, neuron updates, spikes sent, hops."""
    from scipy import sparse

    routed = run.routing.network if run.routing is not None else network
    n_cores = network.placement.n_cores if network.placement is not None else 1
    steps = run.inputs.shape[0]
    counters = {name: np.zeros((steps, n_cores), dtype=np.int64) for name in COUNTERS}
    for proj in routed.projections:
        per_core = _per_core_rows(routed, proj)
        sources = _delivered_sources(routed, run, proj)
        counters["synaptic_ops"] += _times(sources, per_core)
        if proj.src == INPUT:  # one input event per channel event and core that holds its targets
            reaches = per_core.copy()
            reaches.data[:] = 1
            counters["input_events"] += _times(sources, reaches)
    for pop in network.populations:
        cores = _core_of(network, pop.name)
        counters["neuron_updates"] += np.bincount(cores, minlength=n_cores)[None, :]
        onehot = sparse.csr_matrix((np.ones(pop.size, dtype=np.int64), (np.arange(pop.size), cores)), shape=(pop.size, n_cores))
        counters["spikes_sent"] += _times(run.spikes[pop.name], onehot)
        if run.routing is not None:
            keys = run.routing.neuron_key[pop.name]
            sending = np.flatnonzero(keys >= 0)
            if sending.size:
                # a multi-spike count still travels as one packet per spike event
                per_key = sparse.csr_matrix((np.ones(sending.size, dtype=np.int64), (sending, keys[sending])),
                                            shape=(pop.size, len(run.routing.groups)))
                counters["hops"] += _times(run.spikes[pop.name], per_key @ sparse.csr_matrix(run.routing.forwards))
    return counters


def _xylo_step_cycles(network: QuantNetwork, run: KernelRun, expansion_only: bool = False
                      ) -> tuple[NDArray[np.float64], float]:
    """Rockpool's Xylo cycle model, step by step; and its worst case. `expansion_only`: the
    IMU / Audio 3 model, whose input and readout loops run over the neurons that have input
    and readout weights."""
    c = XYLO_STEP_CYCLES
    hidden = network.population("hidden")
    n_in, n_hid, n_out = network.n_inputs, hidden.size, network.population("output").size
    fanout = np.zeros(n_hid, dtype=np.int64)
    fed = np.zeros(n_hid, dtype=bool)
    read = np.zeros(n_hid, dtype=bool)
    for proj in network.projections:
        if proj.src == "hidden" and proj.dst == "hidden":
            fanout = np.maximum(fanout, np.diff(proj.weights.indptr))  # the synapses work in parallel
        elif proj.src == INPUT:
            fed[proj.weights.indices[proj.weights.values != 0]] = True
        elif proj.src == "hidden":
            read |= (proj.weights.to_dense() != 0).any(axis=1)
    n_ien = int(fed.sum()) if expansion_only else n_hid
    n_oen = int(read.sum()) if expansion_only else n_hid
    fanout_avg = float(fanout.mean()) if n_hid else 0.0
    alias = np.asarray(hidden.params["alias"])
    targets = np.bincount(alias[alias >= 0], minlength=n_hid)
    is_target = float(targets.mean()) if n_hid else 0.0  # mean alias-target count
    is_source = float(np.mean(alias >= 0)) if n_hid else 0.0

    def cycles(p_in: _Share, p_prev: _Share, p_now: _Share) -> _Share:
        spiking = (np.maximum(p_now, is_target * is_source) * 2 + np.maximum(p_now * is_target, is_target * is_source) * 3
                   + p_now + np.maximum(p_now, is_target) * is_source)
        total: _Share = (n_in * (p_in * n_ien * c["input_loop"] + c["input_channel"])
                         + n_hid * (fanout_avg * c["hidden_synapse"] * p_prev + c["hidden_isyn"])
                         + n_oen * p_prev * (c["readout_neuron"] + n_out * c["readout_synapse"])
                         + n_hid * (c["hidden_fixed"] + spiking)
                         + n_out * c["output_fixed"])
        return total

    p_in = np.count_nonzero(run.inputs, axis=1) / max(n_in, 1)
    p_now = np.count_nonzero(run.spikes["hidden"], axis=1) / max(n_hid, 1)
    first = np.count_nonzero(run.before["hidden"]) / max(n_hid, 1)
    p_prev = np.concatenate([[first], p_now[:-1]])
    return np.asarray(cycles(p_in, p_prev, p_now), dtype=float), float(cycles(1.0, 1.0, 1.0))


def speck_layer_events(network: QuantNetwork, run: KernelRun) -> NDArray[np.int64]:
    """Per step, the events Speck's layers receive: each projection delivers its source's
    events of the step (input counts, or the source layer's spikes, which the pipeline hands
    on within the step), whatever their weights."""
    events = np.zeros(run.inputs.shape[0], dtype=np.int64)
    for proj in network.projections:
        sources = run.inputs if proj.src == INPUT else run.spikes[proj.src]
        events += np.asarray(sources, dtype=np.int64).sum(axis=1)
    return events


def count_cycles(network: QuantNetwork, run: KernelRun, model: CycleModel) -> CycleCounts:
    counters = count_events(network, run)
    worst = None
    if model.kind == "speck-event":
        cycles = speck_layer_events(network, run)[:, None].astype(float)
    elif model.kind == "xylo-step":
        per_step, worst = _xylo_step_cycles(network, run, model.expansion_only)
        cycles = per_step[:, None]
    else:
        cycles = np.asarray(sum(counters[name] * float(model.per_event[name]) for name in COUNTERS), dtype=float)
    return CycleCounts(counters, np.asarray(cycles, dtype=float), model.clock_hz, network.dt, worst)


@attrs.frozen
class Energy:
    dynamic_j: float | None  # None: the catalog lacks a per-operation energy
    static_j: float | None  # None: the catalog lacks the static power
    steps: int

    @property
    def total_j(self) -> float | None:
        if self.dynamic_j is None and self.static_j is None:
            return None
        return (self.dynamic_j or 0.0) + (self.static_j or 0.0)


def inference_energy(counts: CycleCounts, model: CycleModel, steps: int | None = None) -> Energy:
    """Energy of the counted steps (one inference window)."""
    steps = counts.cycles.shape[0] if steps is None else steps
    dynamic = None
    if model.energy_per_synaptic_op is not None and model.energy_per_neuron_update is not None:
        dynamic = (float(counts.counters["synaptic_ops"].sum()) * model.energy_per_synaptic_op
                   + float(counts.counters["neuron_updates"].sum()) * model.energy_per_neuron_update)
    elif model.dynamic_power is not None:
        dynamic = model.dynamic_power * steps * counts.dt
    static = None if model.static_power is None else model.static_power * steps * counts.dt
    return Energy(dynamic, static, steps)
