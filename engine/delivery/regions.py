"""Downlink data rates of the regions a multicast session runs in (LoRaWAN Regional
Parameters RP002-1.0.3): spreading factor, bandwidth and the largest application payload N
(no FOpts) per data rate, and the region's duty-cycle limit on the gateway's transmissions."""

from __future__ import annotations

import attrs


@attrs.frozen
class DataRate:
    name: str  # DR0 ...
    spreading_factor: int
    bandwidth_hz: float
    max_payload: int  # N: application payload bytes


@attrs.frozen
class Region:
    name: str
    duty_cycle: float | None  # share of time a transmitter may be on air; None: no limit
    duty_cycle_note: str
    data_rates: tuple[DataRate, ...]

    def data_rate(self, name: str) -> DataRate:
        for rate in self.data_rates:
            if rate.name == name:
                return rate
        raise KeyError(name)

    def for_spreading_factor(self, sf: int) -> DataRate:
        """The 125/500 kHz downlink rate of a spreading factor (the site's radio setting)."""
        for rate in self.data_rates:
            if rate.spreading_factor == sf:
                return rate
        raise KeyError(f"SF{sf}")


REGIONS = {
    "EU868": Region("EU868", 0.01, "ETSI EN 300 220 sub-band g1 (868.0-868.6 MHz): 1 % duty cycle", (
        DataRate("DR0", 12, 125e3, 51), DataRate("DR1", 11, 125e3, 51), DataRate("DR2", 10, 125e3, 51),
        DataRate("DR3", 9, 125e3, 115), DataRate("DR4", 8, 125e3, 222), DataRate("DR5", 7, 125e3, 222))),
    "US915": Region("US915", None, "FCC Part 15.247 digital modulation on the 500 kHz downlink channels: no duty-cycle limit", (
        DataRate("DR8", 12, 500e3, 33), DataRate("DR9", 11, 500e3, 109), DataRate("DR10", 10, 500e3, 222),
        DataRate("DR11", 9, 500e3, 222), DataRate("DR12", 8, 500e3, 222), DataRate("DR13", 7, 500e3, 222))),
}
