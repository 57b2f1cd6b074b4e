"""Regenerate the valve-xylo example's model: two synapses per neuron and aliases on Xylo.

    python tools/make_example_valve.py   # writes specs/examples/models/valve.nir and valve.train.log

The data, the training and the rate normalisation are tools/make_examples.py's (the
acoustic recorder, the same seeds, a ReLU network on mean spike rates, numpy, deterministic);
the verification traces are the acoustic example's (specs/examples/traces/acoustic-*.npz),
which this script does not rewrite. What differs is the network and how it is written:

  16 -> 32 CubaLIF -> 96 LIF -> 3 CubaLIF, written in NIR's own terms (`convention: nir`:
  Euler steps of dt, decay 1 - dt/tau, input gains dt/tau * r and dt/tau_syn * w_in), so
  that every gain is 1 and the time constants are whole powers of two steps.

The second layer's weights are split by sign: the excitatory ones reach each neuron through
a fast synaptic filter (an LI node, tau_syn = 2 steps), the inhibitory ones through a slow one
(tau_syn = 16 steps), and the LIF integrates the sum of the two currents: nmspec reads the
pair as the neuron's two synapses (docs/models.md, "Two synapses and aliases"). Both filters
pass a constant rate at unit gain, so the rate model the network was trained as is unchanged.
Every first-layer neuron reaches all 96 second-layer neurons, more than Xylo Audio 2's
fan-out of 64, so the mapper gives each an alias neuron.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tools"))

import make_examples as mk  # the shared recorder, training and normalisation

from engine.catalog import builtin_catalog
from engine.dsp.from_spec import chain_for_spec
from engine.resolve.nir_import import import_graph
from engine.spec import site_model
from engine.spec.document import load_spec

SPEC = "specs/examples/valve-xylo.yaml"
CLASSES = ("normal", "leak", "valve_chatter")
HIDDEN = (32, 96)
PER_CLASS = 50
# per-step decays; Xylo holds them as bit shifts: 1 - 2^-dash
ALPHA = 0.5  # the first layer's and the readout's synapse, and the fast filter: dash 1
ALPHA_SLOW = 1.0 - 1.0 / 16  # the slow filter: dash 4
BETA = 1.0 - 1.0 / 128  # every membrane: dash 7


def tau(decay: float, dt: float) -> float:
    """Literal NIR's reading: decay = 1 - dt / tau."""
    return dt / (1.0 - decay)


def to_nir(weights: list[np.ndarray], n_in: int, dt: float):
    import nir

    def full(n: int, value: float) -> np.ndarray:
        return np.full(n, value, dtype=np.float32)

    def cuba(n: int) -> nir.CubaLIF:
        # w_in 1: the current jumps by (1 - alpha) w and pays out w in total; r = tau_mem / dt: v gains I
        return nir.CubaLIF(tau_syn=full(n, tau(ALPHA, dt)), tau_mem=full(n, tau(BETA, dt)), r=full(n, 1 / (1 - BETA)),
                           v_leak=full(n, 0), v_threshold=full(n, 1), v_reset=full(n, 0), w_in=full(n, 1))

    def synaptic_filter(n: int, decay: float) -> nir.LI:
        return nir.LI(tau=full(n, tau(decay, dt)), r=full(n, 1), v_leak=full(n, 0))  # unit gain for a constant rate

    w1, w2, w3 = weights
    n1, n2, n_out = w1.shape[1], w2.shape[1], w3.shape[1]
    nodes = {
        "input": nir.Input(input_type={"input": np.array([n_in])}),
        "fc1": nir.Linear(weight=w1.T.astype(np.float32)),
        "lif1": cuba(n1),
        "fc2_excite": nir.Linear(weight=np.maximum(w2, 0).T.astype(np.float32)),
        "fc2_inhibit": nir.Linear(weight=np.minimum(w2, 0).T.astype(np.float32)),
        "syn2_fast": synaptic_filter(n2, ALPHA),
        "syn2_slow": synaptic_filter(n2, ALPHA_SLOW),
        "lif2": nir.LIF(tau=full(n2, tau(BETA, dt)), r=full(n2, 1 / (1 - BETA)), v_leak=full(n2, 0),
                        v_threshold=full(n2, 1), v_reset=full(n2, 0)),
        "fc3": nir.Linear(weight=w3.T.astype(np.float32)),
        "lif3": cuba(n_out),
        "output": nir.Output(output_type={"output": np.array([n_out])}),
    }
    edges = [("input", "fc1"), ("fc1", "lif1"), ("lif1", "fc2_excite"), ("lif1", "fc2_inhibit"),
             ("fc2_excite", "syn2_fast"), ("fc2_inhibit", "syn2_slow"), ("syn2_fast", "lif2"), ("syn2_slow", "lif2"),
             ("lif2", "fc3"), ("fc3", "lif3"), ("lif3", "output")]
    return nir.NIRGraph(nodes=nodes, edges=edges, metadata={"convention": "nir",
                                                            "generated_by": "tools/make_example_valve.py"})


