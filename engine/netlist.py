"""The quantized integer network: the contract shared by resolve, image and verify.

Resolve produces a QuantNetwork; the image package serialises it into `.nmc` bytes and
reads it back; the kernel runs what the reader returns (never resolve's objects). Every
array is integer, little-endian when serialised, and read-only in memory.

Families and the parameters each population carries (one entry per neuron, int arrays):

  xylo   (docs/kernel.md, Xylo semantics)
         exactly two populations, "hidden" and "output".
         hidden: dash_syn (n, n_syn) in 0..15, dash_mem (n,), threshold (n,), bias (n,),
                 alias (n,) target hidden index or -1
         output: dash_syn (n, 1), dash_mem (n,), threshold (n,), bias (n,)
         projections: input->hidden (synapse 0 or 1), hidden->hidden (synapse 0 or 1),
                      hidden->output (synapse 0); `shift` is the matrix's weight shift.
  loihi  (docs/kernel.md, Loihi semantics)
         any DAG or recurrent set of LIF populations fed by Dense projections.
         params: du (n,), dv (n,), vth (n,), bias_mant (n,), bias_exp (n,)
         projections: weights already clipped and LSB-truncated per sign mode; `shift` is
                      weight_exp; each projection delays by one step.
  speck  (docs/kernel.md, Speck semantics: SynSense's DynapCNN integrate-and-fire cores)
         a feed-forward DAG of integrate-and-fire layers, one per DynapCNN core:
         params: threshold (n,) the high threshold, threshold_low (n,) the membrane's floor,
                 bias (n,) the leak added once per step, reset_zero (n,) 1: return to zero,
                 0: subtract the threshold.
         16-bit membrane; every input event (a count of c is c events) adds its weight to each
         target and fires at most one spike per target; spikes reach the next layer in the
         same step. projections: `shift` is 0, weights 8-bit.
  lif    a generic integer LIF for targets without a published bit-accurate model:
         params: decay_syn (n,) shift, decay_mem (n,) shift, threshold (n,), bias (n,)
         int32 state saturating at +-(2^31 - 1); per step, populations in order:
         i += sum of (w << shift) over this step's input spikes and the previous step's
         population spikes; i -= i >> decay_syn; v += -(v >> decay_mem) + i + bias;
         spike (at most one) where v >= threshold, then v -= threshold.

Readout: a network's class is read from its readout population's spikes (`readout`
"spikes", the count over a window) or, for a leaky-integrator readout (NIR LI or CubaLI), from
its membrane (`readout` "membrane": the readout neurons never spike, their threshold sits at
the state word's largest value, and the class is the neuron whose membrane peaks highest over
the window; docs/models.md, "Membrane readouts").

Weights are stored per projection in CSR by source row: for source neuron s its targets are
indices[indptr[s]:indptr[s+1]] ascending, with values alongside. This is the order in which
an event-driven core delivers a spike and the order Xylo saturates in.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Literal

import attrs
import numpy as np
from numpy.typing import ArrayLike, DTypeLike

Family = Literal["xylo", "loihi", "lif", "speck"]
FAMILIES: tuple[str, ...] = ("xylo", "loihi", "lif", "speck")
READOUTS: tuple[str, ...] = ("spikes", "membrane")
INPUT = "input"  # the pseudo-population name of the network's input channels

FAMILY_PARAMS: dict[str, tuple[str, ...]] = {
    "xylo": ("dash_syn", "dash_mem", "threshold", "bias", "alias"),
    "loihi": ("du", "dv", "vth", "bias_mant", "bias_exp"),
    "lif": ("decay_syn", "decay_mem", "threshold", "bias"),
    "speck": ("threshold", "threshold_low", "bias", "reset_zero"),
}


def membrane_scores(membrane: np.ndarray) -> np.ndarray:
    """A membrane readout's score per output: its membrane's largest value over the window's
    steps, (..., steps, n_out) -> (..., n_out); the class is the output with the highest score
    (lowest index on ties). The neuron whose membrane peaks highest wins, as Norse's tutorials
    decode an LI readout (max over time, then argmax); a max, unlike a sum, needs no wider word
    on the firmware and is exact in integers."""
    scores: np.ndarray = np.max(membrane, axis=-2)
    return scores


def frozen_array(values: ArrayLike, dtype: DTypeLike) -> np.ndarray:
    array = np.array(values, dtype=np.dtype(dtype).newbyteorder("="), copy=True)
    array.setflags(write=False)
    return array


@attrs.frozen(eq=False)
class Weights:
    """A sparse integer matrix (n_src x n_dst) in CSR by source row."""

    n_src: int
    n_dst: int
    indptr: np.ndarray  # int64 (n_src + 1,)
    indices: np.ndarray  # int32 (nnz,), ascending within each row (a pair repeats only in `stacked`)
    values: np.ndarray  # int32 (nnz,)

    @classmethod
    def from_dense(cls, dense: ArrayLike) -> Weights:
        dense = np.asarray(dense)
        if dense.ndim != 2:
            raise ValueError(f"weights must be 2-D, got shape {dense.shape}")
        rows, cols = np.nonzero(dense)
        counts = np.bincount(rows, minlength=dense.shape[0])
        indptr = np.concatenate([[0], np.cumsum(counts)])
        return cls(
            n_src=int(dense.shape[0]),
            n_dst=int(dense.shape[1]),
            indptr=frozen_array(indptr, np.int64),
            indices=frozen_array(cols, np.int32),
            values=frozen_array(dense[rows, cols], np.int32),
        )

    @classmethod
    def from_csr(cls, n_src: int, n_dst: int, indptr: ArrayLike, indices: ArrayLike, values: ArrayLike) -> Weights:
        return cls(
            n_src=int(n_src),
            n_dst=int(n_dst),
            indptr=frozen_array(indptr, np.int64),
            indices=frozen_array(indices, np.int32),
            values=frozen_array(values, np.int32),
        )

    @classmethod
    def stacked(cls, parts: Sequence[Weights]) -> Weights:
        """Every synapse of several matrices between the same two populations (Xylo's two
        recurrent synapses): a pair that several of them connect is listed once per matrix,
        as each is a synapse of its own in the chip's memory; entries stay ascending by
        target within a row, the parts' order kept among a pair's repeats."""
        if not parts or any((p.n_src, p.n_dst) != (parts[0].n_src, parts[0].n_dst) for p in parts):
            raise ValueError("stacked weights need one or more matrices of the same shape")
        rows = np.concatenate([np.repeat(np.arange(p.n_src, dtype=np.int64), np.diff(p.indptr)) for p in parts])
        cols = np.concatenate([p.indices for p in parts])
        values = np.concatenate([p.values for p in parts])
        part = np.repeat(np.arange(len(parts)), [p.nnz for p in parts])
        order = np.lexsort((part, cols, rows))
        indptr = np.concatenate([[0], np.cumsum(np.bincount(rows, minlength=parts[0].n_src))])
        return cls.from_csr(parts[0].n_src, parts[0].n_dst, indptr, cols[order], values[order])

    @property
    def nnz(self) -> int:
        return int(self.indices.size)

    def to_dense(self) -> np.ndarray:
        dense = np.zeros((self.n_src, self.n_dst), dtype=np.int32)
        rows = np.repeat(np.arange(self.n_src), np.diff(self.indptr))
        dense[rows, self.indices] = self.values
        return dense

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Weights):
            return NotImplemented
        return (
            self.n_src == other.n_src
            and self.n_dst == other.n_dst
            and np.array_equal(self.indptr, other.indptr)
            and np.array_equal(self.indices, other.indices)
            and np.array_equal(self.values, other.values)
        )


@attrs.frozen(eq=False)
class Population:
    name: str
    size: int
    params: Mapping[str, np.ndarray]  # read-only int arrays, see FAMILY_PARAMS

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Population):
            return NotImplemented
        return (
            self.name == other.name
            and self.size == other.size
            and sorted(self.params) == sorted(other.params)
            and all(np.array_equal(self.params[k], other.params[k]) for k in self.params)
        )


@attrs.frozen
class Projection:
    src: str  # population name, or INPUT
    dst: str
    weights: Weights
    synapse: int = 0  # which synaptic state of dst it feeds (Xylo: 0 or 1)
    shift: int = 0  # Xylo weight shift; Loihi weight_exp (may be negative)


@attrs.frozen
class RouteEntry:
    """One row of one router's table: a packet whose key matches (key & mask) goes out
    on every link set in out_links (bit 0 east, 1 north, 2 west, 3 south, 4 local core)."""

    router: int
    key: int
    mask: int
    out_links: int


LINK_EAST, LINK_NORTH, LINK_WEST, LINK_SOUTH, LINK_LOCAL = 1, 2, 4, 8, 16


@attrs.frozen(eq=False)
class Placement:
    """Where each neuron lives and how its spikes travel. Single-core targets have one core."""

    mesh_width: int
    mesh_height: int
    core_xy: np.ndarray  # int32 (n_cores, 2): x, y of each core on the mesh
    neuron_core: Mapping[str, np.ndarray]  # population name -> int32 (size,) core index
    routes: tuple[RouteEntry, ...] = ()

    @property
    def n_cores(self) -> int:
        return int(self.core_xy.shape[0])

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Placement):
            return NotImplemented
        return (
            (self.mesh_width, self.mesh_height) == (other.mesh_width, other.mesh_height)
            and np.array_equal(self.core_xy, other.core_xy)
            and sorted(self.neuron_core) == sorted(other.neuron_core)
            and all(np.array_equal(self.neuron_core[k], other.neuron_core[k]) for k in self.neuron_core)
            and self.routes == other.routes
        )


@attrs.frozen
class QuantNetwork:
    family: str  # one of FAMILIES
    dt: float  # seconds per time step
    n_inputs: int
    populations: tuple[Population, ...]
    projections: tuple[Projection, ...]
    output: str  # name of the readout population
    placement: Placement | None = None
    readout: str = "spikes"  # one of READOUTS: what decides a window's class

    def population(self, name: str) -> Population:
        for pop in self.populations:
            if pop.name == name:
                return pop
        raise KeyError(name)

    def size_of(self, name: str) -> int:
        return self.n_inputs if name == INPUT else self.population(name).size

    @property
    def n_neurons(self) -> int:
        return sum(p.size for p in self.populations)

    @property
    def n_synapses(self) -> int:
        return sum(p.weights.nnz for p in self.projections)
