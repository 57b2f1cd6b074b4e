"""nmspec render SPEC: the merged spec with defaults, as YAML."""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING

from engine.cli.common import add_catalog_option, emit_diagnostics, load_and_validate
from engine.pipeline import render_spec

if TYPE_CHECKING:
    from engine.cli.common import Subparsers


def register(subparsers: Subparsers) -> argparse.ArgumentParser:
    parser = subparsers.add_parser("render", help="print the merged, defaulted spec",
                                   description="Print the spec after merging its bases and filling in defaults.")
    parser.add_argument("spec", metavar="SPEC", help="spec file")
    parser.add_argument("--show-origin", action="store_true",
                        help="annotate each value with the file and line that set it ('(default)' for defaults)")
    parser.add_argument("--output", "-o", choices=("text", "json", "github"), default="text",
                        help="format of diagnostics when the spec is invalid")
    add_catalog_option(parser)
    parser.set_defaults(func=run)
    return parser


def run(args: argparse.Namespace) -> int:
    doc, _, diagnostics = load_and_validate(args.spec, args)
    if doc is None:
        return emit_diagnostics(diagnostics, args.output)
    emit_diagnostics(diagnostics, args.output)  # warnings
    sys.stdout.write(render_spec(doc, show_origin=args.show_origin))
    return 0
