"""The firmware's temperature band switch (thermal.c, rendered for an analog target whose
image carries a THERMAL section), compiled for the host with sanitizers, against the Python
reference (engine/verify/drift.py band_switch) and hand-worked steps, on a trace with
missing and out-of-range readings; and the C reader's THERMAL accessors."""

from __future__ import annotations

import subprocess

import numpy as np
import pytest

from engine.image import read_image
from engine.verify import kernel
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


# The runtime with compensation over a temperature trace: per window (the chip's own
# temperature in centi-degrees, what the sensor reads: None for no reading, the stimulus
# window it measures). Bands cross both ways, within the hysteresis and past it; readings
# go missing (before the first good one, too) and out of range on both sides; in one
# window the chip misses its deadline during a missing reading.
RUNTIME_TRACE = [
    (2500, None, 0),     # no reading yet: nothing programmed, withheld
    (2000, 2000, 30),    # switch to 10..35 C
    (3600, 3600, 1),     # hold: within 2 K above 35 C
    (3800, 3800, 31),    # switch up to 35..60 C
    (7000, 7000, 2),     # switch up to 60..85 C
    (5900, 5900, 32),    # hold: within 2 K below 60 C
    (5700, 5700, 3),     # switch down to 35..60 C
    (5000, None, 33),    # missing: band held, withheld
    (9000, 9000, 34),    # out of range (the chip really is at 90 C): withheld
    (8600, 8600, 4),     # switch to 60..85 C, in range by the hysteresis
    (1100, 1100, 35),    # switch down three bands
    (900, 900, 5),       # hold: within 2 K below 10 C
    (-1000, -1000, 36),  # switch down to -15..10 C
    (-4500, -4500, 6),   # out of range below
    (-4100, -4100, 37),  # switch to -40..-15 C
    (-1400, -1400, 7),   # hold
    (-1200, -1200, 38),  # switch up to -15..10 C
    (2500, None, 39),    # missing, and the chip misses: the CPU fallback's window counts
    (2500, 2500, 8),     # switch to 10..35 C
]
MISSED = 17


@pytest.fixture(scope="module")
def runtime_run(thermal_run):
    from engine.catalog import builtin_catalog
    from engine.resolve.drift import KELVIN_AT_0C, drift_model
    from engine.verify.drift import physics

    result, site = example("compressor-analog")
    contents = read_image(result.files["model.nmc"])
    net = contents.network
    model = drift_model(builtin_catalog().part("chips", "innatera-t1"))
    folder = thermal_run[2]
    windows = np.asarray(site.stimulus_spikes)[[w for _, _, w in RUNTIME_TRACE]]
    script = ["factory model.nmc 0", "boot"]
    for index, (chip_c, reading, _) in enumerate(RUNTIME_TRACE):
        p = physics(net, model, KELVIN_AT_0C + chip_c / 100)
        (folder / f"drift{index}.txt").write_text(" ".join(str(int(v)) for v in (*p.leak_syn, *p.leak_mem))
                                                  + f" {p.threshold_scale!r} {p.weight_scale!r}\n")
        (folder / f"window{index}.bin").write_bytes(np.asarray(windows[index], dtype=np.uint8).tobytes())
        script += [f"temperature {-32768 if reading is None else reading}", f"chip-drift drift{index}.txt"]
        script += (["chip-miss-after 0", f"run window{index}.bin 1", "chip-miss-after -1"] if index == MISSED
                   else [f"run window{index}.bin 1"])
    (folder / "trace.script").write_text("\n".join(script) + "\n")
    out = run_program([folder / "fw_host", "script", "trace.script"], cwd=folder)
    return contents, model, windows, out


def _windows(out: str) -> list[dict]:
    """Per window: its output spikes per step, its thermal line and its class (None: withheld)."""
    done, steps = [], []
    for line in out.splitlines():
        fields = line.split()
        if fields[0] == "O":
            assert int(fields[1]) == len(steps)
            steps.append([int(v) for v in fields[2:]])
        elif fields[0] == "thermal":
            done.append({"spikes": np.array(steps), **{k: int(v) for k, v in (f.split("=") for f in fields[1:])}})
            steps = []
        elif fields[0] == "window":
            cls = fields[1].split("=")[1]
            done[-1]["class"] = None if cls == "none" else int(cls)
            done[-1]["fallback"] = int(fields[2].split("=")[1])
        elif fields[0] == "chip-drift":
            assert line == "chip-drift status=ok"
    return done


