"""Chip limits as the chips' own documents state them, worked by hand: Xylo's 8-bit bias,
its readout and its recurrent weight memory, Loihi's mixed-sign weight range, the Xylo IMU /
Audio 3 cycle model, binary spikes on Loihi 1, the cells' service life and temperature range."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from kernel_nets import xylo
from test_kernel_cycles import tiny_xylo
from test_quantize import W_HIDDEN, W_OUT, cuba, two_layer

from engine.catalog import builtin_catalog
from engine.mapping.target import core_spec_from_catalog
from engine.resolve.fit import bits_needed, check_fit
from engine.resolve.quantize import quantize
from engine.verify.cycles import count_cycles, cycle_model
from engine.verify.kernel import run

ROOT = Path(__file__).resolve().parents[1]


def test_loihi_mixed_sign_matrices_take_minus_256_in_8_bits():
    # Lava's bit-accurate Dense keeps mixed-sign weights in [-256, 255] with 8 bits
    assert bits_needed(np.array([-256, 254]), "loihi") == 8
    assert bits_needed(np.array([-257, 3]), "loihi") == 9
    assert bits_needed(np.array([0, 255]), "loihi") == 8  # excitatory only: [0, 255]
    assert bits_needed(np.array([-256, 0]), "loihi") == 9  # inhibitory only: [-255, 0]
    assert bits_needed(np.array([-128, 127]), "xylo") == 8  # two's complement
    assert bits_needed(np.array([-129, 0]), "xylo") == 9


def test_xylo_bias_stays_within_int8_by_lowering_the_scale():
    # v_leak 0.5 and -0.25 give a drive of 0.125 and -0.0625 per step; the weights alone would
    # allow scale 4064 (bias 508, out of int8): the bias sets scale 127 / 0.125 = 1016 instead
    hidden = cuba(2)
    hidden.v_leak = np.array([0.5, -0.25])
    result = quantize(two_layer(W_HIDDEN, W_OUT, hidden=hidden), "xylo")
    params = result.network.population("hidden").params
    assert params["bias"].tolist() == [127, -64]  # -0.0625 * 1016 = -63.5, half to even
    assert params["threshold"].tolist() == [1016, 1016]
    assert result.network.projections[0].weights.to_dense().tolist() == [[32, 0], [-16, 0], [8, 0]]  # 2 * 1016 / 0.5 / 128
    assert result.notes[0] == "h: the 8-bit bias set the scale (weights and threshold are smaller than the state word allows)"
    fit = check_fit(result.network, builtin_catalog().part("chips", "xylo-audio2"))
    assert [(lim.used, lim.allowed) for lim in fit.limits if lim.name == "bias bits"] == [(8, 8)]


def test_xylo_limits_count_what_the_chip_documents():
    # 2 inputs, 3 hidden, 2 outputs: 4 input synapses, 3 recurrent, 4 readout
    net = xylo(2, [[5, 5, 0], [0, 5, 5]], [[0, 1, 1], [0, 0, 0], [1, 0, 0]], [[1, 1], [0, 1], [1, 0]],
               dash_syn=[[1]] * 3, dash_mem=[2] * 3, threshold=[10] * 3, bias=[0, 200, -3], alias=[-1] * 3,
               out_params=([1, 1], [1, 1], [10, 10], [0, 0]))
    chip = builtin_catalog().part("chips", "xylo-imu")
    limits = {lim.name: (lim.used, lim.allowed) for lim in check_fit(net, chip).limits}
    assert limits["recurrent synapses"] == (3, 31744)  # input and readout weights are not in that memory
    assert limits["fan-out per neuron"] == (2, 512)  # recurrent only: the readout has its own matrix
    assert limits["hidden neurons"] == (3, 496) and limits["output neurons"] == (2, 16)
    assert limits["bias bits"] == (9, 8)  # 200 needs 9 bits: refused
    assert "fan-in per neuron" in limits and limits["fan-in per neuron"][1] is None  # no documented fan-in limit
    # the mapper's single Xylo core holds the hidden neurons and the readout
    core = core_spec_from_catalog(builtin_catalog().part("chips", "xylo-audio2"), dt=1e-3)
    assert core.neurons_per_core == 1000 + 8


def test_xylo_imu_cycle_model_counts_only_expansion_neurons():
    """Rockpool's syns63300 model: the input loop runs over hidden neurons with input weights
    (here 1 of 3), the readout over those with readout weights (here none)."""
    net = tiny_xylo()
    result = run(net, np.array([[1, 0], [0, 0], [0, 0]]))
    catalog = builtin_catalog()
    imu = cycle_model(catalog.part("chips", "xylo-imu"))
    assert imu.expansion_only and not cycle_model(catalog.part("chips", "xylo-audio2")).expansion_only
    counts = count_cycles(net, result, imu)
    # step 0: inputs 2 * (1/2 * 1 * 3.5 + 1) = 5.5; Isyn 9; readout 0; spiking 60; output 12 -> 86.5
    # step 1: inputs 2; Isyn 16; readout 0 neurons * ... = 0; spiking 57; output 12         -> 87
    # step 2: 2 + 9 + 0 + 57 + 12                                                         -> 80
    assert counts.cycles[:, 0].tolist() == [86.5, 87.0, 80.0]
    # worst case: 2 * (1 * 3.5 + 1) + 3 * (7 + 3) + 0 + 3 * 22 + 12 = 117 (Audio 2's model: 158)
    assert counts.worst_case_cycles == 117.0
    assert dict(imu.provenance)["xylo step model"].endswith("syns63300/power_cycles_model.py (cycles_model)")


def test_binary_spike_chips_refuse_counts_above_one():
    from engine.resolve import binary_spike_excess

    catalog = builtin_catalog()
    counts = np.array([[[0, 1], [3, 0]]])
    assert binary_spike_excess(catalog.part("chips", "loihi1"), counts) == 3
    assert binary_spike_excess(catalog.part("chips", "loihi1"), np.minimum(counts, 1)) is None
    assert binary_spike_excess(catalog.part("chips", "loihi2"), counts) is None  # graded spikes


def test_life_is_capped_by_the_cells_service_life():
    import json

    from test_resolve_stage import _cli

    cell = builtin_catalog().part("cells", "er34615")
    assert cell.require("service_life_max") == pytest.approx(40 * 8766 * 3600)
    assert cell.figure("operating_temperature").si() == pytest.approx([-55 + 273.15, 85 + 273.15])
    # the acoustic example's 19 Ah cell would last 48.9 years by its charge: the cell's 40 years cap it
    power = json.loads(_cli("fit", "specs/examples/acoustic-xylo.yaml", "--output", "json").stdout)["spec"]["power"]
    assert power["life_years"] == 40.0
    assert power["life_note"] == "capped at the cell's 40-year service life (its charge alone would last 48.9 years)"


def test_a_site_hotter_than_the_cell_is_rated_for_is_an_error(tmp_path):
    import shutil
    import subprocess
    import sys

    root = tmp_path / "repo"
    shutil.copytree(ROOT / "specs", root / "specs")
    (root / ".git").mkdir()
    spec = root / "specs" / "examples" / "compressor.yaml"
    spec.write_text(spec.read_text().replace("cell: er14505", "cell: cr2032"))
    done = subprocess.run([sys.executable, "-m", "engine", "fit", str(spec)], cwd=root, capture_output=True, text=True, check=False,
                          timeout=300)
    line = next(x for x in (done.stdout + done.stderr).splitlines() if "NM404" in x)
    assert line.endswith("error[NM404]: environment.temperature: the site ranges over -20 C..85 C, outside the "
                         "cr2032's rated -20 C..70 C")
