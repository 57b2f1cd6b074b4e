"""Key retirement statements: "key A is no longer trusted", signed by a trusted key (the
new key B, or A itself), as a DSSE envelope whose payload is 36 bytes: b"NMKR" and the
retired key's id. The payload is binary so that a node checks the very same signed bytes
as `nmspec verify`: it rebuilds DSSE's PAE and verifies Ed25519 without parsing JSON.

The node receives the envelope's payload, the signer's key id and the signature,
concatenated (132 bytes, `device_form`).
"""

from __future__ import annotations

from collections.abc import Iterable

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from engine.image.keys import key_id
from engine.trust import dsse

PAYLOAD_TYPE = "application/vnd.nmspec.key-retirement.v1"
MAGIC = b"NMKR"
PAYLOAD_SIZE = len(MAGIC) + 32


def retire(retired_public_key: Ed25519PublicKey, signing_key: Ed25519PrivateKey) -> bytes:
    """The envelope's bytes retiring `retired_public_key`, signed by `signing_key`."""
    return dsse.encode(dsse.sign(PAYLOAD_TYPE, MAGIC + key_id(retired_public_key), signing_key))


def retired_key(data: bytes, trusted: Iterable[Ed25519PublicKey]) -> str:
    """The hex id of the key an envelope retires, once a trusted key's signature verifies
    (a retirement signed by the retired key itself counts). Raises dsse.EnvelopeError."""
    verified = dsse.verify(data, trusted)
    if verified.payload_type != PAYLOAD_TYPE or len(verified.payload) != PAYLOAD_SIZE \
            or not verified.payload.startswith(MAGIC):
        raise dsse.EnvelopeError(f"not a key retirement statement (payload type {verified.payload_type!r})")
    return verified.payload[len(MAGIC):].hex()


def device_form(data: bytes) -> bytes:
    """payload (36) + signer key id (32) + Ed25519 signature (64), for nm_rt_retire_key."""
    payload_type, payload, signatures = dsse.parse(data)
    if payload_type != PAYLOAD_TYPE or len(payload) != PAYLOAD_SIZE or not signatures:
        raise dsse.EnvelopeError("not a signed key retirement statement")
    kid, sig = signatures[0]
    return payload + bytes.fromhex(kid) + sig
