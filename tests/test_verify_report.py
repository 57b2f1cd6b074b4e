"""The verify report on the examples: agreement, cycles, latency, energy and power, each
checked against a second source (the kernel's own event counters, the resolve stage's
power model, the formula that defines it); and `inspect --params` is enough to replay."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from engine.cli import main
from engine.diagnostics import Diagnostic
from engine.image import ImageContents, Metadata, Target, read_image, write_image
from engine.netlist import INPUT, Population, Projection, QuantNetwork, Weights
from engine.pipeline import resolve_site
from engine.spec import repository_catalog, validate_spec
from engine.verify.bundle import verify_bundle
from engine.verify.kernel import run

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def examples(tmp_path_factory):
    root = tmp_path_factory.mktemp("repo")
    shutil.copytree(REPO / "specs", root / "specs")
    (root / ".git").mkdir()
    return root / "specs" / "examples"


def verified(spec: Path):
    catalog, _ = repository_catalog(str(spec))
    doc, _ = validate_spec(spec, catalog)
    resolved = resolve_site(doc, catalog)
    contents = ImageContents(Metadata("t", "0" * 64, "t", "m", resolved.spec.model.labels),
                             Target(resolved.spec.target.chip, resolved.network.family), resolved.network)
    image = write_image(contents)
    return resolved, image, verify_bundle(doc, image, resolved, catalog=catalog)


@pytest.mark.parametrize("name", ["compressor", "pump-loihi", "acoustic-xylo"])
def test_report_on_an_example(examples, name):
    resolved, image, result = verified(examples / f"{name}.yaml")
    summary = result.summary()
    assert summary["passed"] and summary["agreement"] >= 0.99 and summary["deterministic"]
    assert len(summary["spike_count_correlation"]) == len(resolved.spec.model.labels)
    c = summary["cycles"]
    windows = summary["windows"]
    # two counts of the same events: the kernel's own counter and the cycle model's per core
    assert c["synaptic_ops_per_window"] * windows == pytest.approx(summary["synaptic_ops"])
    assert c["window_steps"] * windows == summary["steps"]
    assert c["min_clock_hz"] == pytest.approx(c["peak_per_step"] / c["dt_s"])
    assert c["peak_latency_s"] == pytest.approx(c["peak_per_step"] / c["clock_hz"])
    assert c["real_time"] == (c["peak_latency_s"] <= c["dt_s"])
    network = read_image(image).network
    assert c["neuron_updates_per_window"] == network.n_neurons * c["window_steps"]
    p = summary["power"]
    if resolved.spec.target.chip.startswith("xylo"):
        assert c["model"] == "xylo-step"
        # Xylo's chip energy is the measured inference energy, not per-op: the power equals resolve's
        assert p["inference_uW"] == pytest.approx(resolved.power.inference_power_w * 1e6, abs=1e-3)
        assert c["worst_case_clock_hz"] > c["min_clock_hz"]
    else:
        assert c["model"] == "per-event" and c["worst_case_clock_hz"] is None
    assert p["within_budget"] in (None, True)
    # a pass is a verification of the chip only where a vendor simulator agrees with the kernel
    fidelity = {"compressor": "vendor-verified", "acoustic-xylo": "vendor-verified", "pump-loihi": "documented"}[name]
    assert summary["fidelity"] == fidelity
    assert summary["verdict"] == {
        "vendor-verified": "verification passed",
        "documented": ("verification passed on loihi2's documented arithmetic: no vendor simulator has been compared "
                       "with the kernel")}[fidelity]


def test_a_stand_in_pass_never_reads_as_a_verification_of_the_chip(examples):
    import attrs

    _resolved, _image, result = verified(examples / "pump-multicore.yaml")
    assert result.summary()["fidelity"] == "documented"
    stand_in = attrs.evolve(result, chip="akd1000", fidelity="stand-in").summary()
    assert stand_in["passed"]
    assert stand_in["verdict"] == "verification passed on stand-in arithmetic: not a verification of the akd1000"
    failed = attrs.evolve(result, fidelity="stand-in", diagnostics=(Diagnostic("error", "NM802", "x"),)).summary()
    assert failed["verdict"] == "verification FAILED"


def test_verify_cli_text_has_every_figure(examples, capsys):
    assert main(["verify", str(examples / "compressor.yaml")]) in (0, 1)
    out = capsys.readouterr().out
    if "verification passed" not in out:
        pytest.fail(out)
    for start in ("agreement kernel vs float model:", "spike-count correlation per output:", "deterministic: yes",
                  "cycles (xylo-step model, 1 core(s)):", "latency per step:", "lowest real-time clock:", "energy:",
                  "power with the kernel's counts:"):
        assert any(line.startswith(start) for line in out.splitlines()), start


def test_inspect_params_replay_the_image(tmp_path, capsys):
    from tests.test_kernel_cycles import tiny_xylo

    net = tiny_xylo()
    path = tmp_path / "m.nmc"
    path.write_bytes(write_image(ImageContents(Metadata("t", "0" * 64, "t", "m"), Target("xylo-audio2", "xylo"), net)))
    assert main(["inspect", str(path), "--params", "--output", "json"]) == 0
    params = json.loads(capsys.readouterr().out)["params"]
    pops = tuple(Population(name, len(next(iter(values.values()))),
                            {k: np.array(v, dtype=np.int64) for k, v in values.items()})
                 for name, values in params["populations"].items())
    order = {p.name: i for i, p in enumerate(net.populations)}
    pops = tuple(sorted(pops, key=lambda p: order[p.name]))
    projs = tuple(Projection(p["src"], p["dst"], Weights.from_csr(p["n_src"], p["n_dst"], p["indptr"], p["indices"], p["values"]),
                             p["synapse"], p["shift"]) for p in params["projections"])
    replay = QuantNetwork("xylo", net.dt, net.n_inputs, pops, projs, "output")
    inputs = np.random.default_rng(0).integers(0, 4, size=(30, net.n_inputs))
    a, b = run(replay, inputs, record=True), run(read_image(path.read_bytes()).network, inputs, record=True)
    assert all(a.spikes[k].tolist() == b.spikes[k].tolist() for k in b.spikes)
    assert a.states["hidden.v"].tolist() == b.states["hidden.v"].tolist()
    assert INPUT in {p["src"] for p in params["projections"]}


def _with_chip_figure(catalog, chip, name, value, unit):
    import attrs

    part = catalog.part("chips", chip)
    figure = attrs.evolve(part.figure(name), value=value, unit=unit)
    changed = attrs.evolve(part, figures={**part.figures, name: figure})
    return attrs.evolve(catalog, parts={**catalog.parts, "chips": {**catalog.parts["chips"], chip: changed}})


def test_a_clock_too_slow_for_the_step_fails_verification(examples):
    spec = examples / "acoustic-xylo.yaml"
    catalog, _ = repository_catalog(str(spec))
    doc, _ = validate_spec(spec, catalog)
    resolved = resolve_site(doc, catalog)
    image = write_image(ImageContents(Metadata("t", "0" * 64, "t", "m"), Target("xylo-audio2", "xylo"), resolved.network))
    slow = _with_chip_figure(catalog, "xylo-audio2", "clock", 200, "kHz")
    result = verify_bundle(doc, image, resolved, catalog=slow)
    c = result.summary()["cycles"]
    assert c["clock_hz"] == 200e3 and not c["real_time"] and not result.summary()["passed"]
    [problem] = [d for d in result.diagnostics if d.code == "NM806"]
    assert problem.message == (f"verify: the busiest step needs {c['peak_per_step']:.0f} cycles, "
                               f"{c['peak_per_step'] / 200e3 * 1e3:.3g} ms at 0.2 MHz, longer than the 10 ms step")


def test_kernel_power_over_the_budget_fails_verification(examples):
    spec = examples / "compressor.yaml"
    catalog, _ = repository_catalog(str(spec))
    doc, _ = validate_spec(spec, catalog)
    resolved = resolve_site(doc, catalog)
    image = write_image(ImageContents(Metadata("t", "0" * 64, "t", "m"), Target("xylo-imu", "xylo"), resolved.network))
    costly = _with_chip_figure(catalog, "xylo-imu", "inference_energy", 2000, "uJ")  # 2 mJ a window, every 15 s
    result = verify_bundle(doc, image, resolved, catalog=costly)
    p = result.summary()["power"]
    assert p["within_budget"] is False and p["inference_uW"] > p["budget_uW"] == 61.0
    [problem] = [d for d in result.diagnostics if d.code == "NM807"]
    assert problem.message.startswith("verify: with the kernel's counts inference needs ")
    assert problem.message.endswith("uW, more than the 61 uW budget")
