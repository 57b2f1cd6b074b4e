"""One scorer for every mapping, recounted from the network's weight matrices, the core of
each neuron, the mesh position of each core and the routing tables: it shares no code with
the partitioner or the router, so a method is judged by the same measure whoever made the
assignment.

- lower bound: neurons, synapse memory and cycles per step over a core's capacity, and an
  axon bound (each source feeds at least ceil(its targets / neurons per core) cores, one
  input axon each; each neuron sends to at least that many cores, one output axon each);
- multicast traffic: spikes per second times (cores a neuron's spike reaches other than
  its own), the connectivity-minus-one cost of the neuron's net;
- spike-hops with one dimension-order (X then Y) tree per neuron to exactly the cores it
  needs, and with the chip's routing tables (a spike crosses every link its key's entries
  forward on, so the route groups' sharing, and any target a group reaches for another
  member, is counted as the chip sends it);
- hottest link and routing entries per router under the tables; distinct input axons,
  output axons, neurons, synapses and duty per core, and entries per router, each
  against its limit.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from engine.netlist import LINK_EAST, LINK_NORTH, LINK_SOUTH, LINK_WEST

_DIRECTIONS = (LINK_EAST, LINK_NORTH, LINK_WEST, LINK_SOUTH)


def _edges(groups: Sequence[Any]) -> tuple[np.ndarray, np.ndarray, int, list[Any], list[Any]]:
    """Global (source id, destination id) pairs as int32, sorted and each once, placed
    neurons first in group order then external sources, and the placed-neuron count. The
    pairs are packed into one int64 buffer sorted in place: at 1e8 synapses every copy of
    them is 800 MB."""
    placed = [g for g in groups if not g.external]
    externals = [g for g in groups if g.external]
    start, offset = {}, 0
    for g in placed + externals:
        start[g.name] = offset
        offset += g.size
    n = sum(g.size for g in placed)
    total = max(offset, 1)
    blocks = [(start[g.name], start[name], w) for g in placed + externals for name, w in g.outgoing
              if name in start and start[name] < n]
    key = np.empty(sum(int(np.asarray(w.indices).size) for _, _, w in blocks), dtype=np.int64)
    at = 0
    for first_src, first_dst, w in blocks:
        indices = np.asarray(w.indices)
        part = key[at: at + indices.size]
        part[:] = np.repeat(np.arange(first_src, first_src + w.n_src, dtype=np.int64), np.diff(np.asarray(w.indptr)))
        part *= total
        part += indices
        part += first_dst
        at += indices.size
    key = _sorted_unique(key)
    return (key // total).astype(np.int32), (key % total).astype(np.int32), n, placed, externals


def _sorted_unique(key: np.ndarray) -> np.ndarray:
    """The distinct values of an int64 buffer the caller gives up, sorted in place. Not the
    mapper's `arrays.unique_pairs`: the scorer recounts with none of the mapper's code, so a
    fault there cannot hide in the score."""
    key.sort()
    if key.size == 0:
        return key
    keep = np.empty(key.size, dtype=bool)
    keep[0] = True
    np.not_equal(key[1:], key[:-1], out=keep[1:])
    return key[keep]


def _pairs(high: np.ndarray, low: np.ndarray, base: int) -> np.ndarray:
    """Distinct high * base + low in int64, sorted (high and low may be int32)."""
    key: np.ndarray = np.multiply(high, np.int64(base), dtype=np.int64)
    key += low
    return _sorted_unique(key)


def xy_tree_links(sx: np.ndarray, sy: np.ndarray, net: np.ndarray, tx: np.ndarray, ty: np.ndarray) -> np.ndarray:
    """Links of each net's dimension-order tree: (sx[i], sy[i]) to the points of net i
    (net ids ascending 0..len(sx)-1; a net may list a point twice)."""
    links = np.zeros(sx.size, dtype=np.int64)
    if not net.size:
        return links
    lo = np.minimum(np.minimum.reduceat(tx, _starts(net)), sx[np.unique(net)])
    hi = np.maximum(np.maximum.reduceat(tx, _starts(net)), sx[np.unique(net)])
    links[np.unique(net)] += hi - lo
    order = np.lexsort((tx, net))
    net, tx, ty = net[order], tx[order], ty[order]
    column = np.concatenate([[True], (net[1:] != net[:-1]) | (tx[1:] != tx[:-1])])
    starts = np.nonzero(column)[0]
    owner = net[starts]
    y_lo = np.minimum(np.minimum.reduceat(ty, starts), sy[owner])
    y_hi = np.maximum(np.maximum.reduceat(ty, starts), sy[owner])
    np.add.at(links, owner, y_hi - y_lo)
    return links


def _starts(sorted_ids: np.ndarray) -> np.ndarray:
    return np.nonzero(np.concatenate([[True], sorted_ids[1:] != sorted_ids[:-1]]))[0]


def score(groups: Sequence[Any], core: Any, cores: Any, positions: Any, placement: Any = None,
          neuron_keys: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Every metric of one assignment. `cores`: core of each placed neuron (group order);
    `positions`: (cores, 2) mesh x, y; `placement`/`neuron_keys`: the routing tables and
    each population's keys (a CoreMap's), for the chip-routing figures."""
    cores = np.asarray(cores, dtype=np.int64)
    positions = np.asarray(positions, dtype=np.int64)
    src, dst, n, placed, externals = _edges(groups)
    k = int(cores.max(initial=-1)) + 1
    rate = np.concatenate([np.asarray(g.rate_hz, dtype=np.float64) for g in placed + externals]) \
        if placed + externals else np.zeros(0)
    synapses = np.concatenate([np.asarray(g.in_synapses, dtype=np.int64) for g in placed]) if placed else np.zeros(0, np.int64)
    load = np.concatenate([g.in_events_hz * core.dt * core.cycles_synaptic_op + core.cycles_neuron_update
                           + g.rate_hz * core.dt * core.cycles_spike_sent for g in placed]) if placed else np.zeros(0)

    # per-core limits
    total = max(int(rate.size), 1)
    inputs = np.bincount(_pairs(cores[dst], src, total) // total, minlength=k)
    sender = src < n
    if sender.all():
        sends = _pairs(src, cores[dst], max(k, 1))  # (neuron, destination core)
    else:
        sends = _pairs(src[sender], cores[dst[sender]], max(k, 1))
    del sender
    outputs = np.bincount(cores[sends // max(k, 1)], minlength=k)
    neurons = np.bincount(cores, minlength=k)
    core_synapses = np.bincount(cores, weights=synapses, minlength=k)
    duty = np.bincount(cores, weights=load, minlength=k) / (core.clock_hz * core.dt)

    # lower bound, axons included
    out_degree = np.bincount(src, minlength=rate.size)
    reach = np.ceil(out_degree / core.neurons_per_core)
    bound = {
        "neurons": math.ceil(n / core.neurons_per_core),
        "synapses": math.ceil(int(synapses.sum()) / core.synapses_per_core),
        "cycles": math.ceil(float(load.sum()) / core.cycle_budget * (1 - 1e-9)),
        "input_axons": math.ceil(float(reach.sum()) / core.input_axons),
        "output_axons": math.ceil(float(reach[:n].sum()) / core.output_axons),
    }

    # multicast traffic and per-neuron trees
    neuron, dest = sends // max(k, 1), sends % max(k, 1)
    remote = dest != cores[neuron]
    traffic = float((rate[neuron[remote]]).sum())
    senders = np.unique(neuron)
    index = np.searchsorted(senders, neuron)
    sx, sy = positions[cores[senders], 0], positions[cores[senders], 1]
    links = xy_tree_links(sx, sy, index, positions[dest, 0], positions[dest, 1])
    per_neuron_hops = float((rate[senders] * links).sum())

    result = {
        "cores": k, "lower_bound": max(1, *bound.values()), "bound_terms": bound,
        "traffic": traffic, "spike_hops_neuron_trees": per_neuron_hops,
        "max_neurons": int(neurons.max(initial=0)), "max_synapses": int(core_synapses.max(initial=0)),
        "max_input_axons": int(inputs.max(initial=0)), "max_output_axons": int(outputs.max(initial=0)),
        "max_duty": float(duty.max(initial=0.0)),
        "within_limits": bool(neurons.max(initial=0) <= core.neurons_per_core
                              and core_synapses.max(initial=0) <= core.synapses_per_core
                              and inputs.max(initial=0) <= core.input_axons
                              and outputs.max(initial=0) <= core.output_axons
                              and duty.max(initial=0.0) <= core.duty_limit * (1 + 1e-9)),
    }
    if placement is not None:
        result.update(_table_figures(placed, rate, placement, neuron_keys))
        result["within_limits"] = bool(result["within_limits"]
                                       and result["max_entries_per_router"] <= core.routing_entries)
    return result


def _table_figures(placed: list[Any], rate: np.ndarray, placement: Any,
                   neuron_keys: Mapping[str, Any] | None) -> dict[str, Any]:
    """Spike-hops, hottest link and entries per router as the routing tables send them."""
    assert neuron_keys is not None, "table figures need each population's keys"
    keys = np.concatenate([np.asarray(neuron_keys[g.name], dtype=np.int64) for g in placed]) if placed else np.zeros(0)
    sending = keys >= 0
    masks = {entry.mask for entry in placement.routes}
    group_rate = {}
    for mask in masks:
        masked, where = np.unique(keys[sending] & mask, return_inverse=True)
        sums = np.bincount(where, weights=rate[: keys.size][sending], minlength=masked.size)
        group_rate[mask] = dict(zip(masked.tolist(), sums.tolist()))
    link_load: dict[tuple[int, int], float] = {}
    per_router: dict[int, int] = {}
    hops = 0.0
    for entry in placement.routes:
        r = group_rate[entry.mask].get(entry.key & entry.mask, 0.0)
        per_router[entry.router] = per_router.get(entry.router, 0) + 1
        for bit in _DIRECTIONS:
            if entry.out_links & bit:
                hops += r
                link_load[(entry.router, bit)] = link_load.get((entry.router, bit), 0.0) + r
    hottest = max(link_load.values(), default=0.0)
    return {"spike_hops_tables": hops, "hottest_link": hottest,
            "max_entries_per_router": max(per_router.values(), default=0), "routing_entries": len(placement.routes)}
