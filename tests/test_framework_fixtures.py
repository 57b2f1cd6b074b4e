"""Each framework's own NIR exporter against nmspec's reading of what it wrote.

tests/data/frameworks/ holds, per framework, files written by its real exporter and what
the framework itself computed on a 30-step input (tools/export_fixture_<framework>.py,
run in the framework's own environment, wrote them; tools/framework_fixtures.py describes
the layout). The manifest <framework>.json claims per fixture how nmspec reads it; every
claim is checked here against the framework's recorded output:
  exact         every population's spikes equal, membranes equal to float rounding
  lossy_export  the exporter dropped something of the model (the manifest says what): the
                import reads the file, and the recorded output differs from it
  refused       the import refuses the file with the manifest's NM code
and the import's warnings (NM307) are exactly the manifest's `warnings`.
docs/models.md's support matrix is generated from the same manifests.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from engine.resolve.floatnet import simulate
from engine.resolve.nir_import import ImportError_, read_nir

FIXTURES = Path(__file__).parent / "data" / "frameworks"
MANIFESTS = sorted(FIXTURES.glob("*.json"))
CASES = [(json.loads(m.read_text())["framework"], f) for m in MANIFESTS for f in json.loads(m.read_text())["fixtures"]]
# float32 in the framework against float64 here: membranes agree to float32 rounding of
# a few dozen accumulated terms
V_RTOL, V_ATOL = 2e-5, 2e-5


def _run(fixture: dict) -> tuple[dict, dict]:
    net = read_nir(FIXTURES / fixture["nir"], dt=fixture["dt"], convention=fixture["convention"])
    # what the import says about the file: the manifest's warnings, in order, and no others
    assert net.warnings == tuple(fixture.get("warnings", ()))
    with np.load(FIXTURES / fixture["record"]) as data:
        record = {k: data[k] for k in data.files}
    return simulate(net, record["input"], record=True), record


def test_every_framework_has_fixtures():
    assert sorted(json.loads(m.read_text())["framework"] for m in MANIFESTS) == ["norse", "rockpool", "sinabs", "snntorch", "spyx"]
    for manifest in MANIFESTS:
        data = json.loads(manifest.read_text())
        assert data["versions"][data["framework"]]
        for fixture in data["fixtures"]:
            assert (FIXTURES / fixture["nir"]).is_file() and (FIXTURES / fixture["record"]).is_file()
            assert fixture["reading"] in ("exact", "lossy_export", "refused")


@pytest.mark.parametrize("framework, fixture", CASES, ids=[f"{fw}-{f['model']}" for fw, f in CASES])
def test_the_reading_is_what_the_framework_computes(framework, fixture):
    if fixture["reading"] == "refused":
        with pytest.raises(ImportError_) as caught:
            read_nir(FIXTURES / fixture["nir"], dt=fixture["dt"], convention=fixture["convention"])
        assert [d.code for d in caught.value.diagnostics] == [fixture["code"]]
        return
    ours, theirs = _run(fixture)
    recorded = sorted(k for k in theirs if k != "input")
    assert recorded, fixture
    differs = []
    for key in recorded:
        name = key.split(":", 1)[1]
        mine = ours[name] if key.startswith("spikes:") else ours[f"v:{name}"]
        assert mine.shape == theirs[key].shape, key
        if key.startswith("spikes:"):
            same = np.array_equal(mine, theirs[key])
        else:
            same = np.allclose(mine, theirs[key], rtol=V_RTOL, atol=V_ATOL)
        if not same:
            differs.append(key)
    if fixture["reading"] == "exact":
        assert differs == []
    else:
        assert differs, f"{fixture['model']}: the framework's output matches a file said to lose {fixture['lost']}"


def test_rockpool_emits_several_spikes_in_a_step():
    """The multi-spike rule is exercised, not only allowed: floor(v / threshold) spikes."""
    fixture = next(f for fw, f in CASES if fw == "rockpool" and f["model"] == "cubalif_li")
    ours, theirs = _run(fixture)
    assert theirs["spikes:1_LIFTorch"].max() == 3
    np.testing.assert_array_equal(ours["1_LIFTorch"], theirs["spikes:1_LIFTorch"])


def test_a_spyx_recurrent_layer_reads_its_input_as_spyx_computes_it():
    """Spyx writes RLIF as a nested graph Input -> w_rec <-> lif: inlined literally, the
    external input would pass through the recurrent weights; Spyx adds it to v directly."""
    fixture = next(f for fw, f in CASES if fw == "spyx" and f["model"] == "rlif")
    import nir

    path = FIXTURES / fixture["nir"]
    net = read_nir(path, dt=1.0, convention="spyx")
    lif = "layer_1.layer_1.lif"
    into = {(p.src, p.delayed): p for p in net.into(lif)}
    assert sorted(into) == [("input", False), (lif, False)]
    graph = nir.read(str(path))
    np.testing.assert_array_equal(into[("input", False)].weight, np.asarray(graph.nodes["layer_0"].weight, dtype=np.float64).T)
    literal = read_nir(path, dt=1.0, convention="nir")
    assert literal.warnings == ((
        "nested graph 'layer_1': its Input feeds 'layer_1.layer_1.w_rec', the weights that also carry the feedback of "
        "'layer_1.layer_1.lif', so the external input passes through the recurrent weights; Spyx writes a recurrent "
        "layer this way and means the input to go to the neuron directly (model.convention: spyx reads it so)"),)
    ours = simulate(literal, np.load(FIXTURES / fixture["record"])["input"])
    with np.load(FIXTURES / fixture["record"]) as theirs:
        assert not np.array_equal(ours["layer_3"], theirs["spikes:layer_3"])


def test_the_warning_reaches_the_user_with_file_node_and_value(tmp_path):
    """nmspec build names the file, node and value of what the exporter lost, beside the
    error a later stage raises (here the model's 5 inputs against the chain's 16 channels)."""
    import shutil

    from spec_cases import run_cli

    shutil.copytree(Path(__file__).resolve().parents[1] / "specs", tmp_path / "specs")
    (tmp_path / "nmspec.toml").write_text("")
    models = tmp_path / "specs" / "examples" / "models"
    shutil.copy(FIXTURES / "snntorch_beta_above_one.nir", models / "trained.nir")
    spec = tmp_path / "specs" / "examples" / "acoustic-xylo.yaml"
    spec.write_text(spec.read_text().replace("source: models/acoustic.nir", "source: models/trained.nir"))
    code, _out, err = run_cli(["build", "specs/examples/acoustic-xylo.yaml", "--out", str(tmp_path / "out")], tmp_path)
    assert code == 1
    assert err.splitlines()[:3] == [
        ("specs/examples/acoustic-xylo.yaml:24:11: error[NM304]: model.source: the model takes 5 inputs but the "
         "preprocessing chain produces 16 channels"),
        ("specs/examples/acoustic-xylo.yaml:24:11: warning[NM307]: model.source: trained.nir: node '1' (LIF): tau "
         "-0.0016 gives a membrane decay per step of 1.0625 (neuron 0), outside 0..1: snnTorch writes a trained decay "
         "above 1 as a negative time constant and runs it clamped to 0..1; read clamped"),
        ("  hint: the file holds something its exporter would not write for a trained model; check model.convention "
         "and model.dt against the framework that wrote it, or re-export it (docs/models.md)"),
    ]


@pytest.mark.parametrize("family", ["xylo", "lif", "loihi"])
def test_what_no_kernel_runs_is_refused_by_name(family):
    """Several spikes per step (Rockpool) stay in the float reading; a quantizer whose kernels do
    not emit them names them instead of verifying something else. A step of spike latency (Spyx)
    is the step these kernels take between neurons: it deploys."""
    from engine.resolve.quantize import QuantizeError, quantize

    rockpool = read_nir(FIXTURES / "rockpool_lif_cubalif.nir", dt=1e-3, convention="rockpool")
    with pytest.raises(QuantizeError) as caught:
        quantize(rockpool, family)
    # Xylo's hidden neurons emit several spikes a step themselves: only its readout refuses
    chip = {"xylo": "Xylo's readout neurons emit at most one spike per neuron and step",
            "lif": "the lif kernels emit at most one spike per neuron and step",
            "loihi": ("Loihi neurons send no spike count: Loihi 1 spikes are binary, and Loihi 2's graded spikes (a "
                      "24-bit payload in Lava 0.10) carry a value, not floor(v / threshold) with the threshold "
                      "subtracted per spike (Lava's LIF sends binary spikes and resets v to 0; GradedVec sends its "
                      "step's input, Sigma-Delta a quantized change, lava-dl's graded CUBA its membrane)")}[family]
    assert [(d.code, d.message) for d in caught.value.diagnostics] == [
        ("NM311", (f"population '{name}' emits up to floor(v / threshold) spikes per step, at most 65536 (multi-spike: "
                   "rockpool's NIR export records no lower max_spikes_per_dt or SingleSpike); "
                   f"{chip}: a model trained with one spike per step says so with model.max_spikes.{role}: 1"))
        for name, role in (("1_LIFNeuronTorch", "hidden"), ("3_LIFTorch", "readout")) if family != "xylo" or role == "readout"]
    # Spyx's latency is the step these kernels take between neurons (tests/test_spyx_latency.py)
    spyx = read_nir(FIXTURES / "spyx_lif.nir", dt=1.0, convention="spyx")
    notes = quantize(spyx, family).notes
    assert any(n.startswith("layer_1, layer_3: one step of spike latency per layer, as spyx computes it") for n in notes)


def test_a_single_spike_rockpool_model_reads_with_max_spikes_one():
    """Rockpool writes max_spikes_per_dt nowhere: a model trained with 1 reads with max_spikes=1,
    where a neuron over twice its threshold emits one spike, not floor(v / threshold)."""
    fixture = next(f for fw, f in CASES if fw == "rockpool" and f["model"] == "cubalif_li")
    net = read_nir(FIXTURES / fixture["nir"], dt=1e-3, convention="rockpool", max_spikes=1)
    assert [p.max_spikes for p in net.populations] == [1, 1]
    with np.load(FIXTURES / fixture["record"]) as data:
        single = simulate(net, data["input"])["1_LIFTorch"]
        several = data["spikes:1_LIFTorch"]
    assert single.max() == 1 and several.max() == 3 and single.sum() < several.sum()
