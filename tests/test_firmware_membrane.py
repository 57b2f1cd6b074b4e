"""A membrane-readout image on the node: the firmware built for it, compiled for the host
(with ASan/UBSan, as the other firmware tests), runs the network in its CPU model with the
readout's membrane equal to the kernel's bit for bit, and the runtime decides each window
from the readout's membrane peaks as the kernel does.

The network is Norse's own export of a LIFCell -> LIBoxCell (LI) classifier
(tests/data/frameworks/norse_lif_li.nir), quantized on its recorded input for a Xylo IMU (the
readout's Vmem, 16 bits) and for Loihi 2 (the readout's v, 24 bits: du 4095 passes the step's
input through the current, vth at the state word's top). The host platform's chip is the
same CPU model, so its readout membrane is the one the runtime reads after each step, as the
real chip's would be over its register interface (Xylo) or the neuron process's v (Loihi); a
chip that stops answering hands the window to the CPU with the same result."""

from __future__ import annotations

import numpy as np
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from engine.codegen.firmware import FirmwareInputs, firmware_files
from engine.image import (
    ImageContents,
    IOMap,
    Metadata,
    RuntimePolicy,
    Target,
    generate_c_header,
    write_image,
)
from engine.resolve.floatnet import classify
from engine.resolve.nir_import import read_nir
from engine.resolve.quantize import quantize
from engine.verify import kernel
from tests.firmware_support import ROOT, example, make, parse_rows, run_program, write_firmware
from tests.test_firmware_fallback import compare_with_kernel

KEY = Ed25519PrivateKey.from_private_bytes(bytes(range(32)))
FIXTURE = ROOT / "tests" / "data" / "frameworks"
LABELS = ("normal", "leak", "chatter")


@pytest.fixture(scope="module", params=[("xylo", "xylo-imu"), ("loihi", "loihi2")], ids=["xylo", "loihi"])
def node(request, tmp_path_factory):
    family, chip = request.param
    record = np.load(FIXTURE / "norse_lif_li.npz")
    counts = np.rint(record["input"]).astype(np.int64)
    net = read_nir(FIXTURE / "norse_lif_li.nir", dt=1e-3, convention="norse")
    network = quantize(net, family, stimuli=counts[None].astype(np.float64)).network
    assert network.readout == "membrane"
    if family == "loihi":  # the LI as Loihi runs it: the current passes the input through, vth out of reach
        readout = next(p for p in network.populations if p.name == network.output)
        assert (readout.params["du"].tolist(), readout.params["vth"].tolist()) == ([4095] * 3, [2**17 - 1] * 3)
    result, resolved = example("compressor", KEY)
    contents = ImageContents(Metadata("membrane-test", result.report["spec_hash"], "0", "norse", LABELS),
                             Target(chip, family), network, IOMap(tuple(f"in{i}" for i in range(5)), LABELS),
                             RuntimePolicy(True, (1_000_000, 0, 0), (1_000_000,) * 3, 0, 0, 0, 60))
    image = write_image(contents, KEY)
    files = {f"firmware/{k}": v for k, v in firmware_files(
        contents, FirmwareInputs("specs/membrane.yaml", resolved.spec, None, KEY.public_key().public_bytes_raw()),
        image).items()}
    files["firmware/nmc_format.h"] = generate_c_header().encode()
    folder = write_firmware(files, tmp_path_factory.mktemp(f"membrane-{family}"))
    make(folder, "host")
    (folder / "A.nmc").write_bytes(image)
    steps = int(next(line for line in (folder / "nmc_config.h").read_text().splitlines()
                     if line.startswith("#define NM_WINDOW_STEPS")).split()[2].rstrip("UL"))
    return {"folder": folder, "network": network, "counts": counts, "steps": steps}


def test_the_cpu_model_runs_the_readout_membrane_as_the_kernel(node, tmp_path):
    rng = np.random.default_rng(11)
    inputs = np.concatenate([node["counts"], rng.integers(0, 3, size=(50, 5))]).astype(np.uint8)
    assert compare_with_kernel(node["folder"] / "fw_host", node["network"], inputs, tmp_path) > 0
    rows = parse_rows(run_program([node["folder"] / "fw_host", "fallback", tmp_path / "inputs.bin"]), 2)
    membrane = np.array(rows["V"][-1])
    assert np.ptp(membrane) > 0  # the readout's membrane moves
    if node["network"].family == "loihi":  # beyond 16 bits: the read path carries Loihi's 24-bit v whole
        assert np.abs(membrane).max() > 2**22


