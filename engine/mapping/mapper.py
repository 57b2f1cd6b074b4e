"""Neuron groups onto cores, cores onto the mesh, spikes onto routes.

1. Partition: neurons in layer order, each population in index order (the order the
   graph already has: layers, and within convolution layers neighbouring positions), fill
   a core until the next neuron would break a limit (neurons, synapse memory, cycle
   budget at the expected rates); a core whose distinct input sources exceed its input
   axons is split. This reaches the lower bound whenever one limit dominates.
2. Place: cores in fill order along a Hilbert curve (serpentine rows on non-square
   meshes), so consecutive cores (the same or adjacent layers) are neighbours; then
   pairwise swaps that lower rate-weighted spikes x hops, counting a multicast spike once
   per link of its tree (the connectivity-minus-one cost, not the edge cut).
3. Route: one multicast tree per (population, source core) with dimension-order paths
   (X, then Y); a masked key per group; each router gets one entry per group passing
   through it, with the links to forward on and LOCAL where the group has targets.
"""

from __future__ import annotations

import math
from typing import Mapping

import attrs
import numpy as np

from engine.diagnostics import Diagnostic, StageError
from engine.mapping.target import CoreSpec
from engine.netlist import LINK_EAST, LINK_LOCAL, LINK_NORTH, LINK_SOUTH, LINK_WEST, Placement, RouteEntry, frozen_array


@attrs.frozen(eq=False)
class Group:
    """Neurons of one population: sizes, incoming synapses and cycles per neuron, and the
    outgoing connections (CSR by source neuron) to other populations."""

    name: str
    size: int
    layer: int
    rate_hz: np.ndarray  # (size,) expected spikes per second per neuron
    in_synapses: np.ndarray  # (size,)
    in_events_hz: np.ndarray  # (size,) synaptic events per second arriving at each neuron
    outgoing: tuple  # ((dst group name, Weights CSR), ...)


@attrs.frozen(eq=False)
class CoreMap:
    placement: Placement
    lower_bound: int
    core_neurons: np.ndarray
    core_synapses: np.ndarray
    core_inputs: np.ndarray  # distinct source neurons per core
    core_duty: np.ndarray
    link_load: Mapping[tuple[int, int, int], float]  # (x, y, link bit) -> spikes per second
    spike_rate: float  # spikes per second leaving neurons that have remote targets
    traffic: float  # spikes per second delivered to cores (one per destination core)
    spikes_hops: float  # spikes x hops per second
    groups: int

    @property
    def cores(self) -> int:
        return self.placement.n_cores

    def summary(self) -> dict:
        hottest = max(self.link_load.items(), key=lambda kv: (kv[1], kv[0]), default=((0, 0, 0), 0.0))
        return {
            "cores": self.cores, "lower_bound": self.lower_bound, "mesh": [self.placement.mesh_width, self.placement.mesh_height],
            "traffic_spikes_per_s": round(self.traffic, 3), "spikes_hops_per_s": round(self.spikes_hops, 3),
            "hottest_link": {"x": hottest[0][0], "y": hottest[0][1], "link": _LINK_NAMES.get(hottest[0][2], "?"),
                             "spikes_per_s": round(hottest[1], 3)},
            "max_duty": round(float(self.core_duty.max(initial=0.0)), 4),
            "max_neurons": int(self.core_neurons.max(initial=0)), "max_synapses": int(self.core_synapses.max(initial=0)),
            "routes": len(self.placement.routes),
        }


_LINK_NAMES = {LINK_EAST: "east", LINK_NORTH: "north", LINK_WEST: "west", LINK_SOUTH: "south"}
_STEP = {LINK_EAST: (1, 0), LINK_WEST: (-1, 0), LINK_NORTH: (0, 1), LINK_SOUTH: (0, -1)}


