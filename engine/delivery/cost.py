"""The per-update line of a site's power report: what receiving one image over LoRaWAN
costs the node, at the site's spreading factor in EU868 with a tenth of the fragments lost."""

from __future__ import annotations

from typing import Any

from engine.catalog import Catalog
from engine.delivery.plan import plan_delivery
from engine.delivery.regions import REGIONS
from engine.spec.model import SiteSpec

REPORT_REGION = "EU868"
REPORT_LOSS = 0.1


def update_cost(spec: SiteSpec, catalog: Catalog, image_bytes: int, voltage_v: float,
                usable_ah: float | None) -> dict[str, Any] | None:
    radio = spec.power.radio
    if radio is None:
        return None
    from engine.catalog import MissingFigure

    try:
        rx = catalog.part("radios", radio.part).require("rx_current", spec.part_overrides()["radios"])
    except MissingFigure:
        return None
    rate = REGIONS[REPORT_REGION].for_spreading_factor(radio.spreading_factor)
    plan = plan_delivery(image_bytes, REPORT_REGION, rate.name, REPORT_LOSS, rx, voltage_v)
    out = {"region": REPORT_REGION, "data_rate": rate.name, "loss_rate": REPORT_LOSS, "image_bytes": image_bytes,
           "fragments": plan.total_fragments, "fragment_bytes": plan.fragment_size, "airtime_s": plan.airtime_s,
           "deliver_h": round(plan.deliver_s / 3600, 3), "energy_J": plan.node_energy_j,
           "charge_mAh": plan.node_charge_mah, "decoder_ok": plan.decoder_ok}
    if usable_ah:
        out["share_of_cell"] = round(plan.node_charge_mah / (usable_ah * 1000), 6)
    return out
