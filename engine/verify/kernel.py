"""The cycle-accurate integer kernel: runs a QuantNetwork step by step, bit-exact with the
target family's published integer dynamics (docs/kernel.md), vectorised with numpy.

Xylo saturates after every single addition, so a sum's order matters only when a partial
sum leaves the 16-bit range. The kernel adds each target's increments as one cumulative
sum in delivery order (source ascending) and takes the sequential path only for targets
whose running sum leaves the range somewhere; the result is the same as adding one event
at a time.
"""

from __future__ import annotations

from typing import Mapping

import attrs
import numpy as np

from engine.netlist import INPUT, Projection, QuantNetwork

I16_MIN, I16_MAX = -32768, 32767
I32_MIN, I32_MAX = -(2**31 - 1), 2**31 - 1
XYLO_INPUT_CAP, XYLO_HIDDEN_CAP, XYLO_OUTPUT_CAP = 15, 31, 1
LOIHI_V_MAX = 2**23 - 1


@attrs.frozen(eq=False)
class KernelRun:
    spikes: Mapping[str, np.ndarray]  # population -> (steps, size) int spike counts
    states: Mapping[str, np.ndarray]  # when recorded: "<pop>.isyn" (steps, size[, n_syn]), "<pop>.v"
    events: Mapping[str, np.ndarray]  # per step counters: "input_events", "synaptic_ops", "spikes" (steps,)

    def output_counts(self, output: str) -> np.ndarray:
        return self.spikes[output].sum(axis=0)


def _dense(projection: Projection) -> np.ndarray:
    return projection.weights.to_dense().astype(np.int64)


def _effective_xylo(projection: Projection) -> np.ndarray:
    """wrap16(w << shift) per Xylo's weight shift."""
    w = _dense(projection) << projection.shift
    return ((w + 32768) & 0xFFFF) - 32768


def _sat_deliver(state: np.ndarray, counts: np.ndarray, weights: np.ndarray, lo: int, hi: int) -> np.ndarray:
    """Add counts[i] * weights[i, j] for sources i ascending, saturating after each single add.

    Same-sign repeated adds of one weight saturate monotonically, so one source's c adds
    equal sat(x + c*w); only the order across sources matters, handled by the cumulative
    check below."""
    active = np.nonzero(counts)[0]
    if active.size == 0:
        return state
    increments = counts[active, None] * weights[active, :]
    running = state[None, :] + np.cumsum(increments, axis=0)
    clean = np.all((running >= lo) & (running <= hi), axis=0)
    out = np.where(clean, running[-1], state)
    for j in np.nonzero(~clean)[0]:
        x = int(state[j])
        for i in active:
            w = int(weights[i, j])
            if w == 0:
                continue
            x = min(max(x + int(counts[i]) * w, lo), hi)
        out[j] = x
    return out


def _xylo_decay(v: np.ndarray, dash: np.ndarray) -> np.ndarray:
    shifted = v >> dash
    return np.where((shifted == 0) & (v > 0), 1, shifted)


def _wrap16(v: np.ndarray) -> np.ndarray:
    return ((v + 32768) & 0xFFFF) - 32768


def _sat16(v: np.ndarray) -> np.ndarray:
    return np.clip(v, I16_MIN, I16_MAX)


