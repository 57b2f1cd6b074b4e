"""JSON Schema validation of a merged spec, translated into one-line diagnostics.

jsonschema's own messages name schema internals; users need the spec path, the place in
their file, what is wrong and what would be right (with a did-you-mean for typos).
"""

from __future__ import annotations

import difflib
import json
from collections.abc import Iterable
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema

from engine.diagnostics import Diagnostic
from engine.spec.document import SpecDocument
from engine.spec.units import UnitError, parse_quantity
from engine.spec.yamlread import dotted, pointer_join

SCHEMA_DIR = Path(__file__).resolve().parents[2] / "schemas"

_TYPE_NAMES = {"object": "a mapping", "array": "a list", "string": "a string", "integer": "a whole number",
               "number": "a number", "boolean": "true or false", "null": "nothing"}


@cache
def load_schema(name: str) -> dict[str, Any]:
    schema: dict[str, Any] = json.loads((SCHEMA_DIR / name).read_text(encoding="utf-8"))
    return schema


@cache
def _validator(name: str) -> jsonschema.Draft7Validator:
    return jsonschema.Draft7Validator(load_schema(name))


def describe_value(value: Any) -> str:
    if value is None:
        return "nothing (null)"
    if isinstance(value, bool):
        return f"the boolean {str(value).lower()}"
    if isinstance(value, int):
        return f"the number {value}"
    if isinstance(value, float):
        return f"the number {value:g}"
    if isinstance(value, str):
        return f"'{value}'"
    if isinstance(value, list):
        return "a list"
    return "a mapping"


def _expected(types: Any) -> str:
    if isinstance(types, str):
        types = [types]
    return " or ".join(_TYPE_NAMES.get(t, t) for t in types)


def suggestion(word: str, candidates: Iterable[str]) -> str | None:
    close = difflib.get_close_matches(str(word), sorted(candidates), n=1, cutoff=0.6)
    return close[0] if close else None


def _where(path: Iterable[Any]) -> str:
    pointer = ""
    for token in path:
        pointer = pointer_join(pointer, token)
    return pointer


def _label(pointer: str) -> str:
    return dotted(pointer) or "spec"


def check_schema(doc: SpecDocument, schema_name: str) -> list[Diagnostic]:
    out: list[Diagnostic] = []
    seen: set[tuple[str, str]] = set()
    for error in _validator(schema_name).iter_errors(doc.data):
        for diagnostic in _translate(doc, error):
            key = (diagnostic.path, diagnostic.message)
            if key not in seen:
                seen.add(key)
                out.append(diagnostic)
    return out


