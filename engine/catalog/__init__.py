"""The part catalog: chips, sensors, MCUs, radios and cells, each figure with its source.

Built-in parts live in engine/catalog/data/*.yaml; a spec repository may add or override
parts with files of the same shape in its own catalog folder. A figure whose value is null
was not found in any checked source; `Part.require` refuses to use it unless the spec
supplies it, so no unverified number reaches a power or fit verdict silently.
"""

from __future__ import annotations

import difflib
import itertools
import math
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import attrs

from engine.diagnostics import Diagnostic, Origin
from engine.spec.units import DIMENSIONS, UnitError, parse_quantity

DATA_DIR = Path(__file__).parent / "data"

KINDS = ("chips", "sensors", "mcus", "radios", "cells")
KIND_SINGULAR = {"chips": "chip", "sensors": "sensor", "mcus": "MCU", "radios": "radio", "cells": "cell"}
# `assumed`: nothing published for this part; nmspec carries a figure over from comparable
# circuits (its note says which) so a model can run, and every output built on it says so.
VERIFICATION_LEVELS = ("primary", "secondary", "derived", "defined", "assumed", "unverified")
FAMILIES = ("xylo", "loihi", "lif", "speck")
IMPLEMENTATIONS = ("digital", "mixed-signal", "analog")
# How true nmspec's kernel is to a chip: `vendor-verified` (a vendor's bit-accurate simulator
# agrees with the kernel in the test suite), `documented` (built from public documentation,
# nothing of the vendor's to compare with), `stand-in` (another family's arithmetic). A chip
# that does not say is a stand-in: nothing vouches for it.
FIDELITY_LEVELS = ("vendor-verified", "documented", "stand-in")

# Figure name -> dimension (see engine.spec.units) or "count" / "bool" / "list" / "table".
# A "table" is a list of [temperature in C, value] pairs in rising temperature (the value in
# the figure's unit); it is read from catalog files only, never from a spec's overrides.
FIGURE_DIMENSIONS: dict[str, str] = {
    # chips
    "input_channels": "count", "hidden_neurons": "count", "output_neurons": "count",
    "synapses_per_neuron": "count", "fan_in_max": "count", "fan_out_max": "count",
    "total_weights": "count", "weight_bits": "count", "state_bits": "count", "cores": "count",
    "mesh_width": "count", "mesh_height": "count", "neurons_per_core": "count",
    "input_neurons_max": "count", "readout_neurons_max": "count", "bias_bits": "count",
    "synapse_memory_per_core": "size", "clock": "frequency", "idle_power": "power",
    "active_power": "power", "dynamic_power": "power", "sleep_power": "power", "wake_energy": "energy",
    "inference_energy": "energy", "energy_per_synaptic_op": "energy",
    "energy_per_neuron_update": "energy", "on_chip_learning": "bool", "graded_spikes": "bool",
    "membrane_readout": "bool",
    "cycles_per_input_event": "count", "cycles_per_synaptic_op": "count",
    "cycles_per_neuron_update": "count", "cycles_per_spike": "count", "cycles_per_hop": "count",
    "features_max": "count", "destinations_max": "count", "kernel_size_max": "count", "kernel_memory_per_core": "list",
    "neuron_memory_per_core": "list", "bias_memory_per_core": "list", "latency_per_event": "time",
    # analog and mixed-signal drift (docs/analog.md): temperature coefficients per kelvin and
    # per-neuron or per-synapse spread (one standard deviation, relative)
    "drift_reference_temperature": "temperature", "tempco_time_constant": "tempco", "tempco_threshold": "tempco",
    "tempco_weight": "tempco", "mismatch_time_constant": "ratio", "mismatch_threshold": "ratio",
    "mismatch_weight": "ratio",
    # sensors
    "axes": "count", "odr_min": "frequency", "odr_max": "frequency", "ranges": "acceleration",
    "supply_voltage": "voltage", "active_current": "current", "standby_current": "current",
    "adc_bits": "count",
    # MCUs
    "run_current_per_mhz": "current", "sleep_current": "current", "clock_max": "frequency",
    "flash": "size", "ram": "size",
    # radios
    "tx_current_22dbm": "current", "tx_current_14dbm": "current", "rx_current": "current",
    "bandwidth": "frequency", "duty_cycle_limit": "ratio",
    # cells
    "nominal_voltage": "voltage", "capacity": "charge", "self_discharge": "ratio",
    "low_drain_derating": "ratio", "operating_temperature": "temperature", "service_life_max": "time",
    "capacity_vs_temperature": "table", "self_discharge_vs_temperature": "table",
}
TABLE_FIGURES = tuple(sorted(name for name, dimension in FIGURE_DIMENSIONS.items() if dimension == "table"))


