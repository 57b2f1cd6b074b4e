"""Battery life over the site's temperature range (the worst-band rule), worked by hand
against a cell whose tables are round numbers."""

from __future__ import annotations

import attrs
import pytest

from engine.catalog import builtin_catalog, check_figures, parts_from_data
from engine.diagnostics import Origin
from engine.resolve.power import battery_life, cell_life, temperature_derating

K = 273.15
CELL = {"cells": {"round-cell": {
    "name": "a cell with round tables", "chemistry": "li-socl2",
    "figures": {
        "capacity_vs_temperature": {"value": [[-40, 50], [-20, 80], [20, 100]], "unit": "%", "verified": "defined"},
        "self_discharge_vs_temperature": {"value": [[20, 1], [60, 3], [85, 10]], "unit": "%", "verified": "defined"},
    }}}}


def _cell():
    return parts_from_data(CELL, "test")["cells"]["round-cell"]


def test_worst_band_takes_the_coldest_capacity_and_the_hottest_self_discharge():
    derating = temperature_derating(_cell(), (-30 + K, 70 + K), 0.01)
    # capacity at -30 C: halfway from 50 % (-40 C) to 80 % (-20 C) = 65 %
    assert derating.capacity_factor == pytest.approx(0.65)
    # self-discharge at 70 C: 3 % + (10 - 3) % x (70 - 60) / (85 - 60) = 5.8 %/y
    assert derating.self_discharge_per_year == pytest.approx(0.058)
    assert derating.notes == ("capacity 65.0% of rated at -30 C (defined)",
                              "self-discharge 5.800%/y at 70 C (defined)")


def test_the_ends_a_table_need_not_cover():
    # warmer than the capacity table and colder than the self-discharge table need no figure;
    # colder than the capacity table and hotter than the self-discharge table are said to be unknown
    derating = temperature_derating(_cell(), (-50 + K, 90 + K), 0.01)
    assert derating.capacity_factor == pytest.approx(0.50)
    assert derating.self_discharge_per_year == pytest.approx(0.10)
    assert derating.notes == ("capacity 50.0% of rated at -40 C (defined)",
                              "capacity not derated over -50 C..-40 C: no checked figure for the round-cell there",
                              "self-discharge 10.000%/y at 85 C (defined)",
                              "self-discharge not derated over 85 C..90 C: no checked figure for the round-cell there")
    mild = temperature_derating(_cell(), (25 + K, 40 + K), 0.01)
    assert (mild.capacity_factor, mild.self_discharge_per_year, mild.notes) == \
        (1.0, pytest.approx(0.02), ("self-discharge 2.000%/y at 40 C (defined)",))


def test_derated_life_by_hand():
    derating = temperature_derating(_cell(), (-30 + K, 70 + K), 0.01)
    # 2.6 Ah x 0.65 = 1.69 Ah; leak 1.69 x 0.058 / 8766 h = 11.1818 uA; 10 uA load
    # life = 1.69 Ah / 21.1818 uA = 79,785 h = 9.1017 y (17.0 y at 20 C with 1 %/y)
    usable, leak, years = cell_life(2.6 * derating.capacity_factor, 0.0, derating.self_discharge_per_year, 10e-6)
    assert usable == pytest.approx(1.69)
    assert leak == pytest.approx(11.1818e-6, rel=1e-5)
    assert years == pytest.approx(9.1017, rel=1e-4)


def test_without_a_site_temperature_the_room_figures_stand():
    derating = temperature_derating(_cell(), None, 0.01)
    assert (derating.capacity_factor, derating.self_discharge_per_year, derating.notes) == (1.0, 0.01, ())
    assert derating.describe() == ("no environment.temperature: the cell's room-temperature figures: capacity x1, "
                                   "self-discharge 1.000%/y; ")


def test_a_builtin_cell_says_what_it_cannot_derate():
    cell = builtin_catalog().part("cells", "er14505")
    derating = temperature_derating(cell, (-20 + K, 85 + K), 0.01)
    assert (derating.capacity_factor, derating.self_discharge_per_year) == (1.0, 0.01)
    assert derating.notes == ("capacity not derated: no checked figure gives the er14505's capacity over -20 C..85 C",
                              "self-discharge not derated over 20 C..85 C: no checked figure for the er14505 there")


@pytest.mark.parametrize("value", [[[20, 1], [10, 2]], [[20]], [20, 1], [[20, "1"]]])
def test_a_malformed_table_is_refused(value):
    data = {"cells": {"bad": {"name": "bad", "chemistry": "li-socl2", "figures": {
        "self_discharge_vs_temperature": {"value": value, "unit": "%", "verified": "defined"}}}}}
    found = check_figures(data, lambda pointer: Origin("cells.yaml", 1, 1))
    assert [(d.code, d.message) for d in found] == [
        ("NM202", ("cells.bad.figures.self_discharge_vs_temperature: must be a list of [temperature in C, value] "
                  "pairs in rising temperature"))]


def _life_cell(table):
    data = {"cells": {"life-cell": {"name": "a 2.6 Ah cell", "chemistry": "li-socl2", "figures": {
        "capacity": {"value": 2.6, "unit": "Ah", "verified": "defined"},
        "self_discharge": {"value": 1, "unit": "%", "verified": "defined"},
        "service_life_max": {"value": 40, "unit": "y", "verified": "defined"},
        "self_discharge_vs_temperature": {"value": table, "unit": "%", "verified": "defined"}}}}}
    return parts_from_data(data, "test")["cells"]["life-cell"]


