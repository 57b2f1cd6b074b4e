"""The random recurrent family's partition bounds
(engine.mapping.synthetic.random_recurrent_partition_bound and
engine.mapping.core_limit_bound): the chain that bounds the parts a source reaches
against every draw of small cases, the partition count against every partition of small
sizes, one source's Cauchy factor against every draw, Chernoff's bound on Phi against
its exact law, the expected count of fitting partitions against every graph of a tiny
size, the values on the benchmark core with the stored witness, a witness found for a
small graph, and never above what the mapper reaches."""

from __future__ import annotations

import itertools
import math

import numpy as np

from engine.mapping import CoreSpec, map_groups, synthetic
from engine.mapping import core_limit_bound as per_core


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


def test_parts_reached_chain_by_hand():
    # 4 neurons in parts of at most 2, 2 draws: the first reaches a part, the second stays
    # in it with probability 2/4
    assert np.allclose(np.exp(synthetic.parts_reached_log_pmf(4, 2, 2)), [0.0, 0.5, 0.5])
    # 3 draws over 9 neurons in parts of at most 3: stays 0, 1/3, then 1/3 or 2/3
    assert np.allclose(np.exp(synthetic.parts_reached_log_pmf(9, 3, 3)), [0.0, 1 / 9, 4 / 9 + 2 / 9, 2 / 9])


def _parts_reached(part_of: list[int], fan: int) -> np.ndarray:
    """Distribution of the parts one source reaches over every sequence of its draws."""
    counts = np.zeros(fan + 1)
    for draws in itertools.product(range(len(part_of)), repeat=fan):
        counts[len({part_of[y] for y in draws})] += 1
    return counts / counts.sum()


def test_the_parts_a_source_reaches_dominate_the_chain():
    # Parts of 3, 2, 2 and 1 of 8 neurons, 4 draws: every draw sequence against the chain
    # for parts of at most 3, in distribution and in E exp(-l X)
    exact = _parts_reached([0, 0, 0, 1, 1, 2, 2, 3], 4)
    chain = np.exp(synthetic.parts_reached_log_pmf(8, 4, 3))
    assert np.all(np.cumsum(exact) <= np.cumsum(chain) + 1e-12)
    assert not np.allclose(exact, chain)
    for rate in (0.3, 1.0, 2.5):
        weights = np.exp(-rate * np.arange(5))
        assert exact @ weights <= chain @ weights
    # equal to it where every part holds the most: three parts of 3, 3 draws
    assert np.allclose(_parts_reached([0, 0, 0, 1, 1, 1, 2, 2, 2], 3), np.exp(synthetic.parts_reached_log_pmf(9, 3, 3)))


def test_partitions_within_against_every_partition():
    for n, cores, largest in ((7, 3, 3), (8, 2, 4), (8, 4, 2), (6, 3, 6), (7, 2, 3)):
        counted = sum(1 for p in _set_partitions(list(range(n))) if len(p) == cores and max(map(len, p)) <= largest)
        bound = math.exp(synthetic.log_partitions_within(n, cores, largest))
        assert counted <= bound * (1 + 1e-9), (n, cores, largest, counted, bound)
        assert bound <= cores ** n / math.factorial(cores) * (1 + 1e-9)
    # only equal parts fit: the saddle-point bound is exact (35 and 105), where C^N / C!
    # counts 128 and 2,731
    assert math.isclose(math.exp(synthetic.log_partitions_within(8, 2, 4)), 35)
    assert math.isclose(math.exp(synthetic.log_partitions_within(8, 4, 2)), 105)
    # no room: 3 parts of at most 2 cannot hold 7
    assert synthetic.log_partitions_within(7, 3, 2) == -math.inf


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
        for radius, multipliers in ((fan / n, (0.5, 0.5)), (2 * fan / n, (0.0, 2.0))):
            witness = per_core.Witness(cores, radius, (1, largest + 1), multipliers)
            held = math.exp(per_core.log_fitting_partitions(n, fan, axons, largest, witness))
            assert counted <= held, (n, fan, axons, cores, largest, counted, held, witness)
    assert nontrivial >= 2


