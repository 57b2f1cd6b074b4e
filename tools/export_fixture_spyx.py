"""Regenerate the Spyx fixtures in tests/data/frameworks/ with Spyx's own NIR exporter
(`spyx.nir.to_nir`), each beside what Spyx itself computes on a 30-step input (see
tools/framework_fixtures.py for the layout).

Needs the optional framework (not a project dependency), in a separate environment (CPU jax):

    python -m venv exportenv
    exportenv/bin/pip install jax jaxlib spyx==1.0.0 nir==1.0.8
    exportenv/bin/python tools/export_fixture_spyx.py

Models (Spyx's default dt of 1 s, fixed seeds, weights on a 1/64 grid):
  lif      Linear(5 -> 6) -> LIF -> Linear(6 -> 3) -> LIF
  cubalif  Linear(5 -> 6, bias) -> CuBaLIF -> Linear(6 -> 3) -> LIF
  rlif     Linear(5 -> 6) -> RLIF (recurrent: a nested graph whose Input feeds the recurrent
           weights) -> Linear(6 -> 3) -> LIF
  if       Linear(5 -> 4) -> IF -> Linear(4 -> 3) -> IF
  psu      Linear(5 -> 6) -> PSU_LIF (reset-free, written as LI -> Threshold) -> Linear(6 -> 3) -> LIF
"""

from __future__ import annotations

import importlib.metadata
from typing import Any

import jax
import jax.numpy as jnp
import nir
import numpy as np
import spyx
import spyx.nn as snn
from flax import nnx
from framework_fixtures import grid, input_spikes, write_fixture, write_manifest
from spyx.nir import to_nir

DT = 1.0


def _linear(rng: np.random.Generator, n_in: int, n_out: int, low: float, high: float, bias: bool = False) -> nnx.Linear:
    layer = nnx.Linear(n_in, n_out, use_bias=bias, rngs=nnx.Rngs(0))
    layer.kernel.value = jnp.asarray(grid(rng.uniform(low, high, (n_in, n_out))))
    if bias:
        layer.bias.value = jnp.asarray(grid(rng.uniform(-0.1, 0.2, n_out)))
    return layer


def _decays(layer: Any, **values: list[float]) -> Any:
    for name, value in values.items():
        setattr(layer, name, nnx.Param(jnp.asarray(np.asarray(value, dtype=np.float32))))
    return layer


def lif(rng: np.random.Generator) -> snn.Sequential:
    return snn.Sequential(
        _linear(rng, 5, 6, -0.25, 1.0),
        _decays(snn.LIF((6,), threshold=1.0, rngs=nnx.Rngs(0)), beta=[0.875, 0.75, 0.9375, 0.5, 0.8125, 0.625]),
        _linear(rng, 6, 3, -0.25, 1.0),
        _decays(snn.LIF((3,), threshold=0.75, rngs=nnx.Rngs(0)), beta=[0.8125, 0.6875, 0.9375]))


def cubalif(rng: np.random.Generator) -> snn.Sequential:
    return snn.Sequential(
        _linear(rng, 5, 6, -0.125, 0.5, bias=True),
        _decays(snn.CuBaLIF((6,), threshold=1.0, rngs=nnx.Rngs(0)), alpha=[0.5, 0.75, 0.625, 0.875, 0.25, 0.5],
                beta=[0.875, 0.9375, 0.75, 0.5, 0.8125, 0.625]),
        _linear(rng, 6, 3, -0.25, 1.0),
        _decays(snn.LIF((3,), threshold=1.0, rngs=nnx.Rngs(0)), beta=[0.8125, 0.6875, 0.9375]))


def rlif(rng: np.random.Generator) -> snn.Sequential:
    recurrent = _decays(snn.RLIF((6,), threshold=1.0, rngs=nnx.Rngs(0)), beta=[0.875, 0.75, 0.9375, 0.5, 0.8125, 0.625])
    recurrent.recurrent_w = nnx.Param(jnp.asarray(grid(rng.uniform(-0.5, 0.5, (6, 6)))))
    return snn.Sequential(
        _linear(rng, 5, 6, -0.25, 1.0), recurrent,
        _linear(rng, 6, 3, -0.25, 1.0),
        _decays(snn.LIF((3,), threshold=0.75, rngs=nnx.Rngs(0)), beta=[0.8125, 0.6875, 0.9375]))