def _translate(doc: SpecDocument, error: jsonschema.ValidationError) -> list[Diagnostic]:
    pointer = _where(error.absolute_path)
    label = _label(pointer)
    schema = error.schema if isinstance(error.schema, dict) else {}
    value: Any = error.instance
    validator = error.validator
    expected: Any = error.validator_value
    dimension = _dimension(schema, error)

    if dimension is not None and validator in ("pattern", "type"):
        try:
            parse_quantity(value, dimension, positive=bool(_positive(schema, error)))
        except UnitError as exc:
            return [doc.at(pointer, "NM201", f"{label}: {exc.message}", hint=exc.hint)]
    if validator == "additionalProperties":
        allowed = sorted(schema.get("properties", {}))
        extras = [k for k in value if k not in schema.get("properties", {})]
        result = []
        for extra in sorted(extras, key=lambda k: (doc.key_origin(pointer_join(pointer, k)) or _Far()).line):
            member = pointer_join(pointer, extra)
            near = suggestion(extra, allowed)
            advice = f"did you mean '{near}'?" if near else f"allowed here: {', '.join(allowed)}"
            if near and near in value:  # the meant key is already there: this one is a leftover
                set_at = doc.key_origin(pointer_join(pointer, near))
                advice = f"'{near}' is already set{f' at line {set_at.line}' if set_at else ''}; remove this key"
            where = f"{label}: " if pointer else ""
            result.append(doc.at(member, "NM101", f"{where}unknown key '{extra}'", hint=advice, key=True))
        return result
    if validator == "required":
        missing = error.message.split("'")[1] if "'" in error.message else str(expected)
        prop = schema_at(schema_root(error), f"{pointer}/{missing}")
        described = prop.get("description") or (schema.get("properties") or {}).get(missing, {}).get("description")
        example = _example(prop)
        add: str | None = None
        if example is not None:
            add = f"add {missing}: {example}" + (f" ({described})" if described else "")
        elif described:
            add = f"{missing}: {described}"
        return [doc.at(pointer, "NM102", f"{label}: missing required key '{missing}'", hint=add, key=bool(pointer))]
    if validator == "type":
        hint: str | None = None
        if expected == "object":
            here = schema_at(schema_root(error), pointer)
            parts = [f"{key}: {_example(schema_at(schema_root(error), f'{pointer}/{key}'))}"
                     for key in here.get("required", ())]
            if parts and all(not p.endswith(": None") for p in parts):
                hint = f"write it as a mapping, like {label}: {{{', '.join(parts)}}}"
        return [doc.at(pointer, "NM103", f"{label}: expected {_expected(expected)}, got {describe_value(value)}",
                       hint=hint)]
    if validator == "enum" and schema.get("x-nmspec-catalog"):
        # the schema lists the built-in parts for editors; the CLI checks ids against the whole
        # catalog, a repository's own parts included (NM210)
        if isinstance(value, str):
            return []
        return [doc.at(pointer, "NM103", f"{label}: expected a part id (a string), got {describe_value(value)}")]
    if validator == "enum":
        options = [str(o) for o in expected]
        near = suggestion(str(value), options)
        return [doc.at(pointer, "NM105", f"{label}: {describe_value(value)} is not one of {', '.join(options)}",
                       hint=f"did you mean '{near}'?" if near else None)]
    if validator == "const":
        return [doc.at(pointer, "NM106", f"{label}: expected '{expected}', got {describe_value(value)}")]
    if validator in ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"):
        bound = expected
        text = {"minimum": f"at least {bound}", "maximum": f"at most {bound}",
                "exclusiveMinimum": f"greater than {bound}", "exclusiveMaximum": f"less than {bound}"}[validator]
        return [doc.at(pointer, "NM107", f"{label}: must be {text}, got {describe_value(value)}")]
    if validator in ("minItems", "maxItems"):
        count = expected
        text = f"at least {count}" if validator == "minItems" else f"at most {count}"
        if schema.get("minItems") == schema.get("maxItems"):
            text = f"exactly {count}"
        return [doc.at(pointer, "NM108", f"{label}: needs {text} item{'s' if count != 1 else ''}, got {len(value)}")]
    if validator == "uniqueItems":
        dupes = sorted({describe_value(v) for v in value if list(value).count(v) > 1})
        return [doc.at(pointer, "NM108", f"{label}: items must be unique; repeated: {', '.join(dupes)}",
                       hint="give each item its own name")]
    if validator in ("minProperties",):
        return [doc.at(pointer, "NM108", f"{label}: must not be empty")]
    if validator == "minLength":
        return [doc.at(pointer, "NM108", f"{label}: must not be empty")]
    if validator == "maxLength":
        return [doc.at(pointer, "NM108", f"{label}: {len(value)} characters; at most {error.validator_value} are allowed",
                       hint=schema.get("description"))]
    if validator == "anyOf" and schema.get("x-nmspec-catalog"):
        if not isinstance(value, str):
            return [doc.at(pointer, "NM103", f"{label}: expected a part id (a string), got {describe_value(value)}")]
        return [doc.at(pointer, "NM104", f"{label}: '{value}' is not a valid part id (lower-case letters, digits, '.', '_', '-')")]
    if validator == "oneOf" and pointer == "/extends":
        return [doc.at(pointer, "NM110", "extends: expected a path or a list of paths")]
    if validator == "pattern":
        description = schema.get("description", "")
        return [doc.at(pointer, "NM104", f"{label}: {describe_value(value)} is not {description or 'of the expected form'}")]
    return [doc.at(pointer, "NM109", f"{label}: {error.message}")]


def schema_root(error: jsonschema.ValidationError) -> dict[str, Any]:
    return load_schema("nmspec.schema.json")


def _schema_at(root: dict[str, Any], pointer: str) -> dict[str, Any]:
    node = root
    for token in pointer.split("/")[1:]:
        if token.isdigit() and isinstance(node.get("items"), dict):
            node = node["items"]
        else:
            node = node.get("properties", {}).get(token, {})
    return node


def _example(prop: dict[str, Any]) -> Any:
    """A value the schema would accept, to show in a hint: its example, default or first choice."""
    if prop.get("examples"):
        return prop["examples"][0]
    if "default" in prop and not isinstance(prop["default"], (dict, list)):
        return prop["default"]
    if prop.get("enum"):
        return prop["enum"][0]
    return None


def schema_at(root: dict[str, Any], pointer: str) -> dict[str, Any]:
    """The schema of the value at `pointer`, following local $refs ({} when unknown)."""
    node = root
    for token in pointer.split("/")[1:]:
        while isinstance(node.get("$ref"), str) and node["$ref"].startswith("#/"):
            node = _follow(root, node["$ref"])
        if token.isdigit() and isinstance(node.get("items"), dict):
            node = node["items"]
        else:
            node = node.get("properties", {}).get(token, {})
    while isinstance(node.get("$ref"), str) and node["$ref"].startswith("#/"):
        # the property's own words (description, examples) win over the shared definition's
        node = {**_follow(root, node["$ref"]), **{k: v for k, v in node.items() if k != "$ref"}}
    return node


def _follow(root: dict[str, Any], ref: str) -> dict[str, Any]:
    node: Any = root
    for token in ref[2:].split("/"):
        node = node.get(token, {}) if isinstance(node, dict) else {}
    return node if isinstance(node, dict) else {}


class _Far:
    line = 10**9


def _dimension(schema: dict[str, Any], error: jsonschema.ValidationError) -> str | None:
    if "x-nmspec-dimension" in schema:
        dimension: str = schema["x-nmspec-dimension"]
        return dimension
    # a $ref'd quantity: the error's schema is the definition; look at the parent as well
    parent = getattr(error, "parent", None)
    if parent is not None and isinstance(parent.schema, dict):
        return parent.schema.get("x-nmspec-dimension")
    return None


def _positive(schema: dict[str, Any], error: jsonschema.ValidationError) -> bool:
    return bool(schema.get("x-nmspec-positive"))
