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
