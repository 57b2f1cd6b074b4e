"""An axon-aware fill: cores filled one at a time, each time with the unplaced neuron whose
sources the core already has most of.

A fill along an order cuts a core where the next neuron in the order would overflow its
input axons (distinct sources), whatever the other neurons would have cost. On a graph
whose neurons share sources in no order (random recurrent connections) such a core holds
as many neurons as chance overlap allows; choosing each next neuron by the sources it
shares with the core holds more.

Rules: a neuron's cost is the fraction of its distinct sources that are new to the core
(not yet among the core's sources) minus 1/SHARE for each shared one (already there); a
core starts with the lowest-id unplaced neuron (all cost 1 then, a neuron without sources
0), then takes the neuron of least cost (the lowest id among equals) until that neuron
would break one of its limits (input axons, neurons, synapses, cycles, or the output axons
each neuron is expected to need), whether or not another would fit. A fraction, not a
count, of new sources keeps the neurons with few sources from being used up by the first
cores, which would leave the last ones the neurons nothing fits with; measured on the
random recurrent family (fan-in 100, benchmark core, output axons counted), the count of
new sources alone packs 10,000 neurons into 178 cores and 100,000 into 2,408, the count
minus 4 per shared source into 168 and 2,389, the fraction alone into 169 and 2,347, and
this cost into 167 and about 2,317 (docs/mapping.md).

Within a core a neuron's cost only falls: each new source on the core lowers the cost of
every unplaced neuron it reaches (costs are integers: 65,536 for a whole in-set). The minimum of each block of BLOCK
neurons is kept exact (a fall updates it in O(1), placing a neuron rescans its block), so
the next neuron is found in O(n / BLOCK + BLOCK); a core costs the synapses out of its
sources plus one scan of the neurons. Deterministic: no randomness, no hashing.

Output axons depend on where each neuron's targets land, which a core being filled does
not know: `axon_pack` fills again with each neuron's destination count under the
previous fill as an additive limit (the mean of the last two counts for a few rounds,
then their running maximum, which settles), leaving a fiftieth of the core's output axons
spare for the counts still moving; cores still over are split.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
from numba import njit
from numpy.typing import NDArray

if TYPE_CHECKING:
    from engine.mapping.netview import NetView
    from engine.mapping.target import CoreSpec

I64 = NDArray[np.int64]
I32 = NDArray[np.int32]
F64 = NDArray[np.float64]


BLOCK = 256  # neurons per block of the two-level minimum: a step scans blocks, then one block
PLACED = np.int64(1) << 40  # the cost of a placed neuron: above any real cost
WHOLE = 65536  # the cost of a neuron none of whose sources are on the core
SHARE = 256  # a shared source lowers the cost by WHOLE / SHARE besides the fraction it no longer adds
MEAN_ROUNDS = 3  # output-axon refills on the mean of the last two counts, before the running maximum
REFILLS = 9


@njit(cache=True)
def _block_minimum(key: I64, block: int, width: int) -> int:
    low = PLACED
    for i in range(block * width, min((block + 1) * width, key.size)):
        low = min(low, key[i])
    return int(low)


@njit(cache=True)
def greedy_fill(in_ptr: I64, src: I32, out_ptr: I64, out_dst: I32, synapses: I64, load: F64, outputs: I64,
                neurons_cap: int, synapses_cap: int, cycles_cap: float, outputs_cap: int, inputs_cap: int, share: int) -> I64:
    """Core of each neuron. in_ptr/src: each neuron's distinct sources (CSR by neuron);
    out_ptr/out_dst: each source's placed targets (CSR by source id, every source id).
    key[v]: v's cost on the open core (PLACED once placed); low[b]: the least key of block b."""
    n = in_ptr.size - 1
    total = out_ptr.size - 1
    cores = np.full(n, -1, dtype=np.int64)
    if n == 0:
        return cores
    degree = in_ptr[1:] - in_ptr[:-1]
    key = degree.copy()
    shared = np.zeros(n, dtype=np.int64)
    blocks = (n + BLOCK - 1) // BLOCK
    low = np.empty(blocks, dtype=np.int64)
    on_core = np.zeros(total, dtype=np.bool_)
    members = np.empty(total, dtype=np.int64)
    placed = 0
    core = 0
    while placed < n:
        for v in range(n):
            key[v] = (WHOLE if degree[v] > 0 else 0) if cores[v] < 0 else PLACED
            shared[v] = 0
        for b in range(blocks):
            low[b] = _block_minimum(key, b, BLOCK)
        count = 0
        n_src = 0
        syn = 0
        cycles = 0.0
        outs = 0
        while placed < n:
            best = 0
            for b in range(1, blocks):
                if low[b] < low[best]:
                    best = b
            v = best * BLOCK
            while key[v] != low[best]:
                v += 1
            if count > 0 and (count + 1 > neurons_cap or n_src + degree[v] - shared[v] > inputs_cap
                              or syn + synapses[v] > synapses_cap or cycles + load[v] > cycles_cap
                              or outs + outputs[v] > outputs_cap):
                break
            cores[v] = core
            key[v] = PLACED
            placed += 1
            count += 1
            syn += synapses[v]
            cycles += load[v]
            outs += outputs[v]
            for j in range(in_ptr[v], in_ptr[v + 1]):
                s = src[j]
                if on_core[s]:
                    continue
                on_core[s] = True
                members[n_src] = s
                n_src += 1
                for i in range(out_ptr[s], out_ptr[s + 1]):
                    t = out_dst[i]
                    if cores[t] >= 0:
                        continue
                    shared[t] += 1
                    key[t] = ((degree[t] - shared[t]) * WHOLE) // degree[t] - shared[t] * (WHOLE // share)
                    low[t // BLOCK] = min(low[t // BLOCK], key[t])
            low[best] = _block_minimum(key, best, BLOCK)
        for i in range(n_src):
            on_core[members[i]] = False
        core += 1
    return cores


def out_adjacency(view: NetView) -> tuple[np.ndarray, np.ndarray]:
    """Each source id's placed targets, CSR by source (int64 pointers, int32 targets)."""
    total = max(int(view.rate.size), int(view.src.max(initial=-1)) + 1)
    ptr = np.zeros(total + 1, dtype=np.int64)
    np.cumsum(np.bincount(view.src, minlength=total), out=ptr[1:])
    targets = np.empty(view.src.size, dtype=np.int32)
    _transpose(np.ascontiguousarray(view.src), np.ascontiguousarray(view.dst), ptr, targets)
    return ptr, targets


@njit(cache=True)
def _transpose(src: np.ndarray, dst: np.ndarray, ptr: np.ndarray, targets: np.ndarray) -> None:
    """A counting sort of the pairs by source, stable (each source's targets in pair order)."""
    fill = ptr[:-1].copy()
    for i in range(src.size):
        targets[fill[src[i]]] = dst[i]
        fill[src[i]] += 1


def axon_fill(view: NetView, core: CoreSpec, outputs: np.ndarray | None = None,
              adjacency: tuple[np.ndarray, np.ndarray] | None = None, output_axons: int | None = None) -> np.ndarray:
    """The greedy fill; `outputs`, when given, is each neuron's expected output axons
    (destination cores), filled against `output_axons` (the core's by default)."""
    from engine.mapping.partition import cycles_cap

    out_ptr, out_dst = adjacency if adjacency is not None else out_adjacency(view)
    expected = np.zeros(view.n, dtype=np.int64) if outputs is None else np.asarray(outputs, dtype=np.int64)
    return greedy_fill(np.asarray(view.in_ptr, dtype=np.int64), np.ascontiguousarray(view.src, dtype=np.int32),
                       out_ptr, out_dst, np.asarray(view.synapses, dtype=np.int64),
                       np.asarray(view.load, dtype=np.float64), expected, core.neurons_per_core,
                       core.synapses_per_core, cycles_cap(core), core.output_axons if output_axons is None else output_axons,
                       core.input_axons, SHARE)


def axon_pack(view: NetView, core: CoreSpec) -> np.ndarray:
    """The greedy fill under every limit, output axons refilled as the module says."""
    from engine.mapping.partition import neuron_outputs, over_output_axons, repair_output_axons

    adjacency = out_adjacency(view)
    cores = axon_fill(view, core, adjacency=adjacency)
    outputs: np.ndarray | None = None
    spare_cap = core.output_axons - core.output_axons // 50
    for round_ in range(REFILLS):
        if not over_output_axons(view, core, cores):
            break
        latest = neuron_outputs(view, cores)
        if outputs is None:
            outputs = latest
        elif round_ < MEAN_ROUNDS:
            outputs = (outputs + latest + 1) // 2
        else:
            outputs = np.maximum(outputs, latest)
        cores = axon_fill(view, core, outputs, adjacency, spare_cap)
    return repair_output_axons(view, core, cores)
