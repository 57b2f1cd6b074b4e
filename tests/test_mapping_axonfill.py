"""The axon-aware fill (engine/mapping/axonfill.py) and the random recurrent family's
high-probability core bound (engine.mapping.synthetic.random_recurrent_bound): partitions
worked by hand, the 1e4 benchmark graph's exact map recounted by the independent scorer,
and the bound's expectation against an exhaustive count over every graph of a tiny size."""

from __future__ import annotations

import itertools
import math

import numpy as np

from engine.mapping import CoreSpec, benchmark_core, map_groups, net_view, synthetic
from engine.mapping import partition as part
from engine.mapping.axonfill import axon_pack
from engine.mapping.score import score
from tests.test_mapping import check_limits, check_routes, make_groups


def _fed_by_channels(sources: dict[int, list[int]], channels: int) -> list:
    """One population b fed only by external input channels a: sources[j] = b_j's channels."""
    return make_groups(([("b", len(sources), 1, 10.0, (), False), ("a", channels, 0, 10.0, (), True)],
                        {("a", "b"): [(i, j) for j, chans in sources.items() for i in chans]}))


def _cores(core_map) -> list[int]:
    return [int(c) for c in core_map.placement.neuron_core["b"]]


def _small_core(neurons: int, inputs: int) -> CoreSpec:
    return CoreSpec(neurons_per_core=neurons, synapses_per_core=1000, input_axons=inputs, output_axons=100,
                    mesh_width=4, mesh_height=4, clock_hz=1e6, dt=1e-3)


def test_interleaved_pairs_by_hand():
    # b0..b5 hear channel pairs {0,1} {2,3} {4,5} {0,1} {2,3} {4,5}; a core holds 4 neurons
    # and 4 input axons. In id order b2 would bring a third pair: cores {b0,b1} {b2,b3}
    # {b4,b5}, 3 against a bound of 2. The axon fill starts at b0 (lowest id), takes b3
    # (no new source: cost 0 - 2/256, the others 1), then b1 (cost 1, lowest id), then b4
    # (0 - 2/256): {b0,b1,b3,b4} on 4 axons; {b2,b5} on 2.
    groups = _fed_by_channels({0: [0, 1], 1: [2, 3], 2: [4, 5], 3: [0, 1], 4: [2, 3], 5: [4, 5]}, 6)
    core = _small_core(4, 4)
    layer = map_groups(groups, core, strategy="layer")
    assert (layer.cores, _cores(layer), layer.core_inputs.tolist()) == (3, [0, 0, 1, 1, 2, 2], [4, 4, 4])
    for strategy in ("auto", "axons"):
        core_map = map_groups(groups, core, strategy=strategy)
        assert (core_map.cores, core_map.lower_bound, core_map.strategy) == (2, 2, "axons")
        assert _cores(core_map) == [0, 0, 1, 0, 0, 1]
        assert core_map.core_inputs.tolist() == [4, 2]
        assert core_map.core_neurons.tolist() == [4, 2]
        check_limits(groups, core, core_map)
        check_routes(groups, core_map)


def test_shared_sources_outweigh_new_ones_by_hand():
    # b0 {0,1} opens the core (lowest id); b1 {0,5,6} and b2 {0,1,2,3} would each add 2
    # new axons, but those are 2/3 of b1's sources and 2/4 of b2's, and b2 shares 2 of the
    # core's to b1's one: costs 2/4 - 2/256 against 2/3 - 1/256, so b2 joins b0 (counting
    # new axons alone, the tie would go to b1)
    groups = _fed_by_channels({0: [0, 1], 1: [0, 5, 6], 2: [0, 1, 2, 3]}, 7)
    core_map = map_groups(groups, _small_core(2, 6), strategy="axons")
    assert _cores(core_map) == [0, 1, 0]
    assert core_map.core_inputs.tolist() == [4, 3]