@attrs.frozen
class Figure:
    name: str
    value: Any  # as written: number, list of numbers, bool, or None when unverified
    unit: str | None
    verified: str
    source: tuple[str, ...] = ()
    note: str | None = None
    estimate: bool = False
    uncertainty: Any = None  # +- in the figure's unit, when the catalog states one

    @property
    def known(self) -> bool:
        return self.value is not None

    def si(self) -> Any:
        """The value in SI units (lists element-wise); None when unknown."""
        if self.value is None:
            return None
        dimension = FIGURE_DIMENSIONS.get(self.name, "count")
        if dimension == "table":
            scale = 0.01 if self.unit == "%" else 1.0
            return [(float(t) + 273.15, float(v) * scale) for t, v in self.value]
        if dimension in ("count", "bool") or self.unit is None:
            return self.value
        if isinstance(self.value, list):
            return [parse_quantity(f"{v}{self.unit}", dimension) for v in self.value]
        return parse_quantity(f"{self.value}{self.unit}", dimension)

    def describe(self) -> str:
        if self.value is None:
            return "unknown"
        unit = self.unit or ""
        if FIGURE_DIMENSIONS.get(self.name) == "table":
            return ", ".join(f"{v:g}{unit} at {t:g} C" for t, v in self.value)
        return f"{self.value}{unit}"

    def uncertainty_si(self) -> float | None:
        """The stated uncertainty in SI units (a difference: no offset applied), or None."""
        if self.uncertainty is None:
            return None
        dimension = FIGURE_DIMENSIONS.get(self.name, "count")
        if dimension in ("count", "bool") or self.unit is None:
            return float(self.uncertainty)
        scale = parse_quantity(f"1{self.unit}", dimension) - parse_quantity(f"0{self.unit}", dimension)
        return float(self.uncertainty) * scale


@attrs.frozen
class Part:
    kind: str  # "chips", "sensors", ...
    id: str
    name: str
    vendor: str
    attributes: Mapping[str, Any]  # family, implementation, type, core, transport, chemistry
    figures: Mapping[str, Figure]
    sources: Mapping[str, str]
    origin: str  # the catalog file that defined it

    def figure(self, name: str) -> Figure:
        found = self.figures.get(name)
        if found is None:
            return Figure(name, None, None, "unverified", note="not in the catalog")
        return found

    def attribute(self, name: str) -> Any:
        return self.attributes.get(name)

    def require(self, name: str, overrides: Mapping[str, float] | None = None) -> float:
        """The SI value of figure `name`, from `overrides` first; raises MissingFigure."""
        if overrides and name in overrides:
            return overrides[name]
        figure = self.figure(name)
        if figure.value is None:
            raise MissingFigure(self, name, figure)
        value: float = figure.si()  # a required figure is one number
        return value

    @property
    def fidelity(self) -> str:
        return str(self.attributes.get("fidelity") or "stand-in")

    @property
    def fidelity_basis(self) -> str:
        return str(self.attributes.get("fidelity_basis") or "the catalog does not say how this target was checked")

    def citations(self, name: str) -> tuple[str, ...]:
        return tuple(self.sources.get(key, key) for key in self.figure(name).source)


