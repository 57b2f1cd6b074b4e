"""DynapCNN layer sizing, worked by hand from sinabs 3.1.3's rule
(`backend/dynapcnn/dynapcnn_layer.py`, DynapcnnLayer.memory_summary):

    kernel entries K = c * 2^(ceil(log2(ky kx)) + ceil(log2 f))
    neuron entries N = f * 2^(ceil(log2 fy) + ceil(log2 fx))     (fy x fx: the output map)
    bias entries     = f when the layer has a bias

and held against the nine cores of the catalog (sinabs `chips/dynapcnn.py` get_constraints):
kernel 16Ki x 3, 32Ki x 2, 64Ki x 2, 16Ki x 2; neurons 64Ki x 3, 32Ki x 2, 16Ki x 4."""

from __future__ import annotations

from pathlib import Path

import attrs
import nir
import numpy as np
from test_nir_import import graph

from engine.catalog import builtin_catalog
from engine.netlist import INPUT, Population, Projection, QuantNetwork, Weights, frozen_array
from engine.resolve.fit import check_fit, kernel_entries, neuron_entries, speck_layer_memory
from engine.resolve.floatnet import ConvShape
from engine.resolve.nir_import import import_graph
from engine.resolve.quantize import quantize

DT = 1e-3
ROOT = Path(__file__).resolve().parents[1]


def test_the_rule_on_three_hand_worked_layers():
    # sinabs' overview example: c 16, f 32, 3 x 3, 64 x 64 input, stride 1, padding 1: the map
    # stays 64 x 64. K = 16 x 2^(ceil log2 9 + ceil log2 32) = 16 x 2^(4 + 5) = 8192 (the page's
    # "16 x 32 x 4 x 4 = 8Ki"); N = 32 x 2^(6 + 6) = 131072 (the page's 64 x 64 x 32 = 128Ki)
    assert kernel_entries(16, (3, 3), 32) == 8192
    assert neuron_entries(32, 64, 64) == 131072
    # a dense 100 -> 10 is a 1 x 1 map: K = 100 x 2^(0 + ceil log2 10) = 100 x 16 = 1600; N = 10
    assert kernel_entries(100, (1, 1), 10) == 1600
    assert neuron_entries(10, 1, 1) == 10
    # c 2, f 8, 5 x 5 on 32 x 32, stride 2, no padding: (32 - 5) // 2 + 1 = 14 x 14;
    # K = 2 x 2^(ceil log2 25 + ceil log2 8) = 2 x 2^(5 + 3) = 512; N = 8 x 2^(4 + 4) = 2048
    # (the overview page's unrounded f fy fx is 8 x 14 x 14 = 1568: the code rounds, nmspec too)
    assert kernel_entries(2, (5, 5), 8) == 512
    assert neuron_entries(8, 14, 14) == 2048


def _if(shape) -> nir.IF:
    return nir.IF(r=np.full(shape, 1 / DT), v_threshold=np.ones(shape), v_reset=np.zeros(shape))


def small_conv_net() -> nir.NIRGraph:
    """(2, 6, 6) -> Conv2d 2 -> 4, 3 x 3, padding 1 -> IF (4, 6, 6) -> SumPool 2 -> (4, 3, 3)
    -> Flatten -> Linear 36 -> 10 -> IF (10)."""
    rng = np.random.default_rng(5)
    conv = nir.Conv2d(input_shape=(6, 6), weight=rng.uniform(0.1, 0.5, size=(4, 2, 3, 3)), stride=1, padding=1,
                      dilation=1, groups=1, bias=np.zeros(4))
    pool = nir.SumPool2d(kernel_size=np.array([2, 2]), stride=np.array([2, 2]), padding=np.array([0, 0]))
    nodes = {"input": nir.Input(input_type={"input": np.array([2, 6, 6])}), "conv": conv, "c1": _if((4, 6, 6)),
             "pool": pool, "flat": nir.Flatten(input_type={"input": np.array([4, 3, 3])}, start_dim=0),
             "fc": nir.Linear(weight=rng.uniform(0.1, 0.5, size=(10, 36))), "d2": _if((10,)),
             "output": nir.Output(output_type={"output": np.array([10])})}
    edges = [("input", "conv"), ("conv", "c1"), ("c1", "pool"), ("pool", "flat"), ("flat", "fc"), ("fc", "d2"),
             ("d2", "output")]
    return graph(nodes, edges, type_check=False)


