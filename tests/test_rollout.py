"""Cohorts, waves and gates: `nmspec rollout plan|status` on a repository of site specs and a
rollout file, and the pure gate evaluation on a simulated fleet of 200 sites."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
from spec_cases import run_cli

from engine.rollout.gates import SiteObservation, evaluate
from engine.rollout.model import Gates, Rollout, Wave
from engine.rollout.select import SiteInfo, plan_rollout

HOUR = 3600.0
SITES = [f"plant-{i // 10:02d}/compressor-{i % 10}" for i in range(200)]
CANARIES = SITES[:5]

ROLLOUT = """# yaml-language-server: $schema=../schemas/rollout.schema.json
apiVersion: nmspec/v1
kind: Rollout
metadata:
  name: fleet-update
sites: sites
waves:
  - name: canary
    labels: {ring: canary}
    soak: 24h
  - name: half
    percent: 50
    soak: 48h
  - name: rest
    percent: 100
    soak: 0s
gates:
  max_rollbacks: 0
  max_anomaly_rate: 0.05
  max_fallback_windows: 10
  battery_margin: 0.1
  max_silence: 48h
"""


def reference_draw(name: str, site: str) -> float:
    """Independent of engine.rollout.select: SHA-256 of name NUL site, first 8 bytes, big-endian."""
    return int(hashlib.sha256(name.encode() + b"\x00" + site.encode()).hexdigest()[:16], 16) / 16**16 * 100


@pytest.fixture(scope="module")
def fleet(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("fleet")
    (root / "nmspec.toml").write_text("")
    for site in SITES:
        path = root / "sites" / f"{site}.yaml"
        path.parent.mkdir(parents=True, exist_ok=True)
        labels = "\n  labels: {ring: canary}" if site in CANARIES else ""
        path.write_text(f"apiVersion: nmspec/v1\nkind: SiteDeployment\nmetadata:\n  site: {site}{labels}\n")
    (root / "rollout.yaml").write_text(ROLLOUT.replace("../schemas", "schemas"))
    return root


def expected_waves():
    canary = list(CANARIES)
    half = [s for s in sorted(SITES) if s not in canary and reference_draw("fleet-update", s) < 50]
    rest = [s for s in sorted(SITES) if s not in canary and s not in half]
    return canary, half, rest


def test_plan_prints_the_waves(fleet):
    code, out, err = run_cli(["rollout", "plan", "rollout.yaml", "--output", "json"], fleet)
    assert code == 0, err
    plan = json.loads(out)
    canary, half, rest = expected_waves()
    assert [w["sites"] for w in plan["waves"]] == [canary, half, rest]
    assert [w["soak_s"] for w in plan["waves"]] == [86400.0, 172800.0, 0.0]
    assert plan["unassigned"] == []
    assert 80 < len(half) < 115  # half of the 195 left, give or take the hash's spread
    code, text, _ = run_cli(["rollout", "plan", "rollout.yaml"], fleet)
    assert text.splitlines()[:2] == ["rollout fleet-update: 200 sites in 3 waves", "wave 1 canary: 5 sites, soak 24 h"]


def test_percentage_draw_is_stable_as_sites_come_and_go():
    rollout = Rollout("fleet-update", (Wave("half", 0.0, percent=50),), Gates(), None)
    everyone = plan_rollout(rollout, [SiteInfo(s) for s in SITES]).waves[0].sites
    fewer = plan_rollout(rollout, [SiteInfo(s) for s in SITES[::2]]).waves[0].sites
    assert set(fewer) == set(everyone) & set(SITES[::2])


def observations(now, **changes):
    """Wave 1 updated 30 h ago and healthy; the others not started."""
    out = {}
    for site in CANARIES:
        record = {"site": site, "update_started": now - 30 * HOUR, "rollbacks": 0, "windows": 1800, "anomalies": 9,
                  "fallback_windows": 1, "battery_used_mAh": 100.0, "battery_predicted_mAh": 98.0,
                  "last_seen": now - HOUR}
        record.update(changes.get(site, {}))
        out[site] = record
    return {"observed_at": now, "sites": list(out.values())}


NOW = 1_800_000_000.0


def status(fleet, tmp_path, document):
    (tmp_path / "obs.json").write_text(json.dumps(document))
    code, out, err = run_cli(["rollout", "status", "rollout.yaml", "--observations", str(tmp_path / "obs.json")],
                             fleet)
    _, js, _ = run_cli(["rollout", "status", "rollout.yaml", "--observations", str(tmp_path / "obs.json"),
                        "--output", "json"], fleet)
    return code, out, err, json.loads(js) if js else None


def test_a_canary_that_fails_its_sanity_window_halts_the_rollout_after_wave_1(fleet, tmp_path):
    bad = CANARIES[3]
    code, out, err, js = status(fleet, tmp_path, observations(NOW, **{bad: {"rollbacks": 1}}))
    assert code == 5, err
    assert js["decision"] == "roll back"
    assert js["reason"] == f"wave canary: gate no_rollback fails: {bad}: 1 rollback reported"
    assert [w["decision"] for w in js["waves"]] == ["roll back", "not started", "not started"]
    gates = {g["gate"]: g for g in js["waves"][0]["gates"]}
    assert gates["no_rollback"]["failing"] == [{"site": bad, "seen": "1 rollback reported"}]
    assert all(g["passed"] for name, g in gates.items() if name != "no_rollback")
    assert out.splitlines()[-1] == f"roll back: wave canary: gate no_rollback fails: {bad}: 1 rollback reported"


def test_healthy_canaries_after_their_soak_start_wave_2(fleet, tmp_path):
    code, _out, err, js = status(fleet, tmp_path, observations(NOW))
    assert code == 0, err
    _, half, _ = expected_waves()
    assert [w["decision"] for w in js["waves"]] == ["done", "start", "not started"]
    assert js["reason"] == f"start wave half: send the update to its {len(half)} sites"


@pytest.mark.parametrize("change, gate, seen", [
    ({"update_started": NOW - 20 * HOUR}, "soak", "4.0 h of soak left"),
    ({"anomalies": 180}, "anomaly_rate", "anomaly rate 0.100 > 0.05 (180 of 1800 windows)"),
    ({"fallback_windows": 11}, "fallback_windows", "11 windows on the CPU fallback > 10"),
    ({"battery_used_mAh": 120.0}, "battery", "120 mAh used, 98 mAh predicted (+10% allowed)"),
    ({"last_seen": NOW - 50 * HOUR}, "last_seen", "silent for 50.0 h"),
])
def test_each_gate_holds_the_rollout(fleet, tmp_path, change, gate, seen):
    site = CANARIES[1]
    code, _, err, js = status(fleet, tmp_path, observations(NOW, **{site: change}))
    assert code == 4, err
    failing = [g for g in js["waves"][0]["gates"] if not g["passed"]]
    assert [g["gate"] for g in failing] == [gate]
    expected_site = "" if gate == "soak" else site
    assert failing[0]["failing"] == [{"site": expected_site, "seen": seen}]
    assert js["decision"] == "hold"


def test_a_site_not_yet_updated_holds(fleet, tmp_path):
    document = observations(NOW)
    document["sites"] = document["sites"][1:]
    code, _, _, js = status(fleet, tmp_path, document)
    assert code == 4
    assert js["reason"] == f"wave canary: gate updated fails: {CANARIES[0]}: has not reported the update"


def test_every_wave_done_proceeds():
    sites = [SiteInfo(s) for s in SITES]
    rollout = Rollout("r", (Wave("a", 3600.0, sites=tuple(SITES[:2])), Wave("b", 0.0, percent=100)), Gates(), None)
    plan = plan_rollout(rollout, sites)
    healthy = {s: SiteObservation(s, NOW - 2 * HOUR, windows=10, last_seen_s=NOW) for s in SITES}
    result = evaluate(plan, healthy, NOW)
    assert (result.decision, result.reason) == ("proceed", "every wave is done")
    assert [w.decision for w in result.waves] == ["done", "done"]


def test_rollout_file_mistakes_are_diagnosed_at_their_line(fleet, tmp_path):
    broken = ROLLOUT.replace("    percent: 50\n", "    percent: 50\n    sites: [x]\n").replace("../schemas", "schemas")
    (fleet / "broken.yaml").write_text(broken)
    try:
        code, _, err = run_cli(["rollout", "plan", "broken.yaml"], fleet)
    finally:
        (fleet / "broken.yaml").unlink()
    assert code == 1
    assert err.splitlines()[0] == ("broken.yaml:11:5: error[NM931]: waves[1]: a wave selects its sites by exactly one "
                                   "of sites, labels or percent")
    unknown = ROLLOUT.replace("labels: {ring: canary}", "sites: [plant-99/nowhere]").replace("../schemas", "schemas")
    (fleet / "unknown.yaml").write_text(unknown)
    try:
        code, _, err = run_cli(["rollout", "plan", "unknown.yaml"], fleet)
    finally:
        (fleet / "unknown.yaml").unlink()
    assert code == 1
    assert "error[NM932]: wave canary: no site is named plant-99/nowhere" in err


def test_observation_mistakes_are_diagnosed(fleet, tmp_path):
    document = observations(NOW, **{CANARIES[0]: {"rollbacks": "one"}})
    code, _, err, _ = status(fleet, tmp_path, document)
    assert code == 1
    assert "error[NM940]: sites[0].rollbacks: 'one' is not a number" in err
