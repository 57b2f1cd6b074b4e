import math
import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.spec.units import DIMENSIONS, UNIT_PATTERNS, UnitError, parse_quantity, quantity_pattern


@pytest.mark.parametrize(
    "text, dimension, expected",
    [
        ("61uW", "power", 61e-6),
        ("61µW", "power", 61e-6),
        ("1.6kHz", "frequency", 1600.0),
        ("10y", "time", 10 * 365.25 * 86400),
        ("10min", "time", 600.0),
        ("24h", "time", 86400.0),
        ("10ms", "time", 0.01),
        ("-20C", "temperature", 253.15),
        ("300K", "temperature", 300.0),
        ("2.6Ah", "charge", 2.6),
        ("225mAh", "charge", 0.225),
        ("5%", "ratio", 0.05),
        ("4g", "acceleration", 4.0),
        ("14dBm", "power_level", 14.0),
        ("64KiB", "size", 65536.0),
        ("3.6V", "voltage", 3.6),
        ("6.6uJ", "energy", 6.6e-6),
        ("118mA", "current", 0.118),
    ],
)
def test_parses_to_si(text, dimension, expected):
    assert math.isclose(parse_quantity(text, dimension), expected, rel_tol=1e-12)


@pytest.mark.parametrize(
    "value, dimension, message",
    [
        ("61uA", "power", "expected a power like '61uW', got '61uA' (a current)"),
        ("61", "power", "expected a power like '61uW', got '61' (no unit)"),
        (61, "power", "expected a power like '61uW', got the bare number 61 (no unit)"),
        ("-1Hz", "frequency", "expected a frequency like '1.6kHz', got '-1Hz' (must be positive)"),
        ("fast", "frequency", "expected a frequency like '1.6kHz', got 'fast' (not a number followed by a unit)"),
        ("1kW", "time", "expected a time like '10ms', got '1kW' (a power)"),
        (None, "time", "expected a time like '10ms', got nothing (null)"),
        (True, "time", "expected a time like '10ms', got the boolean true"),
        ("5Hzz", "frequency", "expected a frequency like '1.6kHz', got '5Hzz' (unknown unit 'Hzz')"),
    ],
)
def test_rejections_say_what_was_expected(value, dimension, message):
    with pytest.raises(UnitError) as info:
        parse_quantity(value, dimension)
    assert info.value.message == message


def test_positive_rejects_zero():
    with pytest.raises(UnitError) as info:
        parse_quantity("0ms", "time", positive=True)
    assert info.value.message == "expected a time like '10ms', got '0ms' (must be greater than zero)"


@settings(max_examples=300, deadline=None)
@given(
    number=st.decimals(min_value=0, max_value=10**6, places=3, allow_nan=False),
    dimension=st.sampled_from(sorted(DIMENSIONS)),
    data=st.data(),
)
def test_schema_pattern_and_parser_agree(number, dimension, data):
    """The editor (schema pattern) accepts exactly what the CLI parses."""
    dim = DIMENSIONS[dimension]
    unit = data.draw(st.sampled_from([p + u.symbol for u in dim.units for p in u.prefixes]))
    text = f"{number.normalize():f}{unit}"
    pattern = re.compile(quantity_pattern(dimension, positive=True))
    try:
        value = parse_quantity(text, dimension, positive=True)
        parsed = True
    except UnitError:
        parsed = False
    assert bool(pattern.match(text)) == parsed
    if parsed:
        assert not math.isnan(value)


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=12), st.sampled_from(sorted(DIMENSIONS)))
def test_pattern_never_accepts_what_the_parser_rejects(text, dimension):
    if re.match(UNIT_PATTERNS[dimension], text):
        parse_quantity(text, dimension)
