"""The cycle-accurate integer kernel: runs a QuantNetwork step by step, bit-exact with the
target family's published integer dynamics (docs/kernel.md), vectorised with numpy.

Xylo saturates after every single addition, so a sum's order matters only when a partial
sum can leave the 16-bit range. Per target, the sum of this step's positive increments
and the sum of its negative increments bound every partial sum in any order; where both
bounds stay in range the plain total is exact, and only the targets where a bound leaves
the range take the sequential path (one event at a time, sources ascending).

Loihi and the generic LIF add without intermediate saturation, so their deliveries are a
sparse gather of the spiking sources' CSR rows. On multi-core images the synapses a spike
reaches are those on the cores its routing-table walk delivers to (engine/verify/mesh.py).
"""

from __future__ import annotations

from collections.abc import Mapping

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
    inputs: np.ndarray | None = None  # (steps, n_inputs) input counts as delivered (Xylo: capped at 15)
    routing: object = None  # engine.verify.mesh.Routing when the run went through routing tables
    final: Mapping[str, np.ndarray] | None = None  # the state after the last step: run(..., initial=final) continues
    before: Mapping[str, np.ndarray] | None = None  # spikes of the step before the first (zeros from rest)

    def output_counts(self, output: str) -> np.ndarray:
        return self.spikes[output].sum(axis=0)


def _dense(projection: Projection) -> np.ndarray:
    return projection.weights.to_dense().astype(np.int64)


def _effective_xylo(projection: Projection) -> np.ndarray:
    """wrap16(w << shift) per Xylo's weight shift."""
    w = _dense(projection) << projection.shift
    return ((w + 32768) & 0xFFFF) - 32768


@attrs.frozen(eq=False)
class _Csr:
    indptr: np.ndarray
    indices: np.ndarray
    values: np.ndarray
    n_dst: int
    row_nnz: np.ndarray
    max_weight: int = attrs.field(default=attrs.Factory(lambda m: int(np.abs(m.values).max(initial=0)), takes_self=True))
    # the weights as float64 for bincount (exact: 32-bit integers), converted once, not every step
    values_f: np.ndarray = attrs.field(default=attrs.Factory(lambda m: m.values.astype(np.float64), takes_self=True))


_ARANGE = np.arange(1 << 16)


def _arange(n: int) -> np.ndarray:
    global _ARANGE
    if n > _ARANGE.size:
        _ARANGE = np.arange(max(n, 2 * _ARANGE.size))
    return _ARANGE[:n]


def _csr(projection: Projection) -> _Csr:
    w = projection.weights
    indptr = w.indptr.astype(np.int64)
    return _Csr(indptr, w.indices.astype(np.int64), w.values.astype(np.int64), w.n_dst, np.diff(indptr))


def _gathered(m: _Csr, counts: np.ndarray, *, as_float: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """The spiking sources' synapses in source order: (targets, counts[i] * w[i, j])."""
    active = np.flatnonzero(counts)
    empty = (np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float64 if as_float else np.int64))
    if active.size == 0:
        return empty
    starts = m.indptr[active]
    lengths = m.row_nnz[active]
    ends = np.cumsum(lengths)
    total = int(ends[-1])
    if total == 0:
        return empty
    at = np.repeat(starts - (ends - lengths), lengths)
    at += _arange(total)
    c = counts[active]
    values = m.values_f if as_float else m.values
    if int(c.max()) == 1:  # single spikes: the weights as stored
        return m.indices[at], values[at]
    return m.indices[at], values[at] * np.repeat(c, lengths)


def _gather(m: _Csr, counts: np.ndarray) -> np.ndarray:
    """sum over sources i of counts[i] * row i, touching only the spiking sources' synapses."""
    peak = int(counts.max(initial=0))
    if m.max_weight * peak * m.values.size < 2**53:  # float64 bincount is exact: every partial sum is below 2^53
        targets, weights = _gathered(m, counts, as_float=True)
        return np.bincount(targets, weights=weights, minlength=m.n_dst).astype(np.int64)
    targets, weights = _gathered(m, counts)
    out = np.zeros(m.n_dst, dtype=np.int64)
    np.add.at(out, targets, weights)
    return out


