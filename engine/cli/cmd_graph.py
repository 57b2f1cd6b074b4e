"""nmspec graph SPEC: the placement graph as Graphviz dot or JSON."""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING

from engine.cli.common import add_catalog_option, emit_diagnostics, load_and_validate
from engine.diagnostics import StageError

if TYPE_CHECKING:
    from engine.cli.common import Subparsers


def register(subparsers: Subparsers) -> argparse.ArgumentParser:
    parser = subparsers.add_parser("graph", help="print the placement graph of a spec",
                                   description="Print what runs where: sensor, signal-chain stages and encoder on the MCU, "
                                               "neuron populations on the chip, with sizes, synapses and expected rates.")
    parser.add_argument("spec", metavar="SPEC")
    parser.add_argument("--format", choices=("dot", "json"), default="dot")
    add_catalog_option(parser)
    parser.set_defaults(func=run)
    return parser


def run(args: argparse.Namespace) -> int:
    from engine.pipeline import placement_graph, resolve_partial

    doc, catalog, diagnostics = load_and_validate(args.spec, args)
    if doc is None or catalog is None:  # a document comes with its catalog
        return emit_diagnostics(diagnostics, "text")
    try:
        deployment = resolve_partial(doc, catalog)
    except StageError as exc:
        return emit_diagnostics(list(exc.diagnostics), "text")
    sys.stdout.write(placement_graph(deployment, args.format))
    return 0
