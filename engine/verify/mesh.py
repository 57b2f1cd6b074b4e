"""Spikes over the mesh: which cores a spike reaches, read from the image's routing tables.

The image's ROUTES section holds router table rows (router, key, mask, out_links). A
packet starts at its source core's router; at each router every entry whose `key & mask`
matches forwards it on the entry's links, and LOCAL hands it to that router's core. A
synapse acts only when its target's core is among the cores the walk reached, so a table
that misses a core changes what the network computes, exactly as it would on the chip.

The image does not name the source of a key; the kernel finds it as the root of the key's
tree (the one router of the key that no other router of the key forwards to). Among the
populations with synapses from that core, a key belongs to the one whose target cores it
reaches exactly; keys left over pair with populations left over in network order.

On a synchronous core a spike sent during step t is delivered at the same point of the
step wherever its targets live, so delivering through the tables is the same as filtering
each projection to the synapses whose target core the packet reaches.
"""

from __future__ import annotations

from collections.abc import Mapping

import attrs
import numpy as np

from engine.netlist import (
    INPUT,
    LINK_EAST,
    LINK_LOCAL,
    LINK_NORTH,
    LINK_SOUTH,
    LINK_WEST,
    Placement,
    Projection,
    QuantNetwork,
    RouteEntry,
    Weights,
)

_STEP = ((LINK_EAST, 1, 0), (LINK_NORTH, 0, 1), (LINK_WEST, -1, 0), (LINK_SOUTH, 0, -1))


class RoutingError(ValueError):
    """The routing tables loop or name a key no source uses."""


@attrs.frozen(eq=False)
class Routing:
    network: QuantNetwork  # each projection keeps only the synapses its packets reach
    groups: tuple[tuple[str, int], ...]  # packet source g -> (population, source core)
    delivered: tuple[frozenset[int], ...]  # g -> cores its packets reach
    forwards: np.ndarray  # (n_groups, n_cores) link forwards of one packet at each core's router
    hops: np.ndarray  # (n_groups,) link traversals of one packet, over the whole mesh
    neuron_key: Mapping[str, np.ndarray]  # population -> (size,) packet source g of each neuron, -1: none
    undelivered: int  # synapses whose target core the packet never reaches
    stray: int  # deliveries to cores where the packet's source has no target

    def summary(self) -> dict[str, int]:
        return {"packet_sources": len(self.groups), "undelivered_synapses": self.undelivered, "stray_deliveries": self.stray,
                "hops_per_packet_max": int(self.hops.max(initial=0))}


def _placement(network: QuantNetwork) -> Placement:
    assert network.placement is not None  # only a placed network has routing tables to follow
    return network.placement


