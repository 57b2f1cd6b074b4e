"""Float reference vs quantized kernel on every example's own stimuli: the classes the float
model (imported from the spec's NIR file under its exporter convention) and the integer
kernel (engine.verify.kernel.run on the network quantized for the spec's chip, calibrated
on the nominal windows) pick must agree on at least the spec's verify.min_agreement."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from engine.dsp.from_spec import chain_for_spec
from engine.resolve.floatnet import classify, simulate
from engine.resolve.nir_import import read_nir
from engine.resolve.quantize import quantize
from engine.resolve.stimuli import load_traces
from engine.spec import repository_catalog, site_model, validate_spec
from engine.spec.units import parse_quantity
from engine.verify import kernel

EXAMPLES = sorted((Path(__file__).resolve().parents[1] / "specs" / "examples").glob("*.yaml"))


@pytest.mark.parametrize("spec", EXAMPLES, ids=lambda p: p.stem)
def test_float_and_quantized_kernel_agree_on_the_spec_stimuli(spec):
    catalog, _ = repository_catalog(spec, ())
    doc, _ = validate_spec(spec, catalog)
    data = doc.data
    model = data["model"]
    typed = site_model(doc)
    chain = chain_for_spec(typed, catalog.get("sensors", typed.sensor.part))
    net = read_nir(doc.resolve_path("/model/source", model["source"]), dt=parse_quantity(model["dt"], "time"),
                   convention=model.get("convention", "nir"))
    stimuli = load_traces([doc.resolve_path(f"/verify/stimuli/{i}", s) for i, s in enumerate(data["verify"]["stimuli"])])
    spikes = chain.run(stimuli.samples)
    chip = catalog.part("chips", data["target"]["chip"])
    quant = model.get("quantization") or {}
    result = quantize(net, chip.attribute("family"), stimuli=spikes[stimuli.labels == 0],
                      headroom=parse_quantity(quant.get("headroom", "5%"), "ratio"),
                      granularity=quant.get("granularity", "per_layer"),
                      weight_bits=int((data["target"].get("overrides") or {}).get("weight_bits", chip.figure("weight_bits").value or 8)))
    float_classes = classify(simulate(net, spikes)[net.output].sum(axis=1))
    network = result.network
    kernel_classes = np.array([classify(kernel.run(network, window).output_counts(network.output)) for window in spikes])
    windows = len(stimuli.labels)
    agree = int(np.sum(float_classes == kernel_classes))
    minimum = float(data["verify"]["min_agreement"])
    summary = (f"{spec.stem} on {chip.id} ({network.family}): {agree}/{windows} windows agree "
               f"(float correct {int(np.sum(float_classes == stimuli.labels))}, kernel correct "
               f"{int(np.sum(kernel_classes == stimuli.labels))}); min_agreement {minimum}")
    assert agree >= minimum * windows, summary
    # the examples are trained to be classified: the float reference is right on its own stimuli
    assert np.mean(float_classes == stimuli.labels) >= minimum, summary
