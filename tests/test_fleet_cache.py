"""The build cache on a small synthetic fleet: a second build reads nothing it need not, and
changing a referenced file, a base overlay or a catalog entry rebuilds exactly the sites
whose specs (read here with plain YAML, independently of nmspec) depend on it."""

from __future__ import annotations

import importlib.util
import os
import time
from pathlib import Path

import numpy as np
import pytest
import yaml
from spec_cases import run_cli

from engine import fleet

ROOT = Path(__file__).resolve().parents[1]
_spec = importlib.util.spec_from_file_location("make_fleet", ROOT / "tools" / "make_fleet.py")
make_fleet = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(make_fleet)

BUILD = ["build", "sites", "--out", "out", "--no-verify", "--jobs", "1"]
HEADER = "site                    status      cache    time  agreement  accuracy"


def summary(out: str) -> tuple[dict[str, tuple[str, str]], str]:
    """{site: (status, cache)} and the totals line of a build's summary table."""
    lines = out.splitlines()
    assert lines[0] == HEADER
    rows = {}
    for line in lines[1:-1]:
        site, rest = line.split("  ", 1)
        status, cache = rest[:10].strip(), rest[12:17].strip()
        rows[site.strip()] = (status, cache)
    return rows, lines[-1]


def sites_where(repo: Path, predicate) -> set[str]:
    out = set()
    for path in (repo / "sites").rglob("*.yaml"):
        data = yaml.safe_load(path.read_text())
        if predicate(data):
            out.add(data["metadata"]["site"])
    return out


@pytest.fixture(scope="module")
def repo(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("fleet")
    make_fleet.make_fleet(root, 8, seed=7, safety_class="none")
    # files written in the second before a build are not trusted by the index; these are older
    past = time.time() - 60
    for path in root.rglob("*"):
        os.utime(path, (past, past))
    return root


@pytest.fixture(scope="module")
def all_sites(repo) -> set[str]:
    return sites_where(repo, lambda data: True)


def build(repo: Path) -> tuple[dict[str, tuple[str, str]], str]:
    code, out, err = run_cli(BUILD, repo)
    assert code == 0, err
    return summary(out)


def misses(rows) -> set[str]:
    return {site for site, (_, cache) in rows.items() if cache == "miss"}


def test_first_build_writes_every_site_and_the_second_reads_only_the_index(repo, all_sites, monkeypatch):
    rows, totals = build(repo)
    assert rows == {site: ("written", "miss") for site in all_sites}
    # two models, each read once (2 computed, 6 shared); every site's chain and quantization
    # differ (8 + 8); its float model's outputs on the nominal stimuli are computed once and
    # shared by the sanity bounds (8 computed, 8 shared)
    assert totals == "8 sites under out/: 8 written; 0 from the cache; stage results: 26 computed, 14 shared"
    # nothing changed: no site is validated, hashed or read from the cache
    monkeypatch.setattr(fleet, "build_one", lambda job: pytest.fail(f"{job.spec} was rebuilt"))
    monkeypatch.setattr(fleet.Cache, "get", lambda self, key: pytest.fail("a cached bundle was read"))
    rows, totals = build(repo)
    assert rows == {site: ("up to date", "hit") for site in all_sites}
    assert totals == "8 sites under out/: 8 up to date; 8 from the cache"


def test_an_edited_bundle_is_rewritten_from_the_cache(repo, all_sites):
    build(repo)
    site = min(all_sites)
    report = repo / "out" / site / "report.json"
    original = report.read_bytes()
    report.write_bytes(original.replace(b'"site"', b'"Site"'))
    rows, _ = build(repo)
    assert rows[site] == ("written", "hit")
    assert report.read_bytes() == original
    assert {s for s, (status, _) in rows.items() if status != "up to date"} == {site}


def test_a_changed_trace_rebuilds_exactly_the_sites_that_reference_it(repo, all_sites):
    build(repo)
    trace = repo / "traces" / "acoustic-nominal.npz"
    with np.load(trace) as loaded:
        arrays = {name: loaded[name] for name in loaded.files}
    arrays["samples"] = arrays["samples"] // 2
    np.savez(trace, **arrays)
    expected = sites_where(repo, lambda d: "/air-header.yaml" in d["extends"])
    assert expected and expected != all_sites
    rows, _ = build(repo)
    assert misses(rows) == expected
    assert build(repo)[0] == {site: ("up to date", "hit") for site in all_sites}


def test_a_changed_overlay_rebuilds_exactly_the_sites_that_extend_it(repo, all_sites):
    build(repo)
    overlay = repo / "regions" / "us" / "compressor.yaml"
    overlay.write_text(overlay.read_text() + "alerts: {retries: 2}\n")
    expected = sites_where(repo, lambda d: d["extends"] == "../../regions/us/compressor.yaml")
    assert expected and expected != all_sites
    rows, _ = build(repo)
    assert misses(rows) == expected
    assert all(rows[site][0] == "written" for site in expected)


def test_a_changed_catalog_entry_rebuilds_exactly_the_sites_that_use_the_part(repo, all_sites):
    build(repo)
    builtin = yaml.safe_load((ROOT / "engine" / "catalog" / "data" / "cells.yaml").read_text())
    part = builtin["cells"]["er34615"]
    part["figures"]["capacity"] = {"value": 17.0, "unit": "Ah", "verified": "derived", "source": "linden",
                                   "note": "the low-drain figure of the same cell"}
    (repo / "catalog").mkdir()
    (repo / "catalog" / "cells.yaml").write_text(yaml.safe_dump(
        {"apiVersion": builtin["apiVersion"], "kind": builtin["kind"], "cells": {"er34615": part}}, sort_keys=False))
    expected = sites_where(repo, lambda d: d["power"]["battery"]["cell"] == "er34615")
    assert expected and expected != all_sites
    rows, _ = build(repo)
    assert misses(rows) == expected
    # the other sites were validated again (the catalog changed) but came from the cache
    assert {site for site, (_, cache) in rows.items() if cache == "hit"} == all_sites - expected


def test_the_key_hashes_every_build_option_and_the_tool_itself(tmp_path, monkeypatch):
    base = fleet.BuildContext("tool", "catalog", "unsigned", True, None)
    variants = [fleet.BuildContext("tool2", "catalog", "unsigned", True, None),
                fleet.BuildContext("tool", "catalog", "signer", True, None),
                fleet.BuildContext("tool", "catalog", "unsigned", False, None),
                fleet.BuildContext("tool", "catalog", "unsigned", True, 1700000000)]
    assert len({v.key_base for v in variants} | {base.key_base}) == 5
    assert len({v.digest for v in variants} | {base.digest}) == 5
    other_catalog = fleet.BuildContext("tool", "catalog2", "unsigned", True, None)
    assert other_catalog.key_base == base.key_base and other_catalog.digest != base.digest
    # the tool digest covers templates/ (and the code and schemas) byte for byte
    folders = [tmp_path / "engine", tmp_path / "templates", tmp_path / "schemas"]
    for folder in folders:
        folder.mkdir()
        (folder / "a.txt").write_text("x")
    monkeypatch.setattr(fleet, "_tool_folders", lambda: tuple(folders))
    fleet.tool_digest.cache_clear()
    try:
        before = fleet.tool_digest()
        (tmp_path / "templates" / "a.txt").write_text("y")
        fleet.tool_digest.cache_clear()
        assert fleet.tool_digest() != before
    finally:
        fleet.tool_digest.cache_clear()
