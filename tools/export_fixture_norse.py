"""Regenerate tests/data/norse_net.nir with Norse's own NIR exporter, and beside it
norse_net.json: the parameters Norse holds and the spikes Norse computes on a fixed input,
for tests/test_nir_import.py to compare the import against.

Needs the optional framework (not a project dependency), in a separate environment:

    python -m venv exportenv
    exportenv/bin/pip install norse==1.1.0 torch==2.14.1 nirtorch==2.6 nir==1.0.8
    exportenv/bin/python tools/export_fixture_norse.py

The network: Linear(5 -> 4, bias) -> LIFCell (CubaLIF, per-neuron time constants and
thresholds) -> Linear(4 -> 3) -> LIFBoxCell (LIF), at Norse's dt of 1 ms. Deterministic:
fixed seed, weights rounded to multiples of 1/64.

It also writes the Norse fixtures of tests/data/frameworks/ (layout in
tools/framework_fixtures.py), each with Norse's own 30-step run:
  lif_li  Linear(5 -> 6, bias) -> LIFCell (CubaLIF) -> Linear(6 -> 3) -> LIBoxCell (LI readout)
  iaf     Linear(5 -> 6) -> IAFCell (IF) -> Linear(6 -> 3) -> LIFBoxCell (LIF)
  conv    Conv2d(1 -> 2, 3x3, padding 1) on 4x4 -> LIFBoxCell
Norse 1.1.0's exporter writes no recurrent cell (LIFRecurrentCell and the like have no NIR
form in it), so there is no recurrent Norse fixture.
"""

from __future__ import annotations

import importlib.metadata
import json
import sys
from pathlib import Path
from typing import Any

import nir
import norse
import numpy as np
import torch
from framework_fixtures import grid, input_spikes, write_fixture, write_manifest
from norse.torch import (
    IAFCell,
    IAFParameters,
    LIBoxCell,
    LIBoxParameters,
    LIFBoxCell,
    LIFBoxParameters,
    LIFCell,
    LIFParameters,
    SequentialState,
)
from norse.torch.utils.export_nir import to_nir

OUT = Path(__file__).resolve().parents[1] / "tests" / "data"
STEPS = 40
N_IN, N_HID, N_OUT = 5, 4, 3
DT = 1e-3


def _grid(values: np.ndarray) -> torch.Tensor:
    return torch.tensor(np.round(values * 64) / 64, dtype=torch.float32)


def build(rng: np.random.Generator) -> SequentialState:
    fc1 = torch.nn.Linear(N_IN, N_HID, bias=True)
    fc2 = torch.nn.Linear(N_HID, N_OUT, bias=False)
    with torch.no_grad():
        fc1.weight.copy_(_grid(rng.uniform(-1.0, 2.5, (N_HID, N_IN))))
        fc1.bias.copy_(_grid(rng.uniform(-0.5, 0.5, N_HID)))
        fc2.weight.copy_(_grid(rng.uniform(-0.25, 1.25, (N_OUT, N_HID))))
    cell = LIFCell(p=LIFParameters(tau_syn_inv=torch.tensor([200.0, 250.0, 125.0, 500.0]),
                                   tau_mem_inv=torch.tensor([100.0, 125.0, 250.0, 62.5]),
                                   v_leak=torch.zeros(N_HID), v_th=torch.tensor([1.0, 0.75, 1.25, 0.5]),
                                   v_reset=torch.zeros(N_HID)), dt=DT)
    box = LIFBoxCell(p=LIFBoxParameters(tau_mem_inv=torch.tensor([250.0, 125.0, 500.0]), v_leak=torch.zeros(N_OUT),
                                        v_th=torch.tensor([0.5, 0.375, 0.625]), v_reset=torch.zeros(N_OUT)), dt=DT)
    return SequentialState(fc1, cell, fc2, box)


