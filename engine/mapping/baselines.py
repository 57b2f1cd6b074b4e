"""General partitioners as mapping baselines, each with its documented good settings, and
a capacity repair that moves as few neurons as it can.

- METIS (pymetis) k-way, 3% imbalance (ufactor 30, METIS's own k-way default), the
  communication-volume objective (the graph form of connectivity minus one), on the
  symmetric neuron graph with edges weighted by spikes per second; and the same with
  METIS's default edge-cut objective, which is far faster where the volume refinement
  runs for hours (dense sources of fan-out 100-200 at 1e5 neurons);
- KaHIP (kaffpa), 3% imbalance, on the same graph;
- Mt-KaHyPar, 3% imbalance, connectivity-minus-one (km1) objective, default preset, on
  the hypergraph with one net per sending neuron (the neuron and its targets), weighted
  by its rate: the multicast cost itself.

A partitioner balances neuron counts only; the repair (`repaired`) then makes every core
meet every per-core limit: each part over a limit keeps the longest prefix of its neurons,
the ones most tied to it first, that fits; each evicted neuron goes to the existing core
that fits it and holds most of its neighbours (of the 16 holding most), and only those
no core takes are filled into new cores. Placement and routing are the mapper's own, so only the partition
differs. The partitioners are development dependencies, imported only when called.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from engine.mapping import partition as part
from engine.mapping.arrays import unique_pairs
from engine.mapping.netview import NetView, placed_pairs
from engine.mapping.target import CoreSpec

IMBALANCE = 0.03
SEED = 0
# cores tried per evicted neuron, most neighbours first: on graphs without locality (random
# recurrent) no core fits most evicted neurons, and trying every core is hours at 1e5
REHOME_CANDIDATES = 16


def neuron_graph(view: NetView) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """CSR (xadj, adjncy, weights) of the symmetric neuron graph without self loops;
    an edge weighs the spikes per second crossing it (at least 1). Built as the sum of
    the rate-weighted synapse matrix and its transpose (int32 indices), not by sorting
    int64 keys of both directions, which at 1e8 synapses is what runs out of memory."""
    from scipy.sparse import csr_matrix

    n = view.n
    keep = (view.src < n) & (view.src != view.dst)
    src = view.src[keep]
    ptr = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(np.bincount(view.dst[keep], minlength=n), out=ptr[1:])
    del keep
    # row: destination, column: source, value: the source's rate (a silent source's edge
    # kept at the least positive value: the sum below drops exact zeros, and it weighs 1)
    incoming = csr_matrix((np.maximum(view.rate[src], np.finfo(np.float64).tiny), src, ptr), shape=(n, n))
    del src
    graph = (incoming + incoming.T).tocsr()
    del incoming
    graph.sort_indices()
    weights = np.maximum(1, np.rint(graph.data)).astype(np.int64)
    return graph.indptr.astype(np.int64), graph.indices.astype(np.int64), weights


METIS_OBJECTIVES = {"cut": 0, "volume": 1}  # METIS_OBJTYPE_CUT, METIS_OBJTYPE_VOL


def metis_parts(view: NetView, k: int, objective: str = "volume") -> np.ndarray:
    import pymetis

    if k <= 1:
        return np.zeros(view.n, dtype=np.int64)
    xadj, adjncy, weights = neuron_graph(view)
    options = pymetis.Options(ufactor=round(IMBALANCE * 1000), seed=SEED, objtype=METIS_OBJECTIVES[objective])
    adjacency = pymetis.CSRAdjacency(adj_starts=xadj, adjacent=adjncy)
    _, membership = pymetis.part_graph(k, adjacency, eweights=weights, options=options)
    return np.asarray(membership, dtype=np.int64)


def kahip_parts(view: NetView, k: int, mode: str = "ECO") -> np.ndarray:
    import kahip

    if k <= 1:
        return np.zeros(view.n, dtype=np.int64)
    xadj, adjncy, weights = neuron_graph(view)
    # KaHIP's ints as int32 arrays, which the binding reads element by element: with Python
    # lists of the 5e7 adjacencies (dense family, 1e5 neurons) the run went over 8 GiB
    _, blocks = kahip.kaffpa(np.ones(view.n, dtype=np.int32), xadj.astype(np.int32), weights.astype(np.int32),
                             adjncy.astype(np.int32), k, IMBALANCE, True, SEED, getattr(kahip, mode))
    return np.asarray(blocks, dtype=np.int64)


def sender_nets(view: NetView) -> tuple[list[list[int]], list[int]]:
    """One net per placed neuron with targets: the neuron and its targets; weight its rate."""
    key = unique_pairs(*placed_pairs(view), view.n)
    src, dst = key // view.n, key % view.n
    senders, starts = np.unique(src, return_index=True)
    pins = np.split(dst, starts[1:])
    nets = [sorted({int(s), *p.tolist()}) for s, p in zip(senders, pins)]
    keep = [i for i, net in enumerate(nets) if len(net) > 1]
    weights = np.maximum(1, np.rint(view.rate[senders])).astype(np.int64)
    return [nets[i] for i in keep], [int(weights[i]) for i in keep]


def mtkahypar_parts(view: NetView, k: int, threads: int = 2) -> np.ndarray:
    import mtkahypar

    if k <= 1:
        return np.zeros(view.n, dtype=np.int64)
    nets, weights = sender_nets(view)
    initializer = _mtkahypar_initializer(threads)
    mtkahypar.set_seed(SEED)
    context = initializer.context_from_preset(mtkahypar.PresetType.DEFAULT)
    context.set_partitioning_parameters(k, IMBALANCE, mtkahypar.Objective.KM1)
    context.logging = False
    hypergraph = initializer.create_hypergraph(context, view.n, len(nets), nets, [1] * view.n, weights)
    return np.asarray(hypergraph.partition(context).get_partition(), dtype=np.int64)


_INITIALIZED: dict[int, Any] = {}


def _mtkahypar_initializer(threads: int) -> Any:
    # the thread pool is process-wide and made once
    import mtkahypar

    if threads not in _INITIALIZED:
        _INITIALIZED[threads] = mtkahypar.initialize(threads, False)
    return _INITIALIZED[threads]


def at_fewest_cores(view: NetView, core: CoreSpec, partitioner: Callable[[NetView, int], np.ndarray], k: int,
                    resolution: float = 0.01) -> np.ndarray:
    """The repaired partition at k parts, or, where the repair needs more cores than k, at
    the fewest parts whose repaired partition needs no more cores than parts: bisected
    between k and the repaired count (which is reachable) to within `resolution` of the
    lower end. On axon-limited graphs a partition at the neuron bound overflows every
    part's input axons, and its repair is far worse than asking for more parts at once."""
    best = repaired(view, core, partitioner(view, k))
    low, high = k, int(best.max(initial=-1)) + 1
    while high - low > max(1, int(low * resolution)):
        middle = (low + high) // 2
        candidate = repaired(view, core, partitioner(view, middle))
        if int(candidate.max(initial=-1)) + 1 <= middle:
            high, best = middle, candidate
        else:
            low = middle
    return best


