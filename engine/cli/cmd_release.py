"""nmspec release plan OLD NEW: per site, what the change between two releases needs
(nothing, configuration, model, firmware) and, for model updates, the LoRaWAN delivery."""

from __future__ import annotations

import hashlib
import json
import sys
import tempfile
from pathlib import Path

from engine.cli.common import EXIT_OK, EXIT_USAGE, add_catalog_option, emit_diagnostics
from engine.diagnostics import StageError


def register(subparsers):
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


def _radio_current(catalog, part: str | None) -> float:
    if catalog is None or not part:
        return 0.0
    from engine.catalog import MissingFigure

    try:
        return catalog.part("radios", part).require("rx_current", {})
    except (MissingFigure, KeyError):
        return 0.0


def _links(release, new_bundles, catalog):
    from engine.delivery.groups import SiteLink
    from engine.release.facts import bundle_facts

    links = []
    for change in release.sites:
        if change.kind != "model":
            continue
        facts = bundle_facts(new_bundles[change.site])
        power = ((facts.report.get("resolve") or {}).get("power")) or {}
        radio = next((c.get("part") for c in power.get("consumers", []) if c.get("name") == "radio"), None)
        links.append(SiteLink(change.site, change.image_sha256, change.image_bytes,
                              facts.define_int("NM_RADIO_SPREADING_FACTOR") or 7, _radio_current(catalog, radio),
                              float(power.get("voltage_V", 3.6)), power.get("usable_Ah")))
    return links


def release_document(old: str, new: str, region: str, loss: float, old_bundles, new_bundles, catalog):
    """(release, groups, the JSON-ready document)."""
    from engine.delivery.groups import group_sites
    from engine.delivery.plan import plan_delivery
    from engine.delivery.regions import REGIONS
    from engine.release.classify import classify

    release = classify(old_bundles, new_bundles, old, new)
    links = _links(release, new_bundles, catalog)
    plans = {}
    for link in links:
        key = (link.image_sha256, link.spreading_factor)
        if key not in plans:
            rate = REGIONS[region].for_spreading_factor(link.spreading_factor)
            plans[key] = plan_delivery(link.image_bytes, region, rate.name, loss, link.rx_current_a, link.voltage_v)
    groups = group_sites(links, plans)
    document = {
        "format": "nmspec-release/1", "old": old, "new": new, "region": region, "loss_rate": loss,
        "counts": {kind: release.count(kind) for kind in ("nothing", "configuration", "model", "firmware", "removed")},
        "sites": [{"site": s.site, "kind": s.kind, "reasons": list(s.reasons), "image_bytes": s.image_bytes,
                   "image_sha256": s.image_sha256, "full_image_path": s.full_image_path} for s in release.sites],
        "groups": [g.summary() for g in groups],
    }
    return release, groups, document


def _render(document) -> str:
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


def _write(out: Path, document, groups, new_bundles) -> None:
    """release.json and, per multicast group, session.json and fragments.bin; all or nothing."""
    from engine.codegen.bundle import canonical_json
    from engine.delivery.fragments import encode, session_for
    from engine.fs import write_atomically

    files = {"release.json": canonical_json(document)}
    images = {hashlib.sha256(files_["model.nmc"]).hexdigest(): files_["model.nmc"] for files_ in new_bundles.values()}
    for group in groups:
        session = session_for(group.plan.image_bytes, group.plan.fragment_size, group.plan.parity_fragments)
        setup = session.setup_request()
        files[f"{group.name}/fragments.bin"] = setup + b"".join(encode(images[group.image_sha256], session))
        files[f"{group.name}/session.json"] = canonical_json({
            **group.summary(), "frag_session_setup_req": setup.hex(), "fragment_port": 201,
            "fragments_file": "FragSessionSetupReq, then every DataFragment command in sending order"})
    write_atomically(files, out)


def run_plan(args) -> int:
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
    from engine.catalog import load_catalog

    catalog = load_catalog([Path(d) for d in catalog_dirs]) if catalog_dirs else load_catalog()
    _release, groups, document = release_document(args.old, args.new, args.region, args.loss, old, new, catalog)
    if args.out:
        _write(Path(args.out), document, groups, new)
    if args.output == "json":
        sys.stdout.write(json.dumps(document, indent=2, sort_keys=True) + "\n")
    else:
        sys.stdout.write(_render(document))
    return EXIT_OK