def run(net: SequentialState, spikes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    fc1, cell, fc2, box = net
    s_cell = s_box = None
    hidden, output = [], []
    with torch.no_grad():
        for t in range(spikes.shape[0]):
            x = torch.tensor(spikes[t: t + 1], dtype=torch.float32)
            h, s_cell = cell(fc1(x), s_cell)
            out, s_box = box(fc2(h), s_box)
            hidden.append(h.numpy()[0])
            output.append(out.numpy()[0])
    return np.array(hidden, dtype=np.int64), np.array(output, dtype=np.int64)


def main() -> None:
    torch.manual_seed(0)
    rng = np.random.default_rng(7)
    net = build(rng)
    spikes = (rng.uniform(size=(STEPS, N_IN)) < 0.45).astype(np.int64)
    hidden, output = run(net, spikes)
    graph = to_nir(net, torch.zeros(1, N_IN), dt=DT)
    OUT.mkdir(parents=True, exist_ok=True)
    nir.write(str(OUT / "norse_net.nir"), graph)
    fc1, cell, fc2, box = net
    record = {
        "framework": {"norse": norse.__version__, "torch": torch.__version__.split("+")[0], "nir": nir.version},
        "dt": DT,
        "nodes": sorted(graph.nodes),
        "edges": sorted([list(e) for e in graph.edges]),
        "fc1_weight": fc1.weight.detach().numpy().tolist(),
        "fc1_bias": fc1.bias.detach().numpy().tolist(),
        "fc2_weight": fc2.weight.detach().numpy().tolist(),
        "cell_tau_syn_inv": cell.p.tau_syn_inv.numpy().tolist(),
        "cell_tau_mem_inv": cell.p.tau_mem_inv.numpy().tolist(),
        "cell_v_th": cell.p.v_th.numpy().tolist(),
        "box_tau_mem_inv": box.p.tau_mem_inv.numpy().tolist(),
        "box_v_th": box.p.v_th.numpy().tolist(),
        "input_spikes": spikes.tolist(),
        "hidden_spikes": hidden.tolist(),
        "output_spikes": output.tolist(),
    }
    (OUT / "norse_net.json").write_text(json.dumps(record, sort_keys=True) + "\n")
    print(f"wrote {OUT / 'norse_net.nir'}: nodes {sorted(graph.nodes)}; "
          f"{int(hidden.sum())} hidden and {int(output.sum())} output spikes in {STEPS} steps "
          f"(per neuron {hidden.sum(axis=0).tolist()} {output.sum(axis=0).tolist()})")


def _layer(layer: torch.nn.Module, rng: np.random.Generator, low: float, high: float) -> torch.nn.Module:
    with torch.no_grad():
        layer.weight.copy_(torch.tensor(grid(rng.uniform(low, high, tuple(layer.weight.shape)))))
        if layer.bias is not None:
            layer.bias.copy_(torch.tensor(grid(rng.uniform(-0.25, 0.25, tuple(layer.bias.shape)))))
    return layer


def _t(values: Any) -> torch.Tensor:
    return torch.tensor(np.asarray(values, dtype=np.float32))


def lif_li(rng: np.random.Generator) -> SequentialState:
    return SequentialState(
        _layer(torch.nn.Linear(5, 6), rng, -1.0, 3.0),
        LIFCell(p=LIFParameters(tau_syn_inv=_t([200.0, 250.0, 125.0, 500.0, 100.0, 200.0]),
                                tau_mem_inv=_t([100.0, 125.0, 250.0, 62.5, 100.0, 200.0]), v_leak=_t(np.zeros(6)),
                                v_th=_t([1.0, 0.75, 1.25, 0.5, 0.625, 1.0]), v_reset=_t(np.zeros(6))), dt=DT),
        _layer(torch.nn.Linear(6, 3, bias=False), rng, -0.5, 1.5),
        LIBoxCell(p=LIBoxParameters(tau_mem_inv=_t([100.0, 200.0, 50.0]), v_leak=_t(np.zeros(3))), dt=DT))


def iaf(rng: np.random.Generator) -> SequentialState:
    return SequentialState(
        _layer(torch.nn.Linear(5, 6, bias=False), rng, -0.25, 0.75),
        IAFCell(p=IAFParameters(v_th=_t([1.0, 0.75, 1.25, 0.5, 1.0, 1.5]), v_reset=_t(np.zeros(6))), dt=DT),
        _layer(torch.nn.Linear(6, 3, bias=False), rng, -0.5, 2.5),
        LIFBoxCell(p=LIFBoxParameters(tau_mem_inv=_t([250.0, 125.0, 500.0]), v_leak=_t(np.zeros(3)),
                                      v_th=_t([0.5, 0.375, 0.625]), v_reset=_t(np.zeros(3))), dt=DT))


def conv(rng: np.random.Generator) -> SequentialState:
    shape = (2, 4, 4)
    return SequentialState(
        _layer(torch.nn.Conv2d(1, 2, 3, padding=1), rng, -1.0, 3.0),
        LIFBoxCell(p=LIFBoxParameters(tau_mem_inv=_t(np.round(rng.uniform(50, 250, shape))),
                                      v_leak=_t(np.zeros(shape)), v_th=_t(np.round(rng.uniform(0.25, 0.75, shape) * 8) / 8),
                                      v_reset=_t(np.zeros(shape))), dt=DT))


def record(net: SequentialState, spikes: np.ndarray, input_shape: tuple[int, ...]) -> dict[str, np.ndarray]:
    """Every cell's output and membrane, keyed by its NIR node (the module's index)."""
    states: list[Any] = [None] * len(net)
    rows: dict[str, list[np.ndarray]] = {}
    with torch.no_grad():
        for t in range(spikes.shape[0]):
            x = torch.tensor(spikes[t].reshape((1,) + input_shape))
            for index, module in enumerate(net):
                if isinstance(module, (LIFCell, LIFBoxCell, IAFCell, LIBoxCell)):
                    x, states[index] = module(x, states[index])
                    v = states[index].v.numpy().reshape(-1).copy()
                    if not isinstance(module, LIBoxCell):
                        rows.setdefault(f"spikes:{index}", []).append(x.numpy().reshape(-1).copy())
                    rows.setdefault(f"v:{index}", []).append(v)
                else:
                    x = module(x)
    return {"input": spikes, **{k: np.array(v) for k, v in rows.items()}}


def _writable(graph: Any, shape: tuple[int, ...]) -> None:
    """Norse 1.1.0 leaves a Conv2d's input_shape None, which nir's writer cannot store: the
    (H, W) the convolution receives is filled in, and nothing else of the exporter's graph."""
    for node in graph.nodes.values():
        if isinstance(node, nir.Conv2d) and node.input_shape is None:
            node.input_shape = np.array(shape[1:])


def frameworks() -> None:
    fixtures = []
    models = [
        ("lif_li", lif_li, (5,), ["synaptic current", "LI readout", "Affine bias", "per-neuron parameters"]),
        ("iaf", iaf, (5,), ["IF", "LIF without synaptic current", "per-neuron parameters"]),
        ("conv", conv, (1, 4, 4), ["convolutional", "per-neuron parameters"]),
    ]
    for index, (name, build, shape, features) in enumerate(models):
        torch.manual_seed(index)
        rng = np.random.default_rng(50 + index)
        net = build(rng)
        spikes = input_spikes(rng, int(np.prod(shape)))
        rec = record(net, spikes, shape)
        graph = to_nir(net, torch.zeros((1,) + shape), dt=DT)
        _writable(graph, shape)
        fixtures.append(write_fixture("norse", name, graph, rec, {"convention": "norse", "dt": DT, "features": features,
                                                                  "reading": "exact"}))
    write_manifest("norse", {"norse": norse.__version__, "torch": torch.__version__.split("+")[0], "nir": nir.version,
                             "nirtorch": importlib.metadata.version("nirtorch")}, fixtures)


if __name__ == "__main__":
    if "--frameworks-only" not in sys.argv:
        main()
    frameworks()
