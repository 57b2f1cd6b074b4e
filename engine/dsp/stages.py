"""The signal stages in fixed point, each with the float design it approximates.

A stage is frozen data (its integer coefficients) plus a pure `run` over a batch of
windows: int64 arrays shaped (windows, samples, axes). Filter state starts at rest at the
start of every measurement window (the node powers the chain up per window); the DC
blocker is primed with the window's first sample so a static offset makes no step.
"""

from __future__ import annotations

import math
from typing import Any

import attrs
import numpy as np

from engine.dsp.fixed import COEFF_SHIFT, Q15_MAX, Q15_MIN, q, round_shift, sat16


def _signal() -> Any:
    """scipy.signal takes seconds to import; only filter design and the float ideals need it."""
    from scipy import signal

    return signal

POLE_SHIFT = 30
FRACTION_BITS = 16  # bits below the output LSB that recursive stages keep in their state


class ChainError(ValueError):
    """A chain that cannot be built; `stage` names it, `param` the parameter at fault."""

    def __init__(self, stage: str, message: str, param: str | None = None) -> None:
        super().__init__(message)
        self.stage = stage
        self.message = message
        self.param = param


@attrs.frozen
class DcBlock:
    """y[n] = x[n] - x[n-1] + p*y[n-1], p = 1 - 2*pi*fc/fs (Q30).

    The feedback state keeps FRACTION_BITS bits below the output LSB: rounding y itself
    each sample would leave a dead band of 0.5 / (1 - p) LSB (424 LSB for 5 Hz at
    26.7 kHz) in which a DC step never decays. acc = y * 2^16, clamped to the Q15 range:
      acc = (x[n] - x[n-1]) * 2^16 + ((p * acc + 2^29) >> 30);  y = (acc + 2^15) >> 16."""

    id: str
    pole: int  # Q30

    @classmethod
    def design(cls, id: str, cutoff: float, fs: float) -> DcBlock:
        pole = 1.0 - 2.0 * math.pi * cutoff / fs
        if not 0.0 < pole < 1.0:
            raise ChainError(id, f"cutoff {cutoff:g}Hz is too high for {fs:g}Hz", "cutoff")
        return cls(id, q(pole, POLE_SHIFT))

    def coefficients(self) -> np.ndarray:
        return np.array([self.pole], dtype=np.int32)

    def run(self, x: np.ndarray) -> np.ndarray:
        out = np.empty_like(x)
        x1 = x[:, 0, :].copy()
        acc = np.zeros_like(x1)
        lo, hi = Q15_MIN << FRACTION_BITS, Q15_MAX << FRACTION_BITS
        half_pole, half_fraction = 1 << (POLE_SHIFT - 1), 1 << (FRACTION_BITS - 1)
        for n in range(x.shape[1]):  # in-place ufuncs, as in Biquads.run
            xn = x[:, n, :]
            feedback = self.pole * acc
            feedback += half_pole
            feedback >>= POLE_SHIFT
            acc = xn - x1
            acc <<= FRACTION_BITS
            acc += feedback
            np.maximum(acc, lo, out=acc)
            np.minimum(acc, hi, out=acc)
            out[:, n, :] = (acc + half_fraction) >> FRACTION_BITS
            x1 = xn
        return out

    def run_float(self, x: np.ndarray) -> np.ndarray:
        p = self.pole / (1 << POLE_SHIFT)
        x = x.astype(np.float64)
        prev = np.concatenate([x[:, :1, :], x[:, :-1, :]], axis=1)
        filtered: np.ndarray = _signal().lfilter([1.0], [1.0, -p], x - prev, axis=1)
        return filtered


