"""nmspec targets: the catalog's neuromorphic targets as a table (or JSON)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from engine.cli.common import add_catalog_option, add_output_option, emit_diagnostics
from engine.pipeline import repository_catalog

if TYPE_CHECKING:
    from engine.cli.common import Subparsers

COLUMNS: tuple[tuple[str, str], ...] = (("id", "id"), ("family", "family"), ("implementation", "implementation"), ("fidelity", "fidelity"),
           ("input_channels", "inputs"), ("hidden_neurons", "neurons"), ("output_neurons", "outputs"),
           ("cores", "cores"), ("weight_bits", "w bits"), ("idle_power", "idle"), ("sleep_power", "sleep"),
           ("energy_per_synaptic_op", "E/syn op"), ("energy_per_neuron_update", "E/update"),
           ("inference_energy", "E/inference"), ("membrane_readout", "readout Vmem"))


def register(subparsers: Subparsers) -> argparse.ArgumentParser:
    parser = subparsers.add_parser("targets", help="list the part catalog's targets",
                                   description="List the catalog's neuromorphic targets with their main figures; '?' marks a figure no checked source gives.")
    parser.add_argument("--kind", choices=("chips", "sensors", "mcus", "radios", "cells"), default="chips",
                        help="which parts to list (default: chips)")
    add_output_option(parser, choices=("text", "json"))
    add_catalog_option(parser)
    parser.set_defaults(func=run)
    return parser


def run(args: argparse.Namespace) -> int:
    catalog, problems = repository_catalog(Path.cwd(), tuple(args.catalog))
    if catalog is None:
        return emit_diagnostics(problems, args.output)
    parts = [catalog.part(args.kind, pid) for pid in catalog.ids(args.kind)]
    if args.output == "json":
        out = [{"id": p.id, "name": p.name, "vendor": p.vendor, **p.attributes, "origin": p.origin,
                **({"fidelity": p.fidelity, "fidelity_basis": p.fidelity_basis} if args.kind == "chips" else {}),
                "figures": {n: {"value": f.value, "unit": f.unit, "verified": f.verified,
                                "sources": list(p.citations(n)), "note": f.note} for n, f in sorted(p.figures.items())}}
               for p in parts]
        sys.stdout.write(json.dumps(out, indent=2, sort_keys=True) + "\n")
        return 0
    if args.kind == "chips":
        columns = COLUMNS
    else:
        names = sorted({n for p in parts for n in p.figures})
        columns = (("id", "id"),) + tuple((n, n) for n in names)
    rows = [[title for _, title in columns]]
    for part in parts:
        row = []
        for key, _ in columns:
            if key == "id":
                row.append(part.id)
            elif key in ("family", "implementation"):
                row.append(str(part.attribute(key) or ""))
            elif key == "fidelity":
                row.append(part.fidelity)
            else:
                fig = part.figure(key)
                if fig.known and isinstance(fig.value, bool):
                    row.append("yes" if fig.value else "no")
                else:
                    row.append(fig.describe() if fig.known else "?")
        rows.append(row)
    widths = [max(len(r[i]) for r in rows) for i in range(len(columns))]
    for i, row in enumerate(rows):
        sys.stdout.write("  ".join(c.ljust(w) for c, w in zip(row, widths)).rstrip() + "\n")
        if i == 0:
            sys.stdout.write("  ".join("-" * w for w in widths) + "\n")
    sys.stdout.write("? = not found in any checked source; supply it in the spec or a catalog file before relying on it\n")
    if args.kind == "chips":
        sys.stdout.write("fidelity: vendor-verified = a vendor's bit-accurate simulator agrees with the kernel in the tests; "
                         "documented = built from public documentation; stand-in = another family's arithmetic, "
                         "not a model of the chip (`--output json` gives each target's basis); readout Vmem = the "
                         "host can read the readout neurons' membrane (a model with a leaky-integrator readout needs it; "
                         "`--output json` gives the source)\n")
    return 0
