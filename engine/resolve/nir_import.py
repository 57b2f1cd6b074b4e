"""Read a NIR graph (.nir) into a FloatNet at the spec's time step.

Node order is not preserved by NIR files and exporters emit edges in any order, so the
order here comes from the edges alone: a depth-first walk from the Input node (successors
by name) finds the edges that close a cycle; those are delayed by one step, the rest are
sorted topologically (ties by node name). A cycle must pass through a neuron node. Linear
nodes between two neuron nodes (Affine, Linear, Scale, Conv1d, Conv2d, Flatten, SumPool2d,
AvgPool2d, zero Delay) are composed into one matrix per (source, destination) pair; each
node's tensor shape (channels first, no batch axis) is carried along the edges, so a pool
or a convolution without a declared input shape takes the shape of what feeds it.

Exporter conventions (what each framework writes; see docs/models.md):
  nir       literal NIR: Euler steps at dt; reset to v_reset; spike when v > threshold.
  snntorch  snnTorch 1.0 exports with dt = 1e-4: tau = 1e-4 / (1 - beta), r = 1 / (1 - beta),
            w_in = 1 / (1 - alpha); the per-step decays are beta and alpha whatever the
            spec's dt (rounded back to the float32 snnTorch holds); the threshold is
            subtracted one step after the spike, after the decay.
  norse     tau is written as dt * tau_true; r = 1; a CubaLIF current jumps by w_in times
            the input (not (dt/tau_syn) w_in); reset to v_reset.
  sinabs    time constants in steps; r = 1; reset by subtraction.
  rockpool  r = tau * exp(-dt/tau) / dt and w_in = 1: exact exponential decays; reset by
            subtraction.
  spyx      r = beta (the decay itself); reset by subtraction.
"""

from __future__ import annotations

import itertools
import math
from pathlib import Path
from typing import TYPE_CHECKING

import attrs
import networkx as nx
import numpy as np
from numpy.typing import ArrayLike

from engine.diagnostics import Diagnostic
from engine.resolve.conventions import CONVENTIONS, SNNTORCH_EXPORT_DT, read_neuron
from engine.resolve.floatnet import (
    INPUT,
    ConvShape,
    FloatNet,
    FloatPopulation,
    FloatProjection,
    Floats,
)

if TYPE_CHECKING:
    # nir ships no type information (no py.typed), so to the type checker its graph and nodes
    # are Any: the import reads them by attribute and checks every value it reads
    from nir import NIRGraph, NIRNode

__all__ = ["CONVENTIONS", "SNNTORCH_EXPORT_DT", "SUPPORTED", "ImportError_", "conv_dense", "decay_error", "flatten_graph",
           "fold_synapse_filters", "import_graph", "read_nir"]
# what a node outputs, by (source population, delayed): the matrix from that population's
# spikes (n_src x width), the bias, and the NIR nodes composed into it
Feed = tuple[Floats, Floats | None, tuple[str, ...]]
Feeds = dict[tuple[str, bool], Feed]
MAX_SYNAPSES = 2  # synaptic currents per neuron on any target (Xylo Audio's hidden neurons have two)
WEIGHT_TYPES = ("Affine", "Linear", "Conv1d", "Conv2d")  # the nodes a DynapCNN layer holds as its kernel
LINEAR_TYPES = ("Affine", "Linear", "Scale", "Conv1d", "Conv2d", "Flatten", "SumPool2d", "AvgPool2d", "Delay")
NEURON_TYPES = ("CubaLIF", "LIF", "IF", "LI", "CubaLI", "I", "Threshold")
# Linear nodes are composed as dense float64 matrices (width x width at most): 8192 values
# per node is far above any sensor model nmspec targets and keeps a matrix under 512 MiB.
MAX_NODE_WIDTH = 8192
SUPPORTED = ("Input, Output, Affine, Linear, Scale, Conv1d, Conv2d, Flatten, SumPool2d, AvgPool2d, Delay (zero delay), "
             "CubaLIF, LIF, IF, LI, CubaLI, I, Threshold and nested NIRGraph")
# where each neuron type keeps the parameter that fixes its size
SIZE_PARAMETER = {"CubaLIF": "v_threshold", "LIF": "v_threshold", "IF": "v_threshold", "LI": "tau", "CubaLI": "tau_mem",
                  "I": "r", "Threshold": "threshold"}


class ImportError_(Exception):
    """Carries NM3xx diagnostics (named to avoid shadowing the builtin)."""

    def __init__(self, diagnostics: list[Diagnostic]) -> None:
        super().__init__("; ".join(d.message for d in diagnostics))
        self.diagnostics = diagnostics


def _vec(value: ArrayLike, size: int) -> Floats:
    array = np.asarray(value, dtype=np.float64).reshape(-1)
    if array.size == 1:
        return np.full(size, float(array[0]))
    return array


def _shape(node: NIRNode, key: str) -> tuple[int, ...] | None:
    types = getattr(node, f"{key}_type", None) or {}
    shape = types.get(key)
    return None if shape is None else tuple(int(s) for s in np.asarray(shape).reshape(-1))