def _xylo_decay(v: np.ndarray, dash: np.ndarray) -> np.ndarray:
    shifted = v >> dash
    return shifted + ((shifted == 0) & (v > 0))


def _wrap16(v: np.ndarray) -> np.ndarray:
    return ((v + 32768) & 0xFFFF) - 32768


def _sat16(v: np.ndarray) -> np.ndarray:
    return np.minimum(np.maximum(v, I16_MIN), I16_MAX)


def _fire(v: np.ndarray, threshold: np.ndarray, start: np.ndarray, cap) -> tuple[np.ndarray, np.ndarray]:
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


def _fire_positive(v: np.ndarray, threshold: np.ndarray, cap) -> tuple[np.ndarray, np.ndarray]:
    """_fire from an empty buffer when every threshold is positive (the common case).

    The quotient is taken in float64: both operands are exact below 2^17 and a true
    quotient that is not an integer lies at least 2^-16 from one, far beyond rounding."""
    n = np.minimum(np.maximum(np.floor((v - threshold) / threshold).astype(v.dtype) + 1, 0), cap)
    return n, v - n * threshold


def _fire_with_aliases(v, threshold, alias, involved, cap, positive):
    """Neurons in index order; only those that send or receive aliased spikes need it."""
    if positive:
        counts, v_out = _fire_positive(v, threshold, cap)
    else:
        counts, v_out = _fire(v, threshold, np.zeros_like(v), cap)
    counts[involved] = 0
    v_out[involved] = v[involved]
    for j in involved:
        c, vj = _fire(v_out[j : j + 1], threshold[j : j + 1], counts[j : j + 1], int(cap[j]))
        counts[j], v_out[j] = c[0], vj[0]
        a = alias[j]
        if a >= 0:
            counts[a] = min(counts[a] + counts[j], int(cap[a]))
    return counts, v_out


def _sat_deliver(state: np.ndarray, counts: np.ndarray, m: _Csr) -> np.ndarray:
    """Add counts[i] * w[i, j] for sources i ascending, saturating after each single add.

    Same-sign repeated adds of one weight saturate monotonically, so one source's c adds
    equal sat(x + c*w); only the order across sources matters, and only where the bounds
    say a partial sum can leave the range."""
    targets, increments = _gathered(m, counts)
    if targets.size == 0:
        return state
    total = np.bincount(targets, weights=increments, minlength=m.n_dst).astype(state.dtype)
    spread = np.bincount(targets, weights=np.abs(increments), minlength=m.n_dst).astype(state.dtype)
    out = state + total
    # |state| + spread within range means no partial sum can leave it; only the rest need
    # the exact bounds: positive increments sum to (total + spread) / 2, negative ones to
    # (total - spread) / 2
    near = np.flatnonzero(np.abs(state) + spread > I16_MAX)
    if near.size == 0:
        return out
    s, t, d = state[near], total[near], spread[near]
    unsafe = near[(s + ((t + d) >> 1) > I16_MAX) | (s + ((t - d) >> 1) < I16_MIN)]
    for j in unsafe:
        x = int(state[j])
        for step in increments[targets == j].tolist():  # gathered in source order
            x = min(max(x + step, I16_MIN), I16_MAX)
        out[j] = x
    return out


@attrs.frozen(eq=False)
class _XyloLayout:
    """Hidden and output neurons as one vector (outputs last: they update after the hidden
    ones and read only last step's hidden spikes), synaptic currents flattened to
    (neuron, synapse) so one saturating delivery serves every matrix of a source."""

    n_hidden: int
    n_out: int
    n_syn: int
    from_sources: _Csr  # rows: input channels, then hidden neurons (the delivery order of a step)
    nnz_input: np.ndarray  # per input channel: synapses (effective weight != 0)
    nnz_hidden: np.ndarray  # per hidden neuron: recurrent and readout synapses


