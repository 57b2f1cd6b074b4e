"""The one table that defines the node's uplink frames.

The firmware's C encoder (`nm_frames.h`), nmspec's Python decoder, the JavaScript payload
codec for the network servers (`decodeUplink`, ChirpStack v4 and The Things Stack v3) and
the frame tables in docs/firmware.md are all generated from the structures below, so the
node and everything that reads it cannot drift apart.

Frames are packed byte strings, little-endian, no padding. Every frame starts with its type
and its layout version, so a decoder reads older layouts too (a fleet runs mixed firmware
during a rollout); the firmware sends the newest layout of each type.
"""

from __future__ import annotations

import itertools
import json
import struct
from collections.abc import Mapping
from typing import Any

import attrs

# wire type -> (struct code, C type, size, minimum, maximum)
_TYPES: dict[str, tuple[str, str, int, int, int]] = {
    "u8": ("B", "uint8_t", 1, 0, 0xFF),
    "u16": ("H", "uint16_t", 2, 0, 0xFFFF),
    "i16": ("h", "int16_t", 2, -0x8000, 0x7FFF),
    "u32": ("I", "uint32_t", 4, 0, 0xFFFFFFFF),
}


@attrs.frozen
class Field:
    name: str
    type: str  # key of _TYPES
    doc: str
    # the firmware counts in 32 bits and the frame carries the count capped at the type's maximum
    saturating: bool = False

    @property
    def size(self) -> int:
        return _TYPES[self.type][2]


@attrs.frozen
class Frame:
    name: str  # status | anomaly
    type_id: int
    layout: int
    doc: str
    fields: tuple[Field, ...]  # after the two header bytes (type, layout)

    @property
    def format(self) -> str:
        return "<BB" + "".join(_TYPES[f.type][0] for f in self.fields)

    @property
    def size(self) -> int:
        return struct.calcsize(self.format)

    @property
    def offsets(self) -> dict[str, int]:
        out, pos = {}, 2
        for f in self.fields:
            out[f.name] = pos
            pos += f.size
        return out

    def pack(self, **values: int) -> bytes:
        names = [f.name for f in self.fields]
        missing, extra = [n for n in names if n not in values], sorted(set(values) - set(names))
        if missing or extra:
            raise ValueError(f"{self.name} frame: missing {missing}, unknown {extra}")
        row = []
        for f in self.fields:
            low, high = _TYPES[f.type][3:]
            value = int(values[f.name])
            row.append(min(value, high) if f.saturating else value)
            if not low <= row[-1] <= high:
                raise ValueError(f"{self.name}.{f.name} = {value} does not fit {f.type}")
        return struct.pack(self.format, self.type_id, self.layout, *row)


_STATUS_V1_FIELDS = (
    Field("model_version", "u32", "model version: the first four bytes of the image's SHA-256, little-endian"),
    Field("uptime_s", "u32", "uptime, s"),
    Field("wakeups", "u32", "wake-ups (measurement windows)"),
    Field("anomalies_sent", "u16", "anomaly uplinks delivered", saturating=True),
    Field("suppressed", "u16", "events suppressed", saturating=True),
    Field("fallback_invocations", "u16", "fallback invocations", saturating=True),
    Field("canary", "u8", "canary bits: 0x01 spike rate, 0x02 dead neurons, 0x04 on trial, 0x08 rolled back, "
                          "0x10 last window on the fallback, 0x20 last window lost, 0x40 temperature reading "
                          "missing or out of range (analog targets)"),
    Field("temperature_cdeg", "i16", "temperature, 0.01 degC"),
    Field("slot_state", "u8", "active slot (bits 0-3), record state (bits 4-7)"),
)

STATUS_V1 = Frame("status", 0x01, 1, "the status uplink of layout 1 (firmware before the battery fields)",
                  _STATUS_V1_FIELDS)

STATUS = Frame("status", 0x01, 2, "the status uplink, once per status interval", _STATUS_V1_FIELDS + (
    Field("battery_mv", "u16", "cell voltage under the radio's load, mV (0: the board does not measure it)"),
    Field("charge_used_uah", "u32", "charge drawn from the cell since it was fitted, uAh (0xFFFFFFFF: no gauge)"),
    Field("rollbacks", "u8", "rollbacks since boot", saturating=True),
    Field("security_version", "u32", "security version of the running image (0 before image format 2)"),
    Field("worst_latency_s", "u16", "longest time from an anomaly to its delivered uplink since the last status, s",
          saturating=True),
    Field("margin_min", "u8", "smallest decision margin (winning output count minus the runner-up) since the last "
                              "status (255: no window)", saturating=True),
    Field("margin_mean", "u8", "mean decision margin since the last status, rounded down (255: no window)",
          saturating=True),
))

