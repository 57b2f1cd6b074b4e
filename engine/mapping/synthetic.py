"""Graph families for the mapping tests and benchmark, as mapper Groups (deterministic)."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np

from engine.mapping.core_limit_bound import Witness, log_fitting_partitions, log_partition_sums
from engine.mapping.netview import Group
from engine.netlist import Weights


def _csr(rows: np.ndarray, cols: np.ndarray, n_src: int, n_dst: int) -> Weights:
    order = np.lexsort((cols, rows))
    rows, cols = rows[order], cols[order]
    keep = np.ones(len(rows), dtype=bool)
    keep[1:] = (rows[1:] != rows[:-1]) | (cols[1:] != cols[:-1])
    rows, cols = rows[keep], cols[keep]
    indptr = np.concatenate([[0], np.cumsum(np.bincount(rows, minlength=n_src))])
    return Weights.from_csr(n_src, n_dst, indptr, cols.astype(np.int32), np.ones(len(cols), dtype=np.int32))


def _groups(sizes: Sequence[int], edges: Mapping[tuple[int, int], tuple[np.ndarray, np.ndarray]],
            rates: Sequence[float], shapes: Sequence[tuple[int, ...]] | None = None) -> list[Group]:
    """edges: {(src layer, dst layer): (rows, cols)}."""
    in_syn = [np.zeros(n, dtype=np.int64) for n in sizes]
    in_events = [np.zeros(n) for n in sizes]
    outgoing: list[list[tuple[str, Weights]]] = [[] for _ in sizes]
    # layers that repeat one connection pattern share one (frozen) matrix
    made: dict[tuple[int, int, int, int], Weights] = {}
    for (a, b), (rows, cols) in sorted(edges.items()):
        pattern = (id(rows), id(cols), sizes[a], sizes[b])
        if pattern not in made:
            made[pattern] = _csr(rows, cols, sizes[a], sizes[b])
        w = made[pattern]
        outgoing[a].append((f"l{b}", w))
        counts = np.bincount(w.indices, minlength=sizes[b])
        in_syn[b] += counts
        in_events[b] += counts * rates[a]
    shapes = shapes or [(n,) for n in sizes]
    return [Group(f"l{i}", n, i, np.full(n, rates[i]), in_syn[i], in_events[i], tuple(outgoing[i]), tuple(shapes[i]))
            for i, n in enumerate(sizes)]


def layered_conv(neurons: int, layers: int = 4, kernel: int = 9, rate: float = 20.0, seed: int = 0) -> list[Group]:
    """1-D convolution-like layers: each neuron reads a window of the previous layer."""
    size = neurons // layers
    edges = {}
    for layer in range(layers - 1):
        dst = np.repeat(np.arange(size), kernel)
        src = np.clip(dst + np.tile(np.arange(kernel) - kernel // 2, size), 0, size - 1)
        edges[(layer, layer + 1)] = (src, dst)
    return _groups([size] * layers, edges, [rate] * layers)


def layered_conv2d(neurons: int, layers: int = 4, channels: int = 4, kernel: int = 3, rate: float = 20.0,
                   seed: int = 0) -> list[Group]:
    """2-D convolution-like layers of shape (channels, side, side), channel first: each
    neuron reads a kernel x kernel window of every channel of the layer before."""
    side = max(1, int(np.sqrt(neurons / (layers * channels))))
    size = channels * side * side
    grid = np.meshgrid(np.arange(channels), np.arange(side), np.arange(side), indexing="ij")
    c, h, w = (axis.ravel() for axis in grid)
    rows, cols = [], []
    for c_in in range(channels):
        for dy in range(kernel):
            for dx in range(kernel):
                y, x = h + dy - kernel // 2, w + dx - kernel // 2
                ok = (y >= 0) & (y < side) & (x >= 0) & (x < side)
                rows.append((c_in * side + y[ok]) * side + x[ok])
                cols.append(((c * side + h) * side + w)[ok])
    src, dst = np.concatenate(rows), np.concatenate(cols)
    edges = {(layer, layer + 1): (src, dst) for layer in range(layers - 1)}
    return _groups([size] * layers, edges, [rate] * layers, [(channels, side, side)] * layers)


def random_recurrent(neurons: int, fan: int = 16, rate: float = 10.0, seed: int = 0) -> list[Group]:
    rng = np.random.default_rng(seed)
    rows = np.repeat(np.arange(neurons), fan)
    cols = rng.integers(0, neurons, size=neurons * fan)
    return _groups([neurons], {(0, 0): (rows, cols)}, [rate])


def small_world(neurons: int, fan: int = 16, rewire: float = 0.05, shuffled: bool = False, rate: float = 10.0,
                seed: int = 0) -> list[Group]:
    rng = np.random.default_rng(seed)
    rows = np.repeat(np.arange(neurons), fan)
    offsets = np.tile(np.concatenate([np.arange(1, fan // 2 + 1), -np.arange(1, fan // 2 + 1)]), neurons)
    cols = (rows + offsets) % neurons
    random = rng.random(len(cols)) < rewire
    cols[random] = rng.integers(0, neurons, size=int(random.sum()))
    if shuffled:
        perm = rng.permutation(neurons)
        rows, cols = perm[rows], perm[cols]
    return _groups([neurons], {(0, 0): (rows, cols)}, [rate])


def feedforward_dense(neurons: int, layers: int = 3, fan_in: int = 16, rate: float = 10.0, seed: int = 0) -> list[Group]:
    """Fully mixing layers: each neuron reads `fan_in` random neurons of the layer before
    (16 keeps 256 neurons' distinct sources within 4096 input axons, so the neuron
    bound stays feasible at every size)."""
    rng = np.random.default_rng(seed)
    size = neurons // layers
    edges = {}
    for layer in range(layers - 1):
        dst = np.repeat(np.arange(size), min(fan_in, size))
        edges[(layer, layer + 1)] = (rng.integers(0, size, dst.size), dst)
    return _groups([size] * layers, edges, [rate] * layers)


FAMILIES = {
    "conv": layered_conv,
    "conv2d": layered_conv2d,
    "recurrent": random_recurrent,
    "small-world": small_world,
    "small-world-shuffled": lambda n, **k: small_world(n, shuffled=True, **k),
    "dense": feedforward_dense,
}


def dense_layers(neurons: int, width: int = 1024, fan_in: int = 256, rate: float = 10.0, seed: int = 0) -> list[Group]:
    """A deep stack of `width`-neuron layers, each neuron reading `fan_in` distinct random
    neurons of the layer before (a quarter of it at the defaults)."""
    rng = np.random.default_rng(seed)
    layers = max(2, neurons // width)
    edges = {}
    for layer in range(layers - 1):
        # distinct sources per neuron: the first fan_in of a random permutation of the layer
        src = np.argsort(rng.random((width, width), dtype=np.float32), axis=1)[:, :fan_in].ravel()
        edges[(layer, layer + 1)] = (src, np.repeat(np.arange(width), fan_in))
    return _groups([width] * layers, edges, [rate] * layers)


RECURRENT_FAN = 100  # targets drawn per neuron in the realistic random recurrent family

# Families with the fan-in of typical SNN layers (100-400 synapses per neuron), which the
# benchmark core's 4,096 input axons make axon-limited where the graph has no locality.
REALISTIC = {
    "conv2d": lambda n, **k: layered_conv2d(n, channels=16, **k),  # 3 x 3 x 16 kernels: fan-in 144
    "dense": dense_layers,  # fan-in 256
    "recurrent": lambda n, **k: random_recurrent(n, fan=RECURRENT_FAN, **k),  # fan-in 100 on average
    "small-world": lambda n, **k: small_world(n, fan=200, **k),
    "small-world-shuffled": lambda n, **k: small_world(n, fan=200, shuffled=True, **k),
}


def _log_binomial_tail(trials: int, p: float, at_least: int) -> float:
    """log P(Binomial(trials, p) >= at_least), summed term by term in logs (the tails
    here are far below what a float holds)."""
    from scipy.special import gammaln

    if at_least <= 0:
        return 0.0
    if at_least > trials or p <= 0.0:
        return -math.inf
    if p >= 1.0:
        return 0.0
    j = np.arange(at_least, trials + 1, dtype=np.float64)
    terms = gammaln(trials + 1) - gammaln(j + 1) - gammaln(trials - j + 1) + j * math.log(p) + (trials - j) * math.log1p(-p)
    top = float(terms.max())
    return top + math.log(float(np.exp(terms - top).sum()))


def log_fitting_sets(neurons: int, fan: int, input_axons: int, k: int) -> float:
    """log of the expected number of k-neuron sets of random_recurrent's graph (each of
    the N neurons draws `fan` targets uniformly with replacement) whose distinct sources
    number at most `input_axons`. A source misses a set of k neurons with probability
    q = (1 - k/N)^fan, independently of the other sources, so the sources that miss it
    are Binomial(N, q) and the set fits iff at least N - input_axons miss it: the
    expectation is C(N, k) P(Binomial(N, q) >= N - input_axons)."""
    from scipy.special import gammaln

    n = neurons
    q = (1.0 - k / n) ** fan
    return float(gammaln(n + 1) - gammaln(k + 1) - gammaln(n - k + 1)) + _log_binomial_tail(n, q, n - input_axons)


def random_recurrent_bound(neurons: int, fan: int, input_axons: int, neurons_per_core: int,
                           risk: float = 1e-9) -> tuple[int, int]:
    """(cores, k): k is the least set size whose expected number of fitting sets
    (log_fitting_sets) is below `risk`. Then, with probability at least 1 - risk over the
    draw of the graph (Markov's inequality), no k neurons fit one core's input axons, nor
    do more (a subset of a fitting set fits), so every partition within the input axons
    needs at least ceil(N / (k - 1)) cores (and ceil(N / neurons_per_core)). A bound on
    the family at the given size, not a certificate of one graph."""
    n = neurons
    k = next((k for k in range(1, n + 1) if log_fitting_sets(n, fan, input_axons, k) < math.log(risk)), n + 1)
    return math.ceil(n / max(1, min(k - 1, neurons_per_core))), k


def parts_reached_log_pmf(neurons: int, fan: int, largest: int) -> np.ndarray:
    """log P(Y = j), j = 0..fan, for the chain that bounds how many parts one source's
    `fan` draws reach: with j parts reached, each of at most `largest` of the N neurons,
    the next draw reaches a new part with probability 1 - min(1, j * largest / N). Summed
    in logs: the tails used by the Chernoff bound lie far below what a float holds."""
    stay = np.minimum(1.0, np.arange(fan + 1) * largest / neurons)
    with np.errstate(divide="ignore"):
        log_stay, log_move = np.log(stay), np.log1p(-stay)
    pmf = np.full(fan + 1, -np.inf)
    pmf[0] = 0.0
    for _ in range(fan):
        moved = np.full(fan + 1, -np.inf)
        moved[1:] = pmf[:-1] + log_move[:-1]
        pmf = np.logaddexp(pmf + log_stay, moved)
    return pmf


def log_partitions_within(neurons: int, cores: int, largest: int) -> float:
    """log of an upper bound on the partitions of N neurons into exactly `cores` parts of
    1..`largest` neurons: the assignments to numbered parts are N! [x^N] f(x)^C with
    f(x) = sum_m x^m / m!, at most N! f(x)^C / x^N for every x > 0, and at most C^N;
    unnumbered, / C! (log_partition_sums with every part's weight 1)."""
    from scipy.special import gammaln

    if cores * largest < neurons or cores > neurons:
        return -math.inf
    saddle = float(log_partition_sums(np.zeros((1, largest)), neurons, cores)[0])
    return min(saddle, neurons * math.log(cores) - float(gammaln(cores + 1)))


def log_feasible_partitions(neurons: int, fan: int, input_axons: int, cores: int, largest: int) -> float:
    """log of an upper bound on the expected number of partitions of random_recurrent's
    graph into exactly `cores` parts of at most `largest` neurons, each within
    `input_axons` distinct sources.

    A partition's parts together hold, summed over the sources, the parts each source
    reaches, so a fitting one needs that sum <= input_axons * cores. Fix the partition:
    with j parts reached, a source's next draw lands in one of them with probability at
    most j * largest / N (their neurons, over all N), so the parts it reaches dominate
    the chain of parts_reached_log_pmf, E exp(-l X) <= E exp(-l Y). The sources draw
    independently: Chernoff's bound, with the best l, bounds the chance that the
    partition fits, and log_partitions_within counts the partitions."""
    from scipy.optimize import minimize_scalar
    from scipy.special import logsumexp

    count = log_partitions_within(neurons, cores, largest)
    if count == -math.inf:
        return count
    pmf = parts_reached_log_pmf(neurons, fan, largest)
    reached = np.arange(fan + 1)

    def chernoff(rate: float) -> float:
        return rate * input_axons * cores + neurons * float(logsumexp(pmf - rate * reached))

    best = min(0.0, float(minimize_scalar(chernoff, bounds=(0.0, 50.0), method="bounded").fun))
    return count + best


def random_recurrent_partition_bound(neurons: int, fan: int, input_axons: int, neurons_per_core: int,
                                     risk: float = 1e-9, witness: Witness | None = None) -> int:
    """Cores every partition of random_recurrent's graph within the input axons needs,
    with probability at least 1 - risk over the draw; never below the k-set bound.

    With probability 1 - risk / 2 no k neurons fit one core (random_recurrent_bound at
    risk / 2), so every part of a fitting partition holds at most k - 1. A fitting
    partition into fewer than C parts splits into one of exactly C (a subset of a fitting
    part fits). So the chance that C parts or fewer suffice is at most risk / 2 plus the
    expected number of fitting C-part partitions with parts of at most k - 1
    (log_feasible_partitions); the bound is one more than the last C, counting up from
    the k-set bound, where that expectation is below risk / 2.

    A `witness` (core_limit_bound.Witness) adds the bound that holds every core to its own
    limit: where it makes the expected number of fitting partitions into witness.cores
    parts below risk / 2, the bound is at least one more than that. It is checked here,
    not trusted."""
    cores, k = random_recurrent_bound(neurons, fan, input_axons, neurons_per_core, risk / 2)
    largest = min(k - 1, neurons_per_core)
    while cores < neurons and log_feasible_partitions(neurons, fan, input_axons, cores, largest) < math.log(risk / 2):
        cores += 1
    if witness is not None and cores <= witness.cores < neurons and \
            log_fitting_partitions(neurons, fan, input_axons, largest, witness) < math.log(risk / 2):
        cores = witness.cores + 1
    return cores


# Witnesses for the benchmark core (fan 100, 4,096 input axons, 256 neurons per core),
# from core_limit_bound.find_witness(N, 100, 4096, largest, cores) (a few minutes each);
# random_recurrent_partition_bound checks them, so a wrong one only weakens the bound.
RECURRENT_WITNESSES = {
    10_000: Witness(cores=153, radius=0.0156942, knots=(1, 29, 49, 59, 65, 72, 78, 83),
                    multipliers=(-3.408, -1.3509, 0.472, 0.7825, 0.9307, 1.1005, 1.2174, 1.2089)),
    100_000: Witness(cores=2205, radius=0.00460521, knots=(1, 20, 34, 41, 45, 50, 55, 68),
                     multipliers=(-7.4567, 0.6425, 1.5129, 1.5802, 1.6797, 1.801, 1.8773, 2.1898)),
}
