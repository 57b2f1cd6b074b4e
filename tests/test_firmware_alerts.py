"""Alert policy on the host build of the compressor example (confirmed uplinks, 3 retries,
10 min max_latency, 60 s interval): nothing is sent in nominal operation but the status
uplink, whose bytes are built here from the table in docs/firmware.md; anomaly uplinks are
retried the spec's number of times within max_latency and never closer than the duty-cycle
gap."""

from __future__ import annotations

import itertools
import re
import struct

import numpy as np
import pytest

from engine.image import read_image, write_image
from engine.resolve.power import LORA_OVERHEAD_BYTES, lora_airtime
from engine.verify import kernel
from tests.firmware_support import ROOT, example, make, run_program, write_firmware
from tests.test_firmware_runtime import KEY

TYPES = {"u8": "B", "u16": "H", "u32": "I", "i16": "h"}


def documented_layout(title: str) -> tuple[str, list[str]]:
    """struct format and field names of a frame table in docs/firmware.md."""
    text = (ROOT / "docs" / "firmware.md").read_text()
    table = text.split(title, 1)[1].split("\n\n", 2)[1]
    fmt, names, offset = "<", [], 0
    for row in table.splitlines()[2:]:
        cells = [c.strip() for c in row.strip("|").split("|")]
        assert int(cells[0]) == offset, row
        assert struct.calcsize("<" + TYPES[cells[2]]) == int(cells[1]), row
        fmt += TYPES[cells[2]]
        names.append(cells[3])
        offset += int(cells[1])
    return fmt, names


@pytest.fixture(scope="module")
def node(tmp_path_factory):
    result, resolved = example("compressor", KEY)
    folder = write_firmware(result.files, tmp_path_factory.mktemp("alerts"))
    make(folder, "host")
    (folder / "A.nmc").write_bytes(result.files["model.nmc"])
    contents = read_image(result.files["model.nmc"])
    # windows by what the network makes of them: class 0 is nominal, any other an anomaly
    spikes = resolved.chain.run(resolved.stimuli.samples)
    network = contents.network
    classes = np.array([int(np.argmax(kernel.run(network, w.astype(np.int64)).output_counts(network.output)))
                        for w in spikes])
    quiet = spikes[classes == 0][:2]
    if len(quiet) == 0:  # no stimulus window reads as nominal: a silent sensor does
        quiet = np.zeros_like(spikes[:1])
        assert kernel.run(network, quiet[0].astype(np.int64)).output_counts(network.output).argmax() == 0
    assert (classes != 0).any()
    (folder / "nominal.bin").write_bytes(quiet.astype(np.uint8).tobytes())
    (folder / "fault.bin").write_bytes(spikes[classes != 0][:2].astype(np.uint8).tobytes())
    config = (folder / "nmc_config.h").read_text()
    define = lambda name: int(re.search(rf"#define {name} (\d+)", config).group(1))
    image = result.files["model.nmc"]
    version = struct.unpack_from("<I", image, len(image) - 112 + 16)[0]
    return {"folder": folder, "define": define, "version": version, "contents": contents}


def expected_canary(node, windows: list[np.ndarray]) -> int:
    """The canary byte after these windows, computed from the kernel's spikes and the image's
    policy (docs/firmware.md): rate over the last window, silence since each neuron's last
    spike."""
    network, policy = node["contents"].network, node["contents"].policy
    runs = [kernel.run(network, w.astype(np.int64)) for w in windows]
    spikes = np.concatenate([np.concatenate([r.spikes[p.name] for p in network.populations], axis=1) for r in runs])
    steps, neurons = spikes.shape
    step_us = round(network.dt * 1e6)
    last = spikes[-windows[-1].shape[0]:].sum()
    rate = int(last) * 10**9 // (neurons * windows[-1].shape[0] * step_us)
    bits = 0
    if (policy.spike_rate_mhz or policy.spike_rate_tolerance_mhz) and abs(rate - policy.spike_rate_mhz) > policy.spike_rate_tolerance_mhz:
        bits |= 0x01
    fired = spikes > 0
    quiet = np.where(fired.any(axis=0), steps - 1 - (steps - 1 - np.argmax(fired[::-1], axis=0)), steps)
    window_steps = policy.dead_neuron_window_s * 10**6 // step_us
    if window_steps and int((quiet >= window_steps).sum()) * 1000 > 500 * neurons:
        bits |= 0x02
    return bits


