"""Analog and mixed-signal targets: the drift model against hand-worked values and the
generic LIF kernel, the Monte Carlo's reproducibility, the THERMAL image section, and the
analog example's accuracy over temperature with and without compensation (docs/analog.md)."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from engine.catalog import builtin_catalog
from engine.image import ImageContents, Metadata, Target, Thermal, read_image, write_image
from engine.netlist import Population, Projection, QuantNetwork, Weights
from engine.resolve.drift import (
    LEAK_ONE,
    DriftFigure,
    DriftModel,
    compensation,
    drift_model,
    retained_leak,
    temperature_bands,
)
from engine.verify import kernel
from engine.verify.drift import draw_chips, run_drifted, temperature_sweep

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "specs" / "examples" / "compressor-analog.yaml"
NMSPEC = [sys.executable, "-m", "engine"]
T0 = 298.15


def _model(tau=0.0, threshold=0.0, weight=0.0, cv=(0.0, 0.0, 0.0)) -> DriftModel:
    values = {"drift_reference_temperature": T0, "tempco_time_constant": tau, "tempco_threshold": threshold,
              "tempco_weight": weight, "mismatch_time_constant": cv[0], "mismatch_threshold": cv[1],
              "mismatch_weight": cv[2]}
    return DriftModel("test", tuple(DriftFigure(n, v, None, "defined", (), None) for n, v in values.items()))


def _network(seed: int = 3) -> QuantNetwork:
    rng = np.random.default_rng(seed)

    def pop(name, size, th):
        return Population(name, size, {"decay_syn": rng.integers(0, 6, size), "decay_mem": rng.integers(1, 9, size),
                                        "threshold": rng.integers(th // 2, th, size), "bias": rng.integers(-3, 4, size)})

    def dense(a, b, scale):
        w = rng.integers(-scale, scale + 1, (a, b)) * (rng.random((a, b)) < 0.5)
        return Weights.from_dense(w)

    return QuantNetwork("lif", 1e-3, 6, (pop("hidden", 12, 400), pop("output", 3, 300)),
                        (Projection("input", "hidden", dense(6, 12, 60), shift=1),
                         Projection("hidden", "hidden", dense(12, 12, 20)),
                         Projection("hidden", "output", dense(12, 3, 50))), "output")


def test_the_t1s_drift_figures_are_all_assumed_and_sourced():
    chip = builtin_catalog().part("chips", "innatera-t1")
    model = drift_model(chip)
    assert model.assumed == ("drift_reference_temperature", "tempco_time_constant", "tempco_threshold",
                             "tempco_weight", "mismatch_time_constant", "mismatch_threshold", "mismatch_weight")
    for figure in model.figures:
        assert figure.note
        for source in chip.figure(figure.name).source:
            assert source in chip.sources
    assert model.value("tempco_time_constant") == pytest.approx(-0.01)
    assert chip.figure("tempco_time_constant").uncertainty_si() == pytest.approx(0.015)
    assert model.reference_k == pytest.approx(T0)


def test_a_leak_at_the_nominal_time_constant_is_the_kernels_shift_exactly():
    shifts = np.arange(0, 25)
    assert retained_leak(shifts, np.ones(25)).tolist() == [LEAK_ONE >> int(d) for d in shifts]


def test_a_time_constant_twice_as_long_keeps_the_square_root_per_step():
    # d = 1 keeps 1/2 per step; twice the time constant keeps sqrt(1/2): the leak is
    # 2^24 * (1 - 1/sqrt 2) = 4 913 933.48
    assert retained_leak(np.array([1]), np.array([2.0])).tolist() == [4913933]


def test_without_drift_or_mismatch_the_drifted_loop_is_the_generic_lif_kernel():
    net = _network()
    windows = np.random.default_rng(5).integers(0, 3, (4, 60, 6))
    counts = run_drifted(net, windows, _model(tau=0.01, threshold=-0.003, weight=0.002), None, T0)
    expected = np.array([kernel.run(net, w).output_counts("output") for w in windows])
    assert counts.tolist() == expected.tolist()
    assert counts.sum() > 0


def test_compensation_restores_the_gain_by_hand():
    # decays 1 and 1; a time constant twice as long (tempco 1%/K, 100 K above T0) keeps
    # 1/sqrt2 per step: the synaptic current settles at (1 - f)/f = 1 + sqrt2 times its
    # input instead of 1, the membrane at 1/f = 2 + sqrt2 times it instead of 2, so a
    # threshold of 1000 becomes 1000 (1 + sqrt2)(2 + sqrt2) / 2 = 1000 (2 + 1.5 sqrt2) = 4121
    net = QuantNetwork("lif", 1e-3, 1, (Population("out", 1, {"decay_syn": np.array([1]), "decay_mem": np.array([1]),
                                                              "threshold": np.array([1000]), "bias": np.array([0])}),),
                       (Projection("input", "out", Weights.from_dense([[5]])),), "out")
    bands = temperature_bands(T0 + 90, T0 + 110, 1, 2.0)
    table = compensation(net, _model(tau=0.01), bands)
    assert round(1000 * (2 + 1.5 * math.sqrt(2))) == 4121
    assert table.thresholds["out"].tolist() == [[4121]]
    # a threshold that itself rises 10% at the band's centre asks for 10% less
    table = compensation(net, _model(tau=0.01, threshold=0.001), bands)
    assert table.thresholds["out"].tolist() == [[round(1000 * (2 + 1.5 * math.sqrt(2)) / 1.1)]]


def test_band_edges_are_whole_centi_degrees():
    bands = temperature_bands(233.15, 358.15, 5, 2.0)
    assert bands.edges_centi_c() == (-4000, -1500, 1000, 3500, 6000, 8500)
    assert bands.hysteresis_centi == 200


def test_the_monte_carlo_is_reproducible_and_seeded():
    net = _network()
    rng = np.random.default_rng(9)
    windows, labels = rng.integers(0, 3, (6, 40, 6)), rng.integers(0, 3, 6)
    model = _model(tau=-0.01, threshold=-0.003, cv=(0.1, 0.05, 0.1))
    bands = temperature_bands(263.15, 323.15, 2, 2.0)
    first = temperature_sweep(net, windows, labels, model, bands, None, 3, 7).summary()
    again = temperature_sweep(net, windows, labels, model, bands, None, 3, 7).summary()
    other = temperature_sweep(net, windows, labels, model, bands, None, 3, 8).summary()
    assert json.dumps(first, sort_keys=True) == json.dumps(again, sort_keys=True)
    assert [c.weight.tolist() for c in draw_chips(15, 10, model, 2, 7)] != \
           [c.weight.tolist() for c in draw_chips(15, 10, model, 2, 8)]
    assert first["bands"][0]["temperatures_C"] == [-10.0, 5.0, 22.0]
    assert other["seed"] == 8


def _contents(net, thermal=None):
    return ImageContents(Metadata("s", "h", "t", "m", ("a", "b", "c")), Target("innatera-t1", "lif"), net,
                         thermal=thermal)


def test_a_thermal_section_round_trips_and_stamps_format_2_1():
    net = _network()
    table = compensation(net, _model(tau=-0.01), temperature_bands(233.15, 358.15, 3, 2.0))
    thermal = Thermal((-4000, 167, 4333, 8500), 200, table.thresholds)
    image = write_image(_contents(net, thermal))
    plain = write_image(_contents(net))
    assert image[8:12] == bytes([2, 0, 1, 0])
    assert plain[8:12] == bytes([2, 0, 0, 0])
    back = read_image(image)
    assert back.thermal == thermal
    assert back.thermal.thresholds["hidden"].shape == (3, 12)
    assert read_image(plain).thermal is None


def test_a_reader_refuses_band_edges_that_do_not_ascend():
    from engine.image.errors import ImageError

    net = _network()
    table = compensation(net, _model(), temperature_bands(233.15, 358.15, 2, 2.0))
    with pytest.raises(ImageError, match="strictly ascending"):
        write_image(_contents(net, Thermal((0, 0, 100), 200, table.thresholds)))


@pytest.fixture(scope="module")
def example_report(tmp_path_factory):
    """The analog example built (and verified) as a user builds it: its report.json."""
    out = tmp_path_factory.mktemp("analog")
    done = subprocess.run(NMSPEC + ["build", str(EXAMPLE), "--out", str(out)], capture_output=True, text=True,
                          cwd=ROOT, check=False)
    assert done.returncode == 0, done.stderr
    return json.loads((out / "demo-plant" / "compressor-analog" / "report.json").read_text())


@pytest.fixture(scope="module")
def example_verify(example_report):
    return example_report["verification"]["temperature"]


def _documented_table() -> list[list[str]]:
    text = (ROOT / "docs" / "analog.md").read_text()
    block = text.split("<!-- example table -->")[1]
    return [[cell.strip() for cell in line.strip("|").split("|")] for line in block.strip().splitlines()
            if line.startswith("| ") and "C to" in line]


def test_the_analog_example_reproduces_the_documented_accuracy_over_temperature(example_verify):
    t = example_verify
    assert (t["chips"], t["seed"], t["windows"], t["compensated"]) == (8, 1, 48, True)
    rows = []
    for b in t["bands"]:
        rows.append([f"{b['low_C']:g} C to {b['high_C']:g} C",
                     f"{b['accuracy']['mean']:.1%} / {b['accuracy']['worst']:.1%}",
                     f"{b['compensated_accuracy']['mean']:.1%} / {b['compensated_accuracy']['worst']:.1%}",
                     f"{b['compensated_agreement']['mean']:.1%}"])
    assert rows == _documented_table()
    assert len(t["assumed_figures"]) == 7 and t["basis"].startswith("assumed drift figures")


def test_compensation_improves_the_analog_examples_worst_band(example_verify):
    worst = example_verify["worst_band"]
    assert worst["compensated"]["accuracy"]["mean"] > worst["uncompensated"]["accuracy"]["mean"] + 0.05


def test_fit_shows_the_same_accuracy_over_temperature_as_verify(example_verify):
    done = subprocess.run(NMSPEC + ["fit", str(EXAMPLE), "--output", "json"], capture_output=True, text=True, cwd=ROOT,
                          check=False)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["temperature"] == example_verify


def test_an_analog_target_stays_refused_from_sil1(tmp_path):
    import shutil

    for folder in ("models", "traces"):
        shutil.copytree(EXAMPLE.parent / folder, tmp_path / folder)
    (tmp_path / "nmspec.toml").write_text("")
    spec = tmp_path / "site.yaml"
    spec.write_text(EXAMPLE.read_text().replace("class: none", "class: sil1"))
    for command in ("verify", "fit"):
        done = subprocess.run(NMSPEC + [command, str(spec)], capture_output=True, text=True, cwd=ROOT, check=False)
        assert done.returncode == 1
        assert "error[NM501]" in done.stderr
        assert "accuracy over temperature" not in done.stdout


def test_the_html_report_shows_the_accuracy_over_temperature_and_says_the_figures_are_assumed(example_report):
    from engine.report import ReportInputs, render_report

    page = render_report(ReportInputs(report=example_report))["report.html"].decode()
    section = page[page.index('id="temperature"'):page.index('id="firmware"')]
    assert "Assumed figures: drift_reference_temperature, tempco_time_constant" in section
    assert "<td>60.0 C to 85.0 C</td><td class=\"n\">72.9% / 50.0%</td><td class=\"n\">72.9%</td>" \
           "<td class=\"n\">82.3% / 50.0%</td><td class=\"n\">82.3%</td>" in section


def test_verify_says_the_worst_band_is_below_the_floor_and_the_figures_are_assumed():
    done = subprocess.run(NMSPEC + ["verify", str(EXAMPLE)], capture_output=True, text=True, cwd=ROOT, check=False)
    assert done.returncode == 0, done.stderr  # a warning at class none, not a failed verification
    assert ("warning[NM809]: verify: over environment.temperature the image classifies 82.3% of the stimulus windows "
            "correctly in its worst band (60 C to 85 C, compensated; 8 chips drawn, assumed drift figures), below 0.9"
            ) in done.stderr
    lines = done.stdout.splitlines()
    assert any(line.startswith("accuracy over temperature (Monte Carlo: 8 chips, seed 1, 48 windows; ASSUMED drift "
                               "figures (drift_reference_temperature,") for line in lines)
    assert "  worst band: uncompensated 72.9%, compensated 82.3% (hysteresis 2 K)" in lines
