"""Xylo's second synapse and its aliases, from a NIR model to the image: the import reads two
LI synaptic filters into one LIF as the neuron's two synapses (checked against the NIR
equations stepped by hand), the quantizer gives each its own bit-shift decay, the mapper
hands fan-out past the chip's limit to alias neurons (worked by hand), and the shipped
example that uses both runs bit for bit as SynSense's XyloSim runs it. Every Xylo image the
examples build stays within the chip's documented ranges."""

from __future__ import annotations

from pathlib import Path

import nir
import numpy as np
import pytest
from kernel_nets import xylo
from test_kernel_xylosim import compare

from engine.catalog import builtin_catalog
from engine.mapping.aliases import ALIAS_THRESHOLD, add_aliases
from engine.resolve.fit import check_fit, xylo_fan_out
from engine.resolve.floatnet import simulate
from engine.resolve.nir_import import ImportError_, import_graph
from engine.resolve.quantize import QuantizeError, quantize
from engine.verify.kernel import run

ROOT = Path(__file__).resolve().parents[1]
DT = 1e-3


def li(n: int, tau: float, v_leak: float = 0.0) -> nir.LI:
    return nir.LI(tau=np.full(n, tau), r=np.ones(n), v_leak=np.full(n, v_leak))


def lif(n: int, tau: float, threshold: float) -> nir.LIF:
    return nir.LIF(tau=np.full(n, tau), r=np.full(n, tau / DT), v_leak=np.zeros(n), v_threshold=np.full(n, threshold),
                   v_reset=np.zeros(n))


def cuba(n: int) -> nir.CubaLIF:
    return nir.CubaLIF(tau_syn=np.full(n, 2e-3), tau_mem=np.full(n, 4e-3), r=np.full(n, 4.0), v_leak=np.zeros(n),
                       v_threshold=np.ones(n), v_reset=np.zeros(n), w_in=np.full(n, 2.0))


W_FAST = np.array([[1.5, 0.0, 0.75], [0.5, 1.0, 0.0]])  # (input, hidden)
W_SLOW = np.array([[0.0, -0.25, 0.5], [0.75, 0.0, -0.5]])
W_OUT = np.array([[1.0, 0.0], [0.0, 1.0], [0.5, 0.5]])


def two_synapse_graph(filters=(("syn_fast", 2e-3, W_FAST), ("syn_slow", 16e-3, W_SLOW)), readout_filters=False,
                      leak=0.0) -> nir.NIRGraph:
    """input -> Linear -> LI (fast) -> h (LIF) <- LI (slow) <- Linear <- input; h -> Linear -> o."""
    n_in, n_h = W_FAST.shape
    nodes = {"input": nir.Input(input_type={"input": np.array([n_in])}), "h": lif(n_h, 4e-3, 1.0),
             "fc_out": nir.Linear(weight=W_OUT.T), "output": nir.Output(output_type={"output": np.array([2])})}
    edges = [("fc_out", "o"), ("o", "output")]
    for name, tau, weight in filters:
        nodes[f"fc_{name}"] = nir.Linear(weight=weight.T)
        nodes[name] = li(n_h, tau, leak)
        edges += [("input", f"fc_{name}"), (f"fc_{name}", name), (name, "h")]
    if readout_filters:  # the readout fed through two filters as well
        nodes["o"] = lif(2, 4e-3, 1.0)
        for name, tau in (("out_fast", 2e-3), ("out_slow", 16e-3)):
            nodes[f"fc_{name}"] = nir.Linear(weight=W_OUT.T)
            nodes[name] = li(2, tau)
            edges += [("h", f"fc_{name}"), (f"fc_{name}", name), (name, "o")]
        edges.remove(("fc_out", "o"))
        del nodes["fc_out"]
    else:
        nodes["o"] = cuba(2)
        edges.append(("h", "fc_out"))
    return nir.NIRGraph(nodes=nodes, edges=edges, type_check=False)


