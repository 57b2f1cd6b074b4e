"""Read a NIR graph (.nir) into a FloatNet at the spec's time step.

Node order is not preserved by NIR files and exporters emit edges in any order, so the
order here is topological from the edges alone (ties by node name). Edges that close a
cycle leave a neuron node and are delayed by one step. Linear nodes between two neuron
nodes (Affine, Linear, Scale, Conv1d, Conv2d, Flatten, SumPool2d, AvgPool2d, zero Delay)
are composed into one matrix per (source, destination) pair.

Exporter conventions (what each framework writes; see docs/nir.md):
  nir       literal NIR: Euler steps at dt; reset to v_reset; spike when v > threshold.
  snntorch  snnTorch 1.0 exports with dt = 1e-4: tau = 1e-4 / (1 - beta), r = 1 / (1 - beta),
            w_in = 1 / (1 - alpha); the per-step decays are beta and alpha whatever the
            spec's dt; the threshold is subtracted on reset.
  norse     tau is written as dt * tau_true; r = 1; reset to v_reset.
  sinabs    time constants in steps; r = 1; reset by subtraction.
  rockpool  r = tau * exp(-dt/tau) / dt and w_in = 1: exact exponential decays; reset by
            subtraction.
  spyx      r = beta (the decay itself); reset by subtraction.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import networkx as nx
import numpy as np

from engine.diagnostics import Diagnostic
from engine.resolve.floatnet import INPUT, FloatNet, FloatPopulation, FloatProjection

CONVENTIONS = ("nir", "snntorch", "norse", "sinabs", "rockpool", "spyx")
SNNTORCH_EXPORT_DT = 1e-4
LINEAR_TYPES = ("Affine", "Linear", "Scale", "Conv1d", "Conv2d", "Flatten", "SumPool2d", "AvgPool2d", "Delay")
NEURON_TYPES = ("CubaLIF", "LIF", "IF", "LI", "CubaLI", "I", "Threshold")


class ImportError_(Exception):
    """Carries NM3xx diagnostics (named to avoid shadowing the builtin)."""

    def __init__(self, diagnostics: list[Diagnostic]) -> None:
        super().__init__("; ".join(d.message for d in diagnostics))
        self.diagnostics = diagnostics


def _vec(value: Any, size: int) -> np.ndarray:
    array = np.asarray(value, dtype=np.float64).reshape(-1)
    if array.size == 1:
        return np.full(size, float(array[0]))
    return array


def _size(node: Any, key: str = "output") -> int | None:
    types = getattr(node, f"{key}_type", None) or {}
    shape = types.get(key)
    if shape is None:
        return None
    shape = np.asarray(shape).reshape(-1)
    return int(np.prod(shape)) if shape.size else 1


def _shape(node: Any, key: str) -> tuple[int, ...] | None:
    types = getattr(node, f"{key}_type", None) or {}
    shape = types.get(key)
    return None if shape is None else tuple(int(s) for s in np.asarray(shape).reshape(-1))


def flatten_graph(graph: Any, prefix: str = "") -> tuple[dict[str, Any], list[tuple[str, str]]]:
    """Inline nested NIRGraphs: a nested graph's Input/Output nodes become pass-throughs."""
    import nir

    nodes: dict[str, Any] = {}
    edges: list[tuple[str, str]] = []
    for name, node in graph.nodes.items():
        full = f"{prefix}{name}"
        if isinstance(node, nir.NIRGraph):
            inner_nodes, inner_edges = flatten_graph(node, prefix=f"{full}.")
            nodes.update(inner_nodes)
            edges.extend(inner_edges)
            nodes[full] = "passthrough"
            for inner_name, inner in node.nodes.items():
                if isinstance(inner, nir.Input):
                    edges.append((full, f"{full}.{inner_name}"))
            outputs = [f"{full}.{n}" for n, inner in node.nodes.items() if isinstance(inner, nir.Output)]
            nodes[f"{full}#out"] = "passthrough"
            edges.extend((o, f"{full}#out") for o in outputs)
        else:
            nodes[full] = node
    for src, dst in graph.edges:
        src_full, dst_full = f"{prefix}{src}", f"{prefix}{dst}"
        if src_full in nodes and nodes[src_full] == "passthrough" and f"{src_full}#out" in nodes:
            src_full = f"{src_full}#out"
        edges.append((src_full, dst_full))
    return nodes, edges


def _kind(node: Any) -> str:
    return "passthrough" if node == "passthrough" else type(node).__name__


