"""The bundle statement: an in-toto Statement v1 naming every file of a bundle (path,
SHA-256, size) and what the bundle is for (site, chip, image digest, tool version, security
version, signing key), signed as a DSSE envelope into `bundle.dsse.json`.

in-toto's Statement is a published, widely read shape for "these artifacts, these claims";
DSSE signs the payload's bytes as they are, so verifying needs no canonical JSON and no
home-made rules about what the signature covers.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from engine.trust import dsse

ENVELOPE = "bundle.dsse.json"
STATEMENT_TYPE = "https://in-toto.io/Statement/v1"
PREDICATE_TYPE = "urn:nmspec:bundle:v1"
IMAGE = "model.nmc"


def statement(files: Mapping[str, bytes], predicate: Mapping[str, Any]) -> dict[str, Any]:
    subjects = [{"name": path, "digest": {"sha256": hashlib.sha256(data).hexdigest()}, "annotations": {"bytes": len(data)}}
                for path, data in sorted(files.items()) if path != ENVELOPE]
    return {"_type": STATEMENT_TYPE, "subject": subjects, "predicateType": PREDICATE_TYPE, "predicate": dict(predicate)}


def payload(value: dict[str, Any]) -> bytes:
    return (json.dumps(value, sort_keys=True, indent=2, ensure_ascii=False, allow_nan=False) + "\n").encode("utf-8")


def sign_bundle(files: Mapping[str, bytes], predicate: Mapping[str, Any], signing_key: Ed25519PrivateKey) -> bytes:
    """The envelope's bytes over every file in `files` (the envelope itself excluded)."""
    return dsse.encode(dsse.sign(dsse.IN_TOTO_PAYLOAD_TYPE, payload(statement(files, predicate)), signing_key))