@pytest.mark.parametrize("miss", [None, 70])
def test_the_runtime_decides_each_window_by_the_membrane_peaks(node, tmp_path, miss):
    """Three windows, each driving another input channel; the runtime's class and the
    peaks the host saw equal the kernel's from the zero state of each window, on the chip and
    (a missed deadline at step 70) on the CPU model that takes over."""
    steps, network = node["steps"], node["network"]
    rng = np.random.default_rng(4)
    windows = (rng.random((3, steps, 5)) < 0.05).astype(np.uint8)  # sparse noise on every channel
    for w, channel in enumerate((4, 1, 3)):  # and one channel driven on every step
        windows[w, :, channel] = 1
    (node["folder"] / "in.bin").write_bytes(windows.reshape(-1, 5).tobytes())
    script = ["factory A.nmc 0", "boot"] + ([f"chip-miss-after {miss}"] if miss else []) + ["run in.bin 3"]
    (node["folder"] / "script.txt").write_text("\n".join(script) + "\n")
    out = run_program([node["folder"] / "fw_host", "script", "script.txt"], cwd=node["folder"]).splitlines()
    lines = [line for line in out if line.startswith("window ")]
    runs = [kernel.run(network, w.astype(np.int64)) for w in windows]
    expected = [r.output_scores(network) for r in runs]
    classes = classify(np.array(expected)).tolist()
    assert len(set(classes)) > 1, classes  # the windows decide differently
    # a membrane driven into saturation reaches the threshold at the state word's top and
    # spikes: the counts say so, the class comes from the peaks all the same
    counts = [",".join(str(int(c)) for c in r.output_counts(network.output)) for r in runs]
    assert lines == [f"window class={c} fallback={int(bool(miss))} counts={n} peaks={','.join(str(int(p)) for p in e)}"
                     for c, n, e in zip(classes, counts, expected)]


def _resigned(data: bytes) -> bytes:
    """An image changed in place, with its checksums, hash and signature made good again."""
    from engine.image import layout as L
    from tests.test_image_tamper import reseal

    out = bytearray(reseal(data))
    trailer = len(out) - L.TRAILER.size
    at = trailer + L.TRAILER_SIGNED
    out[at:at + 64] = KEY.sign(bytes(out[:at]))
    return bytes(out)


def test_the_runtime_refuses_a_readout_it_does_not_know(node):
    """A READOUT value other than 0 and 1, or the tag in an image stamped 2.1, is refused at
    install (NM_RT_ERR_IMAGE) though signed by the node's key; the image as built installs."""
    import struct

    from engine import image as image_package
    from engine.image import layout as L

    data = (node["folder"] / "A.nmc").read_bytes()
    network = next(s for s in image_package.parse_image(data).sections if s.type_name == "NETWORK")
    header = struct.pack("<HBB", L.tag_id("NETWORK", "READOUT"), 1, 0)
    at = data.index(header, network.offset, network.offset + network.size) + L.BLOCK.size
    assert data[at] == 1
    two = bytearray(data)
    two[at] = 2
    older = bytearray(data)
    struct.pack_into("<H", older, L.HEADER.offsets["version_minor"], 1)
    for name, changed in (("two", two), ("older", older), ("same", data)):  # same: resigned, unchanged
        (node["folder"] / f"{name}.nmc").write_bytes(_resigned(bytes(changed)))
    (node["folder"] / "script.txt").write_text("factory A.nmc 0\nboot\ninstall two.nmc\ninstall older.nmc\n"
                                               "install same.nmc\n")
    out = run_program([node["folder"] / "fw_host", "script", "script.txt"], cwd=node["folder"]).splitlines()
    statuses = [line.split()[1] for line in out if line.startswith("install ")]
    assert statuses == ["status=image", "status=image", "status=ok"]