def test_partition_bound_values():
    # on the benchmark core the expected number of fitting partitions is below 5e-10 at
    # 141 parts (1e4) and 2,154 (1e5), not at one more
    assert synthetic.random_recurrent_partition_bound(10_000, 100, 4096, 256) == 142
    assert synthetic.random_recurrent_partition_bound(100_000, 100, 4096, 256) == 2155
    for neurons, last in ((10_000, 141), (100_000, 2154)):
        _, k = synthetic.random_recurrent_bound(neurons, 100, 4096, 256, 5e-10)
        assert synthetic.log_feasible_partitions(neurons, 100, 4096, last, k - 1) < math.log(5e-10) <= \
            synthetic.log_feasible_partitions(neurons, 100, 4096, last + 1, k - 1)
    # more axons than the whole partition can use: nothing beyond the neuron count
    assert synthetic.random_recurrent_partition_bound(100, 3, 200, 16) == 7


def test_the_bound_is_never_above_the_cores_the_mapper_reaches():
    for neurons, fan, axons in ((2000, 20, 256), (3000, 30, 512)):
        bound = synthetic.random_recurrent_partition_bound(neurons, fan, axons, 256)
        assert bound > synthetic.random_recurrent_bound(neurons, fan, axons, 256)[0]
        core = CoreSpec(neurons_per_core=256, synapses_per_core=65536, input_axons=axons, output_axons=4096,
                        mesh_width=64, mesh_height=64, clock_hz=1e8, dt=1e-3)
        assert bound <= map_groups(synthetic.random_recurrent(neurons, fan=fan), core).cores


def _source_factor_by_enumeration(sizes: tuple[int, ...], fan: int, multipliers: list[float]) -> float:
    """E exp(-sum of the multipliers of the parts one source's draws hit), every draw."""
    part_of = [c for c, size in enumerate(sizes) for _ in range(size)]
    total = sum(math.exp(-sum(multipliers[c] for c in {part_of[t] for t in draw}))
                for draw in itertools.product(range(len(part_of)), repeat=fan))
    return total / len(part_of) ** fan


def test_one_source_factor_against_every_draw():
    from scipy.special import gammaln

    angles = np.linspace(0.0, math.pi, 200_001)[:-1]  # psi rises on [0, pi]: an upper sum
    for sizes, fan in (((3, 2, 2, 1), 4), ((2, 2, 1), 3), ((4, 4), 6)):
        n, largest = sum(sizes), max(sizes)
        for radius, multipliers in ((fan / n, (0.0, 1.0)), (2 * fan / n, (0.5, 2.0))):
            witness = per_core.Witness(len(sizes), radius, (1, largest), multipliers)
            log_g, k, sigma = per_core.source_terms(largest, witness)
            at = witness.at_sizes(largest)
            exact = _source_factor_by_enumeration(sizes, fan, [at[s - 1] for s in sizes])
            saddle = math.exp(gammaln(fan + 1) - fan * math.log(n * radius) + sum(log_g[s - 1] for s in sizes))
            spread = sum(k[s - 1] for s in sizes)
            cauchy = float(np.mean(np.exp(-spread * (1 - np.exp(-sigma * (1 - np.cos(angles)))))))
            assert exact <= saddle * cauchy < saddle / 2, (sizes, fan, radius, exact, saddle, cauchy)


def test_phi_below_against_its_exact_law():
    # one source: Phi = psi(t) < phi exactly when t < arccos(1 + log(1 - phi) / sigma)
    for sigma in (0.3, 1.2):
        levels = (1 - math.exp(-2 * sigma)) * np.array([0.1, 0.4, 0.8, 0.999])  # psi's range
        exact = np.arccos(1 + np.log1p(-levels) / sigma) / math.pi
        bound = np.exp(per_core.log_phi_below(levels, sigma, 1))
        assert (exact <= bound).all() and (bound <= 1).all(), (sigma, exact, bound)
        assert per_core.log_phi_below(np.array([np.inf]), sigma, 1)[0] == 0.0
    # two sources, on a grid of angle pairs (psi rises: counting every cell that starts
    # below the level is an upper sum)
    sigma, cells = 1.0, 2000
    psi = 1 - np.exp(-sigma * (1 - np.cos(np.linspace(0, math.pi, cells + 1)[:-1])))
    pairs = (psi[:, None] + psi[None, :]).ravel()
    for level in (0.1, 0.4, 1.0):
        exact_at_most = float(np.mean(pairs < level))
        bound = math.exp(per_core.log_phi_below(np.array([level]), sigma, 2)[0])
        assert exact_at_most * 0.99 <= bound, (level, exact_at_most, bound)


