"""CPU fallback against the kernel: every example's generated fallback.c, compiled for the
host with -std=c99 -Wall -Wextra -Werror and ASan/UBSan, runs the image's network on the
spec's stimuli (the input spikes the fixed-point chain makes of the recorded traces) and
prints every population's spikes and states each step; they equal the kernel's run of the
network read back from model.nmc, bit for bit. A generic-LIF network, which no example
targets, is checked the same way from hand-built contents."""

from __future__ import annotations

import numpy as np
import pytest

from engine.codegen.firmware import FirmwareInputs, firmware_files
from engine.image import ImageContents, IOMap, Metadata, RuntimePolicy, Target
from engine.verify import kernel
from tests.firmware_support import (
    EXAMPLES,
    example,
    kernel_state_names,
    make,
    network_of,
    parse_rows,
    run_program,
    write_firmware,
)
from tests.kernel_nets import layered

WINDOWS_PER_EXAMPLE = 3  # nominal and fault windows; the whole stimulus set takes minutes under ASan


@pytest.fixture(scope="module", params=EXAMPLES)
def built(request, tmp_path_factory):
    result, resolved = example(request.param)
    folder = write_firmware(result.files, tmp_path_factory.mktemp(request.param))
    make(folder, "host")
    return request.param, result, resolved, folder


def stimulus_windows(resolved) -> np.ndarray:
    spikes = resolved.chain.run(resolved.stimuli.samples)  # (windows, frames, channels) uint8
    labels = np.asarray(resolved.stimuli.labels)
    picks = [int(np.flatnonzero(labels == 0)[0]), int(np.flatnonzero(labels != 0)[0]), len(labels) - 1]
    return spikes[picks[:WINDOWS_PER_EXAMPLE]]


def compare_with_kernel(exe, network, counts: np.ndarray, tmp_path) -> int:
    path = tmp_path / "inputs.bin"
    path.write_bytes(np.ascontiguousarray(counts, dtype=np.uint8).tobytes())
    rows = parse_rows(run_program([exe, "fallback", path]), len(network.populations))
    reference = kernel.run(network, counts.astype(np.int64), record=True)
    checked = 0
    for index, pop in enumerate(network.populations):
        syn_name, v_name = kernel_state_names(network.family, pop.name)
        spikes = np.array(rows["S"][index])
        syn = np.array(rows["I"][index]).reshape(reference.states[syn_name].shape)
        v = np.array(rows["V"][index])
        np.testing.assert_array_equal(spikes, reference.spikes[pop.name], err_msg=f"{pop.name} spikes")
        np.testing.assert_array_equal(syn, reference.states[syn_name], err_msg=syn_name)
        np.testing.assert_array_equal(v, reference.states[v_name], err_msg=v_name)
        checked += spikes.size
    return checked


def test_fallback_equals_kernel_on_the_spec_stimuli(built, tmp_path):
    name, result, resolved, folder = built
    network = network_of(result.files)
    windows = stimulus_windows(resolved)
    spiking = 0
    for window in windows:
        compare_with_kernel(folder / "fw_host", network, window, tmp_path)
        spiking += int(kernel.run(network, window.astype(np.int64)).spikes[network.output].sum())
    # the comparison means something only when the readout fires
    assert spiking > 0, name


def test_fallback_equals_kernel_in_saturation(built, tmp_path):
    """Inputs far above the stimuli's drive the states into their limits."""
    _, result, _, folder = built
    network = network_of(result.files)
    rng = np.random.default_rng(7)
    counts = rng.integers(0, 40, size=(60, network.n_inputs)).astype(np.uint8)
    counts[::7] = 255
    compare_with_kernel(folder / "fw_host", network, counts, tmp_path)


def host_firmware(result, resolved, network, family, chip, tmp_path):
    """The host firmware for hand-built contents of a 6-input, 3-class network on `chip`,
    with the compressor example's spec and format header, compiled."""
    labels = ("a", "b", "c")
    contents = ImageContents(
        Metadata(f"{family}-test", result.report["spec_hash"], "0", family, labels), Target(chip, family), network,
        IOMap(tuple(f"in{i}" for i in range(6)), labels),
        RuntimePolicy(True, (1_000_000, 0, 0), (100_000,) * 3, 0, 0, 10, 60))
    files = firmware_files(contents, FirmwareInputs(f"specs/{family}.yaml", resolved.spec, None, None))
    files = {f"firmware/{k}": v for k, v in files.items()}
    files["firmware/nmc_format.h"] = result.files["firmware/nmc_format.h"]
    folder = write_firmware(files, tmp_path / "fw")
    make(folder, "host")
    return folder


def test_generic_lif_fallback_equals_kernel(tmp_path):
    result, resolved = example("compressor")
    rng = np.random.default_rng(3)
    network = layered("lif", [6, 9, 5, 3], rng)
    folder = host_firmware(result, resolved, network, "lif", "generic-lif", tmp_path)
    counts = rng.integers(0, 4, size=(80, 6)).astype(np.uint8)
    assert compare_with_kernel(folder / "fw_host", network, counts, tmp_path) > 0
    assert kernel.run(network, counts.astype(np.int64)).spikes[network.output].sum() > 0


def test_chain_and_fallback_on_raw_samples_equal_python_and_kernel(built, tmp_path):
    """The whole node path on the host: int16 samples -> C signal chain -> C fallback, against
    the Python fixed-point chain and the kernel."""
    _, result, resolved, folder = built
    network = network_of(result.files)
    samples = resolved.stimuli.samples[-1]  # one full fault window
    path = tmp_path / "samples.bin"
    path.write_bytes(np.ascontiguousarray(samples, dtype="<i2").tobytes())
    rows = parse_rows(run_program([folder / "fw_host", "chain", path]), len(network.populations))
    counts = resolved.chain.run(samples)
    np.testing.assert_array_equal(np.array(rows["C"][0]), counts)
    reference = kernel.run(network, counts.astype(np.int64))
    for index, pop in enumerate(network.populations):
        np.testing.assert_array_equal(np.array(rows["S"][index]), reference.spikes[pop.name], err_msg=pop.name)
    assert reference.spikes[network.output].sum() > 0


def test_speck_fallback_equals_kernel(tmp_path):
    """A Speck network from hand-built contents: one spike per event, spikes handed on within
    the step, floors, both resets and the bias leak, spikes and membranes bit for bit."""
    from tests.test_kernel_speck import random_net

    result, resolved = example("compressor")
    rng = np.random.default_rng(5)
    network = random_net(rng, [6, 9, 5, 3], skip=True)
    folder = host_firmware(result, resolved, network, "speck", "speck", tmp_path)
    counts = rng.integers(0, 6, size=(80, 6)).astype(np.uint8)
    path = tmp_path / "inputs.bin"
    path.write_bytes(np.ascontiguousarray(counts, dtype=np.uint8).tobytes())
    rows = parse_rows(run_program([folder / "fw_host", "fallback", path]), len(network.populations))
    reference = kernel.run(network, counts.astype(np.int64), record=True)
    assert max(int(s.max()) for s in reference.spikes.values()) > 1  # several spikes in one step happen
    assert reference.spikes[network.output].sum() > 0
    for index, pop in enumerate(network.populations):
        np.testing.assert_array_equal(np.array(rows["S"][index]), reference.spikes[pop.name], err_msg=pop.name)
        np.testing.assert_array_equal(np.array(rows["V"][index]), reference.states[f"{pop.name}.v"], err_msg=pop.name)
