"""Cycle counts against counts worked by hand on tiny networks."""

import numpy as np
import pytest
from kernel_nets import xylo

from engine.catalog import load_catalog
from engine.netlist import (
    INPUT,
    LINK_EAST,
    LINK_LOCAL,
    Placement,
    Population,
    Projection,
    QuantNetwork,
    RouteEntry,
    Weights,
    frozen_array,
)
from engine.verify.cycles import XYLO_STEP_CYCLES, count_cycles, cycle_model, inference_energy
from engine.verify.kernel import run


@pytest.fixture(scope="module")
def catalog():
    return load_catalog([])


def tiny_xylo():
    # 2 inputs, 3 hidden, 1 output. Neuron 0 gets 127 << 1 = 254 from channel 0; its Isyn
    # halves to 127 (dash_syn 1), V = 127 >= 100: one spike at step 0, then V 85, 96: none.
    # Recurrent fan-out: neuron 0 -> 1, 2; neuron 1 -> 0; neuron 2 -> none (average 1).
    w_in = [[127, 0, 0], [0, 0, 0]]
    w_rec = [[0, 1, 1], [1, 0, 0], [0, 0, 0]]
    return xylo(2, w_in, w_rec, [[0], [0], [0]], dash_syn=[[1], [1], [1]], dash_mem=[2, 2, 2],
                threshold=[100, 30000, 30000], bias=[0, 0, 0], alias=[-1, -1, -1], out_params=([1], [1], [1000], [0]),
                shifts=(1, 0, 0))


def test_xylo_step_model_by_hand(catalog):
    net = tiny_xylo()
    result = run(net, np.array([[1, 0], [0, 0], [0, 0]]))
    assert result.spikes["hidden"].tolist() == [[1, 0, 0], [0, 0, 0], [0, 0, 0]]
    model = cycle_model(catalog.part("chips", "xylo-audio2"))
    assert model.kind == "xylo-step" and model.clock_hz == 50e6
    counts = count_cycles(net, result, model)
    # step 0: inputs 2 * (1/2 * 3 * 3.5 + 1) = 12.5; hidden Isyn 3 * 3 = 9; readout 0;
    #         hidden spiking 3 * (19 + 2 * 1/3 + 1/3) = 60; output 12          -> 93.5
    # step 1: inputs 2; Isyn 3 * (1 * 7 * 1/3 + 3) = 16; readout 3 * 1/3 * (1 + 8) = 9;
    #         spiking 3 * 19 = 57; output 12                                  -> 96
    # step 2: 2 + 9 + 0 + 57 + 12                                             -> 80
    assert counts.cycles[:, 0].tolist() == [93.5, 96.0, 80.0]
    assert counts.min_clock_hz == pytest.approx(96.0 / 0.001)
    assert counts.latency_s.tolist() == pytest.approx([93.5 / 50e6, 96 / 50e6, 80 / 50e6])
    # worst case (everything active): 2 * (3 * 3.5 + 1) + 3 * (7 + 3) + 3 * 9 + 3 * 22 + 12 = 158
    assert counts.worst_case_cycles == 158.0
    assert XYLO_STEP_CYCLES["clock_margin"] == 0.2
    # events: 1 input event (1 synapse), then neuron 0's spike reaches 2 recurrent synapses
    assert counts.counters["input_events"][:, 0].tolist() == [1, 0, 0]
    assert counts.counters["synaptic_ops"][:, 0].tolist() == [1, 2, 0]
    assert counts.counters["neuron_updates"][:, 0].tolist() == [4, 4, 4]


def test_xylo_aliases_enter_the_spiking_term(catalog):
    net = xylo(1, [[0, 0]], None, [[0], [0]], dash_syn=[[1], [1]], dash_mem=[2, 2], threshold=[100, 100], bias=[0, 0],
               alias=[1, -1], out_params=([1], [1], [1000], [0]))
    counts = count_cycles(net, run(net, np.zeros((1, 1), dtype=int)), cycle_model(catalog.part("chips", "xylo-audio2")))
    # T = mean alias-target count 1/2, S = mean alias-source count 1/2, no spikes:
    # per hidden neuron 19 + 2 * 1/4 + 3 * 1/4 + 0 + 1/2 * 1/2 = 20.5; inputs 1; Isyn 2 * 3; output 12
    assert counts.cycles[0, 0] == 1 + 6 + 2 * 20.5 + 12


