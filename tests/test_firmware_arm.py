"""The same firmware sources on an emulated Cortex-M4: `make arm` (arm-none-eabi-gcc,
newlib semihosting) and fw.elf under `qemu-system-arm -M mps2-an386`. Its spikes, every
population every step, equal the kernel's; fed raw samples, its signal chain makes the
input spikes the Python fixed-point chain makes."""

from __future__ import annotations

import numpy as np
import pytest

from engine.codegen.measure import (
    INSTRUCTIONS_PER_TICK,
    arm_size,
    measure_cortex_m4,
    run_qemu,
    timing,
)
from engine.verify import kernel
from tests.firmware_support import EXAMPLES, example, make, network_of, parse_rows, write_firmware

STEPS = 40  # a short run: QEMU prints through semihosting


@pytest.fixture(scope="module", params=EXAMPLES)
def arm(request, tmp_path_factory):
    result, resolved = example(request.param)
    folder = write_firmware(result.files, tmp_path_factory.mktemp(f"arm-{request.param}"))
    make(folder, "arm")
    return result, resolved, folder


def test_emulated_fallback_equals_kernel(arm):
    result, resolved, folder = arm
    network = network_of(result.files)
    spikes = resolved.chain.run(resolved.stimuli.samples[-1])[:STEPS]  # a fault window
    (folder / "in.bin").write_bytes(spikes.astype(np.uint8).tobytes())
    rows = parse_rows(run_qemu(folder, "in.bin"), len(network.populations))
    reference = kernel.run(network, spikes.astype(np.int64))
    for index, pop in enumerate(network.populations):
        np.testing.assert_array_equal(np.array(rows["S"][index]), reference.spikes[pop.name], err_msg=pop.name)
    assert reference.spikes[network.output].sum() + sum(reference.spikes[p.name].sum() for p in network.populations) > 0


def test_emulated_chain_and_network_equal_python_and_kernel(arm):
    result, resolved, folder = arm
    network = network_of(result.files)
    hop = resolved.chain.samples_per_frame()
    samples = resolved.stimuli.samples[0][: hop * 12]
    (folder / "samples.bin").write_bytes(np.ascontiguousarray(samples, dtype="<i2").tobytes())
    output = run_qemu(folder, "samples.bin", "chain")
    rows = parse_rows(output, len(network.populations))
    expected_counts = resolved.chain.run(samples)
    np.testing.assert_array_equal(np.array(rows["C"][0]), expected_counts)
    reference = kernel.run(network, expected_counts.astype(np.int64))
    for index, pop in enumerate(network.populations):
        np.testing.assert_array_equal(np.array(rows["S"][index]), reference.spikes[pop.name], err_msg=pop.name)
    ticks = timing(output)
    assert ticks["samples"] == samples.shape[0] and ticks["chain_ticks"] > 0 and ticks["net_ticks"] > 0


def test_size_report_matches_the_elf(arm):
    result, resolved, folder = arm
    sizes = arm_size(folder / "fw.elf")
    config = result.files["firmware/nmc_config.h"].decode()
    assert f"#define NM_SLOT_SIZE {(sizes['model_slots_bytes'] - 2 * 2048) // 2}UL" in config
    assert sizes["flash_bytes"] == sizes["text"] + sizes["data"]
    assert sizes["ram_bytes"] == sizes["data"] + sizes["bss"] - sizes["model_slots_bytes"]
    # the network's const tables are in flash: at least 4 bytes per synapse value
    assert sizes["text"] > 4 * network_of(result.files).n_synapses
    measured = measure_cortex_m4(result.files, resolved.stimuli.samples[0][: resolved.chain.samples_per_frame() * 4],
                                 resolved.chain.sample_rate)
    assert {k: measured[k] for k in sizes} == sizes
    assert measured["chain_instructions_per_s"] > 0 and measured["network_instructions_per_step"] > 0
    assert INSTRUCTIONS_PER_TICK == 40


