"""The bundle's files from a resolved deployment: model.nmc, firmware/, manifest.json.

Everything here is a function of its arguments: no clock (SOURCE_DATE_EPOCH, when set, is
recorded as given), no machine paths, sorted iteration, canonical JSON.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import attrs

from engine import __version__
from engine.codegen.bundle import canonical_json, manifest
from engine.image import (
    ImageContents,
    IOMap,
    Metadata,
    RuntimePolicy,
    Target,
    generate_c_header,
    write_image,
)
from engine.netlist import QuantNetwork
from engine.spec.model import SiteSpec

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey


@attrs.frozen
class SanityBounds:
    """What the runtime watches after an update (from the float model on nominal stimuli)."""

    class_expected_ppm: tuple[int, ...]
    class_tolerance_ppm: tuple[int, ...]
    spike_rate_mhz: int  # milli-spikes per neuron per second
    spike_rate_tolerance_mhz: int
    dead_neuron_window_s: int


def image_contents(spec: SiteSpec, network: QuantNetwork, coefficients: Mapping[str, Any],
                   input_names: tuple[str, ...], bounds: SanityBounds, spec_digest: str,
                   sanity_window_s: int) -> ImageContents:
    labels = spec.model.labels
    return ImageContents(
        metadata=Metadata(site=spec.metadata.site, spec_hash=spec_digest, tool_version=__version__,
                          model_name=Path(spec.model.source).stem, labels=labels),
        target=Target(chip=spec.target.chip, family=network.family),
        network=network,
        io=IOMap(input_channels=input_names, output_labels=labels),
        policy=RuntimePolicy(
            learning_locked=spec.runtime.learning == "locked",
            class_expected_ppm=bounds.class_expected_ppm, class_tolerance_ppm=bounds.class_tolerance_ppm,
            spike_rate_mhz=bounds.spike_rate_mhz, spike_rate_tolerance_mhz=bounds.spike_rate_tolerance_mhz,
            dead_neuron_window_s=bounds.dead_neuron_window_s, sanity_window_s=sanity_window_s),
        preprocessing=dict(coefficients),
    )


def bundle_files(contents: ImageContents, firmware: Mapping[str, bytes], report: Mapping[str, Any],
                 extra: Mapping[str, bytes], *, signing_key: Ed25519PrivateKey | None = None, source_date_epoch: int | None = None,
                 image: bytes | None = None) -> dict[str, bytes]:
    """`image`: the contents already written with `signing_key`, when the caller has them."""
    if image is None:
        image = write_image(contents, signing_key)
    files: dict[str, bytes] = {"model.nmc": image, "firmware/nmc_format.h": generate_c_header().encode()}
    files.update({f"firmware/{name}": data for name, data in firmware.items()})
    files.update(extra)
    files["report.json"] = canonical_json(report)
    fields = {
        "format": "nmspec-bundle/1",
        "site": contents.metadata.site,
        "spec_hash": report.get("spec_hash", contents.metadata.spec_hash),
        "image_hash": contents.metadata.spec_hash,
        "tool_version": __version__,
        "chip": contents.target.chip,
        "family": contents.target.family,
        "signed": signing_key is not None,
        "source_date_epoch": source_date_epoch,
    }
    files["manifest.json"] = manifest(files, fields)
    return files
