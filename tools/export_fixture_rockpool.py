"""Regenerate the Rockpool fixtures in tests/data/frameworks/ with Rockpool's own NIR
exporter (`rockpool.nn.modules.torch.nir.to_nir`), each beside what Rockpool itself computes
on a 30-step input (see tools/framework_fixtures.py for the layout).

Needs the optional framework (not a project dependency), in a separate environment:

    python -m venv exportenv
    exportenv/bin/pip install torch==2.13.0 rockpool==3.1.0 nirtorch==2.6 nir==1.0.8
    exportenv/bin/python tools/export_fixture_rockpool.py

Models (dt = 1 ms, fixed seeds, weights on a 1/64 grid; large enough weights that neurons
emit several spikes in a step, as Rockpool's floor(v / threshold) rule does):
  cubalif_li  Affine(5 -> 6, bias) -> LIFTorch (CubaLIF) -> Linear(6 -> 3) -> ExpSynTorch (LI)
  lif_cubalif Linear(5 -> 6) -> LIFNeuronTorch (LIF) -> Linear(6 -> 4) -> LIFTorch (CubaLIF)
  recurrent   Linear(5 -> 6) -> LIFTorch with w_rec -> Linear(6 -> 3) -> LIFTorch: Rockpool
              3.1.0's exporter writes no recurrent weights, so the file cannot reproduce it
  bias        Linear(5 -> 6) -> LIFTorch with a bias -> Linear(6 -> 3) -> LIFTorch: the exporter
              writes v_leak = 0 whatever the bias, so the file cannot reproduce it either
"""

from __future__ import annotations

import importlib.metadata
from typing import Any

import nir
import numpy as np
import rockpool
import torch
from framework_fixtures import grid, input_spikes, write_fixture, write_manifest
from rockpool.nn.combinators import Sequential
from rockpool.nn.modules import ExpSynTorch, LIFNeuronTorch, LIFTorch, LinearTorch
from rockpool.nn.modules.torch.nir import to_nir

DT = 1e-3
N_IN = 5


def _t(values: Any) -> torch.Tensor:
    return torch.tensor(np.asarray(values, dtype=np.float32))


def _linear(rng: np.random.Generator, n_in: int, n_out: int, low: float, high: float, bias: bool = False) -> LinearTorch:
    layer = LinearTorch((n_in, n_out), has_bias=bias)
    with torch.no_grad():
        layer.weight.copy_(_t(grid(rng.uniform(low, high, (n_in, n_out)))))
        if bias:
            layer.bias.copy_(_t(grid(rng.uniform(-0.05, 0.1, n_out))))
    return layer


def cubalif_li(rng: np.random.Generator) -> Sequential:
    return Sequential(
        _linear(rng, N_IN, 6, -0.0625, 0.1875, bias=True),
        LIFTorch(6, tau_mem=_t([0.02, 0.01, 0.005, 0.03, 0.008, 0.015]), tau_syn=_t([0.005, 0.002, 0.01, 0.004, 0.003, 0.008]),
                 threshold=_t([1.0, 0.5, 0.75, 1.25, 0.625, 1.5]), dt=DT),
        _linear(rng, 6, 3, -0.5, 1.0),
        ExpSynTorch(3, tau=_t([0.01, 0.004, 0.02]), dt=DT),
    )


def lif_cubalif(rng: np.random.Generator) -> Sequential:
    return Sequential(
        _linear(rng, N_IN, 6, -0.0625, 0.25),
        LIFNeuronTorch(6, tau_mem=_t([0.01, 0.02, 0.005, 0.04, 0.008, 0.012]), threshold=_t([0.5, 0.75, 0.375, 1.0, 0.5, 0.625]),
                       dt=DT),
        _linear(rng, 6, 4, -0.125, 0.25),
        LIFTorch(4, tau_mem=_t([0.02, 0.01, 0.04, 0.006]), tau_syn=_t([0.004, 0.008, 0.002, 0.005]),
                 threshold=_t([0.75, 1.0, 0.5, 0.875]), dt=DT),
    )