def _linear_matrix(name: str, node: Any, n_in: int, problems: list[str]) -> tuple[np.ndarray, np.ndarray | None, int]:
    """The node as y = x @ M + b over flattened vectors. Returns (M, b, n_out)."""
    kind = _kind(node)
    if kind in ("passthrough", "Flatten", "Input", "Output"):
        return np.eye(n_in), None, n_in
    if kind == "Delay":
        delay = np.asarray(node.delay)
        if np.any(delay != 0):
            problems.append(f"node '{name}' (Delay) delays spikes by {delay.max():g} s; the targets' synapses have no programmable delay")
        return np.eye(n_in), None, n_in
    if kind == "Scale":
        scale = _vec(node.scale, n_in)
        return np.diag(scale), None, n_in
    if kind in ("Linear", "Affine"):
        weight = np.asarray(node.weight, dtype=np.float64)
        if weight.ndim != 2 or weight.shape[1] != n_in:
            problems.append(f"node '{name}' ({kind}) expects {weight.shape[-1]} inputs but receives {n_in}")
            return np.zeros((n_in, weight.shape[0])), None, weight.shape[0]
        bias = np.asarray(node.bias, dtype=np.float64).reshape(-1) if kind == "Affine" else None
        if bias is not None and not np.any(bias):
            bias = None
        return weight.T.copy(), bias, weight.shape[0]
    if kind in ("Conv1d", "Conv2d", "SumPool2d", "AvgPool2d"):
        return _conv_matrix(name, node, n_in, problems)
    problems.append(f"node '{name}' ({kind}) is not supported")
    return np.eye(n_in), None, n_in


