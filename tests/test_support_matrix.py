"""docs/models.md's support matrix is what tools/support_matrix.py measures on the
frameworks' fixtures today, and the tool's verdicts can say no: a spike moved in a
framework's record is found, and a refusal is quoted with its code."""

from __future__ import annotations

import importlib.util
import json
import shutil
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]


def _tool():
    spec = importlib.util.spec_from_file_location("support_matrix", ROOT / "tools" / "support_matrix.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["support_matrix"] = module
    spec.loader.exec_module(module)
    return module


def test_the_doc_shows_what_the_fixtures_give_today():
    tool = _tool()
    frameworks = {m["framework"] for m in tool.manifests(tool.DATA)}
    assert {"rockpool", "snntorch"} <= frameworks
    doc = (ROOT / "docs" / "models.md").read_text()
    assert tool.with_section(doc, tool.section()) == doc, "run python tools/support_matrix.py --write"
    for framework in frameworks:
        assert f"**{framework}** (" in doc


def test_a_changed_record_and_a_refusal_show_in_the_table(tmp_path):
    tool = _tool()
    manifest = json.loads((tool.DATA / "snntorch.json").read_text())
    entry = next(f for f in manifest["fixtures"] if f["model"] == "leaky")
    for name in (entry["nir"], entry["record"]):
        shutil.copy(tool.DATA / name, tmp_path / name)
    net, record, verdict = tool.read_fixture(entry, tmp_path)
    assert verdict == "exact"
    readout = f"spikes:{net.output}"
    moved = dict(record)
    moved[readout] = record[readout].copy()
    step, neuron = map(int, np.argwhere(record[readout] > 0)[0])
    moved[readout][step, neuron] = 0
    np.savez(tmp_path / entry["record"], **moved)
    assert tool.read_fixture(entry, tmp_path)[2] == "differs: 1 spikes"
    # an LI readout is read by its membrane; a membrane the framework did not record differs
    lif_li = json.loads((tool.DATA / "norse.json").read_text())
    entry = next(f for f in lif_li["fixtures"] if "LI" in f["node_types"])
    net, record, _ = tool.read_fixture(entry, tool.DATA)
    assert tool.deploy(net, record, "loihi") == "membrane readout: same class, r = 0.985"
    flipped = dict(record)
    flipped[f"v:{net.output}"] = -record[f"v:{net.output}"]
    assert tool.deploy(net, flipped, "loihi").startswith("membrane readout: another class, r = -0.98")
    # a refusal quotes the code and the reason
    spyx = json.loads((tool.DATA / "spyx.json").read_text())
    entry = next(f for f in spyx["fixtures"] if f["model"] == "psu")
    net, record, _ = tool.read_fixture(entry, tool.DATA)
    assert tool.deploy(net, record, "loihi") == "refused NM310: population 'layer_1' (li) does not spike"
