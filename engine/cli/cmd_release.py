"""nmspec release plan OLD NEW: per site, what the change between two releases needs
(nothing, configuration, model, firmware) and, for model updates, the LoRaWAN delivery."""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from engine.cli.common import EXIT_OK, EXIT_USAGE, add_catalog_option, emit_diagnostics
from engine.diagnostics import StageError


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(
        "release", help="what each site needs between two releases, and its LoRaWAN delivery",
        description="Release planning between a deployed release and a new one.")
    sub = parser.add_subparsers(dest="release_command", metavar="SUBCOMMAND")
    sub.required = True
    plan = sub.add_parser(
        "plan", help="classify every site's update and plan the delivery of model images",
        description="OLD and NEW each name a release: a git revision of the spec repository (REV, or REV:PATH), "
                    "a spec file or folder of specs, a bundle folder or a folder of bundles. Specs are built in "
                    "memory. Per site: nothing, configuration, model (an image the running firmware accepts) or "
                    "firmware (the full image path), with the reasons; model images get fragments (TS004) and a "
                    "multicast group (TS005).")
    plan.add_argument("old", metavar="OLD")
    plan.add_argument("new", metavar="NEW")
    plan.add_argument("--region", choices=("EU868", "US915"), default="EU868")
    plan.add_argument("--loss", type=float, default=0.1, metavar="RATE",
                      help="share of fragments expected lost, for the redundancy (default 0.1)")
    plan.add_argument("--out", metavar="DIR", help="write release.json and, per multicast group, "
                                                   "session.json and fragments.bin here")
    plan.add_argument("--output", "-o", choices=("text", "json"), default="text")
    add_catalog_option(plan)
    plan.set_defaults(func=run_plan)
    return parser


def _render(document: Mapping[str, Any]) -> str:
    lines = [(f"release {document['old']} -> {document['new']} ({document['region']}, "
             f"{document['loss_rate']:.0%} fragment loss planned for)")]
    width = max([len(s["site"]) for s in document["sites"]] + [4])
    for site in document["sites"]:
        note = "  [full image path]" if site["full_image_path"] else ""
        lines.append(f"  {site['site']:<{width}}  {site['kind']:<13}  {'; '.join(site['reasons'])}{note}")
    if document["groups"]:
        lines.append("delivery (model images, one multicast group per image and data rate):")
        lines.append(f"  {'group':<18} {'sites':>5} {'bytes':>7} {'DR':>4} {'frag B':>6} {'data+parity':>11} "
                     f"{'airtime s':>9} {'hours':>7} {'node J':>7} {'mAh':>6}")
        for group in document["groups"]:
            p = group["plan"]
            lines.append(f"  {group['name']:<18} {len(group['sites']):>5} {p['image_bytes']:>7} {p['data_rate']:>4} "
                         f"{p['fragment_size']:>6} {p['data_fragments']:>5}+{p['parity_fragments']:<5} "
                         f"{p['airtime_s']:>9.1f} {p['deliver_h']:>7.2f} {p['node_energy_j']:>7.1f} "
                         f"{p['node_charge_mah']:>6.2f}")
            for note in group["notes"] + ([p["decoder_note"]] if p["decoder_note"] else []):
                lines.append(f"    note: {note}")
    counts = document["counts"]
    lines.append(", ".join(f"{counts[k]} {k}" for k in ("nothing", "configuration", "model", "firmware", "removed")
                           if counts[k] or k in ("nothing", "model", "firmware")))
    return "\n".join(lines) + "\n"


def run_plan(args: argparse.Namespace) -> int:
    from engine.fs import write_atomically
    from engine.release.plan import plan_catalog, release_files, release_plan
    from engine.release.sources import SourceError, release_bundles

    if not 0 <= args.loss < 1:
        sys.stderr.write(f"nmspec release plan: --loss {args.loss} is not a share in [0, 1)\n")
        return EXIT_USAGE
    catalog_dirs = tuple(args.catalog)
    with tempfile.TemporaryDirectory(prefix="nmspec-release-") as scratch:
        try:
            old = release_bundles(args.old, Path(scratch), catalog_dirs)
            new = release_bundles(args.new, Path(scratch), catalog_dirs)
        except StageError as exc:
            return emit_diagnostics(list(exc.diagnostics), "text")
        except SourceError as exc:
            sys.stderr.write(f"nmspec release plan: {exc}\n")
            return EXIT_USAGE
    if not old and not new:
        sys.stderr.write("nmspec release plan: neither release holds a site\n")
        return EXIT_USAGE
    plan = release_plan(args.old, args.new, args.region, args.loss, old, new, plan_catalog(catalog_dirs))
    if args.out:
        write_atomically(release_files(plan, new), Path(args.out))  # all or nothing
    if args.output == "json":
        sys.stdout.write(json.dumps(plan.document, indent=2, sort_keys=True) + "\n")
    else:
        sys.stdout.write(_render(plan.document))
    return EXIT_OK
