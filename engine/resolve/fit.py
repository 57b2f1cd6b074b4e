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
    from engine.resolve.floatnet import ConvShape

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


def ceil_log2(n: int) -> int:
    """ceil(log2 n) for n >= 1, in integers (0 for n = 1)."""
    return max(0, (int(n) - 1).bit_length())


def kernel_entries(c: int, kernel: tuple[int, int], f: int) -> int:
    """Kernel-memory entries of a DynapCNN layer: c * 2^(ceil(log2(ky kx)) + ceil(log2 f))
    (sinabs 3.1.3 `DynapcnnLayer.memory_summary`: the address is the input channel with the
    kernel position and the output feature each rounded up to a power of two)."""
    return int(c) << (ceil_log2(kernel[0] * kernel[1]) + ceil_log2(f))


def neuron_entries(f: int, fy: int, fx: int) -> int:
    """Neuron-memory entries: f * 2^(ceil(log2 fy) + ceil(log2 fx)) for f features on an
    fy x fx output map (sinabs' code rounds each side up to a power of two; its overview page
    gives the unrounded f fy fx)."""
    return int(f) << (ceil_log2(fy) + ceil_log2(fx))


@attrs.frozen
class SpeckLayer:
    """One population as one DynapCNN layer: its memory entries and the arithmetic behind them."""

    name: str
    kernel: int
    neuron: int
    bias: int
    kernel_side: int  # the kernel's larger side
    channels: int  # input features, over every source
    features: int  # output features
    kernel_how: str
    neuron_how: str
    varying_bias: int = 0  # features whose bias is not one value over their map


def speck_layers(network: QuantNetwork, convs: Mapping[tuple[str, str], ConvShape] | None = None) -> list[SpeckLayer]:
    """Per population, in network order, its DynapCNN layer. `convs` gives the convolution each
    (source, destination) projection was composed from (FloatNet.conv_shapes); a projection
    without one is a dense layer, a convolution whose kernel covers its whole input: the
    source's neurons as channels of a 1 x 1 map, and the population's as features of a 1 x 1
    output. A layer fed by several sources stores each source's kernel."""
    convs = convs or {}
    out = []
    for pop in network.populations:
        shapes = [(proj, convs.get((proj.src, pop.name))) for proj in network.projections if proj.dst == pop.name]
        out_shape = next((conv.out_shape for _, conv in shapes if conv is not None), (pop.size, 1, 1))
        f, fy, fx = out_shape
        kernel, side, channels, hows = 0, 1, 0, []
        for proj, conv in shapes:
            c, k = (conv.in_shape[0], conv.kernel) if conv is not None else (network.size_of(proj.src), (1, 1))
            kernel += kernel_entries(c, k, f)
            side, channels = max(side, *k), channels + c
            hows.append(f"{c} x 2^({ceil_log2(k[0] * k[1])} + {ceil_log2(f)}): {c} channels, {k[0]}x{k[1]} kernel, "
                        f"{f} features")
        bias = f if np.any(pop.params["bias"]) else 0
        varying = 0
        if f * fy * fx == pop.size:  # a bias entry per feature: every neuron of a feature's map shares it
            per_feature = np.asarray(pop.params["bias"]).reshape(f, fy * fx)
            varying = int(np.count_nonzero(per_feature.min(axis=1) != per_feature.max(axis=1)))
        neuron_how = f"{f} x 2^({ceil_log2(fy)} + {ceil_log2(fx)}): {f} features on {fy}x{fx}"
        out.append(SpeckLayer(pop.name, kernel, neuron_entries(f, fy, fx), bias, side, channels, f,
                              " + ".join(hows) or "no input", neuron_how, varying))
    return out


def speck_layer_memory(network: QuantNetwork, convs: Mapping[tuple[str, str], ConvShape] | None = None
                       ) -> list[tuple[str, int, int, int]]:
    """Per population: (name, kernel, neuron, bias) memory entries of its DynapCNN layer."""
    return [(layer.name, layer.kernel, layer.neuron, layer.bias) for layer in speck_layers(network, convs)]


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


def _speck_limits(network: QuantNetwork, part: Part, allowed: Callable[[str], int | None],
                  convs: Mapping[tuple[str, str], ConvShape] | None) -> list[Limit]:
    layers = speck_layers(network, convs)
    limits = []
    features = max([max(layer.features, layer.channels) for layer in layers], default=0)
    limits.append(Limit("features per layer (input or output)", "features_max", features, allowed("features_max")))
    if allowed("kernel_size_max") is not None:
        widest = max(layers, key=lambda layer: layer.kernel_side, default=None)
        if widest is not None:
            limits.append(Limit(f"kernel side of layer '{widest.name}'", "kernel_size_max", widest.kernel_side,
                                allowed("kernel_size_max")))
    destinations = max((len({q.dst for q in network.projections if q.src == p.name}) for p in network.populations), default=0)
    limits.append(Limit("destination layers per layer", "destinations_max", destinations, allowed("destinations_max")))
    kernel, neuron, bias = (part.figure(name) for name in ("kernel_memory_per_core", "neuron_memory_per_core",
                                                           "bias_memory_per_core"))
    if not (kernel.known and neuron.known and bias.known):
        return limits
    cores = list(zip(kernel.value, neuron.value, bias.value))
    placed = speck_core_assignment([(layer.kernel, layer.neuron, layer.bias) for layer in layers], cores)
    homeless = []
    for layer, core in zip(layers, placed):
        limits.extend(_speck_layer_limits(layer, cores))
        holds = [k for k, room in enumerate(cores) if layer.kernel <= room[0] and layer.neuron <= room[1]
                 and layer.bias <= room[2]]
        if core is None and holds:
            homeless.append(f"'{layer.name}' (cores {_core_list(holds)} hold it, all taken)")
    limits.append(Limit("kernel memory entries over all layers", "total_weights", sum(layer.kernel for layer in layers),
                        allowed("total_weights")))
    left = f"; left without one: {', '.join(homeless)}" if homeless else ""
    limits.append(Limit(f"layers (one DYNAP-CNN core each, with room in its kernel, neuron and bias memories{left})",
                        "kernel_memory_per_core", len(layers), sum(core is not None for core in placed), grows=False))
    return limits