def recurrent(rng: np.random.Generator) -> Sequential:
    return Sequential(
        _linear(rng, N_IN, 6, -0.0625, 0.1875),
        LIFTorch(6, tau_mem=_t([0.02, 0.01, 0.015, 0.03, 0.008, 0.012]), tau_syn=_t([0.005, 0.004, 0.006, 0.003, 0.008, 0.005]),
                 threshold=1.0, has_rec=True, w_rec=_t(grid(rng.uniform(-0.1, 0.1, (6, 6)))), dt=DT),
        _linear(rng, 6, 3, -0.125, 0.25),
        LIFTorch(3, tau_mem=0.02, tau_syn=0.005, threshold=0.75, dt=DT),
    )


def bias(rng: np.random.Generator) -> Sequential:
    return Sequential(
        _linear(rng, N_IN, 6, -0.0625, 0.1875),
        LIFTorch(6, tau_mem=0.02, tau_syn=0.005, threshold=1.0, bias=_t(grid(rng.uniform(0.0, 0.1, 6))), dt=DT),
        _linear(rng, 6, 3, -0.125, 0.25),
        LIFTorch(3, tau_mem=0.02, tau_syn=0.005, threshold=0.75, dt=DT),
    )


def _numpy_node(node: Any) -> Any:
    """Rockpool hands NIR torch tensors for some parameters (ExpSynTorch's tau and r);
    the same numbers as numpy arrays, so that nir.write can store them."""
    for key, value in list(vars(node).items()):
        if isinstance(value, torch.Tensor):
            setattr(node, key, value.detach().numpy().copy())
    return node


def record(net: Sequential, spikes: np.ndarray) -> dict[str, np.ndarray]:
    with torch.no_grad():
        _out, _state, states = net(torch.tensor(spikes[None]), record=True)
    out: dict[str, np.ndarray] = {"input": spikes}
    for name, module in net.modules().items():
        if isinstance(module, (LIFTorch, LIFNeuronTorch)):
            out[f"spikes:{name}"] = states[name]["spikes"][0].numpy()
            out[f"v:{name}"] = states[name]["vmem"][0].numpy()
        elif isinstance(module, ExpSynTorch):
            out[f"v:{name}"] = states[f"{name}_output"][0].numpy()
    return out


def main() -> None:
    torch.manual_seed(0)
    fixtures = []
    models = [
        ("cubalif_li", cubalif_li, ["synaptic current", "multi-spike", "LI readout", "Affine bias", "per-neuron parameters"],
         {"reading": "exact"}),
        ("lif_cubalif", lif_cubalif, ["LIF without synaptic current", "multi-spike", "per-neuron parameters"], {"reading": "exact"}),
        ("recurrent", recurrent, ["recurrent", "synaptic current"],
         {"reading": "lossy_export", "lost": "the recurrent weights (w_rec): Rockpool 3.1.0's exporter writes a "
                                             "recurrent LIFTorch as a plain CubaLIF"}),
        ("bias", bias, ["neuron bias", "synaptic current"],
         {"reading": "lossy_export", "lost": "the neurons' bias: Rockpool 3.1.0's exporter writes v_leak = 0"}),
    ]
    for index, (name, build, features, claim) in enumerate(models):
        rng = np.random.default_rng(10 + index)
        net = build(rng)
        spikes = input_spikes(rng, N_IN)
        rec = record(net, spikes)
        graph = to_nir(net, torch.zeros(1, N_IN))
        for node in graph.nodes.values():
            _numpy_node(node)
        fixtures.append(write_fixture("rockpool", name, graph, rec,
                                      {"convention": "rockpool", "dt": DT, "features": features, **claim}))
    write_manifest("rockpool", {"rockpool": rockpool.__version__, "torch": torch.__version__.split("+")[0], "nir": nir.version,
                                "nirtorch": importlib.metadata.version("nirtorch")}, fixtures)


if __name__ == "__main__":
    main()
