"""Ingest from the network servers' MQTT integrations through a real Mosquitto broker and from
their JSON exports: every message counted once as stored, duplicate, out of order, malformed
or ignored, never a crash; the fleet's status then names the rolled-back, the silent and the
out-of-sync site with the right reason."""

from __future__ import annotations

import base64
import json

import pytest

from engine import frames as F
from engine.telemetry.ingest import (
    TOPICS,
    MqttIngest,
    ingest_exports,
    parse_message,
    parse_record,
    parse_time,
)
from engine.telemetry.simulate import SimSite, fleet_messages, rfc3339
from engine.telemetry.status import Desired, fleet_status
from engine.telemetry.store import Store
from engine.telemetry.uplinks import IngestCounts, Rejected
from tests.mqtt_support import mosquitto, publish

START = 1_798_761_600_000  # 2027-01-01T00:00:00Z
DAYS = 10
NOW = START + DAYS * 86_400_000
STATUS = F.STATUS.pack(**{f.name: 0 for f in F.STATUS.fields})


def test_rfc3339_as_the_servers_write_it():
    assert parse_time("2027-01-01T00:00:00Z") == START
    assert parse_time("2027-01-01T00:00:01.950124637Z") == START + 1950
    assert parse_time("2027-01-01T02:00:00.5+02:00") == START + 500
    assert rfc3339(START + 1950) == "2027-01-01T00:00:01.950Z"
    with pytest.raises(ValueError, match=r"^not an RFC 3339 time: 'yesterday'$"):
        parse_time("yesterday")


def test_messages_by_hand():
    cs = {"time": "2027-01-01T00:00:00Z", "fCnt": 5, "fPort": 10, "data": base64.b64encode(STATUS).decode(),
          "deviceInfo": {"devEui": "70B3D57ED0000001", "deviceName": "plant-1-pump-2"}}
    up = parse_message("application/7/device/70b3d57ed0000001/event/up", json.dumps(cs).encode())
    assert (up.device, up.device_name, up.received_ms, up.f_cnt, up.f_port, up.payload, up.source) == (
        "70b3d57ed0000001", "plant-1-pump-2", START, 5, 10, STATUS, "chirpstack")
    assert up.fields == F.decode(STATUS)
    tts = {"end_device_ids": {"device_id": "plant-1-pump-2", "dev_eui": "70B3D57ED0000001"},
           "received_at": "2027-01-01T00:00:00.000000001Z", "uplink_message": {"frm_payload": base64.b64encode(STATUS).decode()}}
    up = parse_message("v3/nmspec@plant/devices/plant-1-pump-2/up", json.dumps(tts).encode())
    assert (up.device, up.f_cnt, up.f_port, up.source, up.received_ms) == ("70b3d57ed0000001", 0, None, "tts", START)
    assert parse_message("application/7/device/70b3d57ed0000001/event/join", b"{}") is None
    assert parse_message("v3/nmspec/devices/x/down/queued", b"{}") is None
    assert parse_message("elsewhere/entirely", b"{") is None
    bad = parse_message("application/7/device/x/event/up", json.dumps(dict(cs, data="***")).encode())
    assert bad == Rejected("chirpstack", "application/7/device/x/event/up", "data is not base64", "70b3d57ed0000001")
    short = parse_message("application/7/device/x/event/up", json.dumps(dict(cs, data="AQI=")).encode())
    assert short.reason == "payload: status frame of layout 2 is 39 bytes, got 2"
    assert parse_message("v3/a/devices/b/up", b'{"uplink_message": ').reason.startswith("not JSON: ")
    assert parse_message("v3/a/devices/b/up", b"[1]").reason == "not a JSON object"
    no_payload = parse_message("v3/a/devices/b/up", json.dumps({"end_device_ids": {"device_id": "b"},
                                                                "received_at": "2027-01-01T00:00:00Z",
                                                                "uplink_message": {}}).encode())
    assert no_payload.reason == "uplink_message.frm_payload is missing"
    assert parse_record({"result": tts}, "e:1").source == "tts"
    assert parse_record({"hello": 1}, "e:2").reason == "neither a ChirpStack event nor a The Things Stack uplink"


def sim_sites(prefix: str, scenarios: list[str]) -> list[SimSite]:
    return [SimSite(f"{prefix}-{i:02d}", f"{prefix == 'cs' and 'a' or 'b'}0000000000000{i:02x}", 0xA1B2C3D4, 0x01020304, 2,
                    20e-6, s) for i, s in enumerate(scenarios)]


def desired_of(site: SimSite) -> Desired:
    return Desired(site=f"plant/{site.device_name}", spec="s.yaml", revision="abc", device=site.device_name,
                   model_version=site.model_version, security_version=site.security_version, status_interval_s=86400,
                   load_current_a=site.load_current_a, self_discharge_a=1e-6, usable_ah=2.0, predicted_life_years=10.0)


