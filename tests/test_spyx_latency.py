"""Spyx's step of spike latency on the chips (engine/resolve/latency.py): each layer emits on
the step its membrane crosses and the chips' step between neurons hands the next layer the
spike on Spyx's step, so every membrane is Spyx's and the readout spikes one step early.

Checked against Spyx 1.0.0's own recorded runs of its exports (tests/data/frameworks/), against
the float reading (which reproduces those records exactly, tests/test_framework_fixtures.py)
on networks worked by hand, in SynSense's xylosim, and through `nmspec build` and `verify`."""

from __future__ import annotations

import json
from pathlib import Path

import attrs
import nir
import numpy as np
import pytest
from test_framework_deploy import ACOUSTIC, XYLO_TARGET, materialise, nmspec, site
from test_kernel_xylosim import compare

from engine.resolve.floatnet import simulate
from engine.resolve.latency import retime
from engine.resolve.leaky_current import current_as_membrane
from engine.resolve.nir_import import import_graph, read_nir
from engine.resolve.quantize import QuantizeError, quantize
from engine.verify import kernel

FIXTURES = Path(__file__).parent / "data" / "frameworks"


def spyx_fixture(model: str):
    net = read_nir(FIXTURES / f"spyx_{model}.nir", dt=1.0, convention="spyx")
    with np.load(FIXTURES / f"spyx_{model}.npz") as data:
        return net, {k: data[k] for k in data.files}


# (model, family): the populations whose membrane runs as the current, and those whose reset
# becomes the immediate subtraction (the rest keep Spyx's membrane in the float record)
CASES = [
    ("lif", "xylo", ("layer_1",), ()),  # Xylo's readout has no recurrent weights
    ("lif", "lif", ("layer_1", "layer_3"), ()),
    ("rlif", "xylo", ("layer_1.layer_1.lif",), ()),
    ("rlif", "lif", ("layer_1.layer_1.lif", "layer_3"), ()),
    ("cubalif", "lif", ("layer_3",), ("layer_1",)),
    ("if", "lif", (), ("layer_1", "layer_3")),  # beta 1: no synaptic decay carries it
]


@pytest.mark.parametrize("model, family, as_current, immediate", CASES, ids=[f"{c[0]}-{c[1]}" for c in CASES])
def test_the_chips_timing_computes_what_spyx_recorded_one_step_earlier(model, family, as_current, immediate):
    """The network as the chip runs it, in floats: every population's spikes are Spyx's of the
    next step (Spyx emits nothing on step 0), every membrane Spyx's, or with the immediate
    subtraction Spyx's less the threshold on the step of a crossing."""
    net, record = spyx_fixture(model)
    retimed = retime(net)
    assert retimed.populations == tuple(p.name for p in net.populations) and retimed.resets == immediate
    rewrite = current_as_membrane(retimed.net, family)
    assert rewrite.populations == as_current
    ours = simulate(rewrite.net, record["input"], record=True)
    for pop in net.populations:
        theirs = record[f"spikes:{pop.name}"]
        assert not theirs[0].any() and theirs[1:].any()
        assert np.array_equal(ours[pop.name][:-1], theirs[1:]), pop.name
        taken = ours[pop.name] * pop.threshold if pop.name in immediate else 0.0
        assert np.allclose(ours[f"v:{pop.name}"] + taken, record[f"v:{pop.name}"], rtol=2e-5, atol=2e-5), pop.name


def spyx_lif(beta: float, threshold: float, n: int = 1) -> nir.LIF:
    """A LIF as Spyx 1.0 writes it at dt = 1: tau = 1 / (1 - beta), r = beta."""
    return nir.LIF(tau=np.full(n, 1 / (1 - beta)), r=np.full(n, beta), v_leak=np.zeros(n),
                   v_threshold=np.full(n, threshold), v_reset=np.zeros(n))


def spyx_cubalif(alpha: float, beta: float, threshold: float, n: int) -> nir.CubaLIF:
    return nir.CubaLIF(tau_syn=np.full(n, 1 / (1 - alpha)), tau_mem=np.full(n, 1 / (1 - beta)), r=np.full(n, beta),
                       w_in=np.ones(n), v_leak=np.zeros(n), v_threshold=np.full(n, threshold), v_reset=np.zeros(n))


def chain(hidden, readout, w_in: list[list[float]], w_out: list[list[float]]):
    nodes = {"input": nir.Input(input_type={"input": np.array([len(w_in[0])])}), "fc1": nir.Linear(weight=np.array(w_in)),
             "h": hidden, "fc2": nir.Linear(weight=np.array(w_out)), "o": readout,
             "output": nir.Output(output_type={"output": np.array([len(w_out)])})}
    edges = [("input", "fc1"), ("fc1", "h"), ("h", "fc2"), ("fc2", "o"), ("o", "output")]
    return import_graph(nir.NIRGraph(nodes=nodes, edges=edges, type_check=False), dt=1.0, convention="spyx")


