"""Band energies from a fixed-point radix-2 FFT, one frame per model step.

Frame f uses the `fft` samples ending at sample (f + 1) * hop - 1 (zeros before the
window's start). Block floating point: the frame's samples (all axes) are scaled by 2^s,
the largest s that keeps the largest of them below 2^HEADROOM_BITS, then Hann-windowed
in Q15. The FFT is decimation-in-time with Q15 twiddles and a rounded halving after
every stage, so the result is 2^s X[k] / N and stays below 2^HEADROOM_BITS. A band's
energy is the sum of |X[k]|^2 over its bins (int64), summed over axes when combine_axes
is set, and reported as 256 * log2(energy) - 512 s, at least 0 (see fixed.log2_q8).
Without the scaling, a 20 LSB vibration lost most of its bits to the halvings.
"""

from __future__ import annotations

import math

import attrs
import numpy as np

from engine.dsp.fixed import floor_log2, log2_q8
from engine.dsp.stages import ChainError

FEATURE_FULL_SCALE = 64 * 256  # log2 of an int64 energy in Q8
HEADROOM_BITS = 22  # scaled samples stay below 2^22: bin powers below 2^45, band sums far below 2^63


def bit_reverse(n: int) -> np.ndarray:
    bits = n.bit_length() - 1
    return np.array([int(f"{i:0{bits}b}"[::-1], 2) for i in range(n)], dtype=np.int64)


