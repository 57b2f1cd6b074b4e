"""Graph families for the mapping tests and benchmark, as mapper Groups (deterministic)."""

from __future__ import annotations

import numpy as np

from engine.mapping.mapper import Group
from engine.netlist import Weights


def _csr(rows: np.ndarray, cols: np.ndarray, n_src: int, n_dst: int) -> Weights:
    order = np.lexsort((cols, rows))
    rows, cols = rows[order], cols[order]
    keep = np.ones(len(rows), dtype=bool)
    keep[1:] = (rows[1:] != rows[:-1]) | (cols[1:] != cols[:-1])
    rows, cols = rows[keep], cols[keep]
    indptr = np.concatenate([[0], np.cumsum(np.bincount(rows, minlength=n_src))])
    return Weights.from_csr(n_src, n_dst, indptr, cols, np.ones(len(cols), dtype=np.int64))


def _groups(sizes, edges, rates) -> list[Group]:
    """edges: {(src layer, dst layer): (rows, cols)}."""
    in_syn = [np.zeros(n, dtype=np.int64) for n in sizes]
    in_events = [np.zeros(n) for n in sizes]
    outgoing = [[] for _ in sizes]
    for (a, b), (rows, cols) in sorted(edges.items()):
        w = _csr(rows, cols, sizes[a], sizes[b])
        outgoing[a].append((f"l{b}", w))
        counts = np.bincount(w.indices, minlength=sizes[b])
        in_syn[b] += counts
        in_events[b] += counts * rates[a]
    return [Group(f"l{i}", n, i, np.full(n, rates[i]), in_syn[i], in_events[i], tuple(outgoing[i]))
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


def feedforward_dense(neurons: int, layers: int = 3, density: float = 0.05, rate: float = 10.0, seed: int = 0) -> list[Group]:
    rng = np.random.default_rng(seed)
    size = neurons // layers
    edges = {}
    for layer in range(layers - 1):
        count = int(size * size * density)
        edges[(layer, layer + 1)] = (rng.integers(0, size, count), rng.integers(0, size, count))
    return _groups([size] * layers, edges, [rate] * layers)


FAMILIES = {
    "conv": layered_conv,
    "recurrent": random_recurrent,
    "small-world": small_world,
    "small-world-shuffled": lambda n, **k: small_world(n, shuffled=True, **k),
    "dense": feedforward_dense,
}
