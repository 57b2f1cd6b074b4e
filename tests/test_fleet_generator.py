"""tools/make_fleet.py: a deterministic spec repository of valid, distinct sites."""

from __future__ import annotations

import importlib.util
from collections import Counter
from pathlib import Path

import yaml
from spec_cases import run_cli

ROOT = Path(__file__).resolve().parents[1]
_spec = importlib.util.spec_from_file_location("make_fleet", ROOT / "tools" / "make_fleet.py")
make_fleet = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(make_fleet)


def tree(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_the_same_seed_gives_the_same_bytes_and_another_seed_other_sites(tmp_path):
    make_fleet.make_fleet(tmp_path / "a", 40, seed=3)
    make_fleet.make_fleet(tmp_path / "b", 40, seed=3)
    make_fleet.make_fleet(tmp_path / "c", 40, seed=4)
    a, b, c = tree(tmp_path / "a"), tree(tmp_path / "b"), tree(tmp_path / "c")
    assert a == b
    sites_a = {k: v for k, v in a.items() if k.startswith("sites/")}
    sites_c = {k: v for k, v in c.items() if k.startswith("sites/")}
    assert sites_a != sites_c
    assert {k: v for k, v in a.items() if not k.startswith("sites/")} == \
        {k: v for k, v in c.items() if not k.startswith("sites/")}


def test_sites_are_distinct_overlays_of_a_few_bases(tmp_path):
    specs = make_fleet.make_fleet(tmp_path, 200, seed=7)
    assert (tmp_path / "nmspec.toml").is_file()
    assert len(specs) == 200
    data = [yaml.safe_load(p.read_text()) for p in specs]
    names = [d["metadata"]["site"] for d in data]
    assert len(set(names)) == 200
    extends = Counter(d["extends"] for d in data)
    assert set(extends) == {f"../../regions/{r}/{b}.yaml" for r in ("eu", "us") for b in ("compressor", "air-header")}
    for spec, d in zip(specs, data):
        assert (spec.parent / d["extends"]).is_file()
        assert d["kind"] == "SiteDeployment" and set(d) <= {"apiVersion", "kind", "extends", "metadata",
                                                            "preprocessing", "power"}
    mains = {r: yaml.safe_load((tmp_path / "regions" / r / "compressor.yaml").read_text())["environment"]["mains"]
             for r in ("eu", "us")}
    assert mains == {"eu": "50Hz", "us": "60Hz"}
    harmonics = Counter(stage["notch"]["harmonics"] for d in data for stage in d["preprocessing"] if "notch" in stage)
    thresholds = Counter(stage["encode"]["threshold"] for d in data for stage in d["preprocessing"] if "encode" in stage)
    assert set(harmonics) == {1, 2, 3} and set(thresholds) == set(make_fleet.THRESHOLDS)
    # every compressor overrides its notch; air headers have none
    assert sum(harmonics.values()) == sum(n for e, n in extends.items() if e.endswith("/compressor.yaml"))
    # stimuli and models are shared: two bases, each naming its own files once
    bases = [yaml.safe_load((tmp_path / "base" / f"{b}.yaml").read_text()) for b in ("compressor", "air-header")]
    assert [b["verify"]["stimuli"] for b in bases] == [
        ["../traces/compressor-nominal.npz", "../traces/compressor-fault.npz"],
        ["../traces/acoustic-nominal.npz", "../traces/acoustic-fault.npz"]]


def test_every_site_and_base_is_valid(tmp_path):
    make_fleet.make_fleet(tmp_path, 12, seed=7)
    code, out, err = run_cli(["validate", "."], tmp_path)
    assert code == 0, err
    assert out == "18 specs valid\n"  # 12 sites, 2 bases, 4 regional overlays
