"""The spec language, written once in Python, rendered to JSON Schema draft-07.

`python -m engine.spec.schema_source` writes schemas/*.schema.json; a test fails when the
committed files differ from what this module renders, so editors and the CLI always use
the same rules. Catalog enums come from the built-in catalog data; units come from
engine.spec.units. Draft-07 because it is the newest draft the YAML editor engine
(yaml-language-server) implements fully.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml

from engine.spec.units import DIMENSIONS, quantity_pattern

SCHEMA_DIR = Path(__file__).resolve().parents[2] / "schemas"
SCHEMA_BASE_URI = "https://nmspec.dev/schemas/v1"
API_VERSION = "nmspec/v1"
DRAFT07 = "http://json-schema.org/draft-07/schema#"

STAGE_KINDS = ("dc_block", "highpass", "lowpass", "notch", "decimate", "band_energy", "features", "envelope", "encode")
FEATURE_KINDS = ("rms", "peak", "kurtosis")
ENCODER_KINDS = ("delta", "sigma_delta", "threshold", "rate")
CONVENTIONS = ("nir", "snntorch", "norse", "sinabs", "rockpool", "spyx")
SAFETY_CLASSES = ("none", "sil1", "sil2", "sil3")
DELETE_MARKER = "$delete"


def q(dimension: str, description: str, *, positive: bool = True, example: str | None = None,
      default: str | None = None) -> dict[str, Any]:
    """A quantity property: an SI-suffixed string of `dimension`."""
    name = f"q_{dimension}{'_pos' if positive and not DIMENSIONS[dimension].signed else ''}"
    node: dict[str, Any] = {"$ref": f"#/definitions/{name}", "description": description}
    node["examples"] = [example or DIMENSIONS[dimension].example]
    if default is not None:
        node["default"] = default
    return node


def _quantity_definitions() -> dict[str, Any]:
    defs: dict[str, Any] = {}
    for name, dim in DIMENSIONS.items():
        units = sorted({u.symbol for u in dim.units})
        words = name.replace('_', ' ')
        # patternErrorMessage: what yaml-language-server shows instead of the raw pattern
        defs[f"q_{name}"] = {
            "type": "string",
            "pattern": quantity_pattern(name),
            "description": f"{words} with its unit ({', '.join(units)}), e.g. '{dim.example}'",
            "patternErrorMessage": f"expected a{'n' if words[0] in 'aeiou' else ''} {words} with its unit "
                                   f"({', '.join(units)} with an SI prefix), like '{dim.example}'",
            "x-nmspec-dimension": name,
        }
        if not dim.signed:
            defs[f"q_{name}_pos"] = {
                "type": "string",
                "pattern": quantity_pattern(name, positive=True),
                "description": f"{words} greater than zero with its unit ({', '.join(units)}), e.g. '{dim.example}'",
                "patternErrorMessage": f"expected a{'n' if words[0] in 'aeiou' else ''} {words} greater than zero with "
                                       f"its unit ({', '.join(units)} with an SI prefix), like '{dim.example}'",
                "x-nmspec-dimension": name,
                "x-nmspec-positive": True,
            }
    return defs


def obj(description: str, properties: dict[str, Any], *, required: tuple[str, ...] = (),
        examples: list[Any] | None = None) -> dict[str, Any]:
    node: dict[str, Any] = {
        "type": "object",
        "description": description,
        "properties": properties,
        "additionalProperties": False,
    }
    if required:
        node["required"] = list(required)
    if examples:
        node["examples"] = examples
    return node


def integer(description: str, minimum: int, maximum: int | None = None, default: int | None = None) -> dict[str, Any]:
    node: dict[str, Any] = {"type": "integer", "description": description, "minimum": minimum}
    if maximum is not None:
        node["maximum"] = maximum
    if default is not None:
        node["default"] = default
    return node


def number(description: str, *, exclusive_minimum: float | None = None, minimum: float | None = None,
           maximum: float | None = None, default: float | None = None) -> dict[str, Any]:
    node: dict[str, Any] = {"type": "number", "description": description}
    if exclusive_minimum is not None:
        node["exclusiveMinimum"] = exclusive_minimum
    if minimum is not None:
        node["minimum"] = minimum
    if maximum is not None:
        node["maximum"] = maximum
    if default is not None:
        node["default"] = default
    return node


def enum(description: str, values: tuple[str, ...], default: str | None = None) -> dict[str, Any]:
    node: dict[str, Any] = {"type": "string", "description": description, "enum": list(values)}
    if default is not None:
        node["default"] = default
    return node


def part_ref(kind: str, description: str, ids: list[str], catalog: dict[str, Any] | None = None) -> dict[str, Any]:
    """A catalog id, one of the built-in parts: editors complete them with each part's name and
    kind, and flag an id the catalog does not have. The CLI checks ids against the whole
    catalog, a repository's own catalog/ parts included (NM210, with a did-you-mean)."""
    entries = (catalog or {}).get(kind) or {}
    return {
        "type": "string",
        "description": description,
        "enum": list(ids),
        "enumDescriptions": [_part_words(entries.get(i) or {}) for i in ids],
        "x-nmspec-catalog": kind,
    }