class MissingFigure(LookupError):
    """A figure a computation needs is unverified (null) and the spec does not supply it."""

    def __init__(self, part: Part, name: str, figure: Figure) -> None:
        self.part = part
        self.name = name
        self.figure = figure
        note = f" ({figure.note})" if figure.note else ""
        dimension = FIGURE_DIMENSIONS.get(name, "count")
        example = DIMENSIONS[dimension].example if dimension in DIMENSIONS else "1"
        self.message = (
            f"{KIND_SINGULAR[part.kind]} {part.id}: figure '{name}' is not verified in any source{note}"
        )
        self.example = example
        self.hint = self.hint_with(None)
        super().__init__(self.message)

    def hint_with(self, catalog: Catalog | None) -> str:
        """Where to supply the figure; with `catalog`, the example value is the same figure of
        a part of the same kind that has it verified (a datasheet order of magnitude), not
        a placeholder of the right unit."""
        example, like = self.example, ""
        if catalog is not None:
            for other in catalog.ids(self.part.kind):
                figure = catalog.part(self.part.kind, other).figure(self.name)
                if other != self.part.id and figure.known and not isinstance(figure.value, list) and figure.unit:
                    example, like = figure.describe(), f" (the {other}'s datasheet figure; use the {self.part.id}'s own)"
                    break
        return (f"supply it in the spec ({_override_key(self.part.kind)}: {{{self.name}: {example}}}){like} "
                "or in a catalog file of your repository, with its source")


def _override_key(kind: str) -> str:
    return {"chips": "target.overrides", "mcus": "target.mcu_overrides", "sensors": "sensor.overrides",
            "radios": "power.radio.overrides", "cells": "power.battery.overrides"}[kind]


@attrs.frozen
class Catalog:
    parts: Mapping[str, Mapping[str, Part]]  # kind -> id -> part

    def ids(self, kind: str) -> tuple[str, ...]:
        return tuple(sorted(self.parts.get(kind, {})))

    def get(self, kind: str, part_id: str) -> Part | None:
        return self.parts.get(kind, {}).get(part_id)

    def part(self, kind: str, part_id: str) -> Part:
        found = self.get(kind, part_id)
        if found is None:
            raise KeyError(f"no {KIND_SINGULAR[kind]} '{part_id}' in the catalog")
        return found

    def suggest(self, kind: str, part_id: str) -> str | None:
        close = difflib.get_close_matches(str(part_id), self.ids(kind), n=1, cutoff=0.6)
        return close[0] if close else None


class CatalogError(Exception):
    def __init__(self, diagnostics: list[Diagnostic]) -> None:
        super().__init__("; ".join(d.message for d in diagnostics))
        self.diagnostics = diagnostics


def _figure(name: str, raw: Mapping[str, Any]) -> Figure:
    source = raw.get("source", ())
    if isinstance(source, str):
        source = (source,)
    return Figure(
        name=name,
        value=raw.get("value"),
        unit=raw.get("unit"),
        verified=raw.get("verified", "unverified"),
        source=tuple(source),
        note=raw.get("note"),
        estimate=bool(raw.get("estimate", False)),
        uncertainty=raw.get("uncertainty"),
    )


def parts_from_data(data: Mapping[str, Any], origin: str) -> dict[str, dict[str, Part]]:
    out: dict[str, dict[str, Part]] = {}
    for kind in KINDS:
        for part_id, raw in (data.get(kind) or {}).items():
            attributes = {k: v for k, v in raw.items() if k not in ("name", "vendor", "figures", "sources")}
            figures = {name: _figure(name, fig) for name, fig in (raw.get("figures") or {}).items()}
            out.setdefault(kind, {})[part_id] = Part(
                kind=kind,
                id=part_id,
                name=raw.get("name", part_id),
                vendor=raw.get("vendor", ""),
                attributes=attributes,
                figures=figures,
                sources=dict(raw.get("sources") or {}),
                origin=origin,
            )
    return out


