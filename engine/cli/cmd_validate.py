"""nmspec validate PATH...: schema and semantic checks of spec files and folders."""

from __future__ import annotations

import sys

from engine.cli.common import (
    EXIT_INVALID,
    EXIT_OK,
    add_catalog_option,
    add_output_option,
    emit_diagnostics,
    load_and_validate,
    spec_files,
)
from engine.diagnostics import has_errors
from engine.pipeline import file_kind


def register(subparsers):
    parser = subparsers.add_parser("validate", help="validate spec files or folders",
                                   description="Check spec files (and every *.yaml under folders) against the schema and the catalog.")
    parser.add_argument("paths", nargs="+", metavar="PATH", help="spec file or folder")
    parser.add_argument("--quiet", "-q", action="store_true", help="print nothing when all specs are valid")
    add_output_option(parser)
    add_catalog_option(parser)
    parser.set_defaults(func=run)
    return parser


def _is_catalog_file(path) -> bool:
    return file_kind(path) == "PartCatalog"


def _once(diagnostics):
    """A base shared by several sites reports its own problems once, at the base."""
    kept = {}
    for diagnostic in diagnostics:
        key = (diagnostic.file, diagnostic.line, diagnostic.column, diagnostic.code, diagnostic.message)
        if key not in kept or len(diagnostic.chain) < len(kept[key].chain):
            kept[key] = diagnostic
    return list(kept.values())


def run(args) -> int:
    files, diagnostics = spec_files(args.paths)
    checked = 0
    for path in files:
        if _is_catalog_file(path):
            continue  # catalog files are checked when a spec's catalog is loaded
        _, _, found = load_and_validate(str(path), args)
        diagnostics += found
        checked += 1
    diagnostics = _once(diagnostics)
    status = emit_diagnostics(diagnostics, args.output)
    if args.output == "text" and not args.quiet and not has_errors(diagnostics):
        sys.stdout.write(f"{checked} spec{'s' if checked != 1 else ''} valid\n")
    return EXIT_INVALID if has_errors(diagnostics) else EXIT_OK if status == EXIT_OK else status
