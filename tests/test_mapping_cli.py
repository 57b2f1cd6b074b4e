"""nmspec map on the bundled examples (single-core Xylo, multi-core Loihi 2) and on a
copy of the Loihi example with smaller cores, so its network spans several of them."""

from __future__ import annotations

import json
import math
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml
from spec_cases import run_cli

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = sorted(str(p.relative_to(ROOT / "specs")) for folder in ("examples", "sites")
                  for p in (ROOT / "specs" / folder).glob("*.yaml"))
PUMP_NEURONS = 388  # pump.nir: 384 hidden + 4 output neurons (nmspec graph)


@pytest.fixture(scope="module")
def repo(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("repo")
    shutil.copytree(ROOT / "specs", root / "specs")
    (root / "nmspec.toml").write_text("")  # the spec repository's root, for the sites' extends
    pump = root / "specs" / "examples" / "pump-loihi.yaml"
    for name, per_core in (("pump-small-cores.yaml", 64), ("pump-tiny-cores.yaml", 2)):
        data = yaml.safe_load(pump.read_text())
        data["target"]["overrides"]["neurons_per_core"] = per_core
        (pump.parent / name).write_text(yaml.safe_dump(data, sort_keys=False))
    return root


def map_json(repo: Path, spec: str) -> dict:
    code, out, err = run_cli(["map", f"specs/{spec}", "--format", "json"], repo)
    assert code == 0, err
    return json.loads(out)


def graph_neurons(repo: Path, spec: str) -> int:
    code, out, err = run_cli(["graph", f"specs/{spec}", "--format", "json"], repo)
    assert code == 0, err
    return sum(n["size"] for n in json.loads(out)["nodes"] if n["kind"] == "neurons")


def test_the_xylo_map_shows_the_alias_neurons_the_build_adds(repo):
    """valve-xylo: 128 hidden + 3 readout neurons in the model; 5 hidden neurons have more
    than 64 recurrent targets and pass the rest to alias neurons after placement. The map
    shows the core as the image has it: 136 neurons, every synapse of both recurrent
    synapses (1632, the image's count), as input axons every channel and neuron that sends
    a synapse in the image, aliases included, and as output axons every neuron with a target
    (one core), both recounted from the image's matrices, and the aliases' neuron updates in
    the duty."""
    from engine.image import read_image
    from engine.pipeline import BuildOptions, build_site
    from engine.spec import repository_catalog

    summary = map_json(repo, "examples/valve-xylo.yaml")
    assert (summary["alias_neurons"], summary["cores"], summary["max_neurons"], summary["max_synapses"],
            summary["max_input_axons"], summary["max_output_axons"], summary["max_duty"],
            summary["route_groups"], summary["routes"]) == (5, 1, 136, 1632, 115, 99, 0.0091, 1, 1)
    assert summary["per_core"] == [{"core": 0, "x": 0, "y": 0, "neurons": 136, "synapses": 1632, "input_axons": 115,
                                    "output_axons": 99, "duty": 0.00915}]
    spec = repo / "specs/examples/valve-xylo.yaml"
    catalog, _ = repository_catalog(spec, ())
    net = read_image(build_site(spec, catalog, BuildOptions(verify=False, preview=True)).files["model.nmc"]).network
    assert net.n_neurons == 136 and int((net.population("hidden").params["alias"] >= 0).sum()) == 5
    senders = {(p.src, int(s)) for p in net.projections for s in np.nonzero(np.diff(p.weights.indptr))[0]}
    assert sum(p.weights.nnz for p in net.projections) == 1632
    assert len(senders) == 115 and len({s for s in senders if s[0] != "input"}) == 99
    code, text, err = run_cli(["map", "specs/examples/valve-xylo.yaml"], repo)
    assert code == 0, err
    assert text.splitlines()[3:] == [
        "5 alias neuron(s) carry fan-out past the chip's limit, each on its source's core (counted below)",
        "  core    x,y  neurons  synapses  in axons out axons    duty",
        "     0    0,0      136      1632       115        99   0.92%"]


@pytest.mark.parametrize("spec", EXAMPLES)
def test_map_every_example(repo, spec):
    summary = map_json(repo, spec)
    per_core = summary["per_core"]
    assert len(per_core) == summary["cores"] >= summary["lower_bound"] >= 1
    # the map the build uses: the graph's neurons and Xylo's alias neurons
    assert sum(c["neurons"] for c in per_core) == graph_neurons(repo, spec) + summary["alias_neurons"]
    assert summary["max_duty"] <= 0.7
    code, text, err = run_cli(["map", f"specs/{spec}"], repo)
    assert code == 0, err
    chip = summary["chip"]
    assert text.startswith(f"{chip}: {summary['cores']} core(s) used, lower bound {summary['lower_bound']}, on a "
                           f"{summary['mesh'][0]} x {summary['mesh'][1]} mesh")
    assert len(text.splitlines()) == 4 + (summary["alias_neurons"] > 0) + summary["cores"]


@pytest.mark.parametrize("spec", ["examples/acoustic-xylo.yaml", "examples/compressor.yaml",
                                  "sites/plant-7-compressor-3.yaml"])
def test_xylo_maps_onto_its_one_core(repo, spec):
    summary = map_json(repo, spec)
    assert (summary["cores"], summary["lower_bound"], summary["mesh"]) == (1, 1, [1, 1])
    assert (summary["traffic_spikes_per_s"], summary["spikes_hops_per_s"]) == (0.0, 0.0)


def test_loihi_example_on_small_cores_spans_several(repo):
    summary = map_json(repo, "examples/pump-small-cores.yaml")
    assert summary["lower_bound"] == math.ceil(PUMP_NEURONS / 64) == 7
    assert summary["cores"] == 7
    assert sum(c["neurons"] for c in summary["per_core"]) == PUMP_NEURONS
    assert max(c["neurons"] for c in summary["per_core"]) == 64
    assert summary["spikes_hops_per_s"] > 0
    assert summary["routes"] > summary["route_groups"] > 0
    positions = {(c["x"], c["y"]) for c in summary["per_core"]}
    assert len(positions) == 7 and all(0 <= x < 16 and 0 <= y < 8 for x, y in positions)


def test_network_larger_than_the_chip_says_by_how_much(repo):
    code, out, err = run_cli(["map", "specs/examples/pump-tiny-cores.yaml"], repo)
    assert code == 1
    assert out == ""
    assert ("error[NM603]: the network needs at least 194 cores (388 neurons at 2 per core); the chip has 128, "
            "66 too few") in err


def test_map_output_identical_across_hash_seeds(repo):
    outputs = set()
    for seed in ("0", "4242"):
        env = dict(os.environ, PYTHONHASHSEED=seed)
        done = subprocess.run([sys.executable, "-m", "engine", "map", "specs/examples/pump-small-cores.yaml",
                               "--format", "json"], cwd=repo, env=env, capture_output=True, text=True, check=True)
        outputs.add(done.stdout)
    assert len(outputs) == 1
