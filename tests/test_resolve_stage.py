"""Resolve: fit against the target's limits, the safety table, the placement graph, `nmspec fit`."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import networkx as nx
import numpy as np
import pytest

from engine.catalog import builtin_catalog
from engine.netlist import INPUT, Population, Projection, QuantNetwork, Weights, frozen_array
from engine.resolve import resolve
from engine.resolve.fit import check_fit
from engine.resolve.graph import to_json
from engine.resolve.safety import check_safety
from engine.spec import repository_catalog, validate_spec

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = sorted((ROOT / "specs" / "examples").glob("*.yaml"))


def _xylo_net(n_in: int, n_hidden: int, n_out: int) -> QuantNetwork:
    def params(n, syn):
        return {"dash_syn": frozen_array(np.ones((n, syn)), np.int32), "dash_mem": frozen_array(np.ones(n), np.int32),
                "threshold": frozen_array(np.full(n, 100), np.int32), "bias": frozen_array(np.zeros(n), np.int32),
                **({"alias": frozen_array(np.full(n, -1), np.int32)} if syn == 1 and n == n_hidden else {})}

    hidden = Population("hidden", n_hidden, params(n_hidden, 1))
    output = Population("output", n_out, {k: v for k, v in params(n_out, 1).items() if k != "alias"})
    w_in = np.zeros((n_in, n_hidden), dtype=np.int64)
    w_in[np.arange(n_hidden) % n_in, np.arange(n_hidden)] = 3  # one input per hidden neuron
    w_out = np.ones((n_hidden, n_out), dtype=np.int64)
    return QuantNetwork("xylo", 1e-3, n_in, (hidden, output),
                        (Projection(INPUT, "hidden", Weights.from_dense(w_in), 0, 0),
                         Projection("hidden", "output", Weights.from_dense(w_out), 0, 0)), "output")


def test_a_network_too_large_for_xylo_imu_names_every_limit_with_its_numbers():
    chip = builtin_catalog().part("chips", "xylo-imu")
    report = check_fit(_xylo_net(20, 600, 20), chip)
    assert report.verdict == "does not fit"
    assert [v.describe("xylo-imu") for v in report.violations] == [
        "600 hidden neurons > 496 on xylo-imu",
        "20 output neurons > 16 on xylo-imu",
        "600 hidden neurons fed by the input > 128 on xylo-imu",
        "20 input channels > 16 on xylo-imu",
    ]
    assert report.reason().startswith("600 hidden neurons > 496 on xylo-imu; 20 output neurons > 16 on xylo-imu")


def test_near_a_limit_is_marginal_and_says_how_near():
    chip = builtin_catalog().part("chips", "xylo-imu")
    report = check_fit(_xylo_net(16, 120, 4), chip)  # 120 of the 128 input-fed neurons: 94%
    assert report.verdict == "marginal"
    assert report.reason() == "hidden neurons fed by the input at 94% of 128"
    assert check_fit(_xylo_net(16, 64, 4), chip).verdict == "fits"


def test_an_override_replaces_the_catalog_limit():
    chip = builtin_catalog().part("chips", "xylo-imu")
    report = check_fit(_xylo_net(16, 64, 4), chip, {"hidden_neurons": 32})
    assert [v.describe("xylo-imu") for v in report.violations] == ["64 hidden neurons > 32 on xylo-imu"]


# ---- safety ---------------------------------------------------------------------------------

SITE = {"safety": {"class": "sil2"}, "runtime": {"learning": "locked", "update": {"slots": 2, "rollback": "auto"}},
        "environment": {"temperature": ["-20C", "85C"]}, "target": {}}


def _findings(spec, chip_id):
    return [(f.code, f.message) for f in check_safety(typed(spec), builtin_catalog().part("chips", chip_id))]

def typed(sections):
    """The compressor example with these top-level sections in place of its own (and no
    safety, runtime or environment settings of its own), as the typed model."""
    import yaml

    from engine.spec.model import site_spec
    from engine.spec.render import with_defaults

    data = yaml.safe_load((Path(__file__).resolve().parents[1] / "specs/examples/compressor.yaml").read_text())
    data = {k: v for k, v in data.items() if k not in ("safety", "runtime", "environment")}
    data["target"] = {"chip": data["target"]["chip"], "mcu": data["target"]["mcu"]}
    for name, section in sections.items():
        data[name] = {**data.get(name, {}), **section} if name == "target" else section
    return site_spec(with_defaults(data)[0])



def test_a_digital_target_with_locked_learning_and_rollback_passes_sil2():
    assert _findings(SITE, "xylo-imu") == []


def test_sil1_and_above_refuse_an_analog_target_and_say_why():
    assert _findings({**SITE, "safety": {"class": "sil1"}}, "innatera-t1") == [
        ("NM501", ("safety.class sil1: innatera-t1 is a mixed-signal target; its results drift with temperature, "
                  "so it is excluded from safety-instrumented use")),
        ("NM508", ("safety.class sil1: innatera-t1 is a stand-in: its image runs on another family's arithmetic; "
                   "safety classes above none require a vendor-verified target")),
        ("NM506", ("innatera-t1 is mixed-signal: its dynamics change with temperature; the spec must declare "
                  "temperature compensation")),
    ]


def test_sil1_and_above_require_a_vendor_verified_target():
    assert _findings(SITE, "loihi2") == [
        ("NM508", ("safety.class sil2: loihi2 is documented: no vendor bit-accurate simulator has been compared with "
                   "its kernel; safety classes above none require a vendor-verified target"))]
    assert _findings(SITE, "akd1000") == [
        ("NM508", ("safety.class sil2: akd1000 is a stand-in: its image runs on another family's arithmetic; "
                   "safety classes above none require a vendor-verified target"))]
    assert _findings({**SITE, "safety": {"class": "none"}}, "akd1000") == []
    levels = {chip: builtin_catalog().part("chips", chip).fidelity for chip in builtin_catalog().ids("chips")}
    # vendor-verified only where xylosim is compared with the kernel in tests/test_kernel_xylosim.py
    assert sorted(c for c, f in levels.items() if f == "vendor-verified") == ["xylo-audio2", "xylo-audio3", "xylo-imu"]
    assert sorted(c for c, f in levels.items() if f == "documented") == ["generic-lif", "loihi1", "loihi2", "speck"]


def test_an_analog_target_without_sil_needs_compensation_and_a_temperature_range():
    spec = {"safety": {"class": "none"}, "target": {"temperature_compensation": True}}
    assert _findings(spec, "innatera-t1") == [
        ("NM507", "an analog target needs the site's temperature range (environment.temperature)")]
    spec = {**spec, "environment": {"temperature": ["0C", "40C"]}}
    assert _findings(spec, "innatera-t1") == []


def test_sil_requires_locked_learning_and_automatic_rollback():
    spec = {**SITE, "runtime": {"learning": "unlocked", "update": {"slots": 1, "rollback": "auto"}}}
    assert _findings(spec, "xylo-imu") == [
        ("NM502", "safety.class sil2: on-chip learning must be locked: weights may not change in the field"),
        ("NM503", "safety.class sil2: one model slot leaves nothing to roll back to; use slots: 2"),
    ]
    spec = {**SITE, "runtime": {"learning": "locked", "update": {"slots": 2, "rollback": "manual"}}}
    assert _findings(spec, "xylo-imu") == [
        ("NM503", "safety.class sil2: rollback is 'manual'; a failed update must roll back automatically")]
    assert _findings({**spec, "safety": {"class": "none"}}, "xylo-imu") == []


# ---- resolving the examples -------------------------------------------------------------------

@pytest.fixture(scope="module")
def deployments():
    out = {}
    for path in EXAMPLES:
        catalog, _ = repository_catalog(str(path), ())
        doc, diagnostics = validate_spec(str(path), catalog)
        assert doc is not None, diagnostics
        out[path.stem] = resolve(doc, catalog)
    return out


def test_every_example_resolves_fits_and_lives_long_enough(deployments):
    for name, deployment in deployments.items():
        assert deployment.fit.verdict in ("fits", "marginal"), (name, deployment.fit.reason())
        assert deployment.power is not None, name
        assert deployment.power.life_years >= deployment.power.required_years, name
        assert deployment.safety == (), name


def test_placement_graph_runs_sensor_to_alerts_with_typed_nodes(deployments):
    graph = deployments["compressor"].graph
    assert nx.is_directed_acyclic_graph(graph)
    path = nx.shortest_path(graph, "sensor", "alerts")
    assert path == ["sensor", "stage:dc_block", "stage:notch", "stage:lowpass", "stage:decimate", "stage:band_energy",
                    "encoder", "pop:hidden", "pop:output", "alerts"]
    kinds = {n: d["kind"] for n, d in graph.nodes(data=True)}
    assert kinds["sensor"] == "sensor" and kinds["encoder"] == "encoder" and kinds["alerts"] == "alerts"
    assert {n for n, d in graph.nodes(data=True) if d["domain"] == "chip"} == {"pop:hidden", "pop:output"}
    network = deployments["compressor"].network
    for src, dst, edge in graph.edges(data=True):
        if graph.nodes[dst]["kind"] == "neurons":
            projections = [p for p in network.projections
                           if p.dst == graph.nodes[dst]["population"]
                           and (p.src == INPUT if src == "encoder" else f"pop:{p.src}" == src)]
            assert edge["synapses"] == sum(p.weights.nnz for p in projections)
            assert edge["rate_hz"] >= 0
    assert graph.nodes["pop:hidden"]["size"] + graph.nodes["pop:output"]["size"] == network.n_neurons
    assert graph.nodes["pop:hidden"]["rate_hz"] > 0  # calibration saw activity
    json.loads(to_json(graph))


def test_loihi_graph_has_one_node_per_population(deployments):
    deployment = deployments["pump-loihi"]
    graph = deployment.graph
    assert {d["population"] for _, d in graph.nodes(data=True) if d["kind"] == "neurons"} == \
        {p.name for p in deployment.network.populations}
    layers = [graph.nodes[f"pop:{p.name}"]["layer"] for p in deployment.network.populations]
    assert layers == sorted(layers) and layers[0] == 1


def _cli(*args):
    return subprocess.run([sys.executable, "-m", "engine", *args], check=False, cwd=ROOT, capture_output=True, text=True, timeout=300)


def test_nmspec_fit_ranks_every_catalog_target():
    result = _cli("fit", "specs/examples/compressor.yaml")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == "target xylo-imu (vendor-verified): fits (within every known limit (unknown: fan_in_max))"
    assert "  hidden neurons                           32 of 496" in lines
    start = lines.index("targets for this spec, best first:")
    rows = lines[start + 2:]
    ranked = [row[2:].split()[0] for row in rows if row.strip()]
    assert sorted(ranked) == sorted(builtin_catalog().ids("chips"))
    verdicts = {row[2:].split()[0]: row for row in rows if row.strip()}
    assert "refused" in verdicts["innatera-t1"] and "mixed-signal target" in verdicts["innatera-t1"]
    assert "does not fit" in verdicts["truenorth"]
    assert " stand-in " in verdicts["akd1000"] and " vendor-verified " in verdicts["xylo-imu"]
    # no power figures for gating it: never a fit, and what the catalog does know is said
    assert " power unknown " in verdicts["xylo-audio2"]
    assert verdicts["xylo-audio2"].endswith("power unknown: xylo-audio2 sleep_power not verified (powered, it draws at "
                                            "least its 219 uW idle, 3.59x the 61 uW budget)")
    order = {"fits": 0, "marginal": 1, "power unknown": 2, "over budget": 3, "refused": 4, "does not fit": 5}
    ranks = [next(rank for word, rank in order.items() if f" {word} " in row) for row in rows if row.strip()]
    assert ranks == sorted(ranks)


def test_nmspec_graph_formats():
    dot = _cli("graph", "specs/examples/compressor.yaml", "--format", "dot")
    assert dot.returncode == 0, dot.stderr
    assert dot.stdout.startswith('digraph "xylo-imu" {')
    assert '"pop:hidden" -> "pop:output"' in dot.stdout
    data = json.loads(_cli("graph", "specs/examples/compressor.yaml", "--format", "json").stdout)
    assert {n["id"] for n in data["nodes"]} >= {"sensor", "encoder", "pop:hidden", "pop:output", "alerts"}


def test_stimuli_that_leave_the_network_silent_are_an_error_at_the_stimuli(tmp_path):
    import shutil

    for folder in ("models", "traces"):
        shutil.copytree(ROOT / "specs" / "examples" / folder, tmp_path / folder)
    text = (ROOT / "specs" / "examples" / "compressor.yaml").read_text()
    assert "threshold: 0.0625" in text
    (tmp_path / "site.yaml").write_text(text.replace("threshold: 0.0625", "threshold: 1"))
    (tmp_path / "nmspec.toml").write_text("")
    result = subprocess.run([sys.executable, "-m", "engine", "fit", "site.yaml"], check=False, cwd=tmp_path,
                            capture_output=True, text=True, timeout=300)
    line = next(i for i, row in enumerate(text.splitlines(), 1) if row.lstrip().startswith("stimuli:"))
    assert result.returncode == 1
    assert result.stdout == ""
    assert result.stderr == (
        f"site.yaml:{line}:12: error[NM316]: verify.stimuli: the network quantized for xylo emits no output spike on "
        "the 24 calibration window(s); the float model emits 0\n"
        "  hint: the float model is silent too: the encoder emits too few spikes for these stimuli; lower the encode "
        "threshold or check the stimuli (nmspec simulate shows the input spikes)\n")
