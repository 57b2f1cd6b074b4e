"""General graph partitioners as mapping baselines: METIS (pymetis) and KaHIP k-way at
k = the lower bound on the undirected, rate-weighted neuron graph, then a capacity
repair: the greedy fill of partition.py along the partitioner's order (parts in turn,
neurons by id), which keeps every per-core limit and splits or tops up parts that do not
match a core. Placement and routing are the mapper's own, so only the partition differs.

The partitioners are development dependencies (the benchmark's baselines), imported
only when called.
"""

from __future__ import annotations

import numpy as np

from engine.mapping import partition as part
from engine.mapping.arrays import unique
from engine.mapping.netview import NetView

IMBALANCE = 0.001  # parts at most 0.1% over n / k: one neuron over 256 at the benchmark's sizes


def neuron_graph(view: NetView) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """CSR (xadj, adjncy, weights) of the symmetric neuron graph without self loops;
    an edge weighs the spikes per second crossing it (at least 1)."""
    placed = (view.src < view.n) & (view.src != view.dst)
    a, b = view.src[placed], view.dst[placed]
    rate = view.rate[a]
    u, v = np.concatenate([a, b]), np.concatenate([b, a])
    w = np.concatenate([rate, rate])
    key = u * view.n + v
    order = np.argsort(key, kind="stable")
    key, w = key[order], w[order]
    pairs = unique(key)
    weight = np.bincount(np.searchsorted(pairs, key), weights=w, minlength=pairs.size)
    src, dst = pairs // view.n, pairs % view.n
    xadj = np.searchsorted(src, np.arange(view.n + 1)).astype(np.int64)
    return xadj, dst.astype(np.int64), np.maximum(1, np.rint(weight)).astype(np.int64)


def metis_parts(view: NetView, k: int) -> np.ndarray:
    import pymetis

    if k <= 1:
        return np.zeros(view.n, dtype=np.int64)
    xadj, adjncy, weights = neuron_graph(view)
    options = pymetis.Options(ufactor=max(1, int(IMBALANCE * 1000)), seed=0)
    _, membership = pymetis.part_graph(k, xadj=xadj, adjncy=adjncy, eweights=weights, options=options)
    return np.asarray(membership, dtype=np.int64)


def kahip_parts(view: NetView, k: int) -> np.ndarray:
    import kahip

    if k <= 1:
        return np.zeros(view.n, dtype=np.int64)
    xadj, adjncy, weights = neuron_graph(view)
    _, blocks = kahip.kaffpa([1] * view.n, xadj.tolist(), weights.tolist(), adjncy.tolist(), k, IMBALANCE, True, 0,
                             kahip.FAST)
    return np.asarray(blocks, dtype=np.int64)


def repaired(view: NetView, core, parts: np.ndarray) -> np.ndarray:
    """Core of each neuron: the fill along (part, id) order under every limit."""
    order = np.lexsort((np.arange(view.n), parts))
    return part.pack(view, core, order)
