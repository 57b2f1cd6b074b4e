"""The Speck example (specs/examples/compressor-speck.yaml, model by tools/make_speck_example.py),
built from its spec, read back from model.nmc, and run by the kernel on a short input whose
integer dynamics are worked out by hand below.

Quantization, by hand (sinabs' DynapCNN rule, one scale per layer): the model's thresholds
are 1 and it has no biases, so the 8-bit weight scale binds. Layer if1's largest weight is
positive: scale = 127 / max(W1), so its largest weight becomes 127 and its threshold
round(127 / max(W1)) = 301. Layer if2's largest magnitude is negative: scale =
128 / |min(W2)|, its most negative weight becomes -128 and its threshold
round(128 / |min(W2)|) = 48. The rows used below (as stored in the image):
  input channel 0 -> if1: [0, 127, 8, 0, 0, 16, -4, -20]
  input channel 2 -> if1: [0, -4, 4, -4, 0, 0, 20, 63]
  if1 neuron 1 -> if2:    [-128, 16, 92, -12]

Input: step 0 three events on channel 0, step 1 one event on channel 0, step 2 two events on
channel 2, step 3 three events on channel 0. Each event adds its row; a neuron whose
membrane reaches its threshold fires one spike (one per event) and loses the threshold.
  step 0: if1[1] 127, 254, 381 -> spike, 80; if1[2] 8, 16, 24; if1[5] 16, 32, 48;
          if1[6] -4, -8, -12; if1[7] -20, -40, -60.
          if1[1]'s spike is one event into if2 in the same step: -128, 16, 92 -> spike -> 44, -12.
  step 1: if1[1] 207, if1[2] 32, if1[5] 64, if1[6] -16, if1[7] -80; no spike, if2 unchanged.
  step 2: two events of channel 2: if1[1] 203, 199; if1[2] 36, 40; if1[3] -4, -8;
          if1[6] 4, 24; if1[7] -17, 46; no spike.
  step 3: three events of channel 0: if1[1] 326 -> spike -> 25, 152, 279 (one spike);
          if1[2] 48, 56, 64; if1[5] 80, 96, 112; if1[6] 20, 16, 12; if1[7] 26, 6, -14.
          if2: -256, 32, 44 + 92 = 136 -> spike -> 88 (still above 48: one spike per event), -24.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from engine.verify import kernel, reference
from tests.firmware_support import example, network_of

ROOT = Path(__file__).resolve().parents[1]
MODEL = ROOT / "specs/examples/models/compressor-speck.nir"


@pytest.fixture(scope="module")
def built():
    result, _ = example("compressor-speck")
    return network_of(result.files)


def test_the_image_holds_the_hand_derived_integers(built):
    import nir

    graph = nir.read(str(MODEL))
    w1 = np.asarray(graph.nodes["fc1"].weight, dtype=np.float64).T  # (inputs, if1)
    w2 = np.asarray(graph.nodes["fc2"].weight, dtype=np.float64).T
    assert built.family == "speck"
    if1, if2 = built.population("if1"), built.population("if2")
    assert w1.max() > abs(w1.min()) and abs(w2.min()) > w2.max()
    assert if1.params["threshold"].tolist() == [round(127 / w1.max())] * 8 == [301] * 8
    assert if2.params["threshold"].tolist() == [round(128 / abs(w2.min()))] * 4 == [48] * 4
    into1, into2 = (p.weights.to_dense() for p in built.projections)
    # weight times scale, in that order, as sinabs multiplies: 16/32 of the largest weight times
    # 127 / max is 63.49999... in binary64, so it rounds to 63, not to the 64 that 63.5 would
    np.testing.assert_array_equal(into1, np.round(w1 * (127 / w1.max())))
    np.testing.assert_array_equal(into2, np.round(w2 * (128 / abs(w2.min()))))
    assert into1[0].tolist() == [0, 127, 8, 0, 0, 16, -4, -20]
    assert into1[2].tolist() == [0, -4, 4, -4, 0, 0, 20, 63]
    assert into2[1].tolist() == [-128, 16, 92, -12]
    for pop in (if1, if2):
        assert pop.params["threshold_low"].tolist() == [-32768] * pop.size
        assert not pop.params["bias"].any() and not pop.params["reset_zero"].any()


def test_hand_worked_steps(built):
    x = np.zeros((4, 16), dtype=np.int64)
    x[0, 0], x[1, 0], x[2, 2], x[3, 0] = 3, 1, 2, 3
    result = kernel.run(built, x, record=True)
    assert result.spikes["if1"].tolist() == [[0, 1, 0, 0, 0, 0, 0, 0], [0] * 8, [0] * 8, [0, 1, 0, 0, 0, 0, 0, 0]]
    assert result.spikes["if2"].tolist() == [[0, 0, 1, 0], [0] * 4, [0] * 4, [0, 0, 1, 0]]
    assert result.states["if1.v"].tolist() == [[0, 80, 24, 0, 0, 48, -12, -60],
                                               [0, 207, 32, 0, 0, 64, -16, -80],
                                               [0, 199, 40, -8, 0, 64, 24, 46],
                                               [0, 279, 64, -8, 0, 112, 12, -14]]
    assert result.states["if2.v"].tolist() == [[-128, 16, 44, -12], [-128, 16, 44, -12], [-128, 16, 44, -12],
                                               [-256, 32, 88, -24]]
    # the plain reference agrees; an event reaches every neuron of its layer (zero weights too),
    # so an input event is 8 synaptic operations and a spike of if1[1] 4
    slow = reference.run(built, x.tolist())
    assert slow["if2.v"] == result.states["if2.v"].tolist()
    assert result.events["synaptic_ops"].tolist() == [3 * 8 + 4, 8, 2 * 8, 3 * 8 + 4]


def test_targets_shows_speck_documented_with_its_basis():
    import json

    from spec_cases import run_cli

    code, out, _ = run_cli(["targets", "--output", "json"], ROOT)
    assert code == 0
    speck = next(c for c in json.loads(out) if c["id"] == "speck")
    assert (speck["family"], speck["fidelity"]) == ("speck", "documented")
    assert speck["fidelity_basis"].startswith("the integer rules of SynSense's public DynapCNN documentation and "
                                              "sinabs 3.1.3")
    assert speck["figures"]["kernel_memory_per_core"]["value"] == [16384] * 3 + [32768] * 2 + [65536] * 2 + [16384] * 2
