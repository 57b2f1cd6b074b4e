"""The random recurrent family's partition bound
(engine.mapping.synthetic.random_recurrent_partition_bound): the collision inequality it
rests on against every draw of small cases, its expected count of fitting partitions
against every graph of a tiny size, its values on the benchmark core, and never above
what the mapper reaches."""

from __future__ import annotations

import itertools
import math

import numpy as np

from engine.mapping import CoreSpec, map_groups, synthetic


def _set_partitions(items: list[int]) -> list[list[list[int]]]:
    if not items:
        return [[]]
    first, rest = items[0], items[1:]
    out = []
    for smaller in _set_partitions(rest):
        out.append([[first], *smaller])
        for i in range(len(smaller)):
            out.append([*smaller[:i], [first, *smaller[i]], *smaller[i + 1:]])
    return out


def test_set_partitions_are_counted_by_bell_numbers():
    assert [len(_set_partitions(list(range(n)))) for n in range(1, 7)] == [1, 2, 5, 15, 52, 203]


def test_collisions_are_dominated_by_independent_draws():
    # Parts of 3, 2, 2 and 1 of 8 neurons, 3 draws: the exact E exp(l * collisions) over
    # all 512 draw sequences against prod_t (1 + q_t (e^l - 1)), q_t = (t - 1) * 3 / 8.
    part_of = [0, 0, 0, 1, 1, 2, 2, 3]
    fan, largest, n = 3, 3, 8
    for rate in (0.3, 1.0, 2.5):
        exact = np.mean([math.exp(rate * (fan - len({part_of[y] for y in draws})))
                         for draws in itertools.product(range(n), repeat=fan)])
        bound = math.prod(1 + min(1.0, t * largest / n) * math.expm1(rate) for t in range(fan))
        assert exact <= bound
    # equal to it where every draw after the first can only collide with probability q_t:
    # two parts of 4, 2 draws: P(collide) = 1/2 = 1 * 4 / 8
    exact = np.mean([math.exp(1.0 * (2 - len({y // 4 for y in draws}))) for draws in itertools.product(range(8), repeat=2)])
    assert math.isclose(exact, 1 + 0.5 * math.expm1(1.0))


def _fitting_partitions_by_enumeration(n: int, fan: int, axons: int, cores: int, largest: int) -> float:
    """Mean over every graph (each neuron's `fan` draws of a target) of the partitions into
    exactly `cores` parts of at most `largest` neurons, each part within `axons` sources."""
    partitions = [p for p in _set_partitions(list(range(n))) if len(p) == cores and max(map(len, p)) <= largest]
    draws = list(itertools.product(range(n), repeat=fan))
    total = 0
    for graph in itertools.product(draws, repeat=n):
        for partition in partitions:
            total += all(sum(1 for targets in graph if set(targets).intersection(part)) <= axons
                         for part in partition)
    return total / len(draws) ** n


def test_fitting_partitions_against_every_graph_of_a_tiny_size():
    nontrivial = 0
    for n, fan, axons, cores, largest in ((4, 2, 1, 4, 1), (4, 2, 2, 2, 2), (4, 2, 2, 3, 2), (4, 2, 3, 2, 3),
                                          (4, 1, 1, 2, 2), (4, 1, 2, 2, 3), (3, 2, 1, 3, 1), (3, 2, 2, 2, 2)):
        counted = _fitting_partitions_by_enumeration(n, fan, axons, cores, largest)
        bound = math.exp(synthetic.log_feasible_partitions(n, fan, axons, cores, largest))
        assert counted <= bound * (1 + 1e-9), (n, fan, axons, cores, largest, counted, bound)
        nontrivial += bound < 1.0
    assert nontrivial >= 2


def test_partition_bound_values():
    # on the benchmark core: at 1e4 it adds nothing to the k-set bound (121); at 1e5 the
    # expected number of fitting 2,142-part partitions is below 5e-10, of 2,143 not
    assert synthetic.random_recurrent_partition_bound(10_000, 100, 4096, 256) == 121
    assert synthetic.random_recurrent_partition_bound(100_000, 100, 4096, 256) == 2143
    _, k = synthetic.random_recurrent_bound(100_000, 100, 4096, 256, 5e-10)
    assert synthetic.log_feasible_partitions(100_000, 100, 4096, 2142, k - 1) < math.log(5e-10) <= \
        synthetic.log_feasible_partitions(100_000, 100, 4096, 2143, k - 1)
    # more axons than the whole partition can use: nothing beyond the neuron count
    assert synthetic.random_recurrent_partition_bound(100, 3, 200, 16) == 7


def test_the_bound_is_never_above_the_cores_the_mapper_reaches():
    for neurons, fan, axons in ((2000, 20, 256), (3000, 30, 512)):
        bound = synthetic.random_recurrent_partition_bound(neurons, fan, axons, 256)
        assert bound > synthetic.random_recurrent_bound(neurons, fan, axons, 256)[0]
        core = CoreSpec(neurons_per_core=256, synapses_per_core=65536, input_axons=axons, output_axons=4096,
                        mesh_width=64, mesh_height=64, clock_hz=1e8, dt=1e-3)
        assert bound <= map_groups(synthetic.random_recurrent(neurons, fan=fan), core).cores
