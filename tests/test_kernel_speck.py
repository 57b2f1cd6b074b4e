"""Speck (DynapCNN) kernel: hand-worked event rules, and the compiled loops against the plain
per-event reference on random feed-forward networks."""

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.netlist import INPUT, Population, Projection, QuantNetwork, Weights, frozen_array
from engine.verify import reference
from engine.verify.kernel import run


def speck_pop(name, threshold, *, low=-32768, bias=0, reset_zero=0, size=None):
    size = size or len(np.atleast_1d(threshold))
    full = lambda x: frozen_array(np.broadcast_to(np.asarray(x), (size,)), np.int32)
    return Population(name, size, {"threshold": full(threshold), "threshold_low": full(low), "bias": full(bias),
                                   "reset_zero": full(reset_zero)})


def chain(weights, pops):
    """input -> pops[0] -> pops[1] ...; weights[k] is the dense matrix into pops[k]."""
    projs, src = [], INPUT
    for w, pop in zip(weights, pops):
        projs.append(Projection(src, pop.name, Weights.from_dense(w), 0, 0))
        src = pop.name
    return QuantNetwork("speck", 0.001, len(weights[0]), tuple(pops), tuple(projs), pops[-1].name)


def test_one_spike_per_event_and_subtract():
    # w 100, threshold 60: each event adds 100 and fires once: v 40, then 140 -> fires -> 80
    # (still above threshold, but no further spike until the next event), then a count of 3:
    # 180 -> 120, 220 -> 160, 260 -> 200, three spikes
    net = chain([[[100]]], [speck_pop("p", 60)])
    result = run(net, np.array([[1], [1], [0], [3]]), record=True)
    assert result.spikes["p"][:, 0].tolist() == [1, 1, 0, 3]
    assert result.states["p.v"][:, 0].tolist() == [40, 80, 80, 200]


def test_event_order_decides_with_mixed_signs():
    # channel 0 (+70) comes before channel 1 (-70) in a step: the neuron fires on the partial sum
    # (70 >= 50: spike, 20), then -70 -> -50. Swapped channels: -70, then 0 + ... 70 -> 0, no spike
    first = chain([[[70], [-70]]], [speck_pop("p", 50)])
    assert run(first, np.array([[1, 1]]), record=True).states["p.v"][:, 0].tolist() == [-50]
    assert run(first, np.array([[1, 1]])).spikes["p"][:, 0].tolist() == [1]
    second = chain([[[-70], [70]]], [speck_pop("p", 50)])
    result = run(second, np.array([[1, 1]]), record=True)
    assert result.spikes["p"][:, 0].tolist() == [0]
    assert result.states["p.v"][:, 0].tolist() == [0]


def test_floor_return_to_zero_and_bias_leak():
    # floor -100: -60, -120 -> -100, -100
    net = chain([[[-60]]], [speck_pop("p", 50, low=-100)])
    assert run(net, np.array([[1], [1], [1]]), record=True).states["p.v"][:, 0].tolist() == [-60, -100, -100]
    # return to zero: 130 >= 50 -> 0 (not 80)
    net = chain([[[130]]], [speck_pop("p", 50, reset_zero=1)])
    assert run(net, np.array([[1]]), record=True).states["p.v"][:, 0].tolist() == [0]
    # a bias of -3 is a leak once per step, after the events: 40 - 3 = 37, 34, 31
    net = chain([[[40]]], [speck_pop("p", 50, bias=-3)])
    assert run(net, np.array([[1], [0], [0]]), record=True).states["p.v"][:, 0].tolist() == [37, 34, 31]
    # a positive bias fires like an event: 45 + 6 = 51 -> spike, 1
    net = chain([[[45]]], [speck_pop("p", 50, bias=6)])
    result = run(net, np.array([[1]]), record=True)
    assert (result.spikes["p"][0, 0], result.states["p.v"][0, 0]) == (1, 1)


