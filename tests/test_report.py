"""The HTML report: byte-identical renders, every image it references exists, the figures
of report.json appear on the page, absent sections say so, spec strings are escaped; and
the whole path from a built bundle through tools/deployment_report.py."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest

from engine.evaluate import Evaluation, score
from engine.report import HeldOut, RasterPanel, ReportInputs, render_report
from engine.report.collect import resources
from engine.report.html import percent, plain, verification_rows, with_unit

ROOT = Path(__file__).resolve().parents[1]
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"

REPORT = {
    "site": "plant-9/<compressor & co>",
    "spec": "specs/sites/plant-9.yaml",
    "spec_hash": "ab" * 32,
    "chip": "xylo-imu",
    "family": "xylo",
    "mapping": {"cores": 1, "lower_bound": 1, "mesh": [1, 1], "traffic_spikes_per_s": 285.458,
                "spikes_hops_per_s": 0.0, "routes": 1},
    "notes": ["lif1: 3 neurons can never fire"],
    "quantization": [{"population": "lif1", "size": 32, "total_weights": 512, "zeroed_weights": 96,
                      "weight_error": 0.0102, "never_fire": 3}],
    "resolve": {
        "fit": {"verdict": "fits", "reason": "within every known limit",
                "limits": [{"name": "hidden neurons", "used": 32, "allowed": 496},
                           {"name": "fan-in per neuron", "used": 26, "allowed": None},
                           {"name": "input channels", "used": 16, "allowed": 16}]},
        "power": {"budget_uW": 61.0, "inference_uW": 44.917, "life_years": 12.627, "required_years": 10.0,
                  "total_uA": 23.4895, "total_uW": 73.885, "usable_Ah": 2.6, "voltage_V": 3.6,
                  "consumers": [{"name": "sensor", "part": "lis2dw12", "share": 0.2574, "uA": 6.0467},
                                {"name": "mcu", "part": "stm32l4", "share": 0.3959, "uA": 9.3006},
                                {"name": "radio", "part": "sx1262", "share": 0.0343, "uA": 0.8059}],
                  "details": {"mcu": "1,220,000 cycles per window at 16 MHz"}},
        "safety": {"class": "sil2", "findings": []},
    },
    "verification": {"agreement": 0.9792, "min_agreement": 0.95, "passed": True, "windows": 48, "steps": 4800,
                     "deterministic": True, "spike_count_correlation": [0.99, 1.0], "synaptic_ops": 1967326,
                     "cycles": {"per_step_max": 5120}, "bit_exact_c": True},
}


def evaluation() -> Evaluation:
    labels = (0, 0, 0, 1, 1, 2, 3)
    classes = ("normal", "bearing", "imbalance", "looseness")
    return Evaluation(classes, labels, ("held.npz",) * 7, score((0, 0, 1, 1, 0, 2, 3), labels, 4),
                      score((0, 0, 0, 1, 0, 2, 3), labels, 4))


def inputs(**changes) -> ReportInputs:
    rng = np.random.default_rng(0)
    rows = (("input channel", rng.integers(0, 3, (20, 5)), None), ("hidden neuron", rng.integers(0, 2, (20, 6)), None))
    panels = tuple(RasterPanel(title, rows + (("output", rng.integers(0, 2, (20, 4)), ("n", "b", "i", "l")),))
                   for title in ("window 0: normal, classified normal", "window 3: bearing, classified bearing"))
    e = evaluation()
    base = {"report": REPORT, "bundle_files": (("model.nmc", 5760), ("report.json", 4000)),
                "resources": resources(REPORT), "cores": ({"core": 0, "x": 0, "y": 0, "neurons": 36, "synapses": 497,
                                                     "input_sources": 27, "duty": 0.0027},),
                "raster": panels, "dt": 0.01,
                "held_out": HeldOut(e, "7 windows of unseen installations.",
                                 (("incipient", e.kernel.detection_where(e.labels, [True] * 7),
                                   e.float.detection_where(e.labels, [True] * 7)),)),
                "training": ("epoch  loss", "    1  1.4184")}
    base.update(changes)
    return ReportInputs(**base)


class Page(HTMLParser):
    def __init__(self):
        super().__init__()
        self.images: list[str] = []
        self.ids: set[str] = set()
        self.text: list[str] = []
        self.cells: list[str] = []
        self._cell: list[str] | None = None

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "img":
            self.images.append(attrs["src"])
        if "id" in attrs:
            self.ids.add(attrs["id"])
        if tag in ("td", "th"):
            self._cell = []

    def handle_endtag(self, tag):
        if tag in ("td", "th") and self._cell is not None:
            self.cells.append(" ".join("".join(self._cell).split()))
            self._cell = None

    def handle_data(self, data):
        self.text.append(data)
        if self._cell is not None:
            self._cell.append(data)

    @property
    def words(self) -> str:
        return " ".join(" ".join(self.text).split())


def parse(files: dict[str, bytes]) -> Page:
    page = Page()
    page.feed(files["report.html"].decode("utf-8"))
    return page


def test_two_renders_are_byte_identical():
    assert render_report(inputs()) == render_report(inputs())


def test_plots_are_the_same_bytes_under_another_hash_seed_and_matplotlibrc(tmp_path):
    (tmp_path / "matplotlibrc").write_text("font.size: 20\naxes.facecolor: red\n")
    code = ("import sys, hashlib; sys.path.insert(0, sys.argv[1]); from tests.test_report import inputs; "
            "from engine.report import render_report; files = render_report(inputs()); "
            "print({k: hashlib.sha256(v).hexdigest() for k, v in sorted(files.items())})")
    env = dict(os.environ, PYTHONHASHSEED="12345", MPLCONFIGDIR=str(tmp_path), MATPLOTLIBRC=str(tmp_path))
    out = subprocess.run([sys.executable, "-c", code, str(ROOT)], env=env, cwd=tmp_path, capture_output=True,
                         text=True, check=True).stdout
    import hashlib

    here = {k: hashlib.sha256(v).hexdigest() for k, v in sorted(render_report(inputs()).items())}
    assert out.strip() == str(here)


def test_every_referenced_image_exists_and_is_a_png():
    files = render_report(inputs())
    page = parse(files)
    assert sorted(page.images) == ["plots/confusion.png", "plots/cores.png", "plots/power.png", "plots/raster.png"]
    assert sorted(f for f in files if f != "report.html") == sorted(page.images)
    for name in page.images:
        assert files[name].startswith(PNG_MAGIC)
        assert b"Software" not in files[name] and b"matplotlib" not in files[name]


def test_the_page_shows_the_figures_of_report_json():
    page = parse(render_report(inputs()))
    words = page.words
    assert "12.6 y" in words and "battery life (required 10 y)" in words
    assert "44.9 uW" in words and "budget 61 uW" in words
    # uW = uA x V, self-discharge included: 23.49 x 3.6 = 84.56
    assert ("23.49 uA average at 3.6 V (84.6 uW, the cell's self-discharge included) from 2.6 Ah usable: 12.6 years "
            "against 10 required.") in words
    for c in REPORT["resolve"]["power"]["consumers"]:
        assert f"{c['uA']:.3f}" in page.cells and percent(c["share"]) in page.cells
    assert "1,220,000 cycles per window at 16 MHz" in page.cells
    power = {**REPORT["resolve"]["power"], "life_note": "capped at the cell's 40-year service life",
             "temperature": {"derating": "worst band of the site's -20..85 C: capacity x0.75"}}
    derated = parse(render_report(inputs(report={**REPORT, "resolve": {**REPORT["resolve"], "power": power}})))
    assert "Temperature: worst band of the site's -20..85 C: capacity x0.75." in derated.words
    assert "Battery life capped at the cell's 40-year service life." in derated.words
    assert "unknown" in page.cells  # the fan-in limit without an allowed figure
    # every verification figure, including ones this page has no label for
    for label, text in verification_rows(REPORT["verification"]):
        assert label in page.cells and text in page.cells
    assert "cycles: per step max" in page.cells and "5 120" in page.cells
    assert "bit exact c" in page.cells and "yes" in page.cells
    assert "97.9%" in page.cells and "1 967 326" in page.cells
    assert "Mapping: 1 core(s) used (lower bound 1) on a 1 x 1 mesh" in words


def test_the_accuracy_table_holds_both_models():
    page = parse(render_report(inputs()))
    cells = page.cells
    row = cells.index("detection rate (fault classified as any fault)")
    assert cells[row + 1 : row + 3] == ["75.0%", "75.0%"]  # 3 of 4 faults, both
    row = cells.index("false-alarm rate (normal classified as a fault)")
    assert cells[row + 1 : row + 3] == ["33.3%", "0.0%"]  # the kernel called one normal window bearing
    row = cells.index("normal recognised as normal")
    assert cells[row + 1 : row + 3] == ["2 of 3", "3 of 3"]
    row = cells.index("detection, incipient")
    assert cells[row + 1 : row + 3] == ["3 of 4 (75.0%)", "3 of 4 (75.0%)"]
    assert "kernel and float pick the same class" in cells
    assert {"card-detection", "card-false-alarm", "accuracy-table", "cores", "bundle-files"} <= page.ids


def test_absent_sections_say_so_and_reference_no_image():
    bare = dict(REPORT)
    del bare["verification"]
    files = render_report(inputs(report=bare, held_out=None, raster=(), resources=()))
    page = parse(files)
    assert page.images == ["plots/power.png"]
    assert set(files) == {"report.html", "plots/power.png"}
    assert "No held-out traces were given; only the verification stimuli above were measured." in page.words
    assert "The bundle was built without verification." in page.words
    assert "No stimulus windows to run." in page.words


def test_spec_strings_are_escaped():
    html = render_report(inputs())["report.html"].decode()
    assert "plant-9/&lt;compressor &amp; co&gt;" in html
    assert "<compressor" not in html


def test_plain_numbers():
    assert plain(True) == "yes" and plain(1967326) == "1 967 326" and plain(0.123456) == "0.1235"
    assert plain(None) == "unknown" and with_unit("cycles.dynamic_energy_j", None) == "unknown"
    assert plain([0.99, 1.0]) == "0.99, 1" and percent(float("nan")) == "-"
    assert with_unit("cycles.peak_latency_s", 5.9e-05) == "59 us" and with_unit("cycles.dt_s", 0.01) == "10 ms"
    assert with_unit("cycles.min_clock_hz", 295000.0) == "295 kHz" and with_unit("cycles.clock_hz", 5e7) == "50 MHz"
    assert with_unit("cycles.energy_per_window_j", 0.000188) == "188 uJ" and with_unit("agreement", 1.0) == "100.0%"
    assert with_unit("cycles.real_time", True) == "yes" and with_unit("power.total_uW", 73.885) == "73.89"


@pytest.fixture(scope="module")
def bundle(tmp_path_factory):
    from engine.catalog import builtin_catalog
    from engine.fs import write_atomically
    from engine.pipeline import BuildOptions, build_site

    result = build_site(ROOT / "specs/examples/compressor.yaml", builtin_catalog(), BuildOptions(preview=True))
    folder = tmp_path_factory.mktemp("build") / "compressor-1"
    write_atomically(result.files, folder)
    return folder


def test_deployment_report_from_a_built_bundle(bundle, capsys):
    sys.path.insert(0, str(ROOT / "tools"))
    try:
        import deployment_report
    finally:
        sys.path.remove(str(ROOT / "tools"))
    held_out = ROOT / "specs/examples/traces/compressor-heldout.npz"
    assert deployment_report.main([str(bundle), "--spec", str(ROOT / "specs/examples/compressor.yaml"),
                                   "--held-out", str(held_out)]) == 0
    out = bundle.with_name("compressor-1-report")
    printed = capsys.readouterr().out
    assert printed.splitlines()[0] == "held-out accuracy: 150 windows of installations the model never saw"
    assert printed.splitlines()[-1] == f"report: {out / 'report.html'}"
    files = {p.relative_to(out).as_posix(): p.read_bytes() for p in out.rglob("*") if p.is_file()}
    page = parse(files)
    assert all(src in files for src in page.images) and len(page.images) == 4
    report = json.loads((bundle / "report.json").read_text())
    assert f"{report['resolve']['power']['life_years']:.1f} y" in page.words
    assert percent(report["verification"]["agreement"]) in page.words
    manifest = json.loads((bundle / "manifest.json").read_text())
    assert all(name in page.cells for name in manifest["files"])
    assert "150 windows (60 normal, 30 bearing, 30 imbalance, 30 looseness) from compressor-heldout.npz" in page.words
    assert "weights sha256" in page.words  # the model's training log
    # cycles, latency and energy of the image on the stimuli, whether or not the build recorded them
    assert {"latency per step: peak", "energy per window", "lowest real-time clock"} <= set(page.cells)


def test_deployment_report_refuses_a_bundle_of_another_spec(bundle, tmp_path, capsys):
    import shutil

    sys.path.insert(0, str(ROOT / "tools"))
    try:
        import deployment_report
    finally:
        sys.path.remove(str(ROOT / "tools"))
    other = tmp_path / "other"
    shutil.copytree(bundle, other)
    report = json.loads((other / "report.json").read_text())
    report["spec_hash"] = "0" * 64
    (other / "report.json").write_text(json.dumps(report))
    assert deployment_report.main([str(other), "--spec", str(ROOT / "specs/examples/compressor.yaml")]) == 1
    assert capsys.readouterr().err == (f"{other} was built from another version of "
                                       f"{ROOT / 'specs/examples/compressor.yaml'} or of the files it names; "
                                       "rebuild the bundle first\n")
    assert not (tmp_path / "other-report").exists()


def bundle_firmware(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted((folder / "firmware").glob("*")) if p.is_file()}


def test_firmware_on_the_host_is_bit_exact_with_the_chain_and_the_kernel(bundle):
    from engine.catalog import builtin_catalog
    from engine.image import read_image
    from engine.pipeline import resolve_site
    from engine.report.host_run import run_on_host
    from engine.resolve.stimuli import load_traces
    from engine.spec import validate_spec

    doc, _ = validate_spec(ROOT / "specs/examples/compressor.yaml", builtin_catalog())
    resolved = resolve_site(doc, builtin_catalog())
    stimuli = load_traces([ROOT / "specs/examples/traces/compressor-heldout.npz"])
    pick = [0, 60, 90]  # normal, bearing, imbalance
    network = read_image((bundle / "model.nmc").read_bytes()).network
    run = run_on_host(bundle_firmware(bundle), stimuli.samples[pick], resolved.chain, network)
    assert run.problem == ""
    assert (run.windows, run.steps, run.chain_exact, run.spikes_exact) == (3, 300, 3, 3)
    assert run.bit_exact
    from engine.evaluate import kernel_classes

    assert list(run.classes) == [int(c) for c in kernel_classes((bundle / "model.nmc").read_bytes(),
                                                                resolved.chain.run(stimuli.samples[pick]))]


def test_firmware_that_does_not_build_is_reported_not_hidden(bundle):
    from engine.report.host_run import run_on_host

    firmware = bundle_firmware(bundle)
    broken = dict(firmware, **{"fallback.c": b"#error broken on purpose\n" + firmware["fallback.c"]})
    run = run_on_host(broken, np.zeros((2, 1600, 3), dtype=np.int16), None, None)
    assert run.problem.startswith("make host failed: ") and "broken on purpose" in run.problem
    assert not run.bit_exact and run.windows == 2 and run.steps == 0
    del firmware["host_main.c"]
    assert run_on_host(firmware, np.zeros((1, 16, 3), dtype=np.int16), None, None).problem == \
        "the bundle has no host program (firmware/host_main.c)"


def test_firmware_section_from_the_host_run_and_the_cortex_m4_figures():
    from engine.report.host_run import HostRun

    with_firmware = dict(REPORT, firmware={"cortex_m4": {"flash_bytes": 53448, "ram_bytes": 50828}})
    page = parse(render_report(inputs(report=with_firmware, host=HostRun(7, 700, 7, 7, (0,) * 7))))
    assert ("the C signal chain equals the Python fixed-point chain on 7 of 7 windows and the C CPU fallback "
            "equals the kernel's spikes in every population on 7 of 7 (700 steps): bit exact.") in page.words
    assert page.cells[page.cells.index("cortex m4: flash bytes") + 1] == "53 448"
    page = parse(render_report(inputs(host=HostRun(7, 0, 0, 0, (), "make or gcc not found"))))
    assert "The firmware was not run on the host: make or gcc not found." in page.words
    assert "No Cortex-M4 build figures in report.json (build with --firmware-size)." in page.words
    page = parse(render_report(inputs(host=HostRun(7, 700, 7, 6, (0,) * 7))))
    assert "on 6 of 7 (700 steps)." in page.words and "(700 steps): bit exact" not in page.words


def test_raster_shows_the_first_window_the_kernel_classifies_as_its_class(bundle):
    from engine.catalog import builtin_catalog
    from engine.evaluate import kernel_classes
    from engine.pipeline import resolve_site
    from engine.report.collect import raster_panels
    from engine.resolve.stimuli import load_traces
    from engine.spec import validate_spec

    doc, _ = validate_spec(ROOT / "specs/examples/compressor.yaml", builtin_catalog())
    resolved = resolve_site(doc, builtin_catalog())
    stimuli = load_traces([ROOT / "specs/examples/traces/compressor-heldout.npz"])
    image = (bundle / "model.nmc").read_bytes()
    pick = np.r_[0:3, 60:66]  # three normal windows, six bearing windows
    samples, labels = stimuli.samples[pick], stimuli.labels[pick]
    predicted = kernel_classes(image, resolved.chain.run(samples))
    classes = doc.data["model"]["labels"]
    panels = raster_panels(image, resolved.chain, samples, labels, classes)
    for panel, label in zip(panels, (0, 1), strict=True):
        hits = [i for i in range(len(labels)) if labels[i] == label and predicted[i] == label]
        first = hits[0] if hits else int(np.nonzero(labels == label)[0][0])
        assert panel.title == f"window {first}: {classes[label]}, classified {classes[predicted[first]]}"
        assert [name for name, _, _ in panel.rows] == ["input channel", "hidden neuron", "output"]
        assert panel.rows[-1][2] == tuple(classes)
        np.testing.assert_array_equal(panel.rows[0][1], resolved.chain.run(samples[first]))


def test_a_stand_in_target_says_so_above_every_figure():
    stand_in = {**REPORT, "chip": "akd1000", "family": "lif",
                "fidelity": {"level": "stand-in", "basis": "run on nmspec's generic LIF arithmetic"},
                "verification": {**REPORT["verification"], "fidelity": "stand-in",
                                 "verdict": "verification passed on stand-in arithmetic: not a verification of the akd1000"}}
    page = parse(render_report(inputs(report=stand_in)))
    assert ("Target fidelity: stand-in. run on nmspec's generic LIF arithmetic. Every figure below is of nmspec's "
            "stand-in arithmetic, not of the akd1000.") in page.words
    assert "verdict verification passed on stand-in arithmetic: not a verification of the akd1000" in page.words
    verified = parse(render_report(inputs(report={**REPORT, "fidelity": {"level": "vendor-verified", "basis": "x"}})))
    assert "Target fidelity" not in verified.words
