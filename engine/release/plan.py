"""A release plan (`nmspec release plan`): per site, what the change between two releases
needs, and for model images the LoRaWAN delivery (TS004 fragments, one TS005 multicast
group per image and data rate); as a JSON-ready document and as the files written beside it."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import attrs

from engine.catalog import Catalog, MissingFigure, load_catalog
from engine.codegen.bundle import canonical_json
from engine.delivery.groups import MulticastGroup, SiteLink, group_sites
from engine.delivery.plan import DeliveryPlan, plan_delivery
from engine.delivery.regions import REGIONS
from engine.release.classify import Release, classify
from engine.release.facts import bundle_facts

Bundles = Mapping[str, Mapping[str, bytes]]  # site -> the bundle's files by path


@attrs.frozen(eq=False)
class ReleasePlan:
    release: Release
    groups: tuple[MulticastGroup, ...]
    document: Mapping[str, Any]  # what release.json holds and `--output json` prints


def plan_catalog(catalog_dirs: tuple[str, ...]) -> Catalog:
    """The parts the radios' receive currents come from: the built-in catalog, then each folder."""
    return load_catalog([Path(d) for d in catalog_dirs]) if catalog_dirs else load_catalog()


def _radio_current(catalog: Catalog | None, part: str | None) -> float:
    if catalog is None or not part:
        return 0.0
    try:
        return catalog.part("radios", part).require("rx_current", {})
    except (MissingFigure, KeyError):
        return 0.0


def _links(release: Release, new_bundles: Bundles, catalog: Catalog | None) -> list[SiteLink]:
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


def release_plan(old: str, new: str, region: str, loss: float, old_bundles: Bundles, new_bundles: Bundles,
                 catalog: Catalog | None) -> ReleasePlan:
    """The plan between the releases labelled `old` and `new`, model images delivered in
    `region` with `loss` (a share) of the fragments expected lost."""
    release = classify(old_bundles, new_bundles, old, new)
    links = _links(release, new_bundles, catalog)
    plans: dict[tuple[str, int], DeliveryPlan] = {}
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
    return ReleasePlan(release, groups, document)


def release_files(plan: ReleasePlan, new_bundles: Bundles) -> dict[str, bytes]:
    """release.json and, per multicast group, session.json and fragments.bin."""
    from engine.delivery.fragments import encode, session_for

    files = {"release.json": canonical_json(plan.document)}
    images = {hashlib.sha256(files_["model.nmc"]).hexdigest(): files_["model.nmc"] for files_ in new_bundles.values()}
    for group in plan.groups:
        session = session_for(group.plan.image_bytes, group.plan.fragment_size, group.plan.parity_fragments)
        setup = session.setup_request()
        files[f"{group.name}/fragments.bin"] = setup + b"".join(encode(images[group.image_sha256], session))
        files[f"{group.name}/session.json"] = canonical_json({
            **group.summary(), "frag_session_setup_req": setup.hex(), "fragment_port": 201,
            "fragments_file": "FragSessionSetupReq, then every DataFragment command in sending order"})
    return files
