"""Does the quantized network fit the target? Every violated limit, with its numbers."""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING

import attrs
import numpy as np

from engine.netlist import INPUT, QuantNetwork

if TYPE_CHECKING:
    from engine.catalog import Part

MARGINAL = 0.9  # within 10% of a limit


@attrs.frozen
class Limit:
    name: str  # what is limited
    figure: str  # the catalog figure
    used: int
    allowed: int | None  # None: the catalog does not know
    grows: bool = True  # False for limits a design meets exactly by construction (inputs, weight bits)

    @property
    def ok(self) -> bool:
        return self.allowed is None or self.used <= self.allowed

    @property
    def marginal(self) -> bool:
        return self.grows and self.allowed is not None and self.ok and self.used > MARGINAL * self.allowed

    def describe(self, chip: str) -> str:
        if self.allowed is None:
            return f"{self.name}: {self.used} used, limit unknown on {chip} ({self.figure} not verified)"
        relation = ">" if not self.ok else "<="
        return f"{self.used} {self.name} {relation} {self.allowed} on {chip}"


@attrs.frozen
class FitReport:
    chip: str
    limits: tuple[Limit, ...]

    @property
    def violations(self) -> tuple[Limit, ...]:
        return tuple(limit for limit in self.limits if not limit.ok)

    @property
    def verdict(self) -> str:
        if self.violations:
            return "does not fit"
        if any(limit.marginal for limit in self.limits):
            return "marginal"
        return "fits"

    def reason(self) -> str:
        if self.violations:
            return "; ".join(v.describe(self.chip) for v in self.violations)
        marginal = [limit for limit in self.limits if limit.marginal]
        if marginal:
            return "; ".join(f"{m.name} at {m.used / (m.allowed or 1):.0%} of {m.allowed}" for m in marginal)
        unknown = [limit.figure for limit in self.limits if limit.allowed is None]
        return "within every known limit" + (f" (unknown: {', '.join(sorted(set(unknown)))})" if unknown else "")


def _fan(network: QuantNetwork) -> tuple[int, int]:
    incoming: dict[str, np.ndarray] = {p.name: np.zeros(p.size, dtype=np.int64) for p in network.populations}
    outgoing: dict[str, np.ndarray] = {p.name: np.zeros(p.size, dtype=np.int64) for p in network.populations}
    for proj in network.projections:
        dense = proj.weights.to_dense() != 0
        incoming[proj.dst] += dense.sum(axis=0)
        if proj.src != INPUT and (network.family != "xylo" or proj.dst == proj.src):
            # Xylo's fan-out limit is on the recurrent weights (its readout has a matrix of its own);
            # a target reached through both synapses takes two of them
            outgoing[proj.src] += dense.sum(axis=1)
    fan_in = max((int(v.max(initial=0)) for v in incoming.values()), default=0)
    fan_out = max((int(v.max(initial=0)) for v in outgoing.values()), default=0)
    return fan_in, fan_out


def xylo_fan_out(network: QuantNetwork) -> np.ndarray:
    """Per hidden neuron, the (target, synapse) pairs of its recurrent weights: what Xylo's
    fan-out limit counts (a target reached through both synapses takes two)."""
    hidden = network.population("hidden")
    out = np.zeros(hidden.size, dtype=np.int64)
    for proj in network.projections:
        if proj.src == proj.dst == "hidden":
            out += np.diff(proj.weights.indptr)
    return out


