"""What the kernel (and the firmware built around it) needs of a network beyond the format.

The byte format can hold networks no target runs: a Xylo image without its output layer, a
population without the parameters of its family, a synapse index past the neuron's
synaptic inputs, an alias to a neuron that does not exist, a core outside its mesh. The
reader refuses those here, after decoding and before anything runs, so the kernel only
ever indexes arrays with indices checked against their sizes.
"""

from __future__ import annotations

import numpy as np

from engine.netlist import FAMILY_PARAMS, INPUT, Placement, Population, QuantNetwork

# |shift| bounds: a weight or bias shifted further is zero or overflows on every target
MAX_SHIFT = 63
# Xylo neurons take up to this many synaptic inputs (the chip has two; one more would be a new chip)
MAX_XYLO_SYNAPSES = 2


def _params(net: QuantNetwork, pop: Population, expected: tuple[str, ...], problems: list[str]) -> None:
    names = tuple(sorted(pop.params))
    if names != tuple(sorted(expected)):
        missing = sorted(set(expected) - set(names))
        extra = sorted(set(names) - set(expected))
        what = "; ".join(part for part in (f"lacks {', '.join(missing)}" if missing else "",
                                           f"has unknown {', '.join(extra)}" if extra else "") if part)
        problems.append(f"population {pop.name!r} {what} (a {net.family} population has {', '.join(expected)})")
        return
    for name in expected:
        array = pop.params[name]
        two_d = net.family == "xylo" and name == "dash_syn"
        if (array.ndim != (2 if two_d else 1)) or array.shape[0] != pop.size:
            want = f"({pop.size}, n_syn)" if two_d else f"({pop.size},)"
            problems.append(f"parameter {pop.name}.{name} has shape {array.shape}, expected {want}")


def _xylo(net: QuantNetwork, problems: list[str]) -> None:
    names = [p.name for p in net.populations]
    if names != ["hidden", "output"] or net.output != "output":
        problems.append(f"a xylo network has populations hidden and output (the readout), not {', '.join(names) or 'none'}")
        return
    hidden, output = net.population("hidden"), net.population("output")
    _params(net, hidden, FAMILY_PARAMS["xylo"], problems)
    _params(net, output, tuple(n for n in FAMILY_PARAMS["xylo"] if n != "alias"), problems)
    if problems:
        return
    n_syn = hidden.params["dash_syn"].shape[1]
    if not 1 <= n_syn <= MAX_XYLO_SYNAPSES:
        problems.append(f"hidden neurons have {n_syn} synaptic inputs; xylo has 1 to {MAX_XYLO_SYNAPSES}")
    if output.params["dash_syn"].shape[1] != 1:
        problems.append(f"output neurons have {output.params['dash_syn'].shape[1]} synaptic inputs; xylo's have 1")
    alias = hidden.params["alias"]
    if alias.size and (alias.min() < -1 or alias.max() >= hidden.size):
        problems.append(f"a hidden neuron's alias is outside -1..{hidden.size - 1}")
    for i, proj in enumerate(net.projections):
        if (proj.src, proj.dst) not in ((INPUT, "hidden"), ("hidden", "hidden"), ("hidden", "output")):
            problems.append(f"projection {i} {proj.src} -> {proj.dst}: xylo connects input -> hidden, hidden -> hidden "
                            "and hidden -> output only")
        elif not 0 <= proj.synapse < (n_syn if proj.dst == "hidden" else 1):
            problems.append(f"projection {i} {proj.src} -> {proj.dst}: synapse {proj.synapse} of a neuron with "
                            f"{n_syn if proj.dst == 'hidden' else 1} synaptic input(s)")


def _speck(net: QuantNetwork, problems: list[str]) -> None:
    """DynapCNN's cores form a feed-forward pipeline: every projection comes from the input or
    an earlier population, weights are unshifted, and the parameters fit the core's words."""
    for pop in net.populations:
        _params(net, pop, FAMILY_PARAMS["speck"], problems)
    if problems:
        return
    order = {p.name: k for k, p in enumerate(net.populations)}
    for i, proj in enumerate(net.projections):
        if proj.src != INPUT and order[proj.src] >= order[proj.dst]:
            problems.append(f"projection {i} {proj.src} -> {proj.dst}: speck layers feed forward only, from the input "
                            "or an earlier population")
        if proj.shift != 0:
            problems.append(f"projection {i} {proj.src} -> {proj.dst}: shift {proj.shift}; speck weights are unshifted")
    for pop in net.populations:
        p = pop.params
        if pop.size and (p["threshold"].min() < 1 or p["threshold"].max() > 32767):
            problems.append(f"population {pop.name!r}: a threshold outside 1..32767")
        if pop.size and (p["threshold_low"].min() < -32768 or p["threshold_low"].max() > 0):
            problems.append(f"population {pop.name!r}: a threshold_low outside -32768..0")
        if pop.size and not set(np.unique(p["reset_zero"]).tolist()) <= {0, 1}:
            problems.append(f"population {pop.name!r}: reset_zero is 0 or 1")


def _placement(p: Placement, problems: list[str]) -> None:
    width, height = p.mesh_width, p.mesh_height
    if width < 1 or height < 1 or width * height > 2**32:
        problems.append(f"the mesh is {width} x {height} routers; it needs at least one and at most 2^32")
        return
    xy = np.asarray(p.core_xy, dtype=np.int64)
    if xy.min() < 0 or xy[:, 0].max() >= width or xy[:, 1].max() >= height:
        problems.append(f"a core sits outside the {width} x {height} mesh")
    elif len({(int(x), int(y)) for x, y in xy}) != len(xy):
        problems.append("two cores sit at the same mesh position")
    for i, route in enumerate(p.routes):
        if route.router >= width * height:
            problems.append(f"route {i} is on router {route.router}, outside the {width} x {height} mesh")
            break


def runnable_problems(net: QuantNetwork) -> list[str]:
    """Why the kernel could not run `net`; empty when it can."""
    problems: list[str] = []
    if net.family == "xylo":
        _xylo(net, problems)
    elif net.family == "speck":
        _speck(net, problems)
    else:
        for pop in net.populations:
            _params(net, pop, FAMILY_PARAMS[net.family], problems)
    for i, proj in enumerate(net.projections):
        if not -MAX_SHIFT <= proj.shift <= MAX_SHIFT:
            problems.append(f"projection {i} {proj.src} -> {proj.dst}: shift {proj.shift} is outside "
                            f"-{MAX_SHIFT}..{MAX_SHIFT}")
    if not np.isfinite(net.dt) or net.dt <= 0:
        problems.append(f"time step dt = {net.dt!r} s is not a positive number")
    if net.placement is not None:
        _placement(net.placement, problems)
    return problems