ANOMALY = Frame("anomaly", 0x02, 1, "an anomaly event", (
    Field("model_version", "u32", "model version"),
    Field("event_s", "u32", "event time, s of uptime"),
    Field("class_index", "u8", "class index"),
    Field("sequence", "u8", "event sequence number (mod 256)"),
))

FRAMES: tuple[Frame, ...] = (STATUS_V1, STATUS, ANOMALY)
CURRENT: tuple[Frame, ...] = (STATUS, ANOMALY)  # what the firmware sends
BY_KEY: dict[tuple[int, int], Frame] = {(f.type_id, f.layout): f for f in FRAMES}
# decoding is the ingest's inner loop: each layout's struct and field names, computed once
_DECODERS: dict[tuple[int, int], tuple[struct.Struct, tuple[str, ...]]] = {
    key: (struct.Struct(f.format), tuple(x.name for x in f.fields)) for key, f in BY_KEY.items()}
NO_GAUGE = 0xFFFFFFFF
NO_MARGIN = 0xFF

CANARY_BITS: tuple[tuple[int, str], ...] = (
    (0x01, "spike_rate"), (0x02, "dead_neurons"), (0x04, "on_trial"), (0x08, "rolled_back"),
    (0x10, "on_fallback"), (0x20, "window_lost"), (0x40, "temperature_fault"),
)


def _check_table() -> None:
    for frame in FRAMES:
        names = [f.name for f in frame.fields]
        if len(set(names)) != len(names):
            raise AssertionError(f"{frame.name} v{frame.layout}: a field name repeats")
    for a, b in itertools.pairwise(FRAMES):
        if a.name == b.name and b.fields[:len(a.fields)] != a.fields:
            raise AssertionError(f"{b.name} v{b.layout} must extend v{a.layout}: old decoders read its prefix")
    # EU868 DR0 (SF12/125 kHz) carries at most 51 application bytes (LoRaWAN Regional Parameters RP002)
    for frame in CURRENT:
        if frame.size > 51:
            raise AssertionError(f"{frame.name} frame is {frame.size} bytes; DR0 carries 51")


_check_table()


# ---------------------------------------------------------------- Python decoder

class FrameError(ValueError):
    """A payload that is not one of the table's frames."""


def decode(payload: bytes) -> dict[str, int | str]:
    """The fields of one frame, with `frame` (its name) and `layout`. Bytes after a known
    layout's end are ignored (a newer minor extension), a short payload is an error."""
    if len(payload) < 2:
        raise FrameError(f"payload of {len(payload)} bytes has no frame header")
    frame = BY_KEY.get((payload[0], payload[1]))
    if frame is None:
        known = sorted({f.type_id for f in FRAMES})
        if payload[0] not in known:
            raise FrameError(f"unknown frame type 0x{payload[0]:02x}")
        raise FrameError(f"frame type 0x{payload[0]:02x} has no layout {payload[1]}")
    layout, names = _DECODERS[(payload[0], payload[1])]
    if len(payload) < layout.size:
        raise FrameError(f"{frame.name} frame of layout {frame.layout} is {frame.size} bytes, got {len(payload)}")
    out: dict[str, int | str] = {"frame": frame.name, "layout": frame.layout}
    out.update(zip(names, layout.unpack_from(payload)[2:]))
    return out


def decode_uplink(payload: bytes, models: Mapping[int, Mapping[str, Any]] | None = None) -> dict[str, Any]:
    """What the JavaScript codec's decodeUplink returns for the same bytes (the network
    servers' contract): {data, warnings, errors}."""
    try:
        data = annotate(decode(payload), models)
    except FrameError as exc:
        return {"data": {}, "warnings": [], "errors": [str(exc)]}
    warnings = []
    frame = BY_KEY[(payload[0], payload[1])]
    if len(payload) > frame.size:
        warnings.append(f"{len(payload) - frame.size} bytes after the {frame.name} frame ignored")
    return {"data": data, "warnings": warnings, "errors": []}


# ---------------------------------------------------------------- C encoder

def _c_define(name: str, value: str) -> str:
    return f"#define {name.ljust(36)} {value}"


