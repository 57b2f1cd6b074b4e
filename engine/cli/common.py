"""Helpers shared by the commands: output formats, diagnostics, spec loading."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

from engine.diagnostics import RENDERERS, Diagnostic, has_errors, sorted_diagnostics
from engine.pipeline import repository_catalog, validate_spec

if TYPE_CHECKING:
    from engine.pipeline import Catalog, SpecDocument

    # what `register(subparsers)` of every command module takes
    Subparsers = argparse._SubParsersAction[argparse.ArgumentParser]

EXIT_OK, EXIT_INVALID, EXIT_USAGE, EXIT_CHECK_DIFFERS, EXIT_INTERNAL = 0, 1, 2, 3, 70


def add_output_option(parser: argparse.ArgumentParser, *,
                      choices: Sequence[str] = ("text", "json", "github")) -> None:
    parser.add_argument("--output", "-o", choices=choices, default="text",
                        help="how to print results and diagnostics (default: text)")


def add_catalog_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--catalog", action="append", default=[], metavar="DIR",
                        help="extra part-catalog folder (repeatable); the repository's catalog/ folder is read too")


def emit_diagnostics(diagnostics: list[Diagnostic], fmt: str, *, stream: TextIO | None = None) -> int:
    """Print diagnostics (text and github on stderr, json on stdout); return the exit code."""
    diagnostics = sorted_diagnostics(diagnostics)
    if fmt == "json":
        sys.stdout.write(RENDERERS["json"](diagnostics) + "\n")
    elif diagnostics:
        text = RENDERERS[fmt](diagnostics)
        (stream or sys.stderr).write(text + ("\n" if not text.endswith("\n") else ""))
    return EXIT_INVALID if has_errors(diagnostics) else EXIT_OK


def load_and_validate(path: str, args: argparse.Namespace) -> tuple[SpecDocument | None, Catalog | None, list[Diagnostic]]:
    catalog, problems = repository_catalog(path, tuple(getattr(args, "catalog", []) or ()))
    if catalog is None:
        return None, None, problems
    doc, diagnostics = validate_spec(path, catalog)
    if has_errors(diagnostics):
        return None, catalog, diagnostics
    return doc, catalog, diagnostics


def spec_files(paths: list[str]) -> tuple[list[Path], list[Diagnostic]]:
    """Files named directly, and every *.yaml / *.yml under named folders (sorted)."""
    found: list[Path] = []
    problems: list[Diagnostic] = []
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            found += sorted(p for p in path.rglob("*") if p.suffix in (".yaml", ".yml") and p.is_file()
                            and not any(part.startswith(".") for part in p.parts))
        elif path.exists():
            found.append(path)
        else:
            problems.append(Diagnostic("error", "NM012", "no such file or folder", file=raw))
    return found, problems
