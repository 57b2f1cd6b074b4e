"""Neurons into cores under every per-core limit.

A partition is an order of the neurons and a greedy fill along it: a core takes the next
neurons until one more would break its neuron count, synapse memory, cycle budget (the
duty limit at the expected rates) or input axons (distinct sources). Three orders:

- layer order: layers in turn, each population in index order (sequential fill, the
  PACMAN / nengo-loihi default). Wins where there is no spatial structure to exploit.
- spatial order: every layer's neurons by their position in a frame the layers share
  (a Hilbert curve over (H, W) for 2-D layers, the index for 1-D ones), then layer, then
  channel. A core takes a spatial tile through all layers, so a convolution's spikes
  mostly stay in the core or go to the next tile, which the placement puts next door.

- graph order: reverse Cuthill-McKee over the synapse graph, for graphs whose ids hide
  their locality.

All fill greedily, so with one dominant limit all reach the lower bound.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import TYPE_CHECKING

import numpy as np

from engine.diagnostics import Diagnostic, StageError
from engine.mapping.arrays import unique_first, unique_pairs
from engine.mapping.native import compiled
from engine.mapping.netview import Group, NetView, distinct_fan_in, placed_pairs
from engine.mapping.target import CoreSpec

if TYPE_CHECKING:
    from scipy.sparse import csr_matrix

_RELATIVE_SLACK = 1e-9  # cumulative float sums of cycles may overshoot by rounding


def lower_bound_terms(view: NetView, core: CoreSpec) -> dict[str, int]:
    return {
        "neurons": math.ceil(view.n / core.neurons_per_core),
        "synapses": math.ceil(int(view.synapses.sum()) / core.synapses_per_core),
        "cycles": math.ceil(float(view.load.sum()) / core.cycle_budget * (1 - _RELATIVE_SLACK)),
    }


def lower_bound(view: NetView, core: CoreSpec) -> int:
    return max(1, *lower_bound_terms(view, core).values())


def check_single_neurons(view: NetView, core: CoreSpec) -> None:
    """Limits no partition can meet: one neuron alone is over a core's capacity. One
    diagnostic per population and limit, naming the worst neuron and the excess."""
    problems = []
    fan_in = distinct_fan_in(view)
    for index, group in enumerate(view.groups):
        lo, hi = int(view.offsets[index]), int(view.offsets[index + 1])
        problems += _over(group, view.synapses[lo:hi], core.synapses_per_core, "NM601",
                          "population '{name}': neuron {i} has {v} incoming synapses, {excess} more than a core's "
                          "synapse memory holds ({cap})",
                          "split the population's fan-in over more neurons or use a target with more synapse memory per core")
        problems += _over(group, fan_in[lo:hi], core.input_axons, "NM602",
                          "population '{name}': neuron {i} receives from {v} distinct sources, {excess} more than a "
                          "core's {cap} input axons",
                          "reduce the neuron's fan-in (sparser or smaller kernels) or use a target with more input axons")
        budget = core.cycle_budget
        load = view.load[lo:hi]
        if load.size and float(load.max()) > budget * (1 + _RELATIVE_SLACK):
            worst = int(np.argmax(load))
            need = float(load[worst])
            problems.append(Diagnostic(
                "error", "NM604",
                f"layer {group.layer} (population '{group.name}') is too hot: neuron {worst} needs {need:.0f} cycles "
                f"per step at the expected rates, {need - budget:.0f} more than a core's budget of {budget:.0f} "
                f"({core.duty_limit:.0%} duty of {core.clock_hz * core.dt:.0f} cycles per step)",
                hint="lower the layer's expected spike rates or fan-in, or use a faster clock or a longer time step"))
    if problems:
        raise StageError(problems)


def _over(group: Group, values: np.ndarray, cap: int, code: str, message: str, hint: str) -> list[Diagnostic]:
    if not values.size or int(values.max()) <= cap:
        return []
    worst = int(np.argmax(values))
    count = int((values > cap).sum())
    value = int(values[worst])
    text = message.format(name=group.name, i=worst, v=value, excess=value - cap, cap=cap)
    if count > 1:
        text += f"; {count} of its {group.size} neurons are over"
    return [Diagnostic("error", code, text, hint=hint)]


def check_chip_size(view: NetView, core: CoreSpec) -> None:
    terms = lower_bound_terms(view, core)
    bound = max(1, *terms.values())
    if bound <= core.max_cores:
        return
    reason = {
        "neurons": f"{view.n} neurons at {core.neurons_per_core} per core",
        "synapses": f"{int(view.synapses.sum())} synapses at {core.synapses_per_core} per core",
        "cycles": f"{float(view.load.sum()):.0f} cycles per step at {core.cycle_budget:.0f} per core",
    }[max(terms, key=lambda k: (terms[k], k))]
    raise StageError([Diagnostic(
        "error", "NM603", f"the network needs at least {bound} cores ({reason}); the chip has {core.max_cores}, "
                          f"{bound - core.max_cores} too few", hint="use a larger target or a smaller network")])


def layer_order(view: NetView) -> np.ndarray:
    return np.arange(view.n, dtype=np.int64)


def spatial_order(view: NetView) -> np.ndarray | None:
    """Neurons by shared-frame position, then layer, then channel; None when there is
    nothing to interleave (a single population)."""
    if len(view.groups) < 2:
        return None
    spatial = [_spatial_shape(g) for g in view.groups]
    two_d = [s for s in spatial if len(s[1]) == 2]
    side = 1 << max(0, math.ceil(math.log2(max([max(s[1]) for s in two_d], default=1))))
    resolution = side * side if two_d else 1 << 24
    keys, layers, channels = [], [], []
    for group, (n_channels, dims) in zip(view.groups, spatial):
        index = np.arange(group.size, dtype=np.int64)
        per_channel = int(np.prod(dims))
        channel, spot = index // per_channel, index % per_channel
        if len(dims) == 2 and two_d:
            h, w = spot // dims[1], spot % dims[1]
            gy = ((2 * h + 1) * side) // (2 * dims[0])
            gx = ((2 * w + 1) * side) // (2 * dims[1])
            keys.append(hilbert_index(side, gx, gy))
        else:
            keys.append(((2 * spot + 1) * resolution) // (2 * per_channel))
        layers.append(np.full(group.size, group.layer, dtype=np.int64))
        channels.append(channel)
    ids = np.arange(view.n, dtype=np.int64)
    return np.lexsort((ids, np.concatenate(channels), np.concatenate(layers), np.concatenate(keys)))


def graph_order(view: NetView) -> np.ndarray | None:
    """Reverse Cuthill-McKee over the symmetric synapse graph: a breadth-first order
    that puts neurons with shared neighbours next to each other, for graphs whose ids
    carry no locality (shuffled rings, random graphs with clusters). None without
    synapses between neurons."""
    from scipy.sparse.csgraph import reverse_cuthill_mckee

    graph = _neighbours(view)
    if graph is None:
        return None
    return np.asarray(reverse_cuthill_mckee(graph, symmetric_mode=True), dtype=np.int64)


def _incoming_matrix(view: NetView) -> csr_matrix:
    """The synapses between placed neurons, self-synapses left out, as a CSR pattern by
    destination (int32 indices)."""
    from scipy.sparse import csr_matrix

    n = view.n
    keep = (view.src < n) & (view.src != view.dst)
    counts = np.bincount(view.dst[keep], minlength=n)
    ptr = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(counts, out=ptr[1:])
    return csr_matrix((np.ones(int(ptr[-1]), dtype=np.int8), view.src[keep], ptr), shape=(n, n))


def _neighbours(view: NetView) -> csr_matrix | None:
    """Symmetric pattern of the synapse graph between placed neurons (no self loops), or
    None when it has no edge."""
    incoming = _incoming_matrix(view)
    if not incoming.nnz:
        return None
    graph: csr_matrix = (incoming + incoming.T).tocsr()
    graph.sort_indices()
    return graph


MINHASHES = 8  # signatures per neuron: Jaccard similarity of two neighbourhoods to 1/8


def similarity_order(view: NetView) -> np.ndarray | None:
    """Reverse Cuthill-McKee over the synapses whose two ends share most of their
    neighbours (min-hash estimate of the Jaccard similarity of their neighbourhoods, at
    least one half). A few random long-range synapses (a rewired ring, a small-world
    graph) make a breadth-first order of the whole graph jump across it within a few
    levels; without them the order follows the local structure the ids hide, which is
    what keeps a core's distinct sources (input axons) few. None when no synapse is
    local in that sense."""
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import reverse_cuthill_mckee

    n = view.n
    graph = _neighbours(view)
    if graph is None:
        return None
    # neighbourhood = sources and targets, the neuron itself included
    ids = np.arange(n, dtype=np.uint64)
    ptr, cols = graph.indptr, graph.indices
    nonempty = np.nonzero(np.diff(ptr))[0]
    signatures = np.empty((MINHASHES, n), dtype=np.uint64)
    with np.errstate(over="ignore"):
        for k in range(MINHASHES):
            # each id's hash once, then gathered per neighbourhood
            h = (ids + np.uint64(k + 1)) * np.uint64(0x9E3779B97F4A7C15)
            h ^= h >> np.uint64(29)
            h *= np.uint64(0xBF58476D1CE4E5B9)
            h ^= h >> np.uint64(32)
            signatures[k] = h
            # empty rows take no slice of cols, so the non-empty rows' starts delimit them
            signatures[k, nonempty] = np.minimum(h[nonempty], np.minimum.reduceat(h[cols], ptr[nonempty]))
    del graph, cols
    # the synapses from a lower id to a higher one, each pair once
    incoming = _incoming_matrix(view).tocoo()
    lower = incoming.col < incoming.row
    u, v = incoming.col[lower], incoming.row[lower]
    del incoming, lower
    matches = np.zeros(u.size, dtype=np.int8)
    for k in range(MINHASHES):
        matches += signatures[k, u] == signatures[k, v]
    keep = 2 * matches >= MINHASHES
    if not keep.any():
        return None
    u, v = u[keep], v[keep]
    ones = np.ones(2 * u.size, dtype=np.int8)
    graph = coo_matrix((ones, (np.concatenate([u, v]), np.concatenate([v, u]))), shape=(n, n)).tocsr()
    return np.asarray(reverse_cuthill_mckee(graph, symmetric_mode=True), dtype=np.int64)


def _spatial_shape(group: Group) -> tuple[int, tuple[int, ...]]:
    """(channels, spatial dims) from a channel-first shape; (1, (size,)) when unknown."""
    shape = tuple(int(s) for s in group.shape)
    if not shape or int(np.prod(shape)) != group.size:
        return 1, (group.size,)
    if len(shape) == 1:
        return 1, shape
    if len(shape) == 2:
        return shape[0], (shape[1],)
    return int(np.prod(shape[:-2])), shape[-2:]


def hilbert_index(side: int, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Distance along the Hilbert curve of a side x side grid (side a power of two)."""
    x, y = np.asarray(x, dtype=np.int64).copy(), np.asarray(y, dtype=np.int64).copy()
    d = np.zeros_like(x)
    s = side // 2
    while s > 0:
        rx = ((x & s) > 0).astype(np.int64)
        ry = ((y & s) > 0).astype(np.int64)
        d += s * s * ((3 * rx) ^ ry)
        flip = ry == 0
        swap_x = np.where(flip & (rx == 1), side - 1 - x, x)
        swap_y = np.where(flip & (rx == 1), side - 1 - y, y)
        x, y = np.where(flip, swap_y, swap_x), np.where(flip, swap_x, swap_y)
        s //= 2
    return d


