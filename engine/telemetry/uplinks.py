"""What arrives from the network servers, as frozen data: one decoded uplink, one rejected
message, and the counts an ingest run reports."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping

import attrs


@attrs.frozen
class Uplink:
    """One uplink as the network server delivered it, with its frame decoded."""

    device: str  # DevEUI (16 lowercase hex digits) when the server gives it, else the device name
    device_name: str  # the name the network server knows the device by
    received_ms: int  # the network server's receive time, ms since the Unix epoch (UTC)
    f_cnt: int | None  # LoRaWAN uplink frame counter
    f_port: int | None
    payload: bytes
    source: str  # chirpstack | tts
    fields: Mapping[str, int | str]  # engine.frames.decode of the payload

    @property
    def uid(self) -> str:
        """The same frame with the same counter from the same device is one uplink, however
        often the broker or an export delivers it."""
        counter = self.f_cnt if self.f_cnt is not None else f"t{self.received_ms}"
        digest = hashlib.sha256(f"{self.device}|{counter}|".encode() + self.payload).hexdigest()
        return digest[:32]

    @property
    def frame(self) -> str:
        return str(self.fields["frame"])


@attrs.frozen
class Rejected:
    """A message that is not an uplink nmspec can read, with why."""

    source: str
    where: str  # MQTT topic or export file and record number
    reason: str
    device: str = ""
    received_ms: int | None = None


@attrs.frozen
class IngestCounts:
    received: int = 0  # messages seen
    stored: int = 0  # new uplinks written
    duplicates: int = 0  # uplinks already stored
    out_of_order: int = 0  # older frame counter than one already stored for the device
    malformed: int = 0  # messages that are not readable uplinks (Rejected)
    ignored: int = 0  # readable messages that are not uplinks (joins, acks, other topics)

    def __add__(self, other: IngestCounts) -> IngestCounts:
        return IngestCounts(*(a + b for a, b in zip(attrs.astuple(self), attrs.astuple(other))))

    def describe(self) -> str:
        return (f"{self.received} messages: {self.stored} uplinks stored, {self.duplicates} duplicates, "
                f"{self.out_of_order} out of order, {self.malformed} malformed, {self.ignored} ignored")