def two_core_lif():
    """input -> p1 (neuron 0 on core 0, neuron 1 on core 1) -> p2 (on core 1).
    No decay for these small values (shift 31), threshold 10: p1 fires every step from
    step 0, p2 from step 1 (it sees p1 one step late)."""
    def pop(name, size):
        return Population(name, size, {"decay_syn": frozen_array([31] * size, np.int32), "decay_mem": frozen_array([31] * size, np.int32),
                                       "threshold": frozen_array([10] * size, np.int32), "bias": frozen_array([0] * size, np.int32)})
    placement = Placement(2, 1, frozen_array([[0, 0], [1, 0]], np.int32),
                          {"p1": frozen_array([0, 1], np.int32), "p2": frozen_array([1], np.int32)},
                          (RouteEntry(0, 0, 0xFFFFFFFF, LINK_EAST), RouteEntry(1, 0, 0xFFFFFFFF, LINK_LOCAL),
                           RouteEntry(1, 1, 0xFFFFFFFF, LINK_LOCAL)))
    return QuantNetwork("lif", 0.001, 1, (pop("p1", 2), pop("p2", 1)),
                        (Projection(INPUT, "p1", Weights.from_dense([[100, 100]])),
                         Projection("p1", "p2", Weights.from_dense([[50], [50]]))), "p2", placement)


def test_per_event_model_per_core_by_hand(catalog):
    net = two_core_lif()
    result = run(net, np.array([[1], [0], [0]]))
    assert result.spikes["p1"].tolist() == [[1, 1], [1, 1], [1, 1]]
    assert result.spikes["p2"].tolist() == [[0], [1], [1]]
    model = cycle_model(catalog.part("chips", "generic-lif"))
    assert model.per_event == {"input_events": 4, "synaptic_ops": 2, "neuron_updates": 16, "spikes_sent": 8, "hops": 4}
    counts = count_cycles(net, result, model)
    c = counts.counters
    assert c["input_events"].tolist() == [[1, 1], [0, 0], [0, 0]]
    assert c["synaptic_ops"].tolist() == [[1, 1], [0, 2], [0, 2]]
    assert c["neuron_updates"].tolist() == [[1, 2]] * 3
    assert c["spikes_sent"].tolist() == [[1, 1], [1, 2], [1, 2]]
    assert c["hops"].tolist() == [[1, 0]] * 3  # core 0's router forwards east once per p1[0] spike
    # core 0: 4 + 2 + 16 + 8 + 4 = 34, then 16 + 8 + 4 = 28; core 1: 4 + 2 + 32 + 8 = 46, then 4 + 32 + 16 = 52
    assert counts.cycles.tolist() == [[34, 46], [28, 52], [28, 52]]
    assert counts.step_cycles.tolist() == [46, 52, 52]
    assert counts.min_clock_hz == 52 / 0.001
    assert counts.real_time
    energy = inference_energy(counts, model)
    # 6 synaptic events x 25 pJ + 9 neuron updates x 50 pJ; 100 uW static for 3 ms
    assert energy.dynamic_j == pytest.approx(6 * 25e-12 + 9 * 50e-12)
    assert energy.static_j == pytest.approx(100e-6 * 0.003)


def test_overrides_win_over_the_catalog(catalog):
    model = cycle_model(catalog.part("chips", "generic-lif"), {"cycles_per_synaptic_op": 3, "clock": 1e6})
    assert model.per_event["synaptic_ops"] == 3 and model.clock_hz == 1e6
    assert dict(model.provenance)["cycles_per_synaptic_op"] == "spec target.overrides"


def test_a_core_too_slow_for_the_step_is_not_real_time(catalog):
    model = cycle_model(catalog.part("chips", "generic-lif"), {"clock": 40e3})  # 40 cycles per 1 ms step
    counts = count_cycles(two_core_lif(), run(two_core_lif(), np.array([[1], [0], [0]])), model)
    assert not counts.real_time
    assert counts.latency_s.tolist() == pytest.approx([46 / 40e3, 52 / 40e3, 52 / 40e3])
