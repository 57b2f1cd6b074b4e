"""Discretisation and quantization: a FloatNet at the spec's dt -> an integer QuantNetwork.

Scales come from calibration: the float network runs on the spec's stimuli, and each
population's scale keeps its largest membrane and drive values, plus the headroom, inside
the target's state words while its weights use the full weight range. Per-layer
granularity uses one scale per population, per-channel one per neuron (thresholds are
per neuron on every family, and spikes carry no scale, so neurons scale independently).

Family mappings (float: I = a*I + g_in*x;  v = b*v + g_i*I + leak; spike v > theta):
  xylo   I += w*s; I -= I >> dash_syn (so I ~ a*(I + w*s)); V += -(V >> dash_mem) + I + bias.
         dash = round(log2(tau / dt)) with tau = dt / (1 - decay); w = s*g_in*g_i*W / a;
         threshold = s*theta; bias = s*(g_i*g_in*b/(1-a) + leak). Layers after the first
         are packed into the hidden population through the recurrent matrix (one step each).
  loihi  du = round(4096 (1 - a)) - 1, dv = round(4096 (1 - b)); W_q 2^weight_exp = s*g_in*g_i*W
         (mixed-sign weights even, in [-256, 254]); vth = s*theta; 64*s*v fits 24 bits.
  lif    as xylo with 32-bit state, one spike per step, no aliases.
"""

from __future__ import annotations

import math
from typing import Mapping, Sequence

import attrs
import numpy as np

from engine.diagnostics import Diagnostic
from engine.netlist import INPUT, Population, Projection, QuantNetwork, Weights, frozen_array
from engine.resolve.floatnet import FloatNet, FloatPopulation, FloatProjection, simulate

XYLO_STATE_MAX = 32767
LIF_STATE_MAX = 2**31 - 1
LOIHI_STATE_MAX = 2**23 - 1
LOIHI_VTH_MAX = 2**17 - 1


class QuantizeError(Exception):
    def __init__(self, diagnostics: list[Diagnostic]) -> None:
        super().__init__("; ".join(d.message for d in diagnostics))
        self.diagnostics = diagnostics


@attrs.frozen
class LayerReport:
    population: str
    size: int
    weight_error: float  # relative RMS error of the dequantized weights
    zeroed_weights: int  # nonzero float weights that became 0
    total_weights: int
    never_fire: int  # neurons whose largest possible drive stays below threshold
    decay_error_syn: float  # relative error of the per-step synaptic decay
    decay_error_mem: float
    scale: float  # float units -> integer units (median over neurons)


@attrs.frozen
class QuantizeResult:
    network: QuantNetwork
    layers: tuple[LayerReport, ...]
    notes: tuple[str, ...]


def _decay_shift(decay: np.ndarray | None, name: str, kind: str, dt: float, problems: list[str]) -> np.ndarray:
    """Xylo-style dash: round(log2(tau/dt)) where tau/dt = 1/(1 - decay)."""
    if decay is None:
        return np.zeros(0, dtype=np.int64)
    steps = 1.0 / np.maximum(1.0 - decay, 1e-300)
    if np.any(steps <= 1.0 + 1e-9):
        tau = float(np.min(steps) * dt)
        problems.append(f"population '{name}': {kind} time constant {tau * 1e3:.4g}ms is not longer than dt "
                        f"({dt * 1e3:g}ms); a bit-shift decay cannot represent it")
        return np.zeros(decay.shape, dtype=np.int64)
    dash = np.round(np.log2(steps)).astype(np.int64)
    if np.any(dash > 15):
        problems.append(f"population '{name}': {kind} time constant {float(np.max(steps) * dt):.4g}s is longer than "
                        f"2^15 steps of dt; the longest is {2 ** 15 * dt:.4g}s")
    return np.clip(dash, 0, 15)


def _effective(proj: FloatProjection, pop: FloatPopulation) -> np.ndarray:
    """The per-spike drive into v (float units) of every weight, before the family's own gain."""
    gain = pop.in_gain * (pop.i_gain if pop.alpha is not None else 1.0)
    return proj.weight * gain[None, :]


def _peaks(net: FloatNet, stimuli: np.ndarray | None) -> dict[str, float]:
    peaks = {p.name: float(np.max(p.threshold)) if p.threshold is not None else 1.0 for p in net.populations}
    if stimuli is None or len(stimuli) == 0:
        return {k: 2.0 * v for k, v in peaks.items()}
    record = simulate(net, stimuli, record=True)
    for pop in net.populations:
        seen = max(float(np.max(np.abs(record[f"v:{pop.name}"]))), float(np.max(np.abs(record[f"i:{pop.name}"]))))
        peaks[pop.name] = max(peaks[pop.name], seen)
    return peaks