def _conv_matrix(name: str, node: Any, n_in: int, problems: list[str]) -> tuple[np.ndarray, np.ndarray | None, int]:
    """Convolutions and pools as dense matrices, by applying them to the identity basis."""
    kind = _kind(node)
    in_shape = _shape(node, "input")
    if in_shape is None or int(np.prod(in_shape)) != n_in:
        problems.append(f"node '{name}' ({kind}) has no usable input shape")
        return np.eye(n_in), None, n_in
    basis = np.eye(n_in).reshape((n_in,) + in_shape)
    if kind in ("SumPool2d", "AvgPool2d"):
        k = tuple(int(v) for v in np.asarray(node.kernel_size).reshape(-1))
        s = tuple(int(v) for v in np.asarray(node.stride).reshape(-1))
        c, h, w = in_shape
        oh, ow = (h - k[0]) // s[0] + 1, (w - k[1]) // s[1] + 1
        out = np.zeros((n_in, c, oh, ow))
        for i in range(oh):
            for j in range(ow):
                window = basis[:, :, i * s[0]: i * s[0] + k[0], j * s[1]: j * s[1] + k[1]]
                out[:, :, i, j] = window.sum(axis=(2, 3))
        if kind == "AvgPool2d":
            out /= k[0] * k[1]
        return out.reshape(n_in, -1), None, int(np.prod(out.shape[1:]))
    weight = np.asarray(node.weight, dtype=np.float64)
    stride = int(np.asarray(node.stride).reshape(-1)[0])
    padding = np.asarray(node.padding).reshape(-1)
    if padding.dtype.kind in "US":
        problems.append(f"node '{name}' ({kind}) uses string padding '{padding[0]}'; write the padding in samples")
        return np.eye(n_in), None, n_in
    pad = int(padding[0])
    dilation = int(np.asarray(node.dilation).reshape(-1)[0])
    if int(np.asarray(node.groups).reshape(-1)[0]) != 1:
        problems.append(f"node '{name}' ({kind}) uses grouped convolution, which nmspec does not lower yet")
        return np.eye(n_in), None, n_in
    bias = np.asarray(node.bias, dtype=np.float64).reshape(-1)
    if kind == "Conv1d":
        c_out, c_in, kw = weight.shape
        length = in_shape[-1]
        padded = np.pad(basis, ((0, 0), (0, 0), (pad, pad)))
        out_len = (length + 2 * pad - dilation * (kw - 1) - 1) // stride + 1
        out = np.zeros((n_in, c_out, out_len))
        for o in range(out_len):
            for k in range(kw):
                out[:, :, o] += padded[:, :, o * stride + k * dilation] @ weight[:, :, k].T
        b = np.repeat(bias, out_len) if bias.size == c_out and np.any(bias) else None
        return out.reshape(n_in, -1), b, c_out * out_len
    c_out, c_in, kh, kw = weight.shape
    _, h, w = in_shape
    padded = np.pad(basis, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    oh = (h + 2 * pad - dilation * (kh - 1) - 1) // stride + 1
    ow = (w + 2 * pad - dilation * (kw - 1) - 1) // stride + 1
    out = np.zeros((n_in, c_out, oh, ow))
    for i in range(oh):
        for j in range(ow):
            for a in range(kh):
                for b_ in range(kw):
                    out[:, :, i, j] += padded[:, :, i * stride + a * dilation, j * stride + b_ * dilation] @ weight[:, :, a, b_].T
    b = np.repeat(bias, oh * ow) if bias.size == c_out and np.any(bias) else None
    return out.reshape(n_in, -1), b, c_out * oh * ow


def _population(name: str, node: Any, dt: float, convention: str) -> FloatPopulation:
    kind = _kind(node)
    size = _size(node, "output") or _size(node, "input") or np.asarray(getattr(node, "v_threshold", getattr(node, "r", [1]))).size
    one = np.ones(size)

    def decay(tau: np.ndarray) -> np.ndarray:
        """Per-step decay under the convention, and the tau it means at this dt."""
        if convention == "snntorch":
            return 1.0 - SNNTORCH_EXPORT_DT / tau
        if convention == "norse":
            return 1.0 - dt / (tau / dt)
        if convention == "sinabs":
            return np.exp(-1.0 / tau)
        if convention == "rockpool":
            return np.exp(-dt / tau)
        return 1.0 - dt / tau

    def tau_of(d: np.ndarray) -> np.ndarray:
        with np.errstate(divide="ignore"):
            return dt / np.maximum(1.0 - d, 1e-300)

    reset = "zero" if convention in ("nir", "norse") else "subtract"
    threshold = _vec(node.v_threshold, size) if hasattr(node, "v_threshold") else None
    v_reset = _vec(getattr(node, "v_reset", None) if getattr(node, "v_reset", None) is not None else 0.0, size)
    leak = np.zeros(size)
    alpha = None
    tau_syn = tau_mem = None
    in_gain = i_gain = one
    if kind in ("CubaLIF", "CubaLI"):
        alpha = decay(_vec(node.tau_syn, size))
        beta = decay(_vec(node.tau_mem, size))
        tau_syn, tau_mem = tau_of(alpha), tau_of(beta)
        w_in = _vec(node.w_in, size)
        r = _vec(node.r, size)
        if convention == "spyx":
            in_gain, i_gain = w_in, np.ones(size)
        else:
            in_gain = (1.0 - alpha) * w_in
            i_gain = (1.0 - beta) * r
        leak = (1.0 - beta) * _vec(node.v_leak, size)
    elif kind in ("LIF", "LI"):
        beta = decay(_vec(node.tau, size))
        tau_mem = tau_of(beta)
        r = _vec(node.r, size)
        in_gain = r if convention == "spyx" else (1.0 - beta) * r
        leak = (1.0 - beta) * _vec(node.v_leak, size)
    elif kind in ("IF", "I"):
        beta = np.ones(size)
        in_gain = _vec(node.r, size) * (dt if convention == "nir" and kind == "I" else 1.0)
    else:  # Threshold: memoryless comparison
        beta = np.zeros(size)
        threshold = _vec(node.threshold, size)
    spiking = kind in ("CubaLIF", "LIF", "IF", "Threshold")
    return FloatPopulation(
        name=name, kind=kind.lower() if kind != "I" else "integrator", size=int(size), alpha=alpha, beta=beta,
        in_gain=in_gain, i_gain=i_gain, leak=leak, threshold=threshold if spiking else None, v_reset=v_reset,
        reset=(reset if kind != "Threshold" else "none") if spiking else "none", compare="gt",
        tau_syn=tau_syn, tau_mem=tau_mem,
    )


def import_graph(graph: Any, *, dt: float, convention: str) -> FloatNet:
    """A NIRGraph -> FloatNet; raises ImportError_ naming every node it cannot take."""
    import nir

    nodes, edges = flatten_graph(graph)
    problems: list[str] = []
    g = nx.DiGraph()
    g.add_nodes_from(sorted(nodes))
    g.add_edges_from(edges)
    inputs = [n for n, node in nodes.items() if isinstance(node, nir.Input) and "." not in n]
    outputs = [n for n, node in nodes.items() if isinstance(node, nir.Output) and "." not in n]
    for name, node in sorted(nodes.items()):
        kind = _kind(node)
        if kind not in LINEAR_TYPES + NEURON_TYPES + ("Input", "Output", "passthrough"):
            problems.append(f"node '{name}' ({kind}) is not a NIR node nmspec can import")
    if len(inputs) != 1 or len(outputs) != 1:
        problems.append(f"the graph must have one Input and one Output node at its top level; it has {len(inputs)} and {len(outputs)}")
    if problems:
        raise ImportError_([Diagnostic("error", "NM301", p) for p in problems])

    neuron = {n for n, node in nodes.items() if _kind(node) in NEURON_TYPES}
    delayed_edges = set()
    for component in nx.strongly_connected_components(g):
        if len(component) > 1 or any(g.has_edge(n, n) for n in component):
            for src, dst in g.subgraph(component).edges:
                if src in neuron:
                    delayed_edges.add((src, dst))
    dag = nx.DiGraph()
    dag.add_nodes_from(g.nodes)
    dag.add_edges_from(e for e in g.edges if e not in delayed_edges)
    if not nx.is_directed_acyclic_graph(dag):
        cycle = nx.find_cycle(dag)
        raise ImportError_([Diagnostic("error", "NM302", "a cycle without a neuron node: " + " -> ".join(e[0] for e in cycle))])
    order = list(nx.lexicographical_topological_sort(dag))

    n_inputs = _size(nodes[inputs[0]], "input") or _size(nodes[inputs[0]], "output")
    # feeds[node] = {(source population, delayed): (matrix n_src x n_out, bias, composed nodes)}
    feeds: dict[str, dict[tuple[str, bool], tuple[np.ndarray, np.ndarray | None, tuple[str, ...]]]] = {}
    sizes: dict[str, int] = {}
    populations: list[FloatPopulation] = []
    projections: list[FloatProjection] = []

    def gather(name: str) -> dict:
        total: dict = {}
        for pred in sorted(g.predecessors(name)):
            late = (pred, name) in delayed_edges
            for (src, was_late), (m, b, via) in feeds.get(pred, {}).items():
                key = (src, was_late or late)
                if key in total:
                    m0, b0, via0 = total[key]
                    bias = b0 if b is None else (b if b0 is None else b0 + b)
                    total[key] = (m0 + m, bias, tuple(sorted(set(via0 + via))))
                else:
                    total[key] = (m, b, via)
        return total

    for name in order:
        node = nodes[name]
        kind = _kind(node)
        if name in inputs:
            feeds[name] = {(INPUT, False): (np.eye(n_inputs), None, ())}
            sizes[name] = n_inputs
            continue
        incoming = gather(name)
        if kind in NEURON_TYPES:
            pop = _population(name, node, dt, convention)
            for (src, late), (m, b, via) in sorted(incoming.items()):
                if m.shape[1] != pop.size:
                    problems.append(f"node '{name}' ({kind}) has {pop.size} neurons but receives {m.shape[1]} values")
                    continue
                projections.append(FloatProjection(src, name, m, b, late, via))
            populations.append(pop)
            feeds[name] = {(name, False): (np.eye(pop.size), None, ())}
            sizes[name] = pop.size
        else:
            n_in = {m.shape[1] for m, _, _ in incoming.values()}
            if len(n_in) != 1:
                problems.append(f"node '{name}' ({kind}) receives inputs of different sizes {sorted(n_in)}")
                continue
            (width,) = n_in
            matrix, bias, n_out = _linear_matrix(name, node, width, problems)
            out = {}
            for key, (m, b, via) in incoming.items():
                composed_bias = None if b is None else b @ matrix
                out[key] = (m @ matrix, composed_bias, via + ((name,) if kind not in ("passthrough", "Output") else ()))
            if bias is not None:
                first = sorted(out)[0]
                m, b, via = out[first]
                out[first] = (m, bias if b is None else b + bias, via)
            feeds[name] = out
            sizes[name] = n_out
    if problems:
        raise ImportError_([Diagnostic("error", "NM301", p) for p in problems])
    readouts = sorted({src for (src, _late) in feeds.get(outputs[0], {})})
    if len(readouts) != 1 or readouts[0] == INPUT:
        raise ImportError_([Diagnostic("error", "NM303", "the Output node must be fed by exactly one neuron population")])
    order_index = {n: i for i, n in enumerate(order)}
    populations.sort(key=lambda p: order_index[p.name])
    return FloatNet(int(n_inputs), tuple(populations), tuple(projections), readouts[0], dt, convention,
                    notes=(f"exporter convention '{convention}' applied",))


def read_nir(path: Path, *, dt: float, convention: str) -> FloatNet:
    import nir

    try:
        graph = nir.read(str(path))
    except Exception:
        try:
            graph = nir.read(str(path), type_check=False)
        except Exception as exc:  # h5py, KeyError, ...: the file is not a readable NIR graph
            raise ImportError_([Diagnostic("error", "NM300", f"cannot read the NIR file: {type(exc).__name__}: {exc}")]) from exc
    return import_graph(graph, dt=dt, convention=convention)


def decay_error(tau: float, dt: float, dash: int) -> float:
    """Relative error of a Xylo bit-shift decay 2^-dash against the exact dt/tau."""
    return abs(2.0 ** -dash - dt / tau) / (dt / tau) if tau > 0 else math.inf
