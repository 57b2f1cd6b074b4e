"""Verification of an image against the model it came from, on the spec's stimuli.

The image is read back from its bytes (never from the compiler's objects) and run by the
kernel; the float reference is the source model imported again from its NIR file; the
input spikes come from the spec's own fixed-point signal chain. Classification is the
class with the most output spikes over a measurement window (ties: the lowest index).
"""

from __future__ import annotations

import attrs
import numpy as np

from engine.dsp.chain import Chain
from engine.resolve.floatnet import FloatNet, classify, simulate
from engine.resolve.stimuli import Stimuli, load_traces  # noqa: F401  (re-exported for verify's users)
from engine.verify import kernel


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
    correlation: tuple[float, ...]  # per output: spike-count correlation kernel vs float
    deterministic: bool  # two kernel runs gave identical spikes
    kernel_classes: tuple[int, ...]
    float_classes: tuple[int, ...]
    labels: tuple[int, ...]
    synaptic_ops: int  # over all windows
    steps: int
    output_spikes_per_step: float  # kernel, nominal windows


def _rates(predicted: np.ndarray, labels: np.ndarray) -> tuple[float, float]:
    faults = labels != 0
    detection = float(np.mean(predicted[faults] != 0)) if faults.any() else float("nan")
    false_alarm = float(np.mean(predicted[~faults] != 0)) if (~faults).any() else float("nan")
    return detection, false_alarm


def check_agreement(network, reference: FloatNet, chain: Chain, stimuli: Stimuli) -> Agreement:
    spikes = chain.run(stimuli.samples)  # (windows, frames, channels)
    float_counts = simulate(reference, spikes)[reference.output].sum(axis=1)
    kernel_counts, ops, deterministic, steps = [], 0, True, 0
    nominal_out = []
    for index, window in enumerate(spikes):
        first = kernel.run(network, window)
        counts = first.output_counts(network.output)
        if index < 2:  # determinism: the same input twice gives the same spikes
            second = kernel.run(network, window)
            deterministic &= all(np.array_equal(first.spikes[k], second.spikes[k]) for k in first.spikes)
        kernel_counts.append(counts)
        ops += int(first.events["synaptic_ops"].sum())
        steps += window.shape[0]
        if stimuli.labels[index] == 0:
            nominal_out.append(counts.sum() / window.shape[0])
    kernel_counts = np.array(kernel_counts)
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
        synaptic_ops=ops, steps=steps, output_spikes_per_step=float(np.mean(nominal_out)) if nominal_out else 0.0)
