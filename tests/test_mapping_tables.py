"""Routing-table load counted without building the tables, against the built tables; the
finest route-group split the tables hold, against a hand-worked example; every map's
tables within their limit and its spike-hops no more than the coarse split's."""

from __future__ import annotations

import attrs
import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.mapping import CoreSpec, map_groups, map_partition, net_view, synthetic
from engine.mapping.route import build_routing, route_groups, split_groups, target_sets
from engine.mapping.tables import finest_split, split_cost, tree_load


def entries_per_router(entries, routers):
    """Entries in each router's table, counted from the built entries."""
    return np.bincount(np.array([e.router for e in entries], dtype=np.int64), minlength=routers)


def _random_placed_network(seed, width, height, neurons):
    """A random recurrent population at integer rates, its neurons on random cores at
    random mesh positions: (view, core of each neuron, (x, y) of each core, generator)."""
    rng = np.random.default_rng(seed)
    n_cores = int(rng.integers(1, width * height + 1))
    fan = int(rng.integers(1, 6))
    groups = synthetic._groups([neurons], {(0, 0): (np.repeat(np.arange(neurons), fan),
                                                    rng.integers(0, neurons, neurons * fan))}, [5.0])
    groups = [attrs.evolve(groups[0], rate_hz=rng.integers(1, 50, neurons).astype(float))]
    core = CoreSpec(neurons_per_core=neurons, synapses_per_core=10**6, input_axons=10**6, output_axons=10**6,
                    mesh_width=width, mesh_height=height, clock_hz=1e7, dt=1e-3)
    cores = rng.integers(0, n_cores, neurons)
    cores[0] = n_cores - 1
    positions = rng.permutation(width * height)[:n_cores]
    return net_view(groups, core), cores, np.stack([positions % width, positions // width], axis=1), rng


@settings(max_examples=60, deadline=None)
@given(st.integers(0, 2**32 - 1), st.integers(1, 6), st.integers(1, 6), st.integers(2, 40))
def test_tree_load_equals_the_built_tables(seed, width, height, neurons):
    view, cores, xy, _ = _random_placed_network(seed, width, height, neurons)
    for max_sets in (0, 1, 3, 10**6):
        split = route_groups(view, cores, max_sets)
        entries, links = tree_load(split, xy, width, height)
        built = build_routing(split, xy, width, height)
        assert entries.tolist() == entries_per_router(built.entries, width * height).tolist()
        assert float((split.rate * links).sum()) == built.spikes_hops


def hand_split():
    """Nine neurons on a 3 x 1 mesh, cores 0, 1, 2 at x = 0, 1, 2. On core 0, neurons 0-2
    at 10 Hz send to {1}, {2} and {1, 2}; on core 2, neurons 3-5 at 20 Hz send to {1},
    {0} and {0, 1}; neurons 6 (core 1), 7 (core 0) and 8 (core 2) only receive."""
    rows = np.array([0, 1, 2, 2, 3, 4, 5, 5])
    cols = np.array([6, 8, 6, 8, 6, 7, 6, 7])
    [group] = synthetic._groups([9], {(0, 0): (rows, cols)}, [10.0])
    group = attrs.evolve(group, rate_hz=np.array([10.0] * 3 + [20.0] * 3 + [0.0] * 3))
    core = CoreSpec(neurons_per_core=9, synapses_per_core=100, input_axons=100, output_axons=100,
                    mesh_width=3, mesh_height=1, clock_hz=1e7, dt=1e-3)
    view = net_view([group], core)
    cores = np.array([0, 0, 0, 2, 2, 2, 1, 0, 2])
    return view, target_sets(view, cores), np.array([[0, 0], [1, 0], [2, 0]])


def test_finest_split_by_hand():
    # Each slice as one union group ({1, 2} from x = 0, {0, 1} from x = 2): 2 links each,
    # one entry on every router per slice: [2, 2, 2]. A set to {1} saves 1 link per spike
    # (worth 10 / 2 on core 0, 20 / 2 on core 2, so core 2's goes first); the others save
    # none. Core 2's {1} alone: entries [2, 3, 3]; both: [3, 4, 3].
    view, sets, xy = hand_split()
    coarse = np.zeros(sets.sets, dtype=bool)
    assert split_cost(split_groups(view, sets, coarse), xy, 3, 1) == (2, 3 * 10 * 2 + 3 * 20 * 2)
    for table, groups_on, entries, hops in ((2, [], [2, 2, 2], 180.0),
                                            (3, [[3]], [2, 3, 3], 160.0),
                                            (4, [[0], [3]], [3, 4, 3], 150.0)):
        split = split_groups(view, sets, finest_split(view, sets, coarse, xy, 3, 1, table))
        own = [split.members_of(i).tolist() for i in range(len(split)) if split.members_of(i).size == 1]
        assert own == groups_on
        load, links = tree_load(split, xy, 3, 1)
        assert load.tolist() == entries
        assert float((split.rate * links).sum()) == hops


def test_maps_fit_their_tables_and_never_send_more_than_the_coarse_split():
    core = CoreSpec(neurons_per_core=64, synapses_per_core=8192, input_axons=1024, output_axons=1024,
                    mesh_width=8, mesh_height=8, clock_hz=1e7, dt=1e-3, routing_entries=300)
    for family in ("small-world", "recurrent", "conv2d"):
        groups = synthetic.FAMILIES[family](2000)
        core_map = map_groups(groups, core)
        view = net_view(groups, core)
        cores = np.concatenate([core_map.placement.neuron_core[g.name] for g in view.groups]).astype(np.int64)
        xy = np.asarray(core_map.placement.core_xy)
        assert entries_per_router(core_map.placement.routes, 64).max() <= 300
        coarse = route_groups(view, cores)
        _, hops = split_cost(coarse, xy, 8, 8)
        # the convolution's slices have at most 8 sets each, all already split
        assert core_map.spikes_hops < hops if family != "conv2d" else core_map.spikes_hops == hops
        assert core_map.groups >= len(coarse)
        again = map_partition(view, core, cores, strategy="given")
        assert again.spikes_hops == core_map.spikes_hops


def _routing_group_by_group(groups, xy, width, height):
    """The tables one tree_entries call per group builds, in build_routing's order."""
    from engine.mapping.route import LINK_BITS, tree_entries

    entries, hops, load = [], 0.0, np.zeros((height, width, 4))
    for index in range(len(groups)):
        sx, sy = (int(v) for v in xy[groups.source[index]])
        targets = groups.targets_of(index)
        xs, ys, bits = tree_entries(sx, sy, xy[targets, 0], xy[targets, 1])
        entries += [(int(y) * width + int(x), index, int(b)) for x, y, b in zip(xs, ys, bits)]
        for link, bit in enumerate(LINK_BITS):
            on = (bits & bit) != 0
            np.add.at(load, (ys[on], xs[on], link), groups.rate[index])
            hops += groups.rate[index] * int(on.sum())
    return entries, hops, load


@settings(max_examples=60, deadline=None)
@given(st.integers(0, 2**32 - 1), st.integers(1, 7), st.integers(1, 7), st.integers(2, 60))
def test_built_tables_equal_each_groups_tree_entries(seed, width, height, neurons):
    view, cores, xy, rng = _random_placed_network(seed, width, height, neurons)
    split = route_groups(view, cores, int(rng.integers(0, 4)))
    built = build_routing(split, xy, width, height)
    entries, hops, load = _routing_group_by_group(split, xy, width, height)
    assert [(e.router, e.key >> built.neuron_bits, e.out_links) for e in built.entries] == entries
    assert built.spikes_hops == hops
    assert built.link_load.tolist() == load.tolist()


def test_finest_split_keeps_the_group_indices_within_the_routing_keys(monkeypatch):
    # with 3-bit keys and 2 bits for the 3-neuron union groups, 2 groups fit the key
    # (index 1 << 2 = 4 < 8) and a third does not (2 << 2 = 8): the tables would hold
    # both own groups, the keys hold none
    from engine.mapping import route

    view, sets, xy = hand_split()
    coarse = np.zeros(sets.sets, dtype=bool)
    monkeypatch.setattr(route, "KEY_BITS", 3)
    assert finest_split(view, sets, coarse, xy, 3, 1, 4).tolist() == coarse.tolist()