def _ints(value: ArrayLike, ndim: int) -> tuple[int, ...]:
    array = np.asarray(value).reshape(-1)
    if array.size == 1:
        return (int(array[0]),) * ndim
    return tuple(int(v) for v in array)


def flatten_graph(graph: NIRGraph, prefix: str = "", convention: str = "nir", notes: list[str] | None = None
                  ) -> tuple[dict[str, NIRNode | str], list[tuple[str, str]]]:
    """Inline nested NIRGraphs: a nested graph's Input/Output nodes become pass-throughs.

    A nested graph whose Input feeds only the weights that also carry its neuron's feedback
    (Input -> W -> neuron -> W) is how Spyx writes a recurrent layer, whose external input
    goes to the neuron directly: under the `spyx` convention the Input is routed to what W
    feeds, W keeping only the feedback; under any other the graph is read as written, and
    `notes` says that the inlining passes the external input through the recurrent weights."""
    import nir

    nodes: dict[str, NIRNode | str] = {}  # a nested graph's ends become "passthrough"
    edges: list[tuple[str, str]] = []
    for name, node in graph.nodes.items():
        full = f"{prefix}{name}"
        if isinstance(node, nir.NIRGraph):
            inner_nodes, inner_edges = flatten_graph(node, prefix=f"{full}.", convention=convention, notes=notes)
            inner_edges = _recurrent_input(full, node, inner_nodes, inner_edges, convention, notes)
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


def _recurrent_input(full: str, graph: NIRGraph, nodes: dict[str, NIRNode | str], edges: list[tuple[str, str]], convention: str,
                     notes: list[str] | None) -> list[tuple[str, str]]:
    """The nested graph's edges, with a Spyx recurrent layer's input routed as Spyx computes it."""
    import nir

    inputs = [f"{full}.{n}" for n, node in graph.nodes.items() if isinstance(node, nir.Input)]
    for source in inputs:
        fed = sorted({d for s, d in edges if s == source})
        if len(fed) != 1 or _kind(nodes.get(fed[0])) not in ("Linear", "Affine"):
            continue
        weights = fed[0]
        targets = sorted({d for s, d in edges if s == weights})
        feedback = sorted({s for s, d in edges if d == weights and s != source})
        if not targets or feedback != targets or any(_kind(nodes.get(t)) not in NEURON_TYPES for t in targets):
            continue
        if convention == "spyx":
            return [e for e in edges if e != (source, weights)] + [(source, t) for t in targets]
        if notes is not None:
            notes.append(f"nested graph '{full}': its Input feeds '{weights}', the weights that also carry the feedback "
                         f"of {', '.join(repr(t) for t in targets)}, so the external input passes through the recurrent "
                         "weights; Spyx writes a recurrent layer this way and means the input to go to the neuron "
                         "directly (model.convention: spyx reads it so)")
    return edges


# the numbers a node computes with; a time constant may be infinite (no leak)
NUMERIC = ("weight", "bias", "scale", "tau", "tau_mem", "tau_syn", "r", "w_in", "v_leak", "v_threshold", "v_reset",
           "threshold")
INFINITE_OK = ("tau", "tau_mem", "tau_syn")


def _not_finite(name: str, kind: str, node: NIRNode) -> list[str]:
    """A NaN (or, but for a time constant, an infinity) in a node: no exporter writes one for a
    trained model, and every state it reaches becomes NaN."""
    problems = []
    for key in NUMERIC:
        value = getattr(node, key, None)
        if value is None:
            continue
        try:
            array = np.asarray(value, dtype=np.float64)
        except (TypeError, ValueError):
            continue
        bad = np.isnan(array) if key in INFINITE_OK else ~np.isfinite(array)
        if np.any(bad):
            where = [int(i) for i in np.argwhere(bad)[0]] if array.ndim else []
            problems.append(f"node '{name}' ({kind}) holds {key} {float(array[tuple(where)]):g}"
                            f"{f' at {where}' if where else ''}; every value must be a finite number")
    return problems


def _kind(node: NIRNode | str) -> str:
    return "passthrough" if isinstance(node, str) and node == "passthrough" else type(node).__name__


def _back_edges(g: nx.DiGraph[str], roots: list[str]) -> set[tuple[str, str]]:
    """Edges that close a cycle in a depth-first walk from the roots (successors by name)."""
    state: dict[str, int] = {}  # 1 on the walk's path, 2 finished
    back: set[tuple[str, str]] = set()
    for root in roots + sorted(n for n in g if n not in roots):
        if root in state:
            continue
        state[root] = 1
        stack = [(root, iter(sorted(g.successors(root))))]
        while stack:
            node, successors = stack[-1]
            nxt = next(successors, None)
            if nxt is None:
                state[node] = 2
                stack.pop()
            elif nxt not in state:
                state[nxt] = 1
                stack.append((nxt, iter(sorted(g.successors(nxt)))))
            elif state[nxt] == 1:
                back.add((node, nxt))
    return back


