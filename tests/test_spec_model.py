"""The typed spec model and the JSON Schema describe the same fields, with the same units."""

from __future__ import annotations

import glob
import json
import typing
from pathlib import Path

import attrs
import pytest

from engine.spec import model as sm
from engine.spec import repository_catalog, validate_spec
from engine.spec.render import with_defaults

ROOT = Path(__file__).resolve().parents[1]
SCHEMA = json.loads((ROOT / "schemas" / "nmspec.schema.json").read_text())


def _attrs_class(annotation):
    """The attrs class an annotation holds, looking through Optional and tuples."""
    if isinstance(annotation, type) and attrs.has(annotation):
        return annotation
    for arg in typing.get_args(annotation):
        found = _attrs_class(arg) if arg is not type(None) else None
        if found is not None:
            return found
    return None


def _schema_dimension(node):
    if "x-nmspec-dimension" in node:
        return node["x-nmspec-dimension"]
    ref = node.get("$ref", "")
    if ref:
        return SCHEMA["definitions"][ref.split("/")[-1]]["x-nmspec-dimension"]
    items = node.get("items")
    if isinstance(items, dict) and "$ref" in items:
        return _schema_dimension(items)
    return None


def _field_dimension(annotation):
    """The dimension of a quantity field, or of the items of a tuple of quantities."""
    dimension = sm.dimension_of(annotation)
    if dimension is None and typing.get_origin(annotation) is not typing.Annotated:
        for arg in typing.get_args(annotation):
            if arg is not type(None) and arg is not Ellipsis and _field_dimension(arg):
                return _field_dimension(arg)
    return dimension


def _is_figures(annotation):
    return annotation == sm.Figures or sm.Figures in typing.get_args(annotation)


def _compare(cls, schema_node, where, problems):
    hints = typing.get_type_hints(cls, include_extras=True)
    fields = {sm.spec_key(f): f for f in attrs.fields(cls)}
    keys = set(schema_node["properties"])
    for missing in sorted(keys - set(fields)):
        problems.append(f"{where}.{missing}: in the schema, not in {cls.__name__}")
    for extra in sorted(set(fields) - keys):
        problems.append(f"{where}.{extra}: in {cls.__name__}, not in the schema")
    for name in sorted(keys & set(fields)):
        node, annotation = schema_node["properties"][name], hints[fields[name].name]
        if _schema_dimension(node) != _field_dimension(annotation):
            problems.append(f"{where}.{name}: schema dimension {_schema_dimension(node)}, "
                            f"model dimension {_field_dimension(annotation)}")
        if node.get("type") == "object" and "properties" in node and not _is_figures(annotation):
            inner = _attrs_class(annotation)
            if inner is None:
                problems.append(f"{where}.{name}: an object in the schema, not a class in the model")
            else:
                _compare(inner, node, f"{where}.{name}", problems)


def test_schema_and_typed_model_have_the_same_fields_and_units():
    problems: list[str] = []
    top = dict(SCHEMA)
    top["properties"] = {k: v for k, v in SCHEMA["properties"].items()}
    _compare(sm.SiteSpec, top, "spec", problems)
    stages = SCHEMA["properties"]["preprocessing"]["items"]["properties"]
    kinds = {k for k in stages if k not in ("id", "$delete", "insert_after", "insert_before")}
    if kinds != set(sm.STAGE_TYPES):
        problems.append(f"stage kinds: schema {sorted(kinds)}, engine/spec/model.py STAGE_TYPES "
                        f"{sorted(sm.STAGE_TYPES)}")
    for kind in sorted(kinds & set(sm.STAGE_TYPES)):
        _compare(sm.STAGE_TYPES[kind], stages[kind], f"preprocessing[{kind}]", problems)
    assert problems == []


def test_the_comparison_notices_drift():
    @attrs.frozen
    class Drifted:
        cutoff: float  # a quantity without its dimension
        order: int
        gain: int = 1  # not in the schema

    problems: list[str] = []
    _compare(Drifted, SCHEMA["properties"]["preprocessing"]["items"]["properties"]["lowpass"], "lowpass", problems)
    assert problems == ["lowpass.gain: in Drifted, not in the schema",
                        "lowpass.cutoff: schema dimension frequency, model dimension None"]


def _spec(path):
    catalog, _ = repository_catalog(path, ())
    doc, diagnostics = validate_spec(path, catalog)
    assert doc is not None, diagnostics
    data, _ = with_defaults(doc.data)
    return sm.site_spec(data)


def test_compressor_example_in_si_units():
    spec = _spec(str(ROOT / "specs/examples/compressor.yaml"))
    assert spec.api_version == "nmspec/v1"
    assert spec.sensor.odr == 1600.0
    assert spec.model.dt == 0.01
    assert spec.power.budget == pytest.approx(61e-6)
    assert spec.power.battery.lifetime == pytest.approx(10 * 365.25 * 86400)
    assert spec.power.battery.overrides == {"capacity": 2.6}
    assert spec.safety.class_ == "sil2"
    assert spec.runtime.schedule == sm.Schedule(interval=60.0, window=1.0)
    assert spec.runtime.update.sanity_window == 24 * 3600.0
    assert spec.alerts.max_latency == 600.0
    assert spec.environment.temperature == (pytest.approx(253.15), pytest.approx(358.15))
    assert [s.kind for s in spec.preprocessing] == ["dc_block", "notch", "lowpass", "decimate", "band_energy", "encode"]
    assert spec.preprocessing[1].params == sm.Notch(freq=50.0, harmonics=3, q=30.0)
    assert spec.preprocessing[4].params == sm.BandEnergy(bands=16, fft=64, fmin=0.0, fmax=400.0, spacing="linear",
                                                         combine_axes=True)
    assert spec.preprocessing[5].params == sm.Encode(kind="sigma_delta", threshold=0.0625, polarity="single")
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        spec.sensor.odr = 1.0


@pytest.mark.parametrize("path", sorted(glob.glob(str(ROOT / "specs/examples/*.yaml")))
                         + sorted(glob.glob(str(ROOT / "specs/sites/*.yaml"))))
def test_every_site_spec_structures(path):
    spec = _spec(path)
    assert spec.kind == "SiteDeployment"
    assert len(spec.preprocessing) >= 1 and spec.preprocessing[-1].kind == "encode"
