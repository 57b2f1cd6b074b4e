"""Small network builders and hypothesis strategies for the kernel tests."""

from __future__ import annotations

import numpy as np
from hypothesis import strategies as st

from engine.netlist import INPUT, Population, Projection, QuantNetwork, Weights, frozen_array


def xylo(n_in, w_in, w_rec, w_out, *, dash_syn, dash_mem, threshold, bias, alias, out_params, n_syn=1, syn_of_rec=0, shifts=(0, 0, 0)):
    nh = len(dash_mem)
    hidden = Population("hidden", nh, {
        "dash_syn": frozen_array(np.asarray(dash_syn).reshape(nh, n_syn), np.int32),
        "dash_mem": frozen_array(dash_mem, np.int32), "threshold": frozen_array(threshold, np.int32),
        "bias": frozen_array(bias, np.int32), "alias": frozen_array(alias, np.int32)})
    od_syn, od_mem, o_th, o_bias = out_params
    no = len(od_mem)
    output = Population("output", no, {
        "dash_syn": frozen_array(np.asarray(od_syn).reshape(no, 1), np.int32), "dash_mem": frozen_array(od_mem, np.int32),
        "threshold": frozen_array(o_th, np.int32), "bias": frozen_array(o_bias, np.int32)})
    projections = [Projection(INPUT, "hidden", Weights.from_dense(w_in), 0, shifts[0])]
    if w_rec is not None:
        projections.append(Projection("hidden", "hidden", Weights.from_dense(w_rec), syn_of_rec, shifts[1]))
    projections.append(Projection("hidden", "output", Weights.from_dense(w_out), 0, shifts[2]))
    return QuantNetwork("xylo", 0.001, n_in, (hidden, output), tuple(projections), "output")


@st.composite
def xylo_networks(draw):
    n_in = draw(st.integers(1, 4))
    nh = draw(st.integers(1, 6))
    no = draw(st.integers(1, 3))
    n_syn = draw(st.sampled_from([1, 2]))
    weight = st.integers(-128, 127)
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    sparse = lambda shape: rng.integers(-128, 128, size=shape) * (rng.random(shape) < 0.7)
    big = draw(st.booleans())  # large thresholds and shifts drive saturation
    params = {
        "dash_syn": rng.integers(0, 16, size=(nh, n_syn)), "dash_mem": rng.integers(0, 16, size=nh),
        "threshold": rng.integers(1 if not big else -5, 32767 if big else 400, size=nh),
        "bias": rng.integers(-300, 300, size=nh),
        "alias": np.where(rng.random(nh) < 0.3, rng.integers(0, nh, size=nh), -1),
        "out_params": (rng.integers(0, 16, size=no), rng.integers(0, 16, size=no), rng.integers(1, 500, size=no),
                    rng.integers(-50, 50, size=no)),
    }
    net = xylo(n_in, sparse((n_in, nh)), sparse((nh, nh)) if draw(st.booleans()) else None, sparse((nh, no)),
               n_syn=n_syn, syn_of_rec=n_syn - 1, shifts=tuple(draw(st.lists(st.integers(0, 8 if big else 2), min_size=3, max_size=3))),
               **params)
    steps = draw(st.integers(1, 12))
    inputs = rng.integers(0, 20, size=(steps, n_in))
    _ = weight
    return net, inputs


def layered(family, sizes, rng, *, dt=0.001):
    """A feed-forward network of len(sizes)-1 populations for the loihi and lif families."""
    pops, projs = [], []
    previous = INPUT
    for k, size in enumerate(sizes[1:], start=1):
        name = f"p{k}"
        if family == "loihi":
            params = {"du": rng.integers(0, 4096, size), "dv": rng.integers(0, 4096, size),
                      "vth": rng.integers(0, 2000, size), "bias_mant": rng.integers(-4096, 4096, size),
                      "bias_exp": rng.integers(0, 4, size)}
        else:
            params = {"decay_syn": rng.integers(0, 8, size), "decay_mem": rng.integers(0, 8, size),
                      "threshold": rng.integers(1, 3000, size), "bias": rng.integers(-100, 100, size)}
        pops.append(Population(name, size, {k2: frozen_array(v, np.int32) for k2, v in params.items()}))
        dense = rng.integers(-128, 128, size=(sizes[k - 1], size)) * (rng.random((sizes[k - 1], size)) < 0.6)
        if family == "loihi":
            dense = (np.clip(dense, -256, 255) >> 1) << 1
        projs.append(Projection(previous, name, Weights.from_dense(dense), 0, int(rng.integers(-2, 4) if family == "loihi" else rng.integers(0, 3))))
        previous = name
    return QuantNetwork(family, dt, sizes[0], tuple(pops), tuple(projs), previous)


def dimension_order_routes(network, width):
    """Routing tables written apart from the mapper: one key per (population, source core)
    with synapses, sorted; X then Y from the source router; LOCAL where targets live."""
    from engine.netlist import LINK_EAST, LINK_LOCAL, LINK_NORTH, LINK_SOUTH, LINK_WEST, RouteEntry

    placement = network.placement
    xy = placement.core_xy.tolist()
    needed = {}
    for proj in network.projections:
        if proj.src == INPUT:
            continue
        w = proj.weights
        for s in range(w.n_src):
            for d in w.indices[w.indptr[s]:w.indptr[s + 1]].tolist():
                key = (proj.src, int(placement.neuron_core[proj.src][s]))
                needed.setdefault(key, set()).add(int(placement.neuron_core[proj.dst][d]))
    entries = []
    for key, (pop, core) in enumerate(sorted(needed)):
        links = {}
        for target in sorted(needed[(pop, core)]):
            x, y = xy[core]
            tx, ty = xy[target]
            while (x, y) != (tx, ty):
                if x != tx:
                    bit, step = (LINK_EAST, (1, 0)) if tx > x else (LINK_WEST, (-1, 0))
                else:
                    bit, step = (LINK_NORTH, (0, 1)) if ty > y else (LINK_SOUTH, (0, -1))
                links[(x, y)] = links.get((x, y), 0) | bit
                x, y = x + step[0], y + step[1]
            links[(tx, ty)] = links.get((tx, ty), 0) | LINK_LOCAL
        entries += [RouteEntry(y * width + x, key, 0xFFFFFFFF, bits) for (x, y), bits in sorted(links.items())]
    return tuple(entries)
