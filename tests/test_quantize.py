"""Discretisation and quantization per family, against the worked rules of the target notes
(Xylo: dash = round(log2(tau/dt)), 8-bit weights, 16-bit state; Loihi: 12-bit du/dv,
8-bit weights with weight_exp, 17-bit vth) and reports worked out by hand on small
networks; the closed-form "can never fire" bound is checked against kernel runs."""

from __future__ import annotations

import math

import nir
import numpy as np
import pytest
from kernel_nets import xylo

from engine.netlist import INPUT, Population, Projection, QuantNetwork, Weights, frozen_array
from engine.resolve.floatnet import simulate
from engine.resolve.nir_import import decay_error as xylo_decay_error
from engine.resolve.nir_import import import_graph
from engine.resolve.quantize import QuantizeError, loihi_never_fire, quantize, xylo_never_fire
from engine.verify import kernel

DT = 1e-3


def cuba(n: int, tau_syn=2e-3, tau_mem=4e-3, threshold=1.0) -> nir.CubaLIF:
    """A literal-NIR CubaLIF whose gains are 1 at dt = 1 ms: w_in = tau_syn/dt, r = tau_mem/dt."""
    tau_syn, tau_mem, threshold = (np.broadcast_to(np.asarray(v, dtype=np.float64), (n,)).copy()
                                   for v in (tau_syn, tau_mem, threshold))
    return nir.CubaLIF(tau_syn=tau_syn, tau_mem=tau_mem, r=tau_mem / DT, v_leak=np.zeros(n), v_threshold=threshold,
                       v_reset=np.zeros(n), w_in=tau_syn / DT)


def two_layer(w_hidden, w_out, hidden=None, out=None, lif_hidden=False):
    """input -> Linear -> hidden -> Linear -> output population; weights given as (src, dst)."""
    w_hidden, w_out = np.asarray(w_hidden, dtype=np.float64), np.asarray(w_out, dtype=np.float64)
    n_in, n_h = w_hidden.shape
    n_o = w_out.shape[1]
    nodes = {"input": nir.Input(input_type={"input": np.array([n_in])}), "fc1": nir.Linear(weight=w_hidden.T),
             "h": hidden or cuba(n_h), "fc2": nir.Linear(weight=w_out.T), "o": out or cuba(n_o),
             "output": nir.Output(output_type={"output": np.array([n_o])})}
    edges = [("input", "fc1"), ("fc1", "h"), ("h", "fc2"), ("fc2", "o"), ("o", "output")]
    return import_graph(nir.NIRGraph(nodes=nodes, edges=edges, type_check=False), dt=DT, convention="nir")


def diagnostics(excinfo) -> list[tuple[str, str]]:
    return [(d.code, d.message) for d in excinfo.value.diagnostics]


# --- Xylo: bit-shift decays ---


@pytest.mark.parametrize("tau_ms, dash, error", [(2, 1, 0.0), (3, 2, 0.25), (10, 3, 0.25), (5.5, 2, 0.375), (16, 4, 0.0)])
def test_xylo_dash_is_round_log2_tau_over_dt(tau_ms, dash, error):
    """dash = round(log2(tau/dt)); the per-step loss 2^-dash against dt/tau gives the error."""
    tau = tau_ms * 1e-3
    net = two_layer(np.eye(2), np.eye(2), hidden=cuba(2, tau_syn=tau, tau_mem=tau))
    result = quantize(net, "xylo")
    hidden = result.network.population("hidden").params
    assert hidden["dash_syn"].tolist() == [[dash], [dash]]
    assert hidden["dash_mem"].tolist() == [dash, dash]
    report = result.layers[0]
    assert report.population == "h"
    assert report.decay_error_syn == pytest.approx(error, abs=1e-12)
    assert report.decay_error_mem == pytest.approx(error, abs=1e-12)
    assert xylo_decay_error(tau, DT, dash) == pytest.approx(error, abs=1e-12)


