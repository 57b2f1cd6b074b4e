"""Integer helpers shared by every stage; the C templates implement the same operations.

All signal values are int64 numpy arrays holding Q15 samples (the int16 range); every
stage saturates its output to that range. Shifts are arithmetic (floor), and every
rounding adds half an LSB before shifting, exactly as the C does with int64 arithmetic.
"""

from __future__ import annotations

import numpy as np

Q15_MIN, Q15_MAX = -32768, 32767
COEFF_SHIFT = 28  # biquad coefficients are Q28 (|c| < 8 fits an int32)


def sat16(values: np.ndarray) -> np.ndarray:
    return np.clip(values, Q15_MIN, Q15_MAX)


def round_shift(values: np.ndarray, shift: int) -> np.ndarray:
    """(v + 2^(shift-1)) >> shift, arithmetic."""
    return (values + (1 << (shift - 1))) >> shift


def q(value: float, shift: int) -> int:
    return int(round(value * (1 << shift)))


def floor_log2(values: np.ndarray) -> np.ndarray:
    """floor(log2 v) for int64 v >= 1, by halving in steps of 32, 16, ..., 1 bits (as the C does)."""
    v = np.asarray(values, dtype=np.int64).copy()
    m = np.zeros(v.shape, dtype=np.int64)
    for bits in (32, 16, 8, 4, 2, 1):
        big = v >= (np.int64(1) << bits)
        m = m + np.where(big, bits, 0)
        v = np.where(big, v >> bits, v)
    return m


def log2_q8(energy: np.ndarray) -> np.ndarray:
    """256 * log2(E) with a linear mantissa (0 for E <= 0), in integers only:
    m = floor(log2 E), result 256 * m + ((E - 2^m) * 256 >> m), shifting right first when
    m > 8 so nothing overflows."""
    energy = np.asarray(energy, dtype=np.int64)
    out = np.zeros(energy.shape, dtype=np.int64)
    positive = energy > 0
    if not positive.any():
        return out
    e = energy[positive]
    m = floor_log2(e)
    mantissa = e - (np.int64(1) << m)
    frac = np.where(m >= 8, mantissa >> np.maximum(m - 8, 0), (mantissa << 8) >> m)
    out[positive] = m * 256 + frac
    return out