def generate_c_header() -> str:
    """nm_frames.h: the frames the firmware sends, as constants, a struct of the values and
    an encoder per frame."""
    out = [
        "/* nm_frames.h: the node's uplink frames.",
        " * Generated from engine/frames.py; do not edit by hand.",
        " * Packed, little-endian; docs/firmware.md has the tables. */",
        "#ifndef NM_FRAMES_H",
        "#define NM_FRAMES_H",
        "",
        "#include <stdint.h>",
        "",
        "static inline void nm_frame_put16(uint8_t *p, uint32_t v)",
        "{",
        "    p[0] = (uint8_t)(v & 0xFFu);",
        "    p[1] = (uint8_t)((v >> 8) & 0xFFu);",
        "}",
        "",
        "static inline void nm_frame_put32(uint8_t *p, uint32_t v)",
        "{",
        "    nm_frame_put16(p, v & 0xFFFFu);",
        "    nm_frame_put16(p + 2, v >> 16);",
        "}",
        "",
        "static inline uint32_t nm_frame_cap(uint32_t v, uint32_t max)",
        "{",
        "    return v > max ? max : v;",
        "}",
        "",
    ]
    for frame in CURRENT:
        up = frame.name.upper()
        out += [
            _c_define(f"NM_FRAME_{up}", f"0x{frame.type_id:02X}u"),
            _c_define(f"NM_FRAME_{up}_LAYOUT", f"{frame.layout}u"),
            _c_define(f"NM_FRAME_{up}_SIZE", f"{frame.size}u"),
            "",
            f"/* {frame.doc}; saturating counts are passed in 32 bits and capped here */",
            f"typedef struct nm_frame_{frame.name} {{",
        ]
        for f in frame.fields:
            ctype = "uint32_t" if f.saturating else _TYPES[f.type][1]
            out.append(f"    {ctype} {f.name}; /* {f.doc} */")
        out += [
            f"}} nm_frame_{frame.name}_t;",
            "",
            (f"static inline void nm_frame_{frame.name}_encode(const nm_frame_{frame.name}_t *f, "
             f"uint8_t out[NM_FRAME_{up}_SIZE])"),
            "{",
            f"    out[0] = (uint8_t)NM_FRAME_{up};",
            f"    out[1] = (uint8_t)NM_FRAME_{up}_LAYOUT;",
        ]
        for f in frame.fields:
            off = frame.offsets[f.name]
            value = f"f->{f.name}"
            if f.saturating:
                value = f"nm_frame_cap({value}, 0x{_TYPES[f.type][4]:X}u)"
            if f.type == "u8":
                out.append(f"    out[{off}] = (uint8_t){value};")
            elif f.type in ("u16", "i16"):
                out.append(f"    nm_frame_put16(out + {off}, (uint32_t)(uint16_t){value});")
            else:
                out.append(f"    nm_frame_put32(out + {off}, (uint32_t){value});")
        out += ["}", ""]
    out.append("#endif /* NM_FRAMES_H */")
    return "\n".join(out) + "\n"


# ---------------------------------------------------------------- documentation tables

def markdown_tables() -> str:
    """The frame tables of docs/firmware.md."""
    out: list[str] = []
    for frame in (STATUS, ANOMALY, STATUS_V1):
        out.append(f"{frame.name.capitalize()} uplink, layout {frame.layout}, {frame.size} bytes ({frame.doc}):")
        out.append("")
        out.append("| offset | size | type | field | meaning |")
        out.append("|-------:|-----:|------|-------|---------|")
        out.append(f"| 0 | 1 | u8 | frame_type | frame type, 0x{frame.type_id:02x} |")
        out.append(f"| 1 | 1 | u8 | layout | layout version, {frame.layout} |")
        for f in frame.fields:
            note = " (saturating)" if f.saturating else ""
            out.append(f"| {frame.offsets[f.name]} | {f.size} | {f.type} | {f.name} | {f.doc}{note} |")
        out.append("")
    return "\n".join(out).rstrip() + "\n"


# ---------------------------------------------------------------- JavaScript codec

_JS_READ = {
    "u8": "b[{o}]",
    "u16": "(b[{o}] | (b[{o} + 1] << 8))",
    "i16": "(((b[{o}] | (b[{o} + 1] << 8)) << 16) >> 16)",
    "u32": "((b[{o}] | (b[{o} + 1] << 8) | (b[{o} + 2] << 16) | (b[{o} + 3] << 24)) >>> 0)",
}