def expected_margins(node, windows: list[np.ndarray]) -> tuple[int, int]:
    """(smallest, mean rounded down) winner-minus-runner-up output count over these windows,
    from the kernel's run of each window."""
    network = node["contents"].network
    margins = []
    for w in windows:
        counts = np.sort(kernel.run(network, w.astype(np.int64)).output_counts(network.output))[::-1]
        margins.append(int(counts[0] - counts[1]))
    return min(min(margins), 255), min(sum(margins) // len(margins), 255)


STATUS_TITLE, ANOMALY_TITLE = "Status uplink, layout 2,", "Anomaly uplink, layout 1,"


def script(node, lines):
    path = node["folder"] / "alerts.txt"
    path.write_text("\n".join(["factory A.nmc 0", "boot"] + lines) + "\n")
    return run_program([node["folder"] / "fw_host", "script", path], cwd=node["folder"]).splitlines()


def uplinks(out):
    sent = []
    for line in out:
        if line.startswith("radio "):
            fields = dict(f.split("=", 1) for f in line.split()[1:])
            sent.append((int(fields["t"]), int(fields["confirmed"]), bytes.fromhex(fields["bytes"])))
    return sent


def test_policy_constants_come_from_the_spec(node):
    define = node["define"]
    airtime = lora_airtime(39 + LORA_OVERHEAD_BYTES, 7)  # the spec's SF7, the 39-byte status frame
    assert define("NM_ALERT_DUTY_GAP_S") == int(np.ceil(airtime * 99))
    assert (define("NM_ALERT_RETRIES"), define("NM_ALERT_MAX_LATENCY_S"), define("NM_INTERVAL_S")) == (3, 600, 60)
    assert define("NM_ALERT_RETRY_GAP_S") == (600 - 60) // 3
    assert define("NM_ALERT_STATUS_INTERVAL_S") == 86400


def test_nominal_day_sends_only_the_status_uplink(node):
    out = script(node, ["temperature -1234", "battery 3581 123456", "run nominal.bin 10", "advance 60 1430"])
    assert [line for line in out if line.startswith("window ")] and all(
        "class=0" in line for line in out if line.startswith("window "))
    sent = uplinks(out)
    assert [(t, c) for t, c, _ in sent] == [(86400, 0)]
    fmt, names = documented_layout(STATUS_TITLE)
    assert len(names) == 18
    quiet = np.frombuffer((node["folder"] / "nominal.bin").read_bytes(), np.uint8).reshape(-1, node["define"]("NM_WINDOW_STEPS"), node["define"]("NM_N_INPUTS"))
    windows = [quiet[i % len(quiet)] for i in range(10)]
    canary = expected_canary(node, windows)
    expected = struct.pack(fmt, 0x01, 2, node["version"], 86400, 10, 0, 0, 0, canary, -1234, 0x10,
                           3581, 123456, 0, 0, 0, *expected_margins(node, windows))
    assert len(expected) == 39
    assert sent[0][2] == expected


def test_unacknowledged_anomaly_is_retried_within_max_latency_then_dropped(node):
    out = script(node, ["radio-ack 0", "run fault.bin 2", "advance 60 15"])
    classes = [int(re.search(r"class=(\d+)", line).group(1)) for line in out if line.startswith("window ")]
    assert classes[0] != 0
    sent = uplinks(out)
    anomaly = [(t, c, b) for t, c, b in sent if b[0] == 0x02]
    fmt, _ = documented_layout(ANOMALY_TITLE)
    frame = struct.pack(fmt, 0x02, 1, node["version"], 0, classes[0], 0)
    gap = node["define"]("NM_ALERT_RETRY_GAP_S")
    assert anomaly == [(60, 1, frame), (60 + gap, 1, frame), (60 + 2 * gap, 1, frame), (60 + 3 * gap, 1, frame)]
    assert anomaly[-1][0] - 0 <= 600  # the event happened at uptime 0
    times = [t for t, _, _ in sent]
    assert all(b - a >= node["define"]("NM_ALERT_DUTY_GAP_S") for a, b in itertools.pairwise(times))


def test_acknowledged_anomalies_count_into_the_status(node):
    out = script(node, ["temperature 2500", "run fault.bin 2", "run nominal.bin 2", "advance 60 1436"])
    sent = uplinks(out)
    classes = [int(re.search(r"class=(\d+)", line).group(1)) for line in out if line.startswith("window ")]
    fault_classes = classes[:2]
    assert 0 not in fault_classes and set(classes[2:]) == {0}
    anomaly = [b for _, _, b in sent if b[0] == 0x02]
    assert [b[10] for b in anomaly] == fault_classes
    status = [b for _, _, b in sent if b[0] == 0x01]
    fmt, _ = documented_layout(STATUS_TITLE)
    windows = [np.frombuffer((node["folder"] / f"{name}.bin").read_bytes(), np.uint8).reshape(-1, node["define"]("NM_WINDOW_STEPS"), node["define"]("NM_N_INPUTS"))
               for name in ("fault", "nominal")]
    ran = [windows[0][0], windows[0][1 % len(windows[0])], windows[1][0], windows[1][1 % len(windows[1])]]
    canary = expected_canary(node, ran)
    # the anomalies of windows 1 and 2 (uptime 0 and 60) go out at the next wake-ups, 60 s and one
    # duty gap later at most: the worst latency is the later of the two deliveries' delays
    delivered = [t for t, _, b in sent if b[0] == 0x02]
    latency = max(t - event for t, event in zip(delivered, (0, 60)))
    assert status == [struct.pack(fmt, 0x01, 2, node["version"], 86400, 4, len(fault_classes), 0, 0, canary, 2500, 0x10,
                                  0, 0xFFFFFFFF, 0, 0, latency, *expected_margins(node, ran))]


def test_duty_cycle_spaces_uplinks_when_windows_come_faster(node):
    gap = node["define"]("NM_ALERT_DUTY_GAP_S")
    out = script(node, ["period 1", "run fault.bin 2", "advance 1 40"])
    times = [t for t, _, b in uplinks(out)]
    assert len(times) >= 2 and all(b - a >= gap for a, b in itertools.pairwise(times))
    assert times[1] - times[0] == gap


def test_image_write_is_unchanged_by_reading(node):
    # the version the uplinks carry is the image's own SHA-256, read back from its trailer
    assert write_image(node["contents"], KEY)[-112 + 16:-112 + 20] == struct.pack("<I", node["version"])


def test_report_carries_the_policy_the_firmware_applies(node):
    result, _ = example("compressor", KEY)
    policy = result.report["firmware"]["alerts"]
    define = node["define"]
    assert (policy["retries"], policy["max_latency_s"], policy["retry_gap_s"], policy["duty_gap_s"],
            policy["status_interval_s"]) == (define("NM_ALERT_RETRIES"), define("NM_ALERT_MAX_LATENCY_S"),
                                            define("NM_ALERT_RETRY_GAP_S"), define("NM_ALERT_DUTY_GAP_S"),
                                            define("NM_ALERT_STATUS_INTERVAL_S"))
    assert (policy["status_frame_bytes"], policy["anomaly_frame_bytes"]) == (39, 12)
    assert policy["status_airtime_s"] == round(lora_airtime(39 + LORA_OVERHEAD_BYTES, 7), 6)
    assert policy["nominal_uplinks_per_day"] == 1.0


def test_a_simulated_year_decodes_alike_everywhere(node, tmp_path):
    """A year of a node in accelerated time (one window or two a day, idle wake-ups every 60 s
    between): every frame it sends reads the same in the Python decoder, the generated
    JavaScript codec under node, and the ingest of both network servers' MQTT messages; the
    status fields follow what the script did."""
    import json
    import subprocess

    from engine import frames as F
    from engine.telemetry.ingest import parse_message
    from engine.telemetry.simulate import SimSite, chirpstack_message, tts_message

    lines, windows = [], 0
    for day in range(365):
        fault = day % 17 == 3
        lines += [f"battery {3600 - day // 5} {day * 410}", f"temperature {-2000 + day * 10}",
                  f"run {'fault' if fault else 'nominal'}.bin {2 if fault else 1}",
                  f"advance 60 {1440 - (2 if fault else 1)}"]
        windows += 2 if fault else 1
    sent = uplinks(script(node, lines))
    payloads = [b for _, _, b in sent]
    status = [F.decode(b) for b in payloads if b[0] == 0x01]
    assert len(status) == 365 and len(payloads) > 365
    assert [s["uptime_s"] for s in status] == [86400 * (d + 1) for d in range(365)]
    # the status of day d goes out at its last wake-up, with that day's battery reading
    assert [(s["battery_mv"], s["charge_used_uah"]) for s in status] == [(3600 - d // 5, d * 410) for d in range(365)]
    assert {s["model_version"] for s in status} == {node["version"]}
    assert status[-1]["wakeups"] == windows and status[-1]["anomalies_sent"] == sum(
        1 for b in payloads if b[0] == 0x02)

    codec = tmp_path / "codec.js"
    codec.write_text(F.generate_js("year", {node["version"]: {"site": "demo-plant/compressor-1",
                                                              "labels": list(node["contents"].metadata.labels)}}))
    (tmp_path / "frames.json").write_text(json.dumps([list(b) for b in payloads]))
    js = json.loads(subprocess.run(
        ["node", "-e", ("const c = require('./codec.js'); const f = JSON.parse(require('fs').readFileSync('frames.json'));"
                       "process.stdout.write(JSON.stringify(f.map(b => c.decodeUplink({bytes: b, fPort: 10}).data)))")],
        cwd=tmp_path, capture_output=True, text=True, check=True).stdout)
    python = [F.decode(b) for b in payloads]
    assert [{k: v for k, v in d.items() if k not in ("model", "label")} for d in js] == python
    site = SimSite("demo-plant-compressor-1", "70b3d57ed0000001", node["version"], 0, 0, 0.0)
    for f_cnt, (_, _, b) in enumerate(sent):
        for wrap in (chirpstack_message, tts_message):
            topic, body = wrap(site, 1_798_761_600_000 + f_cnt * 1000, f_cnt, b)
            assert parse_message(topic, body).fields == python[f_cnt]