def _xylo_layout(net: QuantNetwork, n_syn: int) -> _XyloLayout:
    nh, no = net.population("hidden").size, net.population("output").size
    parts = {INPUT: [], "hidden": []}
    for proj in net.projections:
        w = proj.weights
        rows = np.repeat(np.arange(w.n_src), np.diff(w.indptr))
        values = _wrap16(w.values.astype(np.int64) << proj.shift)
        column = w.indices.astype(np.int64) + (nh if proj.dst == "output" else 0)
        keep = values != 0
        parts[proj.src].append((rows[keep], column[keep] * n_syn + proj.synapse, values[keep]))
    flat = (nh + no) * n_syn

    def csr(source: str, n_src: int) -> _Csr:
        rows = np.concatenate([p[0] for p in parts[source]] + [np.zeros(0, np.int64)])
        cols = np.concatenate([p[1] for p in parts[source]] + [np.zeros(0, np.int64)])
        vals = np.concatenate([p[2] for p in parts[source]] + [np.zeros(0, np.int64)])
        # two projections of one source never share a (target, synapse) on Xylo; sorted by
        # (source, target) is the delivery order either way
        order = np.lexsort((cols, rows))
        indptr = np.concatenate([[0], np.cumsum(np.bincount(rows, minlength=n_src))]).astype(np.int64)
        return _Csr(indptr, cols[order], vals[order], flat, np.diff(indptr))

    from_input, from_hidden = csr(INPUT, net.n_inputs), csr("hidden", nh)
    both = _Csr(np.concatenate([from_input.indptr, from_hidden.indptr[1:] + from_input.indptr[-1]]),
                np.concatenate([from_input.indices, from_hidden.indices]), np.concatenate([from_input.values, from_hidden.values]),
                flat, np.concatenate([from_input.row_nnz, from_hidden.row_nnz]))
    return _XyloLayout(nh, no, n_syn, both, from_input.row_nnz, from_hidden.row_nnz)


