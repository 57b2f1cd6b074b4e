"""The network as flat arrays the partitioner works on: one id per neuron, unique
(source, destination) synapse pairs, per-neuron synapse counts and cycle costs.

Placed neurons take ids 0..n-1 in group order (layer order); external sources (the
network's input channels, which arrive from the MCU and live on no core) take ids after
them. They still occupy input axons on every core they reach.
"""

from __future__ import annotations

from collections.abc import Iterable

import attrs
import numpy as np

from engine.mapping.target import CoreSpec
from engine.netlist import Weights


@attrs.frozen(eq=False)
class Group:
    """Neurons of one population: sizes, incoming synapses and cycles per neuron, and the
    outgoing connections (CSR by source neuron) to other populations. `shape` is the
    layer's shape, channel first as NIR writes it: (L,), (C, L) or (C, H, W); () means
    (size,). External groups (the input channels) are sources only."""

    name: str
    size: int
    layer: int
    rate_hz: np.ndarray  # (size,) expected spikes per second per neuron
    in_synapses: np.ndarray  # (size,)
    in_events_hz: np.ndarray  # (size,) synaptic events per second arriving at each neuron
    outgoing: tuple[tuple[str, Weights], ...]  # (dst group name, CSR by source neuron)
    shape: tuple[int, ...] = ()
    external: bool = False


def neuron_load(group: Group, core: CoreSpec) -> np.ndarray:
    """Cycles per step each neuron costs its core at the expected rates."""
    return (group.in_events_hz * core.dt * core.cycles_synaptic_op + core.cycles_neuron_update
            + group.rate_hz * core.dt * core.cycles_spike_sent)


@attrs.frozen(eq=False)
class NetView:
    groups: tuple[Group, ...]  # placed groups, in id order
    externals: tuple[Group, ...]  # external groups, ids after the placed neurons
    offsets: np.ndarray  # (len(groups) + 1,) first id of each placed group
    synapses: np.ndarray  # (n,) incoming synapses per placed neuron
    load: np.ndarray  # (n,) cycles per step per placed neuron
    rate: np.ndarray  # (n_total,) expected spikes per second of every neuron, external ones too
    group_of: np.ndarray  # (n,) index of each placed neuron's group
    src: np.ndarray  # (pairs,) int32: unique synapse pairs sorted by (dst, src)
    dst: np.ndarray  # (pairs,) int32
    in_ptr: np.ndarray  # (n + 1,) int64: CSC by destination into src/dst

    @property
    def n(self) -> int:
        return int(self.offsets[-1])


def net_view(groups: Iterable[Group], core: CoreSpec) -> NetView:
    placed = tuple(g for g in groups if not g.external)
    externals = tuple(g for g in groups if g.external)
    sizes = [g.size for g in placed]
    offsets = np.concatenate([[0], np.cumsum(sizes, dtype=np.int64)]).astype(np.int64)
    n = int(offsets[-1])
    start = {g.name: int(offsets[i]) for i, g in enumerate(placed)}
    ext_offset = n
    for g in externals:
        start[g.name] = ext_offset
        ext_offset += g.size
    total = ext_offset
    src, in_ptr = _incoming(placed, externals, start, n, total)
    dst = np.repeat(np.arange(n, dtype=np.int32), np.diff(in_ptr))
    synapses = np.concatenate([g.in_synapses for g in placed]).astype(np.int64) if placed else np.zeros(0, np.int64)
    load = np.concatenate([neuron_load(g, core) for g in placed]) if placed else np.zeros(0)
    rate = np.concatenate([np.asarray(g.rate_hz, dtype=np.float64) for g in placed + externals]) \
        if placed + externals else np.zeros(0)
    group_of = np.repeat(np.arange(len(placed), dtype=np.int64), sizes)
    return NetView(placed, externals, offsets, synapses, load, rate, group_of, src, dst, in_ptr)


def _incoming(placed: tuple[Group, ...], externals: tuple[Group, ...], start: dict[str, int], n: int,
              total: int) -> tuple[np.ndarray, np.ndarray]:
    """Sources of every placed neuron, ascending and each once, as CSR by destination
    (int32 sources, int64 pointers). Each weight matrix is transposed on its own and the
    blocks are stacked, so no (source, destination) key of the whole network is sorted:
    at 1e8 synapses that sort and its int64 copies are what would not fit in memory."""
    from scipy.sparse import csr_matrix, hstack, vstack

    external_names = {e.name for e in externals}
    rows = []
    for group in placed:
        by_offset: dict[int, csr_matrix] = {}
        for source in placed + externals:
            for dst_name, w in source.outgoing:
                if dst_name != group.name or dst_name in external_names:
                    continue
                pattern = csr_matrix((np.ones(w.nnz, dtype=bool), np.asarray(w.indices, dtype=np.int32),
                                      np.asarray(w.indptr, dtype=np.int64)), shape=(w.n_src, w.n_dst))
                block = pattern.T.tocsr()  # (destinations, sources), sources ascending per row
                offset = start[source.name]
                by_offset[offset] = block if offset not in by_offset else (by_offset[offset] + block).tocsr()
        # the group's row: its sources' blocks at their id offsets, empty columns between
        pieces, column = [], 0
        for offset, block in sorted(by_offset.items()):
            if offset > column:
                pieces.append(csr_matrix((group.size, offset - column), dtype=bool))
            pieces.append(block)
            column = offset + block.shape[1]
        if column < total:
            pieces.append(csr_matrix((group.size, total - column), dtype=bool))
        rows.append(hstack(pieces, format="csr", dtype=bool) if len(pieces) > 1 else pieces[0].tocsr())
    if not rows:
        return np.zeros(0, dtype=np.int32), np.zeros(n + 1, dtype=np.int64)
    incoming = vstack(rows, format="csr", dtype=bool)
    incoming.sum_duplicates()
    return np.asarray(incoming.indices, dtype=np.int32), np.asarray(incoming.indptr, dtype=np.int64)


def distinct_fan_in(view: NetView) -> np.ndarray:
    """Distinct sources (neurons or input channels) of each placed neuron."""
    return np.diff(view.in_ptr)


def placed_pairs(view: NetView) -> tuple[np.ndarray, np.ndarray]:
    """(source, destination) of the synapses between placed neurons; the view's own arrays
    when no input channel has synapses."""
    placed = view.src < view.n
    if placed.all():
        return view.src, view.dst
    return view.src[placed], view.dst[placed]
