"""Mapping: every per-core limit holds, routing tables deliver every spike where it is
needed exactly once, results are deterministic, and the diagnostics say what does not fit.

The checks below recount everything from the groups' weight matrices with plain Python
sets and dicts, and walk the routing tables with a walker of their own; none of them
reuse the mapper's array code."""

from __future__ import annotations

import itertools
import math

import attrs
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine.diagnostics import StageError
from engine.mapping import CoreSpec, Group, map_groups, net_view, synthetic
from engine.mapping import partition as part
from engine.mapping.partition import hilbert_index
from engine.mapping.place import hilbert_order
from engine.mapping.route import tree_entries, tree_links
from engine.netlist import LINK_EAST, LINK_LOCAL, LINK_NORTH, LINK_SOUTH, LINK_WEST, Weights

STEPS = {LINK_EAST: (1, 0), LINK_WEST: (-1, 0), LINK_NORTH: (0, 1), LINK_SOUTH: (0, -1)}


def make_groups(spec) -> list[Group]:
    """spec: [(name, size, layer, rate, shape, external)], edges {(a, b): [(i, j), ...]}."""
    layers, edges = spec
    sizes = {name: size for name, size, *_ in layers}
    rates = {name: rate for name, _, _, rate, *_ in layers}
    in_syn = {name: np.zeros(size, dtype=np.int64) for name, size in sizes.items()}
    in_events = {name: np.zeros(size) for name, size in sizes.items()}
    outgoing = {name: [] for name in sizes}
    for (a, b), pairs in sorted(edges.items()):
        dense = np.zeros((sizes[a], sizes[b]), dtype=np.int64)
        for i, j in pairs:
            dense[i, j] = 1
        w = Weights.from_dense(dense)
        outgoing[a].append((b, w))
        counts = dense.sum(axis=0)
        in_syn[b] += counts
        in_events[b] += counts * rates[a]
    return [Group(name, size, layer, np.full(size, float(rate)), in_syn[name], in_events[name], tuple(outgoing[name]),
                  tuple(shape), external) for name, size, layer, rate, shape, external in layers]


def edges_of(groups) -> list[tuple[str, int, str, int]]:
    out = []
    for g in groups:
        for dst, w in g.outgoing:
            for i in range(w.n_src):
                for j in w.indices[w.indptr[i]: w.indptr[i + 1]]:
                    out.append((g.name, i, dst, int(j)))
    return out


def core_of(core_map, name, i) -> int:
    return int(core_map.placement.neuron_core[name][i])


def check_limits(groups, core: CoreSpec, core_map) -> None:
    """Every per-core limit, recounted from the weights."""
    placed = [g for g in groups if not g.external]
    n_cores = core_map.cores
    neurons = [0] * n_cores
    synapses = [0] * n_cores
    cycles = [0.0] * n_cores
    for g in placed:
        for i in range(g.size):
            c = core_of(core_map, g.name, i)
            neurons[c] += 1
            synapses[c] += int(g.in_synapses[i])
            cycles[c] += (float(g.in_events_hz[i]) * core.dt * core.cycles_synaptic_op + core.cycles_neuron_update
                          + float(g.rate_hz[i]) * core.dt * core.cycles_spike_sent)
    inputs = [set() for _ in range(n_cores)]
    outputs = [set() for _ in range(n_cores)]
    external = {g.name for g in groups if g.external}
    for a, i, b, j in edges_of(groups):
        dst_core = core_of(core_map, b, j)
        inputs[dst_core].add((a, i))
        if a not in external:
            outputs[core_of(core_map, a, i)].add((i, a, dst_core))
    assert set(range(n_cores)) == {core_of(core_map, g.name, i) for g in placed for i in range(g.size)}
    assert max(neurons) <= core.neurons_per_core
    assert max(synapses) <= core.synapses_per_core
    assert max(len(s) for s in inputs) <= core.input_axons
    assert max(len(s) for s in outputs) <= core.output_axons
    assert max(cycles) / (core.clock_hz * core.dt) <= core.duty_limit * (1 + 1e-9)
    assert core_map.core_neurons.tolist() == neurons
    assert core_map.core_synapses.tolist() == synapses
    assert core_map.core_inputs.tolist() == [len(s) for s in inputs]
    assert core_map.core_outputs.tolist() == [len(s) for s in outputs]
    np.testing.assert_allclose(core_map.core_duty, np.array(cycles) / (core.clock_hz * core.dt), rtol=1e-9)
    per_router: dict[int, int] = {}
    for entry in core_map.placement.routes:
        per_router[entry.router] = per_router.get(entry.router, 0) + 1
    assert max(per_router.values(), default=0) <= core.routing_entries
    positions = [tuple(p) for p in core_map.placement.core_xy.tolist()]
    assert len(set(positions)) == n_cores
    assert all(0 <= x < core.mesh_width and 0 <= y < core.mesh_height for x, y in positions)


