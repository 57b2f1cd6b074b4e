"""Multicast groups (LoRa Alliance TS005-1.0.0, Remote Multicast Setup): the sites that
receive byte-identical images at the same data rate share one group and one fragmentation
session; each group gets the McGroupSetupReq and McClassCSessionReq fields nmspec can
choose, and its delivery plan. Keys and the multicast address belong to the network server;
the address here is a deterministic proposal."""

from __future__ import annotations

import hashlib
import math
from collections.abc import Mapping, Sequence
from typing import Any

import attrs

from engine.delivery.plan import DeliveryPlan

MAX_SESSION_TIMEOUT_EXPONENT = 15  # SessionTimeOut: 4 bits, the session lasts 2**n seconds


@attrs.frozen
class SiteLink:
    """What the delivery needs to know of one site receiving an image."""

    site: str
    image_sha256: str
    image_bytes: int
    spreading_factor: int
    rx_current_a: float
    voltage_v: float
    usable_ah: float | None


@attrs.frozen
class MulticastGroup:
    name: str  # image prefix and data rate
    mc_group_id: int  # 0..3 on every member (one update at a time)
    mc_addr: int  # proposed multicast DevAddr
    session_time_out: int  # exponent: the Class C session lasts 2**n s
    sites: tuple[str, ...]
    image_sha256: str
    plan: DeliveryPlan
    notes: tuple[str, ...] = ()

    def summary(self) -> dict[str, Any]:
        return {"name": self.name, "mc_group_id": self.mc_group_id, "mc_addr": f"{self.mc_addr:08x}",
                "session_time_out": self.session_time_out, "sites": list(self.sites),
                "image_sha256": self.image_sha256, "plan": self.plan.summary(), "notes": list(self.notes)}


def group_sites(links: Sequence[SiteLink], plans: Mapping[tuple[str, int], DeliveryPlan]) -> tuple[MulticastGroup, ...]:
    """`plans`: (image sha256, spreading factor) -> the delivery plan of that image at that rate."""
    buckets: dict[tuple[str, int], list[SiteLink]] = {}
    for link in sorted(links, key=lambda item: item.site):
        buckets.setdefault((link.image_sha256, link.spreading_factor), []).append(link)
    out = []
    for (sha, sf), members in sorted(buckets.items(), key=lambda item: item[1][0].site):
        plan = plans[(sha, sf)]
        exponent = max(0, math.ceil(math.log2(max(plan.deliver_s, 1.0))))
        notes: tuple[str, ...] = ()
        if exponent > MAX_SESSION_TIMEOUT_EXPONENT:
            notes = ((f"{plan.deliver_s / 3600:.1f} h at the duty-cycle limit exceeds the longest Class C session "
                     f"(2**{MAX_SESSION_TIMEOUT_EXPONENT} s): the server opens successive sessions"),)
            exponent = MAX_SESSION_TIMEOUT_EXPONENT
        name = f"{sha[:12]}-{plan.data_rate.lower()}"
        addr = int.from_bytes(hashlib.sha256(f"nmspec multicast {name}".encode()).digest()[:4], "little")
        out.append(MulticastGroup(name, 0, addr, exponent, tuple(m.site for m in members), sha, plan, notes))
    return tuple(out)
