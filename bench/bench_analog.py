"""The analog example's Monte Carlo over temperature at scale: 64 chips instead of the 8 the
spec (and the test suite) use, to see how far the 8-chip figures move with more draws. Timed
against a baseline measured in the same run: one pass of the kernel over the same windows."""

from __future__ import annotations

import json
import time
from pathlib import Path

from engine import pipeline
from engine.resolve.drift import drift_model, temperature_bands
from engine.verify import kernel
from engine.verify.drift import temperature_sweep

ROOT = Path(__file__).resolve().parents[1]
SPEC = ROOT / "specs" / "examples" / "compressor-analog.yaml"
CHIPS = (8, 64)


def main() -> None:
    catalog = pipeline.builtin_catalog()
    doc, _ = pipeline.validate_spec(SPEC, catalog)
    assert doc is not None
    deployment = pipeline.resolve_site(doc, catalog)
    spec, network = deployment.spec, deployment.network
    assert deployment.stimuli is not None and deployment.stimulus_spikes is not None and spec.environment.temperature
    windows, labels = deployment.stimulus_spikes, deployment.stimuli.labels
    model = drift_model(catalog.part("chips", spec.target.chip), spec.part_overrides()["chips"])
    thermal = pipeline.thermal_table(spec, network, catalog)
    low, high = spec.environment.temperature
    bands = temperature_bands(low, high, spec.target.compensation.bands, spec.target.compensation.hysteresis)
    for window in windows[:2]:
        kernel.run(network, window)  # compile and warm up before timing
    start = time.perf_counter()
    for window in windows:
        kernel.run(network, window)
    baseline = time.perf_counter() - start
    temperature_sweep(network, windows[:2], labels[:2], model, bands, thermal, 1, 0)  # compile the drifted loop
    results = {"spec": SPEC.relative_to(ROOT).as_posix(), "windows": int(windows.shape[0]),
               "kernel_pass_s": round(baseline, 4), "runs": []}
    print(f"one kernel pass over {windows.shape[0]} windows: {baseline:.3f} s")
    print(f"{'chips':>6} {'seconds':>8} {'x kernel pass':>14}  worst band: uncompensated -> compensated (mean accuracy)")
    for chips in CHIPS:
        start = time.perf_counter()
        sweep = temperature_sweep(network, windows, labels, model, bands, thermal, chips, spec.verify.drift.seed
                                  if spec.verify is not None else 0)
        seconds = time.perf_counter() - start
        summary = sweep.summary()
        worst = summary["worst_band"]
        plain, comp = worst["uncompensated"], worst["compensated"]
        print(f"{chips:>6} {seconds:>8.2f} {seconds / baseline:>14.0f}  band {plain['band']} "
              f"{plain['accuracy']['mean']:.1%} -> band {comp['band']} {comp['accuracy']['mean']:.1%}")
        results["runs"].append({"chips": chips, "seconds": round(seconds, 3), "ratio": round(seconds / baseline, 1),
                                "bands": summary["bands"], "worst_band": worst,
                                "mismatch_accuracy": summary["mismatch_accuracy"]})
    out = ROOT / "bench" / "results" / "analog.json"
    out.write_text(json.dumps(results, indent=2, sort_keys=True) + "\n")
