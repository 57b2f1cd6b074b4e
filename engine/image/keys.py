"""Ed25519 keys for signing and checking images. Keys come from a file or the environment,
never from the spec repository; both PEM and raw 32-byte keys (binary, hex or base64) load."""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from engine.image.errors import KEY_ERROR, image_error
from engine.image.limits import MAX_KEY_BYTES, read_limited


def raw_public_key(public_key: Ed25519PublicKey) -> bytes:
    return public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def key_id(public_key: Ed25519PublicKey) -> bytes:
    """The key's id: SHA-256 of its raw 32-byte public key (stable across PEM, hex or base64)."""
    return hashlib.sha256(raw_public_key(public_key)).digest()


def load_signing_key(path: str | os.PathLike[str] | None = None, env: str = "NMSPEC_SIGNING_KEY") -> Ed25519PrivateKey | None:
    """The private key from `path`, else from the environment variable `env` (its value is
    PEM text, hex or base64 of the 32-byte seed, or a path to a key file); None if neither
    is given."""
    if path is not None:
        return _private(_read(path), str(path))
    value = os.environ.get(env)
    if not value:
        return None
    if not value.lstrip().startswith("-----BEGIN") and Path(value).is_file():
        return _private(_read(value), value)
    # text in a variable: PEM, hex or base64 only, never 32 characters taken as raw bytes
    return _private(value.encode(), f"${env}", binary=False)


def load_verify_key(path: str | os.PathLike[str]) -> Ed25519PublicKey:
    data = _read(path)
    where = str(path)
    if data.lstrip().startswith(b"-----BEGIN"):
        try:
            key = serialization.load_pem_public_key(data)
        except ValueError as exc:
            raise image_error(KEY_ERROR, f"{where}: not a readable PEM public key ({exc})") from None
        if not isinstance(key, Ed25519PublicKey):
            raise image_error(KEY_ERROR, f"{where}: the public key is not an Ed25519 key")
        return key
    raw = _raw32(data)
    if raw is None:
        raise image_error(KEY_ERROR, f"{where}: expected a PEM Ed25519 public key or 32 raw bytes (binary, hex or base64)")
    return Ed25519PublicKey.from_public_bytes(raw)


def _read(path: str | os.PathLike[str]) -> bytes:
    try:
        return read_limited(path, MAX_KEY_BYTES)
    except OverflowError:
        raise image_error(KEY_ERROR, f"{path}: more than {MAX_KEY_BYTES} bytes; a key file holds a few hundred",
                          hint="name the PEM key file itself") from None
    except OSError as exc:
        raise image_error(KEY_ERROR, f"cannot read key file {path}: {exc.strerror or exc}") from None


def _private(data: bytes, where: str, *, binary: bool = True) -> Ed25519PrivateKey:
    if data.lstrip().startswith(b"-----BEGIN"):
        try:
            key = serialization.load_pem_private_key(data, password=None)
        except (ValueError, TypeError) as exc:
            raise image_error(KEY_ERROR, f"{where}: not a readable unencrypted PEM private key ({exc})") from None
        if not isinstance(key, Ed25519PrivateKey):
            raise image_error(KEY_ERROR, f"{where}: the private key is not an Ed25519 key")
        return key
    raw = _raw32(data, binary=binary)
    if raw is None:
        raise image_error(KEY_ERROR, f"{where}: expected a PEM Ed25519 private key or a 32-byte seed (binary, hex or base64)")
    return Ed25519PrivateKey.from_private_bytes(raw)


def _raw32(data: bytes, *, binary: bool = True) -> bytes | None:
    if binary and len(data) == 32:
        return data
    text = data.strip()
    if len(text) == 64:
        try:
            return binascii.unhexlify(text)
        except binascii.Error:
            pass
    try:
        decoded = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        return None
    return decoded if len(decoded) == 32 else None