def test_auto_keeps_the_orders_where_they_reach_the_bound():
    # the same channels in grouped ids: the fill in id order reaches the bound, so the
    # axon fill is not tried and the layer order's map stands
    groups = _fed_by_channels({0: [0, 1], 1: [0, 1], 2: [2, 3], 3: [2, 3], 4: [4, 5], 5: [4, 5]}, 6)
    core_map = map_groups(groups, _small_core(4, 4))
    assert (core_map.cores, core_map.strategy, _cores(core_map)) == (2, "layer", [0, 0, 0, 0, 1, 1])


def test_random_recurrent_1e4_on_the_benchmark_core():
    # the benchmark's random recurrent graph (fan 100): every order fills 196 cores (about
    # 51 neurons of chance overlap per 4,096 axons); the axon fill 167, every limit held as
    # the independent scorer recounts it
    core = benchmark_core()
    groups = synthetic.REALISTIC["recurrent"](10_000)
    view = net_view(groups, core)
    assert int(part.pack(view, core, part.layer_order(view)).max()) + 1 == 196
    cores = axon_pack(view, core)
    assert np.array_equal(cores, axon_pack(view, core))  # deterministic
    core_map = map_groups(groups, core)
    assert core_map.strategy == "axons"
    assigned = core_map.placement.neuron_core["l0"]
    assert np.array_equal(assigned, cores)
    figures = score(groups, core, assigned, core_map.placement.core_xy, core_map.placement, core_map.neuron_keys)
    assert (figures["cores"], figures["lower_bound"], figures["within_limits"]) == (167, 40, True)
    assert (figures["max_neurons"], figures["max_input_axons"], figures["max_output_axons"]) == (61, 4089, 4075)
    assert figures["max_synapses"] <= core.synapses_per_core
    assert figures["max_entries_per_router"] <= core.routing_entries


def _fitting_sets_by_enumeration(n: int, fan: int, axons: int, k: int) -> float:
    """Mean over every graph (each neuron's `fan` draws of a target) of the k-sets whose
    neurons hear at most `axons` distinct sources."""
    draws = list(itertools.product(range(n), repeat=fan))
    subsets = [set(s) for s in itertools.combinations(range(n), k)]
    total = 0
    for graph in itertools.product(draws, repeat=n):
        for subset in subsets:
            sources = sum(1 for targets in graph if subset.intersection(targets))
            total += sources <= axons
    return total / len(draws) ** n


def test_fitting_sets_against_every_graph_of_a_tiny_size():
    for n, fan, axons in ((4, 2, 2), (4, 1, 1), (3, 2, 1)):
        for k in range(1, n + 1):
            counted = _fitting_sets_by_enumeration(n, fan, axons, k)
            formula = math.exp(synthetic.log_fitting_sets(n, fan, axons, k))
            assert math.isclose(formula, counted, rel_tol=1e-9, abs_tol=1e-12), (n, fan, axons, k)


def test_random_recurrent_bound_values():
    # the random recurrent family's bound on the benchmark core: no 84 neurons of 10,000
    # (69 of 100,000) fit 4,096 input axons but with probability below 1e-9
    assert synthetic.random_recurrent_bound(10_000, 100, 4096, 256) == (121, 84)
    assert synthetic.random_recurrent_bound(100_000, 100, 4096, 256) == (1471, 69)
    assert synthetic.log_fitting_sets(10_000, 100, 4096, 84) < math.log(1e-9) < \
        synthetic.log_fitting_sets(10_000, 100, 4096, 83)
    # fewer sources than axons: every set fits, the neuron count is the bound
    assert synthetic.random_recurrent_bound(100, 3, 200, 16) == (7, 101)


def test_the_family_draws_each_neurons_targets():
    # the bound's model: neuron i's row holds its `fan` draws of a target, repeats merged
    groups = synthetic.random_recurrent(50, fan=3)
    (name, weights), = groups[0].outgoing
    degree = np.diff(np.asarray(weights.indptr))
    rng = np.random.default_rng(0)
    drawn = rng.integers(0, 50, size=150).reshape(50, 3)
    assert name == "l0"
    assert degree.tolist() == [len(set(row)) for row in drawn.tolist()]
    assert [sorted(weights.indices[weights.indptr[i]: weights.indptr[i + 1]].tolist()) for i in range(50)] == \
        [sorted(set(row)) for row in drawn.tolist()]
