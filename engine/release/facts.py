"""What the release planner reads from a bundle: the site, the chip, the image, and what
the firmware compiled into the node expects of any image it is sent (nmc_config.h)."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

import attrs

# nmc_config.h defines that configure the node around the model (uplink policy, radio):
# a change to these alone is a configuration update
CONFIG_DEFINES = ("NM_ALERT_CONFIRMED", "NM_ALERT_RETRIES", "NM_ALERT_MAX_LATENCY_S", "NM_ALERT_RETRY_GAP_S",
                  "NM_ALERT_DUTY_GAP_S", "NM_ALERT_STATUS_INTERVAL_S", "NM_RADIO_SPREADING_FACTOR")
_DEFINE = re.compile(r"^#define (NM_[A-Z0-9_]+) (.+?)\s*$", re.MULTILINE)


@attrs.frozen
class BundleFacts:
    site: str
    chip: str
    image: bytes
    firmware: Mapping[str, bytes]  # name inside firmware/ -> bytes
    defines: Mapping[str, str]  # nmc_config.h
    manifest: Mapping[str, Any]
    report: Mapping[str, Any]

    def define_int(self, name: str) -> int | None:
        value = self.defines.get(name)
        if value is None:
            return None
        match = re.fullmatch(r"(\d+)U?L?", value)
        return int(match.group(1)) if match else None

    def define_bytes(self, name: str) -> bytes | None:
        value = self.defines.get(name)
        if value is None:
            return None
        return bytes(int(v, 16) for v in re.findall(r"0x([0-9A-Fa-f]{2})", value))

    def image_digest(self) -> str:
        import hashlib

        return hashlib.sha256(self.image).hexdigest()

    @property
    def security_version(self) -> int | None:
        """The release's security version, when the bundle states one."""
        for source in (self.manifest, self.manifest.get("statement") or {}, self.report):
            value = source.get("security_version") if isinstance(source, Mapping) else None
            if isinstance(value, int):
                return value
        return None


def bundle_facts(files: Mapping[str, bytes]) -> BundleFacts:
    manifest = json.loads(files.get("manifest.json", b"{}"))
    report = json.loads(files.get("report.json", b"{}"))
    firmware = {name[len("firmware/"):]: data for name, data in sorted(files.items()) if name.startswith("firmware/")}
    config = firmware.get("nmc_config.h", b"").decode("utf-8", "replace")
    defines = {m.group(1): m.group(2) for m in _DEFINE.finditer(config)}
    return BundleFacts(str(manifest.get("site") or report.get("site")), str(manifest.get("chip") or report.get("chip")),
                       files.get("model.nmc", b""), firmware, defines, manifest, report)
