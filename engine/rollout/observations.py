"""Per-site observations for the gates. Offline input: a JSON file

    {"observed_at": SECONDS, "sites": [{"site": ..., "update_started": SECONDS | null,
      "rollbacks": N, "windows": N, "anomalies": N, "fallback_windows": N,
      "battery_used_mAh": X, "battery_predicted_mAh": X, "last_seen": SECONDS}, ...]}

(all times in seconds of one epoch; observed_at is the "now" the gates are judged at, so
the same file always gives the same verdict)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import NoReturn

from engine.diagnostics import Diagnostic, StageError
from engine.rollout.gates import SiteObservation

FIELDS: dict[str, type | tuple[type, ...]] = {"site": str, "update_started": (int, float, type(None)), "rollbacks": int, "windows": int,
          "anomalies": int, "fallback_windows": int, "battery_used_mAh": (int, float, type(None)),
          "battery_predicted_mAh": (int, float, type(None)), "last_seen": (int, float, type(None))}


def load_observations(path: str | Path) -> tuple[dict[str, SiteObservation], float]:
    """(site -> observation, observed_at). Raises StageError NM940 naming what is wrong."""
    where = str(path)

    def fail(message: str, hint: str | None = None) -> NoReturn:
        raise StageError([Diagnostic("error", "NM940", message, file=where, hint=hint)])

    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as exc:
        fail(f"cannot read the observations: {exc.strerror}")
    except json.JSONDecodeError as exc:
        raise StageError([Diagnostic("error", "NM940", f"not JSON: {exc.msg}", file=where, line=exc.lineno,
                                     column=exc.colno)]) from None
    if not isinstance(data, dict) or not isinstance(data.get("observed_at"), (int, float)) \
            or not isinstance(data.get("sites"), list):
        fail("observations need observed_at (seconds) and sites (a list)",
             hint='{"observed_at": 1700000000, "sites": [{"site": "plant-7/compressor-3", ...}]}')
    out = {}
    for i, record in enumerate(data["sites"]):
        if not isinstance(record, dict) or not isinstance(record.get("site"), str):
            fail(f"sites[{i}]: a record with a site name")
        for key, value in record.items():
            if key not in FIELDS:
                fail(f"sites[{i}].{key}: unknown field", hint=f"fields: {', '.join(FIELDS)}")
            if not isinstance(value, FIELDS[key]) or isinstance(value, bool):
                fail(f"sites[{i}].{key}: {value!r} is not a {'number' if key != 'site' else 'string'}")
        if record["site"] in out:
            fail(f"sites[{i}]: {record['site']} is observed twice")
        out[record["site"]] = SiteObservation(
            record["site"], record.get("update_started"), record.get("rollbacks", 0), record.get("windows", 0),
            record.get("anomalies", 0), record.get("fallback_windows", 0), record.get("battery_used_mAh"),
            record.get("battery_predicted_mAh"), record.get("last_seen"))
    return out, float(data["observed_at"])
