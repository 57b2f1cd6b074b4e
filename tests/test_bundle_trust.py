"""Signed bundles: a DSSE envelope over an in-toto statement names every file; `nmspec
verify` refuses anything missing, extra, changed, signed by an untrusted or retired key,
below a minimum security version, or a manifest that contradicts the image."""

from __future__ import annotations

import base64
import hashlib
import json
import random

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from engine.cli import main
from engine.image import ImageError, parse_image, read_image, write_image
from engine.image.keys import key_id
from engine.trust import dsse
from engine.trust.check import check_bundle
from engine.trust.retire import device_form, retire, retired_key
from engine.trust.statement import ENVELOPE
from tests.firmware_support import example

KEY_A = Ed25519PrivateKey.from_private_bytes(bytes(range(32)))
KEY_B = Ed25519PrivateKey.from_private_bytes(bytes(range(7, 39)))
A, B = KEY_A.public_key(), KEY_B.public_key()
ID_A, ID_B = key_id(A).hex(), key_id(B).hex()


def write_bundle(files, folder):
    for name, data in files.items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_bytes(data)
    return folder


@pytest.fixture(scope="module")
def signed():
    return dict(example("compressor", KEY_A)[0].files)


@pytest.fixture
def bundle(signed, tmp_path):
    return write_bundle(signed, tmp_path / "bundle")


def pae_by_hand(payload_type: str, payload: bytes) -> bytes:
    # DSSE v1: "DSSEv1" SP LEN(type) SP type SP LEN(body) SP body, LEN as ASCII decimal
    return ("DSSEv1 " + str(len(payload_type)) + " " + payload_type + " " + str(len(payload)) + " ").encode() + payload


def test_the_statement_names_every_file_and_verifies_by_hand(signed):
    envelope = json.loads(signed[ENVELOPE])
    assert envelope["payloadType"] == "application/vnd.in-toto+json"
    payload = base64.b64decode(envelope["payload"])
    [signature] = envelope["signatures"]
    assert signature["keyid"] == hashlib.sha256(A.public_bytes_raw()).hexdigest()
    A.verify(base64.b64decode(signature["sig"]), pae_by_hand(envelope["payloadType"], payload))
    statement = json.loads(payload)
    assert statement["_type"] == "https://in-toto.io/Statement/v1"
    assert statement["predicateType"] == "urn:nmspec:bundle:v1"
    subjects = {s["name"]: s for s in statement["subject"]}
    assert sorted(subjects) == sorted(set(signed) - {ENVELOPE})
    for name, data in signed.items():
        if name != ENVELOPE:
            assert subjects[name]["digest"] == {"sha256": hashlib.sha256(data).hexdigest()}
            assert subjects[name]["annotations"] == {"bytes": len(data)}
    image = parse_image(signed["model.nmc"], verify_key=A)
    assert statement["predicate"] == {
        "site": "demo-plant/compressor-1", "chip": image.contents.target.chip, "family": "xylo",
        "spec_hash": json.loads(signed["manifest.json"])["spec_hash"], "image_hash": image.contents.metadata.spec_hash,
        "tool_version": image.contents.metadata.tool_version,
        "key_id": ID_A, "security_version": 0, "source_date_epoch": None,
        "image": {"name": "model.nmc", "sha256": hashlib.sha256(signed["model.nmc"]).hexdigest()}}
    manifest = json.loads(signed["manifest.json"])
    assert (manifest["key_id"], manifest["security_version"], manifest["image_sha256"]) == (
        ID_A, 0, hashlib.sha256(signed["model.nmc"]).hexdigest())
    assert image.key_id == ID_A and image.security_version == 0


def test_verdicts(bundle, tmp_path):
    checked = check_bundle(bundle, [B, A])
    assert checked.ok and checked.verdict() == f"signature by key {ID_A[:16]} checked"
    assert check_bundle(bundle).verdict() == "signed, but no signature checked: pass --verify-key PUB"
    plain = write_bundle(dict(example("compressor")[0].files), tmp_path / "plain")
    assert check_bundle(plain).verdict() == "unsigned: no signature checked"
    [d] = check_bundle(plain, [A]).diagnostics
    assert (d.code, d.message) == ("NM831", ("the bundle is not signed (no bundle.dsse.json) and --verify-key "
                                             "requires a signature"))


def messages(folder, *args, **kwargs):
    return [(d.code, d.message, d.file) for d in check_bundle(folder, *args, **kwargs).diagnostics]


def test_missing_extra_and_changed_files(bundle):
    (bundle / "firmware" / "extra.c").write_text("int x;\n")
    (bundle / "report.json").write_bytes((bundle / "report.json").read_bytes() + b" ")
    (bundle / "firmware" / "runtime.h").unlink()
    assert messages(bundle, [A]) == [
        ("NM804", "listed in the signed statement but missing", str(bundle / "firmware/runtime.h")),
        ("NM804", "differs from the signed statement's SHA-256 (modified after the build)", str(bundle / "report.json")),
        ("NM804", "not listed in the signed statement: an extra file in the bundle", str(bundle / "firmware/extra.c")),
    ]


