"""Reading uplinks where they arrive: the MQTT integrations of ChirpStack v4 and The Things
Stack v3, and their JSON exports.

- ChirpStack v4 publishes each uplink event on `application/<application id>/device/<DevEUI>/
  event/up` as JSON: `deviceInfo` (`devEui`, `deviceName`, `tags`), `time`, `fCnt`, `fPort`
  and the payload base64-encoded in `data`.
- The Things Stack v3 publishes on `v3/<application id>[@<tenant>]/devices/<device id>/up`:
  `end_device_ids` (`device_id`, `dev_eui`), `received_at`, and `uplink_message` with
  `f_cnt`, `f_port` and the base64 `frm_payload` (protobuf JSON leaves out zero values, so a
  missing `f_cnt` is 0).

A message that is not a readable uplink is never fatal: it becomes a `Rejected` with the
reason and is counted. Other events of the same integrations (joins, acks, downlinks, status)
are counted as ignored.
"""

from __future__ import annotations

import base64
import binascii
import calendar
import json
import re
import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

from engine import frames
from engine.telemetry.store import Store
from engine.telemetry.uplinks import IngestCounts, Rejected, Uplink

SERVERS = ("chirpstack", "tts")
TOPICS = {"chirpstack": "application/+/device/+/event/+", "tts": "v3/+/devices/+/+"}
_RFC3339 = re.compile(r"^(\d{4})-(\d\d)-(\d\d)[Tt ](\d\d):(\d\d):(\d\d)(?:\.(\d+))?([Zz]|[+-]\d\d:\d\d)$")

Parsed = Uplink | Rejected | None  # None: a message of another kind, ignored


def parse_time(text: str) -> int:
    """RFC 3339 time (any number of fractional digits, as both servers write) -> ms since the epoch."""
    m = _RFC3339.match(text or "")
    if m is None:
        raise ValueError(f"not an RFC 3339 time: {text!r}")
    year, month, day, hour, minute, second = (int(m.group(i)) for i in range(1, 7))
    fraction = int(((m.group(7) or "0") + "000")[:3])
    seconds = calendar.timegm((year, month, day, hour, minute, second, 0, 0, 0))
    zone = m.group(8)
    if zone not in ("Z", "z"):
        sign = 1 if zone[0] == "+" else -1
        seconds -= sign * (int(zone[1:3]) * 3600 + int(zone[4:6]) * 60)
    return seconds * 1000 + fraction


def _payload(text: object, what: str) -> bytes:
    if not isinstance(text, str):
        raise TypeError(f"{what} is missing")
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise ValueError(f"{what} is not base64") from None


def _uplink(source: str, where: str, device: str, name: str, received: int, f_cnt: int | None, f_port: int | None,
            data: bytes) -> Uplink | Rejected:
    try:
        fields = frames.decode(data)
    except frames.FrameError as exc:
        return Rejected(source, where, f"payload: {exc}", device, received)
    return Uplink(device, name, received, f_cnt, f_port, data, source, fields)


def _int_or_none(value: Any) -> int | None:
    return None if value is None else int(value)


def parse_chirpstack(event: dict[str, Any], where: str) -> Uplink | Rejected:
    info = event.get("deviceInfo") or {}
    eui = str(info.get("devEui") or "").lower()
    name = str(info.get("deviceName") or eui)
    try:
        if not eui and not name:
            raise ValueError("deviceInfo names no device")
        received = parse_time(str(event.get("time", "")))
        data = _payload(event.get("data"), "data")
        return _uplink("chirpstack", where, eui or name, name, received, _int_or_none(event.get("fCnt")),
                       _int_or_none(event.get("fPort")), data)
    except (ValueError, TypeError) as exc:
        return Rejected("chirpstack", where, str(exc), eui or name)


def parse_tts(message: dict[str, Any], where: str) -> Uplink | Rejected:
    ids = message.get("end_device_ids") or {}
    eui = str(ids.get("dev_eui") or "").lower()
    name = str(ids.get("device_id") or eui)
    up = message.get("uplink_message")
    try:
        if not isinstance(up, dict):
            raise TypeError("uplink_message is missing")
        if not eui and not name:
            raise ValueError("end_device_ids names no device")
        received = parse_time(str(message.get("received_at") or up.get("received_at") or ""))
        data = _payload(up.get("frm_payload"), "uplink_message.frm_payload")
        return _uplink("tts", where, eui or name, name, received, int(up.get("f_cnt", 0)),
                       _int_or_none(up.get("f_port")), data)
    except (ValueError, TypeError) as exc:
        return Rejected("tts", where, str(exc), eui or name)


def parse_message(topic: str, body: bytes) -> Parsed:
    """One MQTT message of either integration."""
    parts = topic.split("/")
    if len(parts) == 6 and parts[0] == "application" and parts[2] == "device" and parts[4] == "event":
        source, wanted = "chirpstack", parts[5] == "up"
    elif len(parts) == 5 and parts[0] == "v3" and parts[2] == "devices":
        source, wanted = "tts", parts[4] == "up"
    else:
        return None
    if not wanted:
        return None
    try:
        doc = json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        return Rejected(source, topic, f"not JSON: {exc}")
    if not isinstance(doc, dict):
        return Rejected(source, topic, "not a JSON object")
    return parse_chirpstack(doc, topic) if source == "chirpstack" else parse_tts(doc, topic)


