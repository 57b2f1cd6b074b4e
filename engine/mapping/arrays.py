"""Sorted unique values by sorting: numpy's hash-based np.unique is two orders of
magnitude slower on wide int64 keys, which is what the mapper packs pairs into."""

from __future__ import annotations

import numpy as np


def unique(values: np.ndarray) -> np.ndarray:
    # plain values: the default (introsort) is an order of magnitude faster than a stable sort
    values = np.sort(np.asarray(values))
    if values.size == 0:
        return values
    first: np.ndarray = values[np.concatenate([[True], values[1:] != values[:-1]])]
    return first


def unique_first(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Sorted unique values and the index of each one's first occurrence."""
    values = np.asarray(values)
    order = np.argsort(values)
    ordered = values[order]
    if values.size == 0:
        return ordered, order
    starts = np.nonzero(np.concatenate([[True], ordered[1:] != ordered[:-1]]))[0]
    # an unstable sort leaves equal values in any order: the first is the least index
    return ordered[starts], np.minimum.reduceat(order, starts)


def unique_pairs(high: np.ndarray, low: np.ndarray, base: int) -> np.ndarray:
    """Sorted unique high * base + low, in int64 whatever the inputs' width (the network's
    pairs are int32), built and sorted in one buffer: at 1e8 pairs each extra copy is 800 MB."""
    key: np.ndarray = np.multiply(high, np.int64(base), dtype=np.int64)
    key += low
    key.sort()
    if key.size == 0:
        return key
    keep = np.empty(key.size, dtype=bool)
    keep[0] = True
    np.not_equal(key[1:], key[:-1], out=keep[1:])
    return key[keep]