def by_hand(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The NIR equations of the graph above, Euler steps of dt (literal NIR): each LI
    v += dt/tau (-v + r I), the LIF v += dt/tau (-v + r (v_fast + v_slow)), spike where
    v > 1 and reset to 0. Returns the LIF's spikes and membranes."""
    fast, slow, v = np.zeros(3), np.zeros(3), np.zeros(3)
    spikes, membranes = [], []
    for row in x:
        fast = fast + DT / 2e-3 * (-fast + row @ W_FAST)
        slow = slow + DT / 16e-3 * (-slow + row @ W_SLOW)
        v = v + DT / 4e-3 * (-v + 4.0 * (fast + slow))
        fired = v > 1.0
        v = np.where(fired, 0.0, v)
        spikes.append(fired.astype(float))
        membranes.append(v)
    return np.array(spikes), np.array(membranes)


def test_two_synaptic_filters_become_the_neurons_two_synapses():
    net = import_graph(two_synapse_graph(), dt=DT, convention="nir")
    assert [(p.name, p.synapses) for p in net.populations] == [("h", 2), ("o", 1)]
    h = net.population("h")
    assert h.alpha.tolist() == [0.5] * 3 and h.alpha2.tolist() == [1 - 1 / 16] * 3  # 1 - dt/tau
    assert h.tau_syn == pytest.approx([2e-3] * 3) and h.tau_syn2 == pytest.approx([16e-3] * 3)
    assert [(p.src, p.dst, p.synapse, p.nodes) for p in net.projections] == [
        ("input", "h", 0, ("fc_syn_fast", "syn_fast")), ("input", "h", 1, ("fc_syn_slow", "syn_slow")),
        ("h", "o", 0, ("fc_out",))]
    assert net.notes[-1] == "syn_fast and syn_slow (LI) read as the synapses of 'h'"
    x = np.random.default_rng(3).integers(0, 3, size=(300, 2))
    spikes, _ = by_hand(x)
    assert spikes.sum() > 30
    np.testing.assert_array_equal(simulate(net, x)["h"], spikes)


def test_one_filter_is_a_cubalif_and_a_neuron_also_fed_directly_keeps_the_plain_reading():
    net = import_graph(two_synapse_graph(filters=(("syn_fast", 2e-3, W_FAST),)), dt=DT, convention="nir")
    assert [(p.name, p.synapses) for p in net.populations] == [("h", 1), ("o", 1)]
    graph = two_synapse_graph()
    graph.nodes["fc_direct"] = nir.Linear(weight=W_FAST.T)
    graph.edges += [("input", "fc_direct"), ("fc_direct", "h")]
    plain = import_graph(graph, dt=DT, convention="nir")
    assert [p.name for p in plain.populations] == ["syn_fast", "syn_slow", "h", "o"]


def test_filters_nmspec_cannot_read_as_synapses_are_named():
    three = (("syn_a", 2e-3, W_FAST), ("syn_b", 4e-3, W_SLOW), ("syn_c", 16e-3, W_SLOW))
    with pytest.raises(ImportError_) as info:
        import_graph(two_synapse_graph(filters=three), dt=DT, convention="nir")
    assert [(d.code, d.message) for d in info.value.diagnostics] == [
        ("NM301", ("node 'h' reads 3 synaptic filters (syn_a, syn_b, syn_c); nmspec's targets have at most 2 "
                   "synapses per neuron"))]
    with pytest.raises(ImportError_) as info:
        import_graph(two_synapse_graph(leak=0.5), dt=DT, convention="nir")
    assert [(d.code, d.message) for d in info.value.diagnostics] == [
        ("NM301", "node 'syn_fast' (LI) read as a synapse of 'h' has v_leak 0.25; a synaptic filter leaks to 0"),
        ("NM301", "node 'syn_slow' (LI) read as a synapse of 'h' has v_leak 0.03125; a synaptic filter leaks to 0")]


def test_each_synapse_gets_its_own_decay_and_runs_as_xylosim_runs_it():
    net = import_graph(two_synapse_graph(), dt=DT, convention="nir")
    result = quantize(net, "xylo")
    hidden = result.network.population("hidden").params
    assert hidden["dash_syn"].tolist() == [[1, 4]] * 3  # round(log2(tau / dt)) per synapse
    projections = [(p.src, p.dst, p.synapse) for p in result.network.projections]
    assert projections == [("input", "hidden", 0), ("input", "hidden", 1), ("hidden", "output", 0)]
    fast, slow = (p.weights.to_dense() for p in result.network.projections[:2])
    # both matrices share the input shift and the population's scale; each weight carries its
    # filter's input gain dt/tau (1/2, 1/16) and is divided by its own synapse's decay
    # (1 - 2^-dash: 1/2, 15/16): 1.5 / 2 / (1/2) = 1.5 against 0.75 / 16 / (15/16) = 0.05
    assert fast[0, 0] == 127 and slow[1, 0] == round(127 * 0.05 / 1.5) == 4
    x = np.random.default_rng(5).integers(0, 4, size=(200, 2))
    assert run(result.network, x).spikes["hidden"].sum() > 0
    compare(result.network, x)


@pytest.mark.parametrize("family, graph, where", [
    ("loihi", two_synapse_graph(), "loihi neurons"),
    ("lif", two_synapse_graph(), "lif neurons"),
    ("xylo", two_synapse_graph(readout_filters=True), "the readout"),
])
def test_a_second_synapse_where_the_target_has_none_is_refused(family, graph, where):
    net = import_graph(graph, dt=DT, convention="nir")
    population = "o" if where == "the readout" else "h"
    with pytest.raises(QuantizeError) as info:
        quantize(net, family)
    assert [(d.code, d.message) for d in info.value.diagnostics] == [
        ("NM311", (f"population '{population}' integrates two synaptic currents; {where} have one (only Xylo "
                   "Audio's hidden neurons have a second synapse)"))]


def test_fit_counts_the_synapses_and_the_alias_neurons():
    result = quantize(import_graph(two_synapse_graph(), dt=DT, convention="nir"), "xylo")
    catalog = builtin_catalog()
    imu = check_fit(result.network, catalog.part("chips", "xylo-imu"))
    assert imu.reason() == "2 synapses per hidden neuron > 1 on xylo-imu"
    net = fan_out_network()
    audio2 = {lim.name: (lim.used, lim.allowed) for lim in check_fit(net, catalog.part("chips", "xylo-audio2"),
                                                                     {"fan_out_max": 2}).limits}
    assert audio2["hidden neurons (with 2 alias neurons)"] == (5, 1000)
    assert audio2["fan-out per neuron"] == (2, 2)


def fan_out_network():
    """Hidden neuron 0 reaches neurons 0, 1, 2 through both synapses: fan-out 6."""
    net = xylo(1, [[60, 0, 0]], [[100, 50, -30], [0, 0, 0], [0, 0, 0]], [[0], [1], [1]], n_syn=2,
               dash_syn=[[1, 4]] * 3, dash_mem=[2] * 3, threshold=[100, 80, 40], bias=[0] * 3, alias=[-1] * 3,
               out_params=([1], [1], [1], [0]))
    rec = net.projections[1]
    second = type(rec)("hidden", "hidden", type(rec.weights).from_dense([[-20, 70, 90], [0, 0, 0], [0, 0, 0]]), 1, 0)
    return type(net)(net.family, net.dt, net.n_inputs, net.populations, net.projections[:2] + (second,) +
                     net.projections[2:], net.output)


def test_aliases_carry_the_fan_out_past_the_limit_exactly():
    net = fan_out_network()
    assert xylo_fan_out(net).tolist() == [6, 0, 0]
    aliased = add_aliases(net, 2)
    hidden = aliased.population("hidden").params
    # neuron 0 keeps (0, syn 0) and (0, syn 1); alias 3 takes target 1, alias 4 target 2: 0 -> 3 -> 4
    assert hidden["alias"].tolist() == [3, -1, -1, 4, -1]
    assert hidden["threshold"].tolist() == [100, 80, 40, ALIAS_THRESHOLD, ALIAS_THRESHOLD]
    rec = {p.synapse: p.weights.to_dense() for p in aliased.projections if p.src == p.dst == "hidden"}
    assert rec[0][[0, 3, 4]][:, :3].tolist() == [[100, 0, 0], [0, 50, 0], [0, 0, -30]]
    assert rec[1][[0, 3, 4]][:, :3].tolist() == [[-20, 0, 0], [0, 70, 0], [0, 0, 90]]
    assert xylo_fan_out(aliased).tolist() == [2, 0, 0, 2, 2]
    assert add_aliases(net, 6) is net
    x = np.random.default_rng(2).integers(0, 6, size=(120, 1))
    plain, split = run(net, x, record=True), run(aliased, x, record=True)
    assert plain.spikes["hidden"][:, 0].sum() > 20
    np.testing.assert_array_equal(split.spikes["hidden"][:, :3], plain.spikes["hidden"])
    np.testing.assert_array_equal(split.spikes["hidden"][:, 3], plain.spikes["hidden"][:, 0])  # the alias copies
    np.testing.assert_array_equal(split.spikes["output"], plain.spikes["output"])
    compare(aliased, x)


# ---- the shipped example and every Xylo image the examples build -----------------------------

XYLO_SPECS = sorted(p for folder in ("examples", "sites") for p in (ROOT / "specs" / folder).glob("*.yaml")
                    if "rollout" not in p.name)


@pytest.fixture(scope="module")
def xylo_images():
    from engine.image import read_image
    from engine.pipeline import BuildOptions, build_site
    from engine.spec import repository_catalog

    images = {}
    for spec in XYLO_SPECS:
        catalog, _ = repository_catalog(spec, ())
        result = build_site(spec, catalog, BuildOptions(verify=False, preview=True))
        if result.report["family"] == "xylo":
            images[spec.stem] = (result.report["chip"], read_image(result.files["model.nmc"]).network)
    return images


def test_the_valve_example_uses_both_synapses_and_aliases_bit_exact_against_xylosim(xylo_images):
    from engine.pipeline import resolve_site
    from engine.spec import repository_catalog, validate_spec

    chip, net = xylo_images["valve-xylo"]
    hidden = net.population("hidden")
    assert chip == "xylo-audio2" and hidden.params["dash_syn"].shape == (hidden.size, 2)
    assert {p.synapse for p in net.projections if p.src == p.dst == "hidden"} == {0, 1}
    assert np.unique(hidden.params["dash_syn"][:128], axis=0).tolist() == [[1, 1], [1, 4]]
    aliases = int(np.sum(hidden.params["alias"] >= 0))
    assert aliases == hidden.size - 128 > 0 and xylo_fan_out(net).max() == 64
    spec = ROOT / "specs/examples/valve-xylo.yaml"
    catalog, _ = repository_catalog(spec, ())
    doc, _ = validate_spec(spec, catalog)
    windows = resolve_site(doc, catalog).stimulus_spikes
    for window in windows:  # the recorded spikes and states of the kernel and XyloSim, window by window
        compare(net, np.asarray(window, dtype=np.int64))


def test_every_xylo_image_stays_within_the_chips_documented_ranges(xylo_images):
    """docs/kernel.md and the catalog's sourced figures: 8-bit weights and biases (Rockpool's
    XyloSim.from_specification), 16-bit thresholds, 4-bit decays, the chip's neuron counts,
    synapses per neuron, fan-out, input and readout windows, one alias per neuron."""
    catalog = builtin_catalog()
    assert sorted(xylo_images) == ["acoustic-xylo", "compressor", "plant-7-compressor-3", "plant-9-compressor-1",
                                   "valve-xylo"]
    for name, (chip_id, net) in xylo_images.items():
        chip = catalog.part("chips", chip_id)

        def figure(key, chip=chip):
            fig = chip.figure(key)
            return int(fig.value) if fig.known else None

        hidden, output = net.population("hidden"), net.population("output")
        nh = hidden.size
        assert net.n_inputs <= figure("input_channels"), name
        assert nh <= figure("hidden_neurons") and output.size <= figure("output_neurons"), name
        assert hidden.params["dash_syn"].shape[1] <= figure("synapses_per_neuron"), name
        for proj in net.projections:
            assert -128 <= proj.weights.values.min(initial=0) and proj.weights.values.max(initial=0) <= 127, name
            assert 0 <= proj.shift <= 7, name
            assert proj.synapse < (hidden.params["dash_syn"].shape[1] if proj.dst == "hidden" else 1), name
        for pop in (hidden, output):
            assert np.all((-128 <= pop.params["bias"]) & (pop.params["bias"] <= 127)), name
            assert np.all((1 <= pop.params["threshold"]) & (pop.params["threshold"] <= 32767)), name
            for key in ("dash_syn", "dash_mem"):
                assert np.all((0 <= pop.params[key]) & (pop.params[key] <= 15)), name
        alias = hidden.params["alias"]
        sources = np.nonzero(alias >= 0)[0]
        assert np.all(alias[sources] > sources) and np.all(alias < nh), name  # each passes on to a later neuron
        assert xylo_fan_out(net).max(initial=0) <= figure("fan_out_max"), name
        fed = np.nonzero([np.any(p.weights.to_dense(), axis=0) for p in net.projections if p.src == "input"])[1]
        if figure("input_neurons_max") is not None:
            assert fed.max(initial=0) < figure("input_neurons_max"), name
        if figure("readout_neurons_max") is not None:
            readout = next(p for p in net.projections if p.dst == "output").weights
            rows = np.nonzero(np.diff(readout.indptr))[0]
            assert rows.min(initial=nh) >= nh - figure("readout_neurons_max"), name
