"""The frame table's outputs agree: docs/firmware.md carries the generated tables, the C
header compiles and encodes what Python packs, and the generated JavaScript codec (run by
node) decodes every frame and every malformed payload exactly as the Python decoder does."""

from __future__ import annotations

import json
import random
import re
import subprocess
from pathlib import Path

import pytest

from engine import frames as F

ROOT = Path(__file__).resolve().parents[1]
MODELS = {0x11223344: {"site": "plant-1/pump-2", "labels": ["normal", "bearing", "imbalance"]}}


def random_frame(rng: random.Random, frame: F.Frame) -> bytes:
    values = {}
    for f in frame.fields:
        low, high = {"u8": (0, 255), "u16": (0, 65535), "i16": (-32768, 32767), "u32": (0, 2**32 - 1)}[f.type]
        values[f.name] = rng.choice([low, high, rng.randint(low, high)])
    if "model_version" in values and rng.random() < 0.3:
        values["model_version"] = 0x11223344
    return frame.pack(**values)


def payloads() -> list[bytes]:
    rng = random.Random(7)
    out = [random_frame(rng, frame) for frame in F.FRAMES for _ in range(40)]
    out += [b"", b"\x01", b"\x07\x01", b"\x01\x09" + bytes(40), F.STATUS.pack(**{f.name: 1 for f in F.STATUS.fields})[:30],
            F.ANOMALY.pack(model_version=0x11223344, event_s=5, class_index=9, sequence=1) + b"\xff\xfe"]
    return out


def test_docs_carry_the_generated_tables():
    text = (ROOT / "docs" / "firmware.md").read_text()
    block = re.search(r"<!-- BEGIN GENERATED FRAME TABLES -->\n(.*)<!-- END GENERATED FRAME TABLES -->", text, re.DOTALL)
    assert block is not None and block.group(1) == F.markdown_tables()


def test_decoder_by_hand():
    # status layout 2, each field by the documented offsets
    frame = bytes.fromhex("0102" "44332211" "10000000" "20000000" "0300" "0400" "0500" "09" "2efb" "21"
                          "fd0d" "40e20100" "02" "07000000" "5a00" "0c" "2a")
    assert F.decode(frame) == {
        "frame": "status", "layout": 2, "model_version": 0x11223344, "uptime_s": 16, "wakeups": 32,
        "anomalies_sent": 3, "suppressed": 4, "fallback_invocations": 5, "canary": 9, "temperature_cdeg": -1234,
        "slot_state": 0x21, "battery_mv": 3581, "charge_used_uah": 123456, "rollbacks": 2, "security_version": 7,
        "worst_latency_s": 90, "margin_min": 12, "margin_mean": 42}
    assert F.decode(frame[:24].replace(b"\x01\x02", b"\x01\x01", 1))["layout"] == 1
    with pytest.raises(F.FrameError, match=r"^status frame of layout 2 is 39 bytes, got 38$"):
        F.decode(frame[:-1])
    with pytest.raises(F.FrameError, match=r"^unknown frame type 0x07$"):
        F.decode(b"\x07\x01")
    assert F.STATUS.pack(**{f.name: 70000 if f.saturating else 0 for f in F.STATUS.fields})[14:16] == b"\xff\xff"
    with pytest.raises(ValueError, match=r"^status.uptime_s = -1 does not fit u32$"):
        F.STATUS.pack(**{f.name: -1 if f.name == "uptime_s" else 0 for f in F.STATUS.fields})


def test_c_encoder_writes_what_python_packs(tmp_path):
    rng = random.Random(3)
    cases = []
    for frame in F.CURRENT:
        for _ in range(20):
            values = {f.name: rng.randint(0, 2**32 - 1) if f.saturating else
                      F.decode(random_frame(rng, frame))[f.name] for f in frame.fields}
            cases.append((frame, values))
    body = []
    for frame, values in cases:
        assign = " ".join(f"v.{k} = {v if v >= 0 else f'({v})'};" for k, v in values.items())
        body.append(f"{{ nm_frame_{frame.name}_t v; uint8_t out[NM_FRAME_{frame.name.upper()}_SIZE]; {assign} "
                    f"nm_frame_{frame.name}_encode(&v, out); dump(out, sizeof(out)); }}")
    (tmp_path / "nm_frames.h").write_text(F.generate_c_header())
    (tmp_path / "main.c").write_text(
        '#include <stdio.h>\n#include "nm_frames.h"\n'
        "static void dump(const uint8_t *p, size_t n) { size_t i; for (i = 0; i < n; i++) printf(\"%02x\", p[i]); printf(\"\\n\"); }\n"
        "int main(void) {\n" + "\n".join(body) + "\nreturn 0; }\n")
    subprocess.run(["gcc", "-std=c99", "-Wall", "-Wextra", "-Werror", "-pedantic", "-o", "enc", "main.c"],
                   cwd=tmp_path, check=True)
    lines = subprocess.run(["./enc"], cwd=tmp_path, check=True, capture_output=True, text=True).stdout.split()
    assert lines == [frame.pack(**values).hex() for frame, values in cases]


def run_codec(tmp_path, codec: str, frames_in: list[bytes]) -> list[dict]:
    (tmp_path / "codec.js").write_text(codec)
    (tmp_path / "frames.json").write_text(json.dumps([list(p) for p in frames_in]))
    script = ("const c = require('./codec.js'); const fs = require('fs');"
              "const frames = JSON.parse(fs.readFileSync('frames.json'));"
              "process.stdout.write(JSON.stringify(frames.map(b => c.decodeUplink({bytes: b, fPort: 10}))));")
    done = subprocess.run(["node", "-e", script], cwd=tmp_path, check=True, capture_output=True, text=True)
    return json.loads(done.stdout)


def test_js_codec_agrees_with_the_python_decoder(tmp_path):
    inputs = payloads()
    got = run_codec(tmp_path, F.generate_js("test-fleet", MODELS), inputs)
    expected = [json.loads(json.dumps(F.decode_uplink(p, MODELS))) for p in inputs]
    assert got == expected
    assert sum(1 for e in expected if e["errors"]) == 5 and any(e["warnings"] for e in expected)
    assert any(e["data"].get("label") == "bearing" or e["data"].get("model") for e in expected)


def test_js_codec_is_es5_and_deterministic():
    codec = F.generate_js("test-fleet", MODELS)
    assert codec == F.generate_js("test-fleet", dict(MODELS))
    assert "=>" not in codec and "let " not in codec and "const " not in codec and "`" not in codec