def _part_words(entry: dict[str, Any]) -> str:
    name = entry.get("name") or ""
    traits = [str(entry[k]) for k in ("family", "implementation", "type", "core", "chemistry") if entry.get(k)]
    return name + (f" ({', '.join(traits)})" if traits else "")


def path_string(description: str, example: str) -> dict[str, Any]:
    return {"type": "string", "minLength": 1, "description": description, "examples": [example]}


def _figure_overrides(catalog: dict[str, Any], kind: str, description: str) -> dict[str, Any]:
    from engine.catalog import FIGURE_DIMENSIONS

    names = sorted({name for part in (catalog.get(kind) or {}).values() for name in (part.get("figures") or {})})
    properties: dict[str, Any] = {}
    for name in names:
        dimension = FIGURE_DIMENSIONS.get(name, "count")
        if dimension == "table":
            continue  # tables come from catalog files, with their sources
        if dimension in DIMENSIONS:
            properties[name] = q(dimension, f"value for the catalog figure '{name}'")
        elif dimension == "bool":
            properties[name] = {"type": "boolean", "description": f"value for the catalog figure '{name}'"}
        else:
            properties[name] = {"type": "integer", "minimum": 0, "description": f"value for the catalog figure '{name}'"}
    return obj(description, properties)


def _stage_schemas() -> dict[str, Any]:
    return {
        "dc_block": obj("first-order DC blocker (removes drift and gravity)", {
            "cutoff": q("frequency", "corner frequency", example="2Hz", default="1Hz"),
        }),
        "highpass": obj("Butterworth high-pass filter (second-order sections)", {
            "cutoff": q("frequency", "corner frequency", example="10Hz"),
            "order": integer("filter order", 1, 8, default=2),
        }, required=("cutoff",)),
        "lowpass": obj("Butterworth low-pass filter (second-order sections), the anti-alias filter before decimate", {
            "cutoff": q("frequency", "corner frequency", example="400Hz"),
            "order": integer("filter order", 1, 8, default=4),
        }, required=("cutoff",)),
        "notch": obj("IIR notch at the mains frequency and its harmonics", {
            "freq": q("frequency", "fundamental to remove; defaults to environment.mains", example="50Hz"),
            "harmonics": integer("how many multiples of freq to remove (1 = the fundamental only)", 1, 16, default=1),
            "q": number("quality factor: centre frequency over -3 dB bandwidth", exclusive_minimum=0, default=30),
        }),
        "decimate": obj("keep every factor-th sample (after an anti-alias low-pass, or its own FIR)", {
            "factor": integer("decimation factor", 2, 64),
            "taps": integer("length of the anti-alias FIR (Hamming-windowed sinc, odd) run before the samples are "
                            "dropped; 0 when a lowpass stage already limits the band", 0, 255, default=0),
        }, required=("factor",)),
        "band_energy": obj("frame energy in frequency bands (fixed-point FFT)", {
            "fft": {"type": "integer", "enum": [32, 64, 128, 256, 512, 1024, 2048, 4096],
                    "description": "FFT length in samples", "default": 256},
            "bands": integer("number of bands, spaced over fmin..fmax", 1, 256),
            "fmin": q("frequency", "lower edge of the first band", positive=False, example="0Hz", default="0Hz"),
            "fmax": q("frequency", "upper edge of the last band; defaults to half the sample rate", example="400Hz"),
            "spacing": enum("how bands divide the range", ("linear", "log"), default="linear"),
            "combine_axes": {"type": "boolean", "description": "sum the band energies of all axes into one set of bands", "default": False},
        }, required=("bands",)),
        "features": obj("time-domain features of each axis over every model step (instead of band_energy)", {
            "kinds": {"type": "array", "items": enum("feature", FEATURE_KINDS), "minItems": 1, "uniqueItems": True,
                      "description": "which features, in channel order per axis: rms, peak (largest |x|), kurtosis",
                      "default": list(FEATURE_KINDS)},
        }),
        "envelope": obj("rectify and low-pass: amplitude envelope per channel", {
            "cutoff": q("frequency", "envelope low-pass corner", example="20Hz"),
        }, required=("cutoff",)),
        "encode": obj("spike encoder: turns each channel into spike counts per model step", {
            "kind": enum("encoding", ENCODER_KINDS, default="delta"),
            "threshold": number("change (delta, sigma_delta) or level (threshold) that emits one spike, relative to full scale",
                                exclusive_minimum=0, maximum=1),
            "max_rate": q("frequency", "highest spike rate per channel (rate encoding)", example="200Hz"),
            "polarity": enum("delta encoders: one channel for both signs, or separate up and down channels", ("single", "split"), default="split"),
        }, required=("kind",)),
    }


