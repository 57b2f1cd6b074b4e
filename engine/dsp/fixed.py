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
    clipped: np.ndarray = np.clip(values, Q15_MIN, Q15_MAX)
    return clipped


def round_shift(values: np.ndarray, shift: int) -> np.ndarray:
    """(v + 2^(shift-1)) >> shift, arithmetic."""
    return (values + (1 << (shift - 1))) >> shift


def q(value: float, shift: int) -> int:
    return round(float(value) * (1 << shift))


def floor_log2(values: np.ndarray) -> np.ndarray:
    """floor(log2 v) for int64 v >= 1, by halving in steps of 32, 16, ..., 1 bits (as the C does)."""
    v = np.asarray(values, dtype=np.int64).copy()
    m = np.zeros(v.shape, dtype=np.int64)
    for bits in (32, 16, 8, 4, 2, 1):
        big = v >= (np.int64(1) << bits)
        m = m + np.where(big, bits, 0)
        v = np.where(big, v >> bits, v)
    return m


# 4096 * log2(1 + i / 32), i = 0..32, rounded: the mantissa's log, interpolated linearly
# between 33 points (worst error of the curve between points 0.003 of 256)
LOG2_TABLE_Q12 = (0, 182, 358, 530, 696, 858, 1016, 1169, 1319, 1465, 1607, 1746, 1882, 2015, 2145, 2272, 2396,
                  2518, 2637, 2754, 2869, 2982, 3092, 3200, 3307, 3412, 3514, 3615, 3715, 3812, 3908, 4003, 4096)
MANTISSA_BITS = 16  # fraction bits of the mantissa the table is read with: 5 for the index, 11 between points


def log2_q8(energy: np.ndarray) -> np.ndarray:
    """256 * log2(E), rounded, 0 for E <= 0, in integers only: m = floor(log2 E), the
    fraction f = (E - 2^m) / 2^m in 16 bits, and 256 * log2(1 + f) read from
    LOG2_TABLE_Q12 with linear interpolation; within 1 of 256 * log2(E) for E >= 1."""
    energy = np.asarray(energy, dtype=np.int64)
    out = np.zeros(energy.shape, dtype=np.int64)
    positive = energy > 0
    if not positive.any():
        return out
    e = energy[positive]
    m = floor_log2(e)
    mantissa = e - (np.int64(1) << m)
    # shifting right first when m > 16 keeps (mantissa << 16) below 2^63
    fraction = np.where(m >= MANTISSA_BITS, mantissa >> np.maximum(m - MANTISSA_BITS, 0),
                        (mantissa << MANTISSA_BITS) >> m)
    table = np.asarray(LOG2_TABLE_Q12, dtype=np.int64)
    index = fraction >> 11
    between = fraction & 2047
    low = table[index]
    log_q12_x2048 = low * 2048 + (table[index + 1] - low) * between  # Q12 * 2^11
    out[positive] = m * 256 + ((log_q12_x2048 + (1 << 14)) >> 15)
    return out
