"""Accuracy of a built image on labelled traces the model never saw.

The image is read back from its bytes and run by the kernel, window by window; the float
reference is the source model in floats on the same input spikes (the spec's fixed-point
chain). Both are scored the same way: a window's class is the output with the most spikes
(ties: the lowest index); class 0 is normal operation, every other class a fault.

  detection rate    fault windows classified as any fault class
  false-alarm rate  normal windows classified as a fault class

Each rate comes with its 95% Wilson score interval (Wilson 1927, 'Probable inference, the
law of succession, and statistical inference', JASA 22:209), which stays inside [0, 1] and
is honest at 0 of n, where the plain binomial interval collapses to a point.
"""

from __future__ import annotations

import builtins
import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import attrs
import numpy as np

from engine.image import read_image
from engine.resolve.floatnet import FloatNet, classify, readout_scores, simulate
from engine.resolve.stimuli import Stimuli
from engine.verify import kernel

if TYPE_CHECKING:
    from engine.dsp.chain import Chain

Z95 = 1.959963984540054  # two-sided 95% normal quantile


@attrs.frozen
class Rate:
    hits: int
    total: int

    @property
    def value(self) -> float:
        return self.hits / self.total if self.total else float("nan")

    def interval(self, z: float = Z95) -> tuple[float, float]:
        """Wilson score interval."""
        if not self.total:
            return (float("nan"), float("nan"))
        n, p = self.total, self.hits / self.total
        centre = (p + z * z / (2 * n)) / (1 + z * z / n)
        half = z / (1 + z * z / n) * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
        return (max(0.0, centre - half), min(1.0, centre + half))


@attrs.frozen
class Scores:
    predicted: tuple[int, ...]
    confusion: tuple[tuple[int, ...], ...]  # [true class][predicted class] window counts

    @property
    def windows(self) -> int:
        return sum(map(sum, self.confusion))

    @property
    def accuracy(self) -> float:
        return sum(self.confusion[c][c] for c in range(len(self.confusion))) / self.windows

    @property
    def detection(self) -> Rate:
        faults = self.confusion[1:]
        return Rate(sum(sum(row[1:]) for row in faults), sum(map(sum, faults)))

    @property
    def false_alarm(self) -> Rate:
        return Rate(sum(self.confusion[0][1:]), sum(self.confusion[0]))

    def recall(self, c: int) -> Rate:
        return Rate(self.confusion[c][c], sum(self.confusion[c]))

    def detection_where(self, labels: Sequence[int], mask: Sequence[bool]) -> Rate:
        """Detection rate over the fault windows selected by mask."""
        chosen = [(p, y) for p, y, m in zip(self.predicted, labels, mask, strict=True) if m and y != 0]
        return Rate(sum(1 for p, _ in chosen if p != 0), len(chosen))


def score(predicted: Sequence[int] | np.ndarray, labels: Sequence[int] | np.ndarray, n_classes: int) -> Scores:
    confusion = np.zeros((n_classes, n_classes), dtype=np.int64)
    np.add.at(confusion, (np.asarray(labels, dtype=np.int64), np.asarray(predicted, dtype=np.int64)), 1)
    return Scores(tuple(int(p) for p in predicted), tuple(tuple(int(v) for v in row) for row in confusion))


@attrs.frozen(eq=False)
class Evaluation:
    classes: tuple[str, ...]
    labels: tuple[int, ...]
    sources: tuple[str, ...]
    kernel: Scores  # the image, read back and run by the integer kernel
    float: Scores  # the source model in floats

    @property
    def agreement(self) -> builtins.float:  # the field `float` hides the type inside the class
        return builtins.float(np.mean(np.array(self.kernel.predicted) == np.array(self.float.predicted)))

    def summary(self) -> dict[str, Any]:
        """Plain data for report.json-like files."""
        out: dict[str, Any] = {"windows": len(self.labels), "classes": list(self.classes), "sources": sorted(set(self.sources)),
                     "agreement": self.agreement}
        for name, scores in (("kernel", self.kernel), ("float", self.float)):
            out[name] = {"accuracy": scores.accuracy,
                         "detection_rate": scores.detection.value, "detection_ci95": list(scores.detection.interval()),
                         "false_alarm_rate": scores.false_alarm.value,
                         "false_alarm_ci95": list(scores.false_alarm.interval()),
                         "confusion": [list(row) for row in scores.confusion]}
        return out


def kernel_classes(image: bytes, spikes: np.ndarray) -> np.ndarray:
    """Class per window from the image's own network, run by the kernel."""
    network = read_image(image).network
    counts = [kernel.run(network, window).output_scores(network) for window in spikes]
    return classify(np.array(counts))


def float_classes(model: FloatNet, spikes: np.ndarray) -> np.ndarray:
    return classify(readout_scores(model, simulate(model, spikes)))


def evaluate(image: bytes, chain: Chain, model: FloatNet, stimuli: Stimuli, classes: Sequence[str]) -> Evaluation:
    labels = np.asarray(stimuli.labels, dtype=np.int64)
    if labels.size and (labels.min() < 0 or labels.max() >= len(classes)):
        raise ValueError(f"trace labels run {labels.min()}..{labels.max()}, the model has {len(classes)} classes")
    spikes = chain.run(stimuli.samples)
    n = len(classes)
    return Evaluation(tuple(classes), tuple(int(y) for y in labels), tuple(stimuli.sources),
                      score(kernel_classes(image, spikes), labels, n), score(float_classes(model, spikes), labels, n))
