"""The spec as typed, frozen data: every quantity an SI float, every section a class,
every closed set of words a Literal, the schema's defaults applied.

`site_spec(data)` structures the merged, defaulted spec with cattrs. Field names follow
the spec's keys (a field whose key is not a Python name says so in its metadata), and a
quantity field carries its dimension in its type (`Annotated[float, Dim("frequency")]`),
which is how the converter knows how to parse it. A test walks these classes and the JSON
Schema side by side, so the two cannot drift apart.

A field's place in the files it came from is its JSON pointer in the document (the field
path with spec keys, e.g. `/power/battery/lifetime`): `SpecDocument.at(pointer, ...)`
turns it into a diagnostic at that file, line and column.
"""

from __future__ import annotations

import types
from collections.abc import Mapping
from typing import Annotated, Any, Literal, Union, get_args, get_origin

import attrs
import cattrs

from engine.spec.units import parse_quantity


@attrs.frozen
class Dim:
    """Marks a float field as a quantity of this dimension (engine.spec.units)."""

    name: str


Hz = Annotated[float, Dim("frequency")]
Seconds = Annotated[float, Dim("time")]
Watts = Annotated[float, Dim("power")]
Ratio = Annotated[float, Dim("ratio")]
Celsius = Annotated[float, Dim("temperature")]
MetresPerSecond2 = Annotated[float, Dim("acceleration")]


@attrs.frozen
class FigureMarker:
    """Marks a mapping of catalog figure names to values (each parsed in its own dimension)."""


Figures = Annotated[Mapping[str, float], FigureMarker()]

# the schema's enumerations
Kind = Literal["SiteDeployment", "SiteBase"]
Axis = Literal["x", "y", "z"]
Spacing = Literal["linear", "log"]
FeatureKind = Literal["rms", "peak", "kurtosis"]
Encoding = Literal["delta", "sigma_delta", "threshold", "rate"]
Polarity = Literal["single", "split"]
Convention = Literal["nir", "snntorch", "norse", "sinabs", "rockpool", "spyx"]
Granularity = Literal["per_layer", "per_channel"]
ChipMode = Literal["duty_cycled", "always_on"]
TxPower = Literal["14dBm", "22dBm"]
SafetyClass = Literal["none", "sil1", "sil2", "sil3"]
Learning = Literal["locked", "unlocked"]
Rollback = Literal["auto", "manual", "off"]
Transport = Literal["lorawan"]
Send = Literal["anomalies", "all"]


def key(name: str) -> dict[str, str]:
    """Field metadata naming the spec key a field reads, when it is not the field's name."""
    return {"key": name}


# ---- metadata, sensor, environment -----------------------------------------------------

@attrs.frozen
class Metadata:
    site: str
    asset: str | None = None
    owner: str | None = None
    description: str | None = None
    labels: Mapping[str, str] = attrs.field(factory=dict)


@attrs.frozen
class Sensor:
    part: str
    odr: Hz
    range: MetresPerSecond2 | None = None
    axes: tuple[Axis, ...] = ("x", "y", "z")
    overrides: Figures = attrs.field(factory=dict)


@attrs.frozen
class Environment:
    temperature: tuple[Celsius, Celsius] | None = None
    mains: Hz = 50.0


# ---- preprocessing ------------------------------------------------------------------------

@attrs.frozen
class DcBlock:
    cutoff: Hz = 1.0


@attrs.frozen
class Highpass:
    cutoff: Hz
    order: int = 2


@attrs.frozen
class Lowpass:
    cutoff: Hz
    order: int = 4


@attrs.frozen
class Notch:
    freq: Hz | None = None  # None: environment.mains
    harmonics: int = 1
    q: float = 30.0


@attrs.frozen
class Decimate:
    factor: int
    taps: int = 0


@attrs.frozen
class BandEnergy:
    bands: int
    fft: int = 256
    fmin: Hz = 0.0
    fmax: Hz | None = None
    spacing: Spacing = "linear"
    combine_axes: bool = False


