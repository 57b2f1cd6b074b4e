import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine.diagnostics import Diagnostic, Origin
from engine.spec.yamlread import dotted, read_bytes


def test_values_follow_yaml_1_2():
    result = read_bytes(b"a: true\nb: 0o17\nc: 0x1F\nd: 1.5e3\ne: ~\nf: y\ng: '010'\nh: 1_000x\n", "f.yaml")
    assert result.diagnostics == ()
    assert result.data == {"a": True, "b": 15, "c": 31, "d": 1500.0, "e": None, "f": "y", "g": "010", "h": "1_000x"}


def test_source_map_has_values_and_keys():
    result = read_bytes(b"top:\n  list: [a, {b: 1}]\n", "f.yaml")
    assert result.source_map.values["/top/list/1/b"] == Origin("f.yaml", 2, 17)  # the 1 after "{b: "
    assert result.source_map.keys["/top/list"] == Origin("f.yaml", 2, 3)
    assert result.source_map.values["/top/list/0"] == Origin("f.yaml", 2, 10)


@pytest.mark.parametrize(
    "text, message",
    [
        (b"a: yes\n", "a: 'yes' is the string \"yes\" in YAML 1.2 but the boolean true in YAML 1.1"),
        (b"a: NO\n", "a: 'NO' is the string \"NO\" in YAML 1.2 but the boolean false in YAML 1.1"),
        (b"a: 0755\n", "a: '0755' is the decimal number 755 in YAML 1.2 but the octal number 493 in YAML 1.1"),
        (b"a: 1:20:30\n", "a: '1:20:30' is a string in YAML 1.2 but a base-60 number in YAML 1.1"),
        (b"on: 1\n", "on: 'on' is the string \"on\" in YAML 1.2 but the boolean true in YAML 1.1"),
        (b"a: 1_000\n", "a: '1_000' is a string in YAML 1.2 but a number in YAML 1.1"),
    ],
)
def test_yaml_1_1_surprises_are_errors(text, message):
    (diagnostic,) = read_bytes(text, "f.yaml").diagnostics
    assert (diagnostic.code, diagnostic.message) == ("NM004", message)


def test_quoted_yaml_1_1_words_are_fine():
    assert read_bytes(b"a: 'on'\nb: \"010\"\n", "f.yaml").data == {"a": "on", "b": "010"}


def test_dotted_paths():
    assert dotted("/preprocessing/2/notch/freq") == "preprocessing[2].notch.freq"
    assert dotted("/a~1b/c~0d") == "a/b.c~d"
    assert dotted("") == ""


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=400))
def test_arbitrary_bytes_give_diagnostics_never_exceptions(data):
    result = read_bytes(data, "f.yaml")
    assert all(isinstance(d, Diagnostic) for d in result.diagnostics)
    if result.diagnostics:
        assert all(d.file == "f.yaml" and d.line >= 1 and d.column >= 1 for d in result.diagnostics)


yaml_like = st.recursive(
    st.one_of(st.sampled_from(["a", "on", "010", "1:2", "~", "x: y", "- z", "[", "]", "{", "}", "&a", "*a", "!!str", "'q'", "\t", "\n", "#", "|", ">"]),
              st.text(alphabet="ab:-[]{},&*!|>'\"#\n \t01", max_size=6)),
    lambda children: st.lists(children, max_size=6).map("".join),
    max_leaves=30,
)


@settings(max_examples=400, deadline=None)
@given(yaml_like)
def test_yaml_shaped_text_gives_diagnostics_never_exceptions(text):
    result = read_bytes(text.encode(), "f.yaml")
    assert all(isinstance(d, Diagnostic) for d in result.diagnostics)
