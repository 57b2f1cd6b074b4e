"""SI-suffixed quantities: `61uW`, `1.6kHz`, `10y`, `-20C`, `5%`, `14dBm`.

A spec writes every physical value as a string with its unit so that a reader never has
to guess whether `61` meant microwatts or milliwatts. This module is the only place that
turns such strings into SI floats; the schema's patterns are generated from the same
tables, so the editor and the CLI accept exactly the same spellings.
"""

from __future__ import annotations

import re

import attrs

# Prefix letter -> factor. `u` is the ASCII spelling of micro; `µ` is accepted too.
PREFIXES: dict[str, float] = {
    "p": 1e-12,
    "n": 1e-9,
    "u": 1e-6,
    "µ": 1e-6,
    "m": 1e-3,
    "": 1.0,
    "k": 1e3,
    "M": 1e6,
    "G": 1e9,
}

_YEAR_S = 365.25 * 86400.0  # Julian year: the convention battery-life figures use
_STANDARD_GRAVITY = 9.80665  # m/s^2, CGPM 1901


@attrs.frozen
class Unit:
    symbol: str
    factor: float  # SI value of 1 unit (before prefix)
    prefixes: tuple[str, ...]  # prefixes allowed with this symbol
    offset: float = 0.0  # added after scaling (degrees Celsius -> kelvin)


@attrs.frozen
class Dimension:
    name: str  # e.g. "power"
    si_unit: str  # what parse_quantity returns, e.g. "W"
    example: str  # shown in messages: "expected a power like '61uW'"
    units: tuple[Unit, ...]
    signed: bool = False  # may the value be negative (temperatures, dBm)?


_SMALL = ("p", "n", "u", "µ", "m", "")
_ALL = tuple(PREFIXES)

DIMENSIONS: dict[str, Dimension] = {
    d.name: d
    for d in (
        Dimension("power", "W", "61uW", (Unit("W", 1.0, _ALL),)),
        Dimension("frequency", "Hz", "1.6kHz", (Unit("Hz", 1.0, _ALL),)),
        Dimension(
            "time",
            "s",
            "10ms",
            (
                Unit("s", 1.0, ("p", "n", "u", "µ", "m", "")),
                Unit("min", 60.0, ("",)),
                Unit("h", 3600.0, ("",)),
                Unit("d", 86400.0, ("",)),
                Unit("y", _YEAR_S, ("",)),
            ),
        ),
        Dimension(
            "temperature",
            "K",
            "-20C",
            (Unit("C", 1.0, ("",), offset=273.15), Unit("K", 1.0, ("",))),
            signed=True,
        ),
        Dimension("charge", "Ah", "2.6Ah", (Unit("Ah", 1.0, ("u", "µ", "m", "")),)),
        Dimension("current", "A", "17uA", (Unit("A", 1.0, _SMALL),)),
        Dimension("voltage", "V", "3.6V", (Unit("V", 1.0, ("u", "µ", "m", "")),)),
        Dimension("energy", "J", "6.6uJ", (Unit("J", 1.0, _SMALL),)),
        Dimension("ratio", "1", "5%", (Unit("%", 0.01, ("",)),)),
        Dimension("tempco", "1/K", "0.34%/K", (Unit("%/K", 0.01, ("",)), Unit("ppm/K", 1e-6, ("",))), signed=True),
        Dimension("acceleration", "g", "4g", (Unit("g", 1.0, ("m", "")),)),
        Dimension("power_level", "dBm", "14dBm", (Unit("dBm", 1.0, ("",)),), signed=True),
        Dimension("size", "B", "64KiB", (Unit("B", 1.0, ("", "k", "M")),) + tuple(
            Unit(sym, float(1024**i), ("",)) for i, sym in ((1, "KiB"), (2, "MiB"), (3, "GiB"))
        )),
    )
}

_NUMBER = r"[0-9]+(?:\.[0-9]+)?"
_QUANTITY_RE = re.compile(r"^\s*(?P<sign>[-+]?)(?P<number>[0-9]*\.?[0-9]*)\s*(?P<suffix>\S*)\s*$")


