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
    # (find, replace, the editor's message fragment, the CLI's code)
    ("  odr: 1.6kHz", "  odr: 1.6kHzz", "does not match", "NM201"),
    ("  part: lis2dw12", "  prt: lis2dw12\n  part: lis2dw12", "not allowed", "NM101"),
    ("  budget: 61uW", "  budget: 61uA", "does not match", "NM201"),
    ("  class: sil2", "  class: sil5", "Value is not accepted", "NM105"),
]


@pytest.mark.parametrize("find, replace, fragment, code", MISTAKES, ids=[m[1].strip() for m in MISTAKES])
def test_editor_and_cli_flag_the_same_line(server, tmp_path, find, replace, fragment, code):
    source = ROOT / "specs" / "examples" / "compressor.yaml"
    workdir = tmp_path / "specs" / "examples"
    shutil.copytree(source.parent, workdir)
    (tmp_path / "schemas").symlink_to(ROOT / "schemas")
    (tmp_path / "nmspec.toml").write_text("")
    text = source.read_text()
    assert find in text
    broken = text.replace(find, replace, 1)
    target = workdir / "compressor.yaml"
    target.write_text(broken)

    editor = server.diagnostics_for(target, broken)
    status, _, err = run_cli(["validate", "specs/examples/compressor.yaml"], tmp_path)
    assert status == 1
    (cli_line,) = [int(line.split(":")[1]) for line in err.splitlines() if f": error[{code}]" in line]
    (only,) = editor
    assert only["range"]["start"]["line"] + 1 == cli_line  # LSP lines are 0-based
    assert fragment in editor[0]["message"]