def test_a_spyx_lif_worked_by_hand_runs_in_xylosim_one_step_early():
    """One input (weight 1.5) -> Spyx LIF (beta 0.75, threshold 1) -> readout (beta 0.875,
    threshold 1.2, weight 0.9). Spyx's membrane is snnTorch's Leaky's (gain 1, the threshold
    off one step after the crossing): the hidden layer quantizes as the snnTorch example of
    tests/test_leaky_current.py does, dash_syn 2, dash_mem 0, threshold 8128, input weight
    127 and self-weight -85 at shift 7. On input 1, 1, 0, 0 the chip's hidden neuron spikes
    on steps 0 and 1 (I = 12192, 13176, 1722, 1292: the model's 1.5, 1.625, 0.22, 0.16);
    Spyx emits the same crossings on steps 1 and 2. On 60 random steps the chip's hidden
    spikes are Spyx's of the next step, in xylosim as in the kernel; the generic LIF runs the
    readout in the same form, and its spikes are Spyx's of the next step too (Xylo's readout
    runs through the stand-in synapse: approximate)."""
    net = chain(spyx_lif(0.75, 1.0), spyx_lif(0.875, 1.2), [[1.5]], [[0.9]])
    result = quantize(net, "xylo")
    hidden = result.network.population("hidden").params
    assert hidden["dash_syn"].tolist() == [[2]] and hidden["dash_mem"].tolist() == [0]
    assert hidden["threshold"].tolist() == [8128] and hidden["bias"].tolist() == [0]
    weights = {(p.src, p.dst): (p.shift, p.weights.to_dense().tolist()) for p in result.network.projections}
    assert weights[("input", "hidden")] == (7, [[127]]) and weights[("hidden", "hidden")] == (7, [[-85]])
    from engine.verify.xylosim_layer import vendor_layer

    layer, _keep = vendor_layer(result.network)
    layer.evolve([[1], [1], [0], [0]])
    assert list(layer.rec_i_syn[0]) == [12192, 13176, 1722, 1292]
    assert [row[0] for row in layer.rec_recurrent_spikes] == [1, 1, 0, 0]
    assert simulate(net, np.array([[1], [1], [0], [0]]))["h"][:, 0].tolist() == [0, 1, 1, 0]
    x = np.random.default_rng(3).integers(0, 2, size=(60, 1))
    compare(result.network, x)
    spyx = simulate(net, x)
    assert spyx["h"].sum() == 26 and spyx["o"].sum() == 14
    assert kernel.run(result.network, x).spikes["hidden"][:-1].tolist() == spyx["h"][1:].tolist()
    generic = kernel.run(quantize(net, "lif").network, x)
    assert generic.spikes["h"][:-1].tolist() == spyx["h"][1:].tolist()
    assert generic.spikes["o"][:-1].tolist() == spyx["o"][1:].tolist()


def test_a_spyx_cubalif_runs_with_the_chips_immediate_subtraction():
    """Spyx's CuBaLIF takes the threshold off before the decay, one step after the crossing;
    with u = v - c theta that is the generic LIF's immediate subtraction. Weights on a 0.01
    grid, the largest 1.27: the weight-bound scale makes every integer weight 100 times the
    float one (a = 0.5 and shift 7 cancel), so what is left of rounding is the shifts'
    floor, a unit in 6400 per step."""
    net = chain(spyx_cubalif(0.5, 0.75, 1.0, 2), spyx_lif(0.875, 1.2), [[0.7, -0.3], [0.45, 1.27]], [[0.9, 0.35]])
    result = quantize(net, "lif")
    weights = {(p.src, p.dst): (p.shift, p.weights.to_dense().tolist()) for p in result.network.projections}
    assert weights[("input", "h")] == (7, [[70, 45], [-30, 127]])
    assert result.network.population("h").params["threshold"].tolist() == [6400, 6400]
    x = np.random.default_rng(5).integers(0, 2, size=(60, 2))
    spyx = simulate(net, x)
    assert spyx["h"].sum() == 71 and spyx["o"].sum() == 20
    ran = kernel.run(result.network, x)
    assert ran.spikes["h"][:-1].tolist() == spyx["h"][1:].tolist()
    assert ran.spikes["o"][:-1].tolist() == spyx["o"][1:].tolist()
    assert ("h: the threshold the model subtracts on the step after the crossing (before the decay, or without one) is "
            "the immediate subtraction of the chip's membrane, read after the crossing: exact") in result.notes


