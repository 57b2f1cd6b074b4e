"""The kernel against SynSense's own bit-accurate Xylo simulator (PyPI xylosim, the C++
core Rockpool's XyloSim runs), on the worked example and on random networks with
saturation, aliases and both synapses: spikes, currents and membranes equal bit for bit."""

from pathlib import Path

import attrs
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from kernel_nets import xylo, xylo_networks

from engine.netlist import frozen_array
from engine.resolve.nir_import import read_nir
from engine.resolve.quantize import quantize
from engine.verify.kernel import run
from engine.verify.xylosim_layer import vendor_layer


def compare(net, inputs):
    layer, keep = vendor_layer(net)
    vendor_out = np.array(layer.evolve(inputs.tolist()), dtype=np.int64).reshape(inputs.shape[0], -1)
    ours = run(net, inputs, record=True)
    n_syn = ours.states["hidden.isyn"].shape[2]
    assert ours.spikes["output"].tolist() == vendor_out.tolist()
    assert ours.spikes["hidden"].tolist() == np.array(layer.rec_recurrent_spikes).reshape(inputs.shape[0], -1).tolist()
    assert ours.states["hidden.v"].T.tolist() == [list(r) for r in layer.rec_v_mem]
    assert ours.states["hidden.isyn"][:, :, 0].T.tolist() == [list(r) for r in layer.rec_i_syn]
    if n_syn == 2:
        assert ours.states["hidden.isyn"][:, :, 1].T.tolist() == [list(r) for r in layer.rec_i_syn2]
    assert ours.states["output.v"].T.tolist() == [list(r) for r in layer.rec_v_mem_out]
    assert ours.states["output.isyn"].T.tolist() == [list(r) for r in layer.rec_i_syn_out]
    del keep


def test_worked_example_in_the_vendor_simulator():
    net = xylo(1, [[100]], None, [[0]], dash_syn=[[1]], dash_mem=[2], threshold=[60], bias=[0], alias=[-1],
               out_params=([1], [1], [1], [0]))
    layer, _keep = vendor_layer(net)
    layer.evolve([[1], [0], [0], [0], [3], [0]])
    assert list(layer.rec_i_syn[0]) == [50, 25, 13, 7, 154, 77]
    assert list(layer.rec_v_mem[0]) == [50, 3, 15, 19, 49, 54]
    assert [row[0] for row in layer.rec_recurrent_spikes] == [0, 1, 0, 0, 2, 1]
    compare(net, np.array([[1], [0], [0], [0], [3], [0]]))


@settings(max_examples=120, deadline=None)
@given(xylo_networks())
def test_kernel_equals_xylosim(case):
    compare(*case)


# --- membrane readouts: the readout neuron passes its current through (dash_mem 0) and never
# spikes (threshold 32767); the class is read from its Vmem, which XyloSim records as
# rec_v_mem_out: it must equal the kernel's output.v on every step, saturation included


@st.composite
def membrane_readout_networks(draw):
    net, inputs = draw(xylo_networks())
    output = net.population("output")
    no = output.size
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    readout = attrs.evolve(output, params={
        "dash_syn": frozen_array(rng.integers(1, 16, size=(no, 1)), np.int32),
        "dash_mem": frozen_array(np.zeros(no), np.int32), "threshold": frozen_array(np.full(no, 32767), np.int32),
        "bias": frozen_array(rng.integers(-50, 50, size=no), np.int32)})
    net = attrs.evolve(net, populations=(net.population("hidden"), readout), readout="membrane")
    return net, inputs


@settings(max_examples=60, deadline=None)
@given(membrane_readout_networks())
def test_a_membrane_readout_equals_xylosim_vmem_out(case):
    net, inputs = case
    compare(net, inputs)
    ours = run(net, inputs)  # a membrane-readout run records the readout's membrane without being asked
    assert ours.output_scores(net).tolist() == np.max(ours.states["output.v"], axis=0).tolist()


@pytest.mark.parametrize("fixture, convention", [("norse_lif_li", "norse"), ("rockpool_cubalif_li", "rockpool")])
def test_framework_li_readouts_quantized_for_xylo_equal_xylosim(fixture, convention):
    """The frameworks' own LI-readout exports, quantized for Xylo, on their recorded input and
    on inputs that saturate: readout Vmem per step equal to XyloSim's."""
    folder = Path(__file__).parent / "data" / "frameworks"
    record = np.load(folder / f"{fixture}.npz")
    counts = np.rint(record["input"]).astype(np.int64)
    net = read_nir(folder / f"{fixture}.nir", dt=1e-3, convention=convention)
    network = quantize(net, "xylo", stimuli=counts[None].astype(np.float64)).network
    assert network.readout == "membrane"
    compare(network, counts)
    rng = np.random.default_rng(1)
    compare(network, rng.integers(0, 16, size=(80, counts.shape[1])))


def test_a_negative_threshold_wraps_v_as_xylosim_does():
    """Threshold -4 on a membrane saturated at 32767: each spike adds 4, and the chip's 16-bit
    subtraction wraps 32771 to -32765, which is below the threshold, so one spike and not 31
    (a saturating subtraction would keep v at 32767 and spike to the cap)."""
    net = xylo(2, [[114, -87, -54], [0, 57, 71]], None, [[0, 84], [-89, -122], [0, 15]],
               dash_syn=[[12, 5], [5, 6], [1, 7]], dash_mem=[5, 0, 0], threshold=[-4, 6555, 5706], bias=[-181, 37, 147],
               alias=[-1, 1, 2], out_params=([13, 10], [0, 0], [32767, 32767], [1, -24]), n_syn=2, shifts=(2, 0, 0))
    inputs = np.array([[6, 10], [2, 3], [0, 5], [3, 7], [19, 10], [17, 4]])
    ours = run(net, inputs, record=True)
    assert ours.spikes["hidden"][:, 0].tolist() == [31, 31, 31, 31, 31, 1]
    assert ours.states["hidden.v"][:, 0].tolist() == [2678, 6184, 9579, 14235, 25584, -32765]
    compare(net, inputs)