def test_a_conv_network_from_nir_is_sized_as_dynapcnn_layers():
    net = import_graph(small_conv_net(), dt=DT, convention="nir")
    convs = net.conv_shapes()
    assert convs == {(INPUT, "c1"): ConvShape((2, 6, 6), (3, 3), (4, 6, 6)),
                     ("c1", "d2"): ConvShape((4, 3, 3), (3, 3), (10, 1, 1))}
    network = quantize(net, "speck").network
    # c1: K = 2 x 2^(ceil log2 9 + ceil log2 4) = 2 x 2^(4 + 2) = 128; N = 4 x 2^(3 + 3) = 256
    #     (4 x 6 x 6 = 144 neurons, the map rounded up to 8 x 8); no bias
    # d2: the Linear reads the pooled 4 x 3 x 3 map through its Flatten, so sinabs makes it a
    #     3 x 3 convolution of 4 channels: K = 4 x 2^(ceil log2 9 + ceil log2 10) = 4 x 2^(4 + 4)
    #     = 1024; N = 10
    assert speck_layer_memory(network, convs) == [("c1", 128, 256, 0), ("d2", 1024, 10, 0)]
    # read as dense layers (every source neuron a channel of a 1 x 1 map) the same network
    # would take c1: 72 x 2^(0 + ceil log2 144) = 72 x 256 = 18432, d2: 144 x 2^4 = 2304
    assert speck_layer_memory(network) == [("c1", 18432, 144, 0), ("d2", 2304, 10, 0)]
    fit = check_fit(network, builtin_catalog().part("chips", "speck"), convs=convs)
    limits = {lim.name: (lim.used, lim.allowed) for lim in fit.limits}
    assert limits["kernel memory entries of layer 'd2' (4 x 2^(4 + 4): 4 channels, 3x3 kernel, 10 features)"] \
        == (1024, 65536)
    assert limits["neuron memory entries of layer 'c1' (4 x 2^(3 + 3): 4 features on 6x6)"] == (256, 65536)
    assert limits["kernel side of layer 'c1'"] == (3, 16)  # the widest kernel, the first of a tie
    assert limits["kernel memory entries over all layers"] == (1152, 278528)
    assert fit.verdict == "fits", fit.reason()


def _layer(name: str, size: int, bias: int = 0) -> Population:
    full = lambda v: frozen_array(np.full(size, v), np.int32)
    return Population(name, size, {"threshold": full(10), "threshold_low": full(-32768), "bias": full(bias),
                                   "reset_zero": full(0)})


def _one_layer(c: int, h: int, w: int, f: int, fy: int, fx: int, kernel: tuple[int, int], bias: int = 0):
    """A network of one layer with no synapses stored (only its shapes matter here)."""
    n_in, n_out = c * h * w, f * fy * fx
    empty = Weights.from_csr(n_in, n_out, np.zeros(n_in + 1, dtype=np.int64), [], [])
    network = QuantNetwork("speck", DT, n_in, (_layer("c1", n_out, bias),), (Projection(INPUT, "c1", empty),), "c1")
    return network, {(INPUT, "c1"): ConvShape((c, h, w), kernel, (f, fy, fx))}


def test_fit_names_the_layer_and_the_memory_it_exceeds():
    chip = builtin_catalog().part("chips", "speck")
    # the overview page's layer: 131072 neuron entries, no core has more than 64Ki
    network, convs = _one_layer(16, 64, 64, 32, 64, 64, (3, 3))
    fit = check_fit(network, chip, convs=convs)
    assert fit.reason() == ("131072 neuron memory entries of layer 'c1' (32 x 2^(6 + 6): 32 features on 64x64) "
                            "> 65536 on speck; 1 layers (one DYNAP-CNN core each, with room in its kernel, neuron and "
                            "bias memories) > 0 on speck")
    # each memory fits some core, but not one core: K = 5 x 2^(4 + 9) = 40960 needs a 64Ki
    # kernel core (5 or 6), whose 16Ki neuron memory cannot take N = 512 x 2^(3 + 3) = 32768
    network, convs = _one_layer(5, 8, 8, 512, 8, 8, (3, 3))
    fit = check_fit(network, chip, convs=convs)
    assert fit.reason() == ("40960 kernel memory entries of layer 'c1' in a core with room for its 32768 neurons "
                            "(cores 0, 1, 2, 3, 4) > 32768 on speck; 1 layers (one DYNAP-CNN core each, with room in "
                            "its kernel, neuron and bias memories) > 0 on speck")
    # a dense layer reading a 20 x 20 map: its kernel covers the map, wider than 16 x 16
    network, convs = _one_layer(2, 20, 20, 4, 1, 1, (20, 20))
    assert check_fit(network, chip, convs=convs).reason() == "20 kernel side of layer 'c1' > 16 on speck"
    # a bias takes one entry per feature (f = 32), not per neuron (32 x 8 x 8)
    network, convs = _one_layer(4, 8, 8, 32, 8, 8, (3, 3), bias=3)
    assert speck_layer_memory(network, convs) == [("c1", 4 * 2 ** (4 + 5), 32 * 64, 32)]