@pytest.mark.parametrize("tau_syn, tau_mem, message", [
    (2e-3, 1e-3, ("population 'h': membrane time constant 1ms is not longer than dt (1ms); a bit-shift decay cannot "
                 "represent it")),
    (1.2e-3, 4e-3, ("population 'h': synaptic time constant 1.2ms rounds to dash 0, which erases the current before it "
                   "acts; the shortest is 2ms (dash 1)")),
    (2e-3, 50.0, "population 'h': membrane time constant 50s is longer than 2^15 steps of dt; the longest is 32.77s"),
])
def test_xylo_refuses_time_constants_it_cannot_shift(tau_syn, tau_mem, message):
    net = two_layer(np.eye(2), np.eye(2), hidden=cuba(2, tau_syn=tau_syn, tau_mem=tau_mem))
    with pytest.raises(QuantizeError) as info:
        quantize(net, "xylo")
    assert diagnostics(info) == [("NM311", message)]


def test_neurons_without_a_synapse_take_the_shortest_xylo_synapse_with_the_model_s_charge():
    """xylosim shows that dash_syn 0 erases the current before it reaches the membrane, so a
    LIF without a synapse runs through dash_syn 1 with w' = w (1 - a) / a = w: each spike
    hands the membrane w' / 2, w' / 4, ... (its whole charge w over the following steps).
    Hand-worked: tau 4 ms at 1 ms (nir reading: beta 0.75, gain dt/tau * r = 1 with r = 4):
    dash_mem 2; the state scale 32767 / (1.05 * 2) allows 122.8 times the weight scale 127,
    so the input matrix shifts by 6: scale 127 * 64 = 8128, weights 127."""
    from engine.verify.xylosim_layer import vendor_layer

    lif = nir.LIF(tau=np.full(2, 4e-3), r=np.full(2, 4.0), v_leak=np.zeros(2), v_threshold=np.ones(2), v_reset=np.zeros(2))
    net = two_layer(np.eye(2), np.eye(2), hidden=lif)
    result = quantize(net, "xylo")
    hidden = result.network.population("hidden").params
    assert hidden["dash_syn"].tolist() == [[1], [1]] and hidden["dash_mem"].tolist() == [2, 2]
    assert hidden["threshold"].tolist() == [8128, 8128]
    assert next((p.shift, p.weights.to_dense().tolist()) for p in result.network.projections) == (6, [[127, 0], [0, 127]])
    assert result.notes[0].startswith("h: no synaptic current in the model; xylo has no pass-through synapse (dash_syn 0 "
                                      "erases the current before it acts), so the shortest one (dash_syn 1")
    layer, _keep = vendor_layer(result.network)
    layer.evolve([[1, 0]] + [[0, 0]] * 39)
    assert list(layer.rec_i_syn[0])[:6] == [4064, 2032, 1016, 508, 254, 127]
    # the membrane integrates the spike's whole charge: the sum of v over time is the model's
    # 8128 / (1 - 0.75) = 32512, within the floor of the integer decays
    assert abs(sum(layer.rec_v_mem[0]) - 32512) / 32512 < 0.01
    assert result.network.population("output").params["dash_syn"].tolist() == [[1], [1]]
    # the generic LIF has the same synapse
    assert quantize(net, "lif").network.population("h").params["decay_syn"].tolist() == [1, 1]


def test_a_memoryless_neuron_has_no_xylo_form():
    threshold = nir.Threshold(threshold=np.ones(2))
    net = two_layer(np.eye(2), np.eye(2), hidden=threshold)
    for family in ("xylo", "lif"):
        with pytest.raises(QuantizeError) as info:
            quantize(net, family)
        assert diagnostics(info) == [("NM311", (f"population 'h' (threshold) has no membrane memory and no synaptic "
                                               f"current; {family} neurons integrate their input through a synapse and a "
                                               "leaky membrane: export LIF or CubaLIF"))]