def fill(view: NetView, core: CoreSpec, order: np.ndarray, outputs: np.ndarray | None = None) -> np.ndarray:
    """Greedy fill along `order`; returns the core of each neuron (by id). Cores are
    numbered in fill order, so consecutive cores hold neighbouring neurons. `outputs`,
    when given, is each neuron's expected output axons (destination cores), filled
    against the core's output axons like synapses against its memory."""
    n = int(order.size)  # the order may cover some neurons only; the others keep core -1
    if view.n == 0:
        return np.zeros(0, dtype=np.int64)
    cum_syn = np.concatenate([[0], np.cumsum(view.synapses[order])])
    cum_load = np.concatenate([[0.0], np.cumsum(view.load[order])])
    cum_out = None if outputs is None else np.concatenate([[0], np.cumsum(outputs[order])])
    # incoming pairs grouped along the order: the sources of order[s:e] are one slice
    degree = np.diff(view.in_ptr)
    ptr = np.concatenate([[0], np.cumsum(degree[order])])
    sources = view.src[_gather(view.in_ptr[order], degree[order], int(ptr[-1]))]
    cores = np.full(view.n, -1, dtype=np.int64)
    scratch = np.zeros(int(view.src.max(initial=0)) + 1, dtype=np.int64)
    budget = core.cycle_budget * (1 + _RELATIVE_SLACK)
    start, current = 0, 0
    while start < n:
        end = min(start + core.neurons_per_core, n)
        end = min(end, int(np.searchsorted(cum_syn, cum_syn[start] + core.synapses_per_core, side="right")) - 1)
        end = min(end, int(np.searchsorted(cum_load, cum_load[start] + budget, side="right")) - 1)
        if cum_out is not None:
            end = min(end, int(np.searchsorted(cum_out, cum_out[start] + core.output_axons, side="right")) - 1)
        end = max(end, start + 1)
        end = _axon_cut(sources, ptr, start, end, core.input_axons, scratch)
        cores[order[start:end]] = current
        current += 1
        start = end
    return cores


