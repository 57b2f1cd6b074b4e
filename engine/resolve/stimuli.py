"""Recorded traces (.npz) as measurement windows with labels."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import attrs
import numpy as np


@attrs.frozen(eq=False)
class Stimuli:
    samples: np.ndarray  # int16 (windows, n, axes)
    labels: np.ndarray  # int (windows,)
    sources: tuple[str, ...]  # file per window


class TraceError(ValueError):
    pass


def load_traces(paths: Sequence[Path], display: Sequence[str] | None = None) -> Stimuli:
    """Keys: samples int16 (n, axes) or (n,), window (samples per window), labels (per window)."""
    samples, labels, sources = [], [], []
    for index, path in enumerate(paths):
        name = (display or [str(p) for p in paths])[index]
        try:
            with np.load(path) as data:
                window = int(data["window"])
                raw = np.asarray(data["samples"])
                trace_labels = np.asarray(data["labels"], dtype=np.int64)
        except (OSError, KeyError, ValueError) as exc:
            raise TraceError(f"{name}: not a readable trace (.npz with samples, window, labels): {exc}") from None
        if raw.ndim == 1:
            raw = raw[:, None]
        if window <= 0 or raw.shape[0] < window:
            raise TraceError(f"{name}: holds {raw.shape[0]} samples, less than one window of {window}")
        count = raw.shape[0] // window
        if trace_labels.shape[0] < count:
            raise TraceError(f"{name}: {count} windows but {trace_labels.shape[0]} labels")
        samples.append(raw[: count * window].reshape(count, window, raw.shape[1]))
        labels.append(trace_labels[:count])
        sources += [name] * count
    return Stimuli(np.concatenate(samples).astype(np.int16), np.concatenate(labels), tuple(sources))