def test_a_non_spiking_hidden_layer_is_refused():
    li = nir.LI(tau=np.full(2, 4e-3), r=np.ones(2), v_leak=np.zeros(2))
    net = two_layer(np.eye(2), np.eye(2), hidden=li)
    with pytest.raises(QuantizeError) as info:
        quantize(net, "loihi")
    assert diagnostics(info) == [("NM310", ("population 'h' (li) does not spike; loihi targets need spiking neurons "
                                           "(LIF, CubaLIF, IF) in every layer; only the readout may be a leaky "
                                           "integrator read by its membrane"))]


# --- Xylo: weights, thresholds and the per-layer report, worked by hand ---
# alpha = 0.5 (dash_syn 1, exact), beta = 0.75 (dash_mem 2, exact), gains 1: effective weights = W.
# Without stimuli the peak is 2 x threshold: state scale 32767 / (1.05 * 2) = 15603.3. At
# shift 0 the weights would bind at 127 / (max|W| / 0.5): hidden 31.75, output 63.5; the
# state allows 491 and 246 times more, so each matrix shifts by the most nmspec writes, 7:
# scales 31.75 * 128 = 4064 and 63.5 * 128 = 8128. Integer weights round(W * scale / 0.5 / 128).

W_HIDDEN = [[2.0, 0.004], [-1.0, 0.0], [0.5, -0.003]]
W_OUT = [[1.0, -0.5], [0.25, -1.0]]


def test_xylo_per_layer_report_by_hand():
    result = quantize(two_layer(W_HIDDEN, W_OUT), "xylo")
    net = result.network
    w_in = net.projections[0].weights.to_dense()
    assert (net.projections[0].src, net.projections[0].dst) == (INPUT, "hidden")
    # 63.5 * [2, .004, -1, 0, .5, -.003] = 127, 0.254, -63.5 (half to even: -64), 0, 31.75, -0.19
    assert w_in.tolist() == [[127, 0], [-64, 0], [32, 0]]
    w_out = net.projections[-1].weights.to_dense()
    assert w_out.tolist() == [[127, -64], [32, -127]]
    hidden, output = net.population("hidden").params, net.population("output").params
    assert [p.shift for p in net.projections] == [7, 7]
    assert hidden["threshold"].tolist() == [4064, 4064]
    assert output["threshold"].tolist() == [8128, 8128]
    assert hidden["bias"].tolist() == [0, 0]
    h, o = result.layers
    deq = np.array([127, 0, -64, 0, 32, 0]) / 63.5
    exact = np.array(W_HIDDEN).reshape(-1)
    assert h.weight_error == pytest.approx(math.sqrt(np.sum((deq - exact) ** 2) / np.sum(exact ** 2)), rel=1e-12)
    assert (h.population, h.size, h.zeroed_weights, h.total_weights) == ("h", 2, 2, 5)
    # hidden 1 has no positive weight: it can never fire; hidden 0 reaches 4 * 15 * 128 * (127 + 32) >= 4064
    assert h.never_fire == 1
    assert (h.decay_error_syn, h.decay_error_mem) == (0.0, 0.0)
    assert h.scale == 4064.0
    deq_out = np.array([127, -64, 32, -127]) / 127
    exact_out = np.array(W_OUT).reshape(-1)
    assert o.weight_error == pytest.approx(math.sqrt(np.sum((deq_out - exact_out) ** 2) / np.sum(exact_out ** 2)), rel=1e-12)
    assert (o.zeroed_weights, o.total_weights, o.never_fire, o.scale) == (0, 4, 1, 8128.0)


def test_headroom_sets_the_state_scale_when_it_binds():
    """Tiny weights: the state limit binds (no shift). Scale 32767 / ((1 + headroom) * 2 * threshold)."""
    w = [[0.001, 0.001]]
    for headroom, threshold in ((0.05, 15603), (0.2, 13653), (0.0, 16384)):
        result = quantize(two_layer(w, [[1.0], [1.0]]), "xylo", headroom=headroom)
        assert result.network.population("hidden").params["threshold"].tolist() == [threshold, threshold]
        assert result.network.projections[0].shift == 0
        assert result.layers[0].scale == pytest.approx(32767 / ((1 + headroom) * 2), rel=1e-12)


