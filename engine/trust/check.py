"""What `nmspec verify` checks of a bundle folder before any kernel runs: every file named by
the signed statement (or, unsigned, by the manifest) and nothing else, the statement's
signature by a trusted key, the image's own signature, and that the manifest and the
statement say of the image what the image says of itself.

Codes: NM804 a file missing, extra or changed (against the manifest or the statement),
NM831 a signature required but the bundle or its statement is unsigned or unreadable,
NM832 the statement's signature (untrusted, retired or invalid), NM833 a manifest or
statement field contradicting the image, NM834 a security version below the minimum,
NM835 signed by a retired key. The image's own problems keep their NM7xx codes.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import attrs
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from engine.diagnostics import Diagnostic
from engine.image.limits import read_limited
from engine.image.reader import ParsedImage
from engine.trust import dsse
from engine.trust.statement import ENVELOPE, IMAGE, PREDICATE_TYPE, STATEMENT_TYPE

MANIFEST = "manifest.json"


@attrs.frozen
class BundleCheck:
    diagnostics: tuple[Diagnostic, ...]
    signed: bool  # the bundle carries a statement envelope
    checked_key: str | None  # hex id of the trusted key whose signatures were checked
    security_version: int | None
    image: bytes | None

    @property
    def ok(self) -> bool:
        return not any(d.severity == "error" for d in self.diagnostics)

    def verdict(self) -> str:
        """What the closing line says about signatures."""
        if self.checked_key is not None:
            return f"signature by key {self.checked_key[:16]} checked"
        if self.signed:
            return "signed, but no signature checked: pass --verify-key PUB"
        return "unsigned: no signature checked"


MAX_MANIFEST_BYTES = 16 * 1024 * 1024


def manifest_shape(manifest: Any) -> str | None:
    """What makes a parsed manifest.json unlike one nmspec writes, or None."""
    if not isinstance(manifest, dict):
        return f"the top level is {type(manifest).__name__}, not an object"
    files = manifest.get("files")
    if not isinstance(files, dict) or "model.nmc" not in files:
        return "'files' is not an object that lists model.nmc"
    for name, entry in files.items():
        parts = name.split("/")
        if name.startswith("/") or any(part in ("", ".", "..") for part in parts):
            return f"file name {name!r} does not stay inside the bundle"
        if not isinstance(entry, dict) or not isinstance(entry.get("sha256"), str):
            return f"the entry of {name!r} has no sha256"
    return None


def _error(code: str, message: str, file: Path | str | None = None, hint: str | None = None) -> Diagnostic:
    return Diagnostic("error", code, message, file=None if file is None else str(file), hint=hint)


def _on_disk(folder: Path) -> tuple[dict[str, Path], list[str]]:
    """Regular files by relative path, and the paths of anything else (links, devices)."""
    files, odd = {}, []
    for dirpath, dirnames, filenames in os.walk(folder):
        dirnames.sort()
        for name in sorted(filenames) + [d for d in dirnames if os.path.islink(os.path.join(dirpath, d))]:
            path = Path(dirpath) / name
            rel = path.relative_to(folder).as_posix()
            if path.is_symlink() or not path.is_file():
                odd.append(rel)
            else:
                files[rel] = path
    return files, odd


def _compare(folder: Path, listed: Mapping[str, tuple[str, int | None]], disk: Mapping[str, Path], odd: list[str],
             against: str, skip: set[str]) -> list[Diagnostic]:
    problems = []
    for rel, (sha, size) in sorted(listed.items()):
        path = disk.get(rel)
        if path is None:
            problems.append(_error("NM804", f"listed in the {against} but missing", folder / rel))
            continue
        data = path.read_bytes()
        if hashlib.sha256(data).hexdigest() != sha or (size is not None and len(data) != size):
            problems.append(_error("NM804", f"differs from the {against}'s SHA-256 (modified after the build)", folder / rel))
    for rel in sorted(set(disk) - set(listed) - skip):
        problems.append(_error("NM804", f"not listed in the {against}: an extra file in the bundle", folder / rel,
                               hint="remove it, or rebuild the bundle"))
    for rel in odd:
        problems.append(_error("NM804", "not a regular file (a link or a device) inside the bundle", folder / rel))
    return problems


def _statement_files(statement: Any) -> dict[str, tuple[str, int | None]]:
    if not isinstance(statement, dict) or statement.get("_type") != STATEMENT_TYPE \
            or statement.get("predicateType") != PREDICATE_TYPE or not isinstance(statement.get("subject"), list) \
            or not isinstance(statement.get("predicate"), dict):
        raise ValueError(f"not an in-toto {STATEMENT_TYPE} with predicate {PREDICATE_TYPE}")
    out: dict[str, tuple[str, int | None]] = {}
    for s in statement["subject"]:
        name, sha = s["name"], s["digest"]["sha256"]
        size = s.get("annotations", {}).get("bytes")
        if not isinstance(name, str) or not isinstance(sha, str) or not isinstance(size, int):
            raise TypeError("a subject lacks its name, SHA-256 or size")
        out[name] = (sha, size)
    return out


def _image_facts(parsed: ParsedImage, data: bytes) -> dict[str, Any]:
    c = parsed.contents
    return {"site": c.metadata.site, "chip": c.target.chip, "family": c.target.family,
            "image_hash": c.metadata.spec_hash, "tool_version": c.metadata.tool_version,
            "security_version": parsed.security_version, "key_id": parsed.key_id or None,
            "image_sha256": hashlib.sha256(data).hexdigest()}


def _contradictions(where: Path, fields: Mapping[str, Any], facts: Mapping[str, Any]) -> list[Diagnostic]:
    problems = []
    for name in ("site", "chip", "family", "image_hash", "tool_version", "security_version", "key_id", "image_sha256"):
        if name in fields and fields[name] != facts[name]:
            problems.append(_error("NM833", f"{name} is {fields[name]!r} but model.nmc says {facts[name]!r}", where,
                                   hint="the bundle's files were changed after the build; rebuild it"))
    return problems


def check_bundle(folder: Path, trusted: Iterable[Ed25519PublicKey] = (), *, retired: Iterable[str] = (),
                 min_security_version: int | None = None) -> BundleCheck:
    """`trusted`: Ed25519 public keys; with any, the statement and the image must be signed by
    one of them. `retired`: hex key ids no longer trusted. Never raises for bad input."""
    from engine.image import ImageError, parse_image

    folder = Path(folder)
    trusted = list(trusted)
    retired = set(retired)
    disk, odd = _on_disk(folder)
    problems: list[Diagnostic] = []
    manifest_path = folder / MANIFEST
    manifest, listed = {}, None
    try:
        parsed = json.loads(read_limited(manifest_path, MAX_MANIFEST_BYTES))
    except OverflowError:
        problems.append(_error("NM804", f"not a bundle manifest: more than {MAX_MANIFEST_BYTES} bytes", manifest_path))
    except (OSError, ValueError) as exc:
        problems.append(_error("NM804", f"not a readable bundle manifest: {exc}", manifest_path))
    else:
        shape = manifest_shape(parsed)
        if shape:
            problems.append(_error("NM804", f"not a bundle manifest: {shape}", manifest_path,
                                   hint="rebuild the bundle with nmspec build"))
        else:
            manifest = parsed
            listed = {k: (v["sha256"], v.get("bytes")) for k, v in parsed["files"].items()}

    signed = ENVELOPE in disk
    checked = None
    predicate: dict[str, Any] = {}
    if signed:
        envelope = disk[ENVELOPE].read_bytes()
        try:
            if trusted:
                verified = dsse.verify(envelope, trusted, retired=retired)
                payload_type, payload, checked = verified.payload_type, verified.payload, verified.key_id
            else:
                payload_type, payload, _ = dsse.parse(envelope)
            if payload_type != dsse.IN_TOTO_PAYLOAD_TYPE:
                raise ValueError(f"payload type {payload_type!r}, expected {dsse.IN_TOTO_PAYLOAD_TYPE!r}")
            statement = json.loads(payload)
            files = _statement_files(statement)
            predicate = statement["predicate"]
        except dsse.EnvelopeError as exc:
            code = "NM835" if "retired key" in str(exc) else "NM832"
            problems.append(_error(code, f"the bundle statement cannot be trusted: {exc}", disk[ENVELOPE],
                                   hint="verify with the public key that signed it (--verify-key), or rebuild"))
            files = None
        except (ValueError, KeyError, TypeError) as exc:
            problems.append(_error("NM831", f"not a readable bundle statement: {exc}", disk[ENVELOPE]))
            files = None
        if files is not None:
            problems += _compare(folder, files, disk, odd, "signed statement", {ENVELOPE})
            if listed is not None and files.get(MANIFEST) is None:
                problems.append(_error("NM831", "the signed statement does not cover manifest.json", disk[ENVELOPE]))
    elif trusted:
        problems.append(_error("NM831", f"the bundle is not signed (no {ENVELOPE}) and --verify-key requires a signature",
                               folder, hint="build it with --sign-key"))
    if not signed and listed is not None:
        problems += _compare(folder, listed, disk, odd, "manifest", {MANIFEST})
    if problems:
        return BundleCheck(tuple(problems), signed, None, None, None)

    image_path = folder / IMAGE
    data = image_path.read_bytes() if IMAGE in disk else None
    if data is None:
        return BundleCheck((_error("NM804", "the bundle has no model.nmc", image_path),), signed, None, None, None)
    try:
        parsed = parse_image(data, verify_key=trusted or None, require_signature=bool(trusted))
    except ImageError as exc:
        diags = tuple(d if d.file else attrs.evolve(d, file=str(image_path)) for d in exc.diagnostics)
        return BundleCheck(diags, signed, None, None, data)
    facts = _image_facts(parsed, data)
    problems += _contradictions(manifest_path, manifest, facts)
    if signed:
        wanted = dict(predicate)
        image = wanted.pop("image", None)
        if not isinstance(image, dict) or image.get("name") != IMAGE:
            problems.append(_error("NM833", "the signed statement does not name model.nmc as its image", disk[ENVELOPE]))
        else:
            wanted["image_sha256"] = image.get("sha256")
        problems += _contradictions(disk[ENVELOPE], wanted, facts)
        if checked is not None and parsed.key_id != checked:
            problems.append(_error("NM833", f"the statement is signed by key {checked[:16]} but model.nmc by key "
                                            f"{(parsed.key_id or 'none')[:16]}", image_path))
    if parsed.key_id and parsed.key_id in retired:
        problems.append(_error("NM835", f"model.nmc is signed by retired key {parsed.key_id[:16]}", image_path,
                               hint="rebuild with the key that replaced it"))
    if min_security_version is not None and parsed.security_version < min_security_version:
        problems.append(_error("NM834", f"security version {parsed.security_version} is below the minimum "
                                        f"{min_security_version}: a downgrade", image_path,
                               hint="build a release with runtime.update.security_version at or above the minimum"))
    return BundleCheck(tuple(problems), signed, checked if not problems else None, parsed.security_version, data)
