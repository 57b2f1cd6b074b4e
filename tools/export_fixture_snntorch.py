"""Regenerate tests/data/snntorch_net.nir with snnTorch's own NIR exporter, and beside it
snntorch_net.json: the parameters snnTorch holds and the spikes snnTorch computes on a
fixed input, for tests/test_nir_import.py to compare the import against.

Needs the optional framework (not a project dependency), in a separate environment:

    python -m venv exportenv
    exportenv/bin/pip install torch==2.13.0 snntorch==1.0.0 nirtorch==2.6 nir==1.0.8
    exportenv/bin/python tools/export_fixture_snntorch.py

The network: Affine(5 -> 4) -> Synaptic (CubaLIF, per-neuron alpha, beta, threshold)
-> Linear(4 -> 3) -> Leaky (LIF, per-neuron beta and threshold).
Deterministic: fixed seed, weights rounded to multiples of 1/64 so the float32 file and
the float64 import hold the same numbers.

It also writes the snnTorch fixtures of tests/data/frameworks/ (layout in
tools/framework_fixtures.py), each with snnTorch's own 30-step run:
  leaky          Affine(5 -> 6) -> Leaky -> Linear(6 -> 3) -> Leaky (the most common model)
  synaptic       Linear(5 -> 6) -> Synaptic -> Linear(6 -> 3) -> Synaptic
  rleaky         Linear(5 -> 6) -> RLeaky (all-to-all recurrent, a nested graph) -> Linear -> Leaky
  conv           Conv2d(1 -> 2, 3x3, padding 1) on 4x4 -> Leaky -> Flatten -> Linear(32 -> 3) -> Leaky
  beta_above_one Affine(5 -> 4) -> Leaky with one beta of 1.0625 -> Linear -> Leaky: exported as a
                 negative tau; snnTorch runs it clamped to 1
"""

from __future__ import annotations

import importlib.metadata
import json
import sys
from pathlib import Path
from typing import Any

import nir
import numpy as np
import snntorch
import torch
from framework_fixtures import grid, input_spikes, write_fixture, write_manifest
from snntorch.export_nir import export_to_nir

OUT = Path(__file__).resolve().parents[1] / "tests" / "data"
STEPS = 40
N_IN, N_HID, N_OUT = 5, 4, 3


def _grid(values: np.ndarray) -> torch.Tensor:
    return torch.tensor(np.round(values * 64) / 64, dtype=torch.float32)


def build(rng: np.random.Generator) -> torch.nn.Sequential:
    fc1 = torch.nn.Linear(N_IN, N_HID, bias=True)
    fc2 = torch.nn.Linear(N_HID, N_OUT, bias=False)
    with torch.no_grad():
        fc1.weight.copy_(_grid(rng.uniform(-0.3, 0.6, (N_HID, N_IN))))
        fc1.bias.copy_(_grid(rng.uniform(-0.1, 0.1, N_HID)))
        fc2.weight.copy_(_grid(rng.uniform(-0.4, 1.0, (N_OUT, N_HID))))
    syn = snntorch.Synaptic(alpha=torch.tensor([0.5, 0.75, 0.625, 0.875]), beta=torch.tensor([0.875, 0.9375, 0.75, 0.5]),
                            threshold=torch.tensor([1.0, 1.25, 0.75, 1.5]), init_hidden=True)
    # snnTorch's exporter fails type inference on scalar beta and threshold (0-d in the file):
    # its layers need one value per neuron to export
    leaky = snntorch.Leaky(beta=torch.tensor([0.8125, 0.6875, 0.9375]), threshold=torch.tensor([1.0, 0.875, 1.125]),
                           init_hidden=True, output=True)
    return torch.nn.Sequential(fc1, syn, fc2, leaky)


