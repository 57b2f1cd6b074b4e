"""The rollout file (schemas/rollout.schema.json) as frozen data, read with the spec
reader so every mistake gets a diagnostic at its line and column."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import attrs
import jsonschema

from engine.diagnostics import Diagnostic, Origin, StageError, has_errors
from engine.spec.schema_check import load_schema
from engine.spec.units import parse_quantity
from engine.spec.yamlread import ReadResult, dotted, pointer_join, read_file

SCHEMA = "rollout.schema.json"


@attrs.frozen
class Wave:
    name: str
    soak_s: float
    sites: tuple[str, ...] = ()
    labels: tuple[tuple[str, str], ...] = ()
    percent: float | None = None


@attrs.frozen
class Gates:
    max_rollbacks: int = 0
    max_anomaly_rate: float = 0.05
    max_fallback_windows: int = 0
    battery_margin: float = 0.1
    max_silence_s: float = 2 * 86400.0


@attrs.frozen
class Rollout:
    name: str
    waves: tuple[Wave, ...]
    gates: Gates
    sites_folder: Path | None  # the specs it covers


def _origin(result: ReadResult, pointer: str) -> Origin | None:
    while True:
        origin = result.source_map.values.get(pointer) or result.source_map.keys.get(pointer)
        if origin is not None or not pointer:
            return origin
        pointer = pointer.rsplit("/", 1)[0]


def _pointer(path: Iterable[str | int]) -> str:
    pointer = ""
    for token in path:
        pointer = pointer_join(pointer, token)
    return pointer


def load_rollout(path: str | Path, display: str | None = None) -> Rollout:
    """Raises StageError (NM930 the file, NM931 the schema, NM932 a wave that selects nothing
    by name it knows) with every problem found."""
    path = Path(path)
    result = read_file(str(path), display or str(path))
    problems = list(result.diagnostics)
    if has_errors(problems):
        raise StageError(problems)
    data = result.data
    validator = jsonschema.Draft7Validator(load_schema(SCHEMA))
    for error in sorted(validator.iter_errors(data), key=lambda e: list(map(str, e.absolute_path))):
        pointer = _pointer(error.absolute_path)
        where = dotted(pointer) or "the rollout"
        hint: str | None
        if error.validator == "oneOf":
            message = f"{where}: a wave selects its sites by exactly one of sites, labels or percent"
            hint = "keep one of the three keys"
        elif error.validator == "additionalProperties":
            message = f"{where}: {error.message}"
            hint = "see schemas/rollout.schema.json for the keys a rollout takes"
        else:
            message = f"{where}: {error.message}"
            described = error.schema.get("description") if isinstance(error.schema, dict) else None
            hint = described if isinstance(described, str) else None
        problems.append(Diagnostic.at(_origin(result, pointer), "NM931", message, path=pointer, hint=hint))
    if has_errors(problems):
        raise StageError(problems)
    names = [w["name"] for w in data["waves"]]
    for i, name in enumerate(names):
        if names.index(name) != i:
            problems.append(Diagnostic.at(_origin(result, f"/waves/{i}/name"), "NM931",
                                          f"waves[{i}].name: wave '{name}' is named twice", path=f"/waves/{i}/name",
                                          hint="give every wave its own name"))
    if has_errors(problems):
        raise StageError(problems)
    waves = tuple(Wave(w["name"], parse_quantity(w["soak"], "time"), tuple(w.get("sites", ())),
                       tuple(sorted((w.get("labels") or {}).items())), w.get("percent")) for w in data["waves"])
    g = data.get("gates") or {}
    gates = Gates(int(g.get("max_rollbacks", 0)), float(g.get("max_anomaly_rate", 0.05)),
                  int(g.get("max_fallback_windows", 0)), float(g.get("battery_margin", 0.1)),
                  parse_quantity(g.get("max_silence", "48h"), "time"))
    folder = (path.parent / data["sites"]) if data.get("sites") else None
    return Rollout(data["metadata"]["name"], waves, gates, folder)
