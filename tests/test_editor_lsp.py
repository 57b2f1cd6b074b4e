"""The editor sees what the CLI sees: yaml-language-server (pinned in tools/editor), driven
over LSP with the schema named in each spec's first line, reports nothing on the bundled
specs and flags an injected mistake on the line where `nmspec validate` reports it."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from lsp_client import LspClient
from spec_cases import run_cli

ROOT = Path(__file__).resolve().parents[1]
SERVER = ROOT / "tools" / "editor" / "node_modules" / ".bin" / "yaml-language-server"
SETTINGS = {"yaml": {"validate": True, "schemaStore": {"enable": False}, "format": {"enable": False}}}


@pytest.fixture(scope="module")
def server():
    # The editor test is part of `make test`, which installs the server first; a missing
    # server is a broken set-up, not a reason to skip.
    assert SERVER.exists(), "run `make editor` (yaml-language-server is pinned in tools/editor/package.json)"
    client = LspClient([str(SERVER), "--stdio"], ROOT, SETTINGS)
    yield client
    client.close()


SPECS = sorted((ROOT / "specs").rglob("*.yaml"))


@pytest.mark.parametrize("spec", SPECS, ids=[str(p.relative_to(ROOT)) for p in SPECS])
def test_bundled_specs_are_clean_in_the_editor(server, spec):
    assert server.diagnostics_for(spec, spec.read_text()) == []


MISTAKES = [
    # (spec, find, replace, the editor's message fragment, the CLI's code)
    ("examples/compressor.yaml", "  odr: 1.6kHz", "  odr: 1.6kHzz", "expected a frequency greater than zero with its unit",
     "NM201"),
    ("examples/compressor.yaml", "  part: lis2dw12", "  prt: lis2dw12\n  part: lis2dw12", "not allowed", "NM101"),
    ("examples/compressor.yaml", "  budget: 61uW", "  budget: 61uA",
     "expected a power greater than zero with its unit (W with an SI prefix), like '61uW'", "NM201"),
    # a chip id the catalog does not have (an underscore for the hyphen)
    ("examples/compressor.yaml", "  chip: xylo-imu", "  chip: xylo_imu", "Value is not accepted", "NM210"),
    ("examples/compressor.yaml", "  class: sil2", "  class: sil5", "Value is not accepted", "NM105"),
    # a site that extends a fleet base: the overlay is checked against the base schema
    ("sites/plant-9-compressor-1.yaml", "  radio: {spreading_factor: 9}", "  radio: {spreading_factr: 9}",
     "not allowed", "NM101"),
    ("sites/plant-9-compressor-1.yaml", "  mains: 60Hz", "  mains: 55Hz", "Value is not accepted", "NM105"),
]


@pytest.mark.parametrize("spec, find, replace, fragment, code", MISTAKES, ids=[m[2].strip() for m in MISTAKES])
def test_editor_and_cli_flag_the_same_line(server, tmp_path, spec, find, replace, fragment, code):
    shutil.copytree(ROOT / "specs", tmp_path / "specs")
    (tmp_path / "schemas").symlink_to(ROOT / "schemas")
    (tmp_path / "nmspec.toml").write_text("")
    target = tmp_path / "specs" / spec
    text = target.read_text()
    assert find in text
    broken = text.replace(find, replace, 1)
    target.write_text(broken)

    editor = server.diagnostics_for(target, broken)
    status, _, err = run_cli(["validate", f"specs/{spec}"], tmp_path)
    assert status == 1
    (cli_line,) = [int(line.split(":")[1]) for line in err.splitlines() if f": error[{code}]" in line]
    (only,) = editor
    assert only["range"]["start"]["line"] + 1 == cli_line  # LSP lines are 0-based
    assert fragment in editor[0]["message"]


def test_editor_messages_never_show_a_raw_pattern(server, tmp_path):
    target = tmp_path / "specs" / "examples" / "compressor.yaml"
    shutil.copytree(ROOT / "specs", tmp_path / "specs")
    (tmp_path / "schemas").symlink_to(ROOT / "schemas")
    broken = target.read_text().replace("  budget: 61uW", "  budget: 61uA", 1)
    (only,) = server.diagnostics_for(target, broken)
    assert only["message"] == "expected a power greater than zero with its unit (W with an SI prefix), like '61uW'"
    assert "^" not in only["message"] and "pattern" not in only["message"]


def test_chip_completions_name_each_part(server, tmp_path):
    """Completing target.chip offers every catalog chip with its name and kind."""
    from engine.catalog import builtin_catalog

    shutil.copytree(ROOT / "specs", tmp_path / "specs")
    (tmp_path / "schemas").symlink_to(ROOT / "schemas")
    target = tmp_path / "specs" / "examples" / "compressor.yaml"
    text = target.read_text().replace("  chip: xylo-imu", "  chip: ", 1)
    line = text.splitlines().index("  chip: ")
    server.diagnostics_for(target, text)
    uri = target.resolve().as_uri()
    server.notify("textDocument/didOpen", {"textDocument": {"uri": uri, "languageId": "yaml", "version": 2, "text": text}})
    answer = server.request("textDocument/completion", {"textDocument": {"uri": uri},
                                                        "position": {"line": line, "character": len("  chip: ")}})
    items = answer["result"]["items"] if isinstance(answer["result"], dict) else answer["result"]
    offered = {item["label"]: item.get("documentation") for item in items}
    catalog = builtin_catalog()
    assert set(offered) == set(catalog.ids("chips"))
    docs = {label: (doc["value"] if isinstance(doc, dict) else doc) for label, doc in offered.items()}
    xylo = catalog.part("chips", "xylo-imu")
    assert xylo.name in docs["xylo-imu"] and "digital" in docs["xylo-imu"]