def aliases_needed(fan_out: np.ndarray, limit: int) -> np.ndarray:
    """Per neuron, the alias neurons that carry what its fan-out has past `limit`: a neuron
    keeps `limit` targets and each alias in its chain takes `limit` more."""
    needed: np.ndarray = np.maximum(-(-fan_out // max(limit, 1)) - 1, 0)
    return needed


def _xylo_recurrent_synapses(network: QuantNetwork) -> int:
    """Xylo's weight-memory figures count the recurrent weights only: the input and readout
    weights have matrices of their own (Rockpool's Xylo IMU tutorial: 31744 recurrent weights)."""
    return sum(int(np.count_nonzero(p.weights.values)) for p in network.projections if p.src == p.dst != INPUT)


def bits_needed(values: np.ndarray, family: str) -> int:
    """Weight bits a matrix needs. Loihi keeps the sign apart for single-sign matrices
    (8 bits: [0, 255] or [-255, 0]) and takes mixed-sign ones in [-256, 255] (Lava's
    bit-accurate Dense); two's complement elsewhere ([-128, 127] in 8 bits)."""
    if values.size == 0:
        return 1
    top, bottom = int(values.max(initial=0)), int(values.min(initial=0))
    if family == "loihi":
        if top > 0 and bottom < 0:
            return max(top.bit_length(), (-bottom - 1).bit_length(), 1)
        return max(top.bit_length(), (-bottom).bit_length(), 1)
    return max(top.bit_length(), (-bottom - 1).bit_length()) + 1


def speck_layer_memory(network: QuantNetwork) -> list[tuple[str, int, int, int]]:
    """Per population (one DynapCNN layer each): (name, kernel, neuron, bias) memory entries.
    A dense layer is a convolution whose kernel covers its whole input: c input features on a
    1 x 1 map, f = the population's size output features, so sinabs' sizes
    K = c * 2^(ceil(log2(kx ky)) + ceil(log2 f)) and N = f * 2^(ceil(log2 fy) + ceil(log2 fx))
    come to c * 2^ceil(log2 f) and f; c counts every source feeding the layer."""
    out = []
    for pop in network.populations:
        c = sum(network.size_of(p.src) for p in network.projections if p.dst == pop.name)
        f = pop.size
        kernel = c * 2 ** max(0, math.ceil(math.log2(f))) if f else 0
        bias = f if np.any(pop.params["bias"]) else 0
        out.append((pop.name, kernel, f, bias))
    return out


def speck_core_assignment(needs: list[tuple[int, int, int]], cores: list[tuple[int, int, int]]) -> list[int | None]:
    """A distinct core for as many layers as can have one whose kernel, neuron and bias
    memories hold them (a maximum matching by augmenting paths, layers in order, as sinabs'
    mapper finds one by max flow); None for a layer left without a core."""
    fits = [[k for k, core in enumerate(cores) if all(n <= c for n, c in zip(need, core))] for need in needs]
    owner: dict[int, int] = {}

    def place(layer: int, seen: set[int]) -> bool:
        for core in fits[layer]:
            if core in seen:
                continue
            seen.add(core)
            if core not in owner or place(owner[core], seen):
                owner[core] = layer
                return True
        return False

    for layer in range(len(needs)):
        place(layer, set())
    assignment: list[int | None] = [None] * len(needs)
    for core, layer in owner.items():
        assignment[layer] = core
    return assignment


def _speck_limits(network: QuantNetwork, part: Part, allowed: Callable[[str], int | None]) -> list[Limit]:
    limits = []
    features = max([p.size for p in network.populations] +
                   [sum(network.size_of(q.src) for q in network.projections if q.dst == p.name) for p in network.populations])
    limits.append(Limit("features per layer (input or output)", "features_max", features, allowed("features_max")))
    destinations = max((len({q.dst for q in network.projections if q.src == p.name}) for p in network.populations), default=0)
    limits.append(Limit("destination layers per layer", "destinations_max", destinations, allowed("destinations_max")))
    memories = speck_layer_memory(network)
    kernel, neuron, bias = (part.figure(name) for name in ("kernel_memory_per_core", "neuron_memory_per_core",
                                                           "bias_memory_per_core"))
    if kernel.known and neuron.known and bias.known:
        cores = list(zip(kernel.value, neuron.value, bias.value))
        placed = speck_core_assignment([m[1:] for m in memories], cores)
        limits.append(Limit("layers (one DYNAP-CNN core each, with room in its kernel, neuron and bias memories)",
                            "kernel_memory_per_core", len(memories), sum(core is not None for core in placed),
                            grows=False))
    biggest = max(memories, key=lambda m: m[1], default=None)
    if biggest is not None and kernel.known:
        limits.append(Limit(f"kernel memory entries of the largest layer ({biggest[0]})", "kernel_memory_per_core",
                            biggest[1], max(kernel.value)))
    return limits


def check_fit(network: QuantNetwork, part: Part, overrides: Mapping[str, float] | None = None) -> FitReport:
    """The limits the catalog knows for `part`, against the network as quantized."""

    def allowed(figure: str) -> int | None:
        if overrides and figure in overrides:
            return int(overrides[figure])
        fig = part.figure(figure)
        return int(fig.value) if fig.known and not isinstance(fig.value, list) else None

    chip = part.id
    limits = []
    outputs = network.population(network.output).size
    hidden = network.n_neurons - outputs
    fan_in, fan_out = _fan(network)
    family = part.attribute("family")
    fan_out_grows = True
    if family == "xylo":
        # the mapper gives a hidden neuron whose fan-out is past the limit alias neurons
        # (engine/mapping/aliases.py): they count as hidden neurons, and fan-out then fits
        fan_limit = allowed("fan_out_max")
        aliases = 0
        if fan_limit is not None and fan_out > fan_limit:
            aliases = int(aliases_needed(xylo_fan_out(network), fan_limit).sum())
            fan_out, fan_out_grows = fan_limit, False
        limits.append(Limit("hidden neurons" + (f" (with {aliases} alias neurons)" if aliases else ""),
                            "hidden_neurons", hidden + aliases, allowed("hidden_neurons")))
        synapses = 2 if any(p.synapse == 1 for p in network.projections if p.dst == "hidden") else 1
        limits.append(Limit("synapses per hidden neuron", "synapses_per_neuron", synapses,
                            allowed("synapses_per_neuron"), grows=False))
        limits.append(Limit("output neurons", "output_neurons", outputs, allowed("output_neurons")))
        fed = set()
        for proj in network.projections:
            if proj.src == INPUT:
                fed |= set(np.nonzero(proj.weights.to_dense().any(axis=0))[0].tolist())
        if allowed("input_neurons_max") is not None:
            limits.append(Limit("hidden neurons fed by the input", "input_neurons_max",
                                (max(fed) + 1) if fed else 0, allowed("input_neurons_max")))
    else:
        limits.append(Limit("neurons", "hidden_neurons", network.n_neurons, allowed("hidden_neurons")))
        if allowed("output_neurons") is not None:
            limits.append(Limit("output neurons", "output_neurons", outputs, allowed("output_neurons")))
    limits.append(Limit("input channels", "input_channels", network.n_inputs, allowed("input_channels"), grows=False))
    if family == "xylo":
        limits.append(Limit("recurrent synapses", "total_weights", _xylo_recurrent_synapses(network), allowed("total_weights")))
        bias = max((max(int(p.params["bias"].max(initial=0)), int(-p.params["bias"].min(initial=0) - 1)).bit_length() + 1
                    for p in network.populations if "bias" in p.params), default=1)
        limits.append(Limit("bias bits", "bias_bits", bias, allowed("bias_bits"), grows=False))
    else:
        limits.append(Limit("synapses", "total_weights", network.n_synapses, allowed("total_weights")))
    limits.append(Limit("fan-in per neuron", "fan_in_max", fan_in, allowed("fan_in_max")))
    limits.append(Limit("fan-out per neuron", "fan_out_max", fan_out, allowed("fan_out_max"), grows=fan_out_grows))
    per_core = allowed("neurons_per_core")
    cores = allowed("cores")
    if per_core:
        needed = sum(math.ceil(p.size / per_core) for p in network.populations)
        limits.append(Limit("cores", "cores", needed, cores))
    if family == "speck":
        limits.extend(_speck_limits(network, part, allowed))
    bits = allowed("weight_bits")
    needed_bits = max((bits_needed(p.weights.values, family) for p in network.projections), default=1)
    limits.append(Limit("weight bits", "weight_bits", needed_bits, bits, grows=False))
    return FitReport(chip, tuple(limits))