def test_the_service_life_cap_is_checked_against_the_derated_self_discharge():
    cell = _life_cell([[20, 1], [85, 4]])
    # at 20 C: leak 2.6 x 0.01 / 8766 = 2.9660 uA; with 2 uA of load 2.6 / 4.9660 uA = 523,561 h
    # = 59.73 y, capped at 40 y
    room = battery_life(cell, 1, 2e-6, (20 + K, 20 + K), None)
    assert (room.years, room.cap_years) == (pytest.approx(40.0), pytest.approx(40.0))
    assert room.uncapped_years == pytest.approx(59.726, rel=1e-4)
    # at 85 C: 4 %/y leaks 11.8640 uA; 2.6 / 13.8640 uA = 187,536 h = 21.39 y, under the cap
    hot = battery_life(cell, 1, 2e-6, (-20 + K, 85 + K), None)
    assert hot.leak_a == pytest.approx(11.8640e-6, rel=1e-4)
    assert hot.years == pytest.approx(21.394, rel=1e-4) and hot.uncapped_years is None


# er14505 as the built-in catalog has it, with a repository's temperature tables (round
# numbers standing in for a datasheet's)
REPO_CELL = """apiVersion: nmspec/v1
kind: PartCatalog
cells:
  er14505:
    name: ER14505 with a repository's temperature tables
    chemistry: li-socl2
    figures:
      nominal_voltage: {value: 3.6, unit: V, verified: defined}
      self_discharge: {value: 1, unit: "%", verified: defined}
      operating_temperature: {value: [-55, 85], unit: C, verified: defined}
      service_life_max: {value: 40, unit: y, verified: defined}
      capacity_vs_temperature: {value: [[-40, 60], [0, 90], [20, 100]], unit: "%", verified: defined}
      self_discharge_vs_temperature: {value: [[20, 1], [60, 2], [85, 4]], unit: "%", verified: defined}
"""


def test_fit_states_the_derating_and_the_life_follows_it(tmp_path):
    import json
    import shutil
    import subprocess
    import sys
    from pathlib import Path

    root = tmp_path / "repo"
    shutil.copytree(Path(__file__).resolve().parents[1] / "specs", root / "specs")
    (root / ".git").mkdir()
    (root / "catalog").mkdir()
    (root / "catalog" / "cells.yaml").write_text(REPO_CELL)
    spec = root / "specs" / "examples" / "compressor.yaml"

    def fit(*extra):
        return subprocess.run([sys.executable, "-m", "engine", "fit", str(spec), *extra], cwd=root, capture_output=True,
                              text=True, check=False, timeout=300)

    power = json.loads(fit("--output", "json").stdout)["spec"]["power"]
    # -20..85 C: capacity at -20 C = 60 % + 30 % x 20 / 40 = 75 %, self-discharge at 85 C = 4 %/y
    assert power["temperature"] == {
        "rule": "worst band", "site_C": [-20.0, 85.0], "capacity_factor": 0.75, "self_discharge_per_year": 0.04,
        "notes": ["capacity 75.0% of rated at -20 C (defined)", "self-discharge 4.000%/y at 85 C (defined)"],
        "derating": "worst band of the site's -20..85 C (capacity at the coldest point, self-discharge at the hottest): "
                    "capacity x0.75, self-discharge 4.000%/y; capacity 75.0% of rated at -20 C (defined); "
                    "self-discharge 4.000%/y at 85 C (defined)"}
    # the spec's 2.6 Ah x 0.75 = 1.95 Ah; 4 %/y of it leaks 1.95 x 0.04 / 8766 h = 8.898 uA
    assert power["usable_Ah"] == pytest.approx(1.95)
    assert power["self_discharge_uA"] == pytest.approx(1.95 * 0.04 / 8766 * 1e6, abs=1e-4)
    assert power["life_years"] == pytest.approx(1.95 / (power["total_uA"] * 1e-6) / 8766, abs=1e-3)
    text = fit().stdout
    assert "  temperature: " + power["temperature"]["derating"] + "\n" in text
    # the ranking's life is the derated one too
    own = next(line for line in text.splitlines() if line.startswith("* xylo-imu"))
    assert f"{power['life_years']:.1f} y" in own


def test_a_measured_load_gives_a_life_under_the_same_cap():
    from engine.resolve.power import PowerReport
    from engine.telemetry.measured import MeasuredLoad, life_with

    derating = temperature_derating(_life_cell([[20, 1]]), None, 0.01)
    # 2.6 Ah, 2.966 uA of self-discharge: a measured 1 uA would last 2.6 / 3.966 uA = 74.8 y;
    # the cell's 40 years cap it, as they cap the model's life
    power = PowerReport((), 3.6, 2.6, 2.966e-6, 1e-6, 40.0, 10.0, 0.0, None, 74.8, 40.0, derating)
    load = MeasuredLoad(1e-6, 30, "s", "status.json", "now", "rev")
    assert life_with(power, load) == 40.0
    assert life_with(power, attrs.evolve(load, current_a=20e-6)) == pytest.approx(2.6 / 22.966e-6 / 8766)