def _scales(pop: FloatPopulation, incoming: Sequence[FloatProjection], peak: float, headroom: float,
            state_max: float, weight_max: float, per_channel: bool, weight_divisor: np.ndarray) -> np.ndarray:
    """Per-neuron scale: the state limit and the weight limit, whichever binds."""
    state_scale = state_max / ((1.0 + headroom) * max(peak, 1e-12))
    largest = np.zeros(pop.size)
    for proj in incoming:
        largest = np.maximum(largest, np.max(np.abs(_effective(proj, pop)), axis=0) / weight_divisor)
    if not per_channel:
        largest = np.full(pop.size, float(np.max(largest)) if largest.size else 0.0)
    with np.errstate(divide="ignore"):
        weight_scale = np.where(largest > 0, weight_max / np.maximum(largest, 1e-300), np.inf)
    scale = np.minimum(weight_scale, state_scale)
    return np.where(np.isfinite(scale), scale, state_scale)


def quantize(net: FloatNet, family: str, *, stimuli: np.ndarray | None = None, headroom: float = 0.05,
             granularity: str = "per_layer", weight_bits: int = 8) -> QuantizeResult:
    """Raises QuantizeError (NM31x) when a parameter cannot be expressed on the family."""
    problems: list[str] = []
    if weight_bits < 2:
        raise QuantizeError([Diagnostic("error", "NM315", f"{weight_bits}-bit weights: nmspec quantizes to signed weights "
                                                          "of at least 2 bits")])
    for pop in net.populations:
        if pop.threshold is None:
            problems.append(f"population '{pop.name}' ({pop.kind}) does not spike; {family} targets need spiking neurons "
                            "(LIF, CubaLIF, IF) in every layer, including the readout")
        if pop.reset == "zero" and np.any(pop.v_reset != 0):
            problems.append(f"population '{pop.name}': reset to {float(pop.v_reset.max()):g}; the targets reset to 0 or by subtraction")
    if problems:
        raise QuantizeError([Diagnostic("error", "NM310", p) for p in problems])
    peaks = _peaks(net, stimuli)
    per_channel = granularity == "per_channel"
    if family == "loihi":
        result = _loihi(net, peaks, headroom, per_channel, problems)
    else:
        result = _xylo_like(net, family, peaks, headroom, per_channel, weight_bits, problems)
    if problems:
        raise QuantizeError([Diagnostic("error", "NM311", p) for p in problems])
    return result


