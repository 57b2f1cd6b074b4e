"""Regenerate the Speck example's model: specs/examples/models/compressor-speck.nir.

    python tools/make_speck_example.py   # writes the model and models/compressor-speck.train.log

The compressor example's node (same sensor, chain and recorded traces) on SynSense Speck's
DynapCNN cores, whose neurons are integrate-and-fire. A 16 -> 8 -> 4 ReLU network is
trained on the mean input spike rates of the compressor's training recordings (the same
recordings, seeds and trainer as tools/make_examples.py), then converted to IF neurons by
layer-wise rate normalisation (Diehl et al. 2015), the classic conversion for integrate-and-
fire hardware. Each weight is rounded to a multiple of 1/32 of its layer's largest weight, so
the sinabs discretization nmspec applies gives integers that can be checked by hand
(tests/test_speck_example.py works a few steps out). Written as sinabs exports IAF layers:
nir.IF with r = 1, threshold 1, reset by subtraction (the spec says `convention: sinabs`).
Deterministic: fixed seeds, no clock.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tools"))

from make_examples import (
    TRAINING_SEED,
    compressor_recording,
    normalise,
    train_mlp,
    weights_digest,
    windows,
)

from engine.catalog import builtin_catalog
from engine.dsp.from_spec import chain_for_spec
from engine.resolve.floatnet import classify, simulate
from engine.resolve.nir_import import import_graph
from engine.spec import site_model
from engine.spec.document import load_spec

SPEC = "specs/examples/compressor-speck.yaml"
CLASSES = ("normal", "bearing_outer", "imbalance", "looseness")
HIDDEN = (8,)
PER_CLASS = 60
GRID = 32  # weights on a grid of 1/GRID of each layer's largest magnitude


def to_grid(w: np.ndarray) -> np.ndarray:
    step = float(np.max(np.abs(w))) / GRID
    return np.round(w / step) * step


def to_nir(weights: list[np.ndarray], n_in: int):
    import nir

    nodes = {"input": nir.Input(input_type={"input": np.array([n_in])})}
    edges = []
    previous = "input"
    for i, w in enumerate(weights, start=1):
        size = w.shape[1]
        nodes[f"fc{i}"] = nir.Linear(weight=w.T.astype(np.float32))
        nodes[f"if{i}"] = nir.IF(r=np.ones(size, dtype=np.float32), v_threshold=np.ones(size, dtype=np.float32),
                                 v_reset=np.zeros(size, dtype=np.float32))
        edges += [(previous, f"fc{i}"), (f"fc{i}", f"if{i}")]
        previous = f"if{i}"
    nodes["output"] = nir.Output(output_type={"output": np.array([weights[-1].shape[1]])})
    edges.append((previous, "output"))
    return nir.NIRGraph(nodes=nodes, edges=edges, metadata={"exporter": "sinabs", "generated_by": "tools/make_speck_example.py"})


def make() -> list[str]:
    import nir

    doc, _ = load_spec(ROOT / SPEC)
    spec = site_model(doc)
    chain = chain_for_spec(spec, builtin_catalog().get("sensors", spec.sensor.part))
    train_x, train_y = windows(compressor_recording, CLASSES, PER_CLASS, 1.0, chain.sample_rate, seed0=TRAINING_SEED)
    rates = chain.run(train_x).mean(axis=1)
    weights, history = train_mlp(rates, train_y, HIDDEN, len(CLASSES), seed=1)
    snn = [to_grid(w) for w in normalise(weights, rates)]
    graph = to_nir(snn, chain.n_channels)
    model_path = ROOT / "specs/examples/models/compressor-speck.nir"
    nir.write(str(model_path), graph)
    net = import_graph(nir.read(str(model_path)), dt=chain.dt, convention="sinabs")
    predicted = classify(simulate(net, chain.run(train_x))[net.output].sum(axis=1))
    log = ["compressor-speck: trained by tools/make_speck_example.py (numpy, deterministic)",
           f"spec: {SPEC}; chain: {chain.n_channels} input channels, dt {chain.dt:g} s, window 1 s",
           (f"training data: {len(train_y)} windows, {PER_CLASS} per class ({', '.join(CLASSES)}), "
            f"seeds {TRAINING_SEED} + 1000 * class + i (the compressor example's)"),
           (f"network: {chain.n_channels} -> {' -> '.join(str(h) for h in HIDDEN)} -> {len(CLASSES)}, ReLU on mean "
            "rates, no biases; full-batch Adam, lr 0.01, L2 1e-4, 1500 epochs, init seed 1"),
           "", "epoch  cross-entropy  train accuracy"]
    log += [f"{epoch:5d}  {loss:13.4f}  {accuracy:14.3f}" for epoch, loss, accuracy in history]
    log += ["", (f"converted to IF (threshold 1, reset by subtraction), layer-wise rate normalisation, weights on a "
                 f"grid of 1/{GRID} of each layer's largest"),
            f"weights sha256 (float32 little-endian, Linear nodes by name): {weights_digest(graph)}",
            f"float SNN accuracy on the training windows: {float(np.mean(predicted == train_y)):.3f}"]
    (model_path.parent / "compressor-speck.train.log").write_text("\n".join(log) + "\n")
    return log


if __name__ == "__main__":
    print("\n".join(make()))