def _run_xylo(net: QuantNetwork, x: np.ndarray, record: bool, initial) -> KernelRun:
    steps = x.shape[0]
    hidden, output = net.population("hidden"), net.population("output")
    nh, no = hidden.size, output.size
    n_syn = hidden.params["dash_syn"].shape[1]
    n = nh + no
    layout = _xylo_layout(net, n_syn)
    o_dash_syn = np.zeros((no, n_syn), dtype=np.int32)
    o_dash_syn[:, 0] = output.params["dash_syn"][:, 0]
    dash_syn = np.concatenate([hidden.params["dash_syn"].astype(np.int32), o_dash_syn]).reshape(-1)
    dash_mem = np.concatenate([hidden.params["dash_mem"], output.params["dash_mem"]]).astype(np.int32)
    threshold = np.concatenate([hidden.params["threshold"], output.params["threshold"]]).astype(np.int32)
    bias = np.concatenate([hidden.params["bias"], output.params["bias"]]).astype(np.int32)
    cap = np.concatenate([np.full(nh, XYLO_HIDDEN_CAP), np.full(no, XYLO_OUTPUT_CAP)]).astype(np.int32)
    alias = np.concatenate([hidden.params["alias"].astype(np.int64), np.full(no, -1, dtype=np.int64)])
    involved = np.flatnonzero((alias >= 0) | np.isin(np.arange(n), alias[alias >= 0]))
    positive = bool(np.all(threshold > 0))
    can_wrap = bool(np.any(dash_mem == 0))
    has_bias = bool(np.any(bias != 0))

    # int32 words: every intermediate stays below 2^31 (fan-in 1016 x 31 spikes x 2^15)
    isyn = np.zeros(n * n_syn, dtype=np.int32)
    v = np.zeros(n, dtype=np.int32)
    spikes_h = np.zeros((steps, nh), dtype=np.int64)
    spikes_o = np.zeros((steps, no), dtype=np.int64)
    rec_isyn = np.zeros((steps, n * n_syn), dtype=np.int64) if record else None
    rec_v = np.zeros((steps, n), dtype=np.int64) if record else None
    capped = np.minimum(x, XYLO_INPUT_CAP)
    sources = np.zeros(net.n_inputs + nh, dtype=np.int64)  # this step's inputs, last step's hidden spikes
    if initial is not None:
        isyn, v = initial["isyn"].astype(np.int32), initial["v"].astype(np.int32)
        sources[net.n_inputs :] = initial["spikes.hidden"]
    before = {"hidden": sources[net.n_inputs :].copy(), "output": np.zeros(no, dtype=np.int64) if initial is None
              else initial["spikes.output"].copy()}
    last_output = before["output"]
    for t in range(steps):
        sources[: net.n_inputs] = capped[t]
        if sources.any():
            isyn = _sat_deliver(isyn, sources, layout.from_sources)
        isyn = isyn - _xylo_decay(isyn, dash_syn)
        current = isyn if n_syn == 1 else isyn.reshape(n, n_syn).sum(axis=1)
        leak = -_xylo_decay(v, dash_mem)
        if can_wrap:  # -(-32768) wraps to -32768 (only with dash_mem 0)
            leak = _wrap16(leak)
        dv = _sat16(leak + current)
        v = _sat16(v + _sat16(dv + bias)) if has_bias else _sat16(v + dv)
        if involved.size:
            counts, v = _fire_with_aliases(v, threshold, alias, involved, cap, positive)
        elif positive:
            counts, v = _fire_positive(v, threshold, cap)
        else:
            counts, v = _fire(v, threshold, np.zeros(n, dtype=np.int32), cap)
        spikes_h[t], spikes_o[t] = counts[:nh], counts[nh:]
        sources[net.n_inputs :] = counts[:nh]
        last_output = counts[nh:]
        if record:
            rec_isyn[t], rec_v[t] = isyn, v
    states = {}
    if record:
        by_neuron = rec_isyn.reshape(steps, n, n_syn)
        states = {"hidden.isyn": by_neuron[:, :nh, :], "hidden.v": rec_v[:, :nh],
                  "output.isyn": by_neuron[:, nh:, 0], "output.v": rec_v[:, nh:]}
    # the synaptic events of step t: this step's inputs and the previous step's hidden spikes
    ops = capped @ layout.nnz_input
    ops[1:] += spikes_h[:-1] @ layout.nnz_hidden
    if steps:
        ops[0] += int(before["hidden"] @ layout.nnz_hidden)
    events = {"input_events": capped.sum(axis=1), "synaptic_ops": ops,
              "spikes": spikes_h.sum(axis=1) + spikes_o.sum(axis=1)}
    final = {"isyn": isyn.astype(np.int64), "v": v.astype(np.int64), "spikes.hidden": sources[net.n_inputs :].copy(),
             "spikes.output": np.asarray(last_output, dtype=np.int64).copy()}
    return KernelRun({"hidden": spikes_h, "output": spikes_o}, states, events, capped, final=final, before=before)


def _trunc0_mul(value: np.ndarray, factor: np.ndarray) -> np.ndarray:
    """trunc0(value * factor / 4096): the magnitude shifted right by 12, sign restored."""
    product = value * factor
    return np.sign(product) * (np.abs(product) >> 12)


def _shift(acc: np.ndarray, exp: int) -> np.ndarray:
    return acc << exp if exp >= 0 else acc >> (-exp)


def _ops(m: _Csr, counts: np.ndarray) -> int:
    return int(counts @ m.row_nnz)