def test_untrusted_retired_and_downgraded(bundle, signed):
    assert messages(bundle, [B]) == [("NM832", (f"the bundle statement cannot be trusted: signed by key {ID_A[:16]}, "
                                                f"which is not a trusted key (trusted: {ID_B[:16]})"),
                                      str(bundle / ENVELOPE))]
    assert messages(bundle, [A, B], retired={ID_A}) == [
        ("NM835", f"the bundle statement cannot be trusted: signed by retired key {ID_A[:16]}", str(bundle / ENVELOPE))]
    assert messages(bundle, [A], min_security_version=1) == [
        ("NM834", "security version 0 is below the minimum 1: a downgrade", str(bundle / "model.nmc"))]
    assert check_bundle(bundle, [A], min_security_version=0).ok


def resign(folder, files, key=KEY_A, **predicate):
    """A statement over the folder's current files, re-signed (as a careless or compromised
    build would), so the checks behind the signature are reached."""
    from engine.trust.statement import sign_bundle

    current = {p.relative_to(folder).as_posix(): p.read_bytes() for p in folder.rglob("*") if p.is_file()}
    old = json.loads(base64.b64decode(json.loads(files[ENVELOPE])["payload"]))["predicate"]
    (folder / ENVELOPE).write_bytes(sign_bundle(current, {**old, **predicate}, key))


def test_manifest_and_statement_contradicting_the_image(bundle, signed):
    manifest = json.loads(signed["manifest.json"])
    manifest.update(chip="xylo-audio-2", site="elsewhere", security_version=4, tool_version="0.0.9")
    (bundle / "manifest.json").write_text(json.dumps(manifest))
    resign(bundle, signed)
    image = read_image(signed["model.nmc"])
    assert messages(bundle, [A]) == [
        ("NM833", "site is 'elsewhere' but model.nmc says 'demo-plant/compressor-1'", str(bundle / "manifest.json")),
        ("NM833", f"chip is 'xylo-audio-2' but model.nmc says {image.target.chip!r}", str(bundle / "manifest.json")),
        ("NM833", f"tool_version is '0.0.9' but model.nmc says {image.metadata.tool_version!r}",
         str(bundle / "manifest.json")),
        ("NM833", "security_version is 4 but model.nmc says 0", str(bundle / "manifest.json")),
    ]
    (bundle / "manifest.json").write_bytes(signed["manifest.json"])
    resign(bundle, signed, security_version=3, image={"name": "model.nmc", "sha256": "00" * 32})
    assert messages(bundle, [A]) == [
        ("NM833", "security_version is 3 but model.nmc says 0", str(bundle / ENVELOPE)),
        ("NM833", (f"image_sha256 is '{'00' * 32}' but model.nmc says "
                   f"'{hashlib.sha256(signed['model.nmc']).hexdigest()}'"), str(bundle / ENVELOPE)),
    ]


def test_an_image_signed_by_another_key_than_the_statement(bundle, signed):
    contents = read_image(signed["model.nmc"])
    (bundle / "model.nmc").write_bytes(write_image(contents, KEY_B))
    manifest = json.loads(signed["manifest.json"])
    resign(bundle, signed, key_id=ID_B, image={"name": "model.nmc",
                                                "sha256": hashlib.sha256((bundle / "model.nmc").read_bytes()).hexdigest()})
    found = messages(bundle, [A, B])
    assert ("NM833", f"the statement is signed by key {ID_A[:16]} but model.nmc by key {ID_B[:16]}",
            str(bundle / "model.nmc")) in found
    assert ("NM833", f"key_id is {manifest['key_id']!r} but model.nmc says {ID_B!r}", str(bundle / "manifest.json")) in found