def walk(placement, key: int, start: tuple[int, int]) -> dict[tuple[int, int], int]:
    """Follow a packet through the routers' tables: (x, y) -> deliveries to that core."""
    tables: dict[int, list] = {}
    for entry in placement.routes:
        tables.setdefault(entry.router, []).append(entry)
    delivered: dict[tuple[int, int], int] = {}
    frontier = [start]
    hops = 0
    while frontier:
        x, y = frontier.pop()
        assert 0 <= x < placement.mesh_width and 0 <= y < placement.mesh_height, "packet left the mesh"
        matches = [e for e in tables.get(y * placement.mesh_width + x, []) if key & e.mask == e.key & e.mask]
        assert len(matches) == 1, f"router ({x},{y}) has {len(matches)} entries for key {key:#x}"
        links = matches[0].out_links
        if links & LINK_LOCAL:
            delivered[(x, y)] = delivered.get((x, y), 0) + 1
        for bit, (dx, dy) in STEPS.items():
            if links & bit:
                hops += 1
                assert hops <= 4 * len(placement.routes), "routing loop"
                frontier.append((x + dx, y + dy))
    return delivered


def check_routes(groups, core_map) -> None:
    """Every sending neuron's spike reaches each of its target cores exactly once, and
    only cores that some neuron sharing its key prefix needs."""
    placement = core_map.placement
    xy = [tuple(p) for p in placement.core_xy.tolist()]
    wanted: dict[tuple[str, int], set] = {}
    for a, i, b, j in edges_of(groups):
        if (a, i) in {(g.name, k) for g in groups if g.external for k in range(g.size)}:
            continue
        wanted.setdefault((a, i), set()).add(xy[core_of(core_map, b, j)])
    mask = (1 << 32) - 1 ^ ((1 << core_map.neuron_bits) - 1)
    by_prefix: dict[int, set] = {}
    keys = {}
    for (a, i), cores in wanted.items():
        key = int(core_map.neuron_keys[a][i])
        assert key >= 0
        keys[(a, i)] = key
        by_prefix.setdefault(key & mask, set()).update(cores)
    assert len(set(keys.values())) == len(keys), "two neurons share a routing key"
    for (a, i), cores in sorted(wanted.items()):
        delivered = walk(placement, keys[(a, i)], xy[core_of(core_map, a, i)])
        assert all(count == 1 for count in delivered.values()), delivered
        assert cores <= set(delivered)
        assert set(delivered) == by_prefix[keys[(a, i)] & mask]


@st.composite
def random_networks(draw):
    n_layers = draw(st.integers(1, 4))
    layers = []
    for k in range(n_layers):
        channels, side = draw(st.integers(1, 3)), draw(st.integers(1, 5))
        two_d = draw(st.booleans())
        shape = (channels, side, side) if two_d else (channels * side * side,)
        rate = draw(st.sampled_from([0.0, 5.0, 50.0, 400.0]))
        layers.append((f"p{k}", int(np.prod(shape)), k + 1, rate, shape, False))
    n_in = draw(st.integers(0, 6))
    if n_in:
        layers.append(("input", n_in, 0, 100.0, (), True))
    edges = {}
    names = [layer[0] for layer in layers]
    sizes = {layer[0]: layer[1] for layer in layers}
    for a in names:
        for b in names[:n_layers]:
            if a == "input" and b != "p0":
                continue
            if a != "input" and not draw(st.booleans()):
                continue
            density = draw(st.sampled_from([0.05, 0.2, 0.6]))
            seed = draw(st.integers(0, 2**16))
            rng = np.random.default_rng(seed)
            mask = rng.random((sizes[a], sizes[b])) < density
            edges[(a, b)] = [(int(i), int(j)) for i, j in zip(*np.nonzero(mask))]
    core = CoreSpec(neurons_per_core=draw(st.integers(2, 24)), synapses_per_core=draw(st.integers(40, 400)),
                    input_axons=draw(st.integers(12, 80)), output_axons=draw(st.integers(12, 80)),
                    mesh_width=draw(st.sampled_from([4, 6, 8])), mesh_height=draw(st.sampled_from([4, 8])),
                    clock_hz=1e5, dt=1e-3)
    return make_groups((layers, edges)), core


