"""nmspec keygen KEY: an Ed25519 key pair for signing images (KEY and KEY.pub, PEM)."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from engine.cli.common import Subparsers


def register(subparsers: Subparsers) -> argparse.ArgumentParser:
    parser = subparsers.add_parser("keygen", help="make an Ed25519 key pair for signing images",
                                   description="Write a new Ed25519 private key to KEY (mode 600) and its public key to "
                                               "KEY.pub. Keep the private key out of the spec repository.")
    parser.add_argument("key", metavar="KEY", help="private key file to create")
    parser.add_argument("--force", action="store_true", help="replace an existing key")
    parser.set_defaults(func=run)
    return parser


def run(args: argparse.Namespace) -> int:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    path = Path(args.key)
    public = path.with_name(path.name + ".pub")
    if (path.exists() or public.exists()) and not args.force:
        sys.stderr.write(f"nmspec keygen: {path} exists; pass --force to replace it\n")
        return 2
    key = Ed25519PrivateKey.generate()
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                       serialization.NoEncryption()))
    public.write_bytes(key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo))
    sys.stdout.write(f"wrote {path} (private, keep it secret) and {public}\n")
    return 0
