"""The architecture page's picture is the code's, and the import contracts hold."""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

from importlinter.cli import lint_imports

ROOT = Path(__file__).resolve().parents[1]


def _tool():
    spec = importlib.util.spec_from_file_location("architecture", ROOT / "tools" / "architecture.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_page_shows_the_stages_and_imports_as_the_code_has_them():
    tool = _tool()
    page = (ROOT / "docs" / "architecture.md").read_text()
    assert tool.page_block(page) == tool.block(), "run `python tools/architecture.py --write`"


def test_the_picture_names_the_data_between_the_stages():
    flow = _tool().data_flow()
    for edge in ("spec -- SpecDocument --> resolve", "resolve -- Deployment --> mapping",
                 "spec -- SiteSpec --> codegen", "codegen -- ImageContents --> image",
                 "resolve -- Deployment --> verify", "pipeline -- BuildResult --> cli"):
        assert f"    {edge}" in flow


def test_the_import_contracts_hold(capsys):
    cwd = os.getcwd()
    os.chdir(ROOT)  # lint-imports reads pyproject.toml from the working folder
    try:
        status = lint_imports(no_cache=True, no_logo=True)
    finally:
        os.chdir(cwd)
    out = capsys.readouterr().out
    assert status == 0, out
    assert "Contracts: 5 kept, 0 broken." in out