def test_per_channel_scales_each_neuron_by_its_own_weights():
    w = [[2.0, 0.02], [1.0, -0.01]]
    per_layer = quantize(two_layer(w, [[1.0], [1.0]]), "xylo", granularity="per_layer")
    per_channel = quantize(two_layer(w, [[1.0], [1.0]]), "xylo", granularity="per_channel")
    # weight limits per neuron at shift 0: 31.75 and 127 / (0.02 / 0.5) = 3175; the state allows
    # 15603.3. Per layer: one scale, 31.75 shifted by 7 = 4064, weights round(63.5 w). Per
    # channel: the input matrix shifts by what neuron 1 allows, floor(log2(15603.3 / 3175)) = 2:
    # scales 127 and 12700, each neuron's weights using the full 8 bits.
    assert per_layer.network.projections[0].weights.to_dense().tolist() == [[127, 1], [64, -1]]
    assert per_channel.network.projections[0].weights.to_dense().tolist() == [[127, 127], [64, -64]]
    assert (per_layer.network.projections[0].shift, per_channel.network.projections[0].shift) == (7, 2)
    assert per_layer.network.population("hidden").params["threshold"].tolist() == [4064, 4064]
    assert per_channel.network.population("hidden").params["threshold"].tolist() == [127, 12700]
    assert per_channel.layers[0].weight_error < per_layer.layers[0].weight_error
    assert per_layer.layers[0].weight_error == pytest.approx(
        math.sqrt(((1 / 63.5 - 0.02) ** 2 + (64 / 63.5 - 1) ** 2 + (-1 / 63.5 + 0.01) ** 2) / (4 + 0.0004 + 1 + 0.0001)),
        rel=1e-12)


def stack(*weights):
    """input -> fc1 -> p1 -> fc2 -> p2 ... with the default CubaLIF; weights given as (src, dst)."""
    weights = [np.asarray(w, dtype=np.float64) for w in weights]
    nodes = {"input": nir.Input(input_type={"input": np.array([weights[0].shape[0]])})}
    edges, previous = [], "input"
    for k, w in enumerate(weights, start=1):
        nodes[f"fc{k}"], nodes[f"p{k}"] = nir.Linear(weight=w.T), cuba(w.shape[1])
        edges += [(previous, f"fc{k}"), (f"fc{k}", f"p{k}")]
        previous = f"p{k}"
    nodes["output"] = nir.Output(output_type={"output": np.array([weights[-1].shape[1]])})
    edges.append((previous, "output"))
    return import_graph(nir.NIRGraph(nodes=nodes, edges=edges, type_check=False), dt=DT, convention="nir")


def test_xylo_packs_hidden_layers_and_shares_the_recurrent_shift():
    """p1 -> p2 and p2 -> p3 both sit in Xylo's recurrent matrix: its shift is the smaller
    of their needs, floor(log2(15603.3 / 15.875)) = 9 and floor(log2(15603.3 / 254)) = 5."""
    result = quantize(stack([[1.0, 0.5]], [[4.0, 0.0], [0.0, 2.0]], [[0.25, 0.0], [0.0, 0.125]], [[1.0], [1.0]]), "xylo")
    net = result.network
    assert [(p.src, p.dst, p.shift) for p in net.projections] == [
        ("input", "hidden", 7), ("hidden", "hidden", 5), ("hidden", "output", 7)]
    # scales: p1 63.5 * 128, p2 15.875 * 32, p3 254 * 32, output 63.5 * 128
    assert net.population("hidden").params["threshold"].tolist() == [8128, 8128, 508, 508, 8128, 8128]
    assert net.population("output").params["threshold"].tolist() == [8128]
    rec = net.projections[1].weights.to_dense()
    assert rec[0:2, 2:4].tolist() == [[127, 0], [0, 64]] and rec[2:4, 4:6].tolist() == [[127, 0], [0, 64]]
    assert result.notes[-1] == ("3 hidden layers packed into Xylo's hidden population; each layer after the first "
                                "adds one step of delay")


