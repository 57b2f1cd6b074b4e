"""Held-out accuracy: scores worked by hand, Wilson intervals from the closed form, and the
kernel's classes on the compressor's held-out traces against the slow reference kernel."""

from __future__ import annotations

import math
from pathlib import Path

import attrs
import numpy as np
import pytest

from engine.catalog import builtin_catalog
from engine.evaluate import Rate, evaluate, score
from engine.image import ImageError, read_image
from engine.pipeline import BuildOptions, build_site, resolve_site
from engine.resolve.floatnet import classify, simulate
from engine.resolve.stimuli import load_traces
from engine.spec import validate_spec
from engine.verify import reference

ROOT = Path(__file__).resolve().parents[1]
SPEC = ROOT / "specs/examples/compressor.yaml"
HELD_OUT = ROOT / "specs/examples/traces/compressor-heldout.npz"


def test_scores_by_hand():
    labels = [0, 0, 0, 0, 1, 1, 2, 2, 3, 3]
    predicted = [0, 0, 2, 0, 1, 0, 2, 3, 3, 3]
    s = score(predicted, labels, 4)
    assert s.confusion == ((3, 0, 1, 0), (1, 1, 0, 0), (0, 0, 1, 1), (0, 0, 0, 2))
    assert s.accuracy == pytest.approx(7 / 10)
    # faults: six windows, one (a class-1 window) called normal; a fault called the wrong fault still counts
    assert s.detection == Rate(5, 6)
    assert s.false_alarm == Rate(1, 4)
    assert s.recall(2) == Rate(1, 2)
    mask = [True] * 5 + [False] * 5
    assert s.detection_where(labels, mask) == Rate(1, 1)
    assert s.detection_where(labels, [not m for m in mask]) == Rate(4, 5)


def closed_form(hits: int, n: int, z: float = 1.959963984540054) -> tuple[float, float]:
    """The Wilson bounds as the roots of (p - p_hat)^2 = z^2 p (1 - p) / n."""
    p = hits / n
    a, b, c = 1 + z * z / n, -(2 * p + z * z / n), p * p
    root = math.sqrt(b * b - 4 * a * c)
    return ((-b - root) / (2 * a), (-b + root) / (2 * a))


@pytest.mark.parametrize("hits, n", [(0, 60), (60, 60), (89, 90), (29, 30), (7, 10), (1, 2)])
def test_wilson_interval(hits, n):
    low, high = Rate(hits, n).interval()
    expected = closed_form(hits, n)
    assert low == pytest.approx(max(0.0, expected[0]), abs=1e-12)
    assert high == pytest.approx(min(1.0, expected[1]), abs=1e-12)


def test_zero_of_sixty_is_not_zero_certainty():
    low, high = Rate(0, 60).interval()
    assert low == 0.0
    assert high == pytest.approx(1.959963984540054 ** 2 / (60 + 1.959963984540054 ** 2))
    assert round(high, 4) == 0.0602
    assert math.isnan(Rate(0, 0).value)


@pytest.fixture(scope="module")
def built():
    catalog = builtin_catalog()
    result = build_site(SPEC, catalog, BuildOptions(verify=False, preview=True))
    doc, _ = validate_spec(SPEC, catalog)
    resolved = resolve_site(doc, catalog)
    full = load_traces([HELD_OUT])
    # two windows of every class keep this fast
    pick = np.concatenate([np.nonzero(full.labels == c)[0][:2] for c in range(4)])
    stimuli = attrs.evolve(full, samples=full.samples[pick], labels=full.labels[pick],
                           sources=tuple(full.sources[i] for i in pick))
    return result.files["model.nmc"], resolved, stimuli, tuple(doc.data["model"]["labels"])


def test_kernel_classes_come_from_the_image_and_match_the_reference_kernel(built):
    image, resolved, stimuli, classes = built
    evaluation = evaluate(image, resolved.chain, resolved.float_model, stimuli, classes)
    network = read_image(image).network
    spikes = resolved.chain.run(stimuli.samples)
    slow = [int(np.argmax(np.sum(reference.run(network, window)[network.output], axis=0))) for window in spikes]
    assert list(evaluation.kernel.predicted) == slow
    fast = classify(simulate(resolved.float_model, spikes)[resolved.float_model.output].sum(axis=1))
    assert list(evaluation.float.predicted) == [int(c) for c in fast]
    assert evaluation.labels == (0, 0, 1, 1, 2, 2, 3, 3)
    assert evaluation.kernel.windows == 8
    summary = evaluation.summary()
    assert summary["classes"] == ["normal", "bearing", "imbalance", "looseness"]
    assert summary["kernel"]["confusion"] == [list(row) for row in evaluation.kernel.confusion]


def test_a_damaged_image_is_refused(built):
    image, resolved, stimuli, classes = built
    damaged = bytearray(image)
    damaged[len(damaged) // 2] ^= 0x40
    with pytest.raises(ImageError):
        evaluate(bytes(damaged), resolved.chain, resolved.float_model, stimuli, classes)


def test_labels_beyond_the_model_are_refused(built):
    image, resolved, stimuli, classes = built
    with pytest.raises(ValueError, match=r"^trace labels run 0\.\.3, the model has 3 classes$"):
        evaluate(image, resolved.chain, resolved.float_model, stimuli, classes[:3])


def test_held_out_traces_share_no_seed_with_training_or_verification():
    with np.load(HELD_OUT) as data:
        seeds = {int(s) for s in data["seed"]}
        severity = np.asarray(data["severity"])
        labels = np.asarray(data["labels"])
    training = {10_000 + 1000 * c + i for c in range(4) for i in range(60)}
    verification = {50_000 + i for i in range(24)} | {60_000 + 1000 * c + i for c in range(3) for i in range(8)}
    assert len(seeds) == len(labels) == 150
    assert not seeds & (training | verification)
    assert severity.min() < 0.6 <= severity.max()  # incipient faults beyond the training range are in