def test_the_runtime_compensates_as_the_kernel_with_the_drift(runtime_run):
    """Every output spike of every step, each window's band, fail-safe and class, from the
    compiled runtime on its emulated drifting chip, equal the Python kernel run with the
    drift at the chip's temperature and the thresholds of the band the reference switch
    selects (engine/verify/drift.py)."""
    from engine.resolve.floatnet import classify
    from engine.verify.drift import compensated_run

    contents, model, windows, out = runtime_run
    got = _windows(out)
    expected = compensated_run(contents.network, contents.thermal, model, windows,
                               [c for c, _, _ in RUNTIME_TRACE], [r for _, r, _ in RUNTIME_TRACE])
    assert len(got) == len(expected) == len(RUNTIME_TRACE)
    fallback = kernel.run(contents.network, windows[MISSED]).spikes[contents.network.output]
    withheld = 0
    for index, (g, e) in enumerate(zip(got, expected, strict=True)):
        fault = e.step.event in ("missing", "out-of-range")
        assert (g["band"], g["inhibit"], g["fault"]) == (e.step.band, int(e.step.inhibit), int(fault)), index
        if index == MISSED:
            # the CPU ran the nominal network: its digital arithmetic does not drift
            assert (g["fallback"], g["class"]) == (1, int(classify(fallback.sum(axis=0))))
            assert g["spikes"].tolist() == fallback.tolist()
        else:
            assert g["spikes"].tolist() == e.output_spikes.tolist(), index
            assert (g["fallback"], g["class"]) == (0, e.window_class), index
            withheld += e.window_class is None
        assert g["withheld"] == withheld, index
    assert got[-1]["faults"] == 5
    # the trace exercises what it claims: both directions, every event, anomalies and normals
    assert [(e.step.band, e.step.event) for e in expected] == [
        (-1, "missing"), (2, "switch"), (2, "hold"), (3, "switch"), (4, "switch"), (4, "hold"), (3, "switch"),
        (3, "missing"), (3, "out-of-range"), (4, "switch"), (2, "switch"), (2, "hold"), (1, "switch"),
        (1, "out-of-range"), (0, "switch"), (0, "hold"), (1, "switch"), (1, "missing"), (2, "switch")]
    assert [g["class"] for g in got] == [None, 1, 0, 1, 0, 2, 0, None, None, 0, 2, 0, 2, None, 2, 0, 2, 2, 0]


def test_the_programmed_band_is_what_keeps_a_hot_chip_firing(runtime_run):
    """The same hot windows with the image's nominal thresholds left in the chip: at 70 C
    and 86 C the time constants have shrunk (-1 %/K) and the readout nearly falls silent;
    the band's thresholds, which the runtime programmed, restore it."""
    from engine.resolve.drift import KELVIN_AT_0C
    from engine.verify.drift import run_drifted_spikes

    contents, model, windows, out = runtime_run
    got = _windows(out)
    for index, nominal, compensated in ((4, [4, 0, 0, 0], [85, 0, 6, 0]), (9, [0, 0, 0, 0], [36, 0, 3, 0])):
        chip_k = KELVIN_AT_0C + RUNTIME_TRACE[index][0] / 100
        plain = run_drifted_spikes(contents.network, windows[index:index + 1], model, None, chip_k)[0][:, -4:]
        assert (plain.sum(axis=0).tolist(), got[index]["spikes"].sum(axis=0).tolist()) == (nominal, compensated)


def test_a_temperature_fault_goes_out_in_the_next_status_uplink_and_withholds_anomalies(runtime_run):
    """A fault that begins brings the daily status uplink forward to the next wake-up the
    duty cycle leaves (an anomaly waiting goes first); its canary bit stays set until that
    uplink has gone. A withheld window raises no anomaly."""
    from engine.frames import decode

    out = runtime_run[3]
    got = _windows(out)
    # window i closes at 60 (i + 1) s, when the node wakes and sends what is due
    assert [g["canary"] & 0x40 for g in got] == [0x40 if i in (0, 7, 8, 13, 17, 18) else 0 for i in range(19)]
    sent = [(int(line.split()[1][2:]), decode(bytes.fromhex(line.split("bytes=")[1])))
            for line in out.splitlines() if line.startswith("radio ")]
    statuses = [(t, f["canary"] & 0x40) for t, f in sent if f["frame"] == "status"]
    # faults begin in windows 0, 7, 13 and 17; after window 17 the anomaly it raised goes first
    assert statuses == [(60, 0x40), (480, 0x40), (840, 0x40), (1140, 0x40)]
    anomalies = [int(f["class_index"]) for _, f in sent if f["frame"] == "anomaly"]
    assert anomalies == [g["class"] for g in got if g["class"] not in (None, 0)] == [1, 1, 2, 2, 2, 2, 2, 2]