def test_fewer_weight_bits():
    result = quantize(two_layer(W_HIDDEN, W_OUT), "xylo", weight_bits=4)
    # wmax 7: weight limit 7 / 4 = 1.75, shifted by 7: scale 224, integer weights round(3.5 w)
    assert result.network.projections[0].weights.to_dense().tolist() == [[7, 0], [-4, 0], [2, 0]]
    with pytest.raises(QuantizeError) as info:
        quantize(two_layer(W_HIDDEN, W_OUT), "xylo", weight_bits=1)
    assert diagnostics(info) == [("NM315", ("1-bit weights: nmspec quantizes to signed weights of at least 2 bits. A binary "
                                            "crossbar whose axon types index per-neuron weights (TrueNorth) is not supported: "
                                            "a neuron's incoming weights would have to share its few per-type values, "
                                            "with each axon's type common to every neuron of the core, and nmspec "
                                            "neither clusters weights into types nor assigns axon types"))]


# --- Loihi ---


def test_loihi_du_dv_from_time_constants():
    """du = round(4096 dt / tau_syn) - 1, dv = round(4096 dt / tau_mem)."""
    net = two_layer(np.eye(2), np.eye(2), hidden=cuba(2, tau_syn=4e-3, tau_mem=3e-3), out=cuba(2, tau_syn=2e-3, tau_mem=64e-3))
    result = quantize(net, "loihi")
    h, o = (result.network.population(n).params for n in ("h", "o"))
    assert h["du"].tolist() == [1023, 1023] and h["dv"].tolist() == [1365, 1365]
    assert o["du"].tolist() == [2047, 2047] and o["dv"].tolist() == [64, 64]
    # dv 1365 against 4096 / 3: the loss per step is off by 1/4096 of itself
    assert result.layers[0].decay_error_syn == 0.0
    assert result.layers[0].decay_error_mem == pytest.approx(1 / 4096, rel=1e-9)
    assert result.layers[1].decay_error_mem == 0.0


def test_loihi_neurons_without_a_synapse_take_input_at_once():
    lif = nir.LIF(tau=np.full(2, 2e-3), r=np.ones(2), v_leak=np.zeros(2), v_threshold=np.ones(2), v_reset=np.zeros(2))
    result = quantize(two_layer(np.eye(2), np.eye(2), hidden=lif), "loihi")
    assert result.network.population("h").params["du"].tolist() == [4095, 4095]
    assert result.network.population("h").params["dv"].tolist() == [2048, 2048]


def test_loihi_weights_weight_exp_and_vth_by_hand():
    """Without stimuli the peak is 2 x threshold: s = (2^23 - 1) / (64 * 1.05 * 2) = 62415.2,
    within 17-bit vth (s <= (2^17 - 1) / threshold). Mixed-sign weights: the largest ideal
    0.5 s = 31207.6 needs weight_exp 7 to fit 254; values are even (Lava drops the LSB).
    A single-sign matrix uses the full 255 and odd values."""
    s = (2**23 - 1) / (64 * 1.05 * 2)
    result = quantize(two_layer([[0.5, -0.25], [0.01, 0.02]], [[0.5, 0.25], [0.125, 0.0]]), "loihi")
    w_h, w_o = result.network.projections
    assert w_h.shift == 7 and w_o.shift == 7
    # s / 128 * [0.5, -0.25, 0.01, 0.02] = 243.8, -121.9, 4.88, 9.75 -> even: 244, -122, 4, 10
    assert w_h.weights.to_dense().tolist() == [[244, -122], [4, 10]]
    # s / 128 * [0.5, 0.25, 0.125] = 243.8, 121.9, 60.95 -> 244, 122, 61
    assert w_o.weights.to_dense().tolist() == [[244, 122], [61, 0]]
    vth = result.network.population("h").params["vth"]
    assert vth.tolist() == [round(s), round(s)] == [62415, 62415]
    assert int(vth.max()) <= 2**17 - 1
    assert result.layers[0].zeroed_weights == 0 and result.layers[1].total_weights == 3