def _fire(v: np.ndarray, threshold: np.ndarray, start: np.ndarray, cap: int) -> tuple[np.ndarray, np.ndarray]:
    """while v >= th and count < cap: count += 1; v -= th  (vectorised, exact)."""
    room = cap - start
    positive = threshold > 0
    safe = np.where(positive, threshold, 1)
    n_pos = np.where(v >= threshold, np.minimum(room, (v - threshold) // safe + 1), 0)
    n_nonpos = np.where(v >= threshold, room, 0)
    n = np.where(positive, n_pos, n_nonpos)
    n = np.maximum(n, 0)
    v = np.where(positive, v - n * threshold, _sat16(v - n * threshold))
    return start + n, v


def _run_xylo(net: QuantNetwork, x: np.ndarray, record: bool) -> KernelRun:
    steps = x.shape[0]
    hidden, output = net.population("hidden"), net.population("output")
    nh, no = hidden.size, output.size
    n_syn = hidden.params["dash_syn"].shape[1]
    h_dash_syn = hidden.params["dash_syn"].astype(np.int64)
    h_dash_mem = hidden.params["dash_mem"].astype(np.int64)
    h_th = hidden.params["threshold"].astype(np.int64)
    h_bias = hidden.params["bias"].astype(np.int64)
    alias = hidden.params["alias"].astype(np.int64)
    o_dash_syn = output.params["dash_syn"][:, 0].astype(np.int64)
    o_dash_mem = output.params["dash_mem"].astype(np.int64)
    o_th = output.params["threshold"].astype(np.int64)
    o_bias = output.params["bias"].astype(np.int64)
    matrices = {"in": [], "rec": [], "out": []}
    for proj in net.projections:
        key = "in" if proj.src == INPUT else ("out" if proj.dst == "output" else "rec")
        matrices[key].append((proj.synapse, _effective_xylo(proj)))
    isyn = np.zeros((nh, n_syn), dtype=np.int64)
    v = np.zeros(nh, dtype=np.int64)
    o_isyn = np.zeros(no, dtype=np.int64)
    o_v = np.zeros(no, dtype=np.int64)
    last_hidden = np.zeros(nh, dtype=np.int64)
    spikes_h = np.zeros((steps, nh), dtype=np.int64)
    spikes_o = np.zeros((steps, no), dtype=np.int64)
    states = {}
    if record:
        states = {"hidden.isyn": np.zeros((steps, nh, n_syn), dtype=np.int64), "hidden.v": np.zeros((steps, nh), dtype=np.int64),
                  "output.isyn": np.zeros((steps, no), dtype=np.int64), "output.v": np.zeros((steps, no), dtype=np.int64)}
    events = {"input_events": np.zeros(steps, dtype=np.int64), "synaptic_ops": np.zeros(steps, dtype=np.int64),
              "spikes": np.zeros(steps, dtype=np.int64)}
    nnz = {k: [(s, (m != 0).sum(axis=1)) for s, m in mats] for k, mats in matrices.items()}
    has_alias = bool(np.any(alias >= 0))
    for t in range(steps):
        counts_in = np.minimum(x[t], XYLO_INPUT_CAP).astype(np.int64)
        ops = 0
        for syn, w in matrices["in"]:
            isyn[:, syn] = _sat_deliver(isyn[:, syn], counts_in, w, I16_MIN, I16_MAX)
        for syn, w in matrices["rec"]:
            isyn[:, syn] = _sat_deliver(isyn[:, syn], last_hidden, w, I16_MIN, I16_MAX)
        for _, w in matrices["out"]:
            o_isyn = _sat_deliver(o_isyn, last_hidden, w, I16_MIN, I16_MAX)
        for key, source in (("in", counts_in), ("rec", last_hidden), ("out", last_hidden)):
            for _, per_row in nnz[key]:
                ops += int(np.sum(source * per_row))
        # hidden neurons
        isyn = isyn - _xylo_decay(isyn, h_dash_syn)
        current = isyn.sum(axis=1)
        dv = _sat16(_wrap16(-_xylo_decay(v, h_dash_mem)) + current)
        dv = _sat16(dv + h_bias)
        v = _sat16(v + dv)
        if has_alias:
            counts_h = np.zeros(nh, dtype=np.int64)
            for j in range(nh):
                c, vj = _fire(v[j : j + 1], h_th[j : j + 1], counts_h[j : j + 1], XYLO_HIDDEN_CAP)
                counts_h[j], v[j] = c[0], vj[0]
                if alias[j] >= 0:
                    a = alias[j]
                    counts_h[a] = min(counts_h[a] + counts_h[j], XYLO_HIDDEN_CAP)
        else:
            counts_h, v = _fire(v, h_th, np.zeros(nh, dtype=np.int64), XYLO_HIDDEN_CAP)
        # output neurons
        o_isyn = o_isyn - _xylo_decay(o_isyn, o_dash_syn)
        o_dv = _sat16(_wrap16(-_xylo_decay(o_v, o_dash_mem)) + o_isyn)
        o_dv = _sat16(o_dv + o_bias)
        o_v = _sat16(o_v + o_dv)
        counts_o, o_v = _fire(o_v, o_th, np.zeros(no, dtype=np.int64), XYLO_OUTPUT_CAP)
        spikes_h[t], spikes_o[t] = counts_h, counts_o
        last_hidden = counts_h
        events["input_events"][t] = int(counts_in.sum())
        events["synaptic_ops"][t] = ops
        events["spikes"][t] = int(counts_h.sum() + counts_o.sum())
        if record:
            states["hidden.isyn"][t], states["hidden.v"][t] = isyn, v
            states["output.isyn"][t], states["output.v"][t] = o_isyn, o_v
    return KernelRun({"hidden": spikes_h, "output": spikes_o}, states, events)


def _trunc0_mul(value: np.ndarray, factor: np.ndarray) -> np.ndarray:
    """trunc0(value * factor / 4096): the magnitude shifted right by 12, sign restored."""
    product = value * factor
    return np.sign(product) * (np.abs(product) >> 12)


def _shift(acc: np.ndarray, exp: int) -> np.ndarray:
    return acc << exp if exp >= 0 else acc >> (-exp)


def _run_loihi(net: QuantNetwork, x: np.ndarray, record: bool) -> KernelRun:
    """Per step: every population takes what its Dense projections computed on the previous
    step (a one-step delay per Dense; the input arrives through a Dense the same way), then
    every Dense computes W @ spikes of this step for the next one."""
    steps = x.shape[0]
    pops = net.populations
    u = {p.name: np.zeros(p.size, dtype=np.int64) for p in pops}
    v = {p.name: np.zeros(p.size, dtype=np.int64) for p in pops}
    spikes = {p.name: np.zeros((steps, p.size), dtype=np.int64) for p in pops}
    dense = [(proj, _dense(proj)) for proj in net.projections]
    pending = [np.zeros(net.size_of(proj.dst), dtype=np.int64) for proj, _ in dense]
    params = {p.name: (p.params["du"].astype(np.int64), p.params["dv"].astype(np.int64), p.params["vth"].astype(np.int64),
                       p.params["bias_mant"].astype(np.int64) << p.params["bias_exp"].astype(np.int64)) for p in pops}
    states = {}
    if record:
        for p in pops:
            states[f"{p.name}.u"] = np.zeros((steps, p.size), dtype=np.int64)
            states[f"{p.name}.v"] = np.zeros((steps, p.size), dtype=np.int64)
    events = {k: np.zeros(steps, dtype=np.int64) for k in ("input_events", "synaptic_ops", "spikes")}
    for t in range(steps):
        a_in = {p.name: np.zeros(p.size, dtype=np.int64) for p in pops}
        for (proj, _), acc in zip(dense, pending):
            a_in[proj.dst] += acc
        now = {}
        for p in pops:
            du, dv, vth, bias = params[p.name]
            uu = _trunc0_mul(u[p.name], 4096 - (du + 1)) + (a_in[p.name] << 6)
            uu = np.where(uu > 2**23, uu - 2**24, np.where(uu <= -(2**23), uu + 2**24, uu))
            vv = np.clip(_trunc0_mul(v[p.name], 4096 - dv) + uu + bias, -LOIHI_V_MAX, LOIHI_V_MAX)
            fired = vv > (vth << 6)
            vv = np.where(fired, 0, vv)
            u[p.name], v[p.name] = uu, vv
            now[p.name] = fired.astype(np.int64)
            spikes[p.name][t] = now[p.name]
            if record:
                states[f"{p.name}.u"][t], states[f"{p.name}.v"][t] = uu, vv
        ops = 0
        for k, (proj, w) in enumerate(dense):
            source = x[t].astype(np.int64) if proj.src == INPUT else now[proj.src]
            active = np.nonzero(source)[0]
            ops += int(np.sum(source[active] * np.count_nonzero(w[active], axis=1)))
            pending[k] = _shift(source @ w, proj.shift)
        events["input_events"][t] = int(x[t].sum())
        events["synaptic_ops"][t] = ops
        events["spikes"][t] = int(sum(s.sum() for s in now.values()))
    return KernelRun(spikes, states, events)


def _run_lif(net: QuantNetwork, x: np.ndarray, record: bool) -> KernelRun:
    steps = x.shape[0]
    pops = net.populations
    i = {p.name: np.zeros(p.size, dtype=np.int64) for p in pops}
    v = {p.name: np.zeros(p.size, dtype=np.int64) for p in pops}
    prev = {p.name: np.zeros(p.size, dtype=np.int64) for p in pops}
    spikes = {p.name: np.zeros((steps, p.size), dtype=np.int64) for p in pops}
    mats = [(proj, _dense(proj) << proj.shift) for proj in net.projections]
    states = {}
    if record:
        for p in pops:
            states[f"{p.name}.isyn"] = np.zeros((steps, p.size), dtype=np.int64)
            states[f"{p.name}.v"] = np.zeros((steps, p.size), dtype=np.int64)
    events = {k: np.zeros(steps, dtype=np.int64) for k in ("input_events", "synaptic_ops", "spikes")}
    for t in range(steps):
        counts_in = x[t].astype(np.int64)
        ops = 0
        for proj, w in mats:
            source = counts_in if proj.src == INPUT else prev[proj.src]
            i[proj.dst] = np.clip(i[proj.dst] + source @ w, I32_MIN, I32_MAX)
            ops += int(np.sum(source * (w != 0).sum(axis=1)))
        now = {}
        for p in pops:
            ds, dm, th, bias = (p.params[k].astype(np.int64) for k in ("decay_syn", "decay_mem", "threshold", "bias"))
            ii = i[p.name] - (i[p.name] >> ds)
            vv = np.clip(v[p.name] - (v[p.name] >> dm) + ii + bias, I32_MIN, I32_MAX)
            fired = vv >= th
            vv = np.where(fired, vv - th, vv)
            i[p.name], v[p.name] = ii, vv
            now[p.name] = fired.astype(np.int64)
            spikes[p.name][t] = now[p.name]
            if record:
                states[f"{p.name}.isyn"][t], states[f"{p.name}.v"][t] = ii, vv
        prev = now
        events["input_events"][t] = int(counts_in.sum())
        events["synaptic_ops"][t] = ops
        events["spikes"][t] = int(sum(s.sum() for s in now.values()))
    return KernelRun(spikes, states, events)


def run(network: QuantNetwork, input_counts: np.ndarray, *, record: bool = False) -> KernelRun:
    """input_counts: int array (steps, n_inputs) of spike counts per input channel."""
    x = np.asarray(input_counts, dtype=np.int64)
    if x.ndim != 2 or x.shape[1] != network.n_inputs:
        raise ValueError(f"input must be (steps, {network.n_inputs}), got {x.shape}")
    if np.any(x < 0):
        raise ValueError("input spike counts must be non-negative")
    runner = {"xylo": _run_xylo, "loihi": _run_loihi, "lif": _run_lif}[network.family]
    return runner(network, x, record)
