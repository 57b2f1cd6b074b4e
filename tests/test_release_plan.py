"""`nmspec release plan OLD NEW` on a git repository of specs: a radio-only change is
configuration (the image keeps its bytes), a sanity-window change is a model the running
firmware accepts (with its fragment stream and multicast group), a signal-chain change is
firmware; and the compatibility checks, one refusal at a time."""

from __future__ import annotations

import copy
import importlib.util
import json
import subprocess
from pathlib import Path

import attrs
import pytest
import yaml
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from spec_cases import run_cli

from engine.delivery.fragments import encode, session_for
from engine.image import StateLayout, read_image, write_image
from engine.pipeline import BuildOptions, build_site
from engine.release.classify import classify_site
from engine.release.compat import model_update_blockers
from engine.release.facts import bundle_facts
from tests.firmware_support import catalog, example

ROOT = Path(__file__).resolve().parents[1]
_spec = importlib.util.spec_from_file_location("make_fleet", ROOT / "tools" / "make_fleet.py")
make_fleet = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(make_fleet)
GIT = ["git", "-c", "user.name=t", "-c", "user.email=t@example.invalid", "-c", "commit.gpgsign=false"]
KEY = Ed25519PrivateKey.from_private_bytes(bytes(range(32)))
OTHER_KEY = Ed25519PrivateKey.from_private_bytes(bytes(range(1, 33)))


def git(repo: Path, *args: str) -> str:
    return subprocess.run(GIT + list(args), cwd=repo, check=True, capture_output=True, text=True).stdout