def integrate(rng: np.random.Generator) -> snn.Sequential:
    return snn.Sequential(
        _linear(rng, 5, 4, -0.25, 0.75), snn.IF((4,), threshold=1.0),
        _linear(rng, 4, 3, -0.25, 1.0), snn.IF((3,), threshold=1.5))


def psu(rng: np.random.Generator) -> snn.Sequential:
    return snn.Sequential(
        _linear(rng, 5, 6, -0.25, 0.75),
        _decays(snn.PSU_LIF((6,), threshold=1.0, rngs=nnx.Rngs(0)), beta=[0.875, 0.75, 0.9375, 0.5, 0.8125, 0.625]),
        _linear(rng, 6, 3, -0.25, 1.0),
        _decays(snn.LIF((3,), threshold=0.75, rngs=nnx.Rngs(0)), beta=[0.8125, 0.6875, 0.9375]))


def node_of(graph: Any, index: int) -> str:
    key = f"layer_{index}"
    return f"{key}.{key}.lif" if isinstance(graph.nodes[key], nir.NIRGraph) else key


def record(model: snn.Sequential, graph: Any, spikes: np.ndarray) -> dict[str, np.ndarray]:
    """Each neuron layer's spikes and membrane, stepping the layers as Sequential does."""
    state = model.initial_state(1)
    rows: dict[str, list[np.ndarray]] = {}
    for t in range(spikes.shape[0]):
        x = jnp.asarray(spikes[t: t + 1])
        new_state = []
        for index, (layer, s) in enumerate(zip(model.layers, state, strict=True)):
            if s is None:
                x = layer(x)
                new_state.append(None)
                continue
            x, s = layer(x, s)
            new_state.append(s)
            v = np.asarray(s)[0]
            if isinstance(layer, (snn.CuBaLIF, snn.RCuBaLIF)):
                v = v[: v.shape[0] // 2]
            spiking = f"layer_{index}_threshold" if isinstance(layer, snn.PSU_LIF) else node_of(graph, index)
            rows.setdefault(f"spikes:{spiking}", []).append(np.asarray(x)[0])
            rows.setdefault(f"v:{node_of(graph, index)}", []).append(v)
        state = new_state
    return {"input": spikes, **{k: np.array(v) for k, v in rows.items()}}


def main() -> None:
    jax.config.update("jax_platform_name", "cpu")
    fixtures = []
    models = [
        ("lif", lif, ["LIF without synaptic current", "one step of spike latency per layer", "per-neuron decays"],
         {"reading": "exact"}),
        ("cubalif", cubalif, ["synaptic current", "Affine bias", "one step of spike latency per layer"],
         {"reading": "exact"}),
        ("rlif", rlif, ["recurrent", "nested graph", "one step of spike latency per layer"], {"reading": "exact"}),
        ("if", integrate, ["IF", "one step of spike latency per layer"], {"reading": "exact"}),
        ("psu", psu, ["reset-free LIF (LI -> Threshold)", "one step of spike latency in the LIF"], {"reading": "exact"}),
    ]
    for index, (name, build, features, claim) in enumerate(models):
        rng = np.random.default_rng(40 + index)
        model = build(rng)
        spikes = input_spikes(rng, 5)
        graph = to_nir(model, {"input": np.array([5])}, {"output": np.array([3])}, dt=DT)
        rec = record(model, graph, spikes)
        fixtures.append(write_fixture("spyx", name, graph, rec, {"convention": "spyx", "dt": DT, "features": features,
                                                                 **claim}))
    write_manifest("spyx", {"spyx": getattr(spyx, "__version__", importlib.metadata.version("spyx")), "jax": jax.__version__,
                            "nir": nir.version, "flax": importlib.metadata.version("flax")}, fixtures)


if __name__ == "__main__":
    main()
