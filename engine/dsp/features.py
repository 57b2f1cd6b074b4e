"""Time-domain features per model step: RMS, peak and kurtosis of each axis.

Frame f is the `hop` samples f * hop .. (f + 1) * hop - 1 (one model step, after the
sample stages). All integer:
  rms       floor(sqrt(floor(sum x^2 / hop)))                       in LSB
  peak      max |x|                                                 in LSB
  kurtosis  hop * sum d^4 / (sum d^2)^2 in Q8 (3.0 = 768 for Gaussian noise), capped at
            FEATURE_FULL_SCALE; d = hop * x - sum x (hop times the deviation from the mean,
            exact), scaled by 2^s so the largest |d| lies in [2^11, 2^12] (the ratio does
            not change with scale, and sum d^4 stays below 2^63 for hop <= MAX_HOP);
            computed as (hop * floor(sum d^4 / sum d^2) * 256) // sum d^2; 0 for a
            constant frame.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

import attrs
import numpy as np

from engine.dsp.fixed import floor_log2, round_shift
from engine.dsp.spectrum import FEATURE_FULL_SCALE
from engine.dsp.stages import ChainError

FEATURE_KINDS = ("rms", "peak", "kurtosis")
MOMENT_BITS = 12
KURTOSIS_SHIFT = 8
MAX_HOP = 1 << 14


def isqrt(values: np.ndarray) -> np.ndarray:
    """floor(sqrt(v)) for 0 <= v < 2^32, bit by bit (as the C does)."""
    v = np.asarray(values, dtype=np.int64)
    root = np.zeros_like(v)
    for bit in range(15, -1, -1):
        candidate = root + (1 << bit)
        root = np.where(candidate * candidate <= v, candidate, root)
    return root


def kurtosis_q8(frames: np.ndarray) -> np.ndarray:
    """(..., hop) int64 samples -> (...) kurtosis in Q8."""
    hop = frames.shape[-1]
    d = hop * frames - frames.sum(axis=-1)[..., None]  # hop (x - mean), exactly
    peak = np.abs(d).max(axis=-1)
    shift = (MOMENT_BITS - 1) - floor_log2(np.maximum(peak, 1))  # peak * 2^shift in [2^11, 2^12)
    up = np.maximum(shift, 0)[..., None]
    down = np.maximum(-shift, 0)[..., None]
    scaled = np.where(down > 0, round_shift(d, np.maximum(down, 1)), d << up)
    s2 = (scaled * scaled).sum(axis=-1)
    s4 = ((scaled * scaled) ** 2).sum(axis=-1)
    safe = np.maximum(s2, 1)
    value = (hop * (s4 // safe) << KURTOSIS_SHIFT) // safe
    return np.where(peak > 0, np.minimum(value, FEATURE_FULL_SCALE), 0)


@attrs.frozen
class Features:
    id: str
    hop: int
    kinds: tuple[str, ...]

    @classmethod
    def design(cls, id: str, *, kinds: Iterable[str] | None, fs: float, dt: float) -> Features:
        named = tuple(kinds) if kinds else FEATURE_KINDS
        unknown = [k for k in named if k not in FEATURE_KINDS]
        if unknown or not named or len(set(named)) != len(named):
            raise ChainError(id, f"kinds must be distinct names from {', '.join(FEATURE_KINDS)}", "kinds")
        hop_exact = fs * dt
        hop = round(float(hop_exact))
        if hop < 2 or abs(hop - hop_exact) > 0.01 * hop_exact:
            raise ChainError(id, f"the sample rate here ({fs:g}Hz) times model.dt ({dt:g}s) is {hop_exact:g} samples, "
                                 "not a whole number of at least 2 samples per model step")
        if hop > MAX_HOP:
            raise ChainError(id, f"{hop} samples per model step; features take at most {MAX_HOP} (decimate first)")
        return cls(id, hop, named)

    def n_features(self, axes: int) -> int:
        return axes * len(self.kinds)

    def coefficients(self) -> np.ndarray:
        return np.array([self.hop, *(FEATURE_KINDS.index(k) for k in self.kinds)], dtype=np.int32)

    def _frames(self, x: np.ndarray) -> np.ndarray:
        """(windows, n, axes) -> (windows, frames, axes, hop)"""
        windows, n, axes = x.shape
        count = n // self.hop
        return np.moveaxis(x[:, : count * self.hop, :].reshape(windows, count, self.hop, axes), 2, 3)

    def run(self, x: np.ndarray) -> np.ndarray:
        """-> (windows, frames, axes * len(kinds)) int64, axis-major (all kinds of x, then y, ...)."""
        frames = self._frames(np.asarray(x, dtype=np.int64))
        columns: dict[str, Callable[[], np.ndarray]] = {"rms": lambda: isqrt((frames * frames).sum(axis=-1) // self.hop),
                   "peak": lambda: np.abs(frames).max(axis=-1),
                   "kurtosis": lambda: kurtosis_q8(frames)}
        out = np.stack([columns[k]() for k in self.kinds], axis=-1)
        return out.reshape(out.shape[0], out.shape[1], -1)

    def run_float(self, x: np.ndarray) -> np.ndarray:
        frames = self._frames(np.asarray(x, dtype=np.float64))
        d = frames - frames.mean(axis=-1, keepdims=True)
        var = (d * d).mean(axis=-1)
        fourth = (d ** 4).mean(axis=-1)
        kurt = np.divide(fourth, var * var, out=np.zeros_like(var), where=var > 0)
        columns = {"rms": np.sqrt((frames * frames).mean(axis=-1)), "peak": np.abs(frames).max(axis=-1),
                   "kurtosis": np.minimum(kurt * (1 << KURTOSIS_SHIFT), FEATURE_FULL_SCALE)}
        out = np.stack([columns[k] for k in self.kinds], axis=-1)
        return out.reshape(out.shape[0], out.shape[1], -1)
