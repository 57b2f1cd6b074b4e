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
"""

from __future__ import annotations

import json
from pathlib import Path

import nir
import norse
import numpy as np
import torch
from norse.torch import LIFBoxCell, LIFBoxParameters, LIFCell, LIFParameters, SequentialState
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


if __name__ == "__main__":
    main()
