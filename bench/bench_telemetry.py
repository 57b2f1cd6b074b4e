"""Telemetry at fleet scale: 1,000 sites x 30 days of uplinks (half in ChirpStack v4's JSON,
half in The Things Stack's) through a private Mosquitto broker into the state database, then
`nmspec fleet status` over the 1,000 sites.

Baselines measured in the same run: a bare paho-mqtt subscriber that only counts the same
queued messages (no JSON, no decoding, no database), and a plain SELECT of every stored row.
Targets (issue 16): ingest at least 5,000 uplinks/s; status of 1,000 sites under 2 s.

The desired state is 1,000 copies of the compressor example's bundle, each renamed to its
site (the status reads two files per site; what the bundle holds does not change the time).
Also printed: what layout 2 of the status frame costs in airtime and charge against layout 1.
`--sites N` / NMSPEC_BENCH_SITES=N for a smaller run.
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

RESULTS = Path(__file__).parent / "results" / "telemetry.json"
DAYS = 30
START = 1_798_761_600_000  # 2027-01-01T00:00:00Z
NOW = "2027-01-31T00:00:00Z"
SCENARIOS = {7: "rollback", 13: "silent", 21: "behind", 34: "hungry"}  # one of each per 100 sites


def _bundles(folder: Path, n: int):
    from engine.catalog import load_catalog
    from engine.pipeline import BuildOptions, build_site
    from engine.telemetry.desired import device_slug, model_version
    from engine.telemetry.simulate import SimSite

    spec = Path(__file__).resolve().parents[1] / "specs" / "examples" / "compressor.yaml"
    result = build_site(spec, load_catalog(), BuildOptions(verify=False, preview=True))
    image, report = result.files["model.nmc"], result.report
    power = report["resolve"]["power"]
    load = (power["total_uA"] - next(c["uA"] for c in power["consumers"] if c["name"] == "self-discharge")) * 1e-6
    sims = []
    for i in range(n):
        site = f"plant-{i // 10:03d}/node-{i % 10}"
        target = folder / site
        target.mkdir(parents=True)
        (target / "model.nmc").write_bytes(image)
        (target / "report.json").write_text(json.dumps(dict(report, site=site)))
        sims.append(SimSite(device_slug(site), f"70b3d57e{i:08x}", model_version(image), 0x01020304, 0, load,
                            SCENARIOS.get(i % 100, "ok")))
    return sims


def _drain_counting(port: int, client_id: str, expected: int) -> float:
    """The baseline: seconds for a bare subscriber to receive `expected` queued messages."""
    import paho.mqtt.client as mqtt

    got = [0]
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=client_id, clean_session=False,
                         protocol=mqtt.MQTTv311)
    client.max_inflight_messages_set(1000)
    client.on_message = lambda *_: got.__setitem__(0, got[0] + 1)
    start = time.perf_counter()
    client.connect("127.0.0.1", port)
    while got[0] < expected:
        client.loop(timeout=0.05)
        if time.perf_counter() - start > 600:
            raise RuntimeError(f"baseline received {got[0]} of {expected}")
    elapsed = time.perf_counter() - start
    client.disconnect()
    return elapsed


def _subscribe_only(port: int, client_id: str, topics) -> None:
    import paho.mqtt.client as mqtt

    done = [False]
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=client_id, clean_session=False,
                         protocol=mqtt.MQTTv311)
    client.on_subscribe = lambda *_: done.__setitem__(0, True)
    client.connect("127.0.0.1", port)
    client.subscribe([(t, 1) for t in topics])
    while not done[0]:
        client.loop(timeout=0.05)
    client.disconnect()


def airtime_cost() -> list[dict]:
    """Layout 2 against layout 1 of the status frame, once a day, per spreading factor: time on
    air and the charge the SX1262 spends sending it at 22 dBm (the catalog's figure, as the
    compressor example uses it)."""
    from engine import frames
    from engine.catalog import load_catalog
    from engine.resolve.alerts import LORA_OVERHEAD_BYTES, lora_airtime

    tx = load_catalog().part("radios", "sx1262").require("tx_current_22dbm", None)
    rows = []
    for sf in range(7, 13):
        old = lora_airtime(frames.STATUS_V1.size + LORA_OVERHEAD_BYTES, sf)
        new = lora_airtime(frames.STATUS.size + LORA_OVERHEAD_BYTES, sf)
        rows.append({"sf": sf, "v1_ms": round(old * 1e3, 1), "v2_ms": round(new * 1e3, 1),
                     "extra_uAh_per_day": round((new - old) * tx / 3600 * 1e6, 3),
                     "extra_mean_nA": round((new - old) * tx / 86400 * 1e9, 3)})
    return rows


def main(argv: list[str] | None = None) -> None:
    from engine import frames
    from engine.telemetry.desired import desired_from_folder
    from engine.telemetry.ingest import TOPICS, MqttIngest
    from engine.telemetry.simulate import fleet_messages
    from engine.telemetry.status import fleet_status
    from engine.telemetry.store import Store
    from tests.mqtt_support import mosquitto, publish

    args = argv if argv is not None else sys.argv[1:]
    n = int(args[args.index("--sites") + 1]) if "--sites" in args else int(os.environ.get("NMSPEC_BENCH_SITES", "1000"))
    with tempfile.TemporaryDirectory(prefix="nmspec-bench-telemetry-") as tmp:
        root = Path(tmp)
        (root / "nmspec.toml").touch()
        sims = _bundles(root / "bundles", n)
        half = n // 2
        messages = list(fleet_messages(sims[:half], START, DAYS, "chirpstack", seed=1, duplicates=0.01, late=0.01,
                                       malformed=0.002))
        messages += list(fleet_messages(sims[half:], START, DAYS, "tts", seed=2, duplicates=0.01, late=0.01,
                                        malformed=0.002))
        topics = [TOPICS["chirpstack"], TOPICS["tts"]]
        with mosquitto(root / "broker") as port:
            _subscribe_only(port, "baseline", topics)
            db = root / ".nmspec" / "state.db"
            with Store.open(db) as store:
                MqttIngest(store, "127.0.0.1", port, topics=topics).run(max_messages=0)
                start = time.perf_counter()
                publish(port, messages)
                publish_s = time.perf_counter() - start
                baseline_s = _drain_counting(port, "baseline", len(messages))
                start, cpu = time.perf_counter(), time.process_time()
                counts = MqttIngest(store, "127.0.0.1", port, topics=topics).run(max_messages=len(messages))
                ingest_s, ingest_cpu = time.perf_counter() - start, time.process_time() - cpu
                store._execute("PRAGMA wal_checkpoint(TRUNCATE)")
            size = db.stat().st_size
            start = time.perf_counter()
            with Store.open(db) as store:
                rows = len(store._execute("SELECT * FROM uplinks").fetchall())
            select_s = time.perf_counter() - start
            from engine.telemetry.ingest import parse_time

            start, cpu = time.perf_counter(), time.process_time()
            with Store.open(db) as store:
                fleet = fleet_status(desired_from_folder(root / "bundles"), store.uplinks(), parse_time(NOW))
            status_s, status_cpu = time.perf_counter() - start, time.process_time() - cpu
            before = resource.getrusage(resource.RUSAGE_CHILDREN)
            start = time.perf_counter()
            cli = subprocess.run([sys.executable, "-m", "engine", "fleet", "status", "bundles", "--now", NOW,
                                  "-o", "json"], cwd=root, capture_output=True, text=True, check=False)
            cli_s = time.perf_counter() - start
            after = resource.getrusage(resource.RUSAGE_CHILDREN)
            cli_cpu = after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime
            page_start = time.perf_counter()
            subprocess.run([sys.executable, "-m", "engine", "fleet", "status", "bundles", "--now", NOW, "-o", "json",
                            "--html", str(root / "page")], cwd=root, capture_output=True, check=False)
            page_s = time.perf_counter() - page_start
            page_bytes = (root / "page" / "index.html").stat().st_size

    assert cli.returncode == 1, cli.stderr
    expected = {"rollback": "Degraded", "silent": "Silent", "behind": "OutOfSync", "hungry": "Degraded", "ok": "Synced"}
    wrong = [(s.site, s.state) for s, sim in zip(fleet.sites, sims) if s.state != expected[sim.scenario]]
    examples = {}
    for s, sim in zip(fleet.sites, sims):
        examples.setdefault(sim.scenario, f"{s.site}: {s.state}: {'; '.join(s.reasons) or '-'}")
    stored = counts.stored
    rate, base_rate = stored / ingest_s, len(messages) / baseline_s
    result = {
        "sites": n, "days": DAYS, "messages": len(messages), "uplinks_stored": stored,
        "counts": {"duplicates": counts.duplicates, "out_of_order": counts.out_of_order, "malformed": counts.malformed},
        "publish_s": round(publish_s, 2), "baseline_drain_s": round(baseline_s, 2), "ingest_s": round(ingest_s, 2),
        "ingest_uplinks_per_s": round(rate), "baseline_messages_per_s": round(base_rate),
        "ingest_cpu_s": round(ingest_cpu, 2), "ingest_uplinks_per_cpu_s": round(stored / ingest_cpu),
        "status_in_process_cpu_s": round(status_cpu, 3), "status_cli_cpu_s": round(cli_cpu, 3),
        "ingest_over_baseline_time": round(ingest_s / baseline_s, 2), "target_uplinks_per_s": 5000,
        "db_bytes": size, "db_bytes_per_uplink": round(size / max(stored, 1), 1),
        "select_all_s": round(select_s, 3), "rows": rows, "status_in_process_s": round(status_s, 3),
        "status_cli_s": round(cli_s, 3), "status_over_select": round(status_s / select_s, 2), "target_status_s": 2.0,
        "page_cli_s": round(page_s, 3), "page_bytes": page_bytes, "counts_by_state": fleet.counts(),
        "misclassified": len(wrong), "examples": examples, "frame_bytes": {"status_v1": frames.STATUS_V1.size,
                                                                         "status_v2": frames.STATUS.size},
        "airtime_cost": airtime_cost(), "load_average_1min": round(os.getloadavg()[0], 2),
    }
    print(f"{n} sites x {DAYS} days: {len(messages)} messages ({stored} uplinks stored; {counts.duplicates} duplicates, "
          f"{counts.out_of_order} out of order, {counts.malformed} malformed)")
    print(f"  publish {publish_s:.2f} s; bare subscriber drains in {baseline_s:.2f} s ({base_rate:,.0f}/s)")
    print(f"  ingest {ingest_s:.2f} s: {rate:,.0f} uplinks/s ({ingest_s / baseline_s:.2f} x the bare subscriber); "
          f"target 5,000/s: {'met' if rate >= 5000 else 'NOT met'}; CPU {ingest_cpu:.2f} s "
          f"({stored / ingest_cpu:,.0f} uplinks per CPU second)")
    print(f"  database {size / 1e6:.1f} MB ({size / max(stored, 1):.0f} B per uplink)")
    print(f"  status of {n} sites: {status_s:.3f} s in process (CPU {status_cpu:.3f} s; {status_s / select_s:.2f} x "
          f"SELECT * alone, {select_s:.3f} s), {cli_s:.3f} s as `nmspec fleet status` (CPU {cli_cpu:.3f} s); "
          f"target 2 s: {'met' if cli_s < 2 else 'NOT met'}")
    print(f"  page: {page_s:.3f} s with --html, index.html {page_bytes / 1e6:.1f} MB")
    print(f"  states {fleet.counts()}; misclassified {len(wrong)}")
    for scenario, line in sorted(examples.items()):
        print(f"    {scenario:<8} {line}")
    print("  status frame layout 2 against layout 1, once a day (SX1262 at 22 dBm):")
    for row in result["airtime_cost"]:
        print(f"    SF{row['sf']:<2} {row['v1_ms']:>7.1f} -> {row['v2_ms']:>7.1f} ms on air, "
              f"+{row['extra_uAh_per_day']:.3f} uAh/day (+{row['extra_mean_nA']:.2f} nA average)")
    print(f"  load average during the run: {result['load_average_1min']}")
    if n == 1000:
        RESULTS.parent.mkdir(parents=True, exist_ok=True)
        RESULTS.write_text(json.dumps(result, indent=2, sort_keys=True) + "\n")
    if wrong:
        raise SystemExit(f"misclassified sites: {wrong[:5]}")
