"""Regenerate the bundled examples' recorded traces and trained models.

    python tools/make_examples.py [NAME...]  # writes specs/examples/traces/*.npz, models/*.nir
                                             # and models/NAME.train.log

Each example: synthetic recordings from engine.dsp.vibration (several installations,
temperatures, speeds and severities per class), the spec's own fixed-point chain turns
them into input spike counts, a small ReLU network is trained on the mean spike rates
(numpy, full-batch Adam, no biases) and converted to a spiking network by layer-wise
rate normalisation (Diehl et al. 2015, 'Fast-classifying, high-accuracy spiking deep
networks through weight and threshold balancing', IJCNN), then written as snnTorch 1.0
exports it (CubaLIF, dt 1e-4 in the file; the spec says `convention: snntorch`).
Deterministic: fixed seeds, no clock. The training log beside the model records the data,
the loss curve and the accuracies, so the committed model can be checked without rerunning.

Seeds (one recording, and one installation, per seed): training 10000 + 1000 * class + i;
verification traces 50000 + i (nominal) and 60000 + 1000 * class + i (faults); held-out
traces 90000 + 1000 * class + i. The verification traces' nominal windows also calibrate
the quantization, so only the held-out traces measure accuracy on unseen data.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import itertools
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from engine.catalog import builtin_catalog
from engine.dsp import vibration as vib
from engine.dsp.from_spec import chain_for_spec
from engine.resolve.floatnet import classify, simulate
from engine.resolve.nir_import import SNNTORCH_EXPORT_DT, import_graph
from engine.spec import site_model
from engine.spec.document import load_spec

ALPHA = 0.5  # synaptic decay per step: tau_syn = 2 dt
BETA = 1.0 - 1.0 / 128  # membrane decay per step: tau_mem = 128 dt (close to integrate-and-fire)
TARGET_RATE = 0.6  # highest hidden spike rate per step after normalisation


@dataclasses.dataclass(frozen=True)
class Sites:
    """The population installations are drawn from: uniform ranges, one draw per seed."""

    speed: tuple[float, float] = (0.97, 1.03)  # times the nominal running speed
    resonance_hz: tuple[float, float] = (250.0, 340.0)  # structural resonance the bearing impacts ring
    mounting_hz: tuple[float, float] = (150.0, 300.0)
    severity: tuple[float, float] = (0.6, 1.4)
    temperature_c: tuple[float, float] = (-20.0, 85.0)


COMPRESSOR_SITES = Sites()
# held out: wider installation ranges than training and incipient faults down to 0.3 severity
COMPRESSOR_HELD_OUT = Sites(speed=(0.96, 1.04), resonance_hz=(230.0, 360.0), mounting_hz=(130.0, 320.0),
                            severity=(0.3, 1.4))


def compressor_conditions(seed: int, sites: Sites = COMPRESSOR_SITES) -> dict[str, float]:
    rng = np.random.default_rng(seed)
    return {"shaft_hz": 24.6 * rng.uniform(*sites.speed), "resonance_hz": rng.uniform(*sites.resonance_hz),
            "mounting_hz": rng.uniform(*sites.mounting_hz), "severity": rng.uniform(*sites.severity),
            "temperature_c": rng.uniform(*sites.temperature_c)}


def compressor_recording(fault: str, seconds: float, seed: int, odr: float, sites: Sites = COMPRESSOR_SITES) -> np.ndarray:
    c = compressor_conditions(seed, sites)
    machine = vib.Machine(shaft_hz=c["shaft_hz"], mains_hz=50.0, resonance_hz=c["resonance_hz"],
                          mounting_hz=c["mounting_hz"])
    sensor = vib.Sensor(odr=odr, lsb_g=0.000488, range_g=4.0)  # 14-bit at +-4 g
    return vib.record(machine, sensor, fault, seconds=seconds, severity=c["severity"],
                      temperature_c=c["temperature_c"], seed=seed)


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
    # name: (spec, recorder, window seconds, classes, hidden sizes, train windows per class,
    #        verification trace windows (nominal, per fault), held-out (nominal, per fault, sites) or None)
    "compressor": ("specs/examples/compressor.yaml", compressor_recording, 1.0,
                   ("normal", "bearing_outer", "imbalance", "looseness"), (32,), 60, (24, 8), (60, 30, COMPRESSOR_HELD_OUT)),
    "pump": ("specs/examples/pump-loihi.yaml", pump_recording, 0.5,
             ("normal", "cavitation", "misalignment", "bearing_outer"), (256, 128), 40, (4, 3), None),
    "acoustic": ("specs/examples/acoustic-xylo.yaml", acoustic_recording, 1.0,
                 ("normal", "leak", "valve_chatter"), (64,), 50, (8, 6), None),
}
TRAINING_SEED, NOMINAL_SEED, FAULT_SEED, HELD_OUT_SEED = 10_000, 50_000, 60_000, 90_000
LOG_EVERY = 100  # epochs between loss lines in the training log


def windows(recorder, classes, per_class, seconds, odr, seed0) -> tuple[np.ndarray, np.ndarray]:
    samples, labels = [], []
    for label, fault in enumerate(classes):
        for i in range(per_class):
            samples.append(recorder(fault, seconds, seed0 + 1000 * label + i, odr))
            labels.append(label)
    return np.stack(samples), np.array(labels)


def train_mlp(x: np.ndarray, y: np.ndarray, hidden: tuple[int, ...], n_out: int, seed: int,
              epochs: int = 1500, lr: float = 0.01) -> tuple[list[np.ndarray], list[tuple[int, float, float]]]:
    """Weights, and (epoch, cross-entropy, accuracy) every LOG_EVERY epochs before that epoch's update."""
    rng = np.random.default_rng(seed)
    sizes = (x.shape[1],) + hidden + (n_out,)
    weights = [rng.normal(0, np.sqrt(2.0 / a), (a, b)) for a, b in itertools.pairwise(sizes)]
    m = [np.zeros_like(w) for w in weights]
    v = [np.zeros_like(w) for w in weights]
    onehot = np.eye(n_out)[y]
    scale = x.max() or 1.0
    xs = x / scale
    history: list[tuple[int, float, float]] = []
    for epoch in range(1, epochs + 1):
        acts = [xs]
        for w in weights[:-1]:
            acts.append(np.maximum(acts[-1] @ w, 0))
        logits = acts[-1] @ weights[-1]
        p = np.exp(logits - logits.max(axis=1, keepdims=True))
        p /= p.sum(axis=1, keepdims=True)
        if epoch == 1 or epoch % LOG_EVERY == 0:
            loss = float(-np.mean(np.log(p[np.arange(len(y)), y] + 1e-12)))
            history.append((epoch, loss, float(np.mean(np.argmax(p, axis=1) == y))))
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
    return weights, history


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