@attrs.frozen
class Features:
    kinds: tuple[FeatureKind, ...] = ("rms", "peak", "kurtosis")


@attrs.frozen
class Envelope:
    cutoff: Hz


@attrs.frozen
class Encode:
    kind: Encoding = "delta"
    threshold: float | None = None
    max_rate: Hz | None = None
    polarity: Polarity = "split"


StageParams = DcBlock | Highpass | Lowpass | Notch | Decimate | BandEnergy | Features | Envelope | Encode

# Every stage kind of the schema has its class here (a test checks the two lists agree).
STAGE_TYPES: dict[str, type[StageParams]] = {
    "dc_block": DcBlock, "highpass": Highpass, "lowpass": Lowpass, "notch": Notch, "decimate": Decimate,
    "band_energy": BandEnergy, "features": Features, "envelope": Envelope, "encode": Encode,
}


@attrs.frozen
class Stage:
    """One preprocessing item: its kind, its id (the kind unless named) and its parameters."""

    kind: str
    id: str
    params: StageParams  # an instance of STAGE_TYPES[kind]


# ---- model, target -------------------------------------------------------------------------

@attrs.frozen
class Quantization:
    headroom: Ratio = 0.05
    granularity: Granularity = "per_layer"


@attrs.frozen
class Model:
    source: str
    dt: Seconds
    labels: tuple[str, ...]
    convention: Convention = "nir"
    quantization: Quantization = Quantization()


@attrs.frozen
class Compensation:
    bands: int = 4
    hysteresis: float = 2.0  # kelvin


@attrs.frozen
class Target:
    chip: str
    mcu: str
    overrides: Figures = attrs.field(factory=dict)
    mcu_overrides: Figures = attrs.field(factory=dict)
    temperature_compensation: bool = False
    compensation: Compensation = Compensation()


# ---- power -----------------------------------------------------------------------------------

@attrs.frozen
class Battery:
    cell: str
    lifetime: Seconds
    count: int = 1
    overrides: Figures = attrs.field(factory=dict)


@attrs.frozen
class Radio:
    part: str
    spreading_factor: int = 7
    tx_power: TxPower = "14dBm"
    overrides: Figures = attrs.field(factory=dict)


@attrs.frozen
class Power:
    battery: Battery
    budget: Watts | None = None
    chip_mode: ChipMode = "duty_cycled"
    radio: Radio | None = None


# ---- safety, runtime, alerts, verify -----------------------------------------------------------

@attrs.frozen
class Safety:
    class_: SafetyClass = attrs.field(default="none", metadata=key("class"))


@attrs.frozen
class Schedule:
    interval: Seconds
    window: Seconds


@attrs.frozen
class Update:
    slots: int = 2
    sanity_window: Seconds | None = None
    rollback: Rollback = "auto"
    security_version: int = 0
    trusted_keys: tuple[str, ...] = ()


@attrs.frozen
class Runtime:
    learning: Learning = "locked"
    schedule: Schedule | None = None
    update: Update | None = None


@attrs.frozen
class Alerts:
    transport: Transport = "lorawan"
    confirmed: bool = True
    retries: int = 3
    max_latency: Seconds | None = None
    send: Send = "anomalies"
    status_interval: Seconds | None = None
    expected_anomalies_per_day: float = 1.0


@attrs.frozen
class Drift:
    chips: int = 4
    seed: int = 0


@attrs.frozen
class Verify:
    stimuli: tuple[str, ...]
    min_agreement: float = 0.99
    min_accuracy: float | None = None
    drift: Drift = Drift()


PART_KINDS = ("chips", "mcus", "sensors", "radios", "cells")


