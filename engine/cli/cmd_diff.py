"""nmspec diff OLD NEW: what changes for the device between two specs, revisions or bundles."""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

from engine.cli.common import (
    EXIT_OK,
    EXIT_USAGE,
    add_catalog_option,
    emit_diagnostics,
)
from engine.diagnostics import StageError
from engine.gitrev import inside, revision_tree

if TYPE_CHECKING:
    from engine.cli.common import Subparsers


def register(subparsers: Subparsers) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(
        "diff", help="what changes for the device between two specs or bundles",
        description="Compare two bundles, two specs, or a spec at two git revisions (REV:PATH, e.g. HEAD~1:specs/sites/a.yaml). "
                    "Specs are built in memory; nothing is written.")
    parser.add_argument("old", metavar="OLD", help="bundle folder, spec file, or REV:PATH")
    parser.add_argument("new", metavar="NEW", help="bundle folder, spec file, or REV:PATH")
    parser.add_argument("--output", "-o", choices=("text", "json"), default="text")
    add_catalog_option(parser)
    parser.set_defaults(func=run)
    return parser


def _files_of(source: str, args: argparse.Namespace, scratch: Path) -> dict[str, bytes]:
    """Bundle files for a bundle folder, a spec, or REV:PATH (the revision's tree, built)."""
    path = Path(source)
    if path.is_dir() and (path / "manifest.json").exists():
        return {str(p.relative_to(path)): p.read_bytes() for p in sorted(path.rglob("*")) if p.is_file()}
    if not path.exists() and ":" in source:
        revision, inner = source.split(":", 1)
        tree, prefix = revision_tree(revision, scratch)
        path = inside(tree, prefix, inner)
        if not path.exists():
            raise ValueError(f"'{inner}' does not exist at revision {revision}")
    if not path.is_file():
        raise ValueError(f"'{source}' is neither a bundle folder, a spec file nor REV:PATH")
    from engine.pipeline import BuildOptions, build_site, repository_catalog

    catalog, problems = repository_catalog(str(path), tuple(args.catalog))
    if catalog is None:
        raise StageError(problems)
    return dict(build_site(str(path), catalog, BuildOptions(verify=False, preview=True)).files)


def run(args: argparse.Namespace) -> int:
    from engine.pipeline import diff_plan, render_diff_plan

    with tempfile.TemporaryDirectory(prefix="nmspec-diff-") as scratch:
        try:
            old = _files_of(args.old, args, Path(scratch))
            new = _files_of(args.new, args, Path(scratch))
        except StageError as exc:
            return emit_diagnostics(list(exc.diagnostics), "text")
        except ValueError as exc:
            sys.stderr.write(f"nmspec diff: {exc}\n")
            return EXIT_USAGE
    plan = diff_plan(old, new)
    if args.output == "json":
        sys.stdout.write(json.dumps(plan, indent=2, sort_keys=True) + "\n")
    else:
        sys.stdout.write(render_diff_plan(plan, args.old, args.new))
    return EXIT_OK