def test_loihi_splits_time_constants_into_groups_and_scales_each_neuron_to_one_vth():
    """Without stimuli each neuron's peak is twice its threshold, so the state allows
    (2^23 - 1) / (64 * 1.05 * 2) = 62415.2 as the shared vth; the weights (1 per neuron)
    allow 254 * 2^7 * threshold = 32512 and 48768: vth 32512, scales 32512 / [1, 1.5].
    du = round(4096 dt / tau_syn) - 1, dv = round(4096 dt / tau_mem), per neuron."""
    net = two_layer(np.eye(2), np.eye(2), hidden=cuba(2, tau_syn=[2e-3, 4e-3], tau_mem=[4e-3, 8e-3], threshold=[1.0, 1.5]))
    result = quantize(net, "loihi")
    h = result.network.population("h").params
    assert h["vth"].tolist() == [32512, 32512]
    assert h["du"].tolist() == [2047, 1023] and h["dv"].tolist() == [1024, 512]
    # identity weights, gains 1: neuron j's weight is its scale, 32512 / [1, 1.5] / 2^7 = 254, 169.3 (single sign)
    w = result.network.projections[0]
    assert w.shift == 7 and w.weights.to_dense().tolist() == [[254, 0], [0, 169]]
    assert result.notes[2:4] == (
        ("h: thresholds vary across neurons; each neuron's weights and bias are scaled so that its threshold is the "
        "population's one vth"),
        ("time constants vary within a population: split 'h' into 2 groups of neurons that share du and dv (one Loihi "
        "neuron process each; the image holds them per neuron)"))
    with pytest.raises(QuantizeError) as info:
        quantize(two_layer(np.eye(2), np.eye(2)), "loihi", granularity="per_channel")
    assert diagnostics(info) == [("NM311", ("granularity per_channel: loihi holds one vth per population, so its "
                                           "scales are per layer"))]


# --- "can never fire": the closed-form bound against kernel runs under maximal input ---


def test_xylo_never_fire_bound_is_exact_against_the_kernel():
    """Hidden neurons with non-negative weights, all inputs at the Xylo cap (15) every step:
    a neuron fires in the kernel exactly when the bound says it can. Thresholds sit at the
    reachable membrane, one below and one above."""
    dash_syn = np.array([1, 2, 3, 1, 2, 3, 2, 4, 1])
    dash_mem = np.array([2, 1, 3, 2, 1, 3, 1, 2, 4])
    w = np.array([[3, 1, 0, 3, 1, 0, 2, 1, 1], [0, 1, 2, 0, 1, 2, 0, 0, 1]])
    bias = np.array([0, 0, 0, -20, 5, 0, 0, -3, 0])
    drive = (w * 15).sum(axis=0)
    reach = (drive * (2 ** dash_syn - 1) + bias) * 2 ** dash_mem
    threshold = reach + np.array([0, 1, -1, 0, 1, -1, 1, 0, 1])
    never = xylo_never_fire(drive, bias, dash_syn, dash_mem, threshold, 32767)
    assert never.tolist() == [False, True, False, False, True, False, True, False, True]
    net = xylo(2, w, None, np.zeros((9, 1), dtype=np.int64), dash_syn=dash_syn, dash_mem=dash_mem, threshold=threshold,
               bias=bias, alias=np.full(9, -1), out_params=([1], [1], [100], [0]))
    run = kernel.run(net, np.full((400, 2), 15))
    fired = run.spikes["hidden"].sum(axis=0) > 0
    assert fired.tolist() == (~never).tolist()


