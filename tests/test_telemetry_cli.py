"""nmspec fleet ingest / status / codec on a small fleet of committed bundles: exports of both
network servers in, every state with its reason and exit code out, the page checked in
headless Chromium (screenshot taken, any console message fails), the codec run by node."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from engine import frames as F
from engine.telemetry.desired import device_slug, model_version
from engine.telemetry.simulate import SimSite, fleet_messages
from tests.firmware_support import example
from tests.spec_cases import run_cli

START = 1_798_761_600_000  # 2027-01-01T00:00:00Z
NOW = "2027-01-31T00:00:00Z"
SITES = {"plant-1/compressor-1": "ok", "plant-1/compressor-2": "rollback", "plant-2/compressor-1": "silent",
         "plant-2/compressor-2": "behind", "plant-3/compressor-1": "hungry"}
CHROMIUM = shutil.which("chromium") or "chromium"


@pytest.fixture(scope="module")
def fleet(tmp_path_factory):
    root = tmp_path_factory.mktemp("fleet")
    (root / "nmspec.toml").touch()
    result, _ = example("compressor")
    report = result.report
    sims = []
    for i, (site, scenario) in enumerate(SITES.items()):
        folder = root / "bundles" / site
        folder.mkdir(parents=True)
        (folder / "model.nmc").write_bytes(result.files["model.nmc"])
        (folder / "report.json").write_text(json.dumps(dict(report, site=site)))
        power = report["resolve"]["power"]
        load = (power["total_uA"] - power["consumers"][-1]["uA"]) * 1e-6
        sims.append(SimSite(device_slug(site), f"70b3d57ed00000{i:02x}", model_version(result.files["model.nmc"]),
                            0x01020304, 0, load, scenario))
    chirp = list(fleet_messages(sims[:3], START, 30, "chirpstack", seed=5, duplicates=0.02))
    tts = list(fleet_messages(sims[3:], START, 30, "tts", seed=6))
    (root / "chirpstack.jsonl").write_text("\n".join(b.decode() for _, b in chirp) + "\n{\"deviceInfo\": \n")
    (root / "tts.json").write_text(json.dumps([{"result": json.loads(b)} for _, b in tts]))
    ingested = run_cli(["fleet", "ingest", "chirpstack.jsonl", "tts.json"], root)
    return {"root": root, "sims": sims, "messages": len(chirp) + len(tts), "version": sims[0].model_version,
            "ingested": ingested}


def test_ingest_then_status(fleet):
    root = fleet["root"]
    code, out, err = fleet["ingested"]
    assert code == 0, err
    assert out.startswith(f"{fleet['messages'] + 1} messages: ") and " 1 malformed, 0 ignored (into " in out
    assert (root / ".nmspec" / "state.db").is_file()
    code, out, err = run_cli(["fleet", "status", "--now", NOW, "--output", "json"], root)
    assert code == 1, err  # Degraded and Silent sites need a person
    data = json.loads(out)
    states = {s["site"]: s["state"] for s in data["sites"]}
    assert states == {"plant-1/compressor-1": "Synced", "plant-1/compressor-2": "Degraded",
                      "plant-2/compressor-1": "Silent", "plant-2/compressor-2": "OutOfSync",
                      "plant-3/compressor-1": "Degraded"}
    assert data["counts"] == {"Synced": 1, "OutOfSync": 1, "Degraded": 2, "Silent": 1} and data["exit_code"] == 1
    by = {s["site"]: s for s in data["sites"]}
    assert by["plant-1/compressor-2"]["reasons"][0].startswith("rolled back (rollbacks 1, canary 0x18): slot 0 runs model 01020304")
    assert by["plant-2/compressor-1"]["reasons"] == ["no uplink for " + by["plant-2/compressor-1"]["reasons"][0][14:]]
    assert by["plant-2/compressor-2"]["reasons"][0].startswith(f"runs model 01020304, working tree has {fleet['version']:08x}")
    ok = by["plant-1/compressor-1"]["battery"]
    assert ok["verdict"] == "as predicted" and abs(ok["ratio"] - 1) < 0.05 and ok["readings"] == 30
    assert by["plant-3/compressor-1"]["battery"]["ratio"] == pytest.approx(1.6, abs=0.05)
    assert by["plant-1/compressor-1"]["reported"]["model_version"] == f"{fleet['version']:08x}"

    code, gh, _ = run_cli(["fleet", "status", "--now", NOW, "--output", "github"], root)
    lines = gh.splitlines()
    assert code == 1 and lines[-1] == "5 sites: 1 Synced, 1 OutOfSync, 2 Degraded, 1 Silent"
    assert sum(line.startswith("::error file=specs/examples/compressor.yaml,title=") for line in lines) == 3
    assert any(line.startswith("::warning file=specs/examples/compressor.yaml,title=OutOfSync: plant-2/compressor-2::")
               for line in lines)
    code, text, _ = run_cli(["fleet", "status", "--now", NOW], root)
    assert text.splitlines()[-1] == "5 sites at 2027-01-31T00:00:00Z: 1 Synced, 1 OutOfSync, 2 Degraded, 1 Silent"


def test_exit_code_three_when_only_out_of_sync(fleet, tmp_path):
    root = fleet["root"]
    bundles = tmp_path / "bundles"
    shutil.copytree(root / "bundles" / "plant-2", bundles / "plant-2")
    shutil.rmtree(bundles / "plant-2" / "compressor-1")
    code, out, _err = run_cli(["fleet", "status", str(bundles), "--now", NOW, "--db", str(root / ".nmspec/state.db")], tmp_path)
    assert (code, out.splitlines()[-2:]) == (3, [
        "1 sites at 2027-01-31T00:00:00Z: 0 Synced, 1 OutOfSync, 0 Degraded, 0 Silent",
        ("4 devices sent uplinks but match no site: plant-1-compressor-1, plant-1-compressor-2, plant-2-compressor-1, "
        "plant-3-compressor-1")])
    shutil.rmtree(bundles)
    shutil.copytree(root / "bundles" / "plant-1" / "compressor-1", bundles / "plant-1" / "compressor-1")
    code, out, _ = run_cli(["fleet", "status", str(bundles), "--now", NOW, "--db", str(root / ".nmspec/state.db")], tmp_path)
    assert code == 0


def test_status_at_a_git_revision(fleet, tmp_path):
    repo = tmp_path / "repo"
    shutil.copytree(fleet["root"] / "bundles", repo / "bundles")
    git = lambda *a: subprocess.run(["git", *a], cwd=repo, check=True, capture_output=True)
    git("init", "-q")
    git("add", "-A")
    git("-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "bundles")
    shutil.rmtree(repo / "bundles" / "plant-1")  # the working tree moved on; the revision did not
    db = str(fleet["root"] / ".nmspec/state.db")
    code, out, err = run_cli(["fleet", "status", "--rev", "HEAD", "--now", NOW, "--db", db, "-o", "json"], repo)
    assert code == 1, err
    data = json.loads(out)
    head = subprocess.run(["git", "rev-parse", "--short=12", "HEAD"], cwd=repo, capture_output=True, text=True,
                          check=True).stdout.strip()
    assert len(data["sites"]) == 5 and {s["desired"]["revision"] for s in data["sites"]} == {head}
    code, out, err = run_cli(["fleet", "status", "--now", NOW, "--db", db, "-o", "json"], repo)
    assert len(json.loads(out)["sites"]) == 3
    code, codec, err = run_cli(["fleet", "codec", "--rev", "HEAD", "--fleet", "f"], repo)
    assert code == 0, err
    models = json.loads(codec.split("var NM_MODELS = ", 1)[1].split(";\n", 1)[0])
    assert models == {str(fleet["version"]): {"site": "plant-3/compressor-1",
                                              "labels": ["normal", "bearing", "imbalance", "looseness"]}}


def test_mistakes_are_diagnostics(fleet, tmp_path):
    code, _, err = run_cli(["fleet", "status", "nowhere", "--db", str(tmp_path / "s.db")], tmp_path)
    assert (code, err) == (1, ("nmspec: error[NM961]: nowhere: no such bundles folder\n"
                              "  hint: BUNDLES is the folder `nmspec build --out` writes\n"))
    code, _, err = run_cli(["fleet", "status", str(fleet["root"] / "bundles"), "--db", str(tmp_path / "none.db")], tmp_path)
    assert (code, err) == (1, (f"nmspec: error[NM960]: no state database at {tmp_path / 'none.db'} "
                              "(`nmspec fleet ingest` writes it)\n"))
    assert not (tmp_path / "none.db").exists()
    code, _, err = run_cli(["fleet", "status", "--now", "soon"], fleet["root"])
    assert (code, err) == (2, ("nmspec: error[NM964]: not an RFC 3339 time: 'soon'\n"
                              "  hint: for example --now 2027-01-31T12:00:00Z\n"))
    code, _, err = run_cli(["fleet", "ingest", "missing.json"], tmp_path)
    assert (code, err) == (1, "missing.json: error[NM963]: no such export file\n")
    from tests.mqtt_support import free_port

    port = free_port()
    code, _, err = run_cli(["fleet", "ingest", "--mqtt", f"127.0.0.1:{port}", "--db", str(tmp_path / "s.db")], tmp_path)
    assert code == 1 and err.startswith(f"nmspec: error[NM962]: cannot reach the MQTT broker at 127.0.0.1:{port}: ")


def chromium(page: Path, profile: Path, *extra: str) -> subprocess.CompletedProcess:
    return subprocess.run([CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                           "--disable-component-update", "--disable-sync", "--no-first-run", f"--user-data-dir={profile}",
                           "--enable-logging=stderr", "--v=0", *extra, page.as_uri()],
                          capture_output=True, text=True, timeout=120, check=False)


def console_messages(stderr: str) -> list[str]:
    """What the page logged: every console message and uncaught error (Chromium logs them as
    INFO:CONSOLE lines); the page logs nothing when it works."""
    return [line for line in stderr.splitlines() if ":CONSOLE" in line or "Uncaught" in line]


def test_page_in_headless_chromium(fleet, tmp_path):
    root = fleet["root"]
    code, _, err = run_cli(["fleet", "status", "--now", NOW, "--html", str(tmp_path / "page"), "-o", "json"], root)
    assert code == 1, err
    page = tmp_path / "page" / "index.html"
    again = tmp_path / "again"
    run_cli(["fleet", "status", "--now", NOW, "--html", str(again), "-o", "json"], root)
    assert (again / "index.html").read_bytes() == page.read_bytes()  # deterministic
    shot = tmp_path / "page.png"
    done = chromium(page, tmp_path / "profile-1", f"--screenshot={shot}", "--window-size=1400,900")
    assert done.returncode == 0, done.stderr[-2000:]
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and shot.stat().st_size > 10_000
    assert console_messages(done.stderr) == []
    dom = chromium(page, tmp_path / "profile-2", "--dump-dom")
    assert console_messages(dom.stderr) == []
    assert '<body data-ready="1">' in dom.stdout  # the page's script ran to its end
    assert dom.stdout.count('<tr class="') == 5 and dom.stdout.count('class="measured"') == 5
    assert '<div class="count Degraded" data-state="Degraded"><b>2</b>Degraded</div>' in dom.stdout
    # the check can fail: a page with an error is caught
    broken = tmp_path / "broken.html"
    broken.write_text(page.read_text().replace("document.body.setAttribute", "document.body.setAtribute"))
    caught = console_messages(chromium(broken, tmp_path / "profile-3", "--dump-dom").stderr)
    assert len(caught) == 1 and "Uncaught TypeError: document.body.setAtribute is not a function" in caught[0]


def test_codec_for_the_fleet(fleet, tmp_path):
    root = fleet["root"]
    code, _, err = run_cli(["fleet", "codec", "--fleet", "demo", "--out", str(tmp_path / "codec.js")], root)
    assert code == 0, err
    frame = F.ANOMALY.pack(model_version=fleet["version"], event_s=60, class_index=1, sequence=0)
    script = (f"const c = require({json.dumps(str(tmp_path / 'codec.js'))});"
              f"process.stdout.write(JSON.stringify(c.decodeUplink({{bytes: {list(frame)}, fPort: 10}})));")
    out = json.loads(subprocess.run(["node", "-e", script], capture_output=True, text=True, check=True).stdout)
    labels = example("compressor")[0].report.get("labels") or ["normal", "bearing", "imbalance", "looseness"]
    assert out["data"]["label"] == labels[1] and out["errors"] == []
    assert out["data"]["model"]["site"] in SITES


def test_fit_takes_the_measured_current_back(tmp_path):
    root = Path(__file__).resolve().parents[1]
    status = {"now": "2027-01-31T00:00:00Z", "sites": [
        {"site": "demo-plant/compressor-1", "desired": {"revision": "abc1234"},
         "battery": {"measured_uA": 20.0, "readings": 30, "verdict": "drains faster than predicted"}}]}
    path = tmp_path / "status.json"
    path.write_text(json.dumps(status))
    code, out, err = run_cli(["fit", "specs/examples/compressor.yaml", "--measured", str(path), "-o", "json"], root)
    assert code == 0, err
    data = json.loads(out)
    power, measured = data["spec"]["power"], data["measured"]
    leak = next(c["uA"] for c in power["consumers"] if c["name"] == "self-discharge")
    assert measured["load_uA"] == 20.0 and measured["model_uA"] == pytest.approx(power["total_uA"] - leak, abs=1e-3)
    assert measured["life_years"] == pytest.approx(power["usable_Ah"] / ((20.0 + leak) * 1e-6) / 8766, rel=1e-3)
    assert measured["provenance"] == {"source": str(path), "site": "demo-plant/compressor-1", "readings": 30,
                                      "at": "2027-01-31T00:00:00Z", "revision": "abc1234",
                                      "figure": "average load current from the cell's gauge"}
    code, text, _ = run_cli(["fit", "specs/examples/compressor.yaml", "--measured", str(path)], root)
    assert code == 0 and f"measured in the field ({path}, site demo-plant/compressor-1, 30 gauge readings" in text
    status["sites"][0]["site"] = "elsewhere"
    path.write_text(json.dumps(status))
    code, _, err = run_cli(["fit", "specs/examples/compressor.yaml", "--measured", str(path)], root)
    assert (code, err) == (1, (f"{path}: error[NM965]: {path}: no site demo-plant/compressor-1\n"
                              "  hint: write it with `nmspec fleet status -o json > STATUS.json`\n"))
