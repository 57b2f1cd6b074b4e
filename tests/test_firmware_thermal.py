"""The firmware's temperature band switch (thermal.c, rendered for an analog target whose
image carries a THERMAL section), compiled for the host with sanitizers, against the Python
reference (engine/verify/drift.py band_switch) and hand-worked steps, on a trace with
missing and out-of-range readings; and the C reader's THERMAL accessors."""

from __future__ import annotations

import subprocess

import numpy as np
import pytest

from engine.image import read_image
from engine.verify.drift import band_switch
from tests.firmware_support import example, make, run_program, write_firmware

# band edges of the example: -40, -15, 10, 35, 60, 85 C; hysteresis 2 K
TRACE = ["2000", "3600", "3800", "none", "9000", "8600", "8700", "8701", "-4200", "-4201", "none", "none", "-3000",
         "-1400", "-1300", "-1299", "3499", "-32768", "1000", "6000", "6201", "5800"]


@pytest.fixture(scope="module")
def thermal_run(tmp_path_factory):
    result, _ = example("compressor-analog")
    folder = write_firmware(result.files, tmp_path_factory.mktemp("thermal") / "fw")
    make(folder, "host")
    (folder / "model.nmc").write_bytes(result.files["model.nmc"])
    (folder / "readings.txt").write_text("\n".join(TRACE) + "\n")
    out = run_program([folder / "fw_host", "thermal", folder / "model.nmc", folder / "readings.txt"])
    return read_image(result.files["model.nmc"]).thermal, out, folder


def _steps(out: str) -> list[tuple[int, str, int]]:
    rows = [f for f in (line.split() for line in out.splitlines()) if f and f[0] == "T"]
    # the canary bit is set exactly while a fault lasts, and a fault always withholds the result
    assert all(int(f[5]) == (0x40 if f[3] in ("missing", "out-of-range") else 0) for f in rows)
    return [(int(f[2]), f[3], int(f[4])) for f in rows]


def test_the_band_switch_by_hand(thermal_run):
    thermal, out, _ = thermal_run
    assert thermal.edges_centi_c == (-4000, -1500, 1000, 3500, 6000, 8500)
    assert thermal.hysteresis_centi == 200
    assert _steps(out) == [
        (2, "switch", 0),        # 20 C: the first good reading selects the band that holds it
        (2, "hold", 0),          # 36 C: within 2 K of the band's upper edge (35 C)
        (3, "switch", 0),        # 38 C: past it, into 35..60 C
        (3, "missing", 1),       # no reading: band held, result withheld
        (3, "out-of-range", 1),  # 90 C: beyond 85 C + 2 K
        (4, "switch", 0),        # 86 C: in range by the hysteresis, the top band
        (4, "hold", 0),          # 87 C: the range's edge plus the hysteresis
        (4, "out-of-range", 1),  # 87.01 C
        (0, "switch", 0),        # -42 C: in range by the hysteresis, straight to the bottom band
        (0, "out-of-range", 1),  # -42.01 C
        (0, "missing", 1),
        (0, "missing", 1),
        (0, "hold", 0),          # -30 C
        (0, "hold", 0),          # -14 C: within 2 K above -15 C
        (0, "hold", 0),          # -13 C: exactly the edge plus the hysteresis
        (1, "switch", 0),        # -12.99 C
        (2, "switch", 0),        # 34.99 C: far past band 1's upper edge, into 10..35 C
        (2, "missing", 1),       # the platform's own no-reading value
        (2, "hold", 0),          # 10 C: band 2's lower edge
        (4, "switch", 0),        # 60 C: an edge belongs to the band above it
        (4, "hold", 0),          # 62.01 C
        (4, "hold", 0),          # 58 C: within 2 K below 60 C
    ]
    assert out.splitlines()[-1] == "faults 7"


def test_the_c_band_switch_equals_the_python_reference(thermal_run):
    thermal, out, _ = thermal_run
    readings = [None if r == "none" else int(r) for r in TRACE]
    expected = []
    for index, step in enumerate(band_switch(thermal, readings)):
        fault = step.event in ("missing", "out-of-range")
        expected.append(f"T {index} {step.band} {step.event} {int(step.inhibit)} {0x40 if fault else 0}")
        if step.event == "switch":
            for p, name in enumerate(thermal.thresholds):
                values = " ".join(str(int(v)) for v in np.asarray(thermal.thresholds[name])[step.band])
                expected.append(f"P {p} {values}")
    expected.append(f"faults {sum(s.event in ('missing', 'out-of-range') for s in band_switch(thermal, readings))}")
    assert [line for line in out.splitlines() if line] == expected


def test_band_edges_that_do_not_ascend_are_refused_by_both_readers(tmp_path, thermal_run):
    import struct

    from engine.image import layout as L
    from engine.image import writer as W
    from engine.image.errors import ImageError

    result, _ = example("compressor-analog")
    contents = read_image(result.files["model.nmc"])
    sections = W._sections(contents)
    thermal_id = L.SECTION_BY_NAME["THERMAL"].id
    index = next(i for i, s in enumerate(sections) if s[0] == thermal_id)
    type_id, instance, payload, blocks = sections[index]
    # the EDGES block's data starts after its 16-byte header: swap the first two edges
    first, second = struct.unpack_from("<ii", payload, 16)
    payload = payload[:16] + struct.pack("<ii", second, first) + payload[24:]
    sections[index] = (type_id, instance, payload, blocks)
    image = W._assemble(sections, L.FLAG_LEARNING_LOCKED, L.FAMILY_IDS["lif"], None, 0, 1)
    with pytest.raises(ImageError, match="strictly ascending"):
        read_image(image)
    folder = tmp_path
    (folder / "bad.nmc").write_bytes(image)
    (folder / "readings.txt").write_text("2000\n")
    fw_host = thermal_run[2] / "fw_host"
    done = subprocess.run([str(fw_host), "thermal", str(folder / "bad.nmc"), str(folder / "readings.txt")],
                          capture_output=True, text=True, check=False)
    assert (done.returncode, done.stdout) == (1, "thermal status=BLOCK\n")