def explained(groups, core: CoreSpec, error: StageError) -> bool:
    """A refusal must be one the network forces: a neuron alone over a limit, or more
    cores than the mesh has."""
    codes = {d.code for d in error.diagnostics}
    fan_in: dict[tuple[str, int], set] = {}
    for a, i, b, j in edges_of(groups):
        fan_in.setdefault((b, j), set()).add((a, i))
    placed = [g for g in groups if not g.external]
    worst_syn = max((int(s) for g in placed for s in g.in_synapses), default=0)
    worst_fan = max((len(s) for s in fan_in.values()), default=0)
    worst_load = max((float(g.in_events_hz[i]) * core.dt * core.cycles_synaptic_op + core.cycles_neuron_update
                      + float(g.rate_hz[i]) * core.dt * core.cycles_spike_sent for g in placed for i in range(g.size)),
                     default=0.0)
    return (("NM601" in codes and worst_syn > core.synapses_per_core)
            or ("NM602" in codes and worst_fan > core.input_axons)
            or ("NM604" in codes and worst_load > core.cycle_budget)
            or codes == {"NM603"}
            or codes == {"NM605"})


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(random_networks(), st.sampled_from(["auto", "layer", "spatial", "graph", "axons"]))
def test_every_limit_holds_and_every_spike_arrives_once(network, strategy):
    groups, core = network
    try:
        core_map = map_groups(groups, core, strategy=strategy)
    except StageError as error:
        assert explained(groups, core, error), [d.message for d in error.diagnostics]
        return
    check_limits(groups, core, core_map)
    check_routes(groups, core_map)
    assert core_map.cores >= core_map.lower_bound


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(random_networks(), st.integers(0, 2**16))
def test_a_plain_fill_never_needs_more_cores_than_the_packing_of_its_order(network, seed):
    # what lets `auto` skip packing an order whose plain fill already needs more cores than
    # a packed one: counting output axons (any per-neuron counts) or splitting cores after
    # never lowers the count of a fill that cuts each core as late as it can
    groups, core = network
    view = net_view(groups, core)
    try:
        part.check_single_neurons(view, core)
    except StageError:
        return
    outputs = np.random.default_rng(seed).integers(0, core.output_axons + 1, view.n)
    for make in (part.layer_order, part.spatial_order, part.graph_order, part.similarity_order):
        order = make(view)
        if order is None:
            continue
        plain = int(part.fill(view, core, order).max(initial=-1))
        assert int(part.fill(view, core, order, outputs).max(initial=-1)) >= plain
        try:
            assert int(part.pack(view, core, order).max(initial=-1)) >= plain
        except StageError as error:  # a neuron alone over its output axons
            assert {d.code for d in error.diagnostics} == {"NM605"}


def test_synthetic_families_hold_their_limits_and_routes():
    core = CoreSpec(neurons_per_core=32, synapses_per_core=2048, input_axons=256, output_axons=512,
                    mesh_width=8, mesh_height=8, clock_hz=1e6, dt=1e-3)
    for name in ("conv", "conv2d", "recurrent", "small-world", "small-world-shuffled", "dense"):
        groups = synthetic.FAMILIES[name](600)
        core_map = map_groups(groups, core)
        check_limits(groups, core, core_map)
        check_routes(groups, core_map)


def test_lower_bound_by_hand():
    # a: 10 neurons at 1000 Hz, each 16 + 1 spike x 8 = 24 cycles per step;
    # b: 6 neurons fed by all of a, 10 events x 2 + 16 = 36 cycles; 456 cycles in all.
    # Budget 70% of 100 cycles = 70: ceil(456 / 70) = 7 beats ceil(16 / 4) = 4 neurons
    # and ceil(60 / 32) = 2 synapse memories.
    groups = make_groups(([("a", 10, 1, 1000.0, (), False), ("b", 6, 2, 0.0, (), False)],
                          {("a", "b"): [(i, j) for i in range(10) for j in range(6)]}))
    core = CoreSpec(neurons_per_core=4, synapses_per_core=32, input_axons=16, output_axons=64, mesh_width=4,
                    mesh_height=4, clock_hz=1e5, dt=1e-3)
    core_map = map_groups(groups, core, strategy="layer")
    assert core_map.lower_bound == 7
    # sequential fill: two a per core (48, a third makes 72), one b per core (36 + 36 = 72)
    assert core_map.core_neurons.tolist() == [2, 2, 2, 2, 2, 1, 1, 1, 1, 1, 1]
    np.testing.assert_allclose(core_map.core_duty, [0.48] * 5 + [0.36] * 6)


