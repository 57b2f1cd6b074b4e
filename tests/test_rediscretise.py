"""The model's own step (model.dt) and the deployment's (runtime.frame): a network read at
one is re-discretised to the other from its time constants, or refused with the reason.

The references are the continuous-time solutions: a leaky membrane left alone decays as
exp(-t / tau) whatever the step, so a spike's trace sampled every 2 ms must equal the 1 ms
trace at every second step; a constant drive settles at the same level at any step."""

from __future__ import annotations

import math
import shutil
import subprocess
import sys
from pathlib import Path

import nir
import numpy as np
import pytest

from engine.resolve.floatnet import simulate
from engine.resolve.nir_import import import_graph
from engine.resolve.rediscretise import RediscretiseError, exact_tau, rediscretise

ROOT = Path(__file__).resolve().parents[1]
DT = 1e-3


def f64(values) -> np.ndarray:
    return np.asarray(values, dtype=np.float64)


def net_of(neuron, n_in: int = 1, recurrent: bool = False, bias=None):
    n = neuron.v_threshold.size
    nodes = {"input": nir.Input(input_type={"input": np.array([n_in])}),
             "fc": nir.Affine(weight=np.ones((n, n_in)), bias=f64(bias)) if bias is not None else nir.Linear(weight=np.ones((n, n_in))),
             "h": neuron, "output": nir.Output(output_type={"output": np.array([n])})}
    edges = [("input", "fc"), ("fc", "h"), ("h", "output")]
    if recurrent:
        nodes["rec"] = nir.Linear(weight=-np.eye(n))
        edges += [("h", "rec"), ("rec", "h")]
    return import_graph(nir.NIRGraph(nodes=nodes, edges=edges, type_check=False), dt=DT, convention="sinabs")


def lif(tau_steps: float, threshold: float = 100.0, v_leak: float = 0.0) -> nir.LIF:
    # sinabs reading: tau in steps, decay exp(-1/tau), input gain 1 - decay with r = 1
    return nir.LIF(tau=f64([tau_steps]), r=f64([1.0]), v_leak=f64([v_leak]), v_threshold=f64([threshold]), v_reset=f64([0.0]))


def cuba(tau_syn_steps: float, tau_mem_steps: float, threshold: float = 100.0) -> nir.CubaLIF:
    return nir.CubaLIF(tau_syn=f64([tau_syn_steps]), tau_mem=f64([tau_mem_steps]), r=f64([1.0]), v_leak=f64([0.0]),
                       v_threshold=f64([threshold]), v_reset=f64([0.0]), w_in=f64([1.0]))


def test_a_leaky_membrane_decays_the_same_at_twice_the_step():
    net = net_of(lif(10.0))
    coarse = rediscretise(net, 2 * DT)
    (pop,) = coarse.populations
    assert coarse.dt == 2 * DT
    np.testing.assert_allclose(pop.beta, [math.exp(-0.2)], rtol=1e-15)
    np.testing.assert_array_equal(pop.in_gain, net.populations[0].in_gain)  # a spike's jump keeps its size
    fine_v = simulate(net, f64([[1]] + [[0]] * 19), record=True)["v:h"][:, 0]
    coarse_v = simulate(coarse, f64([[1]] + [[0]] * 9), record=True)["v:h"][:, 0]
    np.testing.assert_allclose(coarse_v, fine_v[::2], rtol=1e-12)
    assert coarse.notes[-1] == ("re-discretised from the model's step 1ms to the 2ms frame: each decay d became d^2, spikes "
                                "keep their weight, per-step flows (current into the membrane, leak, bias) keep their "
                                "steady state")


def test_a_constant_drive_settles_at_the_same_level():
    """v_leak and an Affine bias are per-step flows: v settles at the same level at any step."""
    net = net_of(cuba(4.0, 10.0), bias=[0.3])
    coarse = rediscretise(net, 2.5 * DT)
    steps = 400
    fine_v = simulate(net, np.zeros((steps, 1)), record=True)["v:h"][-1, 0]
    coarse_v = simulate(coarse, np.zeros((steps, 1)), record=True)["v:h"][-1, 0]
    assert fine_v == pytest.approx(coarse_v, rel=1e-12)
    assert fine_v == pytest.approx(0.3, rel=1e-9)  # gains 1 - d: the bias reaches v at its own size
    (pop,) = coarse.populations
    np.testing.assert_allclose(pop.alpha, [math.exp(-2.5 / 4)], rtol=1e-15)
    np.testing.assert_allclose(exact_tau(pop.alpha, coarse.dt), [4e-3], rtol=1e-12)


def test_the_same_step_is_the_same_network():
    net = net_of(lif(10.0))
    assert rediscretise(net, DT * (1 + 1e-9)) is net


