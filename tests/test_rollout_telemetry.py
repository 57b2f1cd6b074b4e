"""Rollout observations read from telemetry uplinks (engine.rollout.from_telemetry): the
update starts at the first status uplink carrying the desired model version; rollbacks,
windows, fallbacks and anomalies count from there."""

from __future__ import annotations

from pathlib import Path

from spec_cases import run_cli

from engine.rollout.from_telemetry import observations
from engine.rollout.gates import evaluate
from engine.rollout.model import Gates, Rollout, Wave
from engine.rollout.select import SiteInfo, plan_rollout
from engine.telemetry.status import Desired
from engine.telemetry.uplinks import Uplink

NEW, OLD = 0x11223344, 0x55667788
H = 3_600_000


def desired(site: str) -> Desired:
    return Desired(site=site, spec="", revision="HEAD", device=site.replace("/", "-"), model_version=NEW,
                   security_version=0, status_interval_s=86400, load_current_a=1e-5, self_discharge_a=1e-6,
                   usable_ah=2.6, predicted_life_years=10.0)


def status(device: str, t_ms: int, version: int, wakeups: int, rollbacks: int = 0, fallbacks: int = 0,
           canary: int = 0) -> Uplink:
    fields = {"frame": "status", "model_version": version, "wakeups": wakeups, "rollbacks": rollbacks,
              "fallback_invocations": fallbacks, "canary": canary}
    return Uplink(device, device, t_ms, t_ms // H, 2, b"", "chirpstack", fields)


def anomaly(device: str, t_ms: int) -> Uplink:
    return Uplink(device, device, t_ms, t_ms // H + 100000, 1, b"", "chirpstack", {"frame": "anomaly"})


def test_observations_count_from_the_first_report_of_the_desired_image():
    good, bad, late = desired("plant-1/a"), desired("plant-1/b"), desired("plant-1/c")
    uplinks = [
        status(good.device, 0, OLD, 100), status(good.device, 10 * H, NEW, 160, fallbacks=2),
        anomaly(good.device, 5 * H), anomaly(good.device, 20 * H), status(good.device, 40 * H, NEW, 1960, fallbacks=3),
        status(bad.device, 10 * H, NEW, 50, rollbacks=0),
        status(bad.device, 30 * H, OLD, 1250, rollbacks=1, canary=0x08),
        status(late.device, 30 * H, OLD, 500),
    ]
    seen = observations([good, bad, late], uplinks, None)
    g = seen["plant-1/a"]
    assert (g.update_started_s, g.windows, g.anomalies, g.fallback_windows, g.rollbacks, g.last_seen_s) == (
        36000.0, 1800, 1, 1, 0, 144000.0)
    b = seen["plant-1/b"]
    assert (b.update_started_s, b.rollbacks) == (36000.0, 1)
    assert seen["plant-1/c"].update_started_s is None and seen["plant-1/c"].last_seen_s == 108000.0
    rollout = Rollout("r", (Wave("canary", 3600.0, sites=("plant-1/a", "plant-1/b")),
                            Wave("rest", 0.0, percent=100)), Gates(max_anomaly_rate=0.01, max_fallback_windows=5), None)
    plan = plan_rollout(rollout, [SiteInfo(s) for s in seen])
    verdict = evaluate(plan, seen, 40 * H / 1000)
    assert (verdict.decision, verdict.reason) == ("roll back",
                                                  "wave canary: gate no_rollback fails: plant-1/b: 1 rollback reported")


ROOT = Path(__file__).resolve().parents[1]


def test_store_options_are_checked(tmp_path):
    code, _, err = run_cli(["rollout", "status", "specs/rollout.yaml", "--db", str(tmp_path / "state.db")], ROOT)
    assert (code, err) == (2, "nmspec rollout status: --db needs --bundles (the release rolling out)\n")
    code, _, err = run_cli(["rollout", "status", "specs/rollout.yaml", "--db", str(tmp_path / "state.db"),
                            "--bundles", str(tmp_path / "none")], ROOT)
    assert code == 1 and "error[NM941]: " in err and "no such bundles folder" in err
