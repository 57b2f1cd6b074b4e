"""The committed example data is what tools/make_examples.py makes: traces recorded by the
generator from their seeds, and training logs that belong to the committed model files."""

from __future__ import annotations

import sys
from pathlib import Path

import nir
import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "specs/examples"


@pytest.fixture(scope="module")
def make_examples():
    sys.path.insert(0, str(ROOT / "tools"))
    try:
        import make_examples
    finally:
        sys.path.remove(str(ROOT / "tools"))
    return make_examples


@pytest.mark.parametrize("name", ["compressor", "pump", "acoustic"])
def test_training_log_names_the_committed_model(make_examples, name):
    log = (EXAMPLES / "models" / f"{name}.train.log").read_text().splitlines()
    (line,) = [line for line in log if line.startswith("weights sha256")]
    assert line.split(": ")[-1] == make_examples.weights_digest(nir.read(str(EXAMPLES / "models" / f"{name}.nir")))
    assert log[0] == f"{name}: trained by tools/make_examples.py (numpy, deterministic)"


@pytest.mark.parametrize("trace, window, fault, seed, sites", [
    ("compressor-nominal.npz", 0, "normal", 50_000, "COMPRESSOR_SITES"),
    ("compressor-fault.npz", 8, "imbalance", 61_000, "COMPRESSOR_SITES"),
    ("compressor-heldout.npz", 0, "normal", 90_000, "COMPRESSOR_HELD_OUT"),
    ("compressor-heldout.npz", 149, "looseness", 93_029, "COMPRESSOR_HELD_OUT"),
])
def test_committed_traces_are_the_generator_output_for_their_seeds(make_examples, trace, window, fault, seed, sites):
    with np.load(EXAMPLES / "traces" / trace) as data:
        size = int(data["window"])
        samples = data["samples"][window * size : (window + 1) * size]
        odr = float(data["sample_rate"])
        if "seed" in data:
            assert int(data["seed"][window]) == seed
    recorded = make_examples.compressor_recording(fault, size / odr, seed, odr, getattr(make_examples, sites))
    np.testing.assert_array_equal(recorded, samples)


def test_held_out_conditions_are_the_drawn_ones(make_examples):
    with np.load(EXAMPLES / "traces/compressor-heldout.npz") as data:
        conditions = {key: np.asarray(data[key]) for key in ("shaft_hz", "severity", "mounting_hz", "seed")}
    for index in (0, 59, 60, 149):
        drawn = make_examples.compressor_conditions(int(conditions["seed"][index]), make_examples.COMPRESSOR_HELD_OUT)
        for key in ("shaft_hz", "severity", "mounting_hz"):
            assert conditions[key][index] == drawn[key]