def make() -> list[str]:
    import nir

    doc, _ = load_spec(ROOT / SPEC)
    spec = site_model(doc)
    chain = chain_for_spec(spec, builtin_catalog().get("sensors", spec.sensor.part))
    odr, dt, seconds = chain.sample_rate, chain.dt, 1.0
    train_x, train_y = mk.windows(mk.acoustic_recording, CLASSES, PER_CLASS, seconds, odr, seed0=mk.TRAINING_SEED)
    rates = chain.run(train_x).mean(axis=1)
    weights, history = mk.train_mlp(rates, train_y, HIDDEN, len(CLASSES), seed=1)
    ann = rates
    for w in weights[:-1]:
        ann = np.maximum(ann @ w, 0)
    ann_accuracy = float(np.mean(np.argmax(ann @ weights[-1], axis=1) == train_y))
    snn = mk.normalise(weights, rates)
    graph = to_nir(snn, chain.n_channels, dt)
    model_path = ROOT / "specs/examples/models/valve.nir"
    nir.write(str(model_path), graph)

    sizes = " -> ".join(str(n) for n in (chain.n_channels, *HIDDEN, len(CLASSES)))
    log = ["valve: trained by tools/make_example_valve.py (numpy, deterministic)",
           (f"spec: {SPEC}; chain: {chain.n_channels} input channels, dt {dt:g} s, window {seconds:g} s "
            f"({round(seconds / dt)} steps)"),
           (f"training data: {len(train_y)} windows, {PER_CLASS} per class ({', '.join(CLASSES)}), "
            f"seeds {mk.TRAINING_SEED} + 1000 * class + i (tools/make_examples.py's acoustic recorder)"),
           (f"network: {sizes}, ReLU on mean input spike rates, no biases; full-batch Adam, "
            "lr 0.01, L2 1e-4, 1500 epochs, init seed 1"),
           "", "epoch  cross-entropy  train accuracy"]
    log += [f"{epoch:5d}  {loss:13.4f}  {accuracy:14.3f}" for epoch, loss, accuracy in history]
    log += ["", f"ANN train accuracy: {ann_accuracy:.3f}",
            (f"converted to spiking (literal NIR): CubaLIF layers 1 and 3 (alpha {ALPHA}), layer 2 LIF fed "
             f"through two LI synaptic filters, excitatory weights fast (alpha {ALPHA}), inhibitory slow "
             f"(alpha {ALPHA_SLOW}); beta 1 - 1/{round(1 / (1 - BETA))}; layer-wise rate normalisation to "
             f"{mk.TARGET_RATE} spikes per step at the 99.9th percentile"),
            f"weights sha256 (float32 little-endian, Linear nodes by name): {mk.weights_digest(graph)}"]
    net = import_graph(nir.read(str(model_path)), dt=dt, convention="nir")
    accuracy, _ = mk.float_accuracy(net, chain, train_x, train_y)
    log.append(f"float SNN accuracy on the training windows: {accuracy:.3f}")
    for part in ("nominal", "fault"):
        with np.load(ROOT / f"specs/examples/traces/acoustic-{part}.npz") as trace:
            x = trace["samples"].reshape(-1, int(trace["window"]), trace["samples"].shape[1])
            y = trace["labels"]
        accuracy, predicted = mk.float_accuracy(net, chain, x, y)
        per_class = ", ".join(f"{CLASSES[c]} {np.mean(predicted[y == c] == c):.3f}" for c in np.unique(y))
        log.append(f"acoustic-{part}.npz: {len(y)} windows, float SNN accuracy {accuracy:.3f} ({per_class})")
    (model_path.parent / "valve.train.log").write_text("\n".join(log) + "\n")
    return log


if __name__ == "__main__":
    print("\n".join(make()))
