import math
from pathlib import Path

import pytest

from engine.catalog import CatalogError, MissingFigure, builtin_catalog, load_catalog

SHARED_IDS = {
    "chips": {"xylo-audio2", "xylo-audio3", "xylo-imu", "loihi1", "loihi2", "truenorth", "akd1000",
              "akida-pico", "innatera-t1", "speck", "spinnaker2", "generic-lif", "loihi3", "northpole", "akd1500", "akida2"},
    "sensors": {"lis2dw12", "iis3dwb", "adxl355", "adxl357", "adxl1002", "ics43434", "ics41350", "im69d130"},
    "mcus": {"stm32l4", "stm32u5", "stm32u3", "nrf52840"},
    "radios": {"sx1262"},
    "cells": {"er14505", "er34615", "ls26500", "cr2032"},
}


def test_builtin_catalog_holds_the_agreed_parts():
    catalog = builtin_catalog()
    for kind, ids in SHARED_IDS.items():
        assert set(catalog.ids(kind)) == ids


def test_figures_are_si_and_keep_their_sources():
    chip = builtin_catalog().part("chips", "xylo-audio2")
    assert math.isclose(chip.require("idle_power"), 219e-6)
    assert chip.figure("idle_power").verified == "secondary"
    assert chip.citations("inference_energy") == (
        "H. Bos, D. Muir, 'Micro-power spoken keyword spotting on Xylo Audio 2', arXiv:2406.15112",)
    assert builtin_catalog().part("cells", "cr2032").require("capacity") == pytest.approx(0.225)
    assert builtin_catalog().part("sensors", "lis2dw12").figure("ranges").si() == [2.0, 4.0, 8.0, 16.0]


def test_unverified_figure_is_never_used_silently():
    cell = builtin_catalog().part("cells", "er14505")
    with pytest.raises(MissingFigure) as info:
        cell.require("capacity")
    assert info.value.message == (
        "cell er14505: figure 'capacity' is not verified in any source (2.6 Ah is the usual catalogue value "
        "but was not read in a datasheet; Linden shows an AA bobbin cell rated 2.4 Ah)")
    assert info.value.hint == (
        "supply it in the spec (power.battery.overrides: {capacity: 2.6Ah}) or in a catalog file of your repository, with its source")
    assert cell.require("capacity", {"capacity": 2.6}) == 2.6


def test_every_null_figure_is_marked_unverified_and_every_number_has_a_source_or_is_derived():
    for kind in SHARED_IDS:
        for part_id in builtin_catalog().ids(kind):
            part = builtin_catalog().part(kind, part_id)
            for name, figure in part.figures.items():
                assert (figure.value is None) == (figure.verified == "unverified"), (part_id, name)
                if figure.verified in ("primary", "secondary"):
                    assert figure.source, (part_id, name)
                    assert all(key in part.sources for key in figure.source), (part_id, name)


def test_repository_catalog_adds_and_overrides_parts(tmp_path):
    (tmp_path / "parts.yaml").write_text(
        "apiVersion: nmspec/v1\nkind: PartCatalog\ncells:\n"
        "  er14505:\n    name: ER14505 as measured by us\n    chemistry: li-socl2\n    figures:\n"
        "      capacity: {value: 2.4, unit: Ah, verified: primary, source: lab}\n"
        "    sources: {lab: 'incoming inspection report 2026-03'}\n"
        "  my-cell:\n    name: Our custom pack\n    chemistry: li-socl2\n    figures:\n"
        "      capacity: {value: 5, unit: Ah, verified: primary, source: lab}\n"
        "    sources: {lab: 'pack datasheet'}\n")
    catalog = load_catalog([tmp_path])
    assert catalog.part("cells", "er14505").require("capacity") == 2.4
    assert "my-cell" in catalog.ids("cells")
    assert "er34615" in catalog.ids("cells")


def test_repository_catalog_is_checked_by_the_same_schema(tmp_path):
    (tmp_path / "bad.yaml").write_text(
        "apiVersion: nmspec/v1\nkind: PartCatalog\ncells:\n  c1:\n    name: x\n    chemistry: li-socl2\n"
        "    figures:\n      capacty: {value: 1, unit: Ah, verified: primary, source: s}\n"
        "      capacity: {value: 1, unit: V, verified: primary, source: s}\n    sources: {s: x}\n")
    with pytest.raises(CatalogError) as info:
        load_catalog([tmp_path])
    messages = [d.message for d in info.value.diagnostics]
    assert any("'capacty'" in m for m in messages), messages


def test_a_figure_with_the_wrong_unit_is_rejected(tmp_path):
    (tmp_path / "bad.yaml").write_text(
        "apiVersion: nmspec/v1\nkind: PartCatalog\ncells:\n  c1:\n    name: x\n    chemistry: li-socl2\n"
        "    figures:\n      capacity: {value: 1, unit: V, verified: primary, source: s}\n    sources: {s: x}\n")
    with pytest.raises(CatalogError) as info:
        load_catalog([tmp_path])
    (diagnostic,) = info.value.diagnostics
    assert diagnostic.message == "cells.c1.figures.capacity: expected a charge like '2.6Ah', got '1V' (a voltage)"
    assert (Path(diagnostic.file).name, diagnostic.line) == ("bad.yaml", 8)
