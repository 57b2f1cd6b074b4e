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

from engine.mapping.arrays import unique
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
    src: np.ndarray  # (pairs,) unique synapse pairs sorted by (dst, src)
    dst: np.ndarray
    in_ptr: np.ndarray  # (n + 1,) CSC by destination into src/dst

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
    srcs, dsts = [], []
    for g in placed + externals:
        for dst_name, w in g.outgoing:
            if dst_name not in start or dst_name in {e.name for e in externals}:
                continue
            rows = np.repeat(np.arange(w.n_src, dtype=np.int64), np.diff(w.indptr))
            srcs.append(start[g.name] + rows)
            dsts.append(start[dst_name] + w.indices.astype(np.int64))
    if srcs:
        key = unique(np.concatenate(dsts) * max(total, 1) + np.concatenate(srcs))
        dst, src = key // max(total, 1), key % max(total, 1)
    else:
        dst = src = np.zeros(0, dtype=np.int64)
    in_ptr = np.searchsorted(dst, np.arange(n + 1), side="left").astype(np.int64)
    synapses = np.concatenate([g.in_synapses for g in placed]).astype(np.int64) if placed else np.zeros(0, np.int64)
    load = np.concatenate([neuron_load(g, core) for g in placed]) if placed else np.zeros(0)
    rate = np.concatenate([np.asarray(g.rate_hz, dtype=np.float64) for g in placed + externals]) \
        if placed + externals else np.zeros(0)
    group_of = np.repeat(np.arange(len(placed), dtype=np.int64), sizes)
    return NetView(placed, externals, offsets, synapses, load, rate, group_of, src, dst, in_ptr)


def distinct_fan_in(view: NetView) -> np.ndarray:
    """Distinct sources (neurons or input channels) of each placed neuron."""
    return np.diff(view.in_ptr)