@attrs.frozen
class Biquads:
    """A cascade of second-order sections in direct form I with Q28 coefficients, the
    output state kept with FRACTION_BITS bits below the LSB (Y = y * 2^16):
      acc = (b0 x0 + b1 x1 + b2 x2) * 2^16 - a1 Y1 - a2 Y2
      Y0 = clamp((acc + 2^27) >> 28, Q15 range * 2^16);  y0 = (Y0 + 2^15) >> 16.
    Rounding y itself in the feedback path feeds 0.5 LSB errors through 1 / A(z), whose
    gain near a narrow notch is huge (the 60 Hz notch at 26.7 kHz kept its whole input).
    Every coefficient lies in (-2, 2), so the accumulator stays below 2^63."""

    id: str
    kind: str  # notch | lowpass | highpass
    sections: tuple[tuple[int, int, int, int, int], ...]  # b0 b1 b2 a1 a2, Q28
    float_sections: tuple[tuple[float, ...], ...]

    @classmethod
    def from_sos(cls, id: str, kind: str, sos: np.ndarray) -> Biquads:
        sections = []
        floats = []
        for b0, b1, b2, a0, a1, a2 in sos:
            b0, b1, b2, a1, a2 = (v / a0 for v in (b0, b1, b2, a1, a2))
            if max(abs(b0), abs(b1), abs(b2), abs(a1), abs(a2)) > 2:
                raise ChainError(id, "filter coefficients exceed the range (-2, 2); lower the order or move the cutoff")
            sections.append((q(b0, COEFF_SHIFT), q(b1, COEFF_SHIFT), q(b2, COEFF_SHIFT), q(a1, COEFF_SHIFT),
                             q(a2, COEFF_SHIFT)))
            floats.append((b0, b1, b2, 1.0, a1, a2))
        return cls(id, kind, tuple(sections), tuple(floats))

    def coefficients(self) -> np.ndarray:
        return np.array(self.sections, dtype=np.int32).reshape(-1)

    def run(self, x: np.ndarray) -> np.ndarray:
        lo, hi = Q15_MIN << FRACTION_BITS, Q15_MAX << FRACTION_BITS
        for b0, b1, b2, a1, a2 in self.sections:
            out = np.empty_like(x)
            x1 = np.zeros_like(x[:, 0, :])
            x2 = x1.copy()
            y1 = x1.copy()
            y2 = x1.copy()
            half_coeff, half_fraction = 1 << (COEFF_SHIFT - 1), 1 << (FRACTION_BITS - 1)
            # in-place ufuncs: the arrays are small, so each call's overhead is the cost
            for n in range(x.shape[1]):
                x0 = x[:, n, :]
                acc = b0 * x0
                acc += b1 * x1
                acc += b2 * x2
                acc <<= FRACTION_BITS
                acc -= a1 * y1
                acc -= a2 * y2
                acc += half_coeff
                acc >>= COEFF_SHIFT
                np.maximum(acc, lo, out=acc)
                np.minimum(acc, hi, out=acc)
                out[:, n, :] = (acc + half_fraction) >> FRACTION_BITS
                x2, x1 = x1, x0
                y2, y1 = y1, acc
            x = out
        return x

    def run_float(self, x: np.ndarray) -> np.ndarray:
        filtered: np.ndarray = _signal().sosfilt(np.array(self.float_sections), x.astype(np.float64), axis=1)
        return filtered


def _rbj_notch(f0: float, quality: float, fs: float) -> list[float]:
    """The notch of the audio-EQ cookbook (R. Bristow-Johnson): the bilinear transform of
    an analog notch with its centre prewarped, -3 dB bandwidth f0 / Q."""
    w0 = 2 * math.pi * f0 / fs
    alpha = math.sin(w0) / (2 * quality)
    c = math.cos(w0)
    return [1.0, -2 * c, 1.0, 1 + alpha, -2 * c, 1 - alpha]


def notch(id: str, freq: float, harmonics: int, quality: float, fs: float) -> Biquads:
    sos = []
    for h in range(1, harmonics + 1):
        f = freq * h
        if f >= fs / 2:
            raise ChainError(id, f"harmonic {h} ({f:g}Hz) is at or above the Nyquist frequency {fs / 2:g}Hz", "harmonics")
        sos.append(_rbj_notch(f, quality, fs))
    return Biquads.from_sos(id, "notch", np.array(sos))