def test_what_has_no_rediscretisation_is_refused_with_the_reason():
    with pytest.raises(RediscretiseError) as info:
        rediscretise(net_of(lif(10.0), recurrent=True), 2 * DT)
    assert info.value.reasons == [
        ("the recurrent edge 'h' -> 'h' delivers the previous step's spikes: 1ms later as trained, 2ms later at the "
        "frame; set runtime.frame to model.dt (1ms), or retrain at 2ms")]
    with pytest.raises(RediscretiseError) as info:
        rediscretise(net_of(cuba(1.0, 20.0)), 2 * DT)
    assert info.value.reasons == [
        ("population 'h': synaptic time constant 1ms (trained at 1ms) is shorter than the 2ms frame: the state would lose "
        f"{1 - math.exp(-2):.1%} of itself in one step of the chip; set runtime.frame to at most 1ms, or retrain at 2ms")]
    # a finer frame only refines the step
    assert rediscretise(net_of(cuba(1.0, 20.0)), 0.5 * DT).dt == 0.5 * DT


def _site(tmp_path: Path, frame: str) -> Path:
    for folder in ("models", "traces"):
        shutil.copytree(ROOT / "specs" / "examples" / folder, tmp_path / folder)
    text = (ROOT / "specs" / "examples" / "compressor.yaml").read_text()
    assert "runtime:\n  learning: locked\n" in text
    (tmp_path / "site.yaml").write_text(text.replace("runtime:\n  learning: locked\n",
                                                     f"runtime:\n  learning: locked\n  frame: {frame}\n"))
    (tmp_path / "nmspec.toml").write_text("")
    return tmp_path / "site.yaml"


def test_a_frame_longer_than_a_time_constant_is_refused_at_runtime_frame(tmp_path):
    spec = _site(tmp_path, "20ms")
    line = next(i for i, row in enumerate(spec.read_text().splitlines(), 1) if row.strip() == "frame: 20ms")
    result = subprocess.run([sys.executable, "-m", "engine", "fit", "site.yaml"], cwd=tmp_path, capture_output=True,
                            text=True, timeout=300, check=False)
    assert result.returncode == 1
    hint = ("  hint: a model runs at the step it was trained at unless its time constants carry it to another; "
            "docs/models.md says what re-discretises\n")
    assert result.stderr == "".join(
        f"site.yaml:{line}:10: error[NM318]: runtime.frame: population '{pop}': synaptic time constant 14.43ms (trained at "
        "10ms) is shorter than the 20ms frame: the state would lose 75.0% of itself in one step of the chip; set "
        "runtime.frame to at most 14.43ms, or retrain at 20ms\n" + hint for pop in ("lif1", "lif2"))
    # the way out it names: a frame of at most 14.43 ms (12.5 ms is 10 samples of the 800 Hz chain)
    spec.write_text(spec.read_text().replace("frame: 20ms", "frame: 12.5ms"))
    fixed = subprocess.run([sys.executable, "-m", "engine", "fit", "site.yaml"], cwd=tmp_path, capture_output=True,
                           text=True, timeout=300, check=False)
    assert fixed.returncode == 0, fixed.stderr


def test_a_model_trained_at_10ms_runs_in_5ms_frames(tmp_path):
    from engine.pipeline import resolve_site
    from engine.spec import repository_catalog, validate_spec

    spec = _site(tmp_path, "5ms")
    catalog, _ = repository_catalog(spec, ())
    doc, problems = validate_spec(spec, catalog)
    assert doc is not None and not [p for p in problems if p.severity == "error"]
    deployment = resolve_site(doc, catalog)
    assert deployment.chain.dt == 0.005 and deployment.float_model.dt == 0.005 and deployment.network.dt == 0.005
    assert deployment.nominal_spikes is not None and deployment.nominal_spikes.shape[1] == 200  # 1 s windows
    assert deployment.float_model.notes[-1].startswith("re-discretised from the model's step 10ms to the 5ms frame: each "
                                                       "decay d became d^0.5")


def test_a_spyx_file_is_read_with_spyx_s_own_dt_and_runs_at_the_model_s_step():
    """Spyx's to_nir writes tau = dt / (1 - beta) with its default dt = 1: read with that dt,
    the decay is the trained beta whatever model.dt says; model.dt only gives the step a length."""
    from engine.resolve.rediscretise import at_model_step
    from engine.spec.model import Model

    model = Model(source="m.nir", dt=0.01, labels=("a", "b"), convention="spyx")
    assert model.file_dt == 1.0
    assert Model(source="m.nir", dt=0.01, labels=("a", "b"), convention="spyx", export_dt=0.5).file_dt == 0.5
    assert Model(source="m.nir", dt=0.01, labels=("a", "b"), convention="norse").file_dt == 0.01
    beta = 0.875
    node = nir.LIF(tau=f64([1.0 / (1 - beta)]), r=f64([beta]), v_leak=f64([0.0]), v_threshold=f64([1.0]), v_reset=f64([0.0]))
    nodes = {"input": nir.Input(input_type={"input": np.array([1])}), "fc": nir.Linear(weight=np.ones((1, 1))),
             "h": node, "output": nir.Output(output_type={"output": np.array([1])})}
    graph = nir.NIRGraph(nodes=nodes, edges=[("input", "fc"), ("fc", "h"), ("h", "output")], type_check=False)
    read = import_graph(graph, dt=model.file_dt, convention="spyx")
    net = at_model_step(read, model.dt)
    assert net.dt == 0.01 and net.populations[0].beta.tolist() == [beta]
    np.testing.assert_allclose(net.populations[0].tau_mem, [0.08], rtol=1e-12)
