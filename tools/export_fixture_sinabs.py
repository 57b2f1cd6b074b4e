"""Regenerate the Sinabs fixtures in tests/data/frameworks/ with Sinabs' own NIR exporter
(`sinabs.nir.to_nir`), each beside what Sinabs itself computes on a 30-step input (see
tools/framework_fixtures.py for the layout).

Needs the optional framework (not a project dependency), in a separate environment
(sinabs 3.1.3 pins its own nir and nirtorch):

    python -m venv exportenv
    exportenv/bin/pip install torch==2.13.0 sinabs==3.1.3
    exportenv/bin/python tools/export_fixture_sinabs.py

Models (time constants in steps, fixed seeds, weights on a 1/64 grid, large enough that
neurons emit several spikes in a step, as Sinabs' MultiSpike does):
  iaf      Linear(5 -> 6) -> IAF -> Linear(6 -> 3) -> IAF
  lif      Linear(5 -> 6) -> LIF (per-neuron tau_mem and threshold) -> Linear(6 -> 3) -> ExpLeak
  conv     Conv2d(1 -> 2, 3x3, padding 1) on 4x4 -> IAFSqueeze -> SumPool2d(2) -> Flatten -> Linear(8 -> 3) -> IAFSqueeze
  lif_syn  Linear(5 -> 4) -> LIF with tau_syn -> Linear(4 -> 3) -> IAF: the exporter writes a LIF
           without the synaptic time constant, so the file cannot reproduce it
"""

from __future__ import annotations

import importlib.metadata
from typing import Any

import nir
import numpy as np
import sinabs
import sinabs.layers as sl
import torch
from framework_fixtures import grid, input_spikes, write_fixture, write_manifest
from sinabs.nir import to_nir


def _layer(layer: torch.nn.Module, rng: np.random.Generator, low: float, high: float) -> torch.nn.Module:
    with torch.no_grad():
        layer.weight.copy_(torch.tensor(grid(rng.uniform(low, high, tuple(layer.weight.shape)))))
        if layer.bias is not None:
            layer.bias.copy_(torch.tensor(grid(rng.uniform(-0.1, 0.1, tuple(layer.bias.shape)))))
    return layer


def _t(values: Any) -> torch.Tensor:
    return torch.tensor(np.asarray(values, dtype=np.float32))


def iaf(rng: np.random.Generator) -> torch.nn.Sequential:
    return torch.nn.Sequential(
        _layer(torch.nn.Linear(5, 6, bias=False), rng, -0.5, 1.5), sl.IAF(spike_threshold=_t([1.0, 0.75, 1.25, 0.5, 1.0, 0.875]),
                                                                       record_states=True),
        _layer(torch.nn.Linear(6, 3, bias=False), rng, -0.5, 1.0), sl.IAF(spike_threshold=_t([1.0, 1.5, 0.75]),
                                                                       record_states=True))


def lif(rng: np.random.Generator) -> torch.nn.Sequential:
    return torch.nn.Sequential(
        _layer(torch.nn.Linear(5, 6), rng, -0.5, 3.0),
        sl.LIF(tau_mem=_t([4.0, 8.0, 2.0, 16.0, 6.0, 10.0]), spike_threshold=_t([1.0, 0.75, 1.25, 0.5, 1.0, 0.875]),
               record_states=True),
        _layer(torch.nn.Linear(6, 3, bias=False), rng, -0.5, 1.0),
        sl.ExpLeak(tau_mem=_t([4.0, 8.0, 2.0]), record_states=True))


def conv(rng: np.random.Generator) -> torch.nn.Sequential:
    """As Sinabs builds convolutional networks: time folded into the batch, IAFSqueeze."""
    return torch.nn.Sequential(
        _layer(torch.nn.Conv2d(1, 2, 3, padding=1, bias=False), rng, -0.25, 0.5),
        sl.IAFSqueeze(batch_size=1, record_states=True), sl.SumPool2d(2), torch.nn.Flatten(),
        _layer(torch.nn.Linear(8, 3, bias=False), rng, -0.125, 0.1875), sl.IAFSqueeze(batch_size=1, record_states=True))


def lif_syn(rng: np.random.Generator) -> torch.nn.Sequential:
    return torch.nn.Sequential(
        _layer(torch.nn.Linear(5, 4, bias=False), rng, -0.5, 3.0),
        sl.LIF(tau_mem=_t([4.0, 8.0, 2.0, 6.0]), tau_syn=_t([2.0, 3.0, 2.0, 4.0]), spike_threshold=_t([1.0, 0.75, 0.5, 1.0]),
               record_states=True),
        _layer(torch.nn.Linear(4, 3, bias=False), rng, -0.5, 1.0), sl.IAF(record_states=True))


