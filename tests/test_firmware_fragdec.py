"""The firmware's fragment decoder (templates/fragdec.c.j2) rebuilding an image from a
TS004 fragment stream into the backup slot, on the host build (ASan/UBSan) of the compressor
example (signed images) and on the emulated Cortex-M4 (acoustic-xylo, unsigned): exact SHA-256
of the rebuilt image with 0 %, 10 % and 30 % of the fragments lost at random, refusal with
too many lost, and a power loss in the middle of reassembly that leaves the running model
in place."""

from __future__ import annotations

import hashlib
import re

import attrs
import numpy as np
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from engine.codegen.measure import run_qemu
from engine.delivery.fragments import encode, session_for
from engine.image import read_image, write_image
from tests.firmware_support import example, make, run_program, write_firmware

KEY = Ed25519PrivateKey.from_private_bytes(bytes(range(32)))
FRAGMENT = 48  # EU868 DR0-2: 51-byte application payload less the 3-byte DataFragment header


def other_image(image: bytes, key) -> bytes:
    """The same network under another model name: an update the running firmware accepts."""
    contents = read_image(image)
    return write_image(attrs.evolve(contents, metadata=attrs.evolve(contents.metadata, model_name="update")), key)


def stream(image: bytes, parity: int, loss: float, seed: int, extra: bytes = b"") -> tuple[bytes, int]:
    session = session_for(len(image), FRAGMENT, parity)
    fragments = encode(image, session)
    rng = np.random.default_rng(seed)
    kept = [f for f in fragments if rng.random() >= loss]
    return session.setup_request() + extra + b"".join(kept), session.data_fragments


def outcome(text: str) -> dict[str, str]:
    line, = [line for line in text.splitlines() if line.startswith("fragments status=") and "install=" in line]
    return dict(field.split("=", 1) for field in line.split()[1:])


@pytest.fixture(scope="module")
def host(tmp_path_factory):
    result, _ = example("compressor", KEY)
    folder = write_firmware(result.files, tmp_path_factory.mktemp("fragdec"))
    make(folder, "host")
    image_a = result.files["model.nmc"]
    (folder / "A.nmc").write_bytes(image_a)
    return folder, image_a, other_image(image_a, KEY)


def run_host(folder, lines):
    (folder / "script.txt").write_text("\n".join(lines) + "\n")
    return run_program([folder / "fw_host", "script", folder / "script.txt"], cwd=folder)


def chip_loads(text: str) -> list[str]:
    return [line.split("sha256=")[1] for line in text.splitlines() if line.startswith("chip-load ")]


@pytest.mark.parametrize("loss, seed", [(0.0, 1), (0.1, 2), (0.3, 3)])
def test_host_rebuilds_the_image_under_loss(host, loss, seed):
    folder, image_a, image_b = host
    data, m = stream(image_b, parity=80, loss=loss, seed=seed)
    (folder / "s.bin").write_bytes(data)
    out = run_host(folder, ["factory A.nmc 0", "boot", "fragments s.bin", "boot"])
    result = outcome(out)
    assert result["status"] == "done" and result["install"] == "ok"
    assert result["sha256"] == hashlib.sha256(image_b).hexdigest()
    assert int(result["received"]) == m
    slot = int(re.search(r"#define NM_SLOT_SIZE (\d+)", (folder / "nmc_config.h").read_text()).group(1))
    assert int(result["ram"]) == ram_bytes(8, 4, slot)
    if loss:
        assert int(result["lost"]) > 0  # parity did the work
    state = next(line for line in out.splitlines() if line.startswith("fragments status=ok"))
    assert "active=1 state=2" in state  # the update's sanity window runs (docs/firmware.md)
    assert chip_loads(out) == [hashlib.sha256(image_a).hexdigest()] + [hashlib.sha256(image_b).hexdigest()] * 2


def test_host_refuses_with_too_many_lost(host):
    folder, image_a, image_b = host
    data, _m = stream(image_b, parity=20, loss=0.3, seed=4)
    (folder / "s.bin").write_bytes(data)
    out = run_host(folder, ["factory A.nmc 0", "boot", "fragments s.bin", "boot", "run nominal.bin 0"])
    result = outcome(out)
    assert (result["status"], result["sha256"]) == ("lost", "0" * 64)
    assert int(result["lost"]) > int(result["parity"])
    assert "fragments status=ok active=0 state=1 generation=0" in out
    assert chip_loads(out) == [hashlib.sha256(image_a).hexdigest()] * 2