def _core_list(cores: list[int]) -> str:
    return ", ".join(str(k) for k in cores)


def _speck_layer_limits(layer: SpeckLayer, cores: list[tuple[int, int, int]]) -> list[Limit]:
    """A layer's kernel, neuron and bias memories against the cores. Alone each is held
    against the largest core; a layer that fits no core although each memory fits some
    (a big kernel needs a core whose neuron memory is small) is held against the largest
    kernel memory among the cores that hold its neurons and biases."""
    biggest = [max(core[i] for core in cores) for i in range(3)]
    limits = [
        Limit(f"kernel memory entries of layer '{layer.name}' ({layer.kernel_how})", "kernel_memory_per_core",
              layer.kernel, biggest[0]),
        Limit(f"neuron memory entries of layer '{layer.name}' ({layer.neuron_how})", "neuron_memory_per_core",
              layer.neuron, biggest[1]),
        Limit(f"bias memory entries of layer '{layer.name}' (one per feature)", "bias_memory_per_core", layer.bias,
              biggest[2]),
    ]
    if layer.varying_bias:
        limits.append(Limit(f"features of layer '{layer.name}' whose bias varies over the map (a DynapCNN layer holds "
                            "one bias per feature)", "bias_memory_per_core", layer.varying_bias, 0, grows=False))
    alone = all(limit.ok for limit in limits)
    if alone and not any(layer.kernel <= k and layer.neuron <= n and layer.bias <= b for k, n, b in cores):
        room = [k for k, (_, n, b) in enumerate(cores) if layer.neuron <= n and layer.bias <= b]
        limits.append(Limit(f"kernel memory entries of layer '{layer.name}' in a core with room for its "
                            f"{layer.neuron} neurons (cores {_core_list(room)})", "kernel_memory_per_core",
                            layer.kernel, max((cores[k][0] for k in room), default=0)))
    return limits


def check_fit(network: QuantNetwork, part: Part, overrides: Mapping[str, float] | None = None,
              convs: Mapping[tuple[str, str], ConvShape] | None = None) -> FitReport:
    """The limits the catalog knows for `part`, against the network as quantized. `convs`:
    the convolution behind each projection (FloatNet.conv_shapes), which sizes Speck's layers."""

    def allowed(figure: str) -> int | None:
        if overrides and figure in overrides:
            return int(overrides[figure])
        fig = part.figure(figure)
        return int(fig.value) if fig.known and not isinstance(fig.value, list) else None

    chip = part.id
    limits = []
    outputs = network.population(network.output).size
    hidden = network.n_neurons - outputs
    family = part.attribute("family")
    fan_in, fan_out = _fan(network) if family != "speck" else (0, 0)  # Speck's are held by its layer limits
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
    channels = network.n_inputs
    if family == "speck":  # a convolution reads its input as channels of a map: the channels are limited
        shapes = convs or {}
        channels = max((shapes[(INPUT, p.dst)].in_shape[0] if (INPUT, p.dst) in shapes else network.n_inputs
                        for p in network.projections if p.src == INPUT), default=network.n_inputs)
    limits.append(Limit("input channels", "input_channels", channels, allowed("input_channels"), grows=False))
    if family == "xylo":
        limits.append(Limit("recurrent synapses", "total_weights", _xylo_recurrent_synapses(network), allowed("total_weights")))
        bias = max((max(int(p.params["bias"].max(initial=0)), int(-p.params["bias"].min(initial=0) - 1)).bit_length() + 1
                    for p in network.populations if "bias" in p.params), default=1)
        limits.append(Limit("bias bits", "bias_bits", bias, allowed("bias_bits"), grows=False))
    elif family != "speck":
        limits.append(Limit("synapses", "total_weights", network.n_synapses, allowed("total_weights")))
    if family != "speck":
        # a DynapCNN layer's fan-in and fan-out follow from its features, kernel and two
        # destinations, which _speck_limits holds; its kernel is shared over the map, so a
        # convolution's dense synapses are no measure of its memory
        limits.append(Limit("fan-in per neuron", "fan_in_max", fan_in, allowed("fan_in_max")))
        limits.append(Limit("fan-out per neuron", "fan_out_max", fan_out, allowed("fan_out_max"), grows=fan_out_grows))
    per_core = allowed("neurons_per_core")
    cores = allowed("cores")
    if per_core:
        needed = sum(math.ceil(p.size / per_core) for p in network.populations)
        limits.append(Limit("cores", "cores", needed, cores))
    if family == "speck":
        limits.extend(_speck_limits(network, part, allowed, convs))
    bits = allowed("weight_bits")
    needed_bits = max((bits_needed(p.weights.values, family) for p in network.projections), default=1)
    limits.append(Limit("weight bits", "weight_bits", needed_bits, bits, grows=False))
    return FitReport(chip, tuple(limits))