def needed_cores(network: QuantNetwork) -> dict[tuple[str, int], set[int]]:
    """(population, source core) -> cores holding targets of its synapses."""
    placement = _placement(network)
    needed: dict[tuple[str, int], set[int]] = {}
    for proj in network.projections:
        if proj.src == INPUT:
            continue
        w = proj.weights
        rows = np.repeat(np.arange(w.n_src), np.diff(w.indptr))
        src_core = np.asarray(placement.neuron_core[proj.src], dtype=np.int64)[rows]
        dst_core = np.asarray(placement.neuron_core[proj.dst], dtype=np.int64)[w.indices]
        n_cores = placement.n_cores
        for pair in np.unique(src_core * n_cores + dst_core).tolist():
            needed.setdefault((proj.src, pair // n_cores), set()).add(pair % n_cores)
    return needed


def _roots(placement: Placement) -> dict[int, int]:
    """Masked key -> its tree's root router."""
    width = placement.mesh_width
    routers: dict[int, set[int]] = {}
    reached: dict[int, set[int]] = {}
    for entry in placement.routes:
        key = entry.key & entry.mask
        routers.setdefault(key, set()).add(entry.router)
        x, y = entry.router % width, entry.router // width
        for bit, dx, dy in _STEP:
            if entry.out_links & bit:
                reached.setdefault(key, set()).add((y + dy) * width + (x + dx))
    roots = {}
    for key, where in sorted(routers.items()):
        candidates = sorted(where - reached.get(key, set()))
        if len(candidates) != 1:
            raise RoutingError(f"routing key {key:#x} has {len(candidates)} root routers, not one")
        roots[key] = candidates[0]
    return roots


def _tables(placement: Placement) -> dict[int, list[RouteEntry]]:
    table: dict[int, list[RouteEntry]] = {}
    for entry in placement.routes:
        table.setdefault(entry.router, []).append(entry)
    return table


def walk(placement: Placement, key: int, source_core: int, table: dict[int, list[RouteEntry]] | None = None
         ) -> tuple[dict[int, int], dict[int, int]]:
    """(core -> times the packet was handed to it, router -> link forwards there)."""
    width = placement.mesh_width
    router_core = {int(y) * width + int(x): c for c, (x, y) in enumerate(placement.core_xy.tolist())}
    table = _tables(placement) if table is None else table
    x0, y0 = placement.core_xy[source_core].tolist()
    stack = [int(y0) * width + int(x0)]
    delivered: dict[int, int] = {}
    forwards: dict[int, int] = {}
    visits = 0
    while stack:
        router = stack.pop()
        visits += 1
        if visits > 4 * max(len(placement.routes), 1) + 1:
            raise RoutingError(f"routing tables loop for key {key}")
        for entry in table.get(router, ()):
            if (key & entry.mask) != (entry.key & entry.mask):
                continue
            if entry.out_links & LINK_LOCAL and router in router_core:
                core = router_core[router]
                delivered[core] = delivered.get(core, 0) + 1
            x, y = router % width, router // width
            for bit, dx, dy in _STEP:
                if entry.out_links & bit:
                    forwards[router] = forwards.get(router, 0) + 1
                    nx, ny = x + dx, y + dy
                    if not (0 <= nx < width and 0 <= ny < placement.mesh_height):
                        raise RoutingError(f"key {key} leaves the mesh at router ({x}, {y})")
                    stack.append(ny * width + nx)
    return delivered, forwards


def route_network(network: QuantNetwork) -> Routing:
    placement = _placement(network)
    n_cores = placement.n_cores
    width = placement.mesh_width
    router_core = {int(y) * width + int(x): c for c, (x, y) in enumerate(placement.core_xy.tolist())}
    needed = needed_cores(network)
    roots = _roots(placement)
    table = _tables(placement)
    walks = {key: walk(placement, key, router_core[root], table) for key, root in roots.items() if root in router_core}
    order = {p.name: i for i, p in enumerate(network.populations)}
    assigned: dict[tuple[str, int], int] = {}
    for core in range(n_cores):
        pairs = sorted((pair for pair in needed if pair[1] == core), key=lambda pair: order[pair[0]])
        keys = [k for k, root in roots.items() if router_core.get(root) == core]
        for pair in pairs:  # exact reach first
            match = next((k for k in keys if set(walks[k][0]) == needed[pair]), None)
            if match is not None:
                assigned[pair] = match
                keys.remove(match)
        for pair in pairs:
            if pair not in assigned and keys:
                assigned[pair] = keys.pop(0)
    groups = tuple(sorted(assigned, key=lambda pair: assigned[pair]))
    keys = [assigned[pair] for pair in groups]
    delivered = tuple(frozenset(walks[k][0]) for k in keys)
    forwards = np.zeros((len(groups), n_cores), dtype=np.int64)
    hops = np.zeros(len(groups), dtype=np.int64)
    for index, k in enumerate(keys):
        for router, count in walks[k][1].items():
            hops[index] += count
            if router in router_core:
                forwards[index, router_core[router]] += count
    index_of = {pair: i for i, pair in enumerate(groups)}
    neuron_key = {}
    for pop in network.populations:
        cores = np.asarray(placement.neuron_core[pop.name], dtype=np.int64)
        lookup = np.array([index_of.get((pop.name, c), -1) for c in range(n_cores)], dtype=np.int64)
        neuron_key[pop.name] = lookup[cores]
    reach = np.zeros((len(groups) + 1, n_cores), dtype=bool)  # last row: sources without a key reach nothing
    for index, reached in enumerate(delivered):
        reach[index, sorted(reached)] = True
    wanted = np.zeros_like(reach)
    projections, undelivered = [], 0
    for proj in network.projections:
        if proj.src == INPUT:  # input events reach the cores from outside the mesh
            projections.append(proj)
            continue
        w = proj.weights
        rows = np.repeat(np.arange(w.n_src), np.diff(w.indptr))
        keys_of = neuron_key[proj.src][rows]
        target_core = np.asarray(placement.neuron_core[proj.dst], dtype=np.int64)[w.indices]
        wanted[keys_of, target_core] = True
        keep = reach[keys_of, target_core]
        undelivered += int((~keep).sum())
        indptr = np.concatenate([[0], np.cumsum(np.bincount(rows[keep], minlength=w.n_src))])
        projections.append(Projection(proj.src, proj.dst, Weights.from_csr(w.n_src, w.n_dst, indptr, w.indices[keep],
                                                                           w.values[keep]), proj.synapse, proj.shift))
    stray = int((reach & ~wanted).sum())
    routed = attrs.evolve(network, projections=tuple(projections))
    return Routing(routed, groups, delivered, forwards, hops, neuron_key, undelivered, stray)
