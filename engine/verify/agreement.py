"""Verification of an image against the model it came from, on the spec's stimuli.

The image is read back from its bytes (never from the compiler's objects) and run by the
kernel; the float reference is the source model imported again from its NIR file; the
input spikes come from the spec's own fixed-point signal chain. Classification is the
class with the most output spikes over a measurement window, or on a membrane readout the
class whose readout membrane peaks highest over it (ties: the lowest index).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import attrs
import numpy as np

from engine.dsp.chain import Chain
from engine.resolve.floatnet import FloatNet, classify, readout_scores, simulate
from engine.resolve.stimuli import Stimuli, load_traces  # noqa: F401  (re-exported for verify's users)
from engine.verify import kernel

if TYPE_CHECKING:
    from engine.netlist import QuantNetwork
    from engine.verify.cycles import CycleCounts, CycleModel


@attrs.frozen
class Agreement:
    windows: int
    agreement: float  # fraction of windows where kernel and float reference pick the same class
    kernel_accuracy: float
    float_accuracy: float
    detection_rate: float  # kernel: fault windows classified as any fault
    false_alarm_rate: float  # kernel: normal windows classified as a fault
    float_detection_rate: float
    float_false_alarm_rate: float
    correlation: tuple[float, ...]  # per output: correlation kernel vs float of the scores (spike counts, peak membranes)
    deterministic: bool  # two kernel runs gave identical spikes
    kernel_classes: tuple[int, ...]
    float_classes: tuple[int, ...]
    labels: tuple[int, ...]
    synaptic_ops: int  # over all windows
    steps: int
    output_spikes_per_step: float  # kernel, nominal windows
    cycles: CycleSummary | None = None  # when a cycle model was given
    readout: str = "spikes"  # the image's (engine.netlist.READOUTS): what the scores and classes are of


@attrs.frozen
class CycleSummary:
    """The cycle model over every stimulus window."""

    model: str
    cores: int
    clock_hz: float
    dt: float
    peak_cycles: float  # busiest core, busiest step
    mean_cycles: float  # busiest core per step, averaged over steps
    peak_latency_s: float
    mean_latency_s: float
    min_clock_hz: float  # lowest clock that keeps every step within dt
    worst_case_clock_hz: float | None  # xylo-step: every channel and neuron active, with Rockpool's margin
    real_time: bool
    window_steps: int  # steps of one inference window
    synaptic_ops_per_window: float
    neuron_updates_per_window: float
    hops_per_window: float
    dynamic_energy_j: float | None  # per window
    static_energy_j: float | None  # per window
    provenance: tuple[tuple[str, str], ...] = ()

    @property
    def energy_j(self) -> float | None:
        if self.dynamic_energy_j is None and self.static_energy_j is None:
            return None
        return (self.dynamic_energy_j or 0.0) + (self.static_energy_j or 0.0)


def _rates(predicted: np.ndarray, labels: np.ndarray) -> tuple[float, float]:
    faults = labels != 0
    detection = float(np.mean(predicted[faults] != 0)) if faults.any() else float("nan")
    false_alarm = float(np.mean(predicted[~faults] != 0)) if (~faults).any() else float("nan")
    return detection, false_alarm


def _cycle_summary(network: QuantNetwork, runs_cycles: Sequence[CycleCounts], model: CycleModel) -> CycleSummary:
    from engine.verify.cycles import XYLO_STEP_CYCLES, inference_energy

    step_cycles = np.concatenate([c.step_cycles for c in runs_cycles])
    first = runs_cycles[0]
    windows = len(runs_cycles)
    energies = [inference_energy(c, model) for c in runs_cycles]
    dynamic = None if energies[0].dynamic_j is None else float(np.mean([e.dynamic_j for e in energies]))
    static = None if energies[0].static_j is None else float(np.mean([e.static_j for e in energies]))
    total = {name: sum(float(c.counters[name].sum()) for c in runs_cycles) / windows
             for name in ("synaptic_ops", "neuron_updates", "hops")}
    worst = first.worst_case_cycles
    return CycleSummary(
        model=model.kind, cores=int(first.cycles.shape[1]), clock_hz=model.clock_hz, dt=network.dt,
        peak_cycles=float(step_cycles.max(initial=0.0)), mean_cycles=float(step_cycles.mean()) if step_cycles.size else 0.0,
        peak_latency_s=float(step_cycles.max(initial=0.0)) / model.clock_hz,
        mean_latency_s=(float(step_cycles.mean()) if step_cycles.size else 0.0) / model.clock_hz,
        min_clock_hz=float(step_cycles.max(initial=0.0)) / network.dt,
        worst_case_clock_hz=None if worst is None else worst * (1 + XYLO_STEP_CYCLES["clock_margin"]) / network.dt,
        real_time=bool(step_cycles.max(initial=0.0) <= model.clock_hz * network.dt),
        window_steps=int(first.cycles.shape[0]), synaptic_ops_per_window=total["synaptic_ops"],
        neuron_updates_per_window=total["neuron_updates"], hops_per_window=total["hops"],
        dynamic_energy_j=dynamic, static_energy_j=static, provenance=model.provenance)


def check_agreement(network: QuantNetwork, reference: FloatNet, chain: Chain, stimuli: Stimuli, *,
                    cycle_model: CycleModel | None = None, spikes: np.ndarray | None = None) -> Agreement:
    """`spikes`: the chain's output for the stimuli when the caller already has it."""
    from engine.verify.cycles import count_cycles

    if spikes is None:
        spikes = chain.run(stimuli.samples)  # (windows, frames, channels)
    float_counts = readout_scores(reference, simulate(reference, spikes))
    counts_per_window: list[np.ndarray] = []
    ops, deterministic, steps = 0, True, 0
    nominal_out = []
    runs_cycles: list[CycleCounts] = []
    for index, window in enumerate(spikes):
        first = kernel.run(network, window)
        if cycle_model is not None:
            runs_cycles.append(count_cycles(network, first, cycle_model))
        counts = first.output_scores(network)
        if index < 2:  # determinism: the same input twice gives the same spikes
            second = kernel.run(network, window)
            deterministic &= all(np.array_equal(first.spikes[k], second.spikes[k]) for k in first.spikes)
        counts_per_window.append(counts)
        ops += int(first.events["synaptic_ops"].sum())
        steps += window.shape[0]
        if stimuli.labels[index] == 0:
            nominal_out.append(first.output_counts(network.output).sum() / window.shape[0])
    kernel_counts = np.array(counts_per_window)
    k_cls, f_cls = classify(kernel_counts), classify(float_counts)
    correlation = []
    for o in range(kernel_counts.shape[1]):
        a, b = kernel_counts[:, o].astype(float), float_counts[:, o].astype(float)
        if a.std() == 0 or b.std() == 0:
            correlation.append(1.0 if np.array_equal(a, b) else 0.0)
        else:
            correlation.append(float(np.corrcoef(a, b)[0, 1]))
    det, fa = _rates(k_cls, stimuli.labels)
    fdet, ffa = _rates(f_cls, stimuli.labels)
    return Agreement(
        windows=len(stimuli.labels), agreement=float(np.mean(k_cls == f_cls)),
        kernel_accuracy=float(np.mean(k_cls == stimuli.labels)), float_accuracy=float(np.mean(f_cls == stimuli.labels)),
        detection_rate=det, false_alarm_rate=fa, float_detection_rate=fdet, float_false_alarm_rate=ffa,
        correlation=tuple(correlation), deterministic=bool(deterministic), kernel_classes=tuple(int(c) for c in k_cls),
        float_classes=tuple(int(c) for c in f_cls), labels=tuple(int(c) for c in stimuli.labels),
        synaptic_ops=ops, steps=steps, output_spikes_per_step=float(np.mean(nominal_out)) if nominal_out else 0.0,
        cycles=_cycle_summary(network, runs_cycles, cycle_model) if runs_cycles and cycle_model is not None else None,
        readout=network.readout)