def _linear_matrix(name: str, node: NIRNode, in_shape: tuple[int, ...], problems: list[str]
                   ) -> tuple[np.ndarray, np.ndarray | None, tuple[int, ...]]:
    """The node as y = x @ M + b over flattened vectors (C order). Returns (M, b, out shape)."""
    kind = _kind(node)
    _check_width(name, kind, in_shape)
    n_in = int(np.prod(in_shape))
    if kind in ("passthrough", "Input", "Output"):
        return np.eye(n_in), None, in_shape
    if kind == "Flatten":
        return np.eye(n_in), None, _flattened(in_shape, int(node.start_dim), int(node.end_dim))
    if kind == "Delay":
        delay = np.asarray(node.delay, dtype=np.float64)
        if np.any(delay != 0):
            problems.append(f"node '{name}' (Delay) delays by {float(delay.max()):g} s; nmspec's targets have no "
                            "synaptic delays, so only a zero Delay is accepted")
        return np.eye(n_in), None, in_shape
    if kind == "Scale":
        scale = np.asarray(node.scale, dtype=np.float64).reshape(-1)
        if scale.size not in (1, n_in):
            problems.append(f"node '{name}' (Scale) holds {scale.size} factors but receives {n_in} values")
            return np.eye(n_in), None, in_shape
        return np.diag(_vec(scale, n_in)), None, in_shape
    if kind in ("Linear", "Affine"):
        weight = np.asarray(node.weight, dtype=np.float64)
        if weight.ndim != 2 or weight.shape[1] != n_in:
            problems.append(f"node '{name}' ({kind}) takes {weight.shape[-1]} inputs but receives {n_in}")
            return np.zeros((n_in, weight.shape[-2])), None, (weight.shape[-2],)
        bias = np.asarray(node.bias, dtype=np.float64).reshape(-1) if kind == "Affine" else None
        if bias is not None and not np.any(bias):
            bias = None
        return weight.T.copy(), bias, (weight.shape[0],)
    if kind in ("Conv1d", "Conv2d"):
        return _conv_node(name, node, in_shape, problems)
    if kind in ("SumPool2d", "AvgPool2d"):
        return _pool_node(name, node, in_shape, problems)
    problems.append(f"node '{name}' ({kind}) cannot be imported; nmspec imports {SUPPORTED}")
    return np.eye(n_in), None, in_shape


def _check_width(name: str, kind: str, shape: tuple[int, ...]) -> None:
    """Every node becomes dense matrices of its width squared: refuse a width past the bound
    before anything of that size is allocated."""
    if any(d < 1 for d in shape) or math.prod(shape) > MAX_NODE_WIDTH:
        raise ImportError_([Diagnostic("error", "NM301", f"node '{name}' ({kind}) receives shape {list(shape)}: "
                                                         f"nmspec imports 1 to {MAX_NODE_WIDTH} values per node")])


def _flattened(shape: tuple[int, ...], start: int, end: int) -> tuple[int, ...]:
    ndim = len(shape)
    start = start + ndim if start < 0 else start
    end = end + ndim if end < 0 else end
    if ndim == 0 or not 0 <= start <= end < ndim:
        return (int(np.prod(shape)),)
    return shape[:start] + (int(np.prod(shape[start: end + 1])),) + shape[end + 1:]


def _spatial_shape(name: str, node: NIRNode, in_shape: tuple[int, ...], ndim: int, problems: list[str]) -> tuple[int, ...] | None:
    """The (channels, *spatial) shape the node receives: what feeds it, else its own declaration."""
    kind = _kind(node)
    if len(in_shape) == ndim + 1:
        return in_shape
    declared = _shape(node, "input")
    if declared is not None and len(declared) == ndim + 1 and int(np.prod(declared)) == int(np.prod(in_shape)):
        return declared
    problems.append(f"node '{name}' ({kind}) receives shape {list(in_shape)}, not (channels, {ndim} spatial axes); "
                    "declare its input shape")
    return None


