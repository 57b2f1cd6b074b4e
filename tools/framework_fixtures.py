"""What every tools/export_fixture_<framework>.py shares: where fixtures go, the input they
all run on, and the manifest each framework's script writes.

A fixture is three things in tests/data/frameworks/:
  <framework>_<model>.nir   written by the framework's own NIR exporter
  <framework>_<model>.npz   what the framework itself computed on the fixture's input:
                            `input` (steps x inputs) and, per NIR neuron node N (nested
                            nodes as `outer.inner`), `spikes:N` (steps x neurons, counts)
                            and `v:N` (the membrane after reset, or an LI's state)
  <framework>.json          the manifest: framework, versions, and per fixture its model
                            name, files, the `model.convention` and `model.dt` to read it
                            with, its node types and features, and the claimed reading
                            (`exact`, `lossy_export` with what the exporter drops, or
                            `refused` with the NM code); tests/test_framework_fixtures.py
                            checks every claim, and docs/models.md's table is built from it.

This module runs inside the framework's own environment (numpy and nir only), not nmspec's.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import nir
import numpy as np

OUT = Path(__file__).resolve().parents[1] / "tests" / "data" / "frameworks"
STEPS = 30


def grid(values: np.ndarray, step: float = 1 / 64) -> np.ndarray:
    """Weights on a binary grid, so the float32 file and a float64 reading hold the same numbers."""
    return (np.round(np.asarray(values) / step) * step).astype(np.float32)


def input_spikes(rng: np.random.Generator, n_inputs: int, rate: float = 0.4, steps: int = STEPS) -> np.ndarray:
    return (rng.uniform(size=(steps, n_inputs)) < rate).astype(np.float32)


def node_types(graph: Any) -> list[str]:
    found: set[str] = set()
    for node in graph.nodes.values():
        if isinstance(node, nir.NIRGraph):
            found.update(node_types(node))
            found.add("NIRGraph")
        else:
            found.add(type(node).__name__)
    return sorted(found - {"Input", "Output"})


def write_fixture(framework: str, model: str, graph: Any, record: dict[str, np.ndarray], entry: dict[str, Any]) -> dict[str, Any]:
    """Write the .nir and the .npz; return the manifest entry (with files and node types)."""
    OUT.mkdir(parents=True, exist_ok=True)
    stem = f"{framework}_{model}"
    nir.write(str(OUT / f"{stem}.nir"), graph)
    arrays = {k: np.asarray(v, dtype=np.float64) for k, v in sorted(record.items())}
    np.savez_compressed(OUT / f"{stem}.npz", **arrays)
    spikes = {k: int(v.sum()) for k, v in arrays.items() if k.startswith("spikes:")}
    most = {k: int(v.max()) for k, v in arrays.items() if k.startswith("spikes:")}
    print(f"{stem}: nodes {sorted(graph.nodes)}; spikes {spikes}; most per step {most}")
    return {"model": model, "nir": f"{stem}.nir", "record": f"{stem}.npz", "node_types": node_types(graph), **entry}


def write_manifest(framework: str, versions: dict[str, str], fixtures: list[dict[str, Any]]) -> None:
    manifest = {"framework": framework, "versions": dict(sorted(versions.items())),
                "fixtures": sorted(fixtures, key=lambda f: f["model"])}
    (OUT / f"{framework}.json").write_text(json.dumps(manifest, indent=1, sort_keys=True) + "\n")
