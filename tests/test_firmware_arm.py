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
        assert out[0] == "boot status=no-model active=-1 fallback_matches=0"
        assert not [line for line in out if line.startswith(("window", "chip-load"))]
        return
    assert out[0] == f"chip-load bytes={len(result.files['model.nmc'])} learning=0"
    assert out[1] == "boot status=ok active=0 fallback_matches=1"
    expected = []
    for window in windows:
        counts = kernel.run(network, window.astype(np.int64)).output_counts(network.output)
        cls = int(np.argmax(counts))
        expected.append(f"window class={cls} fallback=1 counts={','.join(str(int(c)) for c in counts)}")
    assert [line for line in out if line.startswith("window")] == expected
    assert out[-1] == "run status=ok misses=2 fallback_windows=2"
