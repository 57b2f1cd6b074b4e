"""Speck quantization (sinabs' per-layer DynapCNN rule) and fit (DYNAP-CNN layer limits),
against values worked out by hand."""

from __future__ import annotations

import nir
import numpy as np
import pytest
from test_quantize import DT, cuba, diagnostics, two_layer

from engine.catalog import builtin_catalog
from engine.netlist import INPUT, Population, Projection, QuantNetwork, Weights, frozen_array
from engine.resolve.fit import check_fit, speck_core_assignment, speck_layer_memory
from engine.resolve.quantize import QuantizeError, quantize
from engine.resolve.quantize_speck import discretization_scale


def if_node(n: int, threshold=1.0, v_reset=0.0) -> nir.IF:
    """Literal NIR integrates r * dt per unit input: r = 1/dt gives a gain of 1."""
    return nir.IF(r=np.full(n, 1 / DT), v_threshold=np.full(n, threshold), v_reset=np.full(n, v_reset))


def test_discretization_scale_takes_the_binding_side():
    # positive side binds: 127 / 2; negative side binds (|-3| > 2 * 128/127): 128 / 3
    assert discretization_scale(np.array([-1.0, 2.0]), 8) == 127 / 2
    assert discretization_scale(np.array([-3.0, 2.0]), 8) == 128 / 3
    # |-2| <= 2 * 128/127: the positive side still binds
    assert discretization_scale(np.array([-2.0, 2.0]), 8) == 127 / 2
    assert discretization_scale(np.array([0.0, 0.0]), 8) == float("inf")
    assert discretization_scale(np.array([0.5]), 16) == 32767 / 0.5


def test_one_scale_per_layer_from_weights_bias_and_threshold():
    # hidden: weights max 0.5 -> 254 per unit, threshold 1 -> 32767: scale 254, threshold 254;
    # 0.25 -> 63.5 -> 64 (half to even), -0.1 -> -25.4 -> -25
    # output: weights min -2 (binds: 128 / 2 = 64), threshold 3 -> 192, 1 -> 64
    net = two_layer([[0.5, 0.25], [-0.1, 0.0]], [[1.0], [-2.0]], hidden=if_node(2), out=if_node(1, threshold=3.0))
    result = quantize(net, "speck")
    h, o = result.network.population("h"), result.network.population("o")
    assert h.params["threshold"].tolist() == [254, 254]
    assert o.params["threshold"].tolist() == [192]
    assert result.network.projections[0].weights.to_dense().tolist() == [[127, 64], [-25, 0]]
    assert result.network.projections[1].weights.to_dense().tolist() == [[64], [-128]]
    assert h.params["threshold_low"].tolist() == [-32768, -32768]
    assert h.params["reset_zero"].tolist() == [1, 1]  # literal NIR resets to v_reset = 0
    assert [layer.scale for layer in result.layers] == [254.0, 64.0]
    assert result.network.family == "speck"


def test_a_weight_above_the_threshold_is_noted():
    net = two_layer([[4.0]], [[1.0]], hidden=if_node(1, threshold=1.0), out=if_node(1))
    notes = quantize(net, "speck").notes
    assert any(n.startswith("h: a weight exceeds the threshold") for n in notes), notes


def test_speck_refuses_what_dynapcnn_cannot_run():
    with pytest.raises(QuantizeError) as excinfo:
        quantize(two_layer([[1.0]], [[1.0]]), "speck")
    refused = "has a synaptic current; DynapCNN neurons are integrate-and-fire without one: export IF"
    assert diagnostics(excinfo) == [("NM311", f"population 'h' (cubalif) {refused}"),
                                    ("NM311", f"population 'o' (cubalif) {refused}")]
    with pytest.raises(QuantizeError) as excinfo:
        quantize(two_layer([[1.0]], [[1.0]], hidden=if_node(1), out=if_node(1)), "speck", granularity="per_channel")
    per_layer = "granularity per_channel: a DynapCNN core holds one threshold per layer, so its scales are per layer"
    assert diagnostics(excinfo) == [("NM311", per_layer)]
    _ = cuba


def speck_net(sizes):
    pops, projs, src = [], [], INPUT
    for k, size in enumerate(sizes[1:]):
        full = lambda v, n=size: frozen_array(np.full(n, v), np.int32)
        pops.append(Population(f"p{k}", size, {"threshold": full(10), "threshold_low": full(-32768), "bias": full(0),
                                               "reset_zero": full(0)}))
        projs.append(Projection(src, f"p{k}", Weights.from_dense(np.ones((sizes[k], size), dtype=np.int64)), 0, 0))
        src = f"p{k}"
    return QuantNetwork("speck", 0.001, sizes[0], tuple(pops), tuple(projs), pops[-1].name)


def test_layer_memory_as_sinabs_counts_it():
    # p0: c = 16 inputs, f = 1000 -> kernel 16 * 2^10 = 16384, neuron 1000;
    # p1: c = 1000, f = 10 -> kernel 1000 * 2^4 = 16000, neuron 10
    assert speck_layer_memory(speck_net([16, 1000, 10])) == [("p0", 16384, 1000, 0), ("p1", 16000, 10, 0)]


def test_core_assignment_finds_a_distinct_core_for_each_layer():
    cores = list(zip([16384] * 3 + [32768] * 2 + [65536] * 2 + [16384] * 2, [65536] * 3 + [32768] * 2 + [16384] * 4,
                     [1024] * 9))
    # two layers with 40000 kernel entries take the two 64Ki cores: the first took core 5, the
    # third finds it taken and moves the first on to core 6 (an augmenting path)
    assert speck_core_assignment([(40000, 100, 0), (100, 100, 0), (40000, 100, 0)], cores) == [6, 0, 5]
    assert speck_core_assignment([(40000, 100, 0)] * 3, cores) == [6, 5, None]
    # a 20000-neuron layer cannot take a 64Ki kernel core (16Ki neurons there)
    assert speck_core_assignment([(40000, 20000, 0)], cores) == [None]


def test_fit_on_speck_names_the_dynapcnn_limits():
    chip = builtin_catalog().part("chips", "speck")
    fits = check_fit(speck_net([16, 500, 10]), chip)
    assert fits.verdict == "fits", fits.reason()
    too_wide = check_fit(speck_net([16, 1025, 10]), chip)
    assert too_wide.reason() == "1025 features per layer (input or output) > 1024 on speck"
    # ten layers of 64 features: each fits any core (64 x 64 kernel entries), but there are nine
    deep = check_fit(speck_net([16] + [64] * 10), chip)
    assert deep.reason() == ("10 layers (one DYNAP-CNN core each, with room in its kernel, neuron and bias memories; "
                             "left without one: 'p9' (cores 0, 1, 2, 3, 4, 5, 6, 7, 8 hold it, all taken)) > 9 on speck")
    # 1024 -> 40 takes 1024 x 64 = 65536 kernel entries, 40 -> 1024 takes 40 x 1024 = 40960: all five
    # layers need a 64Ki core, and there are two
    wide = check_fit(speck_net([1024, 40, 1024, 40, 1024, 40]), chip)
    assert wide.reason() == ("5 layers (one DYNAP-CNN core each, with room in its kernel, neuron and bias memories; "
                             "left without one: 'p2' (cores 5, 6 hold it, all taken), 'p3' (cores 5, 6 hold it, all "
                             "taken), 'p4' (cores 5, 6 hold it, all taken)) > 2 on speck")
