"""Fleet status from hand-made uplinks, every state and reason worked out by hand; the store
keeps them, counts repeats and late frames, and migrates its schema."""

from __future__ import annotations

import sqlite3

import pytest

from engine import frames as F
from engine.resolve.power import HOURS_PER_YEAR
from engine.telemetry.status import Desired, fleet_status
from engine.telemetry.store import SCHEMA_VERSION, Store, StoreError
from engine.telemetry.uplinks import IngestCounts, Rejected, Uplink

DAY = 86_400_000
NOW = 1_800_000_000_000  # ms
NEW, OLD = 0xA1B2C3D4, 0x01020304


def desired(site: str, device: str) -> Desired:
    # 30 uA load, 1 uA self-discharge, 2.0 Ah usable: 2.0 / 31e-6 h = 7.365 y
    return Desired(site=site, spec=f"sites/{site}.yaml", revision="abc1234", device=device, model_version=NEW,
                   security_version=2, status_interval_s=86400, load_current_a=30e-6, self_discharge_a=1e-6,
                   usable_ah=2.0, predicted_life_years=2.0 / 31e-6 / HOURS_PER_YEAR)


def status(device, t_ms, *, model=NEW, uah=0, canary=0x10, rollbacks=0, security=2, f_cnt=None, mv=3600):
    values = {f.name: 0 for f in F.STATUS.fields}
    values.update(model_version=model, canary=canary, rollbacks=rollbacks, security_version=security,
                  charge_used_uah=uah, battery_mv=mv, slot_state=0x10 | (1 if model == NEW else 0), margin_min=9,
                  margin_mean=20, fallback_invocations=3)
    payload = F.STATUS.pack(**values)
    return Uplink(device, device, t_ms, f_cnt if f_cnt is not None else t_ms // DAY, 10, payload, "chirpstack",
                  F.decode(payload))


def anomaly(device, t_ms, *, model=NEW, f_cnt=0):
    payload = F.ANOMALY.pack(model_version=model, event_s=100, class_index=1, sequence=0)
    return Uplink(device, device, t_ms, f_cnt, 10, payload, "tts", F.decode(payload))


def days(device, n, per_day_uah, **kw):
    """n daily status uplinks ending one hour before NOW"""
    return [status(device, NOW - 3_600_000 - (n - 1 - i) * DAY, uah=i * per_day_uah, **kw) for i in range(n)]