def test_loihi_never_fire_bound_is_exact_against_the_kernel():
    """All inputs spike every step. The bias puts each neuron's settled membrane one above
    vth << 6 (fires: v > vth << 6) or at it / one below (never): with dv = 4095 the membrane
    settles at u + bias, with dv = 2048 at 2 (u + bias) - 1, so an error of one in the
    current's fixed point flips the verdict."""
    du = np.array([1023, 4095, 2047, 1023, 4095, 2047, 1023, 2047])
    dv = np.array([4095] * 6 + [2048, 2048])
    w = np.array([[4, 2, 6, 4, 2, 6, 3, 5], [2, 2, 0, 2, 2, 0, 1, 1]])
    drive = w.sum(axis=0) << 6
    u = ((drive - 1) * 4096) // (du + 1) + 1  # least fixed point of u <- floor(u (4095 - du) / 4096) + drive
    vth = np.full(8, 40)
    target = vth << 6
    fires = np.array([True, True, True, False, False, False, True, False])
    settled = np.where(dv == 4095, target + np.where(fires, 1, 0), target + np.where(fires, 2, 0))
    bias = np.where(dv == 4095, settled, settled // 2) - u
    never = loihi_never_fire(drive, bias, du, dv, vth)
    assert never.tolist() == (~fires).tolist()
    params = {"du": du, "dv": dv, "vth": vth, "bias_mant": bias, "bias_exp": np.zeros(8, dtype=np.int64)}
    pop = Population("p", 8, {k: frozen_array(v, np.int32) for k, v in params.items()})
    net = QuantNetwork("loihi", DT, 2, (pop,), (Projection(INPUT, "p", Weights.from_dense(w), 0, 0),), "p")
    run = kernel.run(net, np.ones((300, 2), dtype=np.int64), record=True)
    assert (run.spikes["p"].sum(axis=0) > 0).tolist() == fires.tolist()
    # the silent neurons settle where the closed form says: at or one below vth << 6
    assert run.states["p.v"][-1][~fires].tolist() == [2560, 2560, 2560, 2559]


# --- calibration: a network that goes silent after quantization is an error ---


def test_quantized_network_silent_on_calibration_stimuli_is_an_error():
    """2-bit weights keep only the largest output weight (from hidden 0); the stimuli drive
    only hidden 1, whose weight rounds to 0: the float model answers, the quantized one not."""
    net = two_layer([[1.5, 0.0], [0.0, 1.5]], [[1.0], [0.3]], out=cuba(1, tau_mem=64e-3))
    stimuli = np.zeros((1, 60, 2), dtype=np.int64)
    stimuli[0, :, 1] = 1
    float_spikes = int(simulate(net, stimuli)["o"].sum())
    assert float_spikes > 20  # hidden 1 fires every step; the output about every second step
    with pytest.raises(QuantizeError) as info:
        quantize(net, "xylo", stimuli=stimuli, weight_bits=2)
    (d,) = info.value.diagnostics
    assert (d.code, d.message) == ("NM316", ("the network quantized for xylo emits no output spike on the 1 calibration "
                                            f"window(s); the float model emits {float_spikes}"))
    assert d.hint == ("weights that became zero or neurons that can never fire silence the output; "
                      "lower model.quantization.headroom, or set granularity: per_channel (not on loihi)")
    # with 8-bit weights the same network answers
    quantize(net, "xylo", stimuli=stimuli)


def test_calibration_peaks_set_the_scale():
    """One step with 4 input spikes: the hidden drive is 4 (I = 4, v = 4 > 1, spike, reset to 0),
    so its peak is 4 and, with 16-bit weights, the state limit binds: 32767 / (1.05 * 4) =
    7801.67; the output's drive 2 gives 32767 / (1.05 * 2) = 15603.3, above its weight limit
    32767 / (2 / 0.5) = 8191.75, which binds."""
    net = two_layer([[1.0]], [[2.0]])
    stimuli = np.full((1, 1, 1), 4, dtype=np.int64)
    record = simulate(net, stimuli, record=True)
    assert (record["i:h"].max(), record["v:h"].max(), record["h"].sum(), record["o"].sum()) == (4.0, 0.0, 1.0, 1.0)
    result = quantize(net, "xylo", stimuli=stimuli, weight_bits=16)
    h, o = result.layers
    assert h.scale == pytest.approx(32767 / (1.05 * 4), rel=1e-12)
    assert o.scale == 8191.75
    assert result.network.population("hidden").params["threshold"].tolist() == [7802]
    assert result.network.projections[0].weights.to_dense().tolist() == [[15603]]
    assert result.network.population("output").params["threshold"].tolist() == [8192]
    assert result.network.projections[-1].weights.to_dense().tolist() == [[32767]]
