"""`nmspec simulate SPEC --spikes IN.npz --reference --record OUT.npz`: the float reading of
a spec's model on raw input spikes, every population's spikes, membrane and synaptic
current recorded, against a run worked out by hand from the NIR equations."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import nir
import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]


def f64(values) -> np.ndarray:
    return np.asarray(values, dtype=np.float64)


def write_model(path: Path) -> None:
    """input (2) -> [0.6, 0.3] -> CubaLIF h (literal NIR at 1 ms: tau_syn 2 ms -> alpha 0.5,
    tau_mem 4 ms -> beta 0.75, w_in 2 and r 4 make both gains 1; threshold 1, reset to 0)
    -> 0.8 -> LIF o (tau 2 ms -> beta 0.5, r 2 -> gain 1; threshold 0.9, reset to 0)."""
    nodes = {
        "input": nir.Input(input_type={"input": np.array([2])}),
        "fc1": nir.Linear(weight=f64([[0.6, 0.3]])),
        "h": nir.CubaLIF(tau_syn=f64([2e-3]), tau_mem=f64([4e-3]), r=f64([4.0]), v_leak=f64([0.0]), v_threshold=f64([1.0]),
                         v_reset=f64([0.0]), w_in=f64([2.0])),
        "fc2": nir.Linear(weight=f64([[0.8]])),
        "o": nir.LIF(tau=f64([2e-3]), r=f64([2.0]), v_leak=f64([0.0]), v_threshold=f64([0.9]), v_reset=f64([0.0])),
        "output": nir.Output(output_type={"output": np.array([1])}),
    }
    edges = [("input", "fc1"), ("fc1", "h"), ("h", "fc2"), ("fc2", "o"), ("o", "output")]
    nir.write(str(path), nir.NIRGraph(nodes=nodes, edges=edges, type_check=False))


SPEC = """apiVersion: nmspec/v1
kind: SiteDeployment
metadata: {site: reference/by-hand}
sensor: {part: lis2dw12, odr: 1.6kHz, range: 4g, axes: [x, y, z]}
preprocessing:
  - lowpass: {cutoff: 320Hz, order: 4}
  - decimate: {factor: 2}
  - band_energy: {fft: 64, bands: 2, fmax: 400Hz, combine_axes: true}
  - encode: {kind: sigma_delta, threshold: 0.0625, polarity: single}
model: {source: models/hand.nir, dt: 1ms, convention: nir, labels: [normal, fault]}
target: {chip: xylo-imu, mcu: stm32l4}
power: {battery: {cell: er34615, lifetime: 1y}}
safety: {class: none}
"""


@pytest.fixture()
def site(tmp_path: Path) -> Path:
    (tmp_path / "models").mkdir()
    write_model(tmp_path / "models" / "hand.nir")
    (tmp_path / "site.yaml").write_text(SPEC)
    (tmp_path / "nmspec.toml").write_text("")
    return tmp_path


def simulate(cwd: Path, spikes: np.ndarray, *extra: str) -> subprocess.CompletedProcess[str]:
    np.savez(cwd / "in.npz", spikes=spikes)
    return subprocess.run([sys.executable, "-m", "engine", "simulate", "site.yaml", "--spikes", "in.npz", "--reference",
                           "--record", "out.npz", *extra], cwd=cwd, capture_output=True, text=True, timeout=300, check=False)


def test_the_reference_run_equals_the_run_worked_by_hand(site):
    # frameworks record their input spikes as floats: whole numbers are counts
    result = simulate(site, np.array([[1, 0], [1, 1], [0, 0], [0, 1], [0, 0]], dtype=np.float32))
    assert result.returncode == 0, result.stderr
    assert result.stdout == ("record: out.npz\nreference: float reading, convention nir, step 1 ms\n"
                             "spec: site.yaml\nspikes: h 2, o 1\nsteps: 5\n")
    with np.load(site / "out.npz") as record:
        assert sorted(record.files) == ["inputs", "spikes.h", "spikes.o", "state.h.isyn", "state.h.v", "state.o.v"]
        # h: x = 0.6, 0.9, 0, 0.3, 0; I = 0.5 I + x; v = 0.75 v + I, spike where v > 1, then v = 0
        np.testing.assert_allclose(record["state.h.isyn"][:, 0], [0.6, 1.2, 0.6, 0.6, 0.3], rtol=1e-12)
        np.testing.assert_allclose(record["state.h.v"][:, 0], [0.6, 0.0, 0.6, 0.0, 0.3], rtol=1e-12)
        assert record["spikes.h"][:, 0].tolist() == [0, 1, 0, 1, 0]
        # o: v = 0.5 v + 0.8 s_h: 0, 0.8, 0.4, 0.2 + 0.8 = 1.0 > 0.9 -> spike, 0
        np.testing.assert_allclose(record["state.o.v"][:, 0], [0.0, 0.8, 0.4, 0.0, 0.0], rtol=1e-12)
        assert record["spikes.o"][:, 0].tolist() == [0, 0, 0, 1, 0]
        assert record["inputs"].dtype == np.int64


def test_the_reference_runs_at_the_frame(site):
    """At a 0.5 ms frame the model trained at 1 ms is re-discretised: alpha 0.5^0.5; a spike's
    jump into the current keeps its size."""
    (site / "site.yaml").write_text(SPEC.replace("safety: {class: none}", "safety: {class: none}\nruntime: {frame: 0.5ms}"))
    result = simulate(site, np.array([[1, 0], [0, 0]], dtype=np.int8))
    assert result.returncode == 0, result.stderr
    assert "reference: float reading, convention nir, step 0.5 ms\n" in result.stdout
    with np.load(site / "out.npz") as record:
        np.testing.assert_allclose(record["state.h.isyn"][:, 0], [0.6, 0.6 * 0.5 ** 0.5], rtol=1e-12)


@pytest.mark.parametrize("spikes, code, message", [
    (np.zeros((5, 3), dtype=np.int64), "NM812", ("spike counts must be (steps, 2) for this model, got shape (5, 3)\n"
                                       "  hint: one row per time step, one column per input channel")),
    (np.array([[0.5, 0.0]]), "NM812", ("spike counts must be whole numbers; step 0, input 0 holds 0.5\n"
                             "  hint: count spikes per step and input (0, 1, 2, ...)")),
    (np.array([["a", "b"]]), "NM811", "not a readable .npz of spike counts: array 'spikes' holds <U1, not numbers"),
    (np.array([[1, -1]]), "NM812", "spike counts must be non-negative"),
])
def test_wrong_spikes_are_refused_with_what_is_right(site, spikes, code, message):
    result = simulate(site, spikes)
    assert result.returncode == 1
    assert result.stderr == f"in.npz: error[{code}]: {message}\n"
    assert not (site / "out.npz").exists()


def test_reference_needs_spikes(site):
    result = subprocess.run([sys.executable, "-m", "engine", "simulate", "site.yaml", "--reference"], cwd=site,
                            capture_output=True, text=True, timeout=300, check=False)
    assert result.returncode == 2
    assert result.stderr == "nmspec simulate: --reference goes with SPEC --spikes FILE.npz --record OUT.npz\n"