def test_partition_sums_against_every_partition():
    # the saddle point bound on a coefficient is loose by about sqrt(2 pi N) at these sizes
    rng = np.random.default_rng(3)
    partitions = _set_partitions(list(range(7)))
    for cores in (2, 3, 4):
        log_weight = rng.normal(size=(2, 5))
        bound = np.exp(per_core.log_partition_sums(log_weight, 7, cores))
        for row in range(2):
            exact = sum(math.exp(sum(log_weight[row, len(p) - 1] for p in partition)) for partition in partitions
                        if len(partition) == cores and max(map(len, partition)) <= 5)
            assert exact <= bound[row] <= 25 * exact, (cores, row, exact, bound[row])
    # larger: the exact sum is N!/C! [y^N] (sum_s w_s y^s / s!)^C, by polynomial powers
    for neurons, cores, largest in ((60, 6, 15), (90, 10, 12)):
        log_weight = rng.normal(size=(1, largest))
        series = np.zeros(neurons + 1)
        series[1:largest + 1] = [math.exp(log_weight[0, s - 1]) / math.factorial(s) for s in range(1, largest + 1)]
        power = np.zeros(neurons + 1)
        power[0] = 1.0
        for _ in range(cores):
            power = np.convolve(power, series)[:neurons + 1]
        exact = math.log(power[neurons]) + math.lgamma(neurons + 1) - math.lgamma(cores + 1)
        bound = float(per_core.log_partition_sums(log_weight, neurons, cores)[0])
        assert exact <= bound <= exact + math.log(25), (neurons, cores, exact, bound)


def test_the_stored_witnesses_rule_out_153_and_2205_cores():
    for neurons, parts, largest, value, summed in ((10_000, 153, 83, -1250, 142), (100_000, 2205, 68, -4434, 2155)):
        witness = synthetic.RECURRENT_WITNESSES[neurons]
        _, k = synthetic.random_recurrent_bound(neurons, 100, 4096, 256, 5e-10)
        assert (witness.cores, k - 1) == (parts, largest)
        assert round(per_core.log_fitting_partitions(neurons, 100, 4096, k - 1, witness)) == value
        assert synthetic.random_recurrent_partition_bound(neurons, 100, 4096, 256, 1e-9, witness) == parts + 1
        # a witness only counts where it holds: with no multipliers, or moved to one more
        # part, it rules nothing out, and the summed-axon bound stands
        flat = per_core.Witness(parts, witness.radius, witness.knots, (0.0,) * len(witness.knots))
        moved = per_core.Witness(parts + 1, witness.radius, witness.knots, witness.multipliers)
        assert per_core.log_fitting_partitions(neurons, 100, 4096, k - 1, moved) > 0
        for other in (flat, moved):
            assert synthetic.random_recurrent_partition_bound(neurons, 100, 4096, 256, 1e-9, other) == summed


def test_a_found_witness_lifts_the_bound_of_a_small_graph():
    neurons, fan, axons = 2000, 20, 256
    summed = synthetic.random_recurrent_partition_bound(neurons, fan, axons, 256)
    _, k = synthetic.random_recurrent_bound(neurons, fan, axons, 256, 5e-10)
    witness = per_core.find_witness(neurons, fan, axons, k - 1, 110)
    bound = synthetic.random_recurrent_partition_bound(neurons, fan, axons, 256, 1e-9, witness)
    core = CoreSpec(neurons_per_core=256, synapses_per_core=65536, input_axons=axons, output_axons=4096,
                    mesh_width=64, mesh_height=64, clock_hz=1e8, dt=1e-3)
    assert (summed, bound) == (96, 111)
    assert bound <= map_groups(synthetic.random_recurrent(neurons, fan=fan), core).cores
