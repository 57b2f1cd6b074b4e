"""The fleet's observed state against its desired state: per site, Synced, OutOfSync,
Degraded or Silent, with the reasons, and the battery measured against the power model.

`fleet_status(desired, uplinks, now_ms)` is pure: what the repository says each site should
run (`Desired`, one per site) and what the sites sent (`Uplink`s, any order) give a
`FleetStatus`. The rules:

- **Silent**: no uplink for more than SILENT_AFTER status intervals (one lost status uplink
  is ordinary for unconfirmed LoRaWAN traffic; two in a row are not), or none at all.
- **Degraded**: the latest status says the node rolled back (canary 0x08, or a rollback
  count), or a canary fails (spike rate 0x01, dead neurons 0x02, a lost window 0x20), or the
  cell is drained faster than the power model predicts beyond the model's stated
  uncertainty (`engine.resolve.power.PREDICTION_UNCERTAINTY`).
- **OutOfSync**: the node runs another model version than the desired bundle's image, or a
  lower security version; `since_ms` is the first uplink of the current run of mismatches.
- **Synced** otherwise (a node on trial with the desired image is Synced, with a note).

A site that is both Degraded and OutOfSync (a rollback runs the previous image) is Degraded,
with both reasons.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

import attrs
import numpy as np

from engine import frames
from engine.resolve.power import HOURS_PER_YEAR, PREDICTION_UNCERTAINTY
from engine.telemetry.uplinks import Uplink

SYNCED, OUT_OF_SYNC, DEGRADED, SILENT = "Synced", "OutOfSync", "Degraded", "Silent"
STATES = (SYNCED, OUT_OF_SYNC, DEGRADED, SILENT)
SILENT_AFTER = 2  # status intervals without any uplink
FIT_DAYS = 30  # the battery trend is fitted over this many most recent days
MIN_FIT_HOURS = 48.0
ANOMALY_DAYS = 7  # the anomaly rate is over this many most recent days
FAILING_CANARIES = (0x01, 0x02, 0x20, 0x40)
DAY_MS = 86_400_000


@attrs.frozen
class Desired:
    """What the repository says a site should run, and what the power model predicts for it."""

    site: str
    spec: str  # the spec's path in the repository
    revision: str  # the git revision the bundle was built from
    device: str  # DevEUI or device name the network server knows the node by
    model_version: int  # first four bytes of the image's SHA-256, little-endian (the frames' model_version)
    security_version: int
    status_interval_s: int
    load_current_a: float  # the power model's average current drawn by the node (what a gauge counts)
    self_discharge_a: float
    usable_ah: float
    predicted_life_years: float
    where: str = ""  # the bundle folder, or REV:folder, it was read from


@attrs.frozen
class Battery:
    """The cell measured against the power model."""

    predicted_current_a: float
    predicted_life_years: float
    uncertainty: float
    points: int  # status uplinks with a gauge reading in the fit
    measured_current_a: float | None  # slope of the charge used, None without enough readings
    ratio: float | None  # measured / predicted
    projected_life_years: float | None  # usable charge at the measured draw plus self-discharge
    charge_used_ah: float | None  # latest reading
    voltage_mv: int | None  # latest reading
    verdict: str  # as predicted | drains faster than predicted | drains slower than predicted | no gauge | too few readings

    @property
    def departs(self) -> bool:
        return self.verdict in ("drains faster than predicted", "drains slower than predicted")


@attrs.frozen
class SiteStatus:
    site: str
    device: str
    state: str
    reasons: tuple[str, ...]
    since_ms: int | None  # OutOfSync: first mismatching uplink; Silent: last uplink; else None
    desired: Desired
    last_seen_ms: int | None
    model_version: int | None
    slot: int | None
    on_trial: bool
    security_version: int | None
    rollbacks: int | None
    fallback_invocations: int | None
    canaries: tuple[str, ...]
    anomalies_per_day: float | None  # anomaly uplinks received per day over the last ANOMALY_DAYS
    battery: Battery
    charge_series: tuple[tuple[int, float], ...]  # (ms, Ah used) for the plots
    voltage_series: tuple[tuple[int, int], ...]  # (ms, mV)
    anomaly_series: tuple[tuple[int, int], ...]  # (day start ms, anomaly uplinks that day)


@attrs.frozen
class FleetStatus:
    now_ms: int
    sites: tuple[SiteStatus, ...]  # sorted by site name
    unknown_devices: tuple[str, ...]  # devices that sent uplinks but no desired site names

    def counts(self) -> dict[str, int]:
        out = dict.fromkeys(STATES, 0)
        for s in self.sites:
            out[s.state] += 1
        return out

    def site(self, name: str) -> SiteStatus:
        for s in self.sites:
            if s.site == name:
                return s
        raise KeyError(name)


def _days(ms: float) -> str:
    days = ms / DAY_MS
    return f"{days:.1f} days" if days >= 1 else f"{ms / 3_600_000:.1f} h"


def _int(fields: Mapping[str, int | str], name: str) -> int | None:
    value = fields.get(name)
    return None if value is None else int(value)


def _battery(desired: Desired, statuses: list[Uplink],
             now_ms: int) -> tuple[Battery, list[tuple[int, float]], list[tuple[int, int]]]:
    charge = [(u.received_ms, int(u.fields["charge_used_uah"])) for u in statuses
              if "charge_used_uah" in u.fields and u.fields["charge_used_uah"] != frames.NO_GAUGE]
    voltage = [(u.received_ms, int(u.fields["battery_mv"])) for u in statuses if u.fields.get("battery_mv")]
    charge_series = [(t, c / 1e6) for t, c in charge]

    def battery(points: int, measured: float | None, ratio: float | None, projected: float | None,
                verdict: str) -> Battery:
        return Battery(predicted_current_a=desired.load_current_a, predicted_life_years=desired.predicted_life_years,
                       uncertainty=PREDICTION_UNCERTAINTY, points=points, measured_current_a=measured, ratio=ratio,
                       projected_life_years=projected, charge_used_ah=charge[-1][1] / 1e6 if charge else None,
                       voltage_mv=voltage[-1][1] if voltage else None, verdict=verdict)

    recent = [(t, c) for t, c in charge if t >= now_ms - FIT_DAYS * DAY_MS]
    if not charge:
        return battery(0, None, None, None, "no gauge"), charge_series, voltage
    span_h = (recent[-1][0] - recent[0][0]) / 3_600_000 if recent else 0.0
    if len(recent) < 3 or span_h < MIN_FIT_HOURS:
        return battery(len(recent), None, None, None, "too few readings"), charge_series, voltage
    hours = np.array([(t - recent[0][0]) / 3_600_000 for t, _ in recent])
    used = np.array([c for _, c in recent], dtype=float)
    slope_uah_per_h = float(np.polyfit(hours, used, 1)[0])  # uAh per hour is uA
    measured = max(slope_uah_per_h, 0.0) * 1e-6
    ratio = measured / desired.load_current_a if desired.load_current_a > 0 else None
    draw = measured + desired.self_discharge_a
    projected = desired.usable_ah / draw / HOURS_PER_YEAR if draw > 0 else None
    if ratio is not None and ratio > 1 + PREDICTION_UNCERTAINTY:
        verdict = "drains faster than predicted"
    elif ratio is not None and ratio < 1 - PREDICTION_UNCERTAINTY:
        verdict = "drains slower than predicted"
    else:
        verdict = "as predicted"
    return battery(len(recent), measured, ratio, projected, verdict), charge_series, voltage


def _battery_departs(b: Battery, faster: bool) -> str:
    measured, ratio = b.measured_current_a or 0.0, b.ratio or 0.0
    if faster:
        return (f"battery below its predicted trajectory: draws {measured * 1e6:.2f} uA, the power model "
                f"{b.predicted_current_a * 1e6:.2f} uA ({ratio - 1:+.0%}, beyond its ±{b.uncertainty:.0%}); "
                f"projected life {b.projected_life_years or 0.0:.1f} y of {b.predicted_life_years:.1f} y predicted")
    return (f"battery drains slower than predicted: {measured * 1e6:.2f} uA against "
            f"{b.predicted_current_a * 1e6:.2f} uA ({ratio - 1:+.0%})")


def site_status(desired: Desired, uplinks: Sequence[Uplink], now_ms: int) -> SiteStatus:
    """One site's status from its uplinks (any order)."""
    ups = sorted(uplinks, key=lambda u: (u.received_ms, -1 if u.f_cnt is None else u.f_cnt))
    statuses = [u for u in ups if u.frame == "status"]
    anomalies = [u for u in ups if u.frame == "anomaly"]
    battery, charge_series, voltage_series = _battery(desired, statuses, now_ms)
    by_day: dict[int, int] = {}
    for u in anomalies:
        day = u.received_ms // DAY_MS * DAY_MS
        by_day[day] = by_day.get(day, 0) + 1
    base = SiteStatus(site=desired.site, device=desired.device, state=SILENT, reasons=("no uplink received",),
                      since_ms=None, desired=desired, last_seen_ms=None, model_version=None, slot=None, on_trial=False,
                      security_version=None, rollbacks=None, fallback_invocations=None, canaries=(),
                      anomalies_per_day=None, battery=battery, charge_series=tuple(charge_series),
                      voltage_series=tuple(voltage_series), anomaly_series=tuple(sorted(by_day.items())))
    interval_ms = desired.status_interval_s * 1000
    if not ups:
        return base
    last = ups[-1]
    status = statuses[-1] if statuses else None
    fields: Mapping[str, int | str] = status.fields if status is not None else {}
    window_start = max(ups[0].received_ms, now_ms - ANOMALY_DAYS * DAY_MS)
    window_days = max((now_ms - window_start) / DAY_MS, 1.0)
    rate = sum(1 for u in anomalies if u.received_ms >= window_start) / window_days
    canary = _int(fields, "canary") or 0
    slot_state = _int(fields, "slot_state")
    running = int(last.fields["model_version"])
    security = _int(fields, "security_version")
    rollbacks = _int(fields, "rollbacks")
    slot = None if slot_state is None else slot_state & 0xF
    reported = attrs.evolve(
        base, last_seen_ms=last.received_ms, model_version=running, slot=slot, on_trial=bool(canary & 0x04),
        security_version=security, rollbacks=rollbacks, fallback_invocations=_int(fields, "fallback_invocations"),
        canaries=tuple(name for bit, name in frames.CANARY_BITS if canary & bit), anomalies_per_day=rate)

    silent_for = now_ms - last.received_ms
    if silent_for > SILENT_AFTER * interval_ms:
        return attrs.evolve(reported, state=SILENT, since_ms=last.received_ms, reasons=(
            f"no uplink for {_days(silent_for)} (a status is due every {_days(interval_ms)})",))

    degraded: list[str] = []
    drift: list[str] = []
    if canary & 0x08 or (rollbacks or 0) > 0:
        degraded.append(f"rolled back (rollbacks {rollbacks if rollbacks is not None else '?'}, canary 0x{canary:02x}): "
                        f"slot {slot} runs model {running:08x}")
    failing = [name for bit, name in frames.CANARY_BITS if bit in FAILING_CANARIES and canary & bit]
    if failing:
        degraded.append("canary failing: " + ", ".join(failing))
    if battery.verdict == "drains faster than predicted":
        degraded.append(_battery_departs(battery, faster=True))

    def mismatch(u: Uplink) -> bool:
        version = _int(u.fields, "security_version")
        return int(u.fields["model_version"]) != desired.model_version or (
            version is not None and version < desired.security_version)

    if running != desired.model_version:
        drift.append(f"runs model {running:08x}, {desired.revision} has {desired.model_version:08x}")
    if security is not None and security < desired.security_version:
        drift.append(f"security version {security} below {desired.security_version}")
    since = None
    if drift:
        since = last.received_ms
        for u in reversed(ups):
            if not mismatch(u):
                break
            since = u.received_ms
        drift[0] += f" (since {_days(now_ms - since)} ago)"
    notes: list[str] = []
    if battery.verdict == "drains slower than predicted":
        notes.append(_battery_departs(battery, faster=False))
    if canary & 0x04:
        notes.append("on trial (sanity window)")
    if degraded:
        return attrs.evolve(reported, state=DEGRADED, reasons=tuple(degraded + drift + notes), since_ms=since)
    if drift:
        return attrs.evolve(reported, state=OUT_OF_SYNC, reasons=tuple(drift + notes), since_ms=since)
    return attrs.evolve(reported, state=SYNCED, reasons=tuple(notes), since_ms=None)


def fleet_status(desired: Iterable[Desired], uplinks: Iterable[Uplink], now_ms: int) -> FleetStatus:
    """Every desired site's status; uplinks are matched to a site by DevEUI or device name."""
    wanted = sorted(desired, key=lambda d: d.site)
    index = {d.device: d.site for d in wanted}
    per_site: dict[str, list[Uplink]] = {d.site: [] for d in wanted}
    unknown: set[str] = set()
    for up in uplinks:
        site = index.get(up.device) or index.get(up.device_name)
        if site is None:
            unknown.add(up.device_name or up.device)
        else:
            per_site[site].append(up)
    return FleetStatus(now_ms, tuple(site_status(d, per_site[d.site], now_ms) for d in wanted), tuple(sorted(unknown)))