def _gather(starts: np.ndarray, lengths: np.ndarray, total: int) -> np.ndarray:
    """Indices of the slices [starts[i], starts[i] + lengths[i]) one after the other."""
    index = np.repeat(starts - np.concatenate([[0], np.cumsum(lengths)[:-1]]), lengths)
    index += np.arange(total, dtype=np.int64)
    return index


def _axon_cut(sources: np.ndarray, ptr: np.ndarray, start: int, end: int, cap: int, scratch: np.ndarray) -> int:
    """The largest end' <= end whose neurons order[start:end'] have at most `cap`
    distinct sources (at least one neuron: single neurons were checked before).
    `scratch` (one slot per source id, zero at first) marks the sources seen by the
    core starting at `start`, so the slice is neither sorted nor cleared."""
    if int(ptr[end]) - int(ptr[start]) <= cap:
        return end
    cut: int = compiled(_axon_cut_loop)(sources, ptr, start, end, cap, scratch)
    return cut


def _axon_cut_loop(sources: np.ndarray, ptr: np.ndarray, start: int, end: int, cap: int, scratch: np.ndarray) -> int:
    stamp = start + 1
    distinct = 0
    for neuron in range(start, end):
        for j in range(ptr[neuron], ptr[neuron + 1]):
            if scratch[sources[j]] != stamp:
                scratch[sources[j]] = stamp
                distinct += 1
        if distinct > cap:
            return max(start + 1, neuron)
    return end


