"""Recorded traces (.npz) as measurement windows with labels, and the checks that a trace
was recorded the way the spec's sensor records: its sample rate, its units (g per count
within the sensor's range) and its window length."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import attrs
import numpy as np


@attrs.frozen(eq=False)
class Stimuli:
    samples: np.ndarray  # int16 (windows, n, axes)
    labels: np.ndarray  # int (windows,)
    sources: tuple[str, ...]  # file per window
    warnings: tuple[str, ...] = ()  # how the traces differ from the spec without being wrong


class TraceError(ValueError):
    def __init__(self, message: str, index: int = 0, hint: str | None = None) -> None:
        super().__init__(message)
        self.index = index  # which of the paths it is about
        self.hint = hint


SENSOR_HINT = ("record the traces with the spec's sensor settings, or set sensor.odr and sensor.range to what the "
               "traces were recorded with")


@attrs.frozen
class SensorSetting:
    """What the spec says the sensor records: a trace must match it."""

    sample_rate: float  # Hz
    range_g: float | None  # full scale of an accelerometer, g
    window_samples: int  # samples in one measurement window


def _one_number(name: str, key: str, value: Any, errors: list[str], *, integer: bool = False) -> float | None:
    """A recorded setting is one finite number (a 0-d array, or 1 element as some writers
    store it); anything else is an error naming the key, never a crash."""
    array = np.asarray(value)
    kinds = "iu" if integer else "iuf"
    if array.size != 1 or array.dtype.kind not in kinds or not np.isfinite(array.astype(np.float64)).all():
        what = "one integer" if integer else "one finite number"
        errors.append(f"{name}: its {key} must be {what}, got {array.dtype} of shape {array.shape}")
        return None
    return float(array.reshape(-1)[0])


def trace_mismatches(name: str, data: Mapping[str, Any], samples: np.ndarray, sensor: SensorSetting) -> tuple[list[str], list[str]]:
    """(errors, warnings) about a trace's recorded sample rate, units and window against
    the spec. A key the file does not hold is not checked (CSV holds none)."""
    errors: list[str] = []
    warnings: list[str] = []
    keys = set(data.keys()) if isinstance(data, Mapping) else set(getattr(data, "files", ()) or ())
    rate = _one_number(name, "sample_rate", data["sample_rate"], errors) if "sample_rate" in keys else None
    if rate is not None and (rate <= 0 or abs(rate - sensor.sample_rate) > 1e-6 * sensor.sample_rate):
        errors.append(f"{name}: recorded at {rate:g} Hz (its sample_rate), the spec's sensor runs at "
                      f"{sensor.sample_rate:g} Hz (sensor.odr); every frequency in the chain would be off by "
                      f"a factor {sensor.sample_rate / rate if rate else float('inf'):.4g}")
    lsb = _one_number(name, "lsb", data["lsb"], errors) if "lsb" in keys else None
    if lsb is not None and sensor.range_g is not None and samples.size:
        peak = float(np.abs(samples.astype(np.float64)).max()) * lsb
        if peak > sensor.range_g * 1.001:
            errors.append(f"{name}: its samples reach {peak:.4g} g ({lsb:g} g per count), beyond the spec's "
                          f"{sensor.range_g:g} g range (sensor.range)")
    window = _one_number(name, "window", data["window"], errors, integer=True) if "window" in keys else None
    if window is not None and int(window) != sensor.window_samples:
        warnings.append(f"{name}: its windows are {int(window)} samples, the spec's measurement window is "
                        f"{sensor.window_samples} samples (runtime.schedule.window at sensor.odr)")
    return errors, warnings


# a window longer than this is no measurement window (one minute at 16 kHz is ~1M samples)
MAX_WINDOW = 1 << 24


def _trace_arrays(path: Path, name: str, index: int) -> tuple[dict[str, np.ndarray], int, np.ndarray, np.ndarray]:
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
    return data, int(window.reshape(-1)[0]), raw, labels.astype(np.int64)


def load_traces(paths: Sequence[Path], display: Sequence[str] | None = None, *, n_labels: int | None = None,
                sensor: SensorSetting | None = None) -> Stimuli:
    """Keys: samples int16 (n, axes) or (n,), window (samples per window), labels (per window,
    each an index into the model's labels when n_labels is given); optional sample_rate (Hz)
    and lsb (g per count), checked against `sensor` when given."""
    samples: list[np.ndarray] = []
    labels: list[np.ndarray] = []
    sources: list[str] = []
    warnings: list[str] = []
    for index, path in enumerate(paths):
        name = (display or [str(p) for p in paths])[index]
        data, window, raw, trace_labels = _trace_arrays(Path(path), name, index)
        errors, cautions = trace_mismatches(name, data, raw, sensor) if sensor is not None else ([], [])
        if errors:
            raise TraceError("; ".join(errors), index, SENSOR_HINT)
        warnings += cautions
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
    return Stimuli(np.concatenate(samples).astype(np.int16), np.concatenate(labels), tuple(sources), tuple(warnings))