def test_a_spec_whose_conv_layer_fits_no_core_gets_nm410_at_the_chip(tmp_path):
    """The Speck example's spec (without stimuli, so nothing is simulated) with a convolutional
    model: (1, 4, 4) -> Conv2d 1 -> 256, 3 x 3, padding 1 -> IF (256, 4, 4) -> Flatten ->
    Linear 4096 -> 32 -> IF -> Linear 32 -> 4 -> IF. The middle Linear reads the 256 x 4 x 4
    map: K = 256 x 2^(ceil log2 16 + ceil log2 32) = 256 x 2^(4 + 5) = 131072 > 65536."""
    from spec_cases import run_cli

    rng = np.random.default_rng(7)
    ones = lambda shape: np.ones(shape, dtype=np.float32)
    conv = nir.Conv2d(input_shape=(4, 4), weight=rng.uniform(0.05, 0.2, size=(256, 1, 3, 3)).astype(np.float32),
                      stride=1, padding=1, dilation=1, groups=1, bias=np.zeros(256, dtype=np.float32))
    nodes = {"input": nir.Input(input_type={"input": np.array([1, 4, 4])}), "conv": conv,
             "c1": nir.IF(r=ones((256, 4, 4)), v_threshold=ones((256, 4, 4)), v_reset=0 * ones((256, 4, 4))),
             "flat": nir.Flatten(input_type={"input": np.array([256, 4, 4])}, start_dim=0),
             "fc2": nir.Linear(weight=rng.uniform(0.0, 0.004, size=(32, 4096)).astype(np.float32)),
             "d2": nir.IF(r=ones(32), v_threshold=ones(32), v_reset=0 * ones(32)),
             "fc3": nir.Linear(weight=rng.uniform(0.1, 0.5, size=(4, 32)).astype(np.float32)),
             "d3": nir.IF(r=ones(4), v_threshold=ones(4), v_reset=0 * ones(4)),
             "output": nir.Output(output_type={"output": np.array([4])})}
    edges = [("input", "conv"), ("conv", "c1"), ("c1", "flat"), ("flat", "fc2"), ("fc2", "d2"), ("d2", "fc3"),
             ("fc3", "d3"), ("d3", "output")]
    (tmp_path / "models").mkdir()
    nir.write(str(tmp_path / "models" / "conv-speck.nir"), nir.NIRGraph(nodes=nodes, edges=edges, type_check=False))
    text = (ROOT / "specs" / "examples" / "compressor-speck.yaml").read_text()
    text = text.replace("models/compressor-speck.nir", "models/conv-speck.nir")
    (tmp_path / "spec.yaml").write_text(text[:text.index("\nverify:")] + "\n")
    (tmp_path / "nmspec.toml").write_text("")
    code, _out, err = run_cli(["build", "spec.yaml", "--out", "out", "--no-verify", "--no-cache"], tmp_path)
    assert code == 1
    assert err.splitlines()[0] == (
        "spec.yaml:36:9: error[NM410]: target.chip: the network does not fit: 131072 kernel memory entries of layer "
        "'d2' (256 x 2^(4 + 5): 256 channels, 4x4 kernel, 32 features) > 65536 on speck; 3 layers (one DYNAP-CNN core "
        "each, with room in its kernel, neuron and bias memories) > 2 on speck")


def test_a_bias_that_varies_over_a_features_map_is_refused():
    # 2 features on a 2 x 2 map: feature 0's four neurons share bias 3, feature 1's do not (3, 3, 3, 5)
    chip = builtin_catalog().part("chips", "speck")
    network, convs = _one_layer(1, 2, 2, 2, 2, 2, (1, 1), bias=3)
    bias = frozen_array([3, 3, 3, 3, 3, 3, 3, 5], np.int32)
    pop = network.populations[0]
    uneven = attrs.evolve(network, populations=(attrs.evolve(pop, params={**pop.params, "bias": bias}),))
    assert check_fit(network, chip, convs=convs).verdict == "fits"
    assert check_fit(uneven, chip, convs=convs).reason() == (
        "1 features of layer 'c1' whose bias varies over the map (a DynapCNN layer holds one bias per feature) > 0 "
        "on speck")
