"""Multi-core images: spikes travel through the routing tables and the result equals the
single-core run; a table that misses a core changes it, and says how many synapses."""

import attrs
import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from kernel_nets import dimension_order_routes, layered

from engine.netlist import LINK_LOCAL, Placement, RouteEntry, frozen_array
from engine.verify.kernel import run
from engine.verify.mesh import RoutingError, route_network


def placed(net, rng, width, height):
    n_cores = width * height
    positions = rng.permutation(n_cores)
    core_xy = [[int(p % width), int(p // width)] for p in positions]
    cores = {p.name: frozen_array(rng.integers(0, n_cores, size=p.size), np.int32) for p in net.populations}
    placement = Placement(width, height, frozen_array(core_xy, np.int32), cores, ())
    net = attrs.evolve(net, placement=placement)
    return attrs.evolve(net, placement=attrs.evolve(placement, routes=dimension_order_routes(net, width)))


def with_recurrence(net, rng):
    """Add a recurrent projection on the last hidden population (the mesh carries it too)."""
    from engine.netlist import Projection, Weights

    pop = net.populations[0]
    dense = rng.integers(-100, 100, size=(pop.size, pop.size)) * (rng.random((pop.size, pop.size)) < 0.4)
    if net.family == "loihi":
        dense = (dense >> 1) << 1
    return attrs.evolve(net, projections=net.projections + (Projection(pop.name, pop.name, Weights.from_dense(dense)),))


@settings(max_examples=40, deadline=None)
@given(st.sampled_from(["loihi", "lif"]), st.lists(st.integers(1, 7), min_size=2, max_size=4), st.integers(1, 3),
       st.integers(1, 3), st.booleans(), st.integers(0, 2**32 - 1))
def test_routed_run_equals_single_core_run(family, sizes, width, height, recurrent, seed):
    rng = np.random.default_rng(seed)
    net = layered(family, tuple(sizes), rng)
    if recurrent:
        net = with_recurrence(net, rng)
    net = placed(net, rng, width, height)
    inputs = rng.integers(0, 3, size=(int(rng.integers(1, 12)), sizes[0]))
    routed = run(net, inputs, record=True)
    single = run(net, inputs, record=True, routed=False)
    if net.placement.n_cores > 1:
        assert routed.routing is not None
        assert routed.routing.undelivered == 0 and routed.routing.stray == 0
    for pop in net.populations:
        assert routed.spikes[pop.name].tolist() == single.spikes[pop.name].tolist()
        assert routed.states[f"{pop.name}.v"].tolist() == single.states[f"{pop.name}.v"].tolist()


def test_the_mapping_stage_placement_routes_every_synapse():
    from engine.mapping.mapper import Group, map_groups
    from engine.mapping.target import CoreSpec

    rng = np.random.default_rng(3)
    net = layered("lif", (6, 30, 25, 8), rng)
    groups = []
    for layer, p in enumerate(net.populations, start=1):
        fan_in = sum(np.bincount(q.weights.indices, minlength=p.size) for q in net.projections if q.dst == p.name)
        groups.append(Group(p.name, p.size, layer, np.full(p.size, 10.0), fan_in, fan_in * 10.0,
                            tuple((q.dst, q.weights) for q in net.projections if q.src == p.name)))
    core = CoreSpec(neurons_per_core=7, synapses_per_core=10000, input_axons=4096, output_axons=4096,
                    mesh_width=4, mesh_height=4, clock_hz=1e8, dt=1e-3)
    net = attrs.evolve(net, placement=map_groups(groups, core).placement)
    assert net.placement.n_cores > 4
    inputs = rng.integers(0, 3, size=(20, 6))
    routed, single = run(net, inputs), run(net, inputs, routed=False)
    assert routed.routing.undelivered == 0
    assert all(routed.spikes[k].tolist() == single.spikes[k].tolist() for k in single.spikes)


def test_a_table_that_misses_a_core_drops_exactly_its_synapses():
    rng = np.random.default_rng(7)
    net = placed(layered("lif", (4, 12, 10), rng), rng, 3, 2)
    routing = route_network(net)
    # take LOCAL away from the first entry that delivers to a core other than its source's
    victim = next(e for e in net.placement.routes if e.out_links & LINK_LOCAL and routing.groups[e.key][1] !=
                  {int(y) * 3 + int(x): c for c, (x, y) in enumerate(net.placement.core_xy.tolist())}[e.router])
    core_at = {int(y) * 3 + int(x): c for c, (x, y) in enumerate(net.placement.core_xy.tolist())}
    pop, source_core = routing.groups[victim.key]
    lost_core = core_at[victim.router]
    expected = 0
    for proj in net.projections:
        if proj.src != pop:
            continue
        w = proj.weights
        rows = np.repeat(np.arange(w.n_src), np.diff(w.indptr))
        expected += int(np.sum((net.placement.neuron_core[pop][rows] == source_core)
                               & (net.placement.neuron_core[proj.dst][w.indices] == lost_core)))
    routes = tuple(RouteEntry(e.router, e.key, e.mask, e.out_links & ~LINK_LOCAL) if e == victim else e
                   for e in net.placement.routes)
    broken = attrs.evolve(net, placement=attrs.evolve(net.placement, routes=routes))
    assert expected > 0
    assert route_network(broken).undelivered == expected


def test_a_routing_loop_is_an_error_not_a_hang():
    from engine.netlist import LINK_EAST, LINK_WEST

    rng = np.random.default_rng(1)
    net = placed(layered("lif", (2, 4, 3), rng), rng, 2, 1)
    loop = (RouteEntry(0, 0, 0xFFFFFFFF, LINK_EAST), RouteEntry(1, 0, 0xFFFFFFFF, LINK_WEST))
    looped = attrs.evolve(net, placement=attrs.evolve(net.placement, routes=loop))
    try:
        route_network(looped)
    except RoutingError as exc:
        assert "root routers" in str(exc) or "loop" in str(exc)
    else:
        raise AssertionError("a routing loop must be reported")


@settings(max_examples=25, deadline=None)
@given(st.sampled_from(["xylo", "loihi", "lif"]), st.integers(0, 2**32 - 1), st.integers(1, 11), st.data())
def test_a_run_in_pieces_equals_one_run(family, seed, cut, data):
    """`initial=previous.final` continues a run: spikes, states, events and cycles agree."""
    from kernel_nets import xylo_networks

    from engine.catalog import load_catalog
    from engine.verify.cycles import count_cycles, cycle_model

    rng = np.random.default_rng(seed)
    if family == "xylo":
        net, _ = data.draw(xylo_networks())
    else:
        net = placed(with_recurrence(layered(family, (3, 5, 4), rng), rng), rng, 2, 2)
    inputs = rng.integers(0, 4, size=(12, net.n_inputs))
    whole = run(net, inputs, record=True)
    first = run(net, inputs[:cut], record=True)
    second = run(net, inputs[cut:], record=True, initial=first.final)
    for pop in whole.spikes:
        assert np.concatenate([first.spikes[pop], second.spikes[pop]]).tolist() == whole.spikes[pop].tolist()
    for key in whole.states:
        assert np.concatenate([first.states[key], second.states[key]]).tolist() == whole.states[key].tolist()
    for key in whole.events:
        assert np.concatenate([first.events[key], second.events[key]]).tolist() == whole.events[key].tolist()
    model = cycle_model(load_catalog([]).part("chips", "xylo-audio2" if family == "xylo" else "generic-lif"))
    pieces = np.concatenate([count_cycles(net, first, model).cycles, count_cycles(net, second, model).cycles])
    assert pieces.tolist() == count_cycles(net, whole, model).cycles.tolist()