def conv_dense(weight: np.ndarray, in_shape: tuple[int, ...], stride: tuple[int, ...],
               padding: tuple[tuple[int, int], ...], dilation: tuple[int, ...], groups: int) -> tuple[np.ndarray, tuple[int, ...]]:
    """A (grouped) cross-correlation over a (channels, *spatial) input as a dense matrix
    (inputs x outputs), built by applying it to every input basis vector."""
    c_out, c_in_group = weight.shape[:2]
    kernel = weight.shape[2:]
    n_in = int(np.prod(in_shape))
    spatial = in_shape[1:]
    if min(stride, default=1) < 1 or min(dilation, default=1) < 1:
        raise ValueError(f"stride {list(stride)} and dilation {list(dilation)} must be positive")
    out_spatial = tuple((spatial[d] + sum(padding[d]) - dilation[d] * (kernel[d] - 1) - 1) // stride[d] + 1
                        for d in range(len(spatial)))
    padded_size = in_shape[0] * math.prod(n + sum(p) for n, p in zip(spatial, padding))
    out_size = c_out * math.prod(out_spatial)
    if (min(out_spatial, default=1) < 1 or min((p for pair in padding for p in pair), default=0) < 0
            or max(padded_size, out_size) > MAX_NODE_WIDTH * 8):
        raise ValueError(f"a convolution of input {list(in_shape)} with kernel {list(kernel)}, stride {list(stride)}, "
                         f"padding {[list(p) for p in padding]} and dilation {list(dilation)} gives output "
                         f"{[c_out, *out_spatial]}; nmspec imports 1 to {MAX_NODE_WIDTH} values per node")
    basis = np.eye(n_in).reshape((n_in,) + tuple(in_shape))
    padded = np.pad(basis, [(0, 0), (0, 0)] + [tuple(p) for p in padding])
    out = np.zeros((n_in, c_out) + out_spatial)
    c_out_group = c_out // groups
    for g in range(groups):
        source = padded[:, g * c_in_group:(g + 1) * c_in_group]
        for offsets in itertools.product(*(range(k) for k in kernel)):
            window = tuple(slice(o * dil, o * dil + s * (n - 1) + 1, s)
                           for o, dil, s, n in zip(offsets, dilation, stride, out_spatial))
            patch = source[(slice(None), slice(None)) + window]
            taps = weight[(slice(g * c_out_group, (g + 1) * c_out_group), slice(None)) + offsets]
            out[:, g * c_out_group:(g + 1) * c_out_group] += np.einsum("nc...,oc->no...", patch, taps)
    return out.reshape(n_in, -1), (c_out,) + out_spatial


