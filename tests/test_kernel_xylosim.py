"""The kernel against SynSense's own bit-accurate Xylo simulator (PyPI xylosim, the C++
core Rockpool's XyloSim runs), on the worked example and on random networks with
saturation, aliases and both synapses: spikes, currents and membranes equal bit for bit."""

import numpy as np
from hypothesis import given, settings
from kernel_nets import xylo, xylo_networks

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
