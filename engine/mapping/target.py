"""What one neuro-core can hold and do, from the catalog's chip figures."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import attrs

if TYPE_CHECKING:
    from engine.catalog import Part

# Cycle costs per operation for targets whose vendors publish none: an event-driven core
# spends a few cycles per synaptic event (read weight, add) and tens per neuron update.
DEFAULT_CYCLES = {"synaptic_op": 2, "neuron_update": 16, "spike_sent": 8, "input_event": 4}
DEFAULT_CLOCK_HZ = 100e6
DUTY_LIMIT = 0.7


@attrs.frozen
class CoreSpec:
    neurons_per_core: int
    synapses_per_core: int  # synapse memory in bits / bits per synapse
    input_axons: int  # distinct source neurons (or input channels) a core can receive from
    output_axons: int  # (neuron, destination core) pairs a core's neurons may send to
    mesh_width: int
    mesh_height: int
    clock_hz: float
    dt: float
    cycles_synaptic_op: int = DEFAULT_CYCLES["synaptic_op"]
    cycles_neuron_update: int = DEFAULT_CYCLES["neuron_update"]
    cycles_spike_sent: int = DEFAULT_CYCLES["spike_sent"]
    duty_limit: float = DUTY_LIMIT
    multicast: bool = True
    routing_entries: int = 1 << 16  # entries in one router's table (one per route group passing through)

    @property
    def max_cores(self) -> int:
        return self.mesh_width * self.mesh_height

    @property
    def cycle_budget(self) -> float:
        return self.clock_hz * self.dt * self.duty_limit


def core_spec_from_catalog(part: Part, overrides: Mapping[str, float] | None = None, *, dt: float) -> CoreSpec:
    """Unknown per-core figures fall back to what the chip's totals imply, then to one core."""

    def figure(name: str) -> Any:  # a figure's SI value (a number, or a list), None when unknown
        if overrides and name in overrides:
            return overrides[name]
        fig = part.figure(name)
        return fig.si() if fig.known else None

    cores = int(figure("cores") or 1)
    neurons = figure("neurons_per_core") or figure("hidden_neurons") or 1024
    xylo = part.attribute("family") == "xylo"
    if xylo:
        # Xylo's readout neurons are a population of their own, not hidden capacity
        neurons = (figure("hidden_neurons") or neurons) + (figure("output_neurons") or 0)
    weight_bits = int(figure("weight_bits") or 8)
    index_bits = max(1, math.ceil(math.log2(max(neurons, 2))))
    memory_bits = figure("synapse_memory_per_core")
    if xylo:
        # its weight memory figure counts recurrent weights only (input and readout weights have
        # matrices of their own); fit checks it, with the synapses it really counts
        synapses = 1 << 20
    elif memory_bits is not None:
        synapses = int(memory_bits * 8 // (weight_bits + index_bits))  # KiB figures are in bytes
    else:
        total = figure("total_weights")
        synapses = int(total // cores) if total else 1 << 20
    width = int(figure("mesh_width") or cores)
    height = int(figure("mesh_height") or 1)
    if cores > 1:
        # on the meshes (Loihi, TrueNorth, the reference target) fan_in_max / fan_out_max
        # are the core's input and output axons; TrueNorth's "one axon per neuron" is
        # per neuron, so a core has that many per neuron it holds
        input_axons = int(figure("fan_in_max") or 1 << 16)
        fan_out = int(figure("fan_out_max") or 1 << 16)
        output_axons = fan_out * int(neurons) if fan_out < neurons else fan_out
    else:
        # a single core (Xylo) is wired to every input channel and hidden neuron; its
        # fan-in figure is per neuron and checked by fit, not by the mapper
        input_axons = int((figure("input_channels") or 0) + (figure("hidden_neurons") or neurons))
        output_axons = 1 << 16
    entries = figure("routing_entries")
    # the kernel's per-event cycle model (engine.verify.cycles) reads the same figures, so
    # the duty the mapper packs for is the one verification counts
    cycles = {"cycles_synaptic_op": figure("cycles_per_synaptic_op"), "cycles_neuron_update": figure("cycles_per_neuron_update"),
              "cycles_spike_sent": figure("cycles_per_spike")}
    known_cycles: dict[str, Any] = {name: int(value) for name, value in cycles.items() if value is not None}
    return CoreSpec(
        neurons_per_core=int(neurons), synapses_per_core=synapses, input_axons=input_axons, output_axons=output_axons,
        mesh_width=width, mesh_height=height, clock_hz=float(figure("clock") or DEFAULT_CLOCK_HZ), dt=dt,
        routing_entries=int(entries) if entries else 1 << 16,
        **known_cycles)


def benchmark_core(dt: float = 1e-3, mesh: int = 64) -> CoreSpec:
    """The benchmark's core: 256 neurons and 64K synapses, 4,096 input and output axons and
    4,096 routing entries per router, on a mesh large enough."""
    return CoreSpec(neurons_per_core=256, synapses_per_core=65536, input_axons=4096, output_axons=4096,
                    mesh_width=mesh, mesh_height=mesh, clock_hz=DEFAULT_CLOCK_HZ, dt=dt, routing_entries=4096)
