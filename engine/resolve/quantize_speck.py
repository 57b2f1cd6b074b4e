"""Speck (DynapCNN) quantization: integrate-and-fire layers with 8-bit weights and biases and
a 16-bit membrane, one scale per layer.

The rule is the one SynSense's sinabs applies before it writes a DynapCNN configuration
(sinabs 3.1 `backend/dynapcnn/discretize.py`): for each layer, the scale that brings the
weights to signed 8 bits, the one that brings the biases to signed 8 bits and the one that
brings the threshold to signed 16 bits are computed alike (the larger of the positive and the
negative side binds, each against its own end of the signed range: 127 or -128), and the
smallest of them scales everything; values are then rounded half to even, as torch.round
does. The membrane's floor (`threshold_low`) is the state word's minimum, -32768, which is
what sinabs writes for a spiking layer without a lower bound; it takes no part in the scale.

The chip has no synaptic current and no multiplicative leak: its only leak is a constant
added to every membrane once per tick of the slow clock (the layer's bias), which nmspec
ticks once per step. So the model's populations must be IF neurons (NIR IF, or LIF without
decay), fed forward: DynapCNN's cores form a pipeline, and nmspec does not map recurrence.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from engine.netlist import Population, Projection, QuantNetwork, Weights, frozen_array
from engine.resolve.floatnet import FloatNet, FloatPopulation, FloatProjection

SPECK_WEIGHT_BITS = 8  # sinabs DYNAPCNN_WEIGHT_PRECISION_BITS
SPECK_STATE_BITS = 16  # sinabs DYNAPCNN_STATE_PRECISION_BITS
SPECK_STATE_MIN, SPECK_STATE_MAX = -(2 ** 15), 2 ** 15 - 1
SPECK_WEIGHT_MIN, SPECK_WEIGHT_MAX = -(2 ** 7), 2 ** 7 - 1


def discretization_scale(values: np.ndarray, bits: int) -> float:
    """The factor that brings `values` into signed `bits`: the side of the range that binds
    decides (the negative side is one step longer). inf for no values or all zeros."""
    values = np.asarray(values, dtype=np.float64)
    if values.size == 0 or not np.any(values):
        return math.inf
    low_d, high_d = -(2.0 ** (bits - 1)), 2.0 ** (bits - 1) - 1
    low, high = float(np.min(values)), float(np.max(values))
    if abs(low) <= abs(high) * abs(low_d / high_d):
        return abs(high_d / high) if high != 0 else math.inf
    return abs(low_d / low)


def _incoming_weights(pop: FloatPopulation, incoming: Sequence[FloatProjection]) -> list[np.ndarray]:
    return [proj.weight * pop.in_gain[None, :] for proj in incoming]


def _bias(pop: FloatPopulation, incoming: Sequence[FloatProjection]) -> np.ndarray:
    bias = pop.leak.astype(np.float64).copy()
    for proj in incoming:
        if proj.bias is not None:
            bias = bias + proj.bias * pop.in_gain
    return bias


def speck_problems(net: FloatNet, per_channel: bool) -> list[str]:
    """Why `net` has no Speck form (empty when it has one)."""
    problems = []
    if per_channel:
        problems.append("granularity per_channel: a DynapCNN core holds one threshold per layer, so its scales are "
                        "per layer")
    for pop in net.populations:
        if pop.alpha is not None:
            problems.append(f"population '{pop.name}' ({pop.kind}) has a synaptic current; DynapCNN neurons are "
                            "integrate-and-fire without one: export IF")
        elif np.any(np.abs(pop.beta - 1.0) > 1e-9):
            problems.append(f"population '{pop.name}' ({pop.kind}) leaks in proportion to its membrane; DynapCNN's "
                            "only leak is a constant per step (the layer's bias): export IF")
    for proj in net.projections:
        if proj.delayed:
            problems.append(f"projection {proj.src} -> {proj.dst} is recurrent; DynapCNN's cores form a feed-forward "
                            "pipeline and nmspec maps no recurrence onto it")
    return problems


def quantize_speck(net: FloatNet) -> tuple[QuantNetwork, list[dict[str, float | int | str]], FloatNet, tuple[str, ...]]:
    """The integer network, per-layer figures (population, size, weight_error, zeroed,
    total, never_fire, scale), the quantized network in integer units for the float
    simulator, and notes. Call speck_problems first."""
    populations, projections = [], []
    layers: list[dict[str, float | int | str]] = []
    shadow_pops, shadow_projs = [], []
    above_threshold = []
    for pop in net.populations:
        assert pop.threshold is not None
        incoming = net.into(pop.name)
        weights = _incoming_weights(pop, incoming)
        bias_float = _bias(pop, incoming)
        every = np.concatenate([w.reshape(-1) for w in weights] + [np.zeros(0)])
        scale = min(discretization_scale(every, SPECK_WEIGHT_BITS), discretization_scale(bias_float, SPECK_WEIGHT_BITS),
                    discretization_scale(pop.threshold, SPECK_STATE_BITS))
        threshold = np.clip(np.round(pop.threshold * scale), 1, SPECK_STATE_MAX).astype(np.int64)
        bias = np.clip(np.round(bias_float * scale), SPECK_WEIGHT_MIN, SPECK_WEIGHT_MAX).astype(np.int64)
        error_num = error_den = 0.0
        zeroed = total = 0
        excitable = bias > 0
        for proj, exact in zip(incoming, weights):
            q = np.clip(np.round(exact * scale), SPECK_WEIGHT_MIN, SPECK_WEIGHT_MAX).astype(np.int64)
            error_num += float(np.sum((q / scale - exact) ** 2))
            error_den += float(np.sum(exact ** 2))
            zeroed += int(np.sum((exact != 0) & (q == 0)))
            total += int(np.sum(exact != 0))
            excitable |= np.any(q > 0, axis=0)
            if np.any(q > threshold[None, :]):
                above_threshold.append(pop.name)
            projections.append(Projection(proj.src, pop.name, Weights.from_dense(q), 0, 0))
            shadow_projs.append(FloatProjection(proj.src, pop.name, q.astype(np.float64), None, False, proj.nodes))
        reset_zero = np.full(pop.size, 1 if pop.reset == "zero" else 0, dtype=np.int64)
        populations.append(Population(pop.name, pop.size, {
            "threshold": frozen_array(threshold, np.int32),
            "threshold_low": frozen_array(np.full(pop.size, SPECK_STATE_MIN), np.int32),
            "bias": frozen_array(bias, np.int32), "reset_zero": frozen_array(reset_zero, np.int32)}))
        layers.append({"population": pop.name, "size": pop.size,
                       "weight_error": math.sqrt(error_num / error_den) if error_den else 0.0,
                       "zeroed": zeroed, "total": total, "never_fire": int(np.sum(~excitable)), "scale": float(scale)})
        ones = np.ones(pop.size)
        shadow_pops.append(FloatPopulation(pop.name, pop.kind, pop.size, None, ones, ones, ones,
                                           bias.astype(np.float64), threshold.astype(np.float64), np.zeros(pop.size),
                                           "zero" if pop.reset == "zero" else "subtract", "ge", None, pop.tau_mem,
                                           max_spikes=pop.max_spikes))
    network = QuantNetwork("speck", net.dt, net.n_inputs, tuple(populations), tuple(projections), net.output)
    notes = [("Speck's cores are event-driven: every input event fires at most one spike per neuron it reaches, and a "
              "layer's spikes reach the next layer within the same step")]
    if above_threshold:
        notes.append(f"{', '.join(sorted(set(above_threshold)))}: a weight exceeds the threshold, so a neuron can keep "
                     "a membrane above threshold after its one spike per event (sinabs' documentation advises weights "
                     "below the threshold)")
    resets = sorted(p.name for p in net.populations if p.reset == "subtract_late")
    if resets:
        notes.append(f"{', '.join(resets)} subtract the threshold one step after a spike; speck subtracts it at once")
    shadow = FloatNet(net.n_inputs, tuple(shadow_pops), tuple(shadow_projs), net.output, net.dt, net.convention)
    return network, layers, shadow, tuple(notes)