def test_each_state_with_its_reason():
    sites = [desired("p/synced", "0000000000000001"), desired("p/rolled", "0000000000000002"),
             desired("p/silent", "0000000000000003"), desired("p/behind", "0000000000000004"),
             desired("p/hungry", "0000000000000005"), desired("p/never", "0000000000000006")]
    ups = days("0000000000000001", 10, 720) + [anomaly("0000000000000001", NOW - DAY // 2, f_cnt=99)]
    ups += days("0000000000000002", 4, 720, model=OLD, canary=0x08 | 0x10, rollbacks=1)
    ups += [status("0000000000000003", NOW - 3 * DAY, uah=5)]
    ups += [status("0000000000000004", NOW - 5 * DAY, model=NEW),
            status("0000000000000004", NOW - 3 * DAY // 2, model=OLD, uah=2520),
            status("0000000000000004", NOW - DAY // 2, model=OLD, uah=3240)]
    ups += days("0000000000000005", 10, 1200)  # 50 uA against 30
    ups += [status("ffffffffffffffff", NOW - DAY)]
    fleet = fleet_status(sites, reversed(ups), NOW)
    assert fleet.counts() == {"Synced": 1, "OutOfSync": 1, "Degraded": 2, "Silent": 2}
    assert fleet.unknown_devices == ("ffffffffffffffff",)

    ok = fleet.site("p/synced")
    assert (ok.state, ok.reasons, ok.slot, ok.security_version, ok.fallback_invocations) == ("Synced", (), 1, 2, 3)
    # 720 uAh a day is 30 uA: as predicted; life at 31 uA of draw
    assert ok.battery.verdict == "as predicted" and ok.battery.measured_current_a == pytest.approx(30e-6)
    assert ok.battery.projected_life_years == pytest.approx(2.0 / 31e-6 / 8766)
    assert ok.battery.points == 10 and ok.battery.charge_used_ah == pytest.approx(6480e-6)
    assert ok.anomalies_per_day == pytest.approx(1 / 7) and ok.anomaly_series == (((NOW - DAY // 2) // DAY * DAY, 1),)

    rolled = fleet.site("p/rolled")
    assert rolled.state == "Degraded"
    assert rolled.reasons == ("rolled back (rollbacks 1, canary 0x18): slot 0 runs model 01020304",
                              "runs model 01020304, abc1234 has a1b2c3d4 (since 3.0 days ago)")
    assert rolled.since_ms == NOW - 3_600_000 - 3 * DAY

    silent = fleet.site("p/silent")
    assert (silent.state, silent.reasons, silent.since_ms) == (
        "Silent", ("no uplink for 3.0 days (a status is due every 1.0 days)",), NOW - 3 * DAY)
    assert fleet.site("p/never").reasons == ("no uplink received",)

    behind = fleet.site("p/behind")
    assert behind.state == "OutOfSync" and behind.since_ms == NOW - 3 * DAY // 2
    assert behind.reasons == ("runs model 01020304, abc1234 has a1b2c3d4 (since 1.5 days ago)",)

    hungry = fleet.site("p/hungry")
    assert hungry.state == "Degraded" and hungry.battery.ratio == pytest.approx(50 / 30)
    assert hungry.reasons == (("battery below its predicted trajectory: draws 50.00 uA, the power model 30.00 uA "
                              "(+67%, beyond its ±25%); projected life 4.5 y of 7.4 y predicted"),)


def test_security_version_below_desired_is_out_of_sync_and_trial_is_a_note():
    site = desired("p/a", "0000000000000001")
    ups = days("0000000000000001", 3, 720, security=1, canary=0x14)
    got = fleet_status([site], ups, NOW).site("p/a")
    assert got.state == "OutOfSync" and got.on_trial
    assert got.reasons == ("security version 1 below 2 (since 2.0 days ago)", "on trial (sanity window)")


def test_a_temperature_fault_of_an_analog_node_is_degraded():
    site = desired("p/a", "0000000000000001")
    got = fleet_status([site], days("0000000000000001", 3, 720, canary=0x40 | 0x10), NOW).site("p/a")
    assert got.state == "Degraded"
    assert got.reasons == ("canary failing: temperature_fault",)
    assert "temperature_fault" in got.canaries


def test_gauge_absent_or_too_short():
    site = desired("p/a", "0000000000000001")
    got = fleet_status([site], [status("0000000000000001", NOW - DAY, uah=F.NO_GAUGE)], NOW).site("p/a")
    assert got.battery.verdict == "no gauge" and got.battery.charge_used_ah is None and got.state == "Synced"
    got = fleet_status([site], days("0000000000000001", 2, 720), NOW).site("p/a")
    assert got.battery.verdict == "too few readings"


@pytest.fixture(scope="module")
def pg_server():
    from tests.pg_support import postgres

    with postgres() as url:
        yield url


@pytest.fixture(params=["sqlite", "postgresql"])
def store_at(request, tmp_path):
    if request.param == "sqlite":
        return tmp_path / "state.db"
    from tests.pg_support import fresh_database

    return fresh_database(request.getfixturevalue("pg_server"), f"t_{tmp_path.name.lower()}")


def test_store_counts_repeats_late_frames_and_rejects(store_at):
    path = store_at
    ups = days("0000000000000001", 5, 720)
    with Store.open(path) as store:
        assert store.schema_version == SCHEMA_VERSION
        first = store.add(ups[2:], [Rejected("chirpstack", "application/1/device/x/event/up", "bad base64")])
        assert first == IngestCounts(received=4, stored=3, duplicates=0, out_of_order=0, malformed=1, ignored=0)
        second = store.add([ups[0], ups[3], ups[1], ups[1]], ignored=2)
        assert second == IngestCounts(received=6, stored=2, duplicates=2, out_of_order=2, malformed=0, ignored=2)
    with Store.open(path) as store:  # reopened: same rows, totals kept, nothing migrated twice
        assert [u.uid for u in store.uplinks()] == [u.uid for u in ups]
        assert [u.fields for u in store.uplinks()] == [u.fields for u in ups]
        assert store.totals() == first + second
        assert store.rejected() == [Rejected("chirpstack", "application/1/device/x/event/up", "bad base64")]
        row = store._execute("SELECT f_charge_used_uah, f_margin_mean FROM uplinks ORDER BY received_ms").fetchone()
        assert tuple(row) == (0, 20)
        assert store.schema_version == SCHEMA_VERSION


def test_store_refuses_what_it_cannot_read(tmp_path):
    newer = tmp_path / "newer.db"
    with Store.open(newer):
        pass
    db = sqlite3.connect(newer)
    db.execute("UPDATE nm_schema SET version = ?", (SCHEMA_VERSION + 1,))
    db.commit()
    db.close()
    with pytest.raises(StoreError, match=rf"^{newer} has schema version {SCHEMA_VERSION + 1}; this nmspec reads up "
                                         rf"to {SCHEMA_VERSION} \(a newer nmspec wrote it\)$"):
        Store.open(newer)
    junk = tmp_path / "junk.db"
    junk.write_bytes(b"this is not a database at all" * 100)
    with pytest.raises(StoreError, match=rf"^cannot open {junk}: file is not a database$"):
        Store.open(junk)
