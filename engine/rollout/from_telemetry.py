"""SiteObservations from the telemetry store: per site, what its uplinks say since it first
reported the desired image (the first status uplink carrying the desired model version is
taken as the start of the update). Pure over the desired state, the uplinks and the fleet
status the telemetry package computes from them."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from engine.rollout.gates import SiteObservation
from engine.telemetry.status import Desired, FleetStatus
from engine.telemetry.uplinks import Uplink

ROLLED_BACK = 0x08


def _int(uplink: Uplink, name: str) -> int:
    value = uplink.fields.get(name)
    return int(value) if isinstance(value, int) else 0


def site_observation(desired: Desired, uplinks: Sequence[Uplink], fleet: FleetStatus | None) -> SiteObservation:
    ups = sorted((u for u in uplinks if u.device == desired.device), key=lambda u: (u.received_ms, u.f_cnt or 0))
    last_seen = ups[-1].received_ms / 1000 if ups else None
    statuses = [u for u in ups if u.frame == "status"]
    first = next((i for i, u in enumerate(statuses) if _int(u, "model_version") == desired.model_version), None)
    if first is None:
        return SiteObservation(desired.site, None, last_seen_s=last_seen)
    start, since = statuses[first], statuses[first:]
    last = since[-1]
    reverted = any(_int(u, "model_version") != desired.model_version or _int(u, "canary") & ROLLED_BACK
                   for u in since[1:])
    rollbacks = max(_int(last, "rollbacks") - _int(start, "rollbacks"), 1 if reverted else 0)
    windows = _int(last, "wakeups") - _int(start, "wakeups")
    fallbacks = _int(last, "fallback_invocations") - _int(start, "fallback_invocations")
    anomalies = sum(1 for u in ups if u.frame == "anomaly" and u.received_ms >= start.received_ms)
    used = predicted = None
    if fleet is not None:
        battery = fleet.site(desired.site).battery
        if battery.ratio is not None and battery.charge_used_ah is not None and battery.ratio > 0:
            used = round(battery.charge_used_ah * 1000, 3)
            predicted = round(used / battery.ratio, 3)
    return SiteObservation(desired.site, start.received_ms / 1000, rollbacks, max(windows, 0), anomalies,
                           max(fallbacks, 0), used, predicted, last_seen)


def observations(desired: Iterable[Desired], uplinks: Sequence[Uplink],
                 fleet: FleetStatus | None) -> dict[str, SiteObservation]:
    return {d.site: site_observation(d, uplinks, fleet) for d in desired}