def _run_loihi(net: QuantNetwork, x: np.ndarray, record: bool, initial) -> KernelRun:
    """Per step: every population takes what its Dense projections computed on the previous
    step (a one-step delay per Dense; the input arrives through a Dense the same way), then
    every Dense computes W @ spikes of this step for the next one."""
    steps = x.shape[0]
    pops = net.populations
    u = {p.name: np.zeros(p.size, dtype=np.int64) for p in pops}
    v = {p.name: np.zeros(p.size, dtype=np.int64) for p in pops}
    spikes = {p.name: np.zeros((steps, p.size), dtype=np.int64) for p in pops}
    dense = [(proj, _csr(proj)) for proj in net.projections]
    pending = [np.zeros(net.size_of(proj.dst), dtype=np.int64) for proj, _ in dense]
    last = {p.name: np.zeros(p.size, dtype=np.int64) for p in pops}
    if initial is not None:
        for p in pops:
            u[p.name], v[p.name] = initial[f"{p.name}.u"].copy(), initial[f"{p.name}.v"].copy()
            last[p.name] = initial[f"spikes.{p.name}"].copy()
        pending = [initial[f"pending.{k}"].copy() for k in range(len(dense))]
    before = {name: value.copy() for name, value in last.items()}
    params = {p.name: (p.params["du"].astype(np.int64), p.params["dv"].astype(np.int64), p.params["vth"].astype(np.int64) << 6,
                       p.params["bias_mant"].astype(np.int64) << p.params["bias_exp"].astype(np.int64)) for p in pops}
    states = {}
    if record:
        for p in pops:
            states[f"{p.name}.u"] = np.zeros((steps, p.size), dtype=np.int64)
            states[f"{p.name}.isyn"] = states[f"{p.name}.u"]  # u is Loihi's synaptic current: one name for every family
            states[f"{p.name}.v"] = np.zeros((steps, p.size), dtype=np.int64)
    events = {k: np.zeros(steps, dtype=np.int64) for k in ("input_events", "synaptic_ops", "spikes")}
    for t in range(steps):
        a_in = {p.name: np.zeros(p.size, dtype=np.int64) for p in pops}
        for (proj, _), acc in zip(dense, pending):
            a_in[proj.dst] += acc
        now = {}
        for p in pops:
            du, dv, vth64, bias = params[p.name]
            uu = _trunc0_mul(u[p.name], 4096 - (du + 1)) + (a_in[p.name] << 6)
            uu = np.where(uu > 2**23, uu - 2**24, np.where(uu <= -(2**23), uu + 2**24, uu))
            vv = np.clip(_trunc0_mul(v[p.name], 4096 - dv) + uu + bias, -LOIHI_V_MAX, LOIHI_V_MAX)
            fired = vv > vth64
            vv[fired] = 0
            u[p.name], v[p.name] = uu, vv
            now[p.name] = fired.astype(np.int64)
            spikes[p.name][t] = now[p.name]
            if record:
                states[f"{p.name}.u"][t], states[f"{p.name}.v"][t] = uu, vv
        ops = 0
        for k, (proj, m) in enumerate(dense):
            source = x[t] if proj.src == INPUT else now[proj.src]
            ops += _ops(m, source)
            pending[k] = _shift(_gather(m, source), proj.shift)
        events["synaptic_ops"][t] = ops
        events["spikes"][t] = int(sum(s.sum() for s in now.values()))
        last = now
    events["input_events"] = x.sum(axis=1)
    final = {f"{name}.{word}": value for name in u for word, value in (("u", u[name]), ("v", v[name]))}
    final.update({f"spikes.{name}": np.asarray(value, dtype=np.int64) for name, value in last.items()})
    final.update({f"pending.{k}": acc for k, acc in enumerate(pending)})
    return KernelRun(spikes, states, events, x, final=final, before=before)


