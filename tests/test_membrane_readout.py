"""Membrane readouts: a leaky-integrator readout (NIR LI or CubaLI) read by its membrane.

Worked by hand: an LI readout with tau = 2 dt (nir convention: beta = 1 - dt/tau = 0.5) is on
Xylo and the generic LIF a synapse with dash 1 (decay 0.5, exact) behind a membrane that
passes the current through (dash_mem 0: V = I + bias), with its threshold at the state
word's largest value; on Loihi a neuron whose u is its input (du 4095) and whose v decays by
dv = 4096 * 0.5, with vth at its largest value. The class is the readout neuron whose
membrane peaks highest over the window, in the kernel as in the float reference.
"""

from __future__ import annotations

import struct

import nir
import numpy as np
import pytest
from test_quantize import DT, cuba, diagnostics, two_layer

from engine import image
from engine.image import ImageError, write_image
from engine.image import layout as L
from engine.netlist import membrane_scores
from engine.resolve.floatnet import classify, readout_scores, simulate
from engine.resolve.quantize import LOIHI_VTH_MAX, QuantizeError, quantize
from engine.verify import kernel
from tests.image_nets import small_contents


def li(n: int, tau: float = 2 * DT) -> nir.LI:
    return nir.LI(tau=np.full(n, tau), r=np.ones(n), v_leak=np.zeros(n))


W_HIDDEN = np.array([[1.0, 0.0, 0.5], [0.0, 1.0, 0.5]])
W_OUT = np.array([[0.5, -0.25], [-0.25, 0.5], [0.25, 0.25]])


def net_with_li_readout():
    return two_layer(W_HIDDEN, W_OUT, hidden=cuba(3), out=li(2))


def stimuli(seed: int = 5, windows: int = 6, steps: int = 40) -> np.ndarray:
    rng = np.random.default_rng(seed)
    rates = rng.random((windows, 1, 2)) * 0.6
    return (rng.random((windows, steps, 2)) < rates).astype(np.float64)


def test_the_readout_is_a_pass_through_membrane_on_xylo_and_the_generic_lif():
    net = net_with_li_readout()
    for family, state_max, names in (("xylo", 32767, ("dash_syn", "dash_mem")),
                                     ("lif", 2**31 - 1, ("decay_syn", "decay_mem"))):
        result = quantize(net, family)
        network = result.network
        out = network.population("output" if family == "xylo" else "o").params
        assert network.readout == "membrane"
        assert np.asarray(out[names[0]]).reshape(-1).tolist() == [1, 1]
        assert out[names[1]].tolist() == [0, 0]
        assert out["threshold"].tolist() == [state_max, state_max]
        assert out["bias"].tolist() == [0, 0]
        assert result.notes[-1].startswith("membrane readout: 'o' (li) never spikes (threshold at the state word's "
                                           "largest value); a window's class is the readout neuron whose membrane")
        assert next(r for r in result.layers if r.population == "o").never_fire == 0


def test_the_readout_on_loihi_takes_its_input_as_u_and_decays_v():
    result = quantize(net_with_li_readout(), "loihi")
    out = result.network.population("o").params
    assert result.network.readout == "membrane"
    assert out["du"].tolist() == [4095, 4095]
    assert out["dv"].tolist() == [2048, 2048]
    assert out["vth"].tolist() == [LOIHI_VTH_MAX, LOIHI_VTH_MAX]


def test_a_cubali_readout_keeps_its_synapse_and_membrane_on_xylo():
    cubali = nir.CubaLI(tau_syn=np.full(2, 2e-3), tau_mem=np.full(2, 4e-3), r=np.full(2, 4.0), v_leak=np.zeros(2),
                        w_in=np.full(2, 2.0))
    result = quantize(two_layer(W_HIDDEN, W_OUT, hidden=cuba(3), out=cubali), "xylo")
    out = result.network.population("output").params
    assert result.network.readout == "membrane"
    assert out["dash_syn"].reshape(-1).tolist() == [1, 1]
    assert out["dash_mem"].tolist() == [2, 2]
    assert out["threshold"].tolist() == [32767, 32767]


def test_speck_refuses_a_membrane_readout_naming_the_limit_and_the_change():
    """The Speck chip returns a neuron's membrane to the host (samna's ReadNeuronValue: its catalog
    entry says so, tests/test_membrane_readout_chips.py), but its neurons leak only by a constant
    per step: the family has no form for a leaky integrator."""
    with pytest.raises(QuantizeError) as info:
        quantize(net_with_li_readout(), "speck")
    assert diagnostics(info) == [("NM310", (
        "population 'o' (li) is a membrane readout (a leaky integrator read by its membrane; it does not spike); "
        "speck neurons integrate and fire without a synaptic current and leak only by a constant per step (the "
        "layer's bias), so a leak in proportion to the membrane has no form there: train the model with a spiking "
        "readout (IF, classified by spike count)"))]


