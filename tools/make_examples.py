"""Regenerate the bundled examples' recorded traces and trained models.

    python tools/make_examples.py            # writes specs/examples/traces/*.npz and models/*.nir

Each example: synthetic recordings from engine.dsp.vibration (several installations,
temperatures, speeds and severities per class), the spec's own fixed-point chain turns
them into input spike counts, a small ReLU network is trained on the mean spike rates
(numpy, full-batch Adam, no biases) and converted to a spiking network by layer-wise
rate normalisation (Diehl et al. 2015, 'Fast-classifying, high-accuracy spiking deep
networks through weight and threshold balancing', IJCNN), then written as snnTorch 1.0
exports it (CubaLIF, dt 1e-4 in the file; the spec says `convention: snntorch`).
Deterministic: fixed seeds, no clock.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from engine.dsp import vibration as vib  # noqa: E402
from engine.dsp.from_spec import chain_for_spec  # noqa: E402
from engine.resolve.floatnet import classify, simulate  # noqa: E402
from engine.resolve.nir_import import SNNTORCH_EXPORT_DT, import_graph  # noqa: E402
from engine.spec.document import load_spec  # noqa: E402

ALPHA = 0.5  # synaptic decay per step: tau_syn = 2 dt
BETA = 1.0 - 1.0 / 128  # membrane decay per step: tau_mem = 128 dt (close to integrate-and-fire)
TARGET_RATE = 0.6  # highest hidden spike rate per step after normalisation


def compressor_recording(fault: str, seconds: float, seed: int, odr: float) -> np.ndarray:
    rng = np.random.default_rng(seed)
    machine = vib.Machine(shaft_hz=24.6 * rng.uniform(0.97, 1.03), mains_hz=50.0,
                          resonance_hz=rng.uniform(250, 340), mounting_hz=rng.uniform(150, 300))
    sensor = vib.Sensor(odr=odr, lsb_g=0.000488)  # 14-bit at +-4 g
    return vib.record(machine, sensor, fault, seconds=seconds, severity=rng.uniform(0.6, 1.4),
                      temperature_c=rng.uniform(-20, 85), seed=seed)


def pump_recording(fault: str, seconds: float, seed: int, odr: float) -> np.ndarray:
    rng = np.random.default_rng(seed)
    machine = vib.Machine(shaft_hz=49.2 * rng.uniform(0.98, 1.02), mains_hz=60.0,
                          bearing=vib.Bearing(balls=8, ball_diameter=11.1e-3, pitch_diameter=46.4e-3),
                          resonance_hz=rng.uniform(1000, 1400), mounting_hz=rng.uniform(400, 900), noise_g=0.01)
    sensor = vib.Sensor(odr=odr, lsb_g=0.000244, oversample=4)  # 16-bit at +-8 g
    return vib.record(machine, sensor, fault, seconds=seconds, severity=rng.uniform(0.6, 1.4),
                      temperature_c=rng.uniform(-10, 60), seed=seed)


def acoustic_recording(fault: str, seconds: float, seed: int, odr: float) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return vib.sound(fault, seconds=seconds, fs=odr, seed=seed, severity=rng.uniform(0.6, 1.4))


EXAMPLES = {
    # name: (spec, recorder, window seconds, classes, hidden sizes, train windows per class, trace windows per class)
    "compressor": ("specs/examples/compressor.yaml", compressor_recording, 1.0,
                   ("normal", "bearing_outer", "imbalance", "looseness"), (32,), 60, (24, 8)),
    "pump": ("specs/examples/pump-loihi.yaml", pump_recording, 0.5,
             ("normal", "cavitation", "misalignment", "bearing_outer"), (256, 128), 40, (4, 3)),
    "acoustic": ("specs/examples/acoustic-xylo.yaml", acoustic_recording, 1.0,
                 ("normal", "leak", "valve_chatter"), (64,), 50, (8, 6)),
}


def windows(recorder, classes, per_class, seconds, odr, seed0) -> tuple[np.ndarray, np.ndarray]:
    samples, labels = [], []
    for label, fault in enumerate(classes):
        for i in range(per_class):
            samples.append(recorder(fault, seconds, seed0 + 1000 * label + i, odr))
            labels.append(label)
    return np.stack(samples), np.array(labels)


def train_mlp(x: np.ndarray, y: np.ndarray, hidden: tuple[int, ...], n_out: int, seed: int,
              epochs: int = 1500, lr: float = 0.01) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    sizes = (x.shape[1],) + hidden + (n_out,)
    weights = [rng.normal(0, np.sqrt(2.0 / a), (a, b)) for a, b in zip(sizes[:-1], sizes[1:])]
    m = [np.zeros_like(w) for w in weights]
    v = [np.zeros_like(w) for w in weights]
    onehot = np.eye(n_out)[y]
    scale = x.max() or 1.0
    xs = x / scale
    for epoch in range(1, epochs + 1):
        acts = [xs]
        for w in weights[:-1]:
            acts.append(np.maximum(acts[-1] @ w, 0))
        logits = acts[-1] @ weights[-1]
        p = np.exp(logits - logits.max(axis=1, keepdims=True))
        p /= p.sum(axis=1, keepdims=True)
        grad = (p - onehot) / len(x)
        grads = []
        for layer in range(len(weights) - 1, -1, -1):
            grads.append(acts[layer].T @ grad + 1e-4 * weights[layer])
            if layer:
                grad = (grad @ weights[layer].T) * (acts[layer] > 0)
        grads.reverse()
        for i, g in enumerate(grads):
            m[i] = 0.9 * m[i] + 0.1 * g
            v[i] = 0.999 * v[i] + 0.001 * g * g
            weights[i] -= lr * (m[i] / (1 - 0.9 ** epoch)) / (np.sqrt(v[i] / (1 - 0.999 ** epoch)) + 1e-8)
    weights[0] = weights[0] / scale
    return weights


def normalise(weights: list[np.ndarray], x: np.ndarray) -> list[np.ndarray]:
    """Layer-wise: a layer's 99.9th-percentile activation maps to TARGET_RATE spikes per step."""
    out, previous, act = [], 1.0, x
    for w in weights:
        act = np.maximum(act @ w, 0)
        peak = float(np.percentile(act[act > 0], 99.9)) if np.any(act > 0) else 1.0
        out.append(w * previous / peak * TARGET_RATE)
        previous = peak / TARGET_RATE
    return out


