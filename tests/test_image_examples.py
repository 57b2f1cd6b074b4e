"""Every example spec: the resolved, quantized network (placed and unplaced) and its signal
chain coefficients survive write -> read exactly."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.image import ImageContents, Metadata, Target, read_image, write_image

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = sorted((ROOT / "specs" / "examples").glob("*.yaml"))


@pytest.mark.parametrize("spec", EXAMPLES, ids=lambda p: p.stem)
def test_example_network_round_trips(spec):
    from engine.pipeline import _placement, resolve_site
    from engine.spec import repository_catalog, validate_spec

    catalog, _ = repository_catalog(spec, ())
    doc, _ = validate_spec(spec, catalog)
    resolved = resolve_site(doc, catalog)
    placed, _ = _placement(resolved, catalog)
    labels = resolved.spec.model.labels
    for network in (resolved.network, placed):
        contents = ImageContents(Metadata(resolved.spec.metadata.site, "spec", "tool", spec.stem, labels),
                                 Target(resolved.spec.target.chip, network.family), network,
                                 preprocessing=resolved.chain.coefficients())
        back = read_image(write_image(contents))
        assert back.network == network
        assert back == contents