def generate_js(fleet: str, models: Mapping[int, Mapping[str, Any]] | None = None) -> str:
    """The payload codec for the fleet's network server: ChirpStack v4 and The Things Stack v3
    both call `decodeUplink({bytes, fPort})` and read `{data, warnings, errors}`. ES5 only
    (both servers' JavaScript engines accept it). `models` maps a model version to what the
    fleet's repository knows of it (site, labels), which the codec adds as `model`."""
    table = [{"type": f.type_id, "layout": f.layout, "name": f.name, "size": f.size,
              "fields": [[x.name, x.type, f.offsets[x.name]] for x in f.fields]} for f in FRAMES]
    known = {str(k): v for k, v in sorted((models or {}).items())}
    lines = [
        f"// nmspec payload codec for the fleet {json.dumps(fleet)}.",
        "// Generated from engine/frames.py; do not edit by hand.",
        "// ChirpStack v4 (device profile codec) and The Things Stack v3 (uplink payload formatter).",
        "var NM_FRAMES = " + json.dumps(table, sort_keys=True, separators=(",", ":")) + ";",
        "var NM_MODELS = " + json.dumps(known, sort_keys=True, separators=(",", ":")) + ";",
        "",
        "function nmRead(b, type, o) {",
    ]
    for t, expr in _JS_READ.items():
        lines.append(f"  if (type === {json.dumps(t)}) return {expr.format(o='o')};")
    lines += [
        "  throw new Error('unknown field type ' + type);",
        "}",
        "",
        "function nmHex(v) {",
        "  return (v < 16 ? '0' : '') + v.toString(16);",
        "}",
        "",
        "function decodeUplink(input) {",
        "  var b = input.bytes || [];",
        "  if (b.length < 2) {",
        "    return {data: {}, warnings: [], errors: ['payload of ' + b.length + ' bytes has no frame header']};",
        "  }",
        "  var frame = null, typeKnown = false, i;",
        "  for (i = 0; i < NM_FRAMES.length; i++) {",
        "    if (NM_FRAMES[i].type === b[0]) {",
        "      typeKnown = true;",
        "      if (NM_FRAMES[i].layout === b[1]) frame = NM_FRAMES[i];",
        "    }",
        "  }",
        "  if (frame === null) {",
        "    var why = typeKnown ? 'frame type 0x' + nmHex(b[0]) + ' has no layout ' + b[1]",
        "                        : 'unknown frame type 0x' + nmHex(b[0]);",
        "    return {data: {}, warnings: [], errors: [why]};",
        "  }",
        "  if (b.length < frame.size) {",
        "    return {data: {}, warnings: [], errors: [frame.name + ' frame of layout ' + frame.layout + ' is ' +",
        "            frame.size + ' bytes, got ' + b.length]};",
        "  }",
        "  var data = {frame: frame.name, layout: frame.layout};",
        "  for (i = 0; i < frame.fields.length; i++) {",
        "    var f = frame.fields[i];",
        "    data[f[0]] = nmRead(b, f[1], f[2]);",
        "  }",
        "  var model = NM_MODELS[String(data.model_version)];",
        "  if (model !== undefined) {",
        "    data.model = model;",
        "    if (frame.name === 'anomaly' && model.labels && data.class_index < model.labels.length) {",
        "      data.label = model.labels[data.class_index];",
        "    }",
        "  }",
        "  var warnings = [];",
        "  if (b.length > frame.size) {",
        "    warnings.push((b.length - frame.size) + ' bytes after the ' + frame.name + ' frame ignored');",
        "  }",
        "  return {data: data, warnings: warnings, errors: []};",
        "}",
        "",
        "if (typeof module !== 'undefined') {",
        "  module.exports = {decodeUplink: decodeUplink};",
        "}",
    ]
    return "\n".join(lines) + "\n"


def annotate(data: dict[str, Any], models: Mapping[int, Mapping[str, Any]] | None) -> dict[str, Any]:
    """The Python decoder's output with what the codec adds from the fleet's models, so the
    two can be compared field for field."""
    model = (models or {}).get(int(data.get("model_version", -1))) if data else None
    if model is None:
        return data
    out = dict(data, model=model)
    labels = model.get("labels") or []
    if data.get("frame") == "anomaly" and int(data["class_index"]) < len(labels):
        out["label"] = labels[int(data["class_index"])]
    return out