def butterworth_sos(kind: str, order: int, cutoff: float, fs: float) -> np.ndarray:
    """Butterworth sections by the bilinear transform with the cutoff prewarped (the design
    scipy.signal.butter makes): one biquad per conjugate pole pair, Q = 1 / (2 cos angle),
    plus a first-order section when N is odd. Every section has unit passband gain."""
    w0 = 2 * math.pi * cutoff / fs
    c, sn = math.cos(w0), math.sin(w0)
    sections = []
    for k in range(order // 2):
        # angle of the k-th conjugate pole pair from the negative real axis
        angle = math.pi * (2 * k + 1) / (2 * order) if order % 2 == 0 else math.pi * (k + 1) / order
        quality = 1.0 / (2 * math.cos(angle))
        alpha = sn / (2 * quality)
        if kind == "lowpass":
            b = [(1 - c) / 2, 1 - c, (1 - c) / 2]
        else:
            b = [(1 + c) / 2, -(1 + c), (1 + c) / 2]
        sections.append(b + [1 + alpha, -2 * c, 1 - alpha])
    if order % 2:
        t = math.tan(w0 / 2)
        if kind == "lowpass":
            sections.append([t, t, 0.0, 1 + t, t - 1, 0.0])
        else:
            sections.append([1.0, -1.0, 0.0, 1 + t, t - 1, 0.0])
    return np.array(sections)


def butterworth(id: str, kind: str, cutoff: float, order: int, fs: float) -> Biquads:
    if not 0 < cutoff < fs / 2:
        raise ChainError(id, f"cutoff {cutoff:g}Hz must be below the Nyquist frequency {fs / 2:g}Hz", "cutoff")
    # unit gain per section: putting the whole gain into one section (as a single transfer
    # function would) shrinks the signal to nothing in fixed point before later sections
    return Biquads.from_sos(id, kind, butterworth_sos(kind, order, cutoff, fs))


FIR_SHIFT = 15  # anti-alias FIR taps are Q15 and sum to exactly 2^15 (unit gain at DC)
HAMMING_TRANSITION = 3.3  # a Hamming-windowed sinc of N taps goes from pass to stop over about 3.3 / N of fs


@attrs.frozen
class Decimate:
    """Keep samples 0, factor, 2 factor, ... . With taps, each kept sample is first the
    output of a Hamming-windowed sinc low-pass over the last len(taps) input samples
    (zeros before the window's start): y = sat16((sum h[k] x[n-k] + 2^14) >> 15). Its
    cutoff sits half a transition width below the new Nyquist frequency, so what would
    alias is at least 40 dB down (47 dB for 31 taps at factor 2, 51 dB for 127 at 8)."""

    id: str
    factor: int
    taps: tuple[int, ...] = ()  # Q15

    @classmethod
    def design(cls, id: str, factor: int, taps: int) -> Decimate:
        if taps == 0:
            return cls(id, factor)
        if taps < 3 or taps % 2 == 0:
            raise ChainError(id, f"taps must be 0 (no filter) or an odd number of at least 3, not {taps}", "taps")
        cutoff = 0.5 / factor - HAMMING_TRANSITION / (2 * taps)  # cycles per input sample
        if cutoff < 0.25 / factor:
            least = math.ceil(HAMMING_TRANSITION * factor / 0.5) | 1
            raise ChainError(id, f"{taps} taps leave less than half the band below the new Nyquist frequency for "
                                 f"factor {factor}; use at least {least}", "taps")
        k = np.arange(taps) - (taps - 1) / 2
        ideal = 2 * cutoff * np.sinc(2 * cutoff * k) * np.hamming(taps)
        ideal /= ideal.sum()
        q15 = [q(v, FIR_SHIFT) for v in ideal]
        q15[taps // 2] += (1 << FIR_SHIFT) - sum(q15)  # rounding must not change the DC gain
        return cls(id, factor, tuple(q15))

    def coefficients(self) -> np.ndarray:
        return np.array([self.factor, *self.taps], dtype=np.int32)

    def run(self, x: np.ndarray) -> np.ndarray:
        if not self.taps:
            return x[:, :: self.factor, :]
        kept = np.arange(0, x.shape[1], self.factor)
        acc = np.zeros((x.shape[0], len(kept), x.shape[2]), dtype=np.int64)
        for k, h in enumerate(self.taps):
            source = kept - k
            valid = source >= 0
            acc[:, valid, :] += h * x[:, source[valid], :]
        return sat16(round_shift(acc, FIR_SHIFT))

    def run_float(self, x: np.ndarray) -> np.ndarray:
        if not self.taps:
            return x[:, :: self.factor, :]
        h = np.array(self.taps, dtype=np.float64) / (1 << FIR_SHIFT)
        filtered: np.ndarray = _signal().lfilter(h, [1.0], x.astype(np.float64), axis=1)[:, :: self.factor, :]
        return filtered


@attrs.frozen
class Envelope:
    """|x| (capped at 32767) smoothed by a one-pole low-pass with gain k in Q30 and the
    state kept 16 bits below the LSB (Y = y * 2^16), so slow envelopes have no dead band:
      Y += ((|x| * 2^16 - Y) * k + 2^29) >> 30;  y = (Y + 2^15) >> 16."""

    id: str
    gain: int  # Q30

    @classmethod
    def design(cls, id: str, cutoff: float, fs: float) -> Envelope:
        if not 0 < cutoff < fs / 2:
            raise ChainError(id, f"cutoff {cutoff:g}Hz must be below the Nyquist frequency {fs / 2:g}Hz", "cutoff")
        return cls(id, max(1, q(1.0 - math.exp(-2.0 * math.pi * cutoff / fs), POLE_SHIFT)))

    def coefficients(self) -> np.ndarray:
        return np.array([self.gain], dtype=np.int32)

    def run(self, x: np.ndarray) -> np.ndarray:
        out = np.empty_like(x)
        y = np.zeros_like(x[:, 0, :])
        rectified = np.minimum(np.abs(x), Q15_MAX) << FRACTION_BITS
        for n in range(x.shape[1]):
            y = y + round_shift((rectified[:, n, :] - y) * self.gain, POLE_SHIFT)
            out[:, n, :] = round_shift(y, FRACTION_BITS)
        return out

    def run_float(self, x: np.ndarray) -> np.ndarray:
        k = self.gain / float(1 << POLE_SHIFT)
        filtered: np.ndarray = _signal().lfilter([k], [1.0, k - 1.0], np.abs(x.astype(np.float64)), axis=1)
        return filtered
