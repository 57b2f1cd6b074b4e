"""A simulated fleet's traffic as the network servers publish it, for tests, demos and the
benchmark: per site a daily status uplink and random anomaly events, each wrapped in the JSON
of ChirpStack v4 or The Things Stack v3 with the MQTT topic it would appear on.

Scenarios bend one site away from its desired state the way the field does: `rollback` (the
node rolled back its update: canary 0x08, one rollback, the previous model runs), `behind`
(the previous model still runs), `silent` (the last uplinks never arrive), `hungry` (the
cell drains 1.6 times as fast as predicted). Deterministic for a seed.
"""

from __future__ import annotations

import base64
import json
import random
import time
from collections.abc import Iterator

import attrs

from engine import frames

DAY_S = 86_400


@attrs.frozen
class SimSite:
    device_name: str
    dev_eui: str  # 16 hex digits
    model_version: int
    previous_version: int
    security_version: int
    load_current_a: float
    scenario: str = "ok"  # ok | rollback | behind | silent | hungry


def rfc3339(ms: int) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ms // 1000)) + f".{ms % 1000:03d}Z"


def chirpstack_message(site: SimSite, ms: int, f_cnt: int, payload: bytes, application: str = "7") -> tuple[str, bytes]:
    body = {"deduplicationId": f"{site.dev_eui}-{f_cnt}", "time": rfc3339(ms),
            "deviceInfo": {"tenantId": "t1", "tenantName": "plant", "applicationId": application,
                           "applicationName": "nmspec", "deviceProfileName": "nmspec-node",
                           "deviceName": site.device_name, "devEui": site.dev_eui, "tags": {}},
            "devAddr": site.dev_eui[-8:], "adr": True, "dr": 5, "fCnt": f_cnt, "fPort": 10, "confirmed": False,
            "data": base64.b64encode(payload).decode(), "rxInfo": [], "txInfo": {"frequency": 868100000}}
    return f"application/{application}/device/{site.dev_eui}/event/up", json.dumps(body).encode()


def tts_message(site: SimSite, ms: int, f_cnt: int, payload: bytes, application: str = "nmspec") -> tuple[str, bytes]:
    up = {"f_port": 10, "frm_payload": base64.b64encode(payload).decode(), "received_at": rfc3339(ms),
          "rx_metadata": [], "settings": {"data_rate": {"lora": {"bandwidth": 125000, "spreading_factor": 7}}}}
    if f_cnt:  # protobuf JSON leaves zero values out
        up["f_cnt"] = f_cnt
    body = {"end_device_ids": {"device_id": site.device_name, "application_ids": {"application_id": application},
                               "dev_eui": site.dev_eui.upper()},
            "received_at": rfc3339(ms), "uplink_message": up}
    return f"v3/{application}@plant/devices/{site.device_name}/up", json.dumps(body).encode()


def site_frames(site: SimSite, start_ms: int, days: int, rng: random.Random,
                anomalies_per_day: float = 0.5) -> list[tuple[int, bytes]]:
    """(receive time ms, payload) of one site over `days`, in time order."""
    out: list[tuple[int, bytes]] = []
    drain = site.load_current_a * (1.6 if site.scenario == "hungry" else 1.0) * 1e6  # uAh per hour
    offset_s = rng.randrange(DAY_S)  # nodes are not synchronised
    anomalies = 0
    last_day = days - 3 if site.scenario == "silent" else days
    for day in range(last_day):
        rolled = site.scenario == "rollback" and day >= days - 4
        running = site.previous_version if site.scenario == "behind" or rolled else site.model_version
        for _ in range(sum(rng.random() < anomalies_per_day / 4 for _ in range(4))):
            at = day * DAY_S + rng.randrange(DAY_S)
            out.append((start_ms + at * 1000, frames.ANOMALY.pack(
                model_version=running, event_s=at, class_index=rng.randrange(1, 4), sequence=anomalies % 256)))
            anomalies += 1
        uptime = day * DAY_S + offset_s
        charge = round(drain * uptime / 3600 * rng.uniform(0.98, 1.02))
        out.append((start_ms + uptime * 1000, frames.STATUS.pack(
            model_version=running, uptime_s=uptime, wakeups=uptime // 60, anomalies_sent=anomalies, suppressed=0,
            fallback_invocations=0, canary=0x18 if rolled else 0x10, temperature_cdeg=rng.randrange(1500, 3500),
            slot_state=0x10 | (0 if running == site.previous_version else 1), battery_mv=3600 - day // 30,
            charge_used_uah=charge, rollbacks=1 if rolled else 0, security_version=site.security_version,
            worst_latency_s=60 if anomalies else 0, margin_min=rng.randrange(3, 20), margin_mean=rng.randrange(20, 40))))
    out.sort()
    return out


def fleet_messages(sites: list[SimSite], start_ms: int, days: int, server: str, seed: int = 0, *,
                   duplicates: float = 0.0, late: float = 0.0, malformed: float = 0.0) -> Iterator[tuple[str, bytes]]:
    """Every site's uplinks as MQTT (topic, body), site after site, with the given shares of
    repeated messages, messages held back behind the next one, and malformed ones."""
    rng = random.Random(seed)
    wrap = chirpstack_message if server == "chirpstack" else tts_message
    for site in sites:
        held = None
        for f_cnt, (ms, payload) in enumerate(site_frames(site, start_ms, days, rng)):
            message = wrap(site, ms, f_cnt, payload)
            if rng.random() < malformed:
                topic, body = message
                yield topic, body[: len(body) // 2]  # cut off mid-JSON
            if held is None and rng.random() < late:
                held = message
                continue
            yield message
            if rng.random() < duplicates:
                yield message
            if held is not None:
                yield held
                held = None
        if held is not None:
            yield held
