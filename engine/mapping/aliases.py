"""Xylo aliases: fan-out past the chip's limit, carried by alias neurons.

A Xylo hidden neuron may name one other hidden neuron as its alias: the spikes it emits in
a step are added to the alias's own count in the same step, before the alias's row of
recurrent weights delivers them (Rockpool's Xylo overview: "1 output alias supported for
each hidden neuron -> copies the output events to another neuron"; its mapper reads the
alias lists of XyloConfiguration the same way). A neuron whose recurrent (target,
synapse) pairs number more than the chip's `fan_out_max` (64 on Xylo Audio 2) keeps the
first `fan_out_max` of them, in (target, synapse) order, and hands each further
`fan_out_max` to one alias neuron appended after the hidden neurons, chained source ->
alias -> alias in ascending index, which is the order Xylo passes counts on in.

An alias neuron has no input weights, no bias and the largest threshold, so its own
membrane stays at 0 and its count is exactly its source's: the image computes what the
model computes, except that a target now receives the moved synapses from a later source
row, which changes the order of saturating adds only when a current saturates.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import attrs
import numpy as np

from engine.netlist import Placement, Population, Projection, QuantNetwork, Weights, frozen_array
from engine.resolve.fit import aliases_needed, xylo_fan_out

if TYPE_CHECKING:
    from engine.resolve.graph import Graph

ALIAS_THRESHOLD = 32767  # the largest 16-bit threshold: a membrane that stays at 0 never reaches it
ALIAS_DASH = 1


def _pairs(network: QuantNetwork) -> list[list[tuple[int, int, int]]]:
    """Per hidden source, its recurrent (target, synapse, weight) in (target, synapse) order."""
    hidden = network.population("hidden")
    rows: list[list[tuple[int, int, int]]] = [[] for _ in range(hidden.size)]
    for proj in network.projections:
        if proj.src == proj.dst == "hidden":
            w = proj.weights
            for s in range(w.n_src):
                lo, hi = int(w.indptr[s]), int(w.indptr[s + 1])
                rows[s] += [(int(t), proj.synapse, int(v)) for t, v in zip(w.indices[lo:hi], w.values[lo:hi])]
    return [sorted(row) for row in rows]


def _grown(weights: Weights, n_src: int, n_dst: int) -> Weights:
    """The same synapses in a larger matrix (new rows and columns empty)."""
    indptr = np.concatenate([weights.indptr, np.full(n_src - weights.n_src, weights.indptr[-1], dtype=np.int64)])
    return Weights.from_csr(n_src, n_dst, indptr, weights.indices, weights.values)


def add_aliases(network: QuantNetwork, fan_out_max: int) -> QuantNetwork:
    """The network with every hidden neuron's fan-out at most `fan_out_max`, through alias
    neurons; the same network when no neuron needs one."""
    if network.family != "xylo" or fan_out_max < 1:
        return network
    needed = aliases_needed(xylo_fan_out(network), fan_out_max)
    if not needed.any():
        return network
    hidden = network.population("hidden")
    nh = hidden.size
    if np.any(hidden.params["alias"] >= 0):
        raise ValueError("the network already has aliases; nmspec adds them only to networks without")
    dash_syn = hidden.params["dash_syn"]
    n_syn = int(dash_syn.shape[1])
    pairs = _pairs(network)
    alias = [int(a) for a in hidden.params["alias"]]
    rows = [list(row) for row in pairs]
    for source in range(nh):
        if len(pairs[source]) <= fan_out_max:
            continue
        chunks = [pairs[source][i: i + fan_out_max] for i in range(0, len(pairs[source]), fan_out_max)]
        rows[source] = chunks[0]
        previous = source
        for chunk in chunks[1:]:
            alias[previous] = len(rows)
            alias.append(-1)
            previous = len(rows)
            rows.append(chunk)
    total = len(rows)
    extra = total - nh
    params = dict(hidden.params)
    params["dash_syn"] = frozen_array(np.concatenate([dash_syn, np.full((extra, n_syn), ALIAS_DASH)]), np.int32)
    params["dash_mem"] = frozen_array(np.concatenate([hidden.params["dash_mem"], np.full(extra, ALIAS_DASH)]), np.int32)
    params["threshold"] = frozen_array(np.concatenate([hidden.params["threshold"], np.full(extra, ALIAS_THRESHOLD)]),
                                       np.int32)
    params["bias"] = frozen_array(np.concatenate([hidden.params["bias"], np.zeros(extra)]), np.int32)
    params["alias"] = frozen_array(alias, np.int32)
    populations = tuple(Population("hidden", total, params) if p.name == "hidden" else p for p in network.populations)
    projections: list[Projection] = []
    for proj in network.projections:
        if proj.src == proj.dst == "hidden":
            dense = np.zeros((total, total), dtype=np.int64)
            for source, row in enumerate(rows):
                for target, synapse, value in row:
                    if synapse == proj.synapse:
                        dense[source, target] = value
            projections.append(attrs.evolve(proj, weights=Weights.from_dense(dense)))
        else:
            n_src = total if proj.src == "hidden" else proj.weights.n_src
            n_dst = total if proj.dst == "hidden" else proj.weights.n_dst
            projections.append(attrs.evolve(proj, weights=_grown(proj.weights, n_src, n_dst)))
    placement = network.placement
    if placement is not None:
        cores = np.asarray(placement.neuron_core["hidden"], dtype=np.int64)
        owner = np.arange(total)
        for source in range(total):  # an alias lives on its source's core
            if alias[source] >= 0:
                owner[alias[source]] = owner[source]
        neuron_core = dict(placement.neuron_core)
        neuron_core["hidden"] = frozen_array(cores[owner], np.int32)
        placement = Placement(placement.mesh_width, placement.mesh_height, placement.core_xy, neuron_core,
                              placement.routes)
    return attrs.evolve(network, populations=populations, projections=tuple(projections), placement=placement)


def aliased_graph(graph: Graph, network: QuantNetwork) -> Graph:
    """The placement graph of the network before add_aliases, as `network` (after it) has
    it: the hidden population's node grown by the alias neurons, every edge's weights the
    aliased projections' (the same projection indices: add_aliases keeps their order), and
    the hidden population's outgoing spike rate grown with it (an alias repeats its source's
    spikes; the graph keeps one mean rate per population)."""
    out = graph.copy()
    hidden = network.population("hidden")
    before = int(graph.nodes["pop:hidden"]["size"])
    out.nodes["pop:hidden"].update(size=hidden.size, shape=(hidden.size,))
    for src, dst, edge in out.edges(data=True):
        if "projection" not in edge:
            continue
        edge["weights"] = Weights.stacked([network.projections[int(i)].weights for i in np.atleast_1d(edge["projection"])])
        if src == "pop:hidden":
            edge["rate_hz"] = float(edge["rate_hz"]) * hidden.size / before
    return out