def check_figures(data: Mapping[str, Any], origin_of: Callable[[str], Origin]) -> list[Diagnostic]:
    """Unit and verification checks the catalog schema cannot express."""
    diagnostics: list[Diagnostic] = []
    for kind in KINDS:
        for part_id, raw in (data.get(kind) or {}).items():
            sources = raw.get("sources") or {}
            for name, fig in (raw.get("figures") or {}).items():
                pointer = f"/{kind}/{part_id}/figures/{name}"
                where = origin_of(pointer)
                value = fig.get("value")
                if value is None and fig.get("verified") not in ("unverified",):
                    diagnostics.append(Diagnostic.at(where, "NM220", f"{kind}.{part_id}.figures.{name}: a null value must be marked verified: unverified", path=pointer))
                if value is not None and fig.get("verified") == "unverified":
                    diagnostics.append(Diagnostic.at(where, "NM220", f"{kind}.{part_id}.figures.{name}: an unverified figure must have value null", path=pointer,
                                                     hint="mark it primary, secondary, derived or defined with its source once checked"))
                if value is not None and fig.get("verified") == "assumed" and not fig.get("note"):
                    diagnostics.append(Diagnostic.at(where, "NM221", f"{kind}.{part_id}.figures.{name}: an assumed figure needs a note saying what it is carried over from", path=pointer))
                if value is not None and fig.get("verified") in ("primary", "secondary") and not fig.get("source"):
                    diagnostics.append(Diagnostic.at(where, "NM221", f"{kind}.{part_id}.figures.{name}: a {fig.get('verified')} figure needs a source", path=pointer))
                src = fig.get("source", ())
                for key in [src] if isinstance(src, str) else src:
                    if key not in sources:
                        diagnostics.append(Diagnostic.at(where, "NM221", f"{kind}.{part_id}.figures.{name}: source '{key}' is not in the part's sources", path=pointer))
                dimension = FIGURE_DIMENSIONS.get(name)
                if dimension == "table" and value is not None and not _is_table(value):
                    diagnostics.append(Diagnostic.at(where, "NM202", f"{kind}.{part_id}.figures.{name}: must be a list of "
                                                                      "[temperature in C, value] pairs in rising temperature",
                                                     path=pointer, hint="e.g. [[-40, 70], [20, 100]] with unit: \"%\""))
                if dimension in DIMENSIONS and value is not None:
                    unit = fig.get("unit")
                    try:
                        for v in value if isinstance(value, list) else [value]:
                            parse_quantity(f"{v}{unit or ''}", dimension)
                    except UnitError as exc:
                        diagnostics.append(Diagnostic.at(where, "NM201", f"{kind}.{part_id}.figures.{name}: {exc.message}", path=pointer, hint=exc.hint))
                if isinstance(value, (int, float)) and not isinstance(value, bool) and not math.isfinite(value):
                    diagnostics.append(Diagnostic.at(where, "NM202", f"{kind}.{part_id}.figures.{name}: must be a finite number", path=pointer))
    return diagnostics


def _is_table(value: Any) -> bool:
    if not isinstance(value, list) or not value:
        return False
    if not all(isinstance(row, list) and len(row) == 2 and all(isinstance(x, (int, float)) and not isinstance(x, bool)
                                                               and math.isfinite(x) for x in row) for row in value):
        return False
    return all(a[0] < b[0] for a, b in itertools.pairwise(value))


def catalog_files(extra_dirs: tuple[Path, ...] = ()) -> list[Path]:
    files = sorted(DATA_DIR.glob("*.yaml"))
    for folder in extra_dirs:
        files += sorted(Path(folder).glob("*.yaml")) + sorted(Path(folder).glob("*.yml"))
    return files


def load_catalog(extra_dirs: tuple[Path, ...] | list[Path] = (), *, display: Callable[[Path], str] = str) -> Catalog:
    """Built-in parts, then each extra folder in order (a later part replaces an earlier one).

    Raises CatalogError with diagnostics when a catalog file is malformed.
    """
    from engine.catalog.validate import read_catalog_file  # schema checks need the schema loader

    parts: dict[str, dict[str, Part]] = {kind: {} for kind in KINDS}
    problems: list[Diagnostic] = []
    for path in catalog_files(tuple(Path(d) for d in extra_dirs)):
        data, diagnostics = read_catalog_file(path, display(path))
        problems += diagnostics
        if data is None or diagnostics:
            continue
        for kind, by_id in parts_from_data(data, display(path)).items():
            parts[kind].update(by_id)
    if problems:
        raise CatalogError(problems)
    return Catalog({kind: dict(sorted(by_id.items())) for kind, by_id in parts.items()})


_BUILTIN: Catalog | None = None


def builtin_catalog() -> Catalog:
    global _BUILTIN
    if _BUILTIN is None:
        _BUILTIN = load_catalog()
    return _BUILTIN


__all__ = ["FIDELITY_LEVELS", "TABLE_FIGURES", "Catalog", "CatalogError", "Figure", "MissingFigure", "Origin", "Part", "builtin_catalog", "load_catalog"]
