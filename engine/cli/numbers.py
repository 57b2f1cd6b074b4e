"""Numbers as people read them: engineering prefixes instead of exponents."""

from __future__ import annotations

import math

_PREFIXES = ((1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "k"), (1.0, ""), (1e-3, "m"), (1e-6, "u"), (1e-9, "n"),
             (1e-12, "p"))


def eng(value: float | None, unit: str, digits: int = 4) -> str:
    """`eng(5e7, "Hz")` -> '50 MHz', `eng(0.04, "J")` -> '40 mJ'; at most `digits`
    significant digits, never an exponent."""
    if value is None:
        return "unknown"
    if value == 0 or not math.isfinite(value):
        return f"{value:g} {unit}"
    magnitude = abs(value)
    for scale, prefix in _PREFIXES:
        if magnitude >= scale * 0.9995:
            break
    scaled = round(value / scale, max(digits - 1 - math.floor(math.log10(abs(value / scale))), 0))
    text = f"{scaled:.{max(digits - 1 - math.floor(math.log10(abs(scaled))), 0)}f}" if scaled else "0"
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return f"{text} {prefix}{unit}"
