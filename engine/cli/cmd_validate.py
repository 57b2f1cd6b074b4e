"""nmspec validate PATH...: schema and semantic checks of spec files and folders."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from engine.cli.common import (
    EXIT_INVALID,
    EXIT_OK,
    add_catalog_option,
    add_output_option,
    emit_diagnostics,
    load_and_validate,
    spec_files,
)
from engine.diagnostics import Diagnostic, has_errors
from engine.pipeline import file_kind

if TYPE_CHECKING:
    from engine.cli.common import Subparsers


def register(subparsers: Subparsers) -> argparse.ArgumentParser:
    parser = subparsers.add_parser("validate", help="validate spec files or folders",
                                   description="Check spec files (and every *.yaml under folders) against the schema and the catalog.")
    parser.add_argument("paths", nargs="+", metavar="PATH", help="spec file or folder")
    parser.add_argument("--quiet", "-q", action="store_true", help="print nothing when all specs are valid")
    add_output_option(parser)
    add_catalog_option(parser)
    parser.set_defaults(func=run)
    return parser


def _kind(path: Path) -> str | None:
    return file_kind(path)


def _once(diagnostics: list[Diagnostic]) -> list[Diagnostic]:
    """A base shared by several sites reports its own problems once, at the base."""
    kept: dict[tuple[str | None, int | None, int | None, str, str], Diagnostic] = {}
    for diagnostic in diagnostics:
        key = (diagnostic.file, diagnostic.line, diagnostic.column, diagnostic.code, diagnostic.message)
        if key not in kept or len(diagnostic.chain) < len(kept[key].chain):
            kept[key] = diagnostic
    return list(kept.values())


def run(args: argparse.Namespace) -> int:
    files, diagnostics = spec_files(args.paths)
    checked = rollouts = 0
    for path in files:
        kind = _kind(path)
        if kind == "PartCatalog":
            continue  # catalog files are checked when a spec's catalog is loaded
        if kind == "Rollout":  # a rollout file beside the specs: its own schema
            from engine.diagnostics import StageError
            from engine.rollout.model import load_rollout

            try:
                load_rollout(path)
            except StageError as exc:
                diagnostics += list(exc.diagnostics)
            rollouts += 1
            continue
        _, _, found = load_and_validate(str(path), args)
        diagnostics += found
        checked += 1
    diagnostics = _once(diagnostics)
    status = emit_diagnostics(diagnostics, args.output)
    if args.output == "text" and not args.quiet and not has_errors(diagnostics):
        extra = f", {rollouts} rollout{'s' if rollouts != 1 else ''} valid" if rollouts else ""
        sys.stdout.write(f"{checked} spec{'s' if checked != 1 else ''} valid{extra}\n")
    return EXIT_INVALID if has_errors(diagnostics) else EXIT_OK if status == EXIT_OK else status