def repaired(view: NetView, core: CoreSpec, parts: np.ndarray) -> np.ndarray:
    """Core of each neuron under every per-core limit, moving few neurons off their part."""
    n = view.n
    _, cores = np.unique(parts, return_inverse=True)
    cores = cores.astype(np.int64)
    k = int(cores.max(initial=-1)) + 1
    sources = [view.src[view.in_ptr[v]: view.in_ptr[v + 1]] for v in range(n)]
    evicted: list[int] = []
    for c in range(k):
        members = np.nonzero(cores == c)[0]
        keep = _fitting_prefix(view, core, members, sources)
        evicted.extend(int(v) for v in members[keep:])
        cores[members[keep:]] = -1
    if evicted:
        cores = _rehome(view, core, cores, k, evicted, sources)
    return part.repair_output_axons(view, core, cores)


def _fitting_prefix(view: NetView, core: CoreSpec, members: np.ndarray, sources: list[np.ndarray]) -> int:
    """Order the part's neurons by how many of their sources other members share (the
    most tied first) and return the length of the longest prefix that fits a core."""
    if not members.size:
        return 0
    own = [sources[v] for v in members]
    allsrc = np.concatenate(own) if own else np.zeros(0, np.int64)
    values, counts = np.unique(allsrc, return_counts=True)
    shared = np.array([int((counts[np.searchsorted(values, s)] > 1).sum()) if s.size else 0 for s in own])
    order = members[np.lexsort((members, -shared))]
    members[:] = order
    size = min(order.size, core.neurons_per_core)
    syn = np.cumsum(view.synapses[order])
    load = np.cumsum(view.load[order])
    size = min(size, int(np.searchsorted(syn, core.synapses_per_core, side="right")))
    size = min(size, int(np.searchsorted(load, core.cycle_budget * (1 + 1e-9), side="right")))
    seen: set[int] = set()
    for i in range(size):
        seen.update(sources[int(order[i])].tolist())
        if len(seen) > core.input_axons:
            return max(1, i)
    return max(1, size)


def _rehome(view: NetView, core: CoreSpec, cores: np.ndarray, k: int, evicted: list[int],
            sources: list[np.ndarray]) -> np.ndarray:
    """Each evicted neuron goes to the core holding most of its neighbours that still fits
    it; the rest are filled, in id order, into new cores."""
    counts = np.bincount(cores[cores >= 0], minlength=k)
    syn = np.bincount(cores[cores >= 0], weights=view.synapses[cores >= 0], minlength=k)
    load = np.bincount(cores[cores >= 0], weights=view.load[cores >= 0], minlength=k)
    axons: list[set[int]] = [set() for _ in range(k)]
    for held in np.nonzero(cores >= 0)[0]:
        axons[int(cores[held])].update(sources[held].tolist())
    placed = (view.src < view.n)
    out_ptr_order = np.argsort(view.src[placed], kind="stable")
    out_src = view.src[placed][out_ptr_order]
    out_dst = view.dst[placed][out_ptr_order]
    out_ptr = np.searchsorted(out_src, np.arange(view.n + 1))
    budget = core.cycle_budget * (1 + 1e-9)
    left = []
    for v in evicted:
        near = np.concatenate([sources[v][sources[v] < view.n], out_dst[out_ptr[v]: out_ptr[v + 1]]])
        near = cores[near]
        near = near[near >= 0]
        candidates = np.unique(near, return_counts=True)
        own = set(sources[v].tolist())
        home = -1
        for found in candidates[0][np.lexsort((candidates[0], -candidates[1]))][:REHOME_CANDIDATES]:
            c = int(found)
            if (counts[c] + 1 > core.neurons_per_core or syn[c] + view.synapses[v] > core.synapses_per_core
                    or load[c] + view.load[v] > budget or len(axons[c]) + len(own - axons[c]) > core.input_axons):
                continue
            home = c
            break
        if home < 0:
            left.append(v)
            continue
        cores[v] = home
        counts[home] += 1
        syn[home] += view.synapses[v]
        load[home] += view.load[v]
        axons[home] |= own
    if left:
        rest = np.array(left, dtype=np.int64)
        order = np.argsort(rest, kind="stable")
        sub = part.fill(view, core, rest[order])
        cores[rest[order]] = k + sub[rest[order]]
    _, cores = np.unique(cores, return_inverse=True)
    return cores.astype(np.int64)
