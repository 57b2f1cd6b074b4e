"""Recorded traces (.npz) as measurement windows with labels, and the checks that a trace
was recorded the way the spec's sensor records: its sample rate, its units (g per count
within the sensor's range) and its window length."""

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
    warnings: tuple[str, ...] = ()  # how the traces differ from the spec without being wrong


class TraceError(ValueError):
    pass


@attrs.frozen
class SensorSetting:
    """What the spec says the sensor records: a trace must match it."""

    sample_rate: float  # Hz
    range_g: float | None  # full scale of an accelerometer, g
    window_samples: int | None  # samples in one measurement window


def trace_mismatches(name: str, data, samples: np.ndarray, sensor: SensorSetting) -> tuple[list[str], list[str]]:
    """(errors, warnings) about a trace's recorded sample rate, units and window against
    the spec. A key the file does not hold is not checked (CSV holds none)."""
    errors, warnings = [], []
    keys = set(getattr(data, "files", ()) or ())
    if "sample_rate" in keys:
        rate = float(np.asarray(data["sample_rate"]))
        if abs(rate - sensor.sample_rate) > 1e-6 * sensor.sample_rate:
            errors.append(f"{name}: recorded at {rate:g} Hz (its sample_rate), the spec's sensor runs at "
                          f"{sensor.sample_rate:g} Hz (sensor.odr); every frequency in the chain would be off by "
                          f"a factor {sensor.sample_rate / rate:.4g}")
    if "lsb" in keys and sensor.range_g is not None and samples.size:
        lsb = float(np.asarray(data["lsb"]))
        peak = float(np.abs(samples.astype(np.float64)).max()) * lsb
        if peak > sensor.range_g * 1.001:
            errors.append(f"{name}: its samples reach {peak:.4g} g ({lsb:g} g per count), beyond the spec's "
                          f"{sensor.range_g:g} g range (sensor.range)")
    if "window" in keys and sensor.window_samples is not None:
        window = int(np.asarray(data["window"]))
        if window != sensor.window_samples:
            warnings.append(f"{name}: its windows are {window} samples, the spec's measurement window is "
                            f"{sensor.window_samples} samples (runtime.schedule.window at sensor.odr)")
    return errors, warnings


def load_traces(paths: Sequence[Path], display: Sequence[str] | None = None,
                sensor: SensorSetting | None = None) -> Stimuli:
    """Keys: samples int16 (n, axes) or (n,), window (samples per window), labels (per window);
    optional sample_rate (Hz) and lsb (g per count), checked against `sensor` when given."""
    samples, labels, sources, warnings = [], [], [], []
    for index, path in enumerate(paths):
        name = (display or [str(p) for p in paths])[index]
        try:
            with np.load(path) as data:
                window = int(data["window"])
                raw = np.asarray(data["samples"])
                trace_labels = np.asarray(data["labels"], dtype=np.int64)
                errors, cautions = trace_mismatches(name, data, raw, sensor) if sensor is not None else ([], [])
        except (OSError, KeyError, ValueError) as exc:
            raise TraceError(f"{name}: not a readable trace (.npz with samples, window, labels): {exc}") from None
        if errors:
            raise TraceError("; ".join(errors))
        warnings += cautions
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
    return Stimuli(np.concatenate(samples).astype(np.int16), np.concatenate(labels), tuple(sources), tuple(warnings))
