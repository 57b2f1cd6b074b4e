"""A LIF without a synaptic current run exactly on Xylo and the generic LIF: its membrane as
the synaptic current, dash_mem 0 clearing V, the reset as a recurrent self-weight and a
constant drive from a neuron that fires on every step (engine/resolve/leaky_current.py).

Checked three ways: the rewritten float network reproduces what each framework itself
recorded (snnTorch's Leaky and RLeaky, Rockpool's LIFNeuronTorch, Sinabs' LIF); a network
worked by hand runs in SynSense's xylosim as computed here; and the quantized fixtures run
bit-exact in xylosim against nmspec's kernel."""

from __future__ import annotations

import json
from pathlib import Path

import attrs
import nir
import numpy as np
import pytest
from test_kernel_xylosim import compare

from engine.resolve.floatnet import simulate
from engine.resolve.leaky_current import current_as_membrane
from engine.resolve.nir_import import import_graph, read_nir
from engine.resolve.quantize import quantize
from engine.verify import kernel

FIXTURES = Path(__file__).parent / "data" / "frameworks"
ENTRIES = {(m["framework"], f["model"]): f for m in (json.loads(p.read_text()) for p in sorted(FIXTURES.glob("*.json")))
           for f in m["fixtures"]}


def fixture(framework: str, model: str):
    entry = ENTRIES[(framework, model)]
    net = read_nir(FIXTURES / entry["nir"], dt=entry["dt"], convention=entry["convention"])
    with np.load(FIXTURES / entry["record"]) as data:
        return net, {k: data[k] for k in data.files}


# (framework, model, family): the populations rewritten, and whether a bias clock is needed
CASES = [
    ("snntorch", "leaky", "xylo", ("1",), True),  # Xylo's readout keeps the stand-in synapse
    ("snntorch", "leaky", "lif", ("1", "3"), True),
    ("snntorch", "rleaky", "xylo", ("1.lif",), True),
    ("snntorch", "rleaky", "lif", ("1.lif", "3"), True),
    ("snntorch", "conv", "lif", ("1", "4"), True),
    ("rockpool", "lif_cubalif", "xylo", ("1_LIFNeuronTorch",), False),  # reset before the decay: -beta theta
    ("sinabs", "lif", "lif", ("1",), True),
]


@pytest.mark.parametrize("framework, model, family, names, clock", CASES,
                         ids=[f"{c[0]}-{c[1]}-{c[2]}" for c in CASES])
def test_the_rewritten_network_computes_what_the_framework_recorded(framework, model, family, names, clock):
    net, record = fixture(framework, model)
    rewrite = current_as_membrane(net, family)
    rewritten, tick = rewrite.net, rewrite.clock
    assert rewrite.populations == names and (tick is not None) == clock and rewrite.steady == ()
    ours = simulate(rewritten, record["input"], record=True)
    for pop in net.populations:
        if f"spikes:{pop.name}" in record:
            assert np.array_equal(ours[pop.name], record[f"spikes:{pop.name}"]), pop.name
        if f"v:{pop.name}" in record:  # v = I + c, the model's membrane
            assert np.allclose(ours[f"v:{pop.name}"], record[f"v:{pop.name}"], rtol=2e-5, atol=2e-5), pop.name
    if tick is not None:
        assert ours[tick].tolist() == [[1.0]] * len(record["input"])


def test_a_readout_a_reset_to_zero_and_a_short_decay_keep_their_forms():
    """Xylo's readout has no recurrent weights; a reset to v_reset is no self-weight; a beta that
    rounds to dash 0 has no synaptic decay to carry it."""
    net, _ = fixture("snntorch", "leaky")
    assert current_as_membrane(net, "loihi").populations == ()
    literal = attrs.evolve(net, populations=tuple(attrs.evolve(p, reset="zero") for p in net.populations))
    assert current_as_membrane(literal, "lif").populations == ()
    fast = attrs.evolve(net, populations=tuple(attrs.evolve(p, beta=np.full(p.size, 0.25)) for p in net.populations))
    assert current_as_membrane(fast, "lif").populations == ()


def leaky(beta: float, threshold: float, n: int = 1) -> nir.LIF:
    """A Leaky as snnTorch 1.0 writes it: tau = 1e-4 / (1 - beta), r = 1 / (1 - beta)."""
    return nir.LIF(tau=np.full(n, 1e-4 / (1 - beta)), r=np.full(n, 1 / (1 - beta)), v_leak=np.zeros(n),
                   v_threshold=np.full(n, threshold), v_reset=np.zeros(n))


