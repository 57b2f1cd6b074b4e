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


def log2_q8(energy: np.ndarray) -> np.ndarray:
    """256 * log2(E) with a linear mantissa (0 for E = 0): exact integer arithmetic.

    floor(log2 E) is found exactly (no float rounding near powers of two) and the
    fraction is the mantissa's top bits: 256 * m + ((E - 2^m) * 256 >> m).
    """
    energy = np.asarray(energy, dtype=np.int64)
    out = np.zeros(energy.shape, dtype=np.int64)
    positive = energy > 0
    if not positive.any():
        return out
    e = energy[positive]
    m = np.floor(np.log2(e.astype(np.float64))).astype(np.int64)
    m = np.clip(m, 0, 62)
    m = np.where((np.int64(1) << m) > e, m - 1, m)
    m = np.where((np.int64(1) << np.minimum(m + 1, 62)) <= e, m + 1, m)
    mantissa = e - (np.int64(1) << m)
    # (mantissa * 256) >> m without overflow: shift first when m > 8
    frac = np.where(m >= 8, mantissa >> np.maximum(m - 8, 0), (mantissa << 8) >> m)
    out[positive] = m * 256 + frac
    return out
