"""Reading catalog files (built-in or a repository's own) with the catalog schema."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from engine.catalog import check_figures
from engine.diagnostics import Diagnostic, Origin
from engine.spec.document import Located, SpecDocument
from engine.spec.schema_check import check_schema
from engine.spec.yamlread import read_file


def read_catalog_file(path: Path, display: str) -> tuple[Any, list[Diagnostic]]:
    result = read_file(str(path), display)
    if result.diagnostics:
        return None, list(result.diagnostics)
    doc = SpecDocument(
        path=path.resolve(), display=display, root=path.parent, data=result.data,
        values={p: Located(o) for p, o in result.source_map.values.items()},
        keys={p: Located(o) for p, o in result.source_map.keys.items()},
        files=(display,), absolute={display: path.resolve()},
    )
    diagnostics = check_schema(doc, "catalog.schema.json")
    if diagnostics:
        return None, diagnostics
    diagnostics = check_figures(result.data, lambda pointer: doc.origin(pointer) or Origin(display, 1, 1))
    return result.data, diagnostics