@attrs.frozen(eq=False)
class BandEnergy:
    id: str
    fft: int
    hop: int
    bands: int
    combine_axes: bool
    window: np.ndarray  # Q15 Hann, int32 (fft,)
    twiddle_re: np.ndarray  # Q15 cos(2 pi k / N), int32 (fft/2,)
    twiddle_im: np.ndarray  # Q15 -sin(2 pi k / N), int32 (fft/2,)
    bin_band: np.ndarray  # int32 (fft/2,): band of each bin, -1 = unused
    edges_hz: tuple[float, ...]

    @classmethod
    def design(cls, id: str, *, fft: int, bands: int, fmin: float, fmax: float | None, spacing: str,
               combine_axes: bool, fs: float, dt: float) -> BandEnergy:
        hop_exact = fs * dt
        hop = round(float(hop_exact))
        if hop < 1 or abs(hop - hop_exact) > 0.01 * hop_exact:
            raise ChainError(id, f"the sample rate here ({fs:g}Hz) times model.dt ({dt:g}s) is {hop_exact:g} samples, "
                                 "not a whole number of samples per model step")
        if hop > 65535:  # the C counts a step's samples in 16 bits
            raise ChainError(id, f"{hop} samples per model step; the firmware counts at most 65535 (decimate first)")
        top = fs / 2 if fmax is None else fmax
        if top > fs / 2 * 1.0001 or fmin >= top:
            raise ChainError(id, f"band range {fmin:g}..{top:g}Hz must lie within 0..{fs / 2:g}Hz", "fmax")
        if spacing == "log":
            low = max(fmin, fs / fft)
            edges = [low * (top / low) ** (b / bands) for b in range(bands + 1)]
        else:
            edges = [fmin + (top - fmin) * b / bands for b in range(bands + 1)]
        centres = np.arange(fft // 2) * fs / fft
        bin_band = np.full(fft // 2, -1, dtype=np.int32)
        for b in range(bands):
            last = b == bands - 1
            inside = (centres >= edges[b]) & ((centres <= edges[b + 1]) if last else (centres < edges[b + 1]))
            if not inside.any():
                raise ChainError(id, f"band {b + 1} ({edges[b]:.4g}-{edges[b + 1]:.4g}Hz) holds no FFT bin "
                                     f"(bins are {fs / fft:.4g}Hz apart); use fewer bands or a longer fft", "bands")
            bin_band[inside] = b
        k = np.arange(fft // 2)
        window = np.round(32767 * 0.5 * (1 - np.cos(2 * math.pi * np.arange(fft) / fft))).astype(np.int32)
        return cls(id, fft, hop, bands, combine_axes, window,
                   np.round(32767 * np.cos(2 * math.pi * k / fft)).astype(np.int32),
                   np.round(-32767 * np.sin(2 * math.pi * k / fft)).astype(np.int32),
                   bin_band, tuple(edges))

    def n_features(self, axes: int) -> int:
        return self.bands if self.combine_axes else self.bands * axes

    def coefficients(self) -> dict[str, np.ndarray]:
        return {"params": np.array([self.fft, self.hop, self.bands, int(self.combine_axes)], dtype=np.int32),
                "window": self.window, "twiddle_re": self.twiddle_re, "twiddle_im": self.twiddle_im,
                "bin_band": self.bin_band}

    def frames(self, x: np.ndarray) -> np.ndarray:
        """(windows, samples, axes) -> segments (windows, frames, axes, fft) with zeros before 0."""
        windows, n, axes = x.shape
        count = n // self.hop
        padded = np.concatenate([np.zeros((windows, self.fft, axes), dtype=x.dtype), x], axis=1)
        ends = (np.arange(count) + 1) * self.hop + self.fft  # exclusive end in padded coordinates
        index = ends[:, None] - self.fft + np.arange(self.fft)[None, :]
        segments = padded[:, index, :]  # (windows, frames, fft, axes)
        return np.moveaxis(segments, 3, 2)

    @staticmethod
    def frame_shift(segments: np.ndarray) -> np.ndarray:
        """s per frame (windows, frames): the largest |sample| of all axes times 2^s stays
        below 2^HEADROOM_BITS."""
        peak = np.maximum(np.abs(segments).max(axis=(-1, -2)), 1)
        return (HEADROOM_BITS - 1) - floor_log2(peak)

    def fft_fixed(self, segments: np.ndarray, shift: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        scaled = segments * (np.int64(1) << shift)[..., None, None]
        xr = (scaled * self.window + (1 << 14)) >> 15
        xr = xr[..., bit_reverse(self.fft)]
        xi = np.zeros_like(xr)
        size = 2
        while size <= self.fft:
            half = size // 2
            step = self.fft // size
            wr = self.twiddle_re[np.arange(half) * step].astype(np.int64)
            wi = self.twiddle_im[np.arange(half) * step].astype(np.int64)
            shape = xr.shape[:-1] + (self.fft // size, size)
            xr = xr.reshape(shape)
            xi = xi.reshape(shape)
            ar, ai = xr[..., :half], xi[..., :half]
            br, bi = xr[..., half:], xi[..., half:]
            tr = (wr * br - wi * bi + (1 << 14)) >> 15
            ti = (wr * bi + wi * br + (1 << 14)) >> 15
            xr = np.concatenate([(ar + tr + 1) >> 1, (ar - tr + 1) >> 1], axis=-1).reshape(shape[:-2] + (self.fft,))
            xi = np.concatenate([(ai + ti + 1) >> 1, (ai - ti + 1) >> 1], axis=-1).reshape(shape[:-2] + (self.fft,))
            size *= 2
        return xr, xi

    def band_energies(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(windows, samples, axes) int -> energies (windows, frames, features) int64 of the
        scaled frames, and each frame's scaling exponent s (windows, frames)."""
        segments = self.frames(x)
        shift = self.frame_shift(segments)
        xr, xi = self.fft_fixed(segments, shift)
        power = xr[..., : self.fft // 2] ** 2 + xi[..., : self.fft // 2] ** 2
        energies = np.zeros(power.shape[:-1] + (self.bands,), dtype=np.int64)
        for b in range(self.bands):
            energies[..., b] = power[..., self.bin_band == b].sum(axis=-1)
        if self.combine_axes:
            return energies.sum(axis=2), shift
        windows, frames = energies.shape[:2]
        return energies.reshape(windows, frames, -1), shift  # axis-major: all bands of x, then y, ...

    def run(self, x: np.ndarray) -> np.ndarray:
        energies, shift = self.band_energies(x)
        levels: np.ndarray = np.maximum(log2_q8(energies) - 512 * shift[..., None], 0)
        return levels

    def run_float(self, x: np.ndarray) -> np.ndarray:
        segments = self.frames(x.astype(np.float64)) * (self.window / 32768.0)
        spectrum = np.fft.fft(segments, axis=-1)[..., : self.fft // 2] / self.fft
        power = np.abs(spectrum) ** 2
        energies: np.ndarray = np.zeros(power.shape[:-1] + (self.bands,))
        for b in range(self.bands):
            energies[..., b] = power[..., self.bin_band == b].sum(axis=-1)
        if self.combine_axes:
            energies = energies.sum(axis=2)
        else:
            energies = energies.reshape(energies.shape[0], energies.shape[1], -1)
        levels: np.ndarray = 256 * np.log2(np.maximum(energies, 1.0))
        return levels