def core_inputs(view: NetView, cores: np.ndarray, n_cores: int) -> np.ndarray:
    """Distinct sources feeding each core (a source counts once per core however many of
    the core's neurons it reaches)."""
    if not view.src.size:
        return np.zeros(n_cores, dtype=np.int64)
    total = int(view.src.max()) + 1
    pair = unique_pairs(cores[view.dst], view.src, total)
    return np.bincount(pair // total, minlength=n_cores)


def multicast_traffic(view: NetView, cores: np.ndarray) -> float:
    """Spikes per second delivered to remote cores when each neuron's spike goes to exactly
    the cores its targets are on (rate-weighted connectivity minus one): what a partition
    decides, before placement turns it into hops and the route groups share trees."""
    if not (view.src < view.n).any():
        return 0.0
    n_cores = int(cores.max(initial=0)) + 1
    pair = _sends(view, cores, n_cores)
    sender, dest = pair // n_cores, pair % n_cores
    remote = dest != cores[sender]
    return float(view.rate[sender[remote]].sum())


def neuron_outputs(view: NetView, cores: np.ndarray) -> np.ndarray:
    """Destination cores of each placed neuron under a partition."""
    n_cores = int(cores.max(initial=0)) + 1
    return np.bincount(_sends(view, cores, n_cores) // n_cores, minlength=view.n)


OUTPUT_REFILLS = 6


def cycles_cap(core: CoreSpec) -> float:
    """A core's cycles per step, with room for the rounding of float sums."""
    return core.cycle_budget * (1 + _RELATIVE_SLACK)


def pack(view: NetView, core: CoreSpec, order: np.ndarray, first: np.ndarray | None = None) -> np.ndarray:
    """Fill along `order` under every limit (pack_with the fill along the order); `first`:
    the fill along it without output axons, where already made."""
    return pack_with(view, core, lambda outputs: fill(view, core, order, outputs), first)


def pack_with(view: NetView, core: CoreSpec, filler: Callable[[np.ndarray | None], np.ndarray],
              first: np.ndarray | None = None) -> np.ndarray:
    """A fill under every limit; `filler(outputs)` fills with each neuron's expected
    output axons (None: not counted; `first`, when given, is that fill). Output axons
    depend on where the targets land, so while a fill breaks them it is redone with each
    neuron's largest destination count seen so far under it, and any core still over is
    split."""
    cores = filler(None) if first is None else first
    outputs = None
    for _ in range(OUTPUT_REFILLS):
        n_cores = int(cores.max(initial=0)) + 1
        sends = _sends(view, cores, n_cores)
        if not (np.bincount(cores[sends // n_cores], minlength=n_cores) > core.output_axons).any():
            break
        # a refill moves targets, which moves the counts; the running maximum of each
        # neuron's destinations converges in a few rounds where the latest alone oscillates
        latest = np.bincount(sends // n_cores, minlength=view.n)
        outputs = latest if outputs is None else np.maximum(outputs, latest)
        cores = filler(outputs)
    return repair_output_axons(view, core, cores)


def over_output_axons(view: NetView, core: CoreSpec, cores: np.ndarray) -> bool:
    """Whether some core of the partition is over its output axons."""
    n_cores = int(cores.max(initial=0)) + 1
    return bool((core_outputs(view, cores, n_cores) > core.output_axons).any())


def _sends(view: NetView, cores: np.ndarray, n_cores: int) -> np.ndarray:
    """(neuron, destination core) pairs as neuron * n_cores + core, sorted."""
    src, dst = placed_pairs(view)
    return unique_pairs(src, cores[dst], n_cores)



def core_outputs(view: NetView, cores: np.ndarray, n_cores: int) -> np.ndarray:
    """Output axons of each core: one per (neuron, destination core) it sends to."""
    pair = _sends(view, cores, n_cores)
    return np.bincount(cores[pair // n_cores], minlength=n_cores)


def repair_output_axons(view: NetView, core: CoreSpec, cores: np.ndarray) -> np.ndarray:
    """Cores over their output axons give their last neurons (in id order) to a new core
    right after them, halving until every core fits. Splitting only lowers a core's
    inputs, so the input-axon limit keeps holding."""
    for _ in range(64):
        n_cores = int(cores.max(initial=-1)) + 1
        over = core_outputs(view, cores, n_cores) > core.output_axons
        if not over.any():
            return cores
        counts = np.bincount(cores, minlength=n_cores)
        if np.any(over & (counts <= 1)):
            worst = int(np.nonzero(over & (counts <= 1))[0][0])
            neuron = int(np.nonzero(cores == worst)[0][0])
            group = view.groups[int(view.group_of[neuron])]
            local = neuron - int(view.offsets[int(view.group_of[neuron])])
            reach = int(core_outputs(view, cores, n_cores)[worst])
            raise StageError([Diagnostic(
                "error", "NM605", f"population '{group.name}': neuron {local} sends to {reach} cores, "
                                  f"{reach - core.output_axons} more than a core's {core.output_axons} output axons")])
        order = np.argsort(cores, kind="stable")
        starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
        rank = np.empty(len(cores), dtype=np.int64)
        rank[order] = np.arange(len(cores)) - np.repeat(starts, counts)
        base = np.concatenate([[0], np.cumsum(1 + over.astype(np.int64))[:-1]])
        cores = base[cores] + (over[cores] & (rank >= counts[cores] // 2))
    raise StageError([Diagnostic("error", "NM605", "could not split cores below the output-axon limit")])


def check_packing(view: NetView, core: CoreSpec, cores: np.ndarray) -> None:
    n_cores = int(cores.max(initial=0)) + 1
    if n_cores > core.max_cores:
        raise StageError([Diagnostic(
            "error", "NM603", f"the network needs {n_cores} cores packed under every per-core limit (lower bound "
                              f"{lower_bound(view, core)}); the chip has {core.max_cores}, {n_cores - core.max_cores} too few",
            hint="use a larger target or a smaller network")])


REFINE_MAX_NEURONS = 50_000  # above this the orders' tiles dominate and the passes cost seconds
REFINE_PASSES = 4


def refine(view: NetView, core: CoreSpec, cores: np.ndarray) -> np.ndarray:
    """Pairwise neuron swaps between cores that lower the rate-weighted synapses cut
    (a neuron moves to the core it talks to most and a neuron of that core, wanting the
    opposite move, takes its place, so neuron counts stay put). Swaps that break a
    core's limits are undone; a pass that cannot be made to fit is dropped. The caller
    keeps the result only if it sends fewer spikes to remote cores."""
    from scipy.sparse import csr_matrix

    n = view.n
    link = (view.src < n) & (view.src != view.dst)
    a, b = view.src[link], view.dst[link]
    if not a.size:
        return cores
    adjacency = csr_matrix((np.concatenate([view.rate[a], view.rate[a]]), (np.concatenate([a, b]), np.concatenate([b, a]))),
                           shape=(n, n))
    for _ in range(REFINE_PASSES):
        moved = _swap_pass(view, core, adjacency, cores)
        if moved is None:
            break
        cores = moved
    return cores


def _swap_pass(view: NetView, core: CoreSpec, adjacency: csr_matrix, cores: np.ndarray) -> np.ndarray | None:
    from scipy.sparse import csr_matrix

    n, k = view.n, int(cores.max()) + 1
    talk = (adjacency @ csr_matrix((np.ones(n), (np.arange(n), cores)), shape=(n, k))).tocoo()
    home = talk.col == cores[talk.row]
    own = np.zeros(n)
    own[talk.row[home]] = talk.data[home]
    row, col, weight = talk.row[~home], talk.col[~home], talk.data[~home]
    if not row.size:
        return None
    order = np.lexsort((col, -weight, row))  # each neuron's best other core first, ties to the lower core
    row, col, weight = row[order], col[order], weight[order]
    best = np.concatenate([[True], row[1:] != row[:-1]])
    row, col, gain = row[best], col[best], weight[best] - own[row[best]]
    keep = gain > 0
    row, col, gain = row[keep], col[keep], gain[keep]
    if not row.size:
        return None
    move = cores[row] * k + col
    order = np.lexsort((row, -gain, move))  # by (from, to), best gain first
    row, gain, move = row[order], gain[order], move[order]
    keys, starts = unique_first(move)
    counts = np.diff(np.append(starts, move.size))
    where = {int(key): (int(s), int(c)) for key, s, c in zip(keys, starts, counts)}
    new = cores.copy()
    for key, (i, count) in where.items():
        source, target = divmod(key, k)
        back = where.get(target * k + source)
        if source > target or back is None:
            continue
        j, back_count = back
        for t in range(min(count, back_count)):
            u, v = int(row[i + t]), int(row[j + t])
            if gain[i + t] + gain[j + t] <= 2 * adjacency[u, v]:
                break
            new[u], new[v] = target, source
    over = _over_limits(view, core, new, k)
    if over.any():
        undo = over[new] | over[cores]
        new[undo] = cores[undo]
        if _over_limits(view, core, new, k).any() or (np.bincount(new, minlength=k) > core.neurons_per_core).any():
            return None
    return None if np.array_equal(new, cores) else new


def _over_limits(view: NetView, core: CoreSpec, cores: np.ndarray, k: int) -> np.ndarray:
    return ((np.bincount(cores, minlength=k) > core.neurons_per_core)
            | (np.bincount(cores, weights=view.synapses, minlength=k) > core.synapses_per_core)
            | (np.bincount(cores, weights=view.load, minlength=k) > core.cycle_budget * (1 + _RELATIVE_SLACK))
            | (core_inputs(view, cores, k) > core.input_axons) | (core_outputs(view, cores, k) > core.output_axons))
