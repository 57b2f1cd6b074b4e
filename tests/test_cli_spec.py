import json
import shutil
from pathlib import Path

import yaml
from spec_cases import CASES, run_cli

ROOT = Path(__file__).resolve().parents[1]


def make_repo(tmp_path: Path) -> Path:
    repo = tmp_path / "repo"
    shutil.copytree(CASES / "invalid" / "inherited-value-error", repo)
    (repo / "nmspec.toml").write_text("")
    (repo / "model.nir").write_bytes(b"")
    return repo


def test_json_output_is_data(tmp_path):
    repo = make_repo(tmp_path)
    code, out, err = run_cli(["validate", "--output", "json", "spec.yaml"], repo)
    assert code == 1 and err == ""
    (item,) = json.loads(out)
    assert item == {
        "severity": "error", "code": "NM201", "path": "/power/budget",
        "message": "power.budget: expected a power like '61uW', got '61uA' (a current)",
        "file": "base.yaml", "line": 26, "column": 11, "hint": "a power takes the unit W",
        "chain": ["spec.yaml:3:10"],
    }


def test_github_output_annotates_the_line(tmp_path):
    repo = make_repo(tmp_path)
    code, _out, err = run_cli(["validate", "--output", "github", "spec.yaml"], repo)
    assert code == 1
    assert err.startswith("::error file=base.yaml,line=26,col=11,title=NM201::power.budget: expected a power")


def test_folder_validation_reports_a_shared_base_once(tmp_path):
    repo = make_repo(tmp_path)
    (repo / "site2.yaml").write_text((repo / "spec.yaml").read_text().replace("site-2", "site-3"))
    code, _out, err = run_cli(["validate", "."], repo)
    assert code == 1
    assert err.count("error[NM201]") == 1


def test_examples_validate_and_render():
    code, out, err = run_cli(["validate", "specs/"], ROOT)
    assert (code, err) == (0, ""), err
    assert out == "10 specs valid, 1 rollout valid\n"
    code, out, err = run_cli(["render", "specs/sites/plant-9-compressor-1.yaml"], ROOT)
    assert code == 0
    rendered = yaml.safe_load(out)
    assert rendered["environment"]["mains"] == "60Hz"
    assert rendered["preprocessing"][1] == {"id": "mains", "notch": {"freq": "60Hz", "harmonics": 3, "q": 30}}
    assert rendered["power"]["battery"] == {"cell": "er34615", "lifetime": "15y", "count": 1}
    assert rendered["runtime"]["update"]["rollback"] == "auto"
    assert "extends" not in rendered


def test_render_show_origin_names_file_and_line():
    code, out, _err = run_cli(["render", "--show-origin", "specs/sites/plant-9-compressor-1.yaml"], ROOT)
    assert code == 0
    lines = out.splitlines()
    assert "  mains: 60Hz  # specs/sites/plant-9-compressor-1.yaml:10" in lines
    assert "  part: lis2dw12  # specs/base/compressor.yaml:10" in lines
    assert "  chip_mode: duty_cycled  # specs/base/compressor.yaml:40" in lines
    assert "    count: 1  # (default)" in lines


def test_render_is_valid_yaml_that_validates_again(tmp_path):
    code, out, _ = run_cli(["render", "specs/examples/compressor.yaml"], ROOT)
    target = ROOT / "specs" / "examples" / ".rendered-test.yaml"
    try:
        target.write_text(out)
        code, _out2, err = run_cli(["validate", str(target.relative_to(ROOT))], ROOT)
        assert (code, err) == (0, "")
    finally:
        target.unlink()


def test_schema_command_prints_the_committed_schema():
    code, out, _ = run_cli(["schema"], ROOT)
    assert code == 0
    assert json.loads(out) == json.loads((ROOT / "schemas" / "nmspec.schema.json").read_text())


def test_targets_table_and_json():
    code, out, _ = run_cli(["targets"], ROOT)
    assert code == 0
    row = next(line for line in out.splitlines() if line.startswith("xylo-imu "))
    assert row.split() == ["xylo-imu", "xylo", "digital", "vendor-verified", "16", "496", "16", "1", "8", "188uW", "?",
                           "?", "?", "?", "yes"]
    energies = {line.split()[0]: line.split()[-4:-1] for line in out.splitlines()[2:] if len(line.split()) == 15}
    assert energies["loihi1"] == ["23.6pJ", "81pJ", "?"] and energies["truenorth"] == ["26pJ", "0pJ", "?"]
    assert energies["xylo-audio2"] == ["?", "?", "6.6uJ"]
    fidelity = {line.split()[0]: line.split()[3] for line in out.splitlines()[2:] if len(line.split()) > 3
                and line.split()[3] in ("vendor-verified", "documented", "stand-in")}
    assert fidelity["akd1000"] == "stand-in" and fidelity["loihi2"] == "documented"
    code, out, _ = run_cli(["targets", "--output", "json"], ROOT)
    chips = {c["id"]: c for c in json.loads(out)}
    assert chips["innatera-t1"]["implementation"] == "mixed-signal"
    assert chips["innatera-t1"]["fidelity"] == "stand-in"
    assert chips["innatera-t1"]["fidelity_basis"].startswith("a mixed-signal fabric run as deterministic digital LIF")
    assert chips["xylo-imu"]["figures"]["sleep_power"]["value"] is None


def test_missing_path_and_usage_errors(tmp_path):
    code, _out, err = run_cli(["validate", "nope.yaml"], tmp_path)
    assert (code, err) == (1, "nope.yaml: error[NM012]: no such file or folder\n")
    code, _out, err = run_cli(["validate"], tmp_path)
    assert code == 2 and "the following arguments are required: PATH" in err


def test_the_schema_lists_exactly_the_catalog_parts():
    """The editor's schema names every built-in part, and only those: it is regenerated from
    the catalog (python -m engine.spec.schema_source) whenever a part is added."""
    from engine.catalog import builtin_catalog

    schema = json.loads((ROOT / "schemas" / "nmspec.schema.json").read_text())
    props = schema["properties"]
    fields = {"chips": props["target"]["properties"]["chip"], "mcus": props["target"]["properties"]["mcu"],
              "sensors": props["sensor"]["properties"]["part"], "cells": props["power"]["properties"]["battery"]["properties"]["cell"],
              "radios": props["power"]["properties"]["radio"]["properties"]["part"]}
    catalog = builtin_catalog()
    for kind, field in fields.items():
        assert field["enum"] == list(catalog.ids(kind)), kind
        assert field["enumDescriptions"][field["enum"].index(catalog.ids(kind)[0])].startswith(
            catalog.part(kind, catalog.ids(kind)[0]).name)
