"""docs/nmc-format.md carries the generated tables of the layout and every NM7xx code."""

from __future__ import annotations

import re
from pathlib import Path

from engine.image import errors
from engine.image.layout import markdown_tables

DOC = Path(__file__).resolve().parents[1] / "docs" / "nmc-format.md"


def test_document_tables_match_the_layout_table():
    text = DOC.read_text()
    generated = re.search(r"<!-- BEGIN GENERATED TABLES -->\n(.*)\n<!-- END GENERATED TABLES -->", text, re.DOTALL)
    assert generated is not None
    assert generated.group(1).strip() == markdown_tables().strip()


def test_document_lists_every_image_error_code():
    codes = sorted(v for k, v in vars(errors).items() if k.isupper() and isinstance(v, str) and v.startswith("NM7"))
    assert len(codes) == 16
    table = DOC.read_text()
    for code in codes:
        assert f"| {code} |" in table, code
