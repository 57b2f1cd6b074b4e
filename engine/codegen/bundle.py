"""A bundle is a mapping of relative paths to bytes: its canonical JSON and its manifest.
Writing one to disk is engine.fs's."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping


def canonical_json(value: object) -> bytes:
    return (json.dumps(value, sort_keys=True, indent=2, ensure_ascii=False, allow_nan=False) + "\n").encode("utf-8")


def manifest(files: Mapping[str, bytes], fields: Mapping[str, object]) -> bytes:
    entries = {path: {"sha256": hashlib.sha256(data).hexdigest(), "bytes": len(data)} for path, data in sorted(files.items())}
    return canonical_json({**fields, "files": entries})
