import numpy as np
from hypothesis import given, settings
from kernel_nets import xylo, xylo_networks

from engine.verify import reference
from engine.verify.kernel import run


def single(dash_syn=1, dash_mem=2, threshold=60, weight=100, bias=0):
    return xylo(1, [[weight]], None, [[0]], dash_syn=[[dash_syn]], dash_mem=[dash_mem], threshold=[threshold],
                bias=[bias], alias=[-1], out_params=([1], [1], [1], [0]))


def test_worked_example_of_the_target_notes():
    # dash_syn 1, dash_mem 2, th 60, w 100, input counts 1,0,0,0,3,0 (targets/xylo.md)
    result = run(single(), np.array([[1], [0], [0], [0], [3], [0]]), record=True)
    assert result.states["hidden.isyn"][:, 0, 0].tolist() == [50, 25, 13, 7, 154, 77]
    assert result.states["hidden.v"][:, 0].tolist() == [50, 3, 15, 19, 49, 54]
    assert result.spikes["hidden"][:, 0].tolist() == [0, 1, 0, 0, 2, 1]


def test_decay_minimum_of_one_and_negative_values():
    # Isyn 3 with dash 4: 3 >> 4 = 0 but a positive value loses at least 1 per step
    result = run(single(dash_syn=4, dash_mem=15, threshold=30000, weight=3), np.array([[1], [0], [0], [0]]), record=True)
    assert result.states["hidden.isyn"][:, 0, 0].tolist() == [2, 1, 0, 0]
    # negative: -3 with dash 4 loses ceil(3/16) = 1 per step (floor shift of a negative)
    result = run(single(dash_syn=4, dash_mem=15, threshold=30000, weight=-3), np.array([[1], [0], [0], [0]]), record=True)
    assert result.states["hidden.isyn"][:, 0, 0].tolist() == [-2, -1, 0, 0]


def test_saturation_after_every_add_and_input_cap():
    # 20 input spikes are capped at 15; 15 * 127 << 8 saturates at 32767
    net = xylo(1, [[127]], None, [[0]], dash_syn=[[15]], dash_mem=[15], threshold=[32767], bias=[0], alias=[-1],
               out_params=([1], [1], [1], [0]), shifts=(8, 0, 0))
    result = run(net, np.array([[20]]), record=True)
    # 127 << 8 = 32512 (no wrap); 15 of them saturate at 32767, then decay by max(32767 >> 15, 1) = 1
    assert result.states["hidden.isyn"][0, 0, 0] == 32766


def test_order_dependent_saturation_matches_sequential_adds():
    # channel 0 pushes to +32767 first, so channel 1's -200 lands from the clamp: 32567 (not 32567 + overflow)
    net = xylo(2, [[127], [-100]], None, [[0]], dash_syn=[[15]], dash_mem=[15], threshold=[32767], bias=[0], alias=[-1],
               out_params=([1], [1], [1], [0]), shifts=(8, 0, 0))
    result = run(net, np.array([[2, 2]]), record=True)
    # 2 * 32512 saturates at 32767; then 2 * (-100 << 8 = -25600) -> 32767 - 51200 = -18433; decay 1 -> -18432
    assert result.states["hidden.isyn"][0, 0, 0] == -18432


def test_reset_by_subtraction_and_spike_cap():
    net = single(dash_syn=0, dash_mem=15, threshold=10, weight=0, bias=32000)
    result = run(net, np.zeros((2, 1), dtype=int), record=True)
    # V = 32000 >= 10: 31 spikes (cap), V = 32000 - 310 = 31690
    assert result.spikes["hidden"][0, 0] == 31
    assert result.states["hidden.v"][0, 0] == 31690


def test_alias_order_dependence():
    # neuron 0 aliases into neuron 1 (processed later): 1 starts from 0's count
    net = xylo(1, [[100, 0]], None, [[0], [0]], dash_syn=[[0], [0]], dash_mem=[15, 15], threshold=[10, 1000],
               bias=[50, 0], alias=[1, -1], out_params=([1], [1], [1], [0]))
    result = run(net, np.zeros((1, 1), dtype=int))
    assert result.spikes["hidden"][0].tolist() == [5, 5]


def test_recurrent_and_readout_paths_are_one_step_late():
    net = xylo(1, [[100]], [[0]], [[100]], dash_syn=[[0]], dash_mem=[0], threshold=[1], bias=[100], alias=[-1],
               out_params=([1], [15], [10], [0]))
    result = run(net, np.zeros((3, 1), dtype=int))
    assert result.spikes["hidden"][:, 0].tolist() == [31, 31, 31]
    assert result.spikes["output"][:, 0].tolist() == [0, 1, 1]


@settings(max_examples=150, deadline=None)
@given(xylo_networks())
def test_kernel_equals_plain_reference(case):
    net, inputs = case
    fast = run(net, inputs)
    slow = reference.run(net, inputs.tolist())
    assert fast.spikes["hidden"].tolist() == slow["hidden"]
    assert fast.spikes["output"].tolist() == slow["output"]