def test_an_event_reaches_the_whole_layer_even_through_a_zero_weight():
    # channel 0 (127) leaves 77 >= 50 after its one spike; channel 1's weight is 0, but its event
    # still updates the neuron (the kernel memory holds the zero), which fires again: 27
    net = chain([[[127], [0]]], [speck_pop("p", 50)])
    result = run(net, np.array([[1, 1], [1, 0]]), record=True)
    assert result.spikes["p"][:, 0].tolist() == [2, 1]
    assert result.states["p.v"][:, 0].tolist() == [27, 104]
    assert result.events["synaptic_ops"].tolist() == [2, 1]


def test_membrane_saturates_at_16_bits():
    # w 127 > threshold 1: each event leaves 126 more; 300 events: saturates at 32767 then fires -> 32766
    net = chain([[[127]]], [speck_pop("p", 1)])
    result = run(net, np.array([[255], [45]]), record=True)
    assert result.states["p.v"][0, 0] == 255 * 126
    assert result.states["p.v"][1, 0] == 32766
    assert result.spikes["p"][:, 0].tolist() == [255, 45]


def test_spikes_reach_the_next_layer_in_the_same_step():
    net = chain([[[60]], [[10]]], [speck_pop("a", 50), speck_pop("b", 5)])
    result = run(net, np.array([[2], [0]]))
    # a: 60 -> spike (10), 70 -> spike (20): two events into b, each 10 >= 5 -> spike
    assert result.spikes["a"][:, 0].tolist() == [2, 0]
    assert result.spikes["b"][:, 0].tolist() == [2, 0]


def test_a_run_in_pieces_equals_one_run():
    rng = np.random.default_rng(3)
    net = random_net(rng, [3, 4, 2])
    x = rng.integers(0, 4, size=(20, 3))
    whole = run(net, x, record=True)
    first = run(net, x[:8], record=True)
    rest = run(net, x[8:], record=True, initial=first.final)
    for pop in net.populations:
        assert np.concatenate([first.spikes[pop.name], rest.spikes[pop.name]]).tolist() == whole.spikes[pop.name].tolist()
        assert np.concatenate([first.states[f"{pop.name}.v"], rest.states[f"{pop.name}.v"]]).tolist() == \
            whole.states[f"{pop.name}.v"].tolist()


def random_net(rng, sizes, *, skip=False):
    pops, projs = [], []
    for k, size in enumerate(sizes[1:], start=1):
        pops.append(speck_pop(f"p{k}", rng.integers(1, 300, size=size), low=rng.integers(-400, 1, size=size),
                              bias=rng.integers(-20, 20, size=size) * (rng.random(size) < 0.4),
                              reset_zero=rng.integers(0, 2, size=size)))
        w = rng.integers(-128, 128, size=(sizes[k - 1], size)) * (rng.random((sizes[k - 1], size)) < 0.7)
        projs.append(Projection(INPUT if k == 1 else f"p{k - 1}", f"p{k}", Weights.from_dense(w), 0, 0))
        if skip and k >= 2:  # a second source into the same layer (DynapCNN merges two layers' events)
            w = rng.integers(-128, 128, size=(sizes[0], size))
            projs.append(Projection(INPUT, f"p{k}", Weights.from_dense(w), 0, 0))
    return QuantNetwork("speck", 0.001, sizes[0], tuple(pops), tuple(projs), pops[-1].name)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.integers(1, 6), min_size=2, max_size=4), st.booleans(), st.integers(0, 2**32 - 1))
def test_kernel_equals_plain_reference(sizes, skip, seed):
    rng = np.random.default_rng(seed)
    net = random_net(rng, sizes, skip=skip)
    inputs = rng.integers(0, 5, size=(int(rng.integers(1, 10)), sizes[0]))
    fast = run(net, inputs, record=True)
    slow = reference.run(net, inputs.tolist())
    for pop in net.populations:
        assert fast.spikes[pop.name].tolist() == slow[pop.name]
        assert fast.states[f"{pop.name}.v"].tolist() == slow[f"{pop.name}.v"]