class UnitError(ValueError):
    """A quantity string that does not parse; `message` and `hint` are user-facing."""

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint


def _suffix_table() -> dict[str, tuple[str, Unit, float]]:
    table: dict[str, tuple[str, Unit, float]] = {}
    for dim in DIMENSIONS.values():
        for unit in dim.units:
            for prefix in unit.prefixes:
                table[prefix + unit.symbol] = (dim.name, unit, PREFIXES[prefix])
    return table


_SUFFIXES = _suffix_table()

_ARTICLE = {"acceleration": "an", "energy": "an"}


def describe(dimension: str) -> str:
    """'a power', 'an energy'."""
    return f"{_ARTICLE.get(dimension, 'a')} {dimension.replace('_', ' ')}"


def dimension_of_suffix(suffix: str) -> str | None:
    hit = _SUFFIXES.get(suffix)
    return hit[0] if hit else None


def parse_quantity(text: object, dimension: str, *, positive: bool = False) -> float:
    """Parse `text` as a quantity of `dimension` and return its SI value.

    Raises UnitError with a message that says what was expected and what was found.
    """
    dim = DIMENSIONS[dimension]
    wanted = f"expected {describe(dimension)} like '{dim.example}'"
    if isinstance(text, bool) or not isinstance(text, (str, int, float)):
        raise UnitError(f"{wanted}, got {_show(text)}")
    if not isinstance(text, str):
        raise UnitError(
            f"{wanted}, got the bare number {text!r} (no unit)",
            hint=f"write it with its unit, like '{dim.example}'",
        )
    match = _QUANTITY_RE.match(text)
    if not match or not re.fullmatch(_NUMBER, match["number"] or ""):
        raise UnitError(f"{wanted}, got '{text}' (not a number followed by a unit)")
    suffix = match["suffix"]
    if not suffix:
        raise UnitError(
            f"{wanted}, got '{text}' (no unit)",
            hint=f"write it with its unit, like '{dim.example}'",
        )
    hit = _SUFFIXES.get(suffix)
    if hit is None:
        raise UnitError(f"{wanted}, got '{text}' (unknown unit '{suffix}')", hint=_units_hint(dim))
    found_dim, unit, prefix_factor = hit
    if found_dim != dimension:
        raise UnitError(f"{wanted}, got '{text}' ({describe(found_dim)})", hint=_units_hint(dim))
    if match["sign"] == "-" and not dim.signed:
        raise UnitError(f"{wanted}, got '{text}' (must be positive)")
    number = float(match["number"])
    if match["sign"] == "-":
        number = -number
    if positive and number <= 0:
        raise UnitError(f"{wanted}, got '{text}' (must be greater than zero)")
    return number * unit.factor * prefix_factor + unit.offset


def _units_hint(dim: Dimension) -> str:
    symbols = ", ".join(u.symbol for u in dim.units)
    return f"{describe(dim.name)} takes the unit{'s' if len(dim.units) > 1 else ''} {symbols}"


def _show(value: object) -> str:
    if value is None:
        return "nothing (null)"
    if isinstance(value, bool):
        return f"the boolean {str(value).lower()}"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "a mapping"
    return repr(value)


def quantity_pattern(dimension: str, *, positive: bool = False) -> str:
    """The JSON Schema pattern (ECMA-262 and Python `re` compatible) for a dimension."""
    dim = DIMENSIONS[dimension]
    suffixes = sorted(
        (p + u.symbol for u in dim.units for p in u.prefixes), key=lambda s: (-len(s), s)
    )
    alternatives = "|".join(re.escape(s) for s in suffixes)
    sign = "-?" if dim.signed else ""
    nonzero = "(?=[0-9.]*[1-9])" if positive else ""
    return f"^{sign}{nonzero}{_NUMBER}\\s?({alternatives})$"


UNIT_PATTERNS: dict[str, str] = {name: quantity_pattern(name) for name in DIMENSIONS}