def _writable(net: torch.nn.Sequential, graph: Any, shape: tuple[int, ...]) -> None:
    """Sinabs 3.1.3 leaves a Conv2d's input_shape and a Flatten's input type None, which
    nir's writer cannot store: the shapes those modules receive (from a run of the model)
    are filled in, and nothing else of the exporter's graph is touched."""
    received: dict[str, tuple[int, ...]] = {}

    def hook(key: str) -> Any:
        def keep(module: Any, args: Any, out: Any) -> None:
            received.setdefault(key, tuple(args[0].shape[1:]))
        return keep

    hooks = [m.register_forward_hook(hook(str(i))) for i, m in enumerate(net) if isinstance(m, (torch.nn.Conv2d, torch.nn.Flatten))]
    with torch.no_grad():
        net(torch.zeros((1,) + shape))
    for hook in hooks:
        hook.remove()
    for name, node in graph.nodes.items():
        if isinstance(node, nir.Conv2d) and node.input_shape is None:
            node.input_shape = np.array(received[name][1:])
        if isinstance(node, nir.Flatten) and node.input_type.get("input") is None:
            node.input_type = {"input": np.array(received[name])}


def record(net: torch.nn.Sequential, spikes: np.ndarray, input_shape: tuple[int, ...]) -> dict[str, np.ndarray]:
    """Every neuron layer's output and membrane (after the reset), keyed by its NIR node (the
    module's index)."""
    for module in net:
        if isinstance(module, sinabs.layers.StatefulLayer):
            module.reset_states()
    squeezed = any(isinstance(m, sl.SqueezeMixin) for m in net)
    x = torch.tensor(spikes.reshape(((spikes.shape[0],) if squeezed else (1, spikes.shape[0])) + input_shape))
    out: dict[str, np.ndarray] = {"input": spikes}
    with torch.no_grad():
        for index, module in enumerate(net):
            x = module(x)
            if isinstance(module, sinabs.layers.StatefulLayer):
                steps = spikes.shape[0]
                v = module.recordings["v_mem"].reshape(steps, -1).numpy()
                if isinstance(module, sl.ExpLeak):
                    out[f"v:{index}"] = v
                else:
                    out[f"spikes:{index}"] = x.reshape(steps, -1).numpy()
                    out[f"v:{index}"] = v
    return out


def main() -> None:
    fixtures = []
    models = [
        ("iaf", iaf, (5,), ["IF", "multi-spike", "per-neuron thresholds"], {"reading": "exact"}),
        ("lif", lif, (5,), ["LIF without synaptic current", "multi-spike", "LI readout (ExpLeak)", "Affine bias"],
         {"reading": "exact"}),
        ("conv", conv, (1, 4, 4), ["convolutional", "SumPool2d", "Flatten", "multi-spike"], {"reading": "exact"}),
        ("lif_syn", lif_syn, (5,), ["synaptic current", "multi-spike"],
         {"reading": "lossy_export", "lost": "the synaptic time constant: Sinabs 3.1.3 writes a LIF with tau_syn as a "
                                             "nir.LIF without it"}),
    ]
    for index, (name, build, shape, features, claim) in enumerate(models):
        torch.manual_seed(index)
        rng = np.random.default_rng(30 + index)
        net = build(rng)
        spikes = input_spikes(rng, int(np.prod(shape)))
        rec = record(net, spikes, shape)
        squeezed = any(isinstance(m, sl.SqueezeMixin) for m in net)
        # what Sinabs layers take: (batch, time, ...), or (batch x time, ...) for the Squeeze ones
        graph = to_nir(net, torch.zeros(((1,) if squeezed else (1, 1)) + shape))
        if squeezed:
            _writable(net, graph, shape)
        fixtures.append(write_fixture("sinabs", name, graph, rec, {"convention": "sinabs", "dt": 1e-3, "features": features,
                                                                   **claim}))
    write_manifest("sinabs", {"sinabs": sinabs.__version__, "torch": torch.__version__.split("+")[0], "nir": nir.version,
                              "nirtorch": importlib.metadata.version("nirtorch")}, fixtures)


if __name__ == "__main__":
    main()