def _xylo_like(net: FloatNet, family: str, peaks: Mapping[str, float], headroom: float, per_channel: bool,
               weight_bits: int, problems: list[str]) -> QuantizeResult:
    state_max = XYLO_STATE_MAX if family == "xylo" else LIF_STATE_MAX
    wmax = 2 ** (weight_bits - 1) - 1
    dt = net.dt
    layer_pops = list(net.populations)
    if family == "xylo":
        hidden_pops = [p for p in layer_pops if p.name != net.output]
        for proj in net.projections:
            if proj.src == INPUT and proj.dst == net.output:
                problems.append(f"projection input -> '{net.output}': Xylo has no direct input-to-readout weights; add a hidden layer")
        if not hidden_pops:
            problems.append("Xylo needs at least one hidden population before the readout")
    offsets: dict[str, int] = {}
    reports: list[LayerReport] = []
    params: dict[str, dict[str, list[np.ndarray]]] = {}
    quant_weights: list[tuple[str, str, np.ndarray, int]] = []  # (src, dst, dense int matrix in dst-local coords, synapse)
    for pop in layer_pops:
        incoming = [p for p in net.projections if p.dst == pop.name]
        alpha = pop.alpha if pop.alpha is not None else np.zeros(pop.size)
        dash_syn = _decay_shift(pop.alpha, pop.name, "synaptic", dt, problems) if pop.alpha is not None else np.zeros(pop.size, dtype=np.int64)
        dash_mem = _decay_shift(pop.beta, pop.name, "membrane", dt, problems) if np.all(pop.beta < 1) else np.full(pop.size, 15)
        # the integer synapse gives a*(I + w s): divide by the decay it really has
        a_int = 1.0 - 2.0 ** (-dash_syn.astype(np.float64)) if pop.alpha is not None else np.ones(pop.size)
        a_int = np.where(a_int > 0, a_int, 1.0)
        scale = _scales(pop, incoming, peaks[pop.name], headroom, state_max, wmax, per_channel, a_int)
        threshold = np.round(scale * pop.threshold).astype(np.int64)
        if np.any(threshold > state_max):
            problems.append(f"population '{pop.name}': threshold does not fit the state word")
        threshold = np.clip(threshold, 1, state_max)
        bias_float = pop.leak.copy()
        for proj in incoming:
            if proj.bias is not None:
                steady = proj.bias * pop.in_gain / np.maximum(1.0 - alpha, 1e-12) if pop.alpha is not None else proj.bias * pop.in_gain
                bias_float = bias_float + steady * (pop.i_gain if pop.alpha is not None else 1.0)
        bias = np.clip(np.round(scale * bias_float), -state_max, state_max).astype(np.int64)
        error_num = error_den = 0.0
        zeroed = total = 0
        max_drive = np.zeros(pop.size)
        for proj in incoming:
            ideal = _effective(proj, pop) * scale[None, :] / a_int[None, :]
            q = np.clip(np.round(ideal), -wmax - 1, wmax).astype(np.int64)
            dequant = q * a_int[None, :] / scale[None, :]
            exact = _effective(proj, pop)
            error_num += float(np.sum((dequant - exact) ** 2))
            error_den += float(np.sum(exact ** 2))
            zeroed += int(np.sum((exact != 0) & (q == 0)))
            total += int(np.sum(exact != 0))
            count_cap = 15 if proj.src == INPUT else (31 if family == "xylo" else 1)
            max_drive += np.sum(np.maximum(q, 0), axis=0) * count_cap
            quant_weights.append((proj.src, pop.name, q, 0))
        never = int(np.sum((max_drive + np.maximum(bias, 0)) * 2 ** 0 < threshold))
        decay_syn_err = float(np.max(np.abs(a_int - alpha) / np.maximum(1 - alpha, 1e-12))) if pop.alpha is not None else 0.0
        b_int = 1.0 - 2.0 ** (-dash_mem.astype(np.float64))
        decay_mem_err = float(np.max(np.abs(b_int - pop.beta) / np.maximum(1 - pop.beta, 1e-12))) if np.all(pop.beta < 1) else 0.0
        reports.append(LayerReport(pop.name, pop.size, math.sqrt(error_num / error_den) if error_den else 0.0,
                                   zeroed, total, never, decay_syn_err, decay_mem_err, float(np.median(scale))))
        params[pop.name] = {"dash_syn": dash_syn, "dash_mem": dash_mem, "threshold": threshold, "bias": bias}
    if problems:
        return QuantizeResult(None, (), ())  # the caller raises with the problems
    if family == "xylo":
        return _pack_xylo(net, layer_pops, params, quant_weights, reports)
    populations = []
    for pop in layer_pops:
        p = params[pop.name]
        populations.append(Population(pop.name, pop.size, {
            "decay_syn": frozen_array(p["dash_syn"], np.int32), "decay_mem": frozen_array(p["dash_mem"], np.int32),
            "threshold": frozen_array(p["threshold"], np.int32), "bias": frozen_array(p["bias"], np.int32)}))
    projections = tuple(Projection(src, dst, Weights.from_dense(q), 0, 0) for src, dst, q, _ in quant_weights)
    network = QuantNetwork("lif", net.dt, net.n_inputs, tuple(populations), projections, net.output)
    return QuantizeResult(network, tuple(reports), ())


def _pack_xylo(net: FloatNet, layer_pops: list[FloatPopulation], params, quant_weights, reports) -> QuantizeResult:
    hidden_pops = [p for p in layer_pops if p.name != net.output]
    offsets, total = {}, 0
    for pop in hidden_pops:
        offsets[pop.name] = total
        total += pop.size
    out_pop = net.population(net.output)

    def cat(key: str) -> np.ndarray:
        return np.concatenate([params[p.name][key] for p in hidden_pops])

    hidden = Population("hidden", total, {
        "dash_syn": frozen_array(cat("dash_syn")[:, None], np.int32),
        "dash_mem": frozen_array(cat("dash_mem"), np.int32),
        "threshold": frozen_array(cat("threshold"), np.int32),
        "bias": frozen_array(cat("bias"), np.int32),
        "alias": frozen_array(np.full(total, -1), np.int32),
    })
    o = params[out_pop.name]
    output = Population("output", out_pop.size, {
        "dash_syn": frozen_array(o["dash_syn"][:, None], np.int32), "dash_mem": frozen_array(o["dash_mem"], np.int32),
        "threshold": frozen_array(o["threshold"], np.int32), "bias": frozen_array(o["bias"], np.int32)})
    w_in = np.zeros((net.n_inputs, total), dtype=np.int64)
    w_rec = np.zeros((total, total), dtype=np.int64)
    w_out = np.zeros((total, out_pop.size), dtype=np.int64)
    for src, dst, q, _ in quant_weights:
        if dst == net.output:
            w_out[offsets[src]: offsets[src] + q.shape[0], :] += q
        elif src == INPUT:
            w_in[:, offsets[dst]: offsets[dst] + q.shape[1]] += q
        else:
            w_rec[offsets[src]: offsets[src] + q.shape[0], offsets[dst]: offsets[dst] + q.shape[1]] += q
    projections = [Projection(INPUT, "hidden", Weights.from_dense(w_in), 0, 0)]
    if np.any(w_rec):
        projections.append(Projection("hidden", "hidden", Weights.from_dense(w_rec), 0, 0))
    projections.append(Projection("hidden", "output", Weights.from_dense(w_out), 0, 0))
    network = QuantNetwork("xylo", net.dt, net.n_inputs, (hidden, output), tuple(projections), "output")
    notes = ()
    if len(hidden_pops) > 1:
        notes = (f"{len(hidden_pops)} hidden layers packed into Xylo's hidden population; each layer after the first adds one step of delay",)
    return QuantizeResult(network, tuple(reports), notes)


