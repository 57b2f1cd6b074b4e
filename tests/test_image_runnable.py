"""Images the format can hold but no target can run (checksums and hashes all correct) are
refused by the reader with a diagnostic naming the problem; the kernel never sees them."""

from __future__ import annotations

import attrs
import numpy as np
import pytest
from kernel_nets import layered, xylo

from engine.image import (
    ImageContents,
    ImageError,
    IOMap,
    Metadata,
    RuntimePolicy,
    Target,
    read_image,
    write_image,
)
from engine.netlist import Placement, Projection, RouteEntry, frozen_array
from engine.verify import kernel


def contents(net) -> ImageContents:
    return ImageContents(
        metadata=Metadata("s", "h", "0.1.0", "m", ()), target=Target("chip", net.family), network=net,
        io=IOMap((), ()), policy=RuntimePolicy(True, (), (), 0, 0, 0, 0), preprocessing={})


def xylo_net(**changes):
    rng = np.random.default_rng(3)
    net = xylo(2, rng.integers(-9, 9, (2, 3)), rng.integers(-9, 9, (3, 3)), rng.integers(-9, 9, (3, 2)),
               dash_syn=[1, 2, 3, 4, 5, 6], dash_mem=[2, 2, 2], threshold=[5, 5, 5], bias=[0, 1, 0], alias=[-1, 0, -1],
               out_params=([1, 1], [2, 2], [4, 4], [0, 0]), n_syn=2, syn_of_rec=1)
    return attrs.evolve(net, **changes)


def refused(net) -> str:
    with pytest.raises(ImageError) as info:
        read_image(write_image(contents(net)))
    assert info.value.code == "NM711"
    return info.value.diagnostic.message


@pytest.mark.parametrize("family", ["xylo", "loihi", "lif"])
def test_a_runnable_image_reads_and_runs(family):
    net = xylo_net() if family == "xylo" else layered(family, (3, 4, 2), np.random.default_rng(1))
    read = read_image(write_image(contents(net))).network
    run = kernel.run(read, np.ones((5, net.n_inputs), dtype=np.int64))
    assert run.spikes[net.output].shape == (5, net.population(net.output).size)


def test_a_synapse_index_of_two_to_the_31():
    net = xylo_net()
    projections = list(net.projections)
    projections[1] = attrs.evolve(projections[1], synapse=2**31)
    assert refused(attrs.evolve(net, projections=tuple(projections))) == (
        "image cannot run: projection 1 hidden -> hidden: synapse 2147483648 of a neuron with 2 synaptic input(s)")


def test_a_population_without_its_parameters():
    net = layered("loihi", (3, 4, 2), np.random.default_rng(1))
    pop = net.populations[0]
    stripped = attrs.evolve(pop, params={k: v for k, v in pop.params.items() if k != "vth"})
    assert refused(attrs.evolve(net, populations=(stripped, *net.populations[1:]))) == (
        "image cannot run: population 'p1' lacks vth (a loihi population has du, dv, vth, bias_mant, bias_exp)")


def test_an_alias_to_a_neuron_that_does_not_exist():
    net = xylo_net()
    hidden = net.populations[0]
    bad = attrs.evolve(hidden, params={**hidden.params, "alias": frozen_array([-1, 7, -1], np.int64)})
    assert refused(attrs.evolve(net, populations=(bad, net.populations[1]))) == (
        "image cannot run: a hidden neuron's alias is outside -1..2")


def test_a_xylo_image_without_its_readout():
    net = xylo_net()
    hidden = net.populations[0]
    assert refused(attrs.evolve(net, populations=(hidden,), output="hidden",
                                projections=net.projections[:2])) == (
        "image cannot run: a xylo network has populations hidden and output (the readout), not hidden")


def test_a_projection_xylo_does_not_have():
    net = xylo_net()
    extra = Projection("output", "hidden", net.projections[2].weights.__class__.from_dense(np.zeros((2, 3))), 0, 0)
    assert refused(attrs.evolve(net, projections=(*net.projections, extra))) == (
        "image cannot run: projection 3 output -> hidden: xylo connects input -> hidden, hidden -> hidden "
        "and hidden -> output only")


def test_a_shift_past_the_word():
    net = layered("lif", (3, 4, 2), np.random.default_rng(1))
    projections = (attrs.evolve(net.projections[0], shift=-(2**63)), *net.projections[1:])
    assert refused(attrs.evolve(net, projections=projections)) == (
        "image cannot run: projection 0 input -> p1: shift -9223372036854775808 is outside -63..63")


def test_a_mesh_of_width_zero():
    net = layered("lif", (3, 4, 2), np.random.default_rng(1))
    placement = Placement(0, 1, frozen_array([[0, 0]], np.int32),
                          {p.name: frozen_array(np.zeros(p.size), np.int32) for p in net.populations}, ())
    assert refused(attrs.evolve(net, placement=placement)) == (
        "image cannot run: the mesh is 0 x 1 routers; it needs at least one and at most 2^32")


def test_a_route_outside_the_mesh():
    net = layered("lif", (3, 4, 2), np.random.default_rng(1))
    placement = Placement(1, 1, frozen_array([[0, 0]], np.int32),
                          {p.name: frozen_array(np.zeros(p.size), np.int32) for p in net.populations},
                          (RouteEntry(5, 0, 0, 1),))
    assert refused(attrs.evolve(net, placement=placement)) == (
        "image cannot run: route 0 is on router 5, outside the 1 x 1 mesh")
