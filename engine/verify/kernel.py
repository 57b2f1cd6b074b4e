"""The cycle-accurate integer kernel: runs a QuantNetwork step by step, bit-exact with the
target family's published integer dynamics (docs/kernel.md).

This module lays an image's network out as flat integer arrays (every population in one
neuron vector, every projection's rows in one CSR) and hands whole windows to the compiled
step loops of engine/verify/native.py, where the arithmetic lives once. Xylo saturates after
every single addition, so its deliveries run source by source in ascending order, as the
chip delivers; Loihi and the generic LIF add without intermediate saturation. On multi-core
images the synapses a spike reaches are those on the cores its routing-table walk delivers
to (engine/verify/mesh.py). Speck fires per event, so its deliveries run event by event.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, TypeVar

import attrs
import numpy as np
from numpy.typing import ArrayLike, NDArray

from engine.netlist import INPUT, QuantNetwork, membrane_scores

if TYPE_CHECKING:
    from engine.verify.mesh import Routing

_Scalar = TypeVar("_Scalar", bound=np.generic)

XYLO_INPUT_CAP, XYLO_HIDDEN_CAP, XYLO_OUTPUT_CAP = 15, 31, 1


@attrs.frozen(eq=False)
class KernelRun:
    spikes: Mapping[str, NDArray[np.int32]]  # population -> (steps, size) spike counts
    states: Mapping[str, NDArray[np.int32]]  # when recorded (always on a membrane-readout image): "<pop>.isyn" (steps, size[, n_syn]), "<pop>.v"
    events: Mapping[str, NDArray[np.int64]]  # per step counters: "input_events", "synaptic_ops", "spikes" (steps,)
    inputs: NDArray[np.int64]  # (steps, n_inputs) input counts as delivered (Xylo: capped at 15)
    final: Mapping[str, NDArray[np.int64]]  # the state after the last step: run(..., initial=final) continues
    before: Mapping[str, NDArray[np.int64]]  # spikes of the step before the first (zeros from rest)
    routing: Routing | None = None  # when the run went through routing tables

    def output_counts(self, output: str) -> NDArray[np.int64]:
        counts: NDArray[np.int64] = self.spikes[output].sum(axis=0)  # int32 sums in the platform's int64
        return counts

    def output_scores(self, network: QuantNetwork) -> NDArray[np.int64]:
        """What decides the window's class (engine.resolve.floatnet.classify): the readout's
        spike counts, or on a membrane-readout image each readout neuron's largest membrane
        over the window (a membrane-readout run always records its states)."""
        if network.readout == "membrane":
            return membrane_scores(self.states[f"{network.output}.v"]).astype(np.int64)
        return self.output_counts(network.output)


def _as(array: ArrayLike, dtype: type[_Scalar]) -> NDArray[_Scalar]:
    return np.ascontiguousarray(array, dtype=dtype)


@attrs.frozen(eq=False)
class _XyloLayout:
    """Hidden and output neurons as one vector (outputs last: they update after the hidden
    ones and read only last step's hidden spikes), synaptic currents flattened to
    (neuron, synapse) so one saturating delivery serves every matrix of a source. The CSR's
    rows: input channels, then hidden neurons (the delivery order of a step)."""

    indptr: np.ndarray
    indices: np.ndarray
    values: np.ndarray  # effective weights: wrap16(w << shift), zeros dropped


def _xylo_layout(net: QuantNetwork, n_syn: int) -> _XyloLayout:
    nh = net.population("hidden").size
    n_src = net.n_inputs + nh
    rows, cols, vals = [np.zeros(0, np.int64)], [np.zeros(0, np.int64)], [np.zeros(0, np.int64)]
    for proj in net.projections:
        w = proj.weights
        row = np.repeat(np.arange(w.n_src), np.diff(w.indptr)) + (0 if proj.src == INPUT else net.n_inputs)
        value = ((w.values.astype(np.int64) << proj.shift) + 32768 & 0xFFFF) - 32768
        column = w.indices.astype(np.int64) + (nh if proj.dst == "output" else 0)
        keep = value != 0
        rows.append(row[keep])
        cols.append(column[keep] * n_syn + proj.synapse)
        vals.append(value[keep])
    row, col, val = np.concatenate(rows), np.concatenate(cols), np.concatenate(vals)
    # two projections of one source never share a (target, synapse) on Xylo; sorted by
    # (source, target) is the delivery order either way
    order = np.lexsort((col, row))
    per_source = np.bincount(row, minlength=n_src)
    indptr = np.concatenate([[0], np.cumsum(per_source)]).astype(np.int64)
    return _XyloLayout(indptr, _as(col[order], np.int32), _as(val[order], np.int32))


def _run_xylo(net: QuantNetwork, x: NDArray[np.int64], record: bool,
              initial: Mapping[str, NDArray[np.int64]] | None) -> KernelRun:
    from engine.verify import (
        native,  # numba loads with the first run, not with every import of the kernel
    )

    steps = x.shape[0]
    hidden, output = net.population("hidden"), net.population("output")
    nh, no = hidden.size, output.size
    n_syn = hidden.params["dash_syn"].shape[1]
    n = nh + no
    layout = _xylo_layout(net, n_syn)
    o_dash_syn = np.zeros((no, n_syn), dtype=np.int64)
    o_dash_syn[:, 0] = output.params["dash_syn"][:, 0]
    dash_syn = _as(np.concatenate([hidden.params["dash_syn"].astype(np.int64), o_dash_syn]).reshape(-1), np.int64)
    dash_mem = _as(np.concatenate([hidden.params["dash_mem"], output.params["dash_mem"]]), np.int64)
    threshold = _as(np.concatenate([hidden.params["threshold"], output.params["threshold"]]), np.int64)
    bias = _as(np.concatenate([hidden.params["bias"], output.params["bias"]]), np.int64)
    cap = np.concatenate([np.full(nh, XYLO_HIDDEN_CAP), np.full(no, XYLO_OUTPUT_CAP)]).astype(np.int64)
    alias = np.concatenate([hidden.params["alias"].astype(np.int64), np.full(no, -1, dtype=np.int64)])
    involved = (alias >= 0) | np.isin(np.arange(n), alias[alias >= 0])

    isyn = np.zeros(n * n_syn, dtype=np.int64)
    v = np.zeros(n, dtype=np.int64)
    previous = np.zeros(n, dtype=np.int64)  # last step's spike counts: hidden ones are this step's sources
    if initial is not None:
        isyn, v = _as(initial["isyn"], np.int64).copy(), _as(initial["v"], np.int64).copy()
        previous[:nh] = initial["spikes.hidden"]
        previous[nh:] = initial["spikes.output"]
    before = {"hidden": previous[:nh].copy(), "output": previous[nh:].copy()}
    capped = np.minimum(x, XYLO_INPUT_CAP)
    spikes = np.zeros((steps, n), dtype=np.int32)
    rec_isyn = np.zeros((steps, n * n_syn) if record else (0, 0), dtype=np.int32)
    rec_v = np.zeros((steps, n) if record else (0, 0), dtype=np.int32)
    ops = np.zeros(steps, np.int64)
    native.xylo_run(_as(capped, np.int64), nh, layout.indptr, layout.indices, layout.values, dash_syn, dash_mem,
                    threshold, bias, cap, alias, involved, isyn, v, previous, spikes, ops, record, rec_isyn, rec_v)
    spikes_h, spikes_o = spikes[:, :nh], spikes[:, nh:]
    states = {}
    if record:
        by_neuron = rec_isyn.reshape(steps, n, n_syn)
        states = {"hidden.isyn": by_neuron[:, :nh, :], "hidden.v": rec_v[:, :nh],
                  "output.isyn": by_neuron[:, nh:, 0], "output.v": rec_v[:, nh:]}
    events = {"input_events": capped.sum(axis=1), "synaptic_ops": ops, "spikes": spikes.sum(axis=1, dtype=np.int64)}
    final = {"isyn": isyn, "v": v, "spikes.hidden": previous[:nh].copy(), "spikes.output": previous[nh:].copy()}
    return KernelRun({"hidden": spikes_h, "output": spikes_o}, states, events, capped, final=final, before=before)


@attrs.frozen(eq=False)
class _Flat:
    """Every population in one neuron vector and every projection's rows in one CSR: the
    layout engine/verify/native.py steps over."""

    pop_start: np.ndarray  # (populations + 1,)
    proj_src: np.ndarray  # source population index, -1 for the input channels
    proj_dst: np.ndarray
    proj_row: np.ndarray  # first row of each projection in indptr
    proj_shift: np.ndarray
    indptr: np.ndarray
    indices: np.ndarray
    values: np.ndarray

    def params(self, net: QuantNetwork, name: str) -> np.ndarray:
        return _as(np.concatenate([p.params[name] for p in net.populations] + [np.zeros(0, np.int64)]), np.int64)

    def split(self, net: QuantNetwork, flat: np.ndarray) -> dict[str, np.ndarray]:
        """(steps, neurons) or (neurons,) -> one array per population."""
        return {p.name: flat[..., self.pop_start[k] : self.pop_start[k + 1]] for k, p in enumerate(net.populations)}

    def join(self, net: QuantNetwork, per_pop: Mapping[str, np.ndarray], word: str) -> np.ndarray:
        return _as(np.concatenate([per_pop[word.format(p.name)] for p in net.populations] + [np.zeros(0, np.int64)]),
                   np.int64).copy()


def _flat(net: QuantNetwork) -> _Flat:
    index = {p.name: k for k, p in enumerate(net.populations)}
    sizes = [p.size for p in net.populations]
    pop_start = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)
    rows, ptrs, idx, vals = 0, [np.zeros(1, np.int64)], [np.zeros(0, np.int64)], [np.zeros(0, np.int64)]
    proj_row = []
    for proj in net.projections:
        w = proj.weights
        proj_row.append(rows)
        ptrs.append(w.indptr[1:].astype(np.int64) + int(ptrs[-1][-1]))
        idx.append(w.indices.astype(np.int64))
        vals.append(w.values.astype(np.int64))
        rows += w.n_src
    projs = net.projections
    return _Flat(pop_start, np.array([index.get(p.src, -1) for p in projs], np.int64),
                 np.array([index[p.dst] for p in projs], np.int64), np.array(proj_row, np.int64),
                 np.array([p.shift for p in projs], np.int64), np.concatenate(ptrs),
                 _as(np.concatenate(idx), np.int32), _as(np.concatenate(vals), np.int32))


def flat_layout(net: QuantNetwork) -> _Flat:
    """The flat layout the generic step loops run on (engine/verify/drift.py runs it too)."""
    return _flat(net)


def _run_loihi(net: QuantNetwork, x: NDArray[np.int64], record: bool,
               initial: Mapping[str, NDArray[np.int64]] | None) -> KernelRun:
    """Per step: every population takes what its Dense projections computed on the previous
    step (a one-step delay per Dense; the input arrives through a Dense the same way), then
    every Dense computes W @ spikes of this step for the next one."""
    from engine.verify import (
        native,  # numba loads with the first run, not with every import of the kernel
    )

    steps = x.shape[0]
    flat = _flat(net)
    n = int(flat.pop_start[-1])
    dst_sizes = [net.size_of(p.dst) for p in net.projections]
    pend_start = np.concatenate([[0], np.cumsum(dst_sizes)]).astype(np.int64)
    u, v = np.zeros(n, np.int64), np.zeros(n, np.int64)
    previous = np.zeros(n, np.int64)
    pending = np.zeros(int(pend_start[-1]), np.int64)
    if initial is not None:
        u, v = flat.join(net, initial, "{}.u"), flat.join(net, initial, "{}.v")
        previous = flat.join(net, initial, "spikes.{}")
        pending = _as(np.concatenate([initial[f"pending.{k}"] for k in range(len(dst_sizes))] + [np.zeros(0, np.int64)]),
                      np.int64).copy()
    before = {name: value.copy() for name, value in flat.split(net, previous).items()}
    vth64 = flat.params(net, "vth") << 6
    bias = flat.params(net, "bias_mant") << flat.params(net, "bias_exp")
    spikes = np.zeros((steps, n), np.int32)
    ops = np.zeros(steps, np.int64)
    rec_u = np.zeros((steps, n) if record else (0, 0), np.int32)
    rec_v = np.zeros((steps, n) if record else (0, 0), np.int32)
    native.loihi_run(_as(x, np.int64), flat.pop_start, flat.proj_src, flat.proj_dst, flat.proj_row, flat.proj_shift,
                     pend_start, flat.indptr, flat.indices, flat.values, flat.params(net, "du"), flat.params(net, "dv"),
                     vth64, bias, u, v, pending, previous, spikes, ops, record, rec_u, rec_v)
    states = {}
    if record:
        for name, uu in flat.split(net, rec_u).items():
            states[f"{name}.u"] = uu
            states[f"{name}.isyn"] = uu  # u is Loihi's synaptic current: one name for every family
        states.update({f"{name}.v": vv for name, vv in flat.split(net, rec_v).items()})
    events = {"input_events": x.sum(axis=1), "synaptic_ops": ops, "spikes": spikes.sum(axis=1, dtype=np.int64)}
    final = {f"{name}.u": value.copy() for name, value in flat.split(net, u).items()}
    final.update({f"{name}.v": value.copy() for name, value in flat.split(net, v).items()})
    final.update({f"spikes.{name}": value.copy() for name, value in flat.split(net, previous).items()})
    final.update({f"pending.{k}": pending[pend_start[k] : pend_start[k + 1]].copy() for k in range(len(dst_sizes))})
    return KernelRun(flat.split(net, spikes), states, events, x, final=final, before=before)


def _run_lif(net: QuantNetwork, x: NDArray[np.int64], record: bool,
             initial: Mapping[str, NDArray[np.int64]] | None) -> KernelRun:
    from engine.verify import (
        native,  # numba loads with the first run, not with every import of the kernel
    )

    steps = x.shape[0]
    flat = _flat(net)
    n = int(flat.pop_start[-1])
    isyn, v, previous = np.zeros(n, np.int64), np.zeros(n, np.int64), np.zeros(n, np.int64)
    if initial is not None:
        isyn, v = flat.join(net, initial, "{}.isyn"), flat.join(net, initial, "{}.v")
        previous = flat.join(net, initial, "spikes.{}")
    before = {name: value.copy() for name, value in flat.split(net, previous).items()}
    spikes = np.zeros((steps, n), np.int32)
    ops = np.zeros(steps, np.int64)
    rec_i = np.zeros((steps, n) if record else (0, 0), np.int32)
    rec_v = np.zeros((steps, n) if record else (0, 0), np.int32)
    native.lif_run(_as(x, np.int64), flat.pop_start, flat.proj_src, flat.proj_dst, flat.proj_row, flat.proj_shift,
                   flat.indptr, flat.indices, flat.values, flat.params(net, "decay_syn"), flat.params(net, "decay_mem"),
                   flat.params(net, "threshold"), flat.params(net, "bias"), isyn, v, previous, spikes, ops, record,
                   rec_i, rec_v)
    states = {}
    if record:
        states.update({f"{name}.isyn": value for name, value in flat.split(net, rec_i).items()})
        states.update({f"{name}.v": value for name, value in flat.split(net, rec_v).items()})
    events = {"input_events": x.sum(axis=1), "synaptic_ops": ops, "spikes": spikes.sum(axis=1, dtype=np.int64)}
    final = {f"{name}.isyn": value.copy() for name, value in flat.split(net, isyn).items()}
    final.update({f"{name}.v": value.copy() for name, value in flat.split(net, v).items()})
    final.update({f"spikes.{name}": value.copy() for name, value in flat.split(net, previous).items()})
    return KernelRun(flat.split(net, spikes), states, events, x, final=final, before=before)


def _run_speck(net: QuantNetwork, x: NDArray[np.int64], record: bool,
               initial: Mapping[str, NDArray[np.int64]] | None) -> KernelRun:
    """Per step, populations in network order (feed-forward): this step's events, then the
    bias. Only the membrane carries over from one step to the next."""
    from engine.verify import (
        native,  # numba loads with the first run, not with every import of the kernel
    )

    steps = x.shape[0]
    flat = _flat(net)
    n = int(flat.pop_start[-1])
    v = flat.join(net, initial, "{}.v") if initial is not None else np.zeros(n, np.int64)
    spikes = np.zeros((steps, n), np.int32)
    ops = np.zeros(steps, np.int64)
    rec_v = np.zeros((steps, n) if record else (0, 0), np.int32)
    native.speck_run(_as(x, np.int64), flat.pop_start, flat.proj_src, flat.proj_dst, flat.proj_row, flat.indptr,
                     flat.indices, flat.values, flat.params(net, "threshold"), flat.params(net, "threshold_low"),
                     flat.params(net, "bias"), flat.params(net, "reset_zero"), v, spikes, ops, record, rec_v)
    states = {f"{name}.v": value for name, value in flat.split(net, rec_v).items()} if record else {}
    events = {"input_events": x.sum(axis=1), "synaptic_ops": ops, "spikes": spikes.sum(axis=1, dtype=np.int64)}
    final = {f"{name}.v": value.copy() for name, value in flat.split(net, v).items()}
    before = {p.name: np.zeros(p.size, np.int64) for p in net.populations}
    return KernelRun(flat.split(net, spikes), states, events, x, final=final, before=before)


def run(network: QuantNetwork, input_counts: ArrayLike, *, record: bool = False, routed: bool = True,
        routing: Routing | None = None, initial: Mapping[str, NDArray[np.int64]] | None = None) -> KernelRun:
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
    record = record or network.readout == "membrane"  # the readout's membrane decides the class
    runner = {"xylo": _run_xylo, "loihi": _run_loihi, "lif": _run_lif, "speck": _run_speck}[network.family]
    result = runner(network, x, record, initial)
    return attrs.evolve(result, routing=routing) if routing is not None else result
