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
"""

from __future__ import annotations

import json
from pathlib import Path

import nir
import numpy as np
import snntorch
import torch
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


if __name__ == "__main__":
    main()
