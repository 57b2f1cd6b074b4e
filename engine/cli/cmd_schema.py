"""nmspec schema: print the JSON Schema editors and the CLI share."""

from __future__ import annotations

import argparse
import json
import sys
from typing import TYPE_CHECKING

from engine.pipeline import spec_schema

if TYPE_CHECKING:
    from engine.cli.common import Subparsers


def register(subparsers: Subparsers) -> argparse.ArgumentParser:
    parser = subparsers.add_parser("schema", help="print the JSON Schema of the spec language",
                                   description="Print the JSON Schema (draft-07) of site specs, of base fragments or of catalog files.")
    parser.add_argument("--kind", choices=("spec", "base", "catalog"), default="spec",
                        help="spec: nmspec.schema.json; base: nmspec-base.schema.json; catalog: catalog.schema.json")
    parser.set_defaults(func=run)
    return parser


def run(args: argparse.Namespace) -> int:
    name = {"spec": "nmspec.schema.json", "base": "nmspec-base.schema.json", "catalog": "catalog.schema.json"}[args.kind]
    sys.stdout.write(json.dumps(spec_schema(name), indent=2, ensure_ascii=False) + "\n")
    return 0