def test_the_class_is_the_highest_membrane_peak_lowest_index_on_ties():
    membrane = np.array([[[1, 5, 2], [4, 5, 6]], [[7, 0, 7], [0, 0, 0]]])  # (windows, steps, outputs)
    assert membrane_scores(membrane).tolist() == [[4, 5, 6], [7, 0, 7]]
    assert classify(membrane_scores(membrane)).tolist() == [2, 0]


@pytest.mark.parametrize("family", ["xylo", "lif", "loihi"])
def test_the_kernel_membrane_is_the_li_of_the_hidden_spikes_and_picks_the_float_classes(family):
    """The readout membrane, divided by its scale, is the LI v_t = 0.5 v_(t-1) + 0.5 W^T s_(t-1) of
    the kernel's own hidden spikes (every family delivers them a step later) to within the
    rounding: each step's floor loses under one unit and each weight's rounding half a weight
    step per hidden spike of the step, summed by the decay of 0.5 to under twice that. The
    class decided from the kernel's membrane peaks is that LI's."""
    net = net_with_li_readout()
    x = stimuli()
    result = quantize(net, family, stimuli=x)
    network = result.network
    scale = next(r for r in result.layers if r.population == "o").scale * (64 if family == "loihi" else 1)
    shift = next(p.shift for p in network.projections if p.dst == network.output)
    # one weight step in state units: Xylo and the generic LIF shift the 8-bit weights left, Loihi
    # scales them by 2^weight_exp and 64 and keeps mixed-sign weights even
    step = 2.0**shift * (128 if family == "loihi" else 1)
    ours, theirs = [], []
    for window in x.astype(np.int64):
        run = kernel.run(network, window)
        hidden = run.spikes[network.populations[0].name]
        expected = np.zeros((len(window), 2))
        for t in range(1, len(window)):
            expected[t] = 0.5 * expected[t - 1] + 0.5 * hidden[t - 1] @ W_OUT  # nir's LI gain (1 - beta) r
        v = run.states[f"{network.output}.v"] / scale
        bound = 2 * (1 + int(hidden.sum(axis=1).max()) * step / 2)
        assert np.max(np.abs(v - expected)) <= bound / scale, family
        ours.append(run.output_scores(network))
        theirs.append(membrane_scores(expected))
    assert classify(np.array(ours)).tolist() == classify(np.array(theirs)).tolist()
    assert readout_scores(net, simulate(net, x)).shape == (len(x), 2)


def test_an_image_records_a_membrane_readout_as_format_2_2():
    contents = small_contents(placed=False)
    spikes = write_image(contents)
    assert struct.unpack_from("<H", spikes, L.HEADER.offsets["version_minor"])[0] == 0
    network = contents.network
    membrane = type(contents)(contents.metadata, contents.target, type(network)(
        network.family, network.dt, network.n_inputs, network.populations, network.projections, network.output,
        network.placement, "membrane"), contents.io, contents.policy, contents.preprocessing)
    data = write_image(membrane)
    assert struct.unpack_from("<H", data, L.HEADER.offsets["version_minor"])[0] == 2
    back = image.read_image(data, runnable=False)
    assert back.network.readout == "membrane"
    assert back.state_layout is not None
    assert [w.name for w in back.state_layout.populations[-1].words][-1] == "vpeak"
    assert image.read_image(spikes, runnable=False).network.readout == "spikes"


def _readout_block(data: bytes) -> int:
    """Byte offset of the READOUT block's value in the image."""
    parsed = image.parse_image(data, runnable=False)
    network = next(s for s in parsed.sections if s.type_name == "NETWORK")
    header = struct.pack("<HBB", L.tag_id("NETWORK", "READOUT"), 1, 0)  # U8, scalar
    return data.index(header, network.offset, network.offset + network.size) + L.BLOCK.size


def test_a_readout_value_the_reader_does_not_know_is_refused():
    from tests.test_image_tamper import reseal

    contents = small_contents(placed=False)
    network = contents.network
    membrane = type(contents)(contents.metadata, contents.target, type(network)(
        network.family, network.dt, network.n_inputs, network.populations, network.projections, network.output,
        network.placement, "membrane"), contents.io, contents.policy, contents.preprocessing)
    data = write_image(membrane)
    at = _readout_block(data)
    bad = bytearray(data)
    bad[at] = 2
    with pytest.raises(ImageError) as info:
        image.read_image(reseal(bytes(bad)), runnable=False)
    assert info.value.diagnostic.code == "NM711"
    assert info.value.diagnostic.message == ("section NETWORK: READOUT 2 is not one of 0 (spikes), 1 (membrane)")
    older = bytearray(data)
    struct.pack_into("<H", older, L.HEADER.offsets["version_minor"], 1)
    with pytest.raises(ImageError) as info:
        image.read_image(reseal(bytes(older)), runnable=False)
    assert info.value.diagnostic.message == "section NETWORK: READOUT is a format 2.2 tag in an image stamped 2.1"