def groups_from_graph(graph) -> list[Group]:
    nodes = sorted((n for n, d in graph.nodes(data=True) if d.get("kind") == "neurons"),
                   key=lambda n: (graph.nodes[n]["layer"], n))
    out = []
    for node in nodes:
        data = graph.nodes[node]
        size = int(data["size"])
        in_syn = np.zeros(size, dtype=np.int64)
        in_events = np.zeros(size)
        for src, _, edge in graph.in_edges(node, data=True):
            w = edge["weights"]
            counts = np.bincount(w.indices, minlength=size)
            in_syn += counts
            src_data = graph.nodes[src]
            src_rate = edge.get("rate_hz", 0.0) / max(int(src_data.get("size", 1)), 1)
            in_events += counts * src_rate
        outgoing = tuple((dst[len("pop:"):], edge["weights"]) for _, dst, edge in graph.out_edges(node, data=True)
                         if graph.nodes[dst].get("kind") == "neurons")
        out.append(Group(data["population"], size, int(data["layer"]), np.full(size, float(data.get("rate_hz", 0.0))),
                         in_syn, in_events, outgoing))
    return out


def lower_bound(groups, core: CoreSpec) -> int:
    neurons = sum(g.size for g in groups)
    synapses = sum(int(g.in_synapses.sum()) for g in groups)
    load = sum(float(_load(g, core).sum()) for g in groups)
    return max(math.ceil(neurons / core.neurons_per_core), math.ceil(synapses / core.synapses_per_core),
               math.ceil(load / core.cycle_budget), 1)


def _load(group: Group, core: CoreSpec) -> np.ndarray:
    """Cycles per step each neuron costs its core."""
    return (group.in_events_hz * core.dt * core.cycles_synaptic_op + core.cycles_neuron_update
            + group.rate_hz * core.dt * core.cycles_spike_sent)


def partition(groups, core: CoreSpec) -> dict[str, np.ndarray]:
    """Sequential fill under every per-core limit. Returns population -> core of each neuron."""
    assignment = {}
    current, neurons, synapses, cycles = 0, 0, 0, 0.0
    problems = []
    for group in groups:
        cores = np.empty(group.size, dtype=np.int64)
        load = _load(group, core)
        for i in range(group.size):
            s, c = int(group.in_synapses[i]), float(load[i])
            if s > core.synapses_per_core:
                problems.append(f"population '{group.name}' neuron {i} has {s} incoming synapses; a core holds {core.synapses_per_core}")
            if c > core.cycle_budget:
                problems.append(f"population '{group.name}' neuron {i} needs {c:.0f} cycles per step at the expected rate; "
                                f"a core has {core.cycle_budget:.0f} ({core.duty_limit:.0%} duty)")
            if problems and len(problems) > 5:
                break
            if neurons and (neurons + 1 > core.neurons_per_core or synapses + s > core.synapses_per_core
                            or cycles + c > core.cycle_budget):
                current += 1
                neurons, synapses, cycles = 0, 0, 0.0
            cores[i] = current
            neurons, synapses, cycles = neurons + 1, synapses + s, cycles + c
        assignment[group.name] = cores
    if problems:
        raise StageError([Diagnostic("error", "NM601", p) for p in problems[:5]])
    return _split_for_axons(groups, assignment, core)