LSB = {"compressor": 0.000488, "pump": 0.000244, "acoustic": 1 / 32768}


def save_trace(path: Path, x: np.ndarray, y: np.ndarray, odr: float, lsb: float, **extra: np.ndarray) -> None:
    np.savez_compressed(path, samples=x.reshape(-1, x.shape[2]), sample_rate=np.float64(odr),
                        window=np.int64(x.shape[1]), labels=y.astype(np.int64), lsb=np.float64(lsb), **extra)


def held_out_windows(recorder, classes, nominal: int, per_fault: int, sites: Sites, seconds: float,
                     odr: float) -> tuple[np.ndarray, np.ndarray, dict[str, np.ndarray]]:
    """Unseen installations from `sites`; the conditions of every window are kept beside it."""
    record = functools.partial(recorder, sites=sites)
    x0, y0 = windows(record, classes[:1], nominal, seconds, odr, seed0=HELD_OUT_SEED)
    x1, y1 = windows(record, classes[1:], per_fault, seconds, odr, seed0=HELD_OUT_SEED + 1000)
    seeds = [HELD_OUT_SEED + i for i in range(nominal)]
    seeds += [HELD_OUT_SEED + 1000 + 1000 * label + i for label in range(len(classes) - 1) for i in range(per_fault)]
    conditions = [compressor_conditions(seed, sites) for seed in seeds]
    extra = {key: np.array([c[key] for c in conditions]) for key in sorted(conditions[0])}
    extra["seed"] = np.array(seeds, dtype=np.int64)
    return np.concatenate([x0, x1]), np.concatenate([y0, y1 + 1]), extra


def float_accuracy(net, chain, x: np.ndarray, y: np.ndarray) -> tuple[float, np.ndarray]:
    predicted = classify(simulate(net, chain.run(x))[net.output].sum(axis=1))
    return float(np.mean(predicted == y)), predicted


def weights_digest(graph) -> str:
    """sha256 of the graph's Linear weights as the .nir file stores them (float32 little-endian,
    nodes by name), so a log line identifies the model file it belongs to."""
    digest = hashlib.sha256()
    for name in sorted(graph.nodes):
        weight = getattr(graph.nodes[name], "weight", None)
        if weight is not None:
            digest.update(name.encode() + b"\0" + np.ascontiguousarray(weight, dtype="<f4").tobytes())
    return digest.hexdigest()