def test_a_leaky_worked_by_hand_runs_in_xylosim_as_computed():
    """One input (weight 1.5) -> Leaky (beta 0.75, threshold 1) -> readout. Without stimuli
    the peak is twice the threshold: state scale 32767 / 2.1 = 15603. dash_syn 2 (a = 0.75),
    so every weight is divided by 0.75: the input's 2 allows the weight scale 63.5, the reset's
    1.33 allows 95.25, and the state 245.7 and 163.8 times more: both matrices shift by 7,
    scale min(15603, 8128, 12192) = 8128. Threshold 8128, input weight
    round(1.5 * 8128 / 0.75 / 128) = 127, self-weight round(-8128 / 0.75 / 128) = -85.
    Step 0 (input 1): I = 16256 - 4064 = 12192 (the model's 1.5), V = I: one spike, V 4064.
    Step 1 (input 1): I = 12192 + 16256 - 10880 = 17568, -4392: 13176 (the model's
    0.75 * 1.5 + 1.5 - 1 = 1.625, 13208), one spike. Step 2: 13176 - 10880 = 2296, -574: 1722
    (the model's 0.21875, 1778). Step 3: 1722 - 430 = 1292."""
    nodes = {"input": nir.Input(input_type={"input": np.array([1])}), "fc1": nir.Linear(weight=np.array([[1.5]])),
             "h": leaky(0.75, 1.0), "fc2": nir.Linear(weight=np.array([[1.0]])), "o": leaky(0.75, 1.0),
             "output": nir.Output(output_type={"output": np.array([1])})}
    edges = [("input", "fc1"), ("fc1", "h"), ("h", "fc2"), ("fc2", "o"), ("o", "output")]
    net = import_graph(nir.NIRGraph(nodes=nodes, edges=edges, type_check=False), dt=1e-3, convention="snntorch")
    result = quantize(net, "xylo")
    hidden = result.network.population("hidden").params
    assert hidden["dash_syn"].tolist() == [[2]] and hidden["dash_mem"].tolist() == [0]
    assert hidden["threshold"].tolist() == [8128] and hidden["bias"].tolist() == [0]
    weights = {(p.src, p.dst): (p.shift, p.weights.to_dense().tolist()) for p in result.network.projections}
    assert weights[("input", "hidden")] == (7, [[127]]) and weights[("hidden", "hidden")] == (7, [[-85]])
    from engine.verify.xylosim_layer import vendor_layer

    inputs = np.array([[1], [1], [0], [0]])
    layer, _keep = vendor_layer(result.network)
    layer.evolve(inputs.tolist())
    assert list(layer.rec_i_syn[0]) == [12192, 13176, 1722, 1292]
    assert list(layer.rec_v_mem[0]) == [4064, 5048, 1722, 1292]
    assert [row[0] for row in layer.rec_recurrent_spikes] == [1, 1, 0, 0]
    compare(result.network, inputs)
    # the model: 1.5 and 1.625 spike, 0.21875 does not
    assert simulate(net, inputs)["h"][:, 0].tolist() == [1, 1, 0, 0]


@pytest.mark.parametrize("framework, model", [("snntorch", "leaky"), ("snntorch", "rleaky"), ("snntorch", "conv")])
def test_the_quantized_exact_form_runs_bit_exact_in_xylosim(framework, model):
    net, record = fixture(framework, model)
    x = np.rint(record["input"]).astype(np.int64)
    result = quantize(net, "xylo", stimuli=x[None].astype(np.float64))
    hidden = result.network.population("hidden")
    rewritten = net.populations[0]
    assert hidden.params["dash_mem"][: rewritten.size].tolist() == [0] * rewritten.size
    rng = np.random.default_rng(7)
    longer = np.concatenate([x, rng.integers(0, 3, size=(60, x.shape[1]))])
    compare(result.network, longer)
    assert kernel.run(result.network, longer).spikes["hidden"][:, -1].tolist() == [1] * len(longer)  # the bias clock


def test_without_a_neuron_to_spare_the_drive_enters_at_its_steady_state():
    """Xylo IMU's hidden layer full: the constant drive enters V as c / (1 - beta), no clock."""
    net, record = fixture("snntorch", "leaky")
    x = record["input"][None]
    spared = quantize(net, "xylo", stimuli=x, max_neurons=7)
    assert spared.network.population("hidden").size == 7
    full = quantize(net, "xylo", stimuli=x, max_neurons=6)
    assert full.network.population("hidden").size == 6
    assert ("1: no neuron to spare for the one that fires on every step, so the constant drive c enters V at its "
            "steady state c / (1 - beta): step t differs from the model by c beta^(t+1) / (1 - beta), which fades "
            "within the membrane's time constant") in full.notes
    rewrite = current_as_membrane(net, "xylo", clock_room=False)
    assert rewrite.clock is None and rewrite.steady == ("1",)
    drive = next(p for p in net.projections if p.dst == "1").bias * net.population("1").in_gain
    beta = net.population("1").beta
    assert np.allclose(rewrite.net.population("1").leak, drive / (1 - beta))