def _stage_item() -> dict[str, Any]:
    stages = _stage_schemas()
    properties: dict[str, Any] = {
        "id": {"type": "string", "pattern": "^[a-z][a-z0-9_-]*$",
               "description": "name of this stage for overlays (defaults to its kind); an overlay item with the same id merges into it"},
        DELETE_MARKER: {"type": "string", "description": "overlays only: remove the inherited stage with this id"},
        "insert_after": {"type": "string", "description": "overlays only: place this new stage right after the "
                                                          "inherited stage with this id (default: at the end)"},
        "insert_before": {"type": "string", "description": "overlays only: place this new stage right before the "
                                                           "inherited stage with this id"},
    }
    for kind, schema in stages.items():
        properties[kind] = schema
    return {
        "type": "object",
        "description": "one preprocessing stage: a single key naming its kind ("
        + ", ".join(STAGE_KINDS) + "), with its parameters, and an optional id",
        "properties": properties,
        "additionalProperties": False,
        "minProperties": 1,
    }


def _catalog_data() -> dict[str, Any]:
    data: dict[str, Any] = {}
    folder = Path(__file__).resolve().parents[1] / "catalog" / "data"
    for path in sorted(folder.glob("*.yaml")):
        loaded = yaml.safe_load(path.read_text(encoding="utf-8"))
        for key, value in loaded.items():
            if isinstance(value, dict):
                data.setdefault(key, {}).update(value)
    return data


