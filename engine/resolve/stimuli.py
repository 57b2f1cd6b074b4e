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
    def __init__(self, message: str, index: int = 0) -> None:
        super().__init__(message)
        self.index = index  # which of the paths it is about


# a window longer than this is no measurement window (one minute at 16 kHz is ~1M samples)
MAX_WINDOW = 1 << 24


def _trace_arrays(path: Path, name: str, index: int) -> tuple[int, np.ndarray, np.ndarray]:
    from engine.npzfile import NpzError, read_npz

    try:
        data = read_npz(path)
    except NpzError as exc:
        raise TraceError(f"{name}: not a readable trace (.npz with samples, window, labels): {exc}", index) from None
    missing = [key for key in ("samples", "window", "labels") if key not in data]
    if missing:
        raise TraceError(f"{name}: not a readable trace (.npz with samples, window, labels): "
                         f"no array named {', '.join(missing)}", index)
    window, raw, labels = data["window"], data["samples"], data["labels"]
    if window.size != 1 or window.dtype.kind not in "iu" or not 0 < int(window.reshape(-1)[0]) <= MAX_WINDOW:
        raise TraceError(f"{name}: window must be one integer from 1 to {MAX_WINDOW} (samples per window), "
                         f"got {window.dtype} of shape {window.shape}", index)
    if raw.ndim not in (1, 2) or raw.dtype.kind not in "iu":
        raise TraceError(f"{name}: samples must be integers of shape (n,) or (n, axes), got {raw.dtype} of shape {raw.shape}",
                         index)
    if raw.size and (raw.min() < -(2**15) or raw.max() > 2**15 - 1):
        raise TraceError(f"{name}: samples must fit int16 (raw sensor counts)", index)
    if labels.ndim != 1 or labels.dtype.kind not in "iu":
        raise TraceError(f"{name}: labels must be integers, one per window (shape (windows,)), "
                         f"got {labels.dtype} of shape {labels.shape}", index)
    return int(window.reshape(-1)[0]), raw, labels.astype(np.int64)


def load_traces(paths: Sequence[Path], display: Sequence[str] | None = None, *, n_labels: int | None = None) -> Stimuli:
    """Keys: samples int16 (n, axes) or (n,), window (samples per window), labels (per window,
    each an index into the model's labels when n_labels is given)."""
    samples, labels, sources = [], [], []
    for index, path in enumerate(paths):
        name = (display or [str(p) for p in paths])[index]
        window, raw, trace_labels = _trace_arrays(Path(path), name, index)
        if raw.ndim == 1:
            raw = raw[:, None]
        if raw.shape[1] == 0:
            raise TraceError(f"{name}: samples have no axes", index)
        if raw.shape[0] < window:
            raise TraceError(f"{name}: holds {raw.shape[0]} samples, less than one window of {window}", index)
        count = raw.shape[0] // window
        if trace_labels.shape[0] < count:
            raise TraceError(f"{name}: {count} windows but {trace_labels.shape[0]} labels", index)
        used = trace_labels[:count]
        if n_labels is not None and used.size and (used.min() < 0 or used.max() >= n_labels):
            raise TraceError(f"{name}: label {int(used.min() if used.min() < 0 else used.max())} is not an index "
                             f"into the model's {n_labels} labels (0..{n_labels - 1})", index)
        if samples and raw.shape[1] != samples[0].shape[2]:
            raise TraceError(f"{name}: {raw.shape[1]} axes, the first trace has {samples[0].shape[2]}", index)
        samples.append(raw[: count * window].reshape(count, window, raw.shape[1]))
        labels.append(used)
        sources += [name] * count
    return Stimuli(np.concatenate(samples).astype(np.int16), np.concatenate(labels), tuple(sources))
