"""The imported model in discrete time, in floats: the reference the quantized network is
measured against.

A FloatNet is populations of neurons joined by weight matrices (NIR's linear nodes,
convolutions, pools and flattens composed into one matrix per source/destination pair).
One step, in population order (the import's topological order):
  input  = sum over projections of (source spikes @ W) + b, where a projection from INPUT
           or from a population earlier in the order delivers this step's spikes and a
           projection marked `delayed` (a recurrent edge) delivers the previous step's;
  with a synapse:    I = alpha * I + in_gain * input;   drive = i_gain * I
  with two:          each projection feeds synapse 0 or 1, I_k = alpha_k * I_k + in_gain * input_k,
                     drive = i_gain * (I_0 + I_1) (Xylo's second synapse, docs/models.md)
  without:           drive = in_gain * input
  v = beta * v + drive + leak
  spiking kinds: a neuron crosses where v > threshold (>= when compare is "ge"); it
  crosses once, or with `max_spikes` above 1 floor(v / threshold) times, at most
  max_spikes (Rockpool, Sinabs); reset "subtract" takes count x threshold off at once,
  "subtract_late" takes it off on the next step after the decay (v = beta * v + drive +
  leak - count x threshold, as snnTorch does), "subtract_before_decay" on the next step
  before it (v = beta * (v - count x threshold) + drive + leak, as Spyx's CuBaLIF does),
  "zero" sets v to v_reset; "none" (LI, integrators) never spikes and its v is the output.
  A population with `spike_delay` 1 emits on each step what crossed on the step before
  (Spyx computes the spike from the previous membrane), so its spikes of a step are known
  before the step is computed: a projection from it reads them undelayed even in a cycle.
"""

from __future__ import annotations

from collections.abc import Mapping

import attrs
import numpy as np
from numpy.typing import ArrayLike, NDArray

from engine.netlist import membrane_scores

Floats = NDArray[np.float64]

INPUT = "input"
NEURON_KINDS = ("cubalif", "lif", "if", "li", "cubali", "integrator", "threshold")


@attrs.frozen(eq=False)
class FloatPopulation:
    name: str
    kind: str
    size: int
    alpha: Floats | None  # synaptic decay per step (None: no synaptic state)
    beta: Floats  # membrane decay per step (1 = no leak)
    in_gain: Floats
    i_gain: Floats
    leak: Floats  # constant drive per step (from v_leak)
    threshold: Floats | None  # None for non-spiking kinds
    v_reset: Floats
    reset: str  # subtract | subtract_late | subtract_before_decay | zero | none
    compare: str  # gt | ge
    tau_syn: Floats | None  # seconds, for reports
    tau_mem: Floats | None
    max_spikes: int = 1  # spikes a neuron can emit in one step (above 1: floor(v / threshold))
    spike_delay: int = 0  # 1: a step's spikes are the previous step's crossings
    alpha2: Floats | None = None  # the second synapse's decay per step (None: one synapse at most)
    tau_syn2: Floats | None = None

    @property
    def synapses(self) -> int:
        return 0 if self.alpha is None else (1 if self.alpha2 is None else 2)


@attrs.frozen
class ConvShape:
    """The convolution a projection was composed from, as a DynapCNN layer sizes it: the
    channels and map it reads (a Linear reads the map its Flatten flattened, or a 1 x 1 map
    of all its inputs, as sinabs converts nn.Linear to a convolution covering its input),
    the kernel, and the features and map it writes."""

    in_shape: tuple[int, int, int]  # (c, h, w)
    kernel: tuple[int, int]  # (ky, kx)
    out_shape: tuple[int, int, int]  # (f, fy, fx)


@attrs.frozen(eq=False)
class FloatProjection:
    src: str
    dst: str
    weight: Floats  # (n_src, n_dst)
    bias: Floats | None  # (n_dst,)
    delayed: bool
    nodes: tuple[str, ...]  # the NIR nodes this matrix was composed from
    synapse: int = 0  # which synaptic current of dst it feeds (1: the second synapse)
    conv: ConvShape | None = None  # the one weight node it was composed from, when there is one


@attrs.frozen(eq=False)
class FloatNet:
    n_inputs: int
    populations: tuple[FloatPopulation, ...]
    projections: tuple[FloatProjection, ...]
    output: str  # the readout population
    dt: float
    convention: str
    notes: tuple[str, ...] = ()
    # what the import found lossy or suspicious in the file, each naming the node and value
    warnings: tuple[str, ...] = ()

    def population(self, name: str) -> FloatPopulation:
        return next(p for p in self.populations if p.name == name)

    def into(self, name: str) -> list[FloatProjection]:
        return [p for p in self.projections if p.dst == name]

    def conv_shapes(self) -> dict[tuple[str, str], ConvShape]:
        """(source, destination) -> the convolution that projection was composed from, where known."""
        return {(p.src, p.dst): p.conv for p in self.projections if p.conv is not None}