def _conv_node(name: str, node: NIRNode, in_shape: tuple[int, ...], problems: list[str]
               ) -> tuple[np.ndarray, np.ndarray | None, tuple[int, ...]]:
    kind = _kind(node)
    n_in = int(np.prod(in_shape))
    weight = np.asarray(node.weight, dtype=np.float64)
    ndim = weight.ndim - 2
    shape = _spatial_shape(name, node, in_shape, ndim, problems)
    if shape is None:
        return np.eye(n_in), None, in_shape
    groups = int(np.asarray(node.groups).reshape(-1)[0])
    c_out, c_in_group = weight.shape[:2]
    if groups < 1 or c_out % groups or shape[0] != c_in_group * groups:
        problems.append(f"node '{name}' ({kind}) takes {c_in_group * groups} input channels in {groups} group(s) "
                        f"but receives shape {list(shape)}")
        return np.eye(n_in), None, in_shape
    stride, dilation = _ints(node.stride, ndim), _ints(node.dilation, ndim)
    padding_value = np.asarray(node.padding)
    if padding_value.dtype.kind in "US":
        mode = str(padding_value.reshape(-1)[0])
        if mode == "valid":
            padding = tuple((0, 0) for _ in range(ndim))
        elif mode == "same" and all(s == 1 for s in stride):
            # the extra sample of an even kernel goes after, as in PyTorch
            total = [dilation[d] * (weight.shape[2 + d] - 1) for d in range(ndim)]
            padding = tuple((t // 2, t - t // 2) for t in total)
        else:
            problems.append(f"node '{name}' ({kind}) uses padding '{mode}' with stride {list(stride)}; "
                            "'same' needs stride 1")
            return np.eye(n_in), None, in_shape
    else:
        padding = tuple((p, p) for p in _ints(padding_value, ndim))
    try:
        matrix, out_shape = conv_dense(weight, shape, stride, padding, dilation, groups)
    except ValueError as exc:
        problems.append(f"node '{name}' ({kind}): {exc}")
        return np.eye(n_in), None, in_shape
    bias = np.asarray(node.bias, dtype=np.float64).reshape(-1)
    per_position = int(np.prod(out_shape[1:]))
    b = np.repeat(bias, per_position) if bias.size == c_out and np.any(bias) else None
    return matrix, b, out_shape


def _conv_shape(name: str, node: NIRNode, in_shape: tuple[int, ...], out_shape: tuple[int, ...]) -> ConvShape | None:
    """A weight node as the convolution a DynapCNN layer holds (sinabs 3.1.3
    `DynapcnnLayer.memory_summary` reads c from the kernel's shape, f x c/groups x ky x kx; a
    Linear becomes a convolution whose kernel covers the map it reads, `convert_linear_to_conv`).
    A 1-D map is a column (Conv1d's length is y, x is 1). None where the shapes do not say."""
    kind = _kind(node)
    weight = np.asarray(node.weight)
    if kind in ("Linear", "Affine"):
        if weight.ndim != 2 or weight.shape[1] != math.prod(in_shape) or not 1 <= len(in_shape) <= 3:
            return None
        c, h, w = (int(n) for n in tuple(in_shape) + (1,) * (3 - len(in_shape)))
        return ConvShape((c, h, w), (h, w), (int(weight.shape[0]), 1, 1))
    ndim = weight.ndim - 2
    shape = _spatial_shape(name, node, in_shape, ndim, [])
    if shape is None or len(out_shape) != ndim + 1 or ndim not in (1, 2):
        return None
    column = (1,) if ndim == 1 else ()
    kernel = tuple(int(k) for k in weight.shape[2:]) + column
    spatial_in = tuple(int(n) for n in shape[1:]) + column
    spatial_out = tuple(int(n) for n in out_shape[1:]) + column
    return ConvShape((int(weight.shape[1]), spatial_in[0], spatial_in[1]), (kernel[0], kernel[1]),
                     (int(weight.shape[0]), spatial_out[0], spatial_out[1]))


def _pool_node(name: str, node: NIRNode, in_shape: tuple[int, ...], problems: list[str]
               ) -> tuple[np.ndarray, np.ndarray | None, tuple[int, ...]]:
    """A pool is a depthwise convolution with a kernel of ones (AvgPool2d: of 1/(kh*kw),
    padding counted in the average as PyTorch does by default)."""
    kind = _kind(node)
    shape = _spatial_shape(name, node, in_shape, 2, problems)
    if shape is None:
        return np.eye(int(np.prod(in_shape))), None, in_shape
    kernel, stride, pad = _ints(node.kernel_size, 2), _ints(node.stride, 2), _ints(node.padding, 2)
    channels = shape[0]
    if not all(0 < k <= n + 2 * max(p, 0) for k, n, p in zip(kernel, shape[1:], pad)):
        problems.append(f"node '{name}' ({kind}) has kernel {list(kernel)} for input {list(shape)}")
        return np.eye(int(np.prod(in_shape))), None, in_shape
    value = 1.0 / (kernel[0] * kernel[1]) if kind == "AvgPool2d" else 1.0
    weight = np.full((channels, 1) + kernel, value)
    try:
        matrix, out_shape = conv_dense(weight, shape, stride, tuple((p, p) for p in pad), (1, 1), channels)
    except ValueError as exc:
        problems.append(f"node '{name}' ({kind}): {exc}")
        return np.eye(int(np.prod(in_shape))), None, in_shape
    return matrix, None, out_shape


def _population(name: str, node: NIRNode, dt: float, convention: str, width: int) -> tuple[FloatPopulation, list[str]]:
    """The node's neurons as the convention's framework computes them, and what is
    suspicious in the node (each warning names the node)."""
    kind = _kind(node)
    size_array = np.asarray(getattr(node, SIZE_PARAMETER[kind]))
    # scalar (0-d) parameters, as Norse stores its defaults, cover every neuron the node receives
    size = int(size_array.size) if size_array.ndim else int(width)
    threshold = _vec(node.v_threshold, size) if hasattr(node, "v_threshold") else None
    written_reset = getattr(node, "v_reset", None)
    v_reset = _vec(written_reset if written_reset is not None else 0.0, size)
    alpha = tau_syn = tau_mem = None
    warnings: tuple[str, ...]
    spiking = kind in ("CubaLIF", "LIF", "IF", "Threshold")
    if kind == "Threshold":  # memoryless comparison
        one = np.ones(size)
        beta, in_gain, i_gain, leak = np.zeros(size), one, one, np.zeros(size)
        threshold = _vec(node.threshold, size)
        reset, compare, max_spikes, spike_delay, warnings = "none", "gt", 1, 0, ()
    else:
        keys = [k for k in ("tau", "tau_mem", "tau_syn", "r", "w_in", "v_leak") if getattr(node, k, None) is not None]
        reading = read_neuron(kind, {k: _vec(getattr(node, k), size) for k in keys}, dt, convention)
        alpha, beta, in_gain, i_gain, leak = reading.alpha, reading.beta, reading.in_gain, reading.i_gain, reading.leak
        reset = reading.reset if spiking else "none"
        compare, max_spikes, spike_delay, warnings = reading.compare, reading.max_spikes, reading.spike_delay, reading.warnings
        if alpha is not None:
            tau_syn = _tau_of(alpha, dt)
        if kind not in ("IF", "I"):
            tau_mem = _tau_of(beta, dt)
    if not spiking:
        max_spikes, spike_delay = 1, 0
    pop = FloatPopulation(
        name=name, kind=kind.lower() if kind != "I" else "integrator", size=int(size), alpha=alpha, beta=beta,
        in_gain=in_gain, i_gain=i_gain, leak=leak, threshold=threshold if spiking else None, v_reset=v_reset,
        reset=reset, compare=compare, tau_syn=tau_syn, tau_mem=tau_mem, max_spikes=max_spikes, spike_delay=spike_delay,
    )
    return pop, [f"node '{name}' ({kind}): {w}" for w in warnings]


def _tau_of(d: Floats, dt: float) -> Floats:
    """The tau (s) whose Euler step at this dt is the decay d."""
    with np.errstate(divide="ignore"):
        return dt / np.maximum(1.0 - d, 1e-300)


def _neuron_shape(node: NIRNode, size: int) -> tuple[int, ...]:
    shape = np.asarray(getattr(node, SIZE_PARAMETER[_kind(node)])).shape
    return tuple(int(s) for s in shape) if shape else (size,)


def import_graph(graph: NIRGraph, *, dt: float, convention: str, max_spikes: int | None = None) -> FloatNet:
    """A NIRGraph -> FloatNet; raises ImportError_ naming every node it cannot take.

    max_spikes: the most spikes a neuron of a multi-spike convention (rockpool, sinabs) was
    trained to emit in one step, where it is not the framework's default (Rockpool's
    max_spikes_per_dt, 1 for Sinabs' SingleSpike): no exporter writes it into the file."""
    import nir

    warnings: list[str] = []
    nodes, edges = flatten_graph(graph, convention=convention, notes=warnings)
    problems: list[str] = []
    for src, dst in sorted(set(edges)):
        unknown = [n for n in (src, dst) if n not in nodes]
        if unknown:
            problems.append(f"edge {src} -> {dst} names {', '.join(repr(n) for n in unknown)}, not a node of the graph")
    if problems:
        raise ImportError_([Diagnostic("error", "NM301", p) for p in problems])
    g: nx.DiGraph[str] = nx.DiGraph()
    g.add_nodes_from(sorted(nodes))
    g.add_edges_from(edges)
    inputs = sorted(n for n, node in graph.nodes.items() if isinstance(node, nir.Input))
    outputs = sorted(n for n, node in graph.nodes.items() if isinstance(node, nir.Output))
    for name, node in sorted(nodes.items()):
        kind = _kind(node)
        if kind not in LINEAR_TYPES + NEURON_TYPES + ("Input", "Output", "passthrough"):
            problems.append(f"node '{name}' ({kind}) cannot be imported; nmspec imports {SUPPORTED}")
        else:
            problems += _not_finite(name, kind, node)
    if len(inputs) != 1 or len(outputs) != 1:
        problems.append(f"the graph must have one Input and one Output node at its top level; it has {len(inputs)} and {len(outputs)}")
    if problems:
        raise ImportError_([Diagnostic("error", "NM301", p) for p in problems])

    neuron = {n for n, node in nodes.items() if _kind(node) in NEURON_TYPES}
    stateless = g.subgraph(sorted(n for n in g if n not in neuron))
    if not nx.is_directed_acyclic_graph(stateless):
        cycle = nx.find_cycle(stateless)
        path = " -> ".join([e[0] for e in cycle] + [cycle[0][0]])
        raise ImportError_([Diagnostic("error", "NM302", f"a cycle without a neuron node: {path}")])
    delayed_edges = _back_edges(g, inputs)
    dag: nx.DiGraph[str] = nx.DiGraph()
    dag.add_nodes_from(g.nodes)
    dag.add_edges_from(e for e in g.edges if e not in delayed_edges)
    order = list(nx.lexicographical_topological_sort(dag))

    input_shape = _shape(nodes[inputs[0]], "input") or _shape(nodes[inputs[0]], "output") or (1,)
    _check_width(inputs[0], "Input", input_shape)
    n_inputs = int(np.prod(input_shape))
    # feeds[node] = {(source population, delayed): (matrix n_src x n_out, bias, composed nodes)}
    feeds: dict[str, Feeds] = {}
    shapes: dict[str, tuple[int, ...]] = {}
    populations: list[FloatPopulation] = []
    projections: list[FloatProjection] = []

    pops: dict[str, FloatPopulation] = {}
    sizing: set[str] = set()
    received: dict[str, tuple[int, ...]] = {}  # the shape each linear node was given
    geometry: dict[str, ConvShape] = {}  # per weight node, what a DynapCNN layer sizes

    def gather(name: str) -> Feeds:
        total: Feeds = {}
        for pred in sorted(g.predecessors(name)):
            late = (pred, name) in delayed_edges
            for (src, was_late), (m, b, via) in feed_of(pred).items():
                key = (src, was_late or late)
                if key in total:
                    m0, b0, via0 = total[key]
                    bias = b0 if b is None else (b if b0 is None else b0 + b)
                    total[key] = (m0 + m, bias, tuple(sorted(set(via0 + via))))
                else:
                    total[key] = (m, b, via)
        return total

    def width_of(name: str, incoming: Feeds) -> int | None:
        widths = {m.shape[1] for m, _, _ in incoming.values()}
        if len(widths) > 1:
            problems.append(f"node '{name}' ({_kind(nodes[name])}) receives inputs of different sizes {sorted(widths)}")
            return None
        return widths.pop() if widths else None

    def population_of(name: str) -> FloatPopulation | None:
        if name not in pops:
            node = nodes[name]
            declared = np.asarray(getattr(node, SIZE_PARAMETER[_kind(node)]))
            width = int(declared.size) if declared.ndim else None
            if width is None:  # scalar parameters: as many neurons as the node receives
                if name in sizing:
                    problems.append(f"node '{name}' ({_kind(node)}) has scalar parameters inside a cycle; "
                                    "give one value per neuron")
                    return None
                sizing.add(name)
                width = width_of(name, gather(name))
                sizing.discard(name)
                if width is None:
                    return None
            pops[name], node_warnings = _population(name, node, dt, convention, width)
            if max_spikes is not None and pops[name].max_spikes > 1:
                pops[name] = attrs.evolve(pops[name], max_spikes=int(max_spikes))
            warnings.extend(node_warnings)
            _check_width(name, _kind(node), (pops[name].size,))
        return pops[name]

    def feed_of(name: str) -> Feeds:
        """What the node outputs, as matrices from each source population (memoised)."""
        if name in feeds:
            return feeds[name]
        feeds[name] = {}  # a failure below is reported once
        node = nodes[name]
        kind = _kind(node)
        if name in inputs:
            feeds[name] = {(INPUT, False): (np.eye(n_inputs), None, ())}
            shapes[name] = input_shape
        elif kind in NEURON_TYPES:
            pop = population_of(name)
            if pop is not None:
                feeds[name] = {(name, False): (np.eye(pop.size), None, ())}
                shapes[name] = _neuron_shape(node, pop.size)
        else:
            incoming = gather(name)
            width = width_of(name, incoming)
            if width is None:
                return feeds[name]
            fed = sorted({shapes[p] for p in g.predecessors(name) if p in shapes and int(np.prod(shapes[p])) == width})
            received[name] = fed[0] if len(fed) == 1 else (width,)
            matrix, bias, out_shape = _linear_matrix(name, node, received[name], problems)
            if kind in WEIGHT_TYPES:
                flattened = [received[p] for p in g.predecessors(name) if p in received and _kind(nodes[p]) == "Flatten"]
                conv = _conv_shape(name, node, flattened[0] if len(flattened) == 1 else received[name], out_shape)
                if conv is not None:
                    geometry[name] = conv
            out = {}
            for key, (m, b, via) in incoming.items():
                composed_bias = None if b is None else b @ matrix
                out[key] = (m @ matrix, composed_bias, via + ((name,) if kind not in ("passthrough", "Input", "Output") else ()))
            if bias is not None:
                first = min(out)
                m, b, via = out[first]
                out[first] = (m, bias if b is None else b + bias, via)
            feeds[name] = out
            shapes[name] = out_shape
        return feeds[name]

    for name in order:
        node = nodes[name]
        if _kind(node) not in NEURON_TYPES:
            continue
        pop = population_of(name)
        if pop is None:
            continue
        incoming = gather(name)
        width = width_of(name, incoming)
        if width is None:
            continue  # fed by nothing: it never spikes, but it is still a population
        if width != pop.size:
            problems.append(f"node '{name}' ({_kind(node)}) has {pop.size} neurons but receives {width} values")
            continue
        for (src, late), (m, b, via) in sorted(incoming.items()):
            if late and src in pops and pops[src].spike_delay:
                late = False  # its spikes of a step are known before the step (floatnet)
            weights = [n for n in via if _kind(nodes[n]) in WEIGHT_TYPES]
            conv = geometry.get(weights[0]) if len(weights) == 1 else None
            if conv is not None and math.prod(conv.out_shape) != pop.size:
                conv = None  # a pool between the weights and the neurons: no DynapCNN layer computes that
            projections.append(FloatProjection(src, name, m, b, late, via, conv=conv))
        populations.append(pop)
    readout_feeds = feed_of(outputs[0])
    if problems:
        raise ImportError_([Diagnostic("error", "NM301", p) for p in problems])
    readouts = sorted({src for (src, _late) in readout_feeds})
    if len(readouts) != 1 or readouts[0] == INPUT:
        raise ImportError_([Diagnostic("error", "NM303", "the Output node must be fed by exactly one neuron population; "
                                                         f"it is fed by {', '.join(readouts) or 'nothing'}")])
    (key, (matrix, bias, via)), *_more = sorted(readout_feeds.items())
    if _more or key[1] or via or bias is not None or not np.array_equal(matrix, np.eye(matrix.shape[0])):
        raise ImportError_([Diagnostic("error", "NM303", f"the Output node reads '{readouts[0]}' through {', '.join(via)}; "
                                                         "nmspec reads spikes straight from the last neuron population")])
    order_index = {n: i for i, n in enumerate(order)}
    populations.sort(key=lambda p: order_index[p.name])
    return fold_synapse_filters(FloatNet(int(n_inputs), tuple(populations), tuple(projections), readouts[0], dt,
                                         convention, notes=(f"exporter convention '{convention}' applied",),
                                         warnings=tuple(warnings)))


def _synapse_filter_target(filt: FloatPopulation, leaving: list[FloatProjection],
                           populations: dict[str, FloatPopulation], output: str) -> str | None:
    """The population an LI node is a synaptic filter of: its only reader, a LIF or IF node
    (a Threshold after an LI is a reset-free LIF, not a synapse), reading it one to one (no
    matrix, no bias)."""
    if filt.kind != "li" or filt.name == output or len(leaving) != 1:
        return None
    edge = leaving[0]
    target = populations[edge.dst]
    if (target.kind not in ("lif", "if") or target.alpha is not None or target.size != filt.size or edge.nodes
            or edge.bias is not None):
        return None
    return target.name if np.array_equal(edge.weight, np.eye(filt.size)) else None


def fold_synapse_filters(net: FloatNet) -> FloatNet:
    """Read LI nodes that feed a spiking LIF or IF node one to one as that node's synapses
    (docs/models.md, "Two synapses"): a neuron whose every input arrives through such
    filters integrates the sum of their currents, so each filter becomes one synaptic
    current of the neuron (its tau the synaptic time constant, its input gain folded into
    the weights), in name order. One filter is a CubaLIF; two are Xylo's second synapse."""
    populations = {p.name: p for p in net.populations}
    leaving: dict[str, list[FloatProjection]] = {}
    entering: dict[str, list[FloatProjection]] = {}
    for proj in net.projections:
        leaving.setdefault(proj.src, []).append(proj)
        entering.setdefault(proj.dst, []).append(proj)
    filters: dict[str, list[str]] = {}  # target -> its filters, by name
    for pop in net.populations:
        target = _synapse_filter_target(pop, leaving.get(pop.name, []), populations, net.output)
        if target is not None:
            filters.setdefault(target, []).append(pop.name)
    # a neuron also fed directly (no filter) keeps the plain reading: it has no synapse for that input
    filters = {t: sorted(f) for t, f in filters.items() if all(p.src in f for p in entering.get(t, []))}
    if not filters:
        return net
    problems = [f"node '{t}' reads {len(f)} synaptic filters ({', '.join(f)}); nmspec's targets have at most "
                f"{MAX_SYNAPSES} synapses per neuron" for t, f in sorted(filters.items()) if len(f) > MAX_SYNAPSES]
    problems += [f"node '{f}' (LI) read as a synapse of '{t}' has v_leak {float(np.max(np.abs(populations[f].leak))):g}; "
                 "a synaptic filter leaks to 0" for t, names in sorted(filters.items()) for f in names
                 if np.any(populations[f].leak != 0)]
    folded = {f for names in filters.values() for f in names}
    projections: list[FloatProjection] = []
    for proj in net.projections:
        if proj.dst in folded:
            continue
        if proj.src not in folded:
            projections.append(proj)
            continue
        synapse = filters[proj.dst].index(proj.src)
        filt = populations[proj.src]
        for into in entering.get(proj.src, []):
            if into.delayed and proj.delayed:
                problems.append(f"node '{proj.dst}' reads '{proj.src}' one step late and '{proj.src}' reads "
                                f"'{into.src}' one step late: a two-step delay has no form on nmspec's targets")
            bias = None if into.bias is None else into.bias * filt.in_gain
            projections.append(FloatProjection(into.src, proj.dst, into.weight * filt.in_gain[None, :], bias,
                                               into.delayed or proj.delayed, into.nodes + (proj.src,), synapse))
    if problems:
        raise ImportError_([Diagnostic("error", "NM301", p) for p in problems])
    kept = []
    for pop in net.populations:
        if pop.name in folded:
            continue
        names = filters.get(pop.name)
        if names is not None:
            first = populations[names[0]]
            second = populations[names[1]] if len(names) > 1 else None
            pop = attrs.evolve(pop, alpha=first.beta, in_gain=np.ones(pop.size), i_gain=pop.in_gain,
                               tau_syn=first.tau_mem, alpha2=None if second is None else second.beta,
                               tau_syn2=None if second is None else second.tau_mem)
        kept.append(pop)
    notes = tuple(f"{' and '.join(f)} (LI) read as the synapse{'s' if len(f) > 1 else ''} of '{t}'"
                  for t, f in sorted(filters.items()))
    return attrs.evolve(net, populations=tuple(kept), projections=tuple(projections), notes=net.notes + notes)


def read_nir(path: Path, *, dt: float, convention: str, max_spikes: int | None = None) -> FloatNet:
    import nir

    try:
        graph = nir.read(str(path))
    except Exception:  # noqa: BLE001  (nir's type check raises anything: read again without it)
        try:
            graph = nir.read(str(path), type_check=False)
        except Exception as exc:  # h5py, KeyError, ...: the file is not a readable NIR graph
            raise ImportError_([Diagnostic("error", "NM300", f"cannot read the NIR file: {type(exc).__name__}: {exc}")]) from exc
    return import_graph(graph, dt=dt, convention=convention, max_spikes=max_spikes)


def decay_error(tau: float, dt: float, dash: int) -> float:
    """Relative error of a Xylo bit-shift decay 2^-dash against the exact dt/tau."""
    return abs(2.0 ** -dash - dt / tau) / (dt / tau) if tau > 0 else math.inf