def run(net: torch.nn.Sequential, spikes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    syn, leaky = net[1], net[3]
    syn.reset_hidden()
    leaky.reset_hidden()
    hidden, output = [], []
    with torch.no_grad():
        for t in range(spikes.shape[0]):
            x = torch.tensor(spikes[t: t + 1], dtype=torch.float32)
            h = syn(net[0](x))
            out, _mem = leaky(net[2](h))
            hidden.append(h.numpy()[0])
            output.append(out.numpy()[0])
    return np.array(hidden, dtype=np.int64), np.array(output, dtype=np.int64)


def main() -> None:
    torch.manual_seed(0)
    rng = np.random.default_rng(2)
    net = build(rng)
    spikes = (rng.uniform(size=(STEPS, N_IN)) < 0.45).astype(np.int64)
    hidden, output = run(net, spikes)
    graph = export_to_nir(net, torch.zeros(1, N_IN), ignore_dims=[0])
    OUT.mkdir(parents=True, exist_ok=True)
    nir.write(str(OUT / "snntorch_net.nir"), graph)
    record = {
        "framework": {"snntorch": snntorch.__version__, "torch": torch.__version__.split("+")[0], "nir": nir.version},
        "nodes": sorted(graph.nodes),
        "edges": sorted([list(e) for e in graph.edges]),
        "fc1_weight": net[0].weight.detach().numpy().tolist(),
        "fc1_bias": net[0].bias.detach().numpy().tolist(),
        "fc2_weight": net[2].weight.detach().numpy().tolist(),
        "syn_alpha": net[1].alpha.detach().numpy().tolist(),
        "syn_beta": net[1].beta.detach().numpy().tolist(),
        "syn_threshold": net[1].threshold.detach().numpy().tolist(),
        "leaky_beta": net[3].beta.detach().numpy().tolist(),
        "leaky_threshold": net[3].threshold.detach().numpy().tolist(),
        "input_spikes": spikes.tolist(),
        "hidden_spikes": hidden.tolist(),
        "output_spikes": output.tolist(),
    }
    (OUT / "snntorch_net.json").write_text(json.dumps(record, sort_keys=True) + "\n")
    print(f"wrote {OUT / 'snntorch_net.nir'}: nodes {sorted(graph.nodes)}; "
          f"{int(hidden.sum())} hidden and {int(output.sum())} output spikes in {STEPS} steps")


def _layer(layer: torch.nn.Module, rng: np.random.Generator, low: float, high: float) -> torch.nn.Module:
    with torch.no_grad():
        layer.weight.copy_(torch.tensor(grid(rng.uniform(low, high, tuple(layer.weight.shape)))))
        if layer.bias is not None:
            layer.bias.copy_(torch.tensor(grid(rng.uniform(-0.1, 0.1, tuple(layer.bias.shape)))))
    return layer


def _leaky(beta: list[float], threshold: list[float], **kwargs: Any) -> snntorch.Leaky:
    return snntorch.Leaky(beta=torch.tensor(beta), threshold=torch.tensor(threshold), init_hidden=True, **kwargs)


def leaky(rng: np.random.Generator) -> torch.nn.Sequential:
    return torch.nn.Sequential(
        _layer(torch.nn.Linear(5, 6), rng, -0.25, 0.75),
        _leaky([0.875, 0.75, 0.9375, 0.5, 0.8125, 0.625], [1.0, 0.75, 1.25, 0.5, 1.0, 0.875]),
        _layer(torch.nn.Linear(6, 3, bias=False), rng, -0.25, 0.75),
        _leaky([0.8125, 0.6875, 0.9375], [0.75, 0.5, 1.0]))


def synaptic(rng: np.random.Generator) -> torch.nn.Sequential:
    return torch.nn.Sequential(
        _layer(torch.nn.Linear(5, 6, bias=False), rng, -0.125, 0.375),
        snntorch.Synaptic(alpha=torch.tensor([0.5, 0.75, 0.625, 0.875, 0.25, 0.5]),
                          beta=torch.tensor([0.875, 0.9375, 0.75, 0.5, 0.8125, 0.625]),
                          threshold=torch.tensor([1.0, 1.25, 0.75, 1.5, 0.5, 1.0]), init_hidden=True),
        _layer(torch.nn.Linear(6, 3, bias=False), rng, -0.25, 0.5),
        snntorch.Synaptic(alpha=torch.tensor([0.5, 0.625, 0.75]), beta=torch.tensor([0.875, 0.75, 0.9375]),
                          threshold=torch.tensor([0.75, 1.0, 1.25]), init_hidden=True))


def rleaky(rng: np.random.Generator) -> torch.nn.Sequential:
    recurrent = snntorch.RLeaky(beta=torch.tensor([0.875, 0.75, 0.9375, 0.5, 0.8125, 0.625]),
                                threshold=torch.tensor([1.0, 0.75, 1.25, 0.5, 1.0, 0.875]), linear_features=6,
                                all_to_all=True, init_hidden=True)
    _layer(recurrent.recurrent, rng, -0.5, 0.5)
    return torch.nn.Sequential(
        _layer(torch.nn.Linear(5, 6, bias=False), rng, -0.25, 0.75), recurrent,
        _layer(torch.nn.Linear(6, 3, bias=False), rng, -0.25, 0.75),
        _leaky([0.8125, 0.6875, 0.9375], [0.75, 0.5, 1.0]))


def conv(rng: np.random.Generator) -> torch.nn.Sequential:
    shape = (2, 4, 4)
    return torch.nn.Sequential(
        _layer(torch.nn.Conv2d(1, 2, 3, padding=1), rng, -0.25, 0.75),
        _leaky(np.round(rng.uniform(0.5, 0.95, shape) * 16).astype(np.float32) / 16,
               np.round(rng.uniform(0.5, 1.25, shape) * 8).astype(np.float32) / 8),
        torch.nn.Flatten(),
        _layer(torch.nn.Linear(32, 3, bias=False), rng, -0.125, 0.375),
        _leaky([0.8125, 0.6875, 0.9375], [0.75, 0.5, 1.0]))


def beta_above_one(rng: np.random.Generator) -> torch.nn.Sequential:
    return torch.nn.Sequential(
        _layer(torch.nn.Linear(5, 4), rng, -0.25, 0.5),
        _leaky([1.0625, 0.75, 0.875, 0.5], [1.0, 0.75, 1.25, 0.5]),
        _layer(torch.nn.Linear(4, 3, bias=False), rng, -0.25, 0.75),
        _leaky([0.8125, 0.6875, 0.9375], [0.75, 0.5, 1.0]))


def record(net: torch.nn.Sequential, graph: Any, spikes: np.ndarray, input_shape: tuple[int, ...]) -> dict[str, np.ndarray]:
    """Every neuron layer's spikes and membrane, keyed by the NIR node snnTorch wrote for it
    (the module's index; a recurrent layer's neuron is written as `<index>.lif`)."""
    neurons = {str(i): m for i, m in enumerate(net) if isinstance(m, snntorch.SpikingNeuron)}
    for module in neurons.values():
        module.reset_hidden()
    rows: dict[str, list[np.ndarray]] = {}
    with torch.no_grad():
        for t in range(spikes.shape[0]):
            x = torch.tensor(spikes[t].reshape((1,) + input_shape))
            for index, module in enumerate(net):
                x = module(x)
                if isinstance(x, tuple):
                    x = x[0]
                key = str(index)
                if key in neurons:
                    node = key if key in graph.nodes else f"{key}.lif"
                    rows.setdefault(f"spikes:{node}", []).append(x.numpy().reshape(-1).copy())
                    rows.setdefault(f"v:{node}", []).append(module.mem.numpy().reshape(-1).copy())
    return {"input": spikes, **{k: np.array(v) for k, v in rows.items()}}


def frameworks() -> None:
    fixtures = []
    models = [
        ("leaky", leaky, (5,), ["LIF without synaptic current", "Affine bias", "per-neuron parameters"], {}),
        ("synaptic", synaptic, (5,), ["synaptic current", "per-neuron parameters"], {}),
        ("rleaky", rleaky, (5,), ["recurrent", "nested graph", "Affine bias in the recurrent weights"], {}),
        ("conv", conv, (1, 4, 4), ["convolutional", "Flatten", "per-neuron parameters"], {}),
        ("beta_above_one", beta_above_one, (5,), ["decay above 1 (warned)"],
         {"warnings": [("node '1' (LIF): tau -0.0016 gives a membrane decay per step of 1.0625 (neuron 0), outside "
                        "0..1: snnTorch writes a trained decay above 1 as a negative time constant and runs it clamped to "
                        "0..1; read clamped")]}),
    ]
    for index, (name, build, shape, features, extra) in enumerate(models):
        torch.manual_seed(index)
        rng = np.random.default_rng(20 + index)
        net = build(rng)
        spikes = input_spikes(rng, int(np.prod(shape)))
        graph = export_to_nir(net, torch.zeros((1,) + shape), ignore_dims=[0])
        rec = record(net, graph, spikes, shape)
        fixtures.append(write_fixture("snntorch", name, graph, rec, {"convention": "snntorch", "dt": 0.01,
                                                                     "features": features, "reading": "exact", **extra}))
    write_manifest("snntorch", {"snntorch": snntorch.__version__, "torch": torch.__version__.split("+")[0],
                                "nir": nir.version, "nirtorch": importlib.metadata.version("nirtorch")}, fixtures)


if __name__ == "__main__":
    if "--frameworks-only" not in sys.argv:
        main()
    frameworks()
