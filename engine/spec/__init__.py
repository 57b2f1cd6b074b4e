"""The spec: reading, merging, schema and semantic validation.

    doc, diagnostics = validate_spec(path, catalog)

returns the merged document (None when it could not be read) and every diagnostic,
sorted. Nothing here prints or exits.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from engine.diagnostics import Diagnostic, has_errors, sorted_diagnostics
from engine.spec.document import SpecDocument, display_name, find_root, load_spec
from engine.spec.model import SiteSpec, site_spec

if TYPE_CHECKING:  # engine.catalog reads units from this package: import it lazily
    from engine.catalog import Catalog

KIND_SCHEMAS = {"SiteDeployment": "nmspec.schema.json", "SiteBase": "nmspec-base.schema.json"}


def repository_catalog(spec_path: str | os.PathLike[str], extra: tuple[str, ...] = ()) -> tuple[Catalog | None, list[Diagnostic]]:
    """The built-in catalog plus the spec repository's `catalog/` folder and any `extra` folders."""
    root = find_root(Path(spec_path).resolve().parent if Path(spec_path).is_file() else Path(spec_path).resolve())
    folders = [root / "catalog"] if (root / "catalog").is_dir() else []
    from engine.catalog import CatalogError, catalog_files, load_catalog

    # the repository's own catalog is part of the repository, like its bases, models and
    # traces: a file that links outside it would make a build depend on the machine
    outside = [path for path in catalog_files(tuple(folders)) if path.parent == root / "catalog"
               and not path.resolve().is_relative_to(root)]
    if outside:
        return None, [Diagnostic("error", "NM216", f"catalog file links to {path.resolve()}, outside the spec repository",
                                 file=display_name(path), hint="copy the file into the repository's catalog/ folder")
                      for path in outside]
    folders += [Path(f) for f in extra]

    try:
        return load_catalog(folders, display=display_name), []
    except CatalogError as exc:
        return None, exc.diagnostics


def site_model(doc: SpecDocument) -> SiteSpec:
    """The document's merged spec with the schema's defaults, as typed data in SI units."""
    from engine.spec.render import with_defaults

    return site_spec(with_defaults(doc.data)[0])


def part_pointers(doc: SpecDocument) -> list[tuple[str, str, object]]:
    """(pointer, catalog kind, value as written) for every field of the spec that names a part."""
    from engine.spec.semantic import PART_FIELDS

    out: list[tuple[str, str, object]] = []
    for pointer, kind in PART_FIELDS:
        value: Any = doc.data
        for name in pointer.strip("/").split("/"):
            value = value.get(name) if isinstance(value, Mapping) else None
        out.append((pointer, kind, value))
    return out


def render_merged(doc: SpecDocument, *, show_origin: bool = False) -> str:
    """The merged spec with the schema's defaults as YAML, optionally with where each value came from."""
    from engine.spec.render import render_yaml

    return render_yaml(doc, show_origin=show_origin)


def referenced_paths(doc: SpecDocument) -> list[tuple[str, str]]:
    """The files a valid spec names besides itself (model, stimuli): (pointer, path as written)."""
    data = doc.data
    out = [("/model/source", data["model"]["source"])]
    out += [(f"/verify/stimuli/{i}", item) for i, item in enumerate((data.get("verify") or {}).get("stimuli") or [])]
    return out


def validate_document(doc: SpecDocument, catalog: Catalog) -> list[Diagnostic]:
    from engine.spec.schema_check import check_schema
    from engine.spec.semantic import check_files, check_parts, check_semantics

    kind = doc.data.get("kind") if isinstance(doc.data, dict) else None
    schema = KIND_SCHEMAS.get(kind, "nmspec.schema.json") if isinstance(kind, str) else "nmspec.schema.json"
    diagnostics = check_schema(doc, schema)
    if kind == "SiteBase":
        diagnostics += list(check_parts(doc, catalog)) + list(check_files(doc, catalog))
    else:
        diagnostics += check_semantics(doc, catalog)
    return diagnostics


def _yaml11_hint(diagnostic: Diagnostic) -> Diagnostic:
    """NM004 (a YAML 1.1 surprise) says what to write for the value the schema expects at
    that place: one of an enum's words, a boolean, a number or a quoted string."""
    if diagnostic.code != "NM004" or not diagnostic.path:
        return diagnostic
    import attrs

    from engine.spec.schema_check import load_schema, schema_at

    schema = schema_at(load_schema("nmspec.schema.json"), diagnostic.path)
    text = diagnostic.message.split("'")[1] if diagnostic.message.count("'") >= 2 else ""
    if isinstance(schema.get("enum"), list):
        hint = f"write one of {', '.join(str(v) for v in schema['enum'])}"
    elif schema.get("type") == "boolean":
        hint = "write true or false"
    elif schema.get("type") in ("integer", "number") and text.isdigit():
        hint = f"write {int(text, 10)}, without the leading zero"
    elif schema.get("type") == "string" and text and schema.get("pattern") and not re.search(schema["pattern"], text):
        hint = f"quoting keeps it a string, but {diagnostic.path[1:].replace('/', '.')} takes a {schema.get('description', 'different value')}"
    elif schema.get("type") == "string" and text:
        hint = f"quote it ('{text}') to keep the string"
    else:
        return diagnostic
    return attrs.evolve(diagnostic, hint=hint)


def validate_spec(path: str | os.PathLike[str], catalog: Catalog, *, root: str | None = None) -> tuple[SpecDocument | None, list[Diagnostic]]:
    doc, diagnostics = load_spec(path, root=root)
    diagnostics = [_yaml11_hint(d) for d in diagnostics]
    if doc is None or has_errors(diagnostics):
        return doc if not has_errors(diagnostics) else None, sorted_diagnostics(diagnostics)
    diagnostics = diagnostics + validate_document(doc, catalog)
    return doc, sorted_diagnostics(diagnostics)


__all__ = ["SiteSpec", "SpecDocument", "load_spec", "part_pointers", "referenced_paths", "render_merged", "repository_catalog", "site_model", "validate_document", "validate_spec"]