def make(name: str) -> list[str]:
    """Train, write the model, the traces and the training log; return the log's lines."""
    import nir

    spec_path, recorder, seconds, classes, hidden, per_class, (trace_nominal, trace_fault), held_out = EXAMPLES[name]
    doc, _ = load_spec(ROOT / spec_path)
    spec = site_model(doc)
    chain = chain_for_spec(spec, builtin_catalog().get("sensors", spec.sensor.part))
    odr = chain.sample_rate
    dt = chain.dt
    train_x, train_y = windows(recorder, classes, per_class, seconds, odr, seed0=TRAINING_SEED)
    spikes = chain.run(train_x)
    rates = spikes.mean(axis=1)
    weights, history = train_mlp(rates, train_y, hidden, len(classes), seed=1)
    ann = rates
    for w in weights[:-1]:
        ann = np.maximum(ann @ w, 0)
    ann_accuracy = float(np.mean(np.argmax(ann @ weights[-1], axis=1) == train_y))
    snn = normalise(weights, rates)
    graph = to_nir(snn, chain.n_channels)
    model_path = ROOT / "specs/examples/models" / f"{name}.nir"
    model_path.parent.mkdir(parents=True, exist_ok=True)
    nir.write(str(model_path), graph)

    sizes = " -> ".join(str(n) for n in (chain.n_channels, *hidden, len(classes)))
    log = [f"{name}: trained by tools/make_examples.py (numpy, deterministic)",
           (f"spec: {spec_path}; chain: {chain.n_channels} input channels, dt {dt:g} s, "
            f"window {seconds:g} s ({round(seconds / dt)} steps)"),
           (f"training data: {len(train_y)} windows, {per_class} per class ({', '.join(classes)}), "
            f"seeds {TRAINING_SEED} + 1000 * class + i, installations from {COMPRESSOR_SITES if name == 'compressor' else 'the recorder'}"),
           (f"network: {sizes}, ReLU on mean input spike rates, no biases; full-batch Adam, "
            f"lr 0.01, L2 1e-4, 1500 epochs, init seed 1"),
           "", "epoch  cross-entropy  train accuracy"]
    log += [f"{epoch:5d}  {loss:13.4f}  {accuracy:14.3f}" for epoch, loss, accuracy in history]
    log += ["", f"ANN train accuracy: {ann_accuracy:.3f}",
            (f"converted to CubaLIF (alpha {ALPHA}, beta 1 - 1/{round(1 / (1 - BETA))}), layer-wise rate "
             f"normalisation to {TARGET_RATE} spikes per step at the 99.9th percentile"),
            f"weights sha256 (float32 little-endian, Linear nodes by name): {weights_digest(graph)}"]

    # recorded traces for verification and held-out measurement: seeds disjoint from training
    trace_dir = ROOT / "specs/examples/traces"
    trace_dir.mkdir(parents=True, exist_ok=True)
    net = import_graph(nir.read(str(model_path)), dt=dt, convention="snntorch")
    accuracy, _ = float_accuracy(net, chain, train_x, train_y)
    log.append(f"float SNN accuracy on the training windows: {accuracy:.3f}")
    parts = [("nominal", classes[:1], trace_nominal, NOMINAL_SEED, 0), ("fault", classes[1:], trace_fault, FAULT_SEED, 1)]
    for part, faults, count, seed0, first_label in parts:
        x, y = windows(recorder, faults, count, seconds, odr, seed0=seed0)
        y = y + first_label
        accuracy, predicted = float_accuracy(net, chain, x, y)
        per_class = ", ".join(f"{classes[c]} {np.mean(predicted[y == c] == c):.3f}" for c in np.unique(y))
        log.append(f"{name}-{part}.npz: {len(y)} windows (seeds from {seed0}), float SNN accuracy {accuracy:.3f} "
                   f"({per_class})")
        save_trace(trace_dir / f"{name}-{part}.npz", x, y, odr, LSB[name])
    if held_out is not None:
        nominal, per_fault, sites = held_out
        x, y, conditions = held_out_windows(recorder, classes, nominal, per_fault, sites, seconds, odr)
        accuracy, predicted = float_accuracy(net, chain, x, y)
        per_class = ", ".join(f"{classes[c]} {np.mean(predicted[y == c] == c):.3f}" for c in np.unique(y))
        log.append(f"{name}-heldout.npz: {len(y)} windows (seeds from {HELD_OUT_SEED}, installations from {sites}), "
                   f"float SNN accuracy {accuracy:.3f} ({per_class})")
        save_trace(trace_dir / f"{name}-heldout.npz", x, y, odr, LSB[name], **conditions)
    (model_path.parent / f"{name}.train.log").write_text("\n".join(log) + "\n")
    return log


if __name__ == "__main__":
    for example in sys.argv[1:] or list(EXAMPLES):
        print("\n".join(make(example)))
