"""The placement graph: what runs where, how big it is and how busy (networkx DiGraph).

Nodes: `sensor`, `stage:<id>` per preprocessing stage, `encoder`, `pop:<population>` per
neuron population of the quantized network, `alerts`. Node attributes: kind (sensor,
stage, encoder, neurons, alerts), domain (mcu or chip); neurons nodes also size,
population, layer (depth from the encoder), rate_hz (mean spikes per second per neuron
from calibration), readout, shape, fan_in_max. Edges into a neurons node carry synapses,
rate_hz (spikes per second leaving the source), projection (index or list) and weights
(the netlist's CSR, source -> target; with several projections between the same two
populations, every synapse of all of them: `Weights.stacked`).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, TypeAlias

import networkx as nx
import numpy as np

from engine.netlist import INPUT, QuantNetwork, Weights

if TYPE_CHECKING:
    from engine.dsp.chain import Chain

Graph: TypeAlias = "nx.DiGraph[str]"  # node names: sensor, stage:<id>, encoder, pop:<population>, alerts


def placement_graph(network: QuantNetwork, chain: Chain, chip: str, rates_hz: Mapping[str, np.ndarray],
                    input_rate_hz: float, model_names: Mapping[str, tuple[str, ...]] | None = None) -> Graph:
    """`model_names`: chip population -> the model's populations in it, when they differ."""
    g: Graph = nx.DiGraph(family=network.family, dt=network.dt, chip=chip)
    g.add_node("sensor", kind="sensor", domain="mcu", size=chain.axes, unit="axes", rate_hz=chain.sample_rate)
    previous = "sensor"
    rate = chain.sample_rate
    for stage in chain.sample_stages:
        node = f"stage:{stage.id}"
        rate /= getattr(stage, "factor", 1)  # a decimator's output rate
        g.add_node(node, kind="stage", domain="mcu", size=chain.axes, unit="axes", rate_hz=rate)
        g.add_edge(previous, node)
        previous = node
    framer = f"stage:{chain.framer.id}"
    g.add_node(framer, kind="stage", domain="mcu", size=chain.n_features, unit="features", rate_hz=1.0 / chain.dt)
    g.add_edge(previous, framer)
    g.add_node("encoder", kind="encoder", domain="mcu", size=chain.n_channels, unit="channels", rate_hz=input_rate_hz)
    g.add_edge(framer, "encoder")
    depth = {INPUT: 0}
    for pop in network.populations:  # populations are in topological order
        sources = [p.src for p in network.projections if p.dst == pop.name and p.src != pop.name]
        depth[pop.name] = 1 + max((depth.get(s, 0) for s in sources), default=0)
    for pop in network.populations:
        fan_in = np.zeros(pop.size, dtype=np.int64)
        for proj in network.projections:
            if proj.dst == pop.name:
                fan_in += np.bincount(proj.weights.indices, minlength=pop.size)
        pop_rate = rates_hz.get(pop.name)
        g.add_node(f"pop:{pop.name}", kind="neurons", domain="chip", size=pop.size, population=pop.name,
                   layer=depth[pop.name], rate_hz=float(np.mean(pop_rate)) if pop_rate is not None else 0.0,
                   readout=pop.name == network.output, shape=(pop.size,), fan_in_max=int(fan_in.max(initial=0)),
                   model_populations=list((model_names or {}).get(pop.name, (pop.name,))))
    for index, proj in enumerate(network.projections):
        src = "encoder" if proj.src == INPUT else f"pop:{proj.src}"
        dst = f"pop:{proj.dst}"
        source_rate = input_rate_hz * network.n_inputs if proj.src == INPUT else float(np.sum(rates_hz.get(proj.src, 0.0)))
        if g.has_edge(src, dst):
            edge = g.edges[src, dst]
            edge["projection"] = list(np.atleast_1d(edge["projection"])) + [index]
            edge["synapses"] += proj.weights.nnz
            edge["weights"] = Weights.stacked([edge["weights"], proj.weights])
        else:
            g.add_edge(src, dst, synapses=proj.weights.nnz, rate_hz=source_rate, projection=index, weights=proj.weights)
    g.add_node("alerts", kind="alerts", domain="mcu", size=1, unit="class per window")
    g.add_edge(f"pop:{network.output}", "alerts")
    return g


def to_json(graph: Graph) -> str:
    def clean(attrs: Mapping[str, Any]) -> dict[str, Any]:
        return {k: (list(v) if isinstance(v, tuple) else v) for k, v in sorted(attrs.items()) if k != "weights"}

    return json.dumps({
        "graph": clean(graph.graph),
        "nodes": [{"id": n, **clean(graph.nodes[n])} for n in graph.nodes],
        "edges": [{"source": a, "target": b, **clean(graph.edges[a, b])} for a, b in graph.edges],
    }, indent=2, sort_keys=True, default=lambda v: v.tolist() if hasattr(v, "tolist") else str(v)) + "\n"


def _hz(value: float) -> str:
    return f"{value / 1000:.4g} kHz" if value >= 1000 else f"{value:.4g} Hz"


def to_dot(graph: Graph) -> str:
    lines = [f'digraph "{graph.graph.get("chip", "nmspec")}" {{', "  rankdir=LR;"]
    for domain in ("mcu", "chip"):
        lines.append(f'  subgraph "cluster_{domain}" {{ label="{domain}";')
        for node, data in graph.nodes(data=True):
            if data.get("domain") == domain:
                label = f"{node}\\n{data.get('size', '')}"
                if data.get("kind") == "neurons":
                    label += f" neurons, {data.get('rate_hz', 0):.3g} spikes/s each"
                    named = data.get("model_populations") or []
                    if named and named != [data.get("population")]:
                        label += f"\\n(model: {', '.join(named)})"
                elif data.get("kind") == "encoder":
                    label += f" {data['unit']}, {data.get('rate_hz', 0):.3g} spikes/s each"
                elif data.get("kind") == "stage" and data.get("unit") == "features":
                    label += f" {data['unit']} every {1e3 / data['rate_hz']:.3g} ms"
                elif "rate_hz" in data:
                    label += f" {data['unit']} at {_hz(data['rate_hz'])}"
                elif "unit" in data:
                    label += f" {data['unit']}"
                lines.append(f'    "{node}" [label="{label}", shape={"box" if domain == "mcu" else "ellipse"}];')
        lines.append("  }")
    for a, b, data in graph.edges(data=True):
        label = f' [label="{data["synapses"]} syn"]' if "synapses" in data else ""
        lines.append(f'  "{a}" -> "{b}"{label};')
    lines.append("}")
    return "\n".join(lines) + "\n"
