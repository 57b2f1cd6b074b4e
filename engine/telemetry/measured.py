"""Measured figures back into the model: a site's average current as its gauge reports it
(from `nmspec fleet status -o json`) stands in for the power model's sum of consumers, with
where it came from, and the battery life follows from it."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import attrs

from engine.resolve.power import HOURS_PER_YEAR, PowerReport


class MeasuredError(ValueError):
    """The status file has no usable measurement for the site."""


@attrs.frozen
class MeasuredLoad:
    current_a: float
    readings: int
    site: str
    source: str  # the status file
    at: str  # the time the status was taken
    revision: str  # the desired state the site was compared with

    def provenance(self) -> dict[str, object]:
        return {"source": self.source, "site": self.site, "readings": self.readings, "at": self.at,
                "revision": self.revision, "figure": "average load current from the cell's gauge"}


def measured_load(status: Mapping[str, Any], site: str, source: str) -> MeasuredLoad:
    for entry in status.get("sites") or []:
        if entry.get("site") != site:
            continue
        battery = entry.get("battery") or {}
        if battery.get("measured_uA") is None:
            raise MeasuredError(f"{source}: site {site} has no measured current ({battery.get('verdict', 'no battery data')})")
        return MeasuredLoad(float(battery["measured_uA"]) * 1e-6, int(battery.get("readings", 0)), site, source,
                            str(status.get("now")), str((entry.get("desired") or {}).get("revision", "")))
    raise MeasuredError(f"{source}: no site {site}")


def life_with(power: PowerReport, measured: MeasuredLoad) -> float:
    """Battery life in years with the measured load in place of the modelled consumers: the
    model's usable charge and self-discharge (both derated for the site's temperature), capped
    at the cell's service life like the model's own life."""
    draw = measured.current_a + power.self_discharge_a
    years = power.capacity_ah / draw / HOURS_PER_YEAR if draw > 0 else float("inf")
    return years if power.life_cap_years is None else min(years, power.life_cap_years)
