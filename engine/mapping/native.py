"""The mapper's inner loops compiled with numba, each compiled (or loaded from numba's
cache) with the first call that needs it rather than with every import of the mapper."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

_COMPILED: dict[Callable[..., Any], Any] = {}


def compiled(function: Callable[..., Any]) -> Any:
    if function not in _COMPILED:
        from numba import njit

        _COMPILED[function] = njit(cache=True)(function)
    return _COMPILED[function]