def _run_lif(net: QuantNetwork, x: np.ndarray, record: bool, initial) -> KernelRun:
    steps = x.shape[0]
    pops = net.populations
    i = {p.name: np.zeros(p.size, dtype=np.int64) for p in pops}
    v = {p.name: np.zeros(p.size, dtype=np.int64) for p in pops}
    prev = {p.name: np.zeros(p.size, dtype=np.int64) for p in pops}
    if initial is not None:
        for p in pops:
            i[p.name], v[p.name] = initial[f"{p.name}.isyn"].copy(), initial[f"{p.name}.v"].copy()
            prev[p.name] = initial[f"spikes.{p.name}"].copy()
    before = {name: value.copy() for name, value in prev.items()}
    spikes = {p.name: np.zeros((steps, p.size), dtype=np.int64) for p in pops}
    mats = [(proj, _csr(proj)) for proj in net.projections]
    params = {p.name: tuple(p.params[k].astype(np.int64) for k in ("decay_syn", "decay_mem", "threshold", "bias")) for p in pops}
    states = {}
    if record:
        for p in pops:
            states[f"{p.name}.isyn"] = np.zeros((steps, p.size), dtype=np.int64)
            states[f"{p.name}.v"] = np.zeros((steps, p.size), dtype=np.int64)
    events = {k: np.zeros(steps, dtype=np.int64) for k in ("input_events", "synaptic_ops", "spikes")}
    for t in range(steps):
        counts_in = x[t]
        ops = 0
        for proj, m in mats:
            source = counts_in if proj.src == INPUT else prev[proj.src]
            if source.any():
                added = _gather(m, source)
                if proj.shift:
                    added <<= proj.shift
                added += i[proj.dst]
                i[proj.dst] = np.minimum(np.maximum(added, I32_MIN), I32_MAX)
                ops += _ops(m, source)
        now = {}
        for p in pops:
            ds, dm, th, bias = params[p.name]
            ii = i[p.name] - (i[p.name] >> ds)
            vv = v[p.name] - (v[p.name] >> dm)
            vv += ii
            vv += bias
            vv = np.minimum(np.maximum(vv, I32_MIN), I32_MAX)
            fired = vv >= th
            vv -= th * fired
            i[p.name], v[p.name] = ii, vv
            spikes[p.name][t] = fired
            now[p.name] = spikes[p.name][t]
            if record:
                states[f"{p.name}.isyn"][t], states[f"{p.name}.v"][t] = ii, vv
        prev = now
        events["synaptic_ops"][t] = ops
    events["spikes"] = sum(s.sum(axis=1) for s in spikes.values()) if pops else np.zeros(steps, dtype=np.int64)
    events["input_events"] = x.sum(axis=1)
    final = {f"{name}.{word}": value for name in i for word, value in (("isyn", i[name]), ("v", v[name]))}
    final.update({f"spikes.{name}": np.asarray(value, dtype=np.int64).copy() for name, value in prev.items()})
    return KernelRun(spikes, states, events, x, final=final, before=before)


def run(network: QuantNetwork, input_counts: np.ndarray, *, record: bool = False, routed: bool = True,
        routing=None, initial: Mapping[str, np.ndarray] | None = None) -> KernelRun:
    """input_counts: int array (steps, n_inputs) of spike counts per input channel.

    On an image with several cores and routing tables the spikes travel through the tables
    (routed=False runs the network as if it sat on one core, for comparison). `routing`,
    from engine.verify.mesh.route_network(network), saves walking the tables again when
    one image runs many inputs. `initial`, a previous run's `final`, continues that run:
    a long input in pieces gives the same spikes, states and events as in one piece."""
    x = np.asarray(input_counts, dtype=np.int64)
    if x.ndim != 2 or x.shape[1] != network.n_inputs:
        raise ValueError(f"input must be (steps, {network.n_inputs}), got {x.shape}")
    if np.any(x < 0):
        raise ValueError("input spike counts must be non-negative")
    if not routed:
        routing = None
    elif routing is not None:
        network = routing.network
    elif network.placement is not None and network.placement.n_cores > 1:
        from engine.diagnostics import Diagnostic, StageError
        from engine.verify.mesh import RoutingError, route_network

        try:
            routing = route_network(network)
        except RoutingError as exc:
            raise StageError([Diagnostic("error", "NM816", f"image routing tables: {exc}")]) from None
        network = routing.network
    runner = {"xylo": _run_xylo, "loihi": _run_loihi, "lif": _run_lif}[network.family]
    result = runner(network, x, record, initial)
    return attrs.evolve(result, routing=routing) if routing is not None else result