def test_traffic_and_hops_by_hand():
    # a_i -> b_i, 4 neurons each at 10 Hz, 4 neurons per core. Layer order puts a on core
    # 0 and b on core 1, one hop apart on the Hilbert curve: 40 spikes/s cross one link.
    # Spatial order interleaves a0 b0 a1 b1 | a2 b2 a3 b3: every spike stays home.
    layers = [("a", 4, 1, 10.0, (), False), ("b", 4, 2, 10.0, (), False)]
    groups = make_groups((layers, {("a", "b"): [(i, i) for i in range(4)]}))
    core = CoreSpec(neurons_per_core=4, synapses_per_core=64, input_axons=16, output_axons=16, mesh_width=4,
                    mesh_height=4, clock_hz=1e6, dt=1e-3)
    layer = map_groups(groups, core, strategy="layer")
    assert (layer.traffic, layer.spikes_hops, layer.hottest_link()[1]) == (40.0, 40.0, 40.0)
    assert layer.placement.core_xy.tolist() == [[0, 0], [1, 0]]
    auto = map_groups(groups, core)
    assert auto.strategy == "spatial"
    assert (auto.traffic, auto.spikes_hops) == (0.0, 0.0)
    assert auto.placement.neuron_core["a"].tolist() == [0, 0, 1, 1]
    assert auto.placement.neuron_core["b"].tolist() == [0, 0, 1, 1]


def test_spatial_partition_beats_sequential_fill_on_convolutions():
    core = CoreSpec(neurons_per_core=64, synapses_per_core=8192, input_axons=1024, output_axons=1024,
                    mesh_width=8, mesh_height=8, clock_hz=1e7, dt=1e-3)
    for family in ("conv", "conv2d"):
        groups = synthetic.FAMILIES[family](2000)
        layer = map_groups(groups, core, strategy="layer")
        spatial = map_groups(groups, core, strategy="spatial")
        auto = map_groups(groups, core)
        assert auto.cores == spatial.cores == layer.cores == auto.lower_bound == math.ceil(sum(g.size for g in groups) / 64)
        assert spatial.spikes_hops < 0.6 * layer.spikes_hops  # 0.53 on conv2d, where the layer fill splits its route groups finer
        assert auto.strategy.split("+")[0] in ("spatial", "graph")
        assert auto.traffic <= spatial.traffic


def test_tree_entries_and_link_count_agree_with_paths():
    rng = np.random.default_rng(3)
    for _ in range(50):
        sx, sy = (int(v) for v in rng.integers(0, 6, 2))
        n = int(rng.integers(1, 6))
        tx, ty = rng.integers(0, 6, n), rng.integers(0, 6, n)
        points = sorted(set(zip(tx.tolist(), ty.tolist())))
        tx, ty = np.array([p[0] for p in points]), np.array([p[1] for p in points])
        # union of X-then-Y paths, walked step by step
        links = set()
        for x1, y1 in points:
            x, y = sx, sy
            while x != x1:
                step = 1 if x1 > x else -1
                links.add(((x, y), (x + step, y)))
                x += step
            while y != y1:
                step = 1 if y1 > y else -1
                links.add(((x, y), (x, y + step)))
                y += step
        xs, ys, bits = tree_entries(sx, sy, tx, ty)
        from_entries = set()
        for x, y, b in zip(xs.tolist(), ys.tolist(), bits.tolist()):
            for bit, (dx, dy) in STEPS.items():
                if b & bit:
                    from_entries.add(((x, y), (x + dx, y + dy)))
        assert from_entries == links
        assert tree_links(sx, sy, tx, ty) == len(links)


def test_hilbert_index_inverts_the_curve():
    order = hilbert_order(8, 8)
    xs, ys = np.array([p[0] for p in order]), np.array([p[1] for p in order])
    assert hilbert_index(8, xs, ys).tolist() == list(range(64))
    assert all(abs(a[0] - b[0]) + abs(a[1] - b[1]) == 1 for a, b in itertools.pairwise(order))


def _two_layers(fan_in: int, size_b: int = 6, rate: float = 10.0):
    return make_groups(([("a", fan_in, 1, rate, (), False), ("b", size_b, 2, 0.0, (), False)],
                        {("a", "b"): [(i, j) for i in range(fan_in) for j in range(size_b)]}))


def _messages(groups, core):
    with pytest.raises(StageError) as error:
        map_groups(groups, core)
    return [(d.code, d.message) for d in error.value.diagnostics]


