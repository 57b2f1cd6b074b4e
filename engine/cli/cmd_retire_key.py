"""nmspec retire-key OLD.pub --sign-key KEY --out FILE: a signed statement that a key is retired."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from engine.cli.common import EXIT_OK, EXIT_USAGE
from engine.diagnostics import StageError

if TYPE_CHECKING:
    from engine.cli.common import Subparsers


def register(subparsers: Subparsers) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(
        "retire-key", help="sign a statement that retires a signing key",
        description="Write a DSSE envelope retiring the public key OLD, signed with KEY (the key that replaces it, or "
                    "OLD's own private key). `nmspec verify --retired FILE` then refuses bundles signed by OLD; "
                    "FILE.bin is the same statement in the form a node's nm_rt_retire_key takes. docs/trust.md.")
    parser.add_argument("old", metavar="OLD", help="public key to retire (PEM, or 32 raw bytes as binary, hex or base64)")
    parser.add_argument("--sign-key", metavar="KEY", required=True, help="Ed25519 private key that signs the statement")
    parser.add_argument("--out", metavar="FILE", required=True, help="where the envelope goes (and FILE.bin for nodes)")
    parser.set_defaults(func=run)
    return parser


def run(args: argparse.Namespace) -> int:
    from engine.pipeline import key_id, signing_key, verify_key
    from engine.trust.retire import device_form, retire

    try:
        old = verify_key(args.old)
        key = signing_key(args.sign_key)
    except StageError as exc:
        sys.stderr.write(f"nmspec retire-key: {exc.diagnostics[0].message}\n")
        return EXIT_USAGE
    assert key is not None  # --sign-key is required
    envelope = retire(old, key)
    out = Path(args.out)
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_bytes(envelope)
        out.with_name(out.name + ".bin").write_bytes(device_form(envelope))
    except OSError as exc:
        sys.stderr.write(f"nmspec retire-key: cannot write {out}: {exc.strerror or exc}\n")
        return EXIT_USAGE
    sys.stdout.write(f"wrote {out} and {out}.bin: key {key_id(old).hex()[:16]} retired, signed by key "
                     f"{key_id(key.public_key()).hex()[:16]}\n")
    return EXIT_OK
