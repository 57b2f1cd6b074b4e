"""Sorted unique values by sorting: numpy's hash-based np.unique is two orders of
magnitude slower on wide int64 keys, which is what the mapper packs pairs into."""

from __future__ import annotations

import numpy as np


def unique(values: np.ndarray) -> np.ndarray:
    values = np.sort(np.asarray(values), kind="stable")
    if values.size == 0:
        return values
    return values[np.concatenate([[True], values[1:] != values[:-1]])]


def unique_first(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Sorted unique values and the index of each one's first occurrence."""
    values = np.asarray(values)
    order = np.argsort(values, kind="stable")
    ordered = values[order]
    if values.size == 0:
        return ordered, order
    first = np.concatenate([[True], ordered[1:] != ordered[:-1]])
    return ordered[first], order[first]
