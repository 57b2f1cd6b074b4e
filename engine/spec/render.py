"""The merged spec with the schema's defaults filled in, as YAML, optionally annotated
with the file and line that set each value (`# from specs/base/compressor.yaml:12`)."""

from __future__ import annotations

import copy
from typing import Any

import yaml

from engine.spec.document import SpecDocument
from engine.spec.schema_check import load_schema
from engine.spec.yamlread import pointer_join

DEFAULTED = "(default)"


def _resolve_ref(schema: dict[str, Any], root: dict[str, Any]) -> dict[str, Any]:
    ref = schema.get("$ref")
    if isinstance(ref, str) and ref.startswith("#/definitions/"):
        return {**root["definitions"][ref.split("/")[-1]], **{k: v for k, v in schema.items() if k != "$ref"}}
    return schema


def with_defaults(data: Any, schema_name: str = "nmspec.schema.json") -> tuple[Any, set[str]]:
    """A copy of `data` with schema defaults inside every mapping that is present.
    Returns the copy and the pointers that were filled in."""
    root = load_schema(schema_name)
    filled: set[str] = set()
    out = copy.deepcopy(data)

    def walk(node: Any, schema: dict[str, Any], pointer: str) -> None:
        schema = _resolve_ref(schema, root)
        if isinstance(node, dict) and schema.get("type") == "object":
            properties = schema.get("properties", {})
            for key, sub in properties.items():
                sub = _resolve_ref(sub, root)
                if key not in node and "default" in sub and not key.startswith("$"):
                    node[key] = copy.deepcopy(sub["default"])
                    filled.add(pointer_join(pointer, key))
            for key, value in node.items():
                if key in properties:
                    walk(value, properties[key], pointer_join(pointer, key))
        elif isinstance(node, list) and isinstance(schema.get("items"), dict):
            for index, item in enumerate(node):
                walk(item, schema["items"], pointer_join(pointer, index))

    walk(out, root, "")
    return out, filled


def _scalar(value: Any) -> str:
    text = yaml.safe_dump(value, default_flow_style=True, allow_unicode=True, width=10**6)
    text = text.strip()
    if text.endswith("\n..."):
        text = text[:-4].strip()
    if text.endswith("..."):
        text = text[:-3].strip()
    return text


def render_yaml(doc: SpecDocument, *, show_origin: bool = False) -> str:
    data, filled = with_defaults(doc.data)
    lines: list[str] = []

    def note(pointer: str) -> str:
        if not show_origin:
            return ""
        if pointer in filled or any(pointer.startswith(f + "/") for f in filled):
            return f"  # {DEFAULTED}"
        located = doc.values.get(pointer)
        if located is None:
            return ""
        return f"  # {located.origin.file}:{located.origin.line}"

    def emit(node: Any, pointer: str, indent: int, lead: str) -> None:
        pad = " " * indent
        if isinstance(node, dict) and node:
            first = True
            for key, value in node.items():
                member = pointer_join(pointer, key)
                prefix = lead if first else pad
                first = False
                key_text = _scalar(key)
                if isinstance(value, (dict, list)) and value:
                    lines.append(f"{prefix}{key_text}:")
                    emit(value, member, indent + 2, " " * (indent + 2))
                else:
                    lines.append(f"{prefix}{key_text}: {_scalar(value)}{note(member)}")
        elif isinstance(node, list) and node:
            first = True
            for index, item in enumerate(node):
                member = pointer_join(pointer, index)
                prefix = lead if first else pad
                first = False
                if isinstance(item, (dict, list)) and item:
                    emit(item, member, indent + 2, f"{prefix}- ")
                else:
                    lines.append(f"{prefix}- {_scalar(item)}{note(member)}")
        else:
            lines.append(f"{lead}{_scalar(node)}{note(pointer)}")

    emit(data, "", 0, "")
    return "\n".join(lines) + "\n"
