"""The node's uplink policy: what it sends, in frames of what size, how often, and how it
retries. One function gives the same numbers to the firmware's configuration (codegen) and
to the power model's radio figures, so the budget is computed for what the node really sends.
"""

from __future__ import annotations

import math
from typing import Any

from engine import frames
from engine.spec.model import SiteSpec

LORA_OVERHEAD_BYTES = 13  # MHDR 1 + FHDR 7 (no FOpts) + FPort 1 + MIC 4 (LoRaWAN 1.0)
LORA_PREAMBLE = 8
LORA_BANDWIDTH = 125e3
LORA_DUTY_CYCLE = 0.01  # EU868 sub-bands g/g1 (ETSI EN 300 220): 1 % of the time on air
# the firmware's frames (engine/frames.py): an anomaly event and the daily status
ANOMALY_FRAME_BYTES, STATUS_FRAME_BYTES = frames.ANOMALY.size, frames.STATUS.size


def lora_airtime(payload_bytes: int, spreading_factor: int, bandwidth: float = LORA_BANDWIDTH,
                 coding_rate: int = 1, crc: bool = True, explicit_header: bool = True) -> float:
    """Time on air in seconds (Semtech SX1261/2 datasheet, LoRa modem time-on-air formula)."""
    low_rate = 1 if spreading_factor >= 11 and bandwidth <= 125e3 else 0
    t_sym = float(2 ** spreading_factor) / bandwidth
    numerator = 8 * payload_bytes - 4 * spreading_factor + 28 + 16 * int(crc) - 20 * (0 if explicit_header else 1)
    symbols = 8 + max(math.ceil(numerator / (4 * (spreading_factor - 2 * low_rate))) * (coding_rate + 4), 0)
    return (LORA_PREAMBLE + 4.25) * t_sym + symbols * t_sym


# what the node does when the spec leaves a time unset
DEFAULT_WINDOW_S = 1.0
DEFAULT_UPLINK_INTERVAL_S = 15.0
DEFAULT_MAX_LATENCY_S = 600.0
DEFAULT_STATUS_INTERVAL_S = 86400.0


def window_s(spec: SiteSpec) -> float:
    """The inference window (runtime.schedule.window)."""
    schedule = spec.runtime.schedule
    return schedule.window if schedule is not None else DEFAULT_WINDOW_S


def uplink_interval_s(spec: SiteSpec) -> float:
    """The wake-up interval the firmware and its uplinks run at (runtime.schedule.interval)."""
    schedule = spec.runtime.schedule
    return schedule.interval if schedule is not None else DEFAULT_UPLINK_INTERVAL_S


def alert_policy(spec: SiteSpec) -> dict[str, Any]:
    """The uplink policy of a spec, as numbers."""
    alerts = spec.alerts
    radio = spec.power.radio
    sf = radio.spreading_factor if radio is not None else 7
    interval_s = uplink_interval_s(spec)
    retries = alerts.retries
    max_latency = int(alerts.max_latency if alerts.max_latency is not None else DEFAULT_MAX_LATENCY_S)
    airtime = lora_airtime(max(ANOMALY_FRAME_BYTES, STATUS_FRAME_BYTES) + LORA_OVERHEAD_BYTES, sf)
    duty_gap = math.ceil(airtime * (1 / LORA_DUTY_CYCLE - 1))
    status_interval = int(alerts.status_interval if alerts.status_interval is not None else DEFAULT_STATUS_INTERVAL_S)
    if alerts.send == "anomalies":
        event_uplinks = float(alerts.expected_anomalies_per_day)
    else:  # every window's classification
        event_uplinks = 86400.0 / interval_s
    return {
        "confirmed": alerts.confirmed, "retries": retries, "max_latency_s": max_latency,
        "duty_gap_s": duty_gap,
        # the first try goes out at the next wake-up; the retries share what is left of max_latency
        "retry_gap_s": max(duty_gap, (max_latency - int(interval_s)) // max(retries, 1)),
        "status_interval_s": status_interval,
        "status_frame_bytes": STATUS_FRAME_BYTES, "anomaly_frame_bytes": ANOMALY_FRAME_BYTES,
        "status_airtime_s": round(lora_airtime(STATUS_FRAME_BYTES + LORA_OVERHEAD_BYTES, sf), 6),
        "anomaly_airtime_s": round(lora_airtime(ANOMALY_FRAME_BYTES + LORA_OVERHEAD_BYTES, sf), 6),
        "nominal_uplinks_per_day": round(86400 / status_interval, 6),
        "event_uplinks_per_day": round(event_uplinks, 6),
        "spreading_factor": sf,
    }