def test_emulated_runtime_boots_the_image_and_runs_it_on_the_cpu(arm):
    """On the emulated board (no chip, no crypto library) the runtime boots model.nmc from
    flash and, every step missing the chip's deadline, runs each window on the CPU with the
    kernel's results; where the spec requires signed images, nothing runs."""
    result, resolved, folder = arm
    network = network_of(result.files)
    windows = resolved.chain.run(resolved.stimuli.samples[-2:])
    (folder / "model.nmc").write_bytes(result.files["model.nmc"])
    (folder / "in.bin").write_bytes(windows.astype(np.uint8).tobytes())
    out = run_qemu(folder, "runtime", "model.nmc", "in.bin", "2").splitlines()
    config = result.files["firmware/nmc_config.h"].decode()
    if "#define NM_REQUIRE_SIGNATURE 1UL" in config:
        assert out[:2] == ["slot 0 check=unsigned", "boot status=no-model active=-1 fallback_matches=0"]
        assert not [line for line in out if line.startswith(("window", "chip-load"))]
        return
    assert out.pop(0) == "slot 0 check=ok"
    assert out[0] == f"chip-load bytes={len(result.files['model.nmc'])} learning=0"
    assert out[1] == "boot status=ok active=0 fallback_matches=1"
    expected = []
    for window in windows:
        counts = kernel.run(network, window.astype(np.int64)).output_counts(network.output)
        cls = int(np.argmax(counts))
        expected.append(f"window class={cls} fallback=1 counts={','.join(str(int(c)) for c in counts)}")
    assert [line for line in out if line.startswith("window")] == expected
    assert out[-1] == "run status=ok misses=2 fallback_windows=2"


def test_signed_only_firmware_verifies_ed25519_on_the_emulated_board(tmp_path):
    """The compressor (SIL 2: signed images only) built with a key: on the emulated
    Cortex-M4, Monocypher's Ed25519 accepts the signed image and runs it, and refuses one
    altered behind its checksums (section CRCs and SHA-256 repaired), one whose key id was
    rewritten to name the trusted key, and one signed by a foreign key."""
    import hashlib
    import struct
    import zlib

    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from engine.image import layout as L
    from engine.image import parse_image, read_image, write_image
    from engine.image.keys import key_id

    key = Ed25519PrivateKey.from_private_bytes(bytes(range(32)))
    foreign = Ed25519PrivateKey.from_private_bytes(bytes(range(5, 37)))
    result, resolved = example("compressor", key)
    assert b"#define NM_REQUIRE_SIGNATURE 1UL" in result.files["firmware/nmc_config.h"]
    folder = write_firmware(result.files, tmp_path / "fw")
    make(folder, "arm")
    image = result.files["model.nmc"]

    def reseal(data: bytearray) -> bytes:
        trailer = len(data) - L.TRAILER.size
        table = struct.unpack_from("<I", data, L.HEADER.offsets["table_offset"])[0]
        for i, s in enumerate(parse_image(image).sections):
            struct.pack_into("<I", data, table + i * L.SECTION_ENTRY.size + L.SECTION_ENTRY.offsets["crc32"],
                             zlib.crc32(bytes(data[s.offset:s.offset + s.size])))
        struct.pack_into("<I", data, L.HEADER.offsets["crc32"], 0)
        struct.pack_into("<I", data, L.HEADER.offsets["crc32"], zlib.crc32(bytes(data[:trailer])))
        data[trailer + L.TRAILER_HASHED:trailer + L.TRAILER_SIGNED] = hashlib.sha256(bytes(data[:trailer + L.TRAILER_HASHED])).digest()
        return bytes(data)

    policy = next(s for s in parse_image(image).sections if s.type_name == "POLICY")
    altered = bytearray(image)
    altered[policy.offset + L.BLOCK.size + 4] ^= 0x01  # a class share, one bit
    claimed = bytearray(write_image(read_image(image), foreign))
    at = len(claimed) - L.TRAILER.size + L.TRAILER.offsets["key_id"]
    claimed[at:at + 32] = key_id(key.public_key())
    cases = {"signed": image, "altered": reseal(altered), "claimed": reseal(claimed),
             "foreign": write_image(read_image(image), foreign)}
    windows = resolved.chain.run(resolved.stimuli.samples[-1:])
    (folder / "in.bin").write_bytes(windows.astype(np.uint8).tobytes())
    first = {}
    for name, data in cases.items():
        (folder / f"{name}.nmc").write_bytes(data)
        out = run_qemu(folder, "runtime", f"{name}.nmc", "in.bin", "1").splitlines()
        first[name] = out[0]
        if name == "signed":
            assert out[1:3] == [f"chip-load bytes={len(image)} learning=0", "boot status=ok active=0 fallback_matches=1"]
            assert len([line for line in out if line.startswith("window class=")]) == 1
        else:
            assert out[1] == "boot status=no-model active=-1 fallback_matches=0", (name, out)
            assert not [line for line in out if line.startswith(("window", "chip-load"))]
    assert first == {"signed": "slot 0 check=ok", "altered": "slot 0 check=signature",
                     "claimed": "slot 0 check=signature", "foreign": "slot 0 check=key"}
