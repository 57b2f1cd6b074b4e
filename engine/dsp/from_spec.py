"""The spec's preprocessing list (validated, unit strings) as build_chain's SI stage dicts."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from engine.spec.units import parse_quantity

STAGE_KINDS = ("dc_block", "highpass", "lowpass", "notch", "decimate", "band_energy", "features", "envelope", "encode")
FREQUENCY_PARAMS = ("cutoff", "freq", "fmin", "fmax", "max_rate")


def stages_from_spec(items: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    out = []
    for item in items:
        (kind,) = [k for k in item if k in STAGE_KINDS]
        params = dict(item[kind] or {})
        stage: dict[str, Any] = {"kind": kind, "id": item.get("id", kind)}
        for name, value in params.items():
            if name in FREQUENCY_PARAMS:
                stage[name] = parse_quantity(value, "frequency")
            elif kind == "encode" and name == "kind":
                stage["encoding"] = value
            else:
                stage[name] = value
        out.append(stage)
    return out


def chain_for_spec(data: Mapping[str, Any]):
    """The chain of a validated, merged spec (plain data)."""
    from engine.dsp.chain import build_chain

    sensor = data["sensor"]
    axes = len(sensor.get("axes") or ["x", "y", "z"]) if _is_accelerometer(data) else 1
    mains = parse_quantity((data.get("environment") or {}).get("mains", "50Hz"), "frequency")
    return build_chain(stages_from_spec(data["preprocessing"]), sample_rate=parse_quantity(sensor["odr"], "frequency"),
                       mains=mains, axes=axes, dt=parse_quantity(data["model"]["dt"], "time"))


def _is_accelerometer(data: Mapping[str, Any]) -> bool:
    from engine.catalog import builtin_catalog

    part = builtin_catalog().get("sensors", data["sensor"]["part"])
    return part is None or part.attribute("type") == "accelerometer"