def spec_properties(catalog: dict[str, Any]) -> dict[str, Any]:
    ids = {kind: sorted(catalog.get(kind) or {}) for kind in ("chips", "sensors", "mcus", "radios", "cells")}
    return {
        "apiVersion": {"type": "string", "const": API_VERSION, "description": "version of the spec language"},
        "kind": {"type": "string", "enum": ["SiteDeployment", "SiteBase"],
                 "description": "SiteDeployment: a complete site; SiteBase: a fragment other specs extend"},
        "extends": {
            "description": "base spec(s) to inherit from, relative to this file; later bases and this file override earlier ones",
            "oneOf": [path_string("one base spec", "../base/compressor.yaml"),
                      {"type": "array", "items": path_string("a base spec", "../base/compressor.yaml"), "minItems": 1,
                       "description": "several base specs, merged in order"}],
            "examples": ["../base/compressor.yaml"],
        },
        "metadata": obj("who and where this deployment is", {
            # the site becomes a bundle folder (and its hidden staging sibling): 128 characters keep
            # every name well under the 255 bytes file systems allow
            "site": {"type": "string", "minLength": 1, "maxLength": 128, "pattern": "^[A-Za-z0-9][A-Za-z0-9._/-]*$",
                     "description": "unique site name, e.g. plant-7/compressor-3 (at most 128 characters)",
                     "examples": ["plant-7/compressor-3"]},
            "asset": {"type": "string", "description": "the machine being monitored", "examples": ["refrigeration-compressor"]},
            "owner": {"type": "string", "description": "team or person responsible"},
            "description": {"type": "string", "description": "free text"},
            "labels": {"type": "object", "description": "free key/value labels for fleet tooling",
                       "additionalProperties": {"type": "string", "description": "label value"}},
        }, required=("site",)),
        "sensor": obj("the sensor the node reads", {
            "part": part_ref("sensors", "catalog id of the sensor", ids["sensors"], catalog),
            "odr": q("frequency", "output data rate", example="1.6kHz"),
            "range": q("acceleration", "full-scale range (accelerometers)", example="4g"),
            "axes": {"type": "array", "items": {"type": "string", "enum": ["x", "y", "z"], "description": "axis name"},
                     "minItems": 1, "uniqueItems": True, "description": "axes to read (accelerometers)", "default": ["x", "y", "z"]},
            "overrides": _figure_overrides(catalog, "sensors", "figures for this sensor that the catalog lacks or that you measured"),
        }, required=("part", "odr")),
        "environment": obj("the site's conditions", {
            "temperature": {"type": "array", "items": q("temperature", "temperature", example="-20C"),
                            "minItems": 2, "maxItems": 2, "description": "operating range [min, max]",
                            "examples": [["-20C", "85C"]]},
            "mains": {"type": "string", "enum": ["50Hz", "60Hz"], "description": "mains frequency at the site (hum and harmonics)", "default": "50Hz",
                      "x-nmspec-dimension": "frequency"},
        }),
        "preprocessing": {"type": "array", "items": _stage_item(), "minItems": 1,
                          "description": "the fixed-point signal chain on the MCU, in order; the last stage is the spike encoder",
                          "x-nmspec-merge-key": "id"},
        "model": obj("the trained spiking network", {
            "source": path_string("NIR file (.nir), relative to this file", "models/compressor.nir"),
            "dt": q("time", "time step of the discretised network", example="1ms"),
            "convention": enum("how the exporter wrote time constants and weights (nir: read literally)", CONVENTIONS, default="nir"),
            "labels": {"type": "array", "items": {"type": "string", "pattern": "^[a-z][a-z0-9_]*$", "description": "class name"},
                       "minItems": 2, "uniqueItems": True, "description": "output classes, in output-neuron order; the first is the normal state"},
            "quantization": obj("how floats become integers", {
                "headroom": q("ratio", "range kept free above the calibrated maximum", positive=False, example="5%", default="5%"),
                "granularity": enum("one scale per layer or per output channel", ("per_layer", "per_channel"), default="per_layer"),
            }),
        }, required=("source", "dt", "labels")),
        "target": obj("the neuromorphic chip and the MCU beside it", {
            "chip": part_ref("chips", "catalog id of the neuromorphic target", ids["chips"], catalog),
            "mcu": part_ref("mcus", "catalog id of the MCU running preprocessing and the runtime", ids["mcus"], catalog),
            "overrides": _figure_overrides(catalog, "chips", "chip figures the catalog lacks (unverified) or that you measured"),
            "mcu_overrides": _figure_overrides(catalog, "mcus", "MCU figures the catalog lacks or that you measured"),
            "temperature_compensation": {"type": "boolean", "default": False,
                                         "description": "the firmware compensates the target's temperature drift (required for analog and mixed-signal targets)"},
            "compensation": obj("how the firmware compensates an analog target's drift: the site's temperature range "
                                "cut into equal bands, one set of thresholds per band (docs/analog.md)", {
                "bands": integer("temperature bands over environment.temperature", 1, 16, default=4),
                "hysteresis": number("kelvin a reading must pass a band's edge by before the firmware switches band",
                                     minimum=0, maximum=20, default=2),
            }),
        }, required=("chip", "mcu")),
        "power": obj("the energy source and what the node may spend", {
            "battery": obj("the primary cell", {
                "cell": part_ref("cells", "catalog id of the cell", ids["cells"], catalog),
                "count": integer("cells in parallel", 1, 8, default=1),
                "lifetime": q("time", "required service life", example="10y"),
                "overrides": _figure_overrides(catalog, "cells", "cell figures the catalog lacks or that you measured"),
            }, required=("cell", "lifetime")),
            "budget": q("power", "average power allowed for inference (chip + its share of the MCU)", example="61uW"),
            "chip_mode": enum("power-gate the chip between measurement windows, or keep it on", ("duty_cycled", "always_on"), default="duty_cycled"),
            "radio": obj("the alert radio", {
                "part": part_ref("radios", "catalog id of the radio", ids["radios"], catalog),
                "spreading_factor": integer("LoRa spreading factor", 7, 12, default=7),
                "tx_power": {"type": "string", "enum": ["14dBm", "22dBm"], "description": "transmit power", "default": "14dBm"},
                "overrides": _figure_overrides(catalog, "radios", "radio figures the catalog lacks or that you measured"),
            }, required=("part",)),
        }, required=("battery",)),
        "safety": obj("functional-safety requirements", {
            "class": enum("safety integrity level the node contributes to (IEC 61508)", SAFETY_CLASSES, default="none"),
        }, required=("class",)),
        "runtime": obj("how the node runs the model in the field", {
            "learning": enum("on-chip learning: locked (weights never change in the field) or unlocked", ("locked", "unlocked"), default="locked"),
            "schedule": obj("measurement duty cycle", {
                "interval": q("time", "time between the starts of two measurement windows", example="10s"),
                "window": q("time", "length of one measurement window", example="1s"),
            }, required=("interval", "window")),
            "update": obj("field updates of the model", {
                "slots": integer("model slots (2 = active + backup)", 1, 4, default=2),
                "sanity_window": q("time", "how long a new model is watched before it is kept", example="24h"),
                "rollback": enum("what happens when the output distribution leaves its bounds", ("auto", "manual", "off"), default="auto"),
                "security_version": integer("monotonic security version of this release: raise it to stop nodes from "
                                            "accepting any older image (they keep the highest confirmed one as a floor)",
                                            0, 16777215, default=0),
                "trusted_keys": {"type": "array", "description": "further Ed25519 public keys the node's firmware trusts "
                                 "besides the build's signing key (raw 32 bytes as 64 hex digits), for a key rotation",
                                 "items": {"type": "string", "pattern": "^[0-9a-f]{64}$"}, "uniqueItems": True},
            }),
        }),
        "alerts": obj("what the node sends and how", {
            "transport": enum("uplink technology", ("lorawan",), default="lorawan"),
            "confirmed": {"type": "boolean", "description": "ask the network to acknowledge each alert", "default": True},
            "retries": integer("resends of an unacknowledged alert", 0, 8, default=3),
            "max_latency": q("time", "longest acceptable delay from detection to uplink", example="10min"),
            "send": enum("which classifications are sent", ("anomalies", "all"), default="anomalies"),
            "status_interval": q("time", "heartbeat period", example="24h"),
            "expected_anomalies_per_day": number("anomaly uplinks expected per day, for the power estimate", minimum=0, default=1),
        }),
        "verify": obj("evidence that the built image computes what the model computes", {
            "stimuli": {"type": "array", "items": path_string("a recorded trace (.npz), relative to this file", "traces/nominal.npz"),
                        "minItems": 1, "description": "recorded sensor traces for calibration and verification"},
            "min_agreement": number("least fraction of windows where kernel and float model agree", minimum=0, maximum=1, default=0.99),
            "min_accuracy": number("least fraction of labelled stimulus windows the built image classifies correctly; "
                                   "below it verification fails (unset: a warning below 0.9)", minimum=0, maximum=1),
            "drift": obj("the Monte Carlo over temperature of an analog or mixed-signal target (docs/analog.md)", {
                "chips": integer("chips drawn (each with its own device mismatch) per temperature", 1, 1000, default=4),
                "seed": integer("seed of the mismatch draws (the same seed gives the same figures)", 0, 2**31 - 1, default=0),
            }),
        }, required=("stimuli",)),
    }