def reference_counts(messages) -> IngestCounts:
    """The counts worked out with plain json and base64, apart from the ingest's code."""
    seen, top = set(), {}
    stored = dup = late = bad = 0
    for _topic, body in messages:
        try:
            doc = json.loads(body)
        except ValueError:
            bad += 1
            continue
        if "deviceInfo" in doc:
            key = (doc["deviceInfo"]["devEui"].lower(), doc["fCnt"], doc["data"])
        else:
            key = (doc["end_device_ids"]["dev_eui"].lower(), doc["uplink_message"].get("f_cnt", 0),
                   doc["uplink_message"]["frm_payload"])
        if key in seen:
            dup += 1
            continue
        seen.add(key)
        stored += 1
        late += key[1] < top.get(key[0], -1)
        top[key[0]] = max(top.get(key[0], -1), key[1])
    return IngestCounts(received=len(messages), stored=stored, duplicates=dup, out_of_order=late, malformed=bad)


def test_simulated_fleet_through_mosquitto(tmp_path):
    cs = sim_sites("cs", ["ok", "rollback", "ok", "hungry"])
    tts = sim_sites("tts", ["silent", "behind", "ok"])
    messages = list(fleet_messages(cs, START, DAYS, "chirpstack", seed=1, duplicates=0.05, late=0.05, malformed=0.03))
    messages += list(fleet_messages(tts, START, DAYS, "tts", seed=2, duplicates=0.05, late=0.05, malformed=0.03))
    expected = reference_counts(messages)
    assert expected.duplicates and expected.out_of_order and expected.malformed
    with mosquitto(tmp_path / "broker") as port, Store.open(tmp_path / "state.db") as store:
        topics = [TOPICS["chirpstack"], TOPICS["tts"]]
        # the persistent session exists before the network server publishes
        assert MqttIngest(store, "127.0.0.1", port, topics=topics).run(max_messages=0) == IngestCounts()
        assert publish(port, messages + [("application/7/device/x/event/join", b"{}")]) == len(messages) + 1
        counts = MqttIngest(store, "127.0.0.1", port, topics=topics).run(idle_exit_s=1.0)
        assert counts == attrs_evolve(expected, received=expected.received + 1, ignored=1)
        assert store.totals() == counts
        assert len(store.rejected()) == expected.malformed
        fleet = fleet_status([desired_of(s) for s in cs + tts], store.uplinks(), NOW)
    states = {s.site: (s.state, s.reasons[0] if s.reasons else "") for s in fleet.sites}
    assert states["plant/cs-00"] == ("Synced", "")
    assert states["plant/cs-01"][0] == "Degraded" and states["plant/cs-01"][1].startswith(
        "rolled back (rollbacks 1, canary 0x18): slot 0 runs model 01020304")
    assert states["plant/cs-03"][0] == "Degraded" and states["plant/cs-03"][1].startswith(
        "battery below its predicted trajectory: draws 32.")
    assert states["plant/tts-00"][0] == "Silent" and states["plant/tts-00"][1].startswith("no uplink for 3.")
    assert states["plant/tts-01"][0] == "OutOfSync" and states["plant/tts-01"][1].startswith(
        "runs model 01020304, abc has a1b2c3d4 (since ")
    assert fleet.counts() == {"Synced": 3, "OutOfSync": 1, "Degraded": 2, "Silent": 1}


def attrs_evolve(counts: IngestCounts, **changes) -> IngestCounts:
    import attrs

    return attrs.evolve(counts, **changes)


def test_exports_jsonl_and_array(tmp_path):
    sites = sim_sites("cs", ["ok", "behind"])
    messages = list(fleet_messages(sites, START, 3, "chirpstack", seed=3, duplicates=0.2))
    lines = tmp_path / "chirpstack.jsonl"
    lines.write_text("\n".join(body.decode() for _, body in messages) + "\nnot json\n\n")
    tts_site = sim_sites("tts", ["ok"])
    tts = list(fleet_messages(tts_site, START, 3, "tts", seed=4))
    array = tmp_path / "tts.json"
    array.write_text(json.dumps([{"result": json.loads(body)} for _, body in tts] + [{"topic": tts[0][0], "payload": json.loads(tts[0][1])}]))
    with Store.open(tmp_path / "state.db") as store:
        counts = ingest_exports(store, [lines, array])
        ref = reference_counts(messages)
        assert counts == IngestCounts(received=ref.received + 1 + len(tts) + 1, stored=ref.stored + len(tts),
                                      duplicates=ref.duplicates + 1, out_of_order=0, malformed=1)
        assert store.rejected()[0].reason.startswith("not JSON: ")
        assert store.rejected()[0].where == f"{lines}:{len(messages) + 1}"
        again = ingest_exports(store, [lines])
        assert (again.stored, again.duplicates) == (0, ref.received)