def parse_record(doc: Any, where: str) -> Parsed:
    """One record of an export: a ChirpStack event, a TTS uplink message (bare or in the
    Storage Integration's {"result": ...}), or {"topic", "payload"} as an MQTT recorder writes."""
    if not isinstance(doc, dict):
        return Rejected("export", where, "not a JSON object")
    if "topic" in doc and "payload" in doc:
        payload = doc["payload"]
        body = json.dumps(payload).encode() if isinstance(payload, dict) else str(payload).encode()
        return parse_message(str(doc["topic"]), body)
    if isinstance(doc.get("result"), dict):
        doc = doc["result"]
    if "uplink_message" in doc or "end_device_ids" in doc:
        return parse_tts(doc, where) if "uplink_message" in doc else None
    if "deviceInfo" in doc:
        return parse_chirpstack(doc, where) if "data" in doc or "fCnt" in doc else None
    return Rejected("export", where, "neither a ChirpStack event nor a The Things Stack uplink")


def read_export(path: Path) -> Iterator[tuple[Parsed, str]]:
    """Records of a JSON export: one JSON array, or one JSON document per line."""
    text = path.read_text(encoding="utf-8", errors="replace")
    stripped = text.lstrip()
    if stripped.startswith("["):
        try:
            records = json.loads(text)
        except ValueError as exc:
            yield Rejected("export", str(path), f"not JSON: {exc}"), str(path)
            return
        for i, doc in enumerate(records):
            where = f"{path}[{i}]"
            yield parse_record(doc, where), where
        return
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        where = f"{path}:{number}"
        try:
            doc = json.loads(line)
        except ValueError as exc:
            yield Rejected("export", where, f"not JSON: {exc}"), where
            continue
        yield parse_record(doc, where), where


def store_parsed(store: Store, parsed: Iterable[Parsed]) -> IngestCounts:
    ups, bad, ignored, seen = [], [], 0, 0
    for item in parsed:
        seen += 1
        if item is None:
            ignored += 1
        elif isinstance(item, Rejected):
            bad.append(item)
        else:
            ups.append(item)
    return store.add(ups, bad, received=seen, ignored=ignored)


def ingest_exports(store: Store, paths: Iterable[Path]) -> IngestCounts:
    total = IngestCounts()
    for path in paths:
        total = total + store_parsed(store, (p for p, _ in read_export(Path(path))))
    return total


class MqttIngest:
    """Subscribes to a network server's MQTT integration and stores what arrives.

    The session is persistent (a fixed client id, clean session off, QoS 1): while the ingest
    is not running the broker keeps the uplinks for it, and a restart loses nothing.
    """

    def __init__(self, store: Store, host: str, port: int, *, topics: Iterable[str], client_id: str = "nmspec-ingest",
                 username: str | None = None, password: str | None = None, qos: int = 1, batch: int = 2000):
        import paho.mqtt.client as mqtt

        self.store, self.host, self.port = store, host, port
        self.topics, self.qos, self.batch = tuple(topics), qos, batch
        from paho.mqtt.enums import CallbackAPIVersion

        self._client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id, clean_session=False,
                                   protocol=mqtt.MQTTv311)
        if username is not None:
            self._client.username_pw_set(username, password)
        self._client.max_inflight_messages_set(1000)
        self._client.max_queued_messages_set(0)
        self._inbox: list[tuple[str, bytes]] = []
        self._subscribed = False
        self._error: str | None = None
        self._client.on_message = lambda _c, _u, msg: self._inbox.append((msg.topic, bytes(msg.payload)))
        self._client.on_subscribe = self._on_subscribe
        self._client.on_connect = self._on_connect

    def _on_connect(self, client: Any, _userdata: Any, _flags: Any, reason: Any, _properties: Any) -> None:
        if reason.is_failure:
            self._error = f"the broker refused the connection: {reason}"
            return
        client.subscribe([(t, self.qos) for t in self.topics])

    def _on_subscribe(self, *_args: Any) -> None:
        self._subscribed = True

    def run(self, *, idle_exit_s: float | None = None, max_messages: int | None = None,
            connect_timeout_s: float = 10.0, on_ready: Callable[[], None] | None = None) -> IngestCounts:
        """Ingest until `idle_exit_s` pass without a message, `max_messages` have been read,
        or forever (Ctrl-C). Raises ConnectionError when the broker cannot be reached."""
        client = self._client
        try:
            client.connect(self.host, self.port, keepalive=60)
        except OSError as exc:
            raise ConnectionError(f"cannot reach the MQTT broker at {self.host}:{self.port}: {exc}") from None
        total = IngestCounts()
        deadline = time.monotonic() + connect_timeout_s
        try:
            while not self._subscribed:
                client.loop(timeout=0.05)
                if self._error:
                    raise ConnectionError(self._error)
                if time.monotonic() > deadline:
                    raise ConnectionError(f"no subscription acknowledged by {self.host}:{self.port}")
            if on_ready is not None:
                on_ready()
            last_message = last_flush = time.monotonic()
            while True:
                before = len(self._inbox)
                try:
                    client.loop(timeout=0.05)
                except KeyboardInterrupt:  # the way to stop a run without an end: keep what arrived
                    break
                now = time.monotonic()
                if len(self._inbox) > before:
                    last_message = now
                if max_messages is not None and total.received + len(self._inbox) >= max_messages:
                    break
                if self._inbox and (len(self._inbox) >= self.batch or now - last_flush > 0.2):
                    total = total + self._flush()
                    last_flush = now
                if idle_exit_s is not None and now - last_message > idle_exit_s:
                    break
        finally:
            if self._inbox:
                total = total + self._flush()
            client.disconnect()
        return total

    def _flush(self) -> IngestCounts:
        taken, self._inbox = self._inbox, []
        return store_parsed(self.store, (parse_message(t, b) for t, b in taken))
