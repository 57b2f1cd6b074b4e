"""The typed spec's preprocessing as build_chain's stage dicts (SI units), and its chain."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import attrs

if TYPE_CHECKING:
    from engine.catalog import Part
    from engine.dsp.chain import Chain
    from engine.spec.model import SiteSpec, Stage


def stage_dict(stage: Stage) -> dict[str, Any]:
    """One stage as build_chain takes it: kind, id and every parameter (None: its default)."""
    params = attrs.asdict(stage.params, recurse=False)
    if stage.kind == "encode":  # `kind` names the stage; the encoder's kind is its encoding
        params["encoding"] = params.pop("kind")
    return {"kind": stage.kind, "id": stage.id, **params}


def chain_for_spec(spec: SiteSpec, sensor: Part | None) -> Chain:
    """The chain of a typed spec; `sensor` is its sensor part (None when the catalog lacks it:
    then it is read as an accelerometer)."""
    from engine.dsp.chain import build_chain

    accelerometer = sensor is None or sensor.attribute("type") == "accelerometer"
    axes = len(spec.sensor.axes or ("x", "y", "z")) if accelerometer else 1
    return build_chain([stage_dict(s) for s in spec.preprocessing], sample_rate=spec.sensor.odr,
                       mains=spec.environment.mains, axes=axes, dt=spec.frame_period)