def _split_for_axons(groups, assignment, core: CoreSpec) -> dict[str, np.ndarray]:
    """Cores whose distinct input sources exceed the input axons are halved (in fill
    order) until every core fits; cores keep their order."""
    names = [g.name for g in groups]
    for _ in range(64):
        inputs = np.array(_core_inputs(groups, assignment))
        over = inputs > core.input_axons
        if not over.any():
            return assignment
        cores = np.concatenate([assignment[n] for n in names])
        counts = np.bincount(cores, minlength=len(inputs))
        if np.any(over & (counts <= 1)):
            worst = int(np.nonzero(over & (counts <= 1))[0][0])
            raise StageError([Diagnostic("error", "NM602", f"one neuron receives from {inputs[worst]} sources; a core has "
                                                          f"{core.input_axons} input axons")])
        base = np.concatenate([[0], np.cumsum(1 + over.astype(np.int64))[:-1]])  # new id of each old core's first half
        rank = np.zeros(len(cores), dtype=np.int64)  # position of each neuron within its core, in fill order
        order = np.argsort(cores, kind="stable")
        starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
        rank[order] = np.arange(len(cores)) - np.repeat(starts, counts)
        second = over[cores] & (rank >= counts[cores] // 2)
        cores = base[cores] + second
        offset = 0
        for name in names:
            size = len(assignment[name])
            assignment[name] = cores[offset: offset + size]
            offset += size
    raise StageError([Diagnostic("error", "NM602", "could not split cores below the input-axon limit")])


def _core_inputs(groups, assignment) -> list[int]:
    """Distinct source neurons feeding each core (a source counts once per core however
    many of the core's neurons it reaches)."""
    n_cores = 1 + max(int(c.max(initial=0)) for c in assignment.values())
    counts = np.zeros(n_cores, dtype=np.int64)
    for group in groups:
        keys = []
        for dst, w in group.outgoing:
            rows = np.repeat(np.arange(w.n_src, dtype=np.int64), np.diff(w.indptr))
            keys.append(rows * n_cores + assignment[dst][w.indices])
        if keys:
            unique = np.unique(np.concatenate(keys))
            counts += np.bincount(unique % n_cores, minlength=n_cores)
    return counts.tolist()


def hilbert_order(width: int, height: int) -> list[tuple[int, int]]:
    """Mesh positions in an order where consecutive positions are adjacent."""
    side = 1 << max(0, math.ceil(math.log2(max(width, height, 1))))
    if width == height == side:
        return [_hilbert_d2xy(side, d) for d in range(side * side)]
    return [(x if y % 2 == 0 else width - 1 - x, y) for y in range(height) for x in range(width)]


def _hilbert_d2xy(n: int, d: int) -> tuple[int, int]:
    x = y = 0
    s, t = 1, d
    while s < n:
        rx = 1 & (t // 2)
        ry = 1 & (t ^ rx)
        if ry == 0:
            if rx == 1:
                x, y = s - 1 - x, s - 1 - y
            x, y = y, x
        x += s * rx
        y += s * ry
        t //= 4
        s *= 2
    return x, y


def _traffic(groups, assignment) -> tuple[dict[tuple[int, int], float], list[tuple[str, int, tuple[int, ...], float]]]:
    """Core-to-core spike rates (one spike per destination core) and the multicast groups:
    (population, source core, destination cores, spikes per second)."""
    pairs: dict[tuple[int, int], float] = {}
    route_groups: dict[tuple[str, int], tuple[set, float]] = {}
    for group in groups:
        src_cores = assignment[group.name]
        for dst, w in group.outgoing:
            dst_cores = assignment[dst]
            rows = np.repeat(np.arange(w.n_src), np.diff(w.indptr))
            if rows.size == 0:
                continue
            pair = np.unique(np.stack([rows, dst_cores[w.indices]], axis=1), axis=0)
            for s, c in pair:
                a, b = int(src_cores[s]), int(c)
                rate = float(group.rate_hz[s])
                pairs[(a, b)] = pairs.get((a, b), 0.0) + rate
                key = (group.name, a)
                targets, total = route_groups.get(key, (set(), 0.0))
                targets.add(b)
                route_groups[key] = (targets, total)
        for a in np.unique(src_cores):
            key = (group.name, int(a))
            if key in route_groups:
                targets, _ = route_groups[key]
                rate = float(group.rate_hz[src_cores == a].sum())
                route_groups[key] = (targets, rate)
    listed = [(name, core, tuple(sorted(targets)), rate) for (name, core), (targets, rate) in sorted(route_groups.items())]
    return pairs, listed


def _tree(src: tuple[int, int], dsts) -> dict[tuple[int, int], int]:
    """Dimension-order multicast tree: router position -> out-link bits (incl. LOCAL)."""
    links: dict[tuple[int, int], int] = {}
    for dst in dsts:
        x, y = src
        while (x, y) != dst:
            if x != dst[0]:
                bit = LINK_EAST if dst[0] > x else LINK_WEST
            else:
                bit = LINK_NORTH if dst[1] > y else LINK_SOUTH
            links[(x, y)] = links.get((x, y), 0) | bit
            dx, dy = _STEP[bit]
            x, y = x + dx, y + dy
        links[dst] = links.get(dst, 0) | LINK_LOCAL
    return links


def _group_cost(group, positions) -> float:
    _, core, targets, rate = group
    tree = _tree(positions[core], [positions[t] for t in targets])
    return rate * sum(bin(bits & ~LINK_LOCAL).count("1") for bits in tree.values())


def place(n_cores: int, core: CoreSpec, route_groups, *, swaps: bool = True) -> list[tuple[int, int]]:
    if n_cores > core.max_cores:
        raise StageError([Diagnostic("error", "NM603", f"the network needs {n_cores} cores; the chip has {core.max_cores}")])
    order = hilbert_order(core.mesh_width, core.mesh_height)
    order = [p for p in order if p[0] < core.mesh_width and p[1] < core.mesh_height]
    positions = order[:n_cores]
    if not swaps or n_cores < 3 or not route_groups:
        return positions
    # a swap changes only the trees of groups that start or end on one of the two cores
    touching: list[list[int]] = [[] for _ in range(n_cores)]
    for index, (_, src, targets, _) in enumerate(route_groups):
        for c in {src, *targets}:
            touching[c].append(index)
    costs = [_group_cost(g, positions) for g in route_groups]
    rng = np.random.default_rng(0)  # deterministic
    for _ in range(min(8 * n_cores, 2000)):
        a = int(rng.integers(n_cores))
        # partners: cores it exchanges spikes with, or any core
        b = int(rng.integers(n_cores))
        if a == b:
            continue
        affected = sorted(set(touching[a]) | set(touching[b]))
        before = sum(costs[i] for i in affected)
        positions[a], positions[b] = positions[b], positions[a]
        after = {i: _group_cost(route_groups[i], positions) for i in affected}
        if sum(after.values()) >= before - 1e-12:
            positions[a], positions[b] = positions[b], positions[a]
            continue
        for i, value in after.items():
            costs[i] = value
    return positions


def map_groups(groups, core: CoreSpec, *, swaps: bool = True, assignment=None) -> CoreMap:
    assignment = assignment or partition(groups, core)
    n_cores = 1 + max(int(c.max(initial=0)) for c in assignment.values())
    _, route_groups = _traffic(groups, assignment)
    positions = place(n_cores, core, route_groups, swaps=swaps)
    routes, link_load, traffic, spikes_hops, spike_rate = [], {}, 0.0, 0.0, 0.0
    for key, (name, src, targets, rate) in enumerate(route_groups):
        tree = _tree(positions[src], [positions[t] for t in targets])
        spike_rate += rate
        traffic += rate * len(targets)
        for (x, y), bits in sorted(tree.items()):
            routes.append(RouteEntry(router=y * core.mesh_width + x, key=key, mask=0xFFFFFFFF, out_links=bits))
            for bit in (LINK_EAST, LINK_NORTH, LINK_WEST, LINK_SOUTH):
                if bits & bit:
                    link_load[(x, y, bit)] = link_load.get((x, y, bit), 0.0) + rate
                    spikes_hops += rate
    neurons = np.zeros(n_cores, dtype=np.int64)
    synapses = np.zeros(n_cores, dtype=np.int64)
    cycles = np.zeros(n_cores)
    for group in groups:
        cores = assignment[group.name]
        np.add.at(neurons, cores, 1)
        np.add.at(synapses, cores, group.in_synapses)
        np.add.at(cycles, cores, _load(group, core))
    placement = Placement(core.mesh_width, core.mesh_height, frozen_array(positions, np.int32),
                          {name: frozen_array(cores, np.int32) for name, cores in assignment.items()}, tuple(routes))
    return CoreMap(placement, lower_bound(groups, core), neurons, synapses, np.array(_core_inputs(groups, assignment)),
                   cycles / (core.clock_hz * core.dt), link_load, spike_rate, traffic, spikes_hops, len(route_groups))


def map_graph(graph, core: CoreSpec, *, swaps: bool = True) -> CoreMap:
    return map_groups(groups_from_graph(graph), core, swaps=swaps)


def deliveries(placement: Placement, key: int, source_router: int) -> dict[int, int]:
    """Walk the routing tables from the source router: router -> times the packet was
    delivered to its core. A correct table delivers once to each target and nowhere else."""
    table: dict[int, list[RouteEntry]] = {}
    for entry in placement.routes:
        table.setdefault(entry.router, []).append(entry)
    delivered: dict[int, int] = {}
    stack = [source_router]
    visits = 0
    while stack:
        router = stack.pop()
        visits += 1
        if visits > 4 * max(len(placement.routes), 1):
            raise ValueError("routing loop")
        for entry in table.get(router, []):
            if (key & entry.mask) != (entry.key & entry.mask):
                continue
            if entry.out_links & LINK_LOCAL:
                delivered[router] = delivered.get(router, 0) + 1
            x, y = router % placement.mesh_width, router // placement.mesh_width
            for bit, (dx, dy) in _STEP.items():
                if entry.out_links & bit:
                    stack.append((y + dy) * placement.mesh_width + (x + dx))
    return delivered
