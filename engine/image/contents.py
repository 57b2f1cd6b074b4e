"""What a `.nmc` image holds, as frozen Python data (the writer's input, the reader's output)."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping

import attrs
import numpy as np

from engine.netlist import QuantNetwork


def _strings(values: Iterable[str]) -> tuple[str, ...]:
    return tuple(values)


def _ints(values: Iterable[int]) -> tuple[int, ...]:
    return tuple(values)


@attrs.frozen
class Metadata:
    site: str
    spec_hash: str
    tool_version: str
    model_name: str
    labels: tuple[str, ...] = attrs.field(default=(), converter=_strings)


@attrs.frozen
class Target:
    chip: str
    family: str  # one of engine.netlist.FAMILIES; must equal the network's family


@attrs.frozen
class IOMap:
    input_channels: tuple[str, ...] = attrs.field(default=(), converter=_strings)
    output_labels: tuple[str, ...] = attrs.field(default=(), converter=_strings)


@attrs.frozen
class RuntimePolicy:
    """Integers only, so a firmware without floating point can apply them as stored.

    Shares are in parts per million of classified windows; rates in milli-spikes per
    neuron per second; windows in seconds."""

    learning_locked: bool = True
    class_expected_ppm: tuple[int, ...] = attrs.field(default=(), converter=_ints)
    class_tolerance_ppm: tuple[int, ...] = attrs.field(default=(), converter=_ints)
    spike_rate_mhz: int = 0
    spike_rate_tolerance_mhz: int = 0
    dead_neuron_window_s: int = 0
    sanity_window_s: int = 0


@attrs.frozen
class StateWord:
    name: str
    bits: int
    signed: bool
    count: int = 1  # words of this kind per neuron (e.g. one synaptic current per synapse)


def _words(values: Iterable[StateWord]) -> tuple[StateWord, ...]:
    return tuple(values)


@attrs.frozen
class PopulationState:
    population: str
    words: tuple[StateWord, ...] = attrs.field(converter=_words)


def _population_states(values: Iterable[PopulationState]) -> tuple[PopulationState, ...]:
    return tuple(values)


@attrs.frozen
class StateLayout:
    """Which state words a snapshot of each population holds. A firmware stores `digest`
    with every snapshot and refuses to load a snapshot whose digest differs."""

    version: int
    populations: tuple[PopulationState, ...] = attrs.field(converter=_population_states)

    def canonical_text(self) -> str:
        lines = [f"nmc-state-layout {self.version}"]
        for pop in self.populations:
            lines.append(f"population {pop.population}")
            for w in pop.words:
                lines.append(f"  word {w.name} bits={w.bits} signed={int(w.signed)} count={w.count}")
        return "\n".join(lines) + "\n"

    @property
    def digest(self) -> bytes:
        return hashlib.sha256(self.canonical_text().encode("utf-8")).digest()


def state_layout_for(network: QuantNetwork, version: int = 1) -> StateLayout:
    """The state each family's neuron keeps between steps (targets/*.md word widths)."""
    pops: list[PopulationState] = []
    for pop in network.populations:
        words: tuple[StateWord, ...]
        if network.family == "xylo":
            dash_syn = pop.params.get("dash_syn")
            n_syn = int(dash_syn.shape[1]) if dash_syn is not None and dash_syn.ndim == 2 else 1
            spike_bits = 1 if pop.name == network.output else 5  # counts capped at 1 and 31
            words = (StateWord("isyn", 16, True, n_syn), StateWord("vmem", 16, True),
                     StateWord("spikes", spike_bits, False))
        elif network.family == "loihi":
            words = (StateWord("u", 24, True), StateWord("v", 24, True))
        elif network.family == "speck":
            words = (StateWord("v", 16, True),)  # no synaptic current; spikes do not outlive their step
        else:
            words = (StateWord("i", 32, True), StateWord("v", 32, True))
        if network.readout == "membrane" and pop.name == network.output:
            # the window's running peak of each readout membrane, which decides the class: a
            # firmware generated for a spike readout holds another layout and refuses the image
            words += (StateWord("vpeak", 32, True),)
        pops.append(PopulationState(pop.name, words))
    return StateLayout(version, tuple(pops))


@attrs.frozen(eq=False)
class Thermal:
    """Temperature compensation of an analog target (docs/analog.md): the site's range cut
    into bands at `edges_centi_c` (integer centi-degrees Celsius, ascending, bands + 1 of
    them), the hysteresis in centi-kelvin, and per population the threshold to program in
    each band, (bands, size). Images without it stay format 2.0 byte for byte."""

    edges_centi_c: tuple[int, ...] = attrs.field(converter=_ints)
    hysteresis_centi: int
    thresholds: Mapping[str, np.ndarray]  # population -> int64 (bands, size), in network order

    @property
    def bands(self) -> int:
        return len(self.edges_centi_c) - 1

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Thermal):
            return NotImplemented
        return (self.edges_centi_c == other.edges_centi_c and self.hysteresis_centi == other.hysteresis_centi
                and list(self.thresholds) == list(other.thresholds)
                and all(np.array_equal(self.thresholds[k], other.thresholds[k]) for k in self.thresholds))


def _freeze_arrays(value: Mapping[str, np.ndarray]) -> Mapping[str, np.ndarray]:
    frozen = {}
    for name in sorted(value):
        array = np.array(value[name], copy=True)
        array.setflags(write=False)
        frozen[name] = array
    return frozen


@attrs.frozen(eq=False)
class ImageContents:
    metadata: Metadata
    target: Target
    network: QuantNetwork
    io: IOMap = IOMap()
    policy: RuntimePolicy = RuntimePolicy()
    # named by stage, sorted by name in the image; integer arrays, dtype kept exactly
    preprocessing: Mapping[str, np.ndarray] = attrs.field(factory=dict, converter=_freeze_arrays)
    state_layout: StateLayout | None = None  # None: state_layout_for(network)
    thermal: Thermal | None = None  # temperature compensation bands (format 2.1), analog targets only

    @property
    def resolved_state_layout(self) -> StateLayout:
        return self.state_layout if self.state_layout is not None else state_layout_for(self.network)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, ImageContents):
            return NotImplemented
        return (
            self.metadata == other.metadata
            and self.target == other.target
            and self.network == other.network
            and self.io == other.io
            and self.policy == other.policy
            and self.resolved_state_layout == other.resolved_state_layout
            and self.thermal == other.thermal
            and list(self.preprocessing) == list(other.preprocessing)
            and all(
                a.dtype.newbyteorder("<") == b.dtype.newbyteorder("<") and a.shape == b.shape
                and np.array_equal(a, b)
                for a, b in zip(self.preprocessing.values(), other.preprocessing.values())
            )
        )
