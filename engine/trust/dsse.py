"""DSSE, the Dead Simple Signing Envelope: the signature is over PAE(payloadType, payload),
the payload's exact bytes, so no JSON canonicalisation decides what was signed.

    {"payloadType": TYPE, "payload": base64(BYTES), "signatures": [{"keyid": HEX, "sig": base64(SIG)}]}

Key ids are hex SHA-256 of the signer's raw Ed25519 public key (engine.image.keys.key_id).
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Iterable
from typing import Any

import attrs
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from engine.image.keys import key_id

IN_TOTO_PAYLOAD_TYPE = "application/vnd.in-toto+json"


class EnvelopeError(ValueError):
    """The envelope is not readable DSSE, or no signature by a trusted key verifies."""


@attrs.frozen
class Verified:
    payload_type: str
    payload: bytes
    key_id: str  # hex id of the trusted key whose signature verified


def pae(payload_type: str, payload: bytes) -> bytes:
    """DSSE v1 pre-authentication encoding."""
    kind = payload_type.encode("utf-8")
    return b"DSSEv1 %d %s %d %s" % (len(kind), kind, len(payload), payload)


def sign(payload_type: str, payload: bytes, signing_key: Ed25519PrivateKey) -> dict[str, Any]:
    return {"payloadType": payload_type, "payload": base64.b64encode(payload).decode("ascii"),
            "signatures": [{"keyid": key_id(signing_key.public_key()).hex(),
                            "sig": base64.b64encode(signing_key.sign(pae(payload_type, payload))).decode("ascii")}]}


def encode(envelope: dict[str, Any]) -> bytes:
    return (json.dumps(envelope, sort_keys=True, indent=2) + "\n").encode("utf-8")


def _b64(text: str) -> bytes:
    """Strict base64: a string that decodes only as written (padding bits zero), so two
    different envelope texts never carry the same bytes."""
    raw = base64.b64decode(text, validate=True)
    if base64.b64encode(raw).decode("ascii") != text:
        raise ValueError("base64 is not in canonical form")
    return raw


def parse(data: bytes) -> tuple[str, bytes, list[tuple[str, bytes]]]:
    """(payload type, payload, [(key id, signature)]) of an envelope's bytes."""
    try:
        envelope = json.loads(data)
        payload_type = envelope["payloadType"]
        payload = _b64(envelope["payload"])
        signatures = [(s["keyid"], _b64(s["sig"])) for s in envelope["signatures"]]
    except (ValueError, KeyError, TypeError, binascii.Error, UnicodeDecodeError) as exc:
        raise EnvelopeError(f"not a readable DSSE envelope ({type(exc).__name__}: {exc})") from None
    if not isinstance(payload_type, str) or not all(isinstance(k, str) for k, _ in signatures):
        raise EnvelopeError("not a readable DSSE envelope (payloadType and keyid must be text)")
    return payload_type, payload, signatures


def verify(data: bytes, trusted: Iterable[Ed25519PublicKey], *, retired: Iterable[str] = ()) -> Verified:
    """The payload when a signature by a trusted, unretired key verifies over its PAE."""
    payload_type, payload, signatures = parse(data)
    keys = {key_id(k).hex(): k for k in trusted}
    gone = set(retired)
    message = pae(payload_type, payload)
    named = []
    for kid, sig in signatures:
        named.append(kid)
        key = keys.get(kid)
        if key is None or kid in gone:
            continue
        try:
            key.verify(sig, message)
        except InvalidSignature:
            raise EnvelopeError(f"the signature by key {kid[:16]} does not verify") from None
        return Verified(payload_type, payload, kid)
    if not named:
        raise EnvelopeError("the envelope carries no signature")
    by_retired = [k for k in named if k in gone]
    if by_retired:
        raise EnvelopeError(f"signed by retired key {by_retired[0][:16]}")
    raise EnvelopeError(f"signed by key {', '.join(k[:16] for k in named)}, which is not a trusted key "
                        f"(trusted: {', '.join(sorted(k[:16] for k in keys)) or 'none'})")
