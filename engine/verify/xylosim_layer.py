"""A Xylo network in SynSense's bit-accurate simulator (PyPI xylosim, the C++ core of Rockpool's
XyloSim), for the tests and benchmarks that hold the kernel against it. xylosim is a
development dependency: nothing on the build path imports this module."""

from __future__ import annotations

from typing import Any

from engine.netlist import INPUT, QuantNetwork


def vendor_layer(net: QuantNetwork) -> tuple[Any, Any]:
    """A XyloLayer holding the network; the synapse lists must outlive it (the C++ side keeps
    references), so they are returned with it."""
    from xylosim.v2 import XyloLayer, XyloSynapse

    hidden, output = net.population("hidden"), net.population("output")
    synapses: dict[str, list[list[Any]]] = {"in": [[] for _ in range(net.n_inputs)], "rec": [[] for _ in range(hidden.size)],
                                            "out": [[] for _ in range(hidden.size)]}
    shifts = {"in": 0, "rec": 0, "out": 0}
    for proj in sorted(net.projections, key=lambda p: p.synapse):  # per source: synapse 1 targets, then synapse 2
        kind = "in" if proj.src == INPUT else ("out" if proj.dst == "output" else "rec")
        shifts[kind] = proj.shift
        w = proj.weights
        for s in range(w.n_src):
            for k in range(int(w.indptr[s]), int(w.indptr[s + 1])):
                synapses[kind][s].append(XyloSynapse(int(w.indices[k]), int(proj.synapse), int(w.values[k])))
    aliases = [[int(a)] if a >= 0 else [] for a in hidden.params["alias"]]
    dash_syn = [[int(d) for d in row] + [int(row[0])] * (2 - len(row)) for row in hidden.params["dash_syn"]]
    layer = XyloLayer(synapses["in"], synapses["rec"], synapses["out"], aliases,
                      [int(v) for v in hidden.params["threshold"]], [int(v) for v in output.params["threshold"]], True,
                      [int(v) for v in hidden.params["bias"]], [int(v) for v in output.params["bias"]],
                      shifts["in"], shifts["rec"], shifts["out"], [int(v) for v in hidden.params["dash_mem"]],
                      [int(v) for v in output.params["dash_mem"]], dash_syn,
                      [[int(row[0])] for row in output.params["dash_syn"]], "nmspec")
    return layer, (synapses, aliases)