@pytest.fixture(scope="module")
def repo(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("release")
    make_fleet.make_fleet(root, 3, seed=7, safety_class="none")
    git(root, "init", "-q")
    git(root, "add", "-A")
    git(root, "commit", "-qm", "three sites")
    sites = root / "sites" / "plant-000"
    radio = sites / "compressor-1.yaml"
    radio.write_text(radio.read_text().replace("spreading_factor: 7", "spreading_factor: 9"))
    with open(sites / "compressor-2.yaml", "a") as handle:
        handle.write("runtime:\n  update: {sanity_window: 12h}\n")
    chain = sites / "air-header-1.yaml"
    chain.write_text(chain.read_text().replace("threshold: 0.0625", "threshold: 0.05"))
    git(root, "commit", "-qam", "radio, sanity window, encoder threshold")
    return root


@pytest.fixture(scope="module")
def plan(repo, tmp_path_factory):
    out = tmp_path_factory.mktemp("plan") / "release"
    code, text, err = run_cli(["release", "plan", "HEAD~1", "HEAD", "--out", str(out), "--output", "json"], repo)
    assert code == 0, err
    return json.loads(text), out


def test_each_site_is_classified_with_its_reason(plan):
    document, _ = plan
    sites = {s["site"]: s for s in document["sites"]}
    radio = sites["plant-000/compressor-1"]
    # the uplink's duty gap: ceil(time on air x 99) of a 39 B status frame + 13 B of LoRaWAN framing,
    # 125 kHz, CR 4/5, CRC: SF7 ceil((416 - 28 + 28 + 16) / 28) = 16 -> (8 + 16*5 + 12.25) x 1.024 ms
    # = 102.7 ms -> 11 s; SF9 ceil((416 - 36 + 28 + 16) / 36) = 12 -> (8 + 12*5 + 12.25) x 4.096 ms
    # = 328.7 ms -> 33 s
    assert (radio["kind"], radio["reasons"]) == ("configuration", ["NM_ALERT_DUTY_GAP_S 11 -> 33",
                                                                   "NM_RADIO_SPREADING_FACTOR 7 -> 9"])
    assert radio["full_image_path"] is False
    model = sites["plant-000/compressor-2"]
    assert model["kind"] == "model" and model["reasons"][0].endswith("the running firmware accepts it")
    chain = sites["plant-000/air-header-1"]
    assert chain["kind"] == "firmware" and chain["full_image_path"] is True
    assert chain["reasons"][0].startswith("the signal chain compiled into the firmware changed (")
    assert document["counts"] == {"nothing": 0, "configuration": 1, "model": 1, "firmware": 1, "removed": 0}


def test_a_radio_only_change_leaves_the_image_byte_identical(repo, tmp_path):
    spec = repo / "sites" / "plant-000" / "compressor-1.yaml"  # spreading factor 9 since HEAD
    now = build_site(spec, catalog(), BuildOptions(verify=False, preview=True))
    copy_ = spec.with_name("compressor-1-before.yaml")
    copy_.write_text(git(repo, "show", "HEAD~1:sites/plant-000/compressor-1.yaml"))
    try:
        before = build_site(copy_, catalog(), BuildOptions(verify=False, preview=True))
    finally:
        copy_.unlink()
    assert before.files["model.nmc"] == now.files["model.nmc"]
    assert json.loads(before.files["report.json"])["spec_hash"] != json.loads(now.files["report.json"])["spec_hash"]


def test_the_model_update_ships_its_fragment_stream(repo, plan):
    document, out = plan
    group, = document["groups"]
    assert group["sites"] == ["plant-000/compressor-2"]
    image = build_site(repo / "sites" / "plant-000" / "compressor-2.yaml", catalog(),
                       BuildOptions(verify=False, preview=True)).files["model.nmc"]
    p = group["plan"]
    assert (p["image_bytes"], p["region"], p["data_rate"], p["fragment_size"]) == (len(image), "EU868", "DR5", 219)
    session = session_for(len(image), 219, p["parity_fragments"])
    folder = out / group["name"]
    assert (folder / "fragments.bin").read_bytes() == session.setup_request() + b"".join(encode(image, session))
    assert json.loads((folder / "session.json").read_text())["frag_session_setup_req"] == session.setup_request().hex()
    assert json.loads((out / "release.json").read_text()) == document


def test_text_output_and_usage_errors(repo, plan):
    from engine.cli.cmd_release import _render

    lines = _render(plan[0]).splitlines()
    assert lines[0] == "release HEAD~1 -> HEAD (EU868, 10% fragment loss planned for)"
    assert lines[-1] == "0 nothing, 1 configuration, 1 model, 1 firmware"
    code, _, err = run_cli(["release", "plan", "no-such-rev", "HEAD"], repo)
    assert code == 2 and err.startswith("nmspec release plan: git cannot read revision 'no-such-rev'")
    code, _, err = run_cli(["release", "plan", "HEAD", "HEAD", "--loss", "1.5"], repo)
    assert (code, err) == (2, "nmspec release plan: --loss 1.5 is not a share in [0, 1)\n")


# ---------------------------------------------------------------- compatibility, one check at a time

@pytest.fixture(scope="module")
def running():
    result, _ = example("compressor", KEY)  # sil2: signed images, the fallback must stand in
    return dict(result.files)


def with_image(files, image: bytes, **manifest):
    out = dict(files)
    out["model.nmc"] = image
    if manifest:
        out["manifest.json"] = json.dumps({**json.loads(files["manifest.json"]), **manifest}).encode()
    return out


def evolve_image(files, key=KEY, **changes) -> bytes:
    contents = read_image(files["model.nmc"])
    return write_image(attrs.evolve(contents, **changes), key)


def test_the_same_network_under_new_bounds_is_a_model_update(running):
    image = evolve_image(running, policy=attrs.evolve(read_image(running["model.nmc"]).policy, sanity_window_s=3600))
    assert model_update_blockers(bundle_facts(running), bundle_facts(with_image(running, image))) == ()
    assert classify_site(running, with_image(running, image)).kind == "model"


def test_refusals_name_what_differs(running):
    old = bundle_facts(running)
    contents = read_image(running["model.nmc"])
    first = contents.network.projections[0]
    values = first.weights.values.copy()
    values[0] += 1 if values[0] < 100 else -1
    network = attrs.evolve(contents.network, projections=(
        attrs.evolve(first, weights=attrs.evolve(first.weights, values=values)), *contents.network.projections[1:]))
    layout = contents.resolved_state_layout
    cases = {
        "network": evolve_image(running, network=network),
        "unsigned": evolve_image(running, key=None),
        "forged": evolve_image(running, key=OTHER_KEY),
        "layout": evolve_image(running, state_layout=StateLayout(layout.version + 1, layout.populations)),
    }
    found = {name: model_update_blockers(old, bundle_facts(with_image(running, image))) for name, image in cases.items()}
    assert len(found["network"]) == 1 and found["network"][0].startswith("network digest ")
    assert found["network"][0].endswith("and must stand in at this safety level")
    assert found["unsigned"] == ("the running firmware requires signed images; the new image is unsigned",)
    assert len(found["forged"]) == 1 and found["forged"][0].startswith(
        "the new image is not signed by the key the running firmware trusts")
    assert len(found["layout"]) == 1 and found["layout"][0].startswith("state layout 2/")
    change = classify_site(running, with_image(running, cases["network"]))
    assert (change.kind, change.full_image_path) == ("firmware", True)


def test_security_version_and_chip_and_slot(running):
    same = running["model.nmc"]
    older = bundle_facts(with_image(running, same, security_version=3))
    newer = bundle_facts(with_image(running, evolve_image(running, metadata=attrs.evolve(
        read_image(same).metadata, model_name="next")), security_version=2))
    assert model_update_blockers(older, newer) == ("security version 2 is below the running release's 3",)
    other_chip = attrs.evolve(newer, chip="xylo-audio-2", manifest={**newer.manifest, "security_version": 3})
    assert model_update_blockers(older, other_chip) == ("chip xylo-imu -> xylo-audio-2",)
    small = attrs.evolve(older, defines={**older.defines, "NM_SLOT_SIZE": "4096UL"})
    blockers = model_update_blockers(small, attrs.evolve(newer, manifest={**newer.manifest, "security_version": 3}))
    assert blockers == (f"image of {len(newer.image)} B, the running firmware's slots hold 4096 B",)


def test_every_example_keeps_its_image_when_only_radio_and_alerts_change(tmp_path):
    for spec in sorted((ROOT / "specs" / "examples").glob("*.yaml")):
        data = yaml.safe_load(spec.read_text())
        changed = copy.deepcopy(data)
        changed["power"].setdefault("radio", {})["spreading_factor"] = 10
        changed.setdefault("alerts", {})["retries"] = 5
        target = spec.parent / f".radio-{spec.name}"
        target.write_text(yaml.safe_dump(changed, sort_keys=False))
        try:
            a, _ = example(spec.stem)  # the same options, built once per test session
            b = build_site(target, catalog(), BuildOptions(verify=False, preview=True))
        finally:
            target.unlink()
        assert a.files["model.nmc"] == b.files["model.nmc"], spec.name
        assert a.files["firmware/nmc_config.h"] != b.files["firmware/nmc_config.h"], spec.name