def test_host_ignores_a_frame_of_another_session(host):
    folder, _, image_b = host
    stray = bytes([0x08]) + ((1 << 14) | 1).to_bytes(2, "little") + bytes(FRAGMENT)
    data, _ = stream(image_b, parity=10, loss=0.0, seed=5, extra=stray)
    (folder / "s.bin").write_bytes(data)
    result = outcome(run_host(folder, ["factory A.nmc 0", "boot", "fragments s.bin"]))
    assert (result["status"], result["sha256"]) == ("done", hashlib.sha256(image_b).hexdigest())


def test_power_loss_during_reassembly_leaves_the_running_model(host):
    """Power fails after the slot erase and 40 fragment writes; the node boots on A, and a
    new session afterwards completes."""
    folder, image_a, image_b = host
    slot = int(re.search(r"#define NM_SLOT_SIZE (\d+)", (folder / "nmc_config.h").read_text()).group(1))
    page = int(re.search(r"#define NM_FLASH_PAGE (\d+)", (folder / "nmc_config.h").read_text()).group(1))
    data, _ = stream(image_b, parity=40, loss=0.1, seed=6)
    (folder / "s.bin").write_bytes(data)
    out = run_host(folder, ["factory A.nmc 0", "boot", f"power-after {slot // page + 40}", "fragments s.bin",
                            "boot", "fragments s.bin"])
    lines = out.splitlines()
    assert "power-lost" in lines
    boots = [line for line in lines if line.startswith("boot ")]
    assert "active=0 state=1 generation=0" in boots[1] and "rollbacks=0" in boots[1]
    result = outcome(out)
    assert (result["status"], result["sha256"]) == ("done", hashlib.sha256(image_b).hexdigest())
    assert chip_loads(out) == [hashlib.sha256(image_a).hexdigest()] * 2 + [hashlib.sha256(image_b).hexdigest()]


def ram_bytes(pointer: int, enum: int, slot: int) -> int:
    """sizeof(nm_frag_decoder_t) from fragdec.h's bounds (docs/field-updates.md); the ARM
    EABI's bare-metal ABI stores an enum in the smallest integer that holds its values."""
    max_data, max_lost, max_parity, max_size = slot // 16, 96, 128, 255
    row_words = (max_lost + 31) // 32 + (max_parity + 31) // 32
    head = pointer + 8 * 4 + 2 * enum  # runtime pointer, eight counters, two status enums
    head = -(-head // 2) * 2
    size = head + 2 * max_parity + 2 * max_lost + 2 * ((max_data + 7) // 8)
    size = -(-size // 4) * 4 + 4 * max_parity * row_words + 2 * max_size
    return -(-size // pointer) * pointer


@pytest.fixture(scope="module")
def arm(tmp_path_factory):
    result, _ = example("acoustic-xylo")
    folder = write_firmware(result.files, tmp_path_factory.mktemp("fragdec-arm"))
    make(folder, "arm")
    image_a = result.files["model.nmc"]
    (folder / "A.nmc").write_bytes(image_a)
    return folder, image_a, other_image(image_a, None)


@pytest.mark.parametrize("loss, seed, parity, expect", [(0.0, 11, 40, "done"), (0.1, 12, 40, "done"),
                                                        (0.3, 13, 80, "done"), (0.5, 14, 20, "lost")])
def test_cortex_m4_rebuilds_the_image_under_loss(arm, loss, seed, parity, expect):
    folder, _image_a, image_b = arm
    data, _ = stream(image_b, parity=parity, loss=loss, seed=seed)
    (folder / "s.bin").write_bytes(data)
    out = run_qemu(folder, "fragments", "A.nmc", "s.bin")
    result = outcome(out)
    assert result["status"] == expect
    slot = int(re.search(r"#define NM_SLOT_SIZE (\d+)", (folder / "nmc_config.h").read_text()).group(1))
    assert int(result["ram"]) == ram_bytes(4, 1, slot)
    if loss:
        assert int(result["lost"]) > 0
    if expect == "done":
        assert result["sha256"] == hashlib.sha256(image_b).hexdigest()
        assert "after active=1 state=2" in out
    else:
        assert "after active=0 state=1" in out