def _loihi(net: FloatNet, peaks: Mapping[str, float], headroom: float, per_channel: bool, problems: list[str]) -> QuantizeResult:
    populations, projections, reports = [], [], []
    for pop in net.populations:
        incoming = [p for p in net.projections if p.dst == pop.name]
        alpha = pop.alpha if pop.alpha is not None else np.zeros(pop.size)
        du = np.clip(np.round(4096 * (1 - alpha)) - 1, 0, 4095).astype(np.int64)
        dv = np.clip(np.round(4096 * (1 - pop.beta)), 0, 4095).astype(np.int64)
        # state: 64 * s * peak within 24 bits; threshold within 17 bits
        state_scale = LOIHI_STATE_MAX / (64 * (1 + headroom) * max(peaks[pop.name], 1e-12))
        vth_scale = LOIHI_VTH_MAX / max(float(np.max(pop.threshold)), 1e-12)
        scale = np.full(pop.size, min(state_scale, vth_scale))
        vth = np.clip(np.round(scale * pop.threshold), 1, LOIHI_VTH_MAX).astype(np.int64)
        error_num = error_den = 0.0
        zeroed = total = 0
        for proj in incoming:
            exact = _effective(proj, pop)
            ideal = exact * scale[None, :]
            peak = float(np.max(np.abs(ideal))) or 1.0
            exp = int(math.ceil(math.log2(peak / 254.0))) if peak > 254 else -int(math.floor(math.log2(254.0 / peak)))
            exp = max(-8, min(7, exp))
            q = np.round(ideal / 2.0 ** exp).astype(np.int64)
            mixed = np.any(q > 0) and np.any(q < 0)
            if mixed:
                q = (np.clip(q, -256, 255) >> 1) << 1
            else:
                q = np.clip(q, -255, 255)
            dequant = q * 2.0 ** exp / scale[None, :]
            error_num += float(np.sum((dequant - exact) ** 2))
            error_den += float(np.sum(exact ** 2))
            zeroed += int(np.sum((exact != 0) & (q == 0)))
            total += int(np.sum(exact != 0))
            projections.append(Projection(proj.src, pop.name, Weights.from_dense(q), 0, exp))
        bias_float = 64 * scale * pop.leak
        bias_exp = np.zeros(pop.size, dtype=np.int64)
        bias_mant = np.round(bias_float).astype(np.int64)
        while np.any(np.abs(bias_mant) > 4095):
            big = np.abs(bias_mant) > 4095
            bias_exp = np.where(big, bias_exp + 1, bias_exp)
            bias_mant = np.round(bias_float / 2.0 ** bias_exp).astype(np.int64)
        populations.append(Population(pop.name, pop.size, {
            "du": frozen_array(du, np.int32), "dv": frozen_array(dv, np.int32), "vth": frozen_array(vth, np.int32),
            "bias_mant": frozen_array(bias_mant, np.int32), "bias_exp": frozen_array(bias_exp, np.int32)}))
        a_int = 1 - (du + 1) / 4096
        b_int = 1 - dv / 4096
        reports.append(LayerReport(
            pop.name, pop.size, math.sqrt(error_num / error_den) if error_den else 0.0, zeroed, total, 0,
            float(np.max(np.abs(a_int - alpha) / np.maximum(1 - alpha, 1e-12))) if pop.alpha is not None else 0.0,
            float(np.max(np.abs(b_int - pop.beta) / np.maximum(1 - pop.beta, 1e-12))), float(np.median(scale))))
    network = QuantNetwork("loihi", net.dt, net.n_inputs, tuple(populations), tuple(projections), net.output)
    notes = ("Loihi resets the membrane to 0 where the model subtracts the threshold; each Dense adds one step of delay",)
    return QuantizeResult(network, tuple(reports), notes)
