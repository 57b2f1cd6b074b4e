import json
from pathlib import Path

import jsonschema
import pytest

from engine.catalog import builtin_catalog
from engine.spec import schema_source

ROOT = Path(__file__).resolve().parents[1]
SCHEMAS = ["nmspec.schema.json", "nmspec-base.schema.json", "catalog.schema.json"]


@pytest.mark.parametrize("name", [*SCHEMAS, "rollout.schema.json"])
def test_schema_is_valid_draft07(name):
    schema = json.loads((ROOT / "schemas" / name).read_text())
    assert schema["$schema"] == "http://json-schema.org/draft-07/schema#"
    jsonschema.Draft7Validator.check_schema(schema)


@pytest.mark.parametrize("name", SCHEMAS)
def test_committed_schema_matches_its_source(name):
    assert (ROOT / "schemas" / name).read_text() == schema_source.rendered()[name], (
        "schemas/ is stale: run `python -m engine.spec.schema_source`"
    )


def _walk_properties(node, path=""):
    if isinstance(node, dict):
        for key, sub in (node.get("properties") or {}).items():
            yield f"{path}/{key}", sub
            yield from _walk_properties(sub, f"{path}/{key}")
        for key in ("items", "additionalProperties"):
            if isinstance(node.get(key), dict):
                yield from _walk_properties(node[key], f"{path}/{key}")
        for key in ("oneOf", "anyOf"):
            for sub in node.get(key, []):
                yield from _walk_properties(sub, path)


@pytest.mark.parametrize("name", ["nmspec.schema.json", "nmspec-base.schema.json", "rollout.schema.json"])
def test_every_property_has_a_description(name):
    schema = json.loads((ROOT / "schemas" / name).read_text())
    missing = [path for path, sub in _walk_properties(schema) if "description" not in sub]
    assert missing == []


def test_catalog_ids_are_offered_as_enums():
    schema = json.loads((ROOT / "schemas" / "nmspec.schema.json").read_text())
    chip = schema["properties"]["target"]["properties"]["chip"]
    assert chip["enum"] == list(builtin_catalog().ids("chips"))
    sensor = schema["properties"]["sensor"]["properties"]["part"]
    assert sensor["enum"] == list(builtin_catalog().ids("sensors"))


def test_every_spec_names_its_schema_on_the_first_line():
    for path in sorted((ROOT / "specs").rglob("*.yaml")):
        first = path.read_text().splitlines()[0]
        text = path.read_text()
        partial = "kind: SiteBase" in text or "\nextends:" in text  # completed by merging
        expected = "nmspec-base.schema.json" if partial else "nmspec.schema.json"
        if "\nkind: Rollout" in text:
            expected = "rollout.schema.json"
        assert first.startswith("# yaml-language-server: $schema="), path
        target = (path.parent / first.split("=", 1)[1]).resolve()
        assert target == (ROOT / "schemas" / expected).resolve(), path


def test_base_schema_requires_nothing_but_the_full_schema_requires_the_sections():
    def errors(name, data):
        validator = jsonschema.Draft7Validator(json.loads((ROOT / "schemas" / name).read_text()))
        return sorted(e.message for e in validator.iter_errors(data))

    overlay = {"apiVersion": "nmspec/v1", "kind": "SiteDeployment", "extends": "base.yaml",
               "power": {"battery": {"cell": "er34615"}}}
    assert errors("nmspec-base.schema.json", overlay) == []
    assert "'lifetime' is a required property" in errors("nmspec.schema.json", overlay)
