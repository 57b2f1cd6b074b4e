"""FleetStatus as data (canonical JSON), as a text table, and as GitHub Actions annotations."""

from __future__ import annotations

import json
import time
from typing import Any

from engine.telemetry.status import DEGRADED, OUT_OF_SYNC, SILENT, STATES, FleetStatus, SiteStatus

# what a CI job acts on (docs/telemetry.md)
EXIT_SYNCED, EXIT_NEEDS_ATTENTION, EXIT_OUT_OF_SYNC = 0, 1, 3


def exit_code(fleet: FleetStatus) -> int:
    """0 every site Synced; 1 a site Degraded or Silent (a person must look); 3 otherwise some
    site is OutOfSync (the field has not caught up with git: wait or roll out)."""
    counts = fleet.counts()
    if counts[DEGRADED] or counts[SILENT]:
        return EXIT_NEEDS_ATTENTION
    if counts[OUT_OF_SYNC]:
        return EXIT_OUT_OF_SYNC
    return EXIT_SYNCED


def when(ms: int | None) -> str | None:
    if ms is None:
        return None
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ms // 1000))


def _r(x: float | None, digits: int = 4) -> float | None:
    return None if x is None else round(x, digits)


def site_data(s: SiteStatus) -> dict[str, Any]:
    b = s.battery
    return {
        "site": s.site, "device": s.device, "state": s.state, "reasons": list(s.reasons), "since": when(s.since_ms),
        "desired": {"spec": s.desired.spec, "revision": s.desired.revision,
                    "model_version": f"{s.desired.model_version:08x}", "security_version": s.desired.security_version,
                    "status_interval_s": s.desired.status_interval_s},
        "reported": {"last_seen": when(s.last_seen_ms),
                     "model_version": None if s.model_version is None else f"{s.model_version:08x}",
                     "slot": s.slot, "on_trial": s.on_trial, "security_version": s.security_version,
                     "rollbacks": s.rollbacks, "fallback_invocations": s.fallback_invocations,
                     "canaries": list(s.canaries), "anomalies_per_day": _r(s.anomalies_per_day)},
        "battery": {"verdict": b.verdict, "readings": b.points,
                    "predicted_uA": _r(b.predicted_current_a * 1e6),
                    "measured_uA": None if b.measured_current_a is None else _r(b.measured_current_a * 1e6),
                    "ratio": _r(b.ratio), "uncertainty": b.uncertainty,
                    "predicted_life_years": _r(b.predicted_life_years, 3),
                    "projected_life_years": _r(b.projected_life_years, 3),
                    "charge_used_Ah": _r(b.charge_used_ah, 6), "voltage_mV": b.voltage_mv},
    }


def fleet_data(fleet: FleetStatus) -> dict[str, Any]:
    return {"now": when(fleet.now_ms), "counts": fleet.counts(), "exit_code": exit_code(fleet),
            "sites": [site_data(s) for s in fleet.sites], "unknown_devices": list(fleet.unknown_devices)}


def to_json(fleet: FleetStatus) -> str:
    return json.dumps(fleet_data(fleet), indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def to_text(fleet: FleetStatus) -> str:
    rows = [("site", "state", "model", "last seen", "battery", "reason")]
    for s in fleet.sites:
        b = s.battery
        battery = (f"{b.measured_current_a * 1e6:.1f}/{b.predicted_current_a * 1e6:.1f} uA"
                   if b.measured_current_a is not None else b.verdict)
        model = "-" if s.model_version is None else f"{s.model_version:08x}"
        rows.append((s.site, s.state, model, when(s.last_seen_ms) or "never", battery,
                     "; ".join(s.reasons) or "-"))
    widths = [max(len(r[i]) for r in rows) for i in range(5)]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(r[:5], widths)) + "  " + r[5] for r in rows]
    counts = fleet.counts()
    lines.append(f"{len(fleet.sites)} sites at {when(fleet.now_ms)}: " +
                 ", ".join(f"{counts[state]} {state}" for state in STATES))
    if fleet.unknown_devices:
        lines.append(f"{len(fleet.unknown_devices)} devices sent uplinks but match no site: "
                     + ", ".join(fleet.unknown_devices[:10]) + (" ..." if len(fleet.unknown_devices) > 10 else ""))
    return "\n".join(lines) + "\n"


def _escape(text: str) -> str:
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def to_github(fleet: FleetStatus) -> str:
    """Workflow commands: an error per Degraded or Silent site, a warning per OutOfSync site,
    annotated on the site's spec."""
    out = []
    for s in fleet.sites:
        if s.state == "Synced":
            continue
        level = "warning" if s.state == OUT_OF_SYNC else "error"
        spec = s.desired.spec.replace(",", "%2C").replace(":", "%3A")
        out.append(f"::{level} file={spec},title={s.state}: {s.site}::{_escape('; '.join(s.reasons))}")
    counts = fleet.counts()
    out.append(f"{len(fleet.sites)} sites: " + ", ".join(f"{counts[state]} {state}" for state in STATES))
    return "\n".join(out) + "\n"