def to_nir(weights: list[np.ndarray], n_in: int):
    import nir

    nodes = {"input": nir.Input(input_type={"input": np.array([n_in])})}
    edges = []
    previous = "input"
    for i, w in enumerate(weights, start=1):
        size = w.shape[1]
        # a spike charges the synapse by w and the synapse pays out w / (1 - alpha) in total
        nodes[f"fc{i}"] = nir.Linear(weight=(w * (1 - ALPHA)).T.astype(np.float32))
        nodes[f"lif{i}"] = nir.CubaLIF(
            tau_syn=np.full(size, SNNTORCH_EXPORT_DT / (1 - ALPHA), dtype=np.float32),
            tau_mem=np.full(size, SNNTORCH_EXPORT_DT / (1 - BETA), dtype=np.float32),
            r=np.full(size, 1 / (1 - BETA), dtype=np.float32),
            v_leak=np.zeros(size, dtype=np.float32),
            v_threshold=np.ones(size, dtype=np.float32),
            v_reset=np.zeros(size, dtype=np.float32),
            w_in=np.full(size, 1 / (1 - ALPHA), dtype=np.float32),
        )
        edges += [(previous, f"fc{i}"), (f"fc{i}", f"lif{i}")]
        previous = f"lif{i}"
    nodes["output"] = nir.Output(output_type={"output": np.array([weights[-1].shape[1]])})
    edges.append((previous, "output"))
    return nir.NIRGraph(nodes=nodes, edges=edges, metadata={"exporter": "snntorch", "generated_by": "tools/make_examples.py"})


def make(name: str) -> None:
    import nir

    spec_path, recorder, seconds, classes, hidden, per_class, (trace_nominal, trace_fault) = EXAMPLES[name]
    doc, _ = load_spec(ROOT / spec_path)
    chain = chain_for_spec(doc.data)
    odr = chain.sample_rate
    dt = chain.dt
    train_x, train_y = windows(recorder, classes, per_class, seconds, odr, seed0=10_000)
    spikes = chain.run(train_x)
    rates = spikes.mean(axis=1)
    weights = train_mlp(rates, train_y, hidden, len(classes), seed=1)
    ann = rates
    for w in weights[:-1]:
        ann = np.maximum(ann @ w, 0)
    ann_accuracy = float(np.mean(np.argmax(ann @ weights[-1], axis=1) == train_y))
    snn = normalise(weights, rates)
    graph = to_nir(snn, chain.n_channels)
    model_path = ROOT / "specs/examples/models" / f"{name}.nir"
    model_path.parent.mkdir(parents=True, exist_ok=True)
    nir.write(str(model_path), graph)

    # recorded traces for verification: different seeds from training
    trace_dir = ROOT / "specs/examples/traces"
    trace_dir.mkdir(parents=True, exist_ok=True)
    net = import_graph(nir.read(str(model_path)), dt=dt, convention="snntorch")
    report = [f"{name}: ANN train accuracy {ann_accuracy:.3f}"]
    for part, faults, count in (("nominal", classes[:1], trace_nominal), ("fault", classes[1:], trace_fault)):
        x, y = windows(recorder, faults, count, seconds, odr, seed0=50_000 if part == "nominal" else 60_000)
        if part == "fault":
            y = y + 1
        counts = simulate(net, chain.run(x))[net.output].sum(axis=1)
        accuracy = float(np.mean(classify(counts) == y))
        report.append(f"  {part}: {len(y)} windows, float SNN accuracy {accuracy:.3f}")
        np.savez_compressed(trace_dir / f"{name}-{part}.npz", samples=x.reshape(-1, x.shape[2]),
                            sample_rate=np.float64(odr), window=np.int64(x.shape[1]), labels=y.astype(np.int64),
                            lsb=np.float64(0.000488 if name == "compressor" else 0.000244 if name == "pump" else 1 / 32768))
    print("\n".join(report))


if __name__ == "__main__":
    for example in sys.argv[1:] or list(EXAMPLES):
        make(example)
