"""The node runtime under fault injection, on the host build of the compressor example
(sil2: signed images only). A script drives boot, installs, windows of input and power
losses; the host platform prints the SHA-256 of every image it hands to the chip, so the
tests see exactly what ran. Images are written here with the image package: the build's
own image A, a second image B of the same network, and broken variants of B."""

from __future__ import annotations

import hashlib
import re

import attrs
import numpy as np
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from engine.image import StateLayout, read_image, write_image
from engine.verify import kernel
from tests.firmware_support import example, make, run_program, write_firmware

KEY = Ed25519PrivateKey.from_private_bytes(bytes(range(32)))
OTHER_KEY = Ed25519PrivateKey.from_private_bytes(bytes(range(1, 33)))
TRIAL_WINDOWS = 3


@pytest.fixture(scope="module")
def node(tmp_path_factory):
    result, resolved = example("compressor", KEY)
    folder = write_firmware(result.files, tmp_path_factory.mktemp("runtime"))
    make(folder, "host")
    config = (folder / "nmc_config.h").read_text()
    interval = int(re.search(r"#define NM_INTERVAL_S (\d+)", config).group(1))
    image_a = result.files["model.nmc"]
    contents = read_image(image_a)
    spikes = resolved.chain.run(resolved.stimuli.samples)
    labels = np.asarray(resolved.stimuli.labels)
    nominal = spikes[labels == 0][:2].reshape(-1, spikes.shape[2])
    fault = spikes[labels != 0][:2].reshape(-1, spikes.shape[2])
    (folder / "nominal.bin").write_bytes(nominal.astype(np.uint8).tobytes())
    (folder / "fault.bin").write_bytes(fault.astype(np.uint8).tobytes())
    (folder / "silent.bin").write_bytes(bytes(nominal.size))
    network = contents.network
    windows = {name: [kernel.run(network, w.astype(np.int64)).output_counts(network.output)
                      for w in data.reshape(-1, spikes.shape[1], spikes.shape[2])]
               for name, data in (("nominal", nominal), ("fault", fault))}
    nominal_classes = [int(np.argmax(c)) for c in windows["nominal"]]

    def variant(name, key=KEY, **policy):
        share = [0] * len(contents.metadata.labels)
        share[nominal_classes[0]] = 1_000_000
        fields = {"class_expected_ppm": tuple(share), "class_tolerance_ppm": (100_000,) * len(share),
                  "spike_rate_mhz": 0, "spike_rate_tolerance_mhz": 0, "dead_neuron_window_s": 0,
                  "sanity_window_s": TRIAL_WINDOWS * interval}
        fields.update(policy)
        network = fields.pop("network", contents.network)
        changed = attrs.evolve(contents, metadata=attrs.evolve(contents.metadata, model_name=name),
                               policy=attrs.evolve(contents.policy, **fields), network=network)
        data = write_image(changed, key)
        (folder / f"{name}.nmc").write_bytes(data)
        return data

    images = {"A": image_a, "B": variant("B")}
    wrong = [0] * len(contents.metadata.labels)
    wrong[1 - min(nominal_classes[0], 1)] = 1_000_000
    images["bad"] = variant("bad", class_expected_ppm=tuple(wrong), class_tolerance_ppm=(0,) * len(wrong))
    images["rate"] = variant("rate", spike_rate_mhz=10_000_000, spike_rate_tolerance_mhz=2_000_000)
    images["dead"] = variant("dead", dead_neuron_window_s=1)
    images["forged"] = variant("forged", key=OTHER_KEY)
    images["unsigned"] = variant("unsigned", key=None)
    images["unlocked"] = variant("unlocked", learning_locked=False)
    # the same shapes with one weight changed: a network the compiled-in fallback does not run
    first = contents.network.projections[0]
    values = first.weights.values.copy()
    values[0] += 1 if values[0] < 100 else -1
    changed = attrs.evolve(first, weights=attrs.evolve(first.weights, values=values))
    network_b = attrs.evolve(contents.network, projections=(changed, *contents.network.projections[1:]))
    images["other"] = variant("other", network=network_b)
    layout = contents.resolved_state_layout
    relayout = attrs.evolve(contents, state_layout=StateLayout(layout.version + 1, layout.populations))
    (folder / "relayout.nmc").write_bytes(write_image(relayout, KEY))
    corrupted = bytearray(images["B"])
    corrupted[len(corrupted) // 2] ^= 0x40
    (folder / "corrupted.nmc").write_bytes(bytes(corrupted))
    (folder / "A.nmc").write_bytes(image_a)
    sha = {name: hashlib.sha256(data).hexdigest() for name, data in images.items()}
    return {"folder": folder, "images": images, "sha": sha, "windows": windows,
            "nominal_classes": nominal_classes, "interval": interval}


def run_script(node, lines: list[str]) -> list[str]:
    script = node["folder"] / "script.txt"
    script.write_text("\n".join(lines) + "\n")
    return run_program([node["folder"] / "fw_host", "script", script], cwd=node["folder"]).splitlines()


def states(out: list[str], what: str) -> list[dict[str, str]]:
    found = []
    for line in out:
        if line.startswith(what + " "):
            found.append(dict(field.split("=", 1) for field in line.split()[1:]))
    return found


def loaded(node, out: list[str]) -> list[str]:
    by_sha = {v: k for k, v in node["sha"].items()}
    names = []
    for line in out:
        if line.startswith("chip-load "):
            digest = line.split("sha256=")[1]
            assert digest in by_sha, f"the chip was given an image that is none of the test's: {digest}"
            names.append(by_sha[digest])
    return names


FACTORY = ["factory A.nmc 0", "boot"]


def test_factory_image_boots_and_runs_on_the_chip(node):
    out = run_script(node, FACTORY + ["run nominal.bin 2"])
    assert states(out, "boot")[0] == {"status": "ok", "active": "0", "state": "1", "generation": "0", "canary": "0",
                                      "windows": "0", "fallback_windows": "0", "misses": "0", "lost": "0",
                                      "rollbacks": "0", "fallback_matches": "1"}
    assert loaded(node, out) == ["A"]
    windows = [line for line in out if line.startswith("window ")]
    expected = [",".join(str(int(c)) for c in counts) for counts in node["windows"]["nominal"]]
    assert [w.split("counts=")[1] for w in windows] == expected
    assert all("fallback=0" in w for w in windows)


def test_good_update_runs_its_sanity_window_then_is_confirmed(node):
    out = run_script(node, FACTORY + ["install B.nmc", f"run nominal.bin {TRIAL_WINDOWS}", "boot"])
    install, = states(out, "install")
    assert (install["status"], install["active"], install["state"], install["generation"]) == ("ok", "1", "2", "1")
    run, = states(out, "run")
    assert (run["active"], run["state"], run["generation"], run["rollbacks"]) == ("1", "1", "2", "0")
    assert states(out, "boot")[1]["active"] == "1" and states(out, "boot")[1]["state"] == "1"
    assert loaded(node, out) == ["A", "B", "B"]


@pytest.mark.parametrize("image, status", [("corrupted", "image"), ("forged", "signature"), ("unsigned", "unsigned"),
                                           ("relayout", "target"), ("unlocked", "learning")])
def test_an_image_that_fails_a_check_is_never_switched_to(node, image, status):
    out = run_script(node, FACTORY + [f"install {image}.nmc", "run nominal.bin 1", "boot", "run nominal.bin 1"])
    install, = states(out, "install")
    assert (install["status"], install["active"], install["state"], install["generation"]) == (status, "0", "1", "0")
    assert [b["active"] for b in states(out, "boot")] == ["0", "0"]
    assert loaded(node, out) == ["A", "A"]


@pytest.mark.parametrize("image, inputs", [("bad", "nominal"), ("rate", "nominal"), ("dead", "silent")])
def test_failed_sanity_window_rolls_back(node, image, inputs):
    """Class shares outside the bounds, a spike rate off by more than its tolerance, most
    neurons silent over the policy's window: each alone rolls back (B, the same network
    with no such expectation, is confirmed on the same input)."""
    out = run_script(node, FACTORY + [f"install {image}.nmc", f"run {inputs}.bin {TRIAL_WINDOWS}", "boot"])
    run, = states(out, "run")
    assert (run["active"], run["state"], run["rollbacks"]) == ("0", "1", "1")
    assert states(out, "boot")[1]["active"] == "0"
    assert loaded(node, out) == ["A", image, "A", "A"]
    control = run_script(node, FACTORY + ["install B.nmc", f"run {inputs}.bin {TRIAL_WINDOWS}"])
    run, = states(control, "run")
    assert (run["active"], run["state"], run["rollbacks"]) == ("1", "1", "0")


def test_trial_interrupted_by_a_reset_repeats_its_window(node):
    out = run_script(node, FACTORY + ["install bad.nmc", "run nominal.bin 1", "boot", "run nominal.bin 2",
                                      f"run nominal.bin {TRIAL_WINDOWS}"])
    boots = states(out, "boot")
    assert (boots[1]["active"], boots[1]["state"]) == ("1", "2")
    runs = states(out, "run")
    assert (runs[1]["active"], runs[1]["state"]) == ("1", "2")  # two windows after the reset: still on trial
    assert (runs[2]["active"], runs[2]["rollbacks"]) == ("0", "1")


def test_a_slot_damaged_in_flash_is_not_run(node):
    """A bit flipped in the confirmed slot after it was installed: the next boot finds the
    other slot's image and returns to it; with no valid slot at all, nothing runs."""
    slot_size = int(re.search(r"#define NM_SLOT_SIZE (\d+)", (node["folder"] / "nmc_config.h").read_text()).group(1))
    out = run_script(node, FACTORY + ["install B.nmc", f"run nominal.bin {TRIAL_WINDOWS}",
                                      f"corrupt {slot_size + 100}", "boot", "run nominal.bin 1"])
    boot = states(out, "boot")[1]
    assert (boot["status"], boot["active"], boot["state"], boot["rollbacks"]) == ("ok", "0", "1", "1")
    assert loaded(node, out) == ["A", "B", "A"]
    damaged = run_script(node, ["factory A.nmc 0", "corrupt 100", "boot", "run nominal.bin 1"])
    boot, = states(damaged, "boot")
    assert (boot["status"], boot["active"]) == ("no-model", "-1")
    assert states(damaged, "run")[0]["status"] == "no-model"
    assert loaded(node, damaged) == []
    assert not [line for line in damaged if line.startswith("window ")]


def swap_steps(node, image: str) -> list[str]:
    return [f"install {image}.nmc 4096", f"run nominal.bin {TRIAL_WINDOWS}"]


@pytest.mark.parametrize("image, final", [("B", "B"), ("bad", "A")])
def test_power_lost_at_every_step_of_the_swap(node, image, final):
    """Stop after k flash operations for every k, restart from what the flash holds: the node
    comes back on A or on the new image (never on anything unverified), and finishing the
    update afterwards ends where an uninterrupted update ends."""
    k, interrupted = 0, 0
    while True:
        out = run_script(node, FACTORY + [f"power-after {k}"] + swap_steps(node, image) + ["power-after -1", "boot"]
                         + swap_steps(node, image) + ["boot"])
        names = loaded(node, out)
        boots = states(out, "boot")
        assert all(b["status"] == "ok" for b in boots), (k, boots)
        assert names[0] == "A" and names[-1] == final, (k, names)
        assert set(names) <= {"A", image}, (k, names)
        if "power-lost" not in out:
            break
        interrupted += 1
        after = boots[1]
        assert after["active"] in ("0", "1"), k
        k += 1
    # cut once each: every page erase of the backup slot, every 4 KiB chunk, the switch
    # word and the word that confirms (or rolls back) at the end of the sanity window
    config = (node["folder"] / "nmc_config.h").read_text()
    slot_size = int(re.search(r"#define NM_SLOT_SIZE (\d+)", config).group(1))
    page = int(re.search(r"#define NM_FLASH_PAGE (\d+)", config).group(1))
    chunks = -(-len(node["images"][image]) // 4096)
    assert interrupted == slot_size // page + chunks + 2


def test_chip_deadline_miss_continues_on_the_cpu_with_the_same_results(node):
    out = run_script(node, FACTORY + ["chip-miss-after 130", "run nominal.bin 2"])
    windows = [line for line in out if line.startswith("window ")]
    assert [w.split()[2] for w in windows] == ["fallback=0", "fallback=1"]
    expected = [",".join(str(int(c)) for c in counts) for counts in node["windows"]["nominal"]]
    assert [w.split("counts=")[1] for w in windows] == expected
    run, = states(out, "run")
    assert (run["misses"], run["fallback_windows"]) == ("1", "1")


def test_learning_stays_locked_at_sil2(node):
    out = run_script(node, FACTORY + ["learning 1", "learning 0"])
    assert [s["status"] for s in states(out, "learning")] == ["learning", "ok"]
    assert all("learning=0" in line for line in out if line.startswith("chip-load"))


def test_snapshot_round_trip_and_refusals(node):
    folder = node["folder"]
    out = run_script(node, FACTORY + ["run nominal.bin 1", "snapshot-save snap.bin", "snapshot-load snap.bin"])
    assert [s["status"] for s in states(out, "snapshot-save") + states(out, "snapshot-load")] == ["ok", "ok"]
    snap = bytearray((folder / "snap.bin").read_bytes())
    assert snap[:4] == b"NMSS" and int.from_bytes(snap[4:8], "little") == 1
    layout = read_image(node["images"]["A"]).resolved_state_layout
    assert bytes(snap[8:40]) == layout.digest
    other_version = bytearray(snap)
    other_version[4] = 2
    (folder / "v2.bin").write_bytes(bytes(other_version))
    other_digest = bytearray(snap)
    other_digest[8] ^= 1
    (folder / "digest.bin").write_bytes(bytes(other_digest))
    damaged = bytearray(snap)
    damaged[60] ^= 1
    (folder / "damaged.bin").write_bytes(bytes(damaged))
    (folder / "short.bin").write_bytes(bytes(snap[:-1]))
    out = run_script(node, FACTORY + [f"snapshot-load {n}.bin" for n in ("v2", "digest", "damaged", "short")])
    assert [s["status"] for s in states(out, "snapshot-load")] == ["state"] * 4


def test_switch_records_continue_in_the_other_page_when_one_is_full(node):
    """512 record words fit a 2 KiB page: 260 updates (a trial and a confirmation word each)
    carry the records over into the second page; every boot finds the newest."""
    cycles = 260
    lines = list(FACTORY)
    for _ in range(cycles):
        lines += ["install B.nmc", f"run nominal.bin {TRIAL_WINDOWS}"]
    out = run_script(node, lines + ["boot"])
    runs = states(out, "run")
    assert [r["generation"] for r in runs] == [str(2 * (i + 1)) for i in range(cycles)]
    assert [r["active"] for r in runs] == [str((i + 1) % 2) for i in range(cycles)]
    final = states(out, "boot")[-1]
    assert (final["status"], final["active"], final["state"], final["generation"]) == ("ok", "0", "1", str(2 * cycles))


def test_no_fallback_for_a_network_the_firmware_does_not_run(node):
    """An update may carry another network than the one compiled into the CPU fallback: it
    runs on the chip, but when the chip misses its deadline the window has no result (the
    CPU never runs a network other than the image's), and on trial that rolls back."""
    out = run_script(node, FACTORY + ["install other.nmc", "run nominal.bin 1", "chip-miss-after 50",
                                      "run nominal.bin 1", "boot"])
    install, = states(out, "install")
    assert (install["status"], install["active"], install["state"], install["fallback_matches"]) == ("ok", "1", "2", "0")
    windows = [line for line in out if line.startswith("window ")]
    assert windows[1] == "window class=none fallback=0 counts=-"
    run = states(out, "run")[1]
    assert (run["active"], run["state"], run["lost"], run["misses"], run["rollbacks"]) == ("0", "1", "1", "1", "1")
    assert loaded(node, out) == ["A", "other", "A", "A"]
    same = run_script(node, FACTORY + ["install B.nmc", "chip-miss-after 50", "run nominal.bin 1"])
    assert states(same, "install")[0]["fallback_matches"] == "1"
    assert [line.split()[2] for line in same if line.startswith("window ")] == ["fallback=1"]


def test_learning_unlocks_only_where_spec_and_image_allow_it(tmp_path):
    """Below SIL 1 a spec may unlock learning; the node then allows it for an image whose
    policy unlocks it too, and still refuses it for a locked image."""
    from engine.codegen.firmware import FirmwareInputs, firmware_files

    result, resolved = example("acoustic-xylo")
    assert resolved.spec.safety.class_ == "none"
    spec = attrs.evolve(resolved.spec, runtime=attrs.evolve(resolved.spec.runtime, learning="unlocked"))
    contents = read_image(result.files["model.nmc"])
    unlocked = attrs.evolve(contents, policy=attrs.evolve(contents.policy, learning_locked=False))
    files = {f"firmware/{k}": v for k, v in firmware_files(
        unlocked, FirmwareInputs("specs/examples/acoustic-xylo.yaml", spec, resolved.chain, None)).items()}
    files["firmware/nmc_format.h"] = result.files["firmware/nmc_format.h"]
    folder = write_firmware(files, tmp_path / "fw")
    make(folder, "host")
    (folder / "unlocked.nmc").write_bytes(write_image(unlocked, None))
    (folder / "locked.nmc").write_bytes(result.files["model.nmc"])
    node = {"folder": folder, "sha": {"unlocked": hashlib.sha256(write_image(unlocked, None)).hexdigest(),
                                      "locked": hashlib.sha256(result.files["model.nmc"]).hexdigest()}}
    out = run_script(node, ["factory unlocked.nmc 0", "boot", "learning 1", "factory locked.nmc 1",
                            "corrupt 100", "boot", "learning 1"])
    assert [s["status"] for s in states(out, "learning")] == ["ok", "learning"]
    assert [s["active"] for s in states(out, "boot")] == ["0", "1"]
    assert [line.split()[1] for line in out if line.startswith("chip-load")] == ["learning=0", "learning=1",
                                                                                  "learning=0"]


def test_power_lost_while_the_records_move_to_the_other_page(node, tmp_path, monkeypatch):
    """With 256-byte pages (64 record words) the 33rd update's switch word goes to the other
    page, which is erased first: losing power at the erase, at the switch word or at the
    confirmation still boots a verified model, and the update completes afterwards."""
    from engine.codegen import firmware

    monkeypatch.setattr(firmware, "FLASH_PAGE", 256)
    result, resolved = example("compressor", KEY)
    files = {f"firmware/{k}": v for k, v in firmware.firmware_files(
        read_image(result.files["model.nmc"]),
        firmware.FirmwareInputs("specs/examples/compressor.yaml", resolved.spec, resolved.chain,
                                KEY.public_key().public_bytes_raw())).items()}
    files["firmware/nmc_format.h"] = result.files["firmware/nmc_format.h"]
    folder = write_firmware(files, tmp_path / "fw")
    make(folder, "host")
    for name in ("A.nmc", "B.nmc", "nominal.bin"):
        (folder / name).write_bytes((node["folder"] / name).read_bytes())
    small = dict(node, folder=folder)
    config = (folder / "nmc_config.h").read_text()
    slot_pages = int(re.search(r"#define NM_SLOT_SIZE (\d+)", config).group(1)) // 256
    chunks = -(-len(node["images"]["B"]) // 4096)
    filled = []
    for _ in range(32):
        filled += ["install B.nmc", f"run nominal.bin {TRIAL_WINDOWS}"]
    for k in (slot_pages + chunks, slot_pages + chunks + 1, slot_pages + chunks + 2):
        out = run_script(small, FACTORY + filled + [f"power-after {k}", "install B.nmc", f"run nominal.bin {TRIAL_WINDOWS}",
                                                    "power-after -1", "boot", "install B.nmc",
                                                    f"run nominal.bin {TRIAL_WINDOWS}", "boot"])
        assert "power-lost" in out, k
        boots = states(out, "boot")
        assert all(b["status"] == "ok" for b in boots), (k, boots)
        assert set(loaded(small, out)) <= {"A", "B"}
        assert int(boots[1]["generation"]) >= 64 and int(boots[-1]["generation"]) > 64, (k, boots)
        assert (boots[-1]["state"], boots[-1]["active"]) == ("1", states(out, "run")[-1]["active"]), k