def test_every_bit_flip_of_the_signed_image_is_rejected(signed):
    """Exhaustive over model.nmc: the image's own checks (what `inspect --verify-key` and
    `verify` run on it) reject every single-bit flip."""
    image = signed["model.nmc"]
    accepted, codes = [], set()
    for i in range(len(image) * 8):
        flipped = bytearray(image)
        flipped[i // 8] ^= 1 << (i % 8)
        try:
            parse_image(bytes(flipped), verify_key=[A], require_signature=True)
            accepted.append(i)
        except ImageError as exc:
            codes.add(exc.code)
    assert accepted == []
    assert {"NM704", "NM708", "NM709"} <= codes  # CRC, SHA-256 (trailer fields), signature


def test_bit_flips_in_every_bundle_file_are_rejected(signed, tmp_path):
    """Every file of the signed bundle, the envelope included: the first and last byte and
    ten more positions each, one random bit at each; `nmspec verify`'s bundle check
    rejects them all (the exhaustive image flips are above)."""
    folder = write_bundle(signed, tmp_path / "b")
    rng = random.Random(13)
    tried = 0
    for name, data in sorted(signed.items()):
        positions = sorted({0, len(data) - 1, *(rng.randrange(len(data)) for _ in range(10))})
        for at in positions:
            flipped = bytearray(data)
            flipped[at] ^= 1 << rng.randrange(8)
            (folder / name).write_bytes(bytes(flipped))
            assert not check_bundle(folder, [A]).ok, (name, at)
            tried += 1
        (folder / name).write_bytes(data)
    assert check_bundle(folder, [A]).ok and tried > 10 * len(signed)


def test_cli_verify_and_inspect_refuse_flips(signed, tmp_path, capsys):
    folder = write_bundle(signed, tmp_path / "b")
    pub = tmp_path / "a.pub"
    pub.write_bytes(A.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo))
    image = signed["model.nmc"]
    for at in (0, len(image) // 2, len(image) - 100, len(image) - 1):
        flipped = bytearray(image)
        flipped[at] ^= 0x10
        (folder / "model.nmc").write_bytes(bytes(flipped))
        assert main(["verify", str(folder), "--verify-key", str(pub)]) == 1
        assert "error[NM804]: differs from the signed statement's SHA-256" in capsys.readouterr().err
        assert main(["inspect", str(folder / "model.nmc"), "--verify-key", str(pub)]) == 1
        assert "error[NM7" in capsys.readouterr().err


def test_key_rotation_with_a_retirement_statement(signed, tmp_path):
    """A fleet signed with A moves to B: B's retirement of A is honoured by verify; bundles
    signed by B pass, bundles signed by A are refused."""
    by_b = write_bundle(dict(example("compressor", KEY_B)[0].files), tmp_path / "b")
    by_a = write_bundle(signed, tmp_path / "a")
    assert check_bundle(by_a, [A, B]).ok and check_bundle(by_b, [A, B]).ok
    statement = retire(A, KEY_B)
    assert retired_key(statement, [A, B]) == ID_A
    assert retired_key(retire(A, KEY_A), [A, B]) == ID_A  # the old key may retire itself
    with pytest.raises(dsse.EnvelopeError, match="which is not a trusted key"):
        retired_key(statement, [A])  # signed by a key the verifier does not trust: ignored
    retired = {retired_key(statement, [A, B])}
    assert check_bundle(by_b, [A, B], retired=retired).ok
    assert [d.code for d in check_bundle(by_a, [A, B], retired=retired).diagnostics] == ["NM835"]
    form = device_form(statement)
    assert len(form) == 132 and form[:4] == b"NMKR" and form[4:36] == key_id(A) and form[36:68] == key_id(B)
    B.verify(form[68:], pae_by_hand("application/vnd.nmspec.key-retirement.v1", form[:36]))


def test_cli_rotation(signed, tmp_path, capsys):
    keys = tmp_path / "keys"
    keys.mkdir()
    for name, key in (("a", KEY_A), ("b", KEY_B)):
        (keys / name).write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                                    serialization.NoEncryption()))
        (keys / f"{name}.pub").write_bytes(key.public_key().public_bytes(serialization.Encoding.PEM,
                                                                         serialization.PublicFormat.SubjectPublicKeyInfo))
    assert main(["retire-key", str(keys / "a.pub"), "--sign-key", str(keys / "b"), "--out", str(tmp_path / "r.json")]) == 0
    assert capsys.readouterr().out == (f"wrote {tmp_path / 'r.json'} and {tmp_path / 'r.json'}.bin: key {ID_A[:16]} "
                                       f"retired, signed by key {ID_B[:16]}\n")
    folder = write_bundle(signed, tmp_path / "bundle")
    assert main(["verify", str(folder), "--verify-key", str(keys / "a.pub"), "--verify-key", str(keys / "b.pub"),
                 "--retired", str(tmp_path / "r.json")]) == 1
    assert f"error[NM835]: the bundle statement cannot be trusted: signed by retired key {ID_A[:16]}" in capsys.readouterr().err
    assert main(["verify", str(folder), "--retired", str(tmp_path / "r.json")]) == 2
    assert "--retired needs --verify-key" in capsys.readouterr().err


def test_security_version_from_the_spec_reaches_image_manifest_and_statement(tmp_path):
    from engine.codegen.assemble import bundle_files

    files = example("compressor", KEY_A)[0].files
    contents = read_image(files["model.nmc"])
    image = write_image(contents, KEY_A, security_version=7)
    out = bundle_files(contents, {}, {"site": "x"}, {}, signing_key=KEY_A, image=image, security_version=7)
    assert parse_image(out["model.nmc"], verify_key=A).security_version == 7
    assert json.loads(out["manifest.json"])["security_version"] == 7
    statement = json.loads(base64.b64decode(json.loads(out[ENVELOPE])["payload"]))
    assert statement["predicate"]["security_version"] == 7
    with pytest.raises(ImageError, match="security version 16777216 is outside 0..16777215"):
        write_image(contents, KEY_A, security_version=1 << 24)