@attrs.frozen
class SiteSpec:
    api_version: str = attrs.field(metadata=key("apiVersion"))
    kind: Kind
    metadata: Metadata
    sensor: Sensor
    preprocessing: tuple[Stage, ...]
    model: Model
    target: Target
    power: Power
    safety: Safety
    environment: Environment = Environment()
    runtime: Runtime = Runtime()
    alerts: Alerts = Alerts()
    verify: Verify | None = None
    # `extends` is consumed by the loader: a merged spec no longer has it
    extends: tuple[str, ...] = attrs.field(default=(), metadata={"key": "extends", "consumed_by_loader": True})

    def part_overrides(self) -> dict[str, Mapping[str, float]]:
        """The figures the spec supplies for each part it names, by catalog kind (SI units)."""
        radio = self.power.radio
        return {"chips": self.target.overrides, "mcus": self.target.mcu_overrides, "sensors": self.sensor.overrides,
                "radios": radio.overrides if radio is not None else {}, "cells": self.power.battery.overrides}


# ---- the converter ------------------------------------------------------------------------------

def dimension_of(annotation: Any) -> str | None:
    """The dimension an annotation marks, looking through Optional."""
    if get_origin(annotation) in (Union, types.UnionType):
        inner = [a for a in get_args(annotation) if a is not type(None)]
        return dimension_of(inner[0]) if len(inner) == 1 else None
    if _is_annotated(annotation):
        return next((m.name for m in get_args(annotation)[1:] if isinstance(m, Dim)), None)
    return None


def spec_key(field: attrs.Attribute[Any]) -> str:
    return str(field.metadata.get("key", field.name))


def _is_quantity(annotation: Any) -> bool:
    return _is_annotated(annotation) and dimension_of(annotation) is not None


def _is_annotated(annotation: Any) -> bool:
    origin: object = get_origin(annotation)
    return origin is Annotated


def _quantity(value: str, annotation: Any) -> float:
    dimension = dimension_of(annotation)
    assert dimension is not None  # the hook is registered for quantity annotations only
    return parse_quantity(value, dimension)


def _figures(values: Mapping[str, Any] | None, _type: Any = None) -> dict[str, float]:
    # numbers stay as written (an int stays an int), in the spec's order: reports show them so
    from engine.catalog import FIGURE_DIMENSIONS

    out: dict[str, float] = {}
    for name, value in (values or {}).items():
        dimension = FIGURE_DIMENSIONS.get(name, "count")
        out[name] = parse_quantity(value, dimension) if isinstance(value, str) else value
    return out


def _make_converter() -> cattrs.Converter:
    converter = cattrs.Converter(forbid_extra_keys=True)
    converter.register_structure_hook_func(_is_quantity, _quantity)
    converter.register_structure_hook_func(
        lambda t: _is_annotated(t) and any(isinstance(m, FigureMarker) for m in get_args(t)[1:]), _figures)

    def structure_stage(item: Mapping[str, Any], _type: Any) -> Stage:
        kind = next(k for k in item if k not in ("id", "$delete", "insert_after", "insert_before"))
        params = converter.structure(item[kind] or {}, STAGE_TYPES[kind])
        return Stage(kind, item.get("id") or kind, params)

    converter.register_structure_hook(Stage, structure_stage)
    for cls in _all_classes():
        renamed: dict[str, Any] = {f.name: cattrs.gen.override(rename=spec_key(f))
                                   for f in attrs.fields(cls) if spec_key(f) != f.name}
        if renamed:
            converter.register_structure_hook(
                cls, cattrs.gen.make_dict_structure_fn(cls, converter, _cattrs_forbid_extra_keys=True, **renamed))
    return converter


def _all_classes() -> list[type]:
    return [cls for cls in globals().values() if isinstance(cls, type) and attrs.has(cls) and cls not in (Dim, FigureMarker)]


_CONVERTER = None


def site_spec(data: Mapping[str, Any]) -> SiteSpec:
    """The merged, defaulted, schema-valid spec as typed data (SI floats)."""
    global _CONVERTER
    if _CONVERTER is None:
        _CONVERTER = _make_converter()
    return _CONVERTER.structure(dict(data), SiteSpec)