def test_fan_in_over_a_cores_input_axons():
    core = CoreSpec(neurons_per_core=16, synapses_per_core=1000, input_axons=8, output_axons=64, mesh_width=4,
                    mesh_height=4, clock_hz=1e6, dt=1e-3)
    assert _messages(_two_layers(10), core) == [
        ("NM602", ("population 'b': neuron 0 receives from 10 distinct sources, 2 more than a core's 8 input axons; "
                  "6 of its 6 neurons are over"))]


def test_network_larger_than_the_chip():
    core = CoreSpec(neurons_per_core=4, synapses_per_core=1000, input_axons=64, output_axons=64, mesh_width=2,
                    mesh_height=1, clock_hz=1e6, dt=1e-3)
    assert _messages(_two_layers(10), core) == [
        ("NM603", "the network needs at least 4 cores (16 neurons at 4 per core); the chip has 2, 2 too few")]


def test_layer_too_hot_for_a_core():
    # b's neurons see 10 sources at 5000 Hz: 50 events x 2 cycles + 16 = 116 cycles per step
    # against 70% of 100; a's neurons fit (16 + 5 spikes x 8 = 56)
    core = CoreSpec(neurons_per_core=16, synapses_per_core=1000, input_axons=64, output_axons=64, mesh_width=4,
                    mesh_height=4, clock_hz=1e5, dt=1e-3)
    assert _messages(_two_layers(10, rate=5000.0), core) == [
        ("NM604", ("layer 2 (population 'b') is too hot: neuron 0 needs 116 cycles per step at the expected rates, "
                  "46 more than a core's budget of 70 (70% duty of 100 cycles per step)"))]


def test_identical_across_runs():
    core = CoreSpec(neurons_per_core=32, synapses_per_core=2048, input_axons=256, output_axons=512,
                    mesh_width=8, mesh_height=8, clock_hz=1e6, dt=1e-3)
    for family in ("conv2d", "small-world-shuffled"):
        first = map_groups(synthetic.FAMILIES[family](900), core)
        second = map_groups(synthetic.FAMILIES[family](900), core)
        assert first.placement == second.placement
        assert first.summary() == second.summary()
        assert math.isclose(first.spikes_hops, second.spikes_hops, rel_tol=0, abs_tol=0)


def test_a_full_routing_table_merges_a_cores_target_sets():
    # a0 -> b0, b1 and a1 -> b2, b3 on cores of 2 neurons: a on core 0, b on cores 1 and 2.
    # Split by target set, a's slice is two route groups, both starting at core 0's router:
    # 2 entries there. With 1 entry per router the slice becomes one group to cores 1 and
    # 2, so each of a's spikes reaches both (one of them drops it): 4 remote deliveries.
    layers = [("a", 2, 1, 10.0, (), False), ("b", 4, 2, 0.0, (), False)]
    groups = make_groups((layers, {("a", "b"): [(0, 0), (0, 1), (1, 2), (1, 3)]}))
    roomy = CoreSpec(neurons_per_core=2, synapses_per_core=64, input_axons=16, output_axons=16, mesh_width=4,
                     mesh_height=4, clock_hz=1e6, dt=1e-3)
    split = map_groups(groups, roomy, strategy="layer")
    assert (split.groups, split.traffic) == (2, 20.0)
    tight = attrs.evolve(roomy, routing_entries=1)
    merged = map_groups(groups, tight, strategy="layer")
    assert (merged.groups, merged.traffic) == (1, 40.0)
    check_limits(groups, tight, merged)
    check_routes(groups, merged)


def test_a_router_over_its_table_even_with_one_group_per_core():
    # a -> b and c -> b, one core each: b's router holds a's and c's entries whatever the
    # grouping, one more than a 1-entry table
    layers = [("a", 2, 1, 10.0, (), False), ("b", 2, 2, 0.0, (), False), ("c", 2, 3, 10.0, (), False)]
    groups = make_groups((layers, {("a", "b"): [(0, 0), (1, 1)], ("c", "b"): [(0, 0), (1, 1)]}))
    roomy = CoreSpec(neurons_per_core=2, synapses_per_core=64, input_axons=16, output_axons=16, mesh_width=4,
                     mesh_height=4, clock_hz=1e6, dt=1e-3)
    x, y = map_groups(groups, roomy, strategy="layer").placement.core_xy[1].tolist()
    with pytest.raises(StageError) as error:
        map_groups(groups, attrs.evolve(roomy, routing_entries=1), strategy="layer")
    assert [(d.code, d.message) for d in error.value.diagnostics] == [
        ("NM607", (f"router ({x}, {y}) needs 2 routing entries, 1 more than its table holds (1), with each "
                   "population's neurons on a core sharing one route group"))]