def simulate(net: FloatNet, inputs: ArrayLike, *, record: bool = False) -> Mapping[str, Floats]:
    """inputs: (steps, n_inputs) or (batch, steps, n_inputs) spike counts.
    Returns spikes per population (batch, steps, size) as float arrays (0/1 or counts),
    and, when `record`, 'v:<name>' membrane and 'i:<name>' drive (what enters v) traces, and
    'syn:<name>' the synaptic current of a population that has one."""
    x = np.asarray(inputs, dtype=np.float64)
    single = x.ndim == 2
    if single:
        x = x[None]
    batch, steps, _ = x.shape
    spikes_now = {p.name: np.zeros((batch, p.size)) for p in net.populations}
    spikes_prev = {p.name: np.zeros((batch, p.size)) for p in net.populations}
    crossed = {p.name: np.zeros((batch, p.size)) for p in net.populations}  # the last step's crossings
    current = {p.name: np.zeros((batch, p.size)) for p in net.populations}
    current2 = {p.name: np.zeros((batch, p.size)) for p in net.populations if p.alpha2 is not None}
    voltage = {p.name: np.zeros((batch, p.size)) for p in net.populations}
    out = {p.name: np.zeros((batch, steps, p.size)) for p in net.populations}
    traces: dict[str, Floats] = {}
    if record:
        for p in net.populations:
            traces[f"v:{p.name}"] = np.zeros((batch, steps, p.size))
            traces[f"i:{p.name}"] = np.zeros((batch, steps, p.size))
            if p.alpha is not None:
                traces[f"syn:{p.name}"] = np.zeros((batch, steps, p.size))
    incoming = {p.name: net.into(p.name) for p in net.populations}
    delayed_pops = [p for p in net.populations if p.spike_delay]
    for t in range(steps):
        for pop in delayed_pops:
            spikes_now[pop.name] = crossed[pop.name]
        for pop in net.populations:
            totals = [np.zeros((batch, pop.size)), np.zeros((batch, pop.size))]
            for proj in incoming[pop.name]:
                if proj.src == INPUT:
                    source = x[:, t, :]
                else:
                    source = spikes_prev[proj.src] if proj.delayed else spikes_now[proj.src]
                totals[proj.synapse] += source @ proj.weight
                if proj.bias is not None:
                    totals[proj.synapse] += proj.bias
            total = totals[0]
            if pop.alpha2 is not None:
                assert pop.alpha is not None  # a second synapse comes with a first (FloatPopulation.synapses)
                current[pop.name] = pop.alpha * current[pop.name] + pop.in_gain * total
                current2[pop.name] = pop.alpha2 * current2[pop.name] + pop.in_gain * totals[1]
                drive = pop.i_gain * (current[pop.name] + current2[pop.name])
            elif pop.alpha is not None:
                current[pop.name] = pop.alpha * current[pop.name] + pop.in_gain * total
                drive = pop.i_gain * current[pop.name]
            else:
                drive = pop.in_gain * total
            if pop.reset == "subtract_before_decay":
                assert pop.threshold is not None  # only a spiking kind resets
                v = pop.beta * (voltage[pop.name] - crossed[pop.name] * pop.threshold) + drive + pop.leak
            else:
                v = pop.beta * voltage[pop.name] + drive + pop.leak
            if pop.reset == "subtract_late":
                assert pop.threshold is not None  # only a spiking kind resets
                v = v - crossed[pop.name] * pop.threshold
            if pop.threshold is None:
                spikes = v
            else:
                fired = (v >= pop.threshold) if pop.compare == "ge" else (v > pop.threshold)
                spikes = fired.astype(np.float64)
                if pop.max_spikes > 1:
                    with np.errstate(divide="ignore", invalid="ignore"):
                        spikes = spikes * np.clip(np.floor(v / pop.threshold), 1, pop.max_spikes)
                if pop.reset == "subtract":
                    v = v - spikes * pop.threshold
                elif pop.reset == "zero":
                    v = np.where(fired, pop.v_reset, v)
                crossed[pop.name] = spikes
            voltage[pop.name] = v
            if not pop.spike_delay:
                spikes_now[pop.name] = spikes
            out[pop.name][:, t, :] = spikes_now[pop.name]
            if record:
                traces[f"v:{pop.name}"][:, t, :] = v
                traces[f"i:{pop.name}"][:, t, :] = drive
                if pop.alpha is not None:
                    traces[f"syn:{pop.name}"][:, t, :] = current[pop.name]
        spikes_prev = {k: v.copy() for k, v in spikes_now.items()}
    result = {**out, **traces}
    if single:
        result = {k: v[0] for k, v in result.items()}
    return result


def classify(counts: ArrayLike) -> NDArray[np.intp]:
    """Output scores over a window (..., n_out) -> class index (lowest index wins ties)."""
    classes: NDArray[np.intp] = np.argmax(counts, axis=-1)
    return classes


def readout_scores(net: FloatNet, result: Mapping[str, Floats]) -> Floats:
    """Per window, the score classify() takes: the readout's spike count, or for a
    non-spiking readout (LI, CubaLI: simulate() returns its membrane) membrane_scores()."""
    out = result[net.output]
    if net.population(net.output).threshold is None:
        return membrane_scores(out)
    summed: Floats = out.sum(axis=-2)
    return summed