def test_the_notes_say_where_the_latency_went():
    net, record = spyx_fixture("lif")
    x = record["input"][None]
    xylo = quantize(net, "xylo", stimuli=x).notes
    assert ("layer_1, layer_3: one step of spike latency per layer, as spyx computes it, is the step xylo takes between "
            "neurons: each neuron spikes on the step its membrane crosses and the next layer takes the spike a step "
            "later, on the model's step (exact in the timing; the readout 'layer_3' emits one step before the model "
            "does: a window's readout spikes are the model's of steps 1..T (spyx emits nothing on step 0), so the "
            "crossing of the window's last step, which the model emits after the window, counts in it)") in xylo
    assert "layer_3 subtract the threshold one step after a spike; xylo subtracts it at once" in xylo
    assert not any("hidden layers packed" in n for n in xylo)
    loihi = quantize(net, "loihi", stimuli=x).notes
    assert ("layer_1, layer_3: one step of spike latency per layer, as spyx computes it, is Loihi's step of delay per "
            "Dense (the input's included): each layer runs one step behind its input and the readout spikes on the "
            "model's steps (exact in the timing; the other notes say what else differs)") in loihi


def test_where_no_delay_holds_the_spike_the_latency_is_refused_with_what_to_train():
    net, _ = spyx_fixture("if")
    with pytest.raises(QuantizeError) as caught:
        quantize(net, "speck")
    assert [(d.code, d.message) for d in caught.value.diagnostics] == [("NM311", (
        "populations 'layer_1', 'layer_3' emit each spike one step after the membrane crosses (as spyx computes: one "
        "step of latency per layer); speck passes a spike on to the next layer within the step and has no synaptic "
        "delay to hold it for one: train the model with a neuron that spikes on the step its membrane crosses (Spyx's "
        "LIF computes the spike from the previous membrane) and export it with that framework's model.convention "
        "(snntorch, norse, rockpool or sinabs)"))]
    # a spike already a step late that an edge delays once more would need two steps
    late = attrs.evolve(net, projections=tuple(attrs.evolve(p, delayed=True) if p.src == "layer_1" else p
                                               for p in net.projections))
    with pytest.raises(QuantizeError) as caught:
        quantize(late, "xylo")
    assert [(d.code, d.message) for d in caught.value.diagnostics] == [("NM311", (
        "projection 'layer_1' -> 'layer_3' delivers 'layer_1''s spikes a step after they are emitted, and they are "
        "emitted a step after the crossing; xylo delays a spike by one step between neurons, not two: train the model "
        "without the recurrent delay or without the latency"))]


def test_a_spyx_model_builds_and_verifies_on_xylo(tmp_path):
    """Spyx's own export of Linear -> LIF -> Linear -> LIF (per-neuron decays) on a Xylo IMU,
    run at 1 ms (model.dt; the file's own dt, 1 s, is Spyx's default export_dt): the hidden
    LIF in the exact form, one step early, the readout through the stand-in synapse: the kernel
    picks the float reference's class in all 20 windows of the acoustic traces."""
    materialise(tmp_path, FIXTURES / "spyx_lif.nir", 3, traces="acoustic")
    (tmp_path / "site.yaml").write_text(site("spyx_lif.nir", "spyx", "1ms", ["normal", "leak", "valve_chatter"],
                                             XYLO_TARGET, "spyx-xylo", chain=ACOUSTIC))
    built = nmspec("build", "site.yaml", "--out", "out", "-o", "json", cwd=tmp_path)
    assert built.returncode == 0, built.stdout + built.stderr
    bundle = tmp_path / "out" / "frameworks" / "spyx-xylo"
    notes = json.loads((bundle / "report.json").read_text())["notes"]
    assert any(n.startswith("layer_1, layer_3: one step of spike latency per layer, as spyx computes it, is the step "
                            "xylo takes between neurons") for n in notes)
    verified = nmspec("verify", str(bundle), "-o", "json", cwd=tmp_path)
    assert verified.returncode == 0, verified.stdout + verified.stderr
    result = json.loads(verified.stdout)["verification"]
    # the untrained weights put every window of these traces in one class, so the per-output
    # correlation of the spike counts, kernel against float, is asserted too
    assert (result["agreement"], result["kernel_accuracy"], result["float_accuracy"]) == (1.0, 0.3, 0.3)
    assert [round(c, 4) for c in result["spike_count_correlation"]] == [0.8346, 0.9621, 0.9907]
