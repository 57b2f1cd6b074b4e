"""Neuron groups onto cores, cores onto the mesh, spikes onto routes.

1. Partition (partition.py): a greedy fill under every per-core limit along three
   orders: layer order (sequential fill), spatial order (tiles through all layers) and
   graph order (reverse Cuthill-McKee); output axons are refilled, then split if needed.
   Where none reaches the lower bound and the graph has at most 250,000 neurons, also
   the axon-aware fill (axonfill.py: each core takes the neuron whose sources it
   already has most of), kept when it needs fewer cores or sends fewer remote spikes.
2. Place (place.py): cores in fill order along a Hilbert curve, then pairwise swaps on
   rate-weighted links of the multicast trees.
3. Route (route.py, tables.py): one dimension-order multicast tree and one masked key
   per route group. A slice (a population's neurons on one core) starts as one group per
   distinct target set when it has at most 8, else one group to their union; then, at
   the placed positions, the sets that save the most spike-hops per table entry get
   groups of their own, as many as every router's table holds.

All orders are packed and routed; the one with fewer cores, then fewer remote spike
deliveries (rate-weighted connectivity minus one, which placement turns into hops) is
placed, after neuron swaps between cores on graphs up to 50,000 neurons when they lower
those deliveries. The objective, in its order: cores, rate-weighted spike-hops, hottest
link.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any

import attrs
import numpy as np

from engine.diagnostics import Diagnostic, StageError
from engine.mapping import partition as part
from engine.mapping.netview import Group, NetView, net_view
from engine.mapping.place import place
from engine.mapping.route import (
    LINK_BITS,
    MAX_SETS_PER_SLICE,
    RouteGroups,
    build_routing,
    split_groups,
    target_sets,
)
from engine.mapping.tables import finest_split, tree_load
from engine.mapping.target import CoreSpec
from engine.netlist import (
    LINK_EAST,
    LINK_LOCAL,
    LINK_NORTH,
    LINK_SOUTH,
    LINK_WEST,
    Placement,
    RouteEntry,
    Weights,
    frozen_array,
)

if TYPE_CHECKING:
    from engine.resolve.graph import Graph

STRATEGIES = ("auto", "layer", "spatial", "graph", "similar", "axons")
# the axon-aware fill costs about cores x input axons x fan-out plus neurons x cores: on
# larger graphs it is run only when asked for (strategy "axons")
AXON_FILL_MAX_NEURONS = 250_000
_LINK_NAMES = {LINK_EAST: "east", LINK_NORTH: "north", LINK_WEST: "west", LINK_SOUTH: "south"}
_STEP = {LINK_EAST: (1, 0), LINK_WEST: (-1, 0), LINK_NORTH: (0, 1), LINK_SOUTH: (0, -1)}


@attrs.frozen(eq=False)
class CoreMap:
    placement: Placement
    lower_bound: int
    core_neurons: np.ndarray
    core_synapses: np.ndarray
    core_inputs: np.ndarray  # distinct source neurons or input channels per core
    core_outputs: np.ndarray  # (neuron, destination core) pairs per core
    core_duty: np.ndarray  # share of the core's cycles per step used at the expected rates
    link_load: Mapping[tuple[int, int, int], float]  # (x, y, link bit) -> spikes per second
    spike_rate: float  # spikes per second sent by neurons that have targets
    traffic: float  # spikes per second delivered to remote cores (one per destination core)
    spikes_hops: float  # spike-hops per second
    groups: int  # route groups
    strategy: str  # the partition order kept: "layer", "spatial" or "graph", "+swaps" when refined
    neuron_bits: int  # low routing-key bits that number a neuron within its route group
    neuron_keys: Mapping[str, np.ndarray]  # population -> routing key of each neuron's spikes (-1: sends nowhere)

    @property
    def cores(self) -> int:
        return self.placement.n_cores

    def hottest_link(self) -> tuple[tuple[int, int, int], float]:
        return max(self.link_load.items(), key=lambda kv: (kv[1], kv[0]), default=((0, 0, 0), 0.0))

    def objective(self) -> tuple[int, float, float]:
        return (self.cores, round(self.spikes_hops, 6), round(self.hottest_link()[1], 6))

    def summary(self) -> dict[str, Any]:
        (x, y, bit), rate = self.hottest_link()
        return {
            "cores": self.cores, "lower_bound": self.lower_bound, "strategy": self.strategy,
            "mesh": [self.placement.mesh_width, self.placement.mesh_height],
            "spike_rate_per_s": round(self.spike_rate, 3),
            "traffic_spikes_per_s": round(self.traffic, 3), "spikes_hops_per_s": round(self.spikes_hops, 3),
            "hottest_link": {"x": x, "y": y, "link": _LINK_NAMES.get(bit, "none"), "spikes_per_s": round(rate, 3)},
            "max_duty": round(float(self.core_duty.max(initial=0.0)), 4),
            "max_neurons": int(self.core_neurons.max(initial=0)), "max_synapses": int(self.core_synapses.max(initial=0)),
            "max_input_axons": int(self.core_inputs.max(initial=0)),
            "max_output_axons": int(self.core_outputs.max(initial=0)),
            "route_groups": self.groups, "routes": len(self.placement.routes),
        }

    def per_core(self) -> list[dict[str, Any]]:
        return [{"core": i, "x": int(self.placement.core_xy[i][0]), "y": int(self.placement.core_xy[i][1]),
                 "neurons": int(self.core_neurons[i]), "synapses": int(self.core_synapses[i]),
                 "input_axons": int(self.core_inputs[i]), "output_axons": int(self.core_outputs[i]),
                 "duty": round(float(self.core_duty[i]), 5)} for i in range(self.cores)]


def groups_from_graph(graph: Graph) -> list[Group]:
    """The placement graph's neuron populations (layer order) and the encoder's input
    channels as an external source group."""
    nodes = sorted((n for n, d in graph.nodes(data=True) if d.get("kind") == "neurons"),
                   key=lambda n: (graph.nodes[n]["layer"], n))
    out = []
    for node in nodes:
        data = graph.nodes[node]
        size = int(data["size"])
        in_syn = np.zeros(size, dtype=np.int64)
        in_events = np.zeros(size)
        for src, _, edge in sorted(graph.in_edges(node, data=True), key=lambda e: e[0]):
            w = edge["weights"]
            counts = np.bincount(w.indices, minlength=size)
            in_syn += counts
            src_rate = edge.get("rate_hz", 0.0) / max(int(graph.nodes[src].get("size", 1)), 1)
            in_events += counts * src_rate
        out.append(Group(data["population"], size, int(data["layer"]), np.full(size, float(data.get("rate_hz", 0.0))),
                         in_syn, in_events, _outgoing(graph, node), tuple(data.get("shape") or ())))
    if "encoder" in graph and _outgoing(graph, "encoder"):
        data = graph.nodes["encoder"]
        size = int(data.get("size", 0))
        out.append(Group("input", size, 0, np.full(size, float(data.get("rate_hz", 0.0))), np.zeros(size, np.int64),
                         np.zeros(size), _outgoing(graph, "encoder"), external=True))
    return out


def _outgoing(graph: Graph, node: str) -> tuple[tuple[str, Weights], ...]:
    return tuple((dst[len("pop:"):], edge["weights"])
                 for _, dst, edge in sorted(graph.out_edges(node, data=True), key=lambda e: e[1])
                 if graph.nodes[dst].get("kind") == "neurons")


def map_groups(groups: Iterable[Group], core: CoreSpec, *, swaps: bool = True, strategy: str = "auto") -> CoreMap:
    view = net_view(groups, core)
    part.check_single_neurons(view, core)
    part.check_chip_size(view, core)
    if strategy not in STRATEGIES:
        raise ValueError(f"unknown strategy {strategy!r}")
    makers: dict[str, Callable[[NetView], np.ndarray | None]] = {"layer": part.layer_order, "spatial": part.spatial_order, "graph": part.graph_order,
              "similar": part.similarity_order}
    orders = {"layer": part.layer_order(view)} if strategy != "axons" else {}
    for name in ("spatial", "graph", "similar"):
        if strategy in ("auto", name):
            order = makers[name](view)
            if order is not None:
                orders[name] = order
    if strategy not in ("auto", "axons"):
        orders = {strategy: orders.get(strategy, orders["layer"])}
    best: tuple[tuple[int, float], str, np.ndarray] | None = None
    # A fill along an order cuts each core at the furthest neuron that fits, which needs
    # the fewest cores any cut of that order can reach, so counting output axons too (the
    # refills) and splitting cores never needs fewer than the fill without them. An order
    # whose plain fill already needs more cores than a packed order is never the best
    # (scores compare cores first) and is not packed; equal scores keep the earlier order.
    plain = {name: part.fill(view, core, order) for name, order in orders.items()}
    plain_cores = {name: int(cores.max(initial=0)) + 1 for name, cores in plain.items()}
    rank = {name: i for i, name in enumerate(orders)}
    for name in sorted(orders, key=lambda name: (plain_cores[name], rank[name])):
        if best is not None and plain_cores[name] > best[0][0]:
            break
        cores = part.pack(view, core, orders[name], plain[name])
        score = (int(cores.max(initial=0)) + 1, round(part.multicast_traffic(view, cores), 6))
        if best is None or (score, rank[name]) < (best[0], rank[best[1]]):
            best = (score, name, cores)
    # the axon-aware fill where no order reached the bound (the cores' input axons bind)
    if strategy == "axons" or (best is not None and best[0][0] > part.lower_bound(view, core)
                               and view.n <= AXON_FILL_MAX_NEURONS and strategy == "auto"):
        from engine.mapping.axonfill import axon_pack

        cores = axon_pack(view, core)
        score = (int(cores.max(initial=0)) + 1, round(part.multicast_traffic(view, cores), 6))
        if best is None or score < best[0]:
            best = (score, "axons", cores)
    assert best is not None  # the layer order, or the axon fill, is always tried
    score, name, cores = best
    if view.n <= part.REFINE_MAX_NEURONS and strategy == "auto":
        refined = part.refine(view, core, cores)
        if (int(refined.max(initial=0)) + 1, round(part.multicast_traffic(view, refined), 6)) < score:
            name, cores = f"{name}+swaps", refined
    part.check_packing(view, core, cores)
    return map_partition(view, core, cores, swaps=swaps, strategy=name)


# target sets a slice may keep as route groups of their own, tried in turn while a router's
# table is over its entries: fewer groups, fewer entries, more spikes to cores that drop them
SET_LIMITS = (MAX_SETS_PER_SLICE, 4, 2, 1, 0)


def map_partition(view: NetView, core: CoreSpec, cores: np.ndarray, *, swaps: bool = True,
                  strategy: str = "given") -> CoreMap:
    """Place, route and measure a given partition (core of each neuron id). The slices are
    placed with the most target sets per slice (SET_LIMITS) whose groups every router's
    table holds, then split finer where the tables still hold it (tables.finest_split)."""
    n_cores = int(cores.max(initial=0)) + 1
    width, height = core.mesh_width, core.mesh_height
    sets = target_sets(view, cores)
    sets_in_slice = sets.sets_in_slice()
    for max_sets in SET_LIMITS:
        own_group = sets_in_slice <= max_sets
        groups = split_groups(view, sets, own_group)
        positions = place(n_cores, width, height, groups, swaps=swaps)
        per_router, _ = tree_load(groups, positions, width, height)
        if int(per_router.max(initial=0)) <= core.routing_entries:
            break
    else:
        fullest = int(np.argmax(per_router))
        need = int(per_router[fullest])
        raise StageError([Diagnostic(
            "error", "NM607",
            f"router ({fullest % width}, {fullest // width}) needs {need} routing entries, "
            f"{need - core.routing_entries} more than its table holds ({core.routing_entries}), with each "
            f"population's neurons on a core sharing one route group",
            hint="use a target with larger routing tables or more cores per population slice, or a network whose "
                 "populations send to fewer cores")])
    finer = finest_split(view, sets, own_group, positions, width, height, core.routing_entries)
    if not np.array_equal(finer, own_group):
        groups = split_groups(view, sets, finer)
    routing = build_routing(groups, positions, width, height)
    neuron_core = {g.name: frozen_array(cores[view.offsets[i]: view.offsets[i + 1]], np.int32)
                   for i, g in enumerate(view.groups)}
    placement = Placement(core.mesh_width, core.mesh_height, frozen_array(positions, np.int32), neuron_core,
                          routing.entries)
    ys, xs, links = np.nonzero(routing.link_load)
    link_load = {(int(x), int(y), LINK_BITS[int(k)]): float(routing.link_load[y, x, k]) for x, y, k in zip(xs, ys, links)}
    return CoreMap(
        placement, part.lower_bound(view, core),
        np.bincount(cores, minlength=n_cores), np.bincount(cores, weights=view.synapses, minlength=n_cores).astype(np.int64),
        part.core_inputs(view, cores, n_cores), part.core_outputs(view, cores, n_cores),
        np.bincount(cores, weights=view.load, minlength=n_cores) / (core.clock_hz * core.dt),
        link_load, routing.spike_rate, routing.traffic, routing.spikes_hops, len(groups), strategy, routing.neuron_bits,
        _neuron_keys(view, groups, routing.neuron_bits))


def _neuron_keys(view: NetView, groups: RouteGroups, neuron_bits: int) -> dict[str, np.ndarray]:
    """Group index in the high bits, the neuron's rank among the group's members below."""
    keys = np.full(view.n, -1, dtype=np.int64)
    sizes = np.diff(groups.member_ptr)
    owner = np.repeat(np.arange(len(groups), dtype=np.int64), sizes)
    rank = np.arange(groups.members.size) - np.repeat(groups.member_ptr[:-1], sizes)
    keys[groups.members] = (owner << neuron_bits) | rank
    return {g.name: frozen_array(keys[view.offsets[i]: view.offsets[i + 1]], np.int64) for i, g in enumerate(view.groups)}


def map_graph(graph: Graph, core: CoreSpec, *, swaps: bool = True, strategy: str = "auto") -> CoreMap:
    return map_groups(groups_from_graph(graph), core, swaps=swaps, strategy=strategy)


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