REQUIRED_TOP = ("apiVersion", "kind", "metadata", "sensor", "preprocessing", "model", "target", "power", "safety")


def build_spec_schema(*, fragment: bool = False) -> dict[str, Any]:
    catalog = _catalog_data()
    properties = spec_properties(catalog)
    schema: dict[str, Any] = {
        "$schema": DRAFT07,
        "$id": f"{SCHEMA_BASE_URI}/{'nmspec-base' if fragment else 'nmspec'}.schema.json",
        "title": "nmspec site base (fragment)" if fragment else "nmspec site deployment",
        "description": (
            "A base other site specs extend, or a site spec that extends a base: no section is "
            "required here; `nmspec validate` checks the merged result against the full schema."
            if fragment else
            "One neuromorphic sensor node at one site: sensor, signal chain, model, target, power, safety, runtime and alerts."
        ),
        "type": "object",
        "properties": properties,
        "additionalProperties": False,
        "definitions": _quantity_definitions(),
    }
    if fragment:
        schema["required"] = ["apiVersion", "kind"]
        schema["properties"] = _strip_required(properties)
        schema["properties"]["kind"] = {"type": "string", "enum": ["SiteBase", "SiteDeployment"],
                                        "description": "SiteBase: a fragment other specs extend; SiteDeployment: a site that extends a base"}
    else:
        schema["required"] = list(REQUIRED_TOP)
    return schema


def _strip_required(node: Any) -> Any:
    """A fragment may leave out anything; overlays may also use the delete marker."""
    if isinstance(node, dict):
        out = {k: _strip_required(v) for k, v in node.items() if k != "required"}
        return out
    if isinstance(node, list):
        return [_strip_required(v) for v in node]
    return node


def build_catalog_schema() -> dict[str, Any]:
    from engine.catalog import (
        FAMILIES,
        FIDELITY_LEVELS,
        FIGURE_DIMENSIONS,
        IMPLEMENTATIONS,
        KINDS,
        VERIFICATION_LEVELS,
    )

    figure = {
        "type": "object",
        "description": "one figure with where it came from",
        "properties": {
            "value": {"description": "the number (or list), null when no checked source has it",
                      "type": ["number", "array", "boolean", "null"],
                      "items": {"type": ["number", "array"], "items": {"type": "number"},
                                "description": "a number, or a [temperature in C, value] row of a table figure"}},
            "unit": {"type": "string", "description": "unit of value (SI suffix, e.g. uW, MHz, Ah); omitted for counts"},
            "verified": {"type": "string", "enum": list(VERIFICATION_LEVELS), "description": "how well the figure was checked"},
            "source": {"description": "key(s) into the part's sources", "oneOf": [
                {"type": "string", "description": "a source key"},
                {"type": "array", "items": {"type": "string", "description": "a source key"}, "description": "several source keys"}]},
            "note": {"type": "string", "description": "conditions, caveats"},
            "estimate": {"type": "boolean", "description": "computed, averaged or order-of-magnitude"},
            "uncertainty": {"type": "number", "minimum": 0, "description": "plus or minus, in the figure's unit"},
        },
        "required": ["value", "verified"],
        "additionalProperties": False,
    }
    figures = {"type": "object", "description": "the part's figures by name",
               "propertyNames": {"enum": sorted(FIGURE_DIMENSIONS)},
               "additionalProperties": {"$ref": "#/definitions/figure"}}
    common: dict[str, Any] = {
        "name": {"type": "string", "description": "full part name"},
        "vendor": {"type": "string", "description": "maker"},
        "figures": figures,
        "sources": {"type": "object", "description": "citation per source key",
                    "additionalProperties": {"type": "string", "description": "citation or URL"}},
    }
    extra: dict[str, dict[str, Any]] = {
        "chips": {"family": {"type": "string", "enum": list(FAMILIES), "description": "integer neuron model family"},
                  "implementation": {"type": "string", "enum": list(IMPLEMENTATIONS), "description": "digital, mixed-signal or analog"},
                  "fidelity": {"type": "string", "enum": list(FIDELITY_LEVELS),
                               "description": "how true the kernel is to the chip: vendor-verified (a vendor's bit-accurate "
                                              "simulator agrees in the tests), documented (from public documentation) or "
                                              "stand-in (another family's arithmetic; the default)"},
                  "fidelity_basis": {"type": "string", "description": "what the fidelity level rests on"}},
        "sensors": {"type": {"type": "string", "enum": ["accelerometer", "microphone"], "description": "sensor type"}},
        "mcus": {"core": {"type": "string", "enum": ["cortex-m4", "cortex-m33", "cortex-m0plus"], "description": "CPU core"}},
        "radios": {"transport": {"type": "string", "enum": ["lorawan"], "description": "uplink technology"}},
        "cells": {"chemistry": {"type": "string", "enum": ["li-socl2", "li-mno2"], "description": "cell chemistry"}},
    }
    required_extra = {"chips": ["family", "implementation"], "sensors": ["type"], "mcus": ["core"], "radios": ["transport"], "cells": ["chemistry"]}
    properties: dict[str, Any] = {
        "apiVersion": {"type": "string", "const": API_VERSION, "description": "version of the catalog format"},
        "kind": {"type": "string", "const": "PartCatalog", "description": "a file of parts"},
    }
    for kind in KINDS:
        part = {"type": "object", "description": f"one part of kind {kind}",
                "properties": {**common, **extra[kind]}, "required": ["name", "figures"] + required_extra[kind],
                "additionalProperties": False}
        properties[kind] = {"type": "object", "description": f"{kind} by catalog id",
                            "propertyNames": {"pattern": "^[a-z0-9][a-z0-9._-]*$"},
                            "additionalProperties": part}
    return {
        "$schema": DRAFT07,
        "$id": f"{SCHEMA_BASE_URI}/catalog.schema.json",
        "title": "nmspec part catalog",
        "description": "Chips, sensors, MCUs, radios and cells with sourced figures.",
        "type": "object",
        "properties": properties,
        "required": ["apiVersion", "kind"],
        "additionalProperties": False,
        "definitions": {"figure": figure},
    }


def rendered() -> dict[str, str]:
    """File name -> canonical JSON text."""
    def dump(schema: dict[str, Any]) -> str:
        return json.dumps(schema, indent=2, ensure_ascii=False) + "\n"

    return {
        "nmspec.schema.json": dump(build_spec_schema()),
        "nmspec-base.schema.json": dump(build_spec_schema(fragment=True)),
        "catalog.schema.json": dump(build_catalog_schema()),
    }


def main() -> None:
    SCHEMA_DIR.mkdir(exist_ok=True)
    for name, text in rendered().items():
        (SCHEMA_DIR / name).write_text(text, encoding="utf-8")


if __name__ == "__main__":
    main()
