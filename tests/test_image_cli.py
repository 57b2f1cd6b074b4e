"""nmspec inspect: text and JSON views, --params replay data, signature checks and exit codes."""

from __future__ import annotations

import json

import numpy as np
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from engine.cli import main
from engine.image import ImageError, load_signing_key, load_verify_key, write_image
from engine.image.keys import key_id
from engine.netlist import Weights
from tests.image_nets import small_contents

CONTENTS = small_contents()
KEY = Ed25519PrivateKey.from_private_bytes(bytes(range(32)))


def _write(tmp_path, name="model.nmc", **kwargs):
    path = tmp_path / name
    path.write_bytes(write_image(CONTENTS, **kwargs))
    return path


def _pub(tmp_path, key=KEY, name="key.pub"):
    path = tmp_path / name
    path.write_bytes(key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo))
    return path


def test_inspect_text(tmp_path, capsys):
    path = _write(tmp_path)
    assert main(["inspect", str(path)]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0] == f"{path}: .nmc 2.0, {path.stat().st_size} bytes, family xylo, flags LEARNING_LOCKED"
    assert out[2:4] == ["  signature: unsigned", "  security version: 0"]
    assert out[5].split() == ["section", "core", "offset", "size", "blocks", "crc32"]
    assert [line.split()[0] for line in out[6:23]] == (
        ["META", "TARGET", "NETWORK", "PLACEMENT"] + ["NEURONS"] * 4 + ["WEIGHTS"] * 4
        + ["ROUTES", "PREPROC", "IO", "POLICY", "STATE"])
    assert "site plant-7/compressor-3  model compressor  spec sha256:0f1e  tool 0.1.0" in out
    assert "  class shares (ppm): 950000 ± 30000, 50000 ± 30000" in out


def test_inspect_json_params_replay_the_network(tmp_path, capsys):
    path = _write(tmp_path)
    assert main(["inspect", str(path), "--output", "json", "--params"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["signature"] == "unsigned" and report["format_version"] == "2.0"
    assert (report["security_version"], report["key_id"]) == (0, None)
    assert report["size"] == path.stat().st_size
    net = CONTENTS.network
    params = report["params"]
    for pop in net.populations:
        for name, values in pop.params.items():
            assert params["populations"][pop.name][name] == values.tolist()
    for stored, proj in zip(params["projections"], net.projections):
        rebuilt = Weights.from_csr(stored["n_src"], stored["n_dst"], stored["indptr"], stored["indices"], stored["values"])
        assert rebuilt == proj.weights
        assert (stored["src"], stored["dst"], stored["shift"], stored["synapse"]) == (proj.src, proj.dst, proj.shift, proj.synapse)
    assert params["preprocessing"]["notch_sos"] == np.arange(12).reshape(2, 6).tolist()
    assert [r["key"] for r in params["placement"]["routes"]] == [r.key for r in net.placement.routes]


def test_inspect_verifies_a_signature(tmp_path, capsys):
    path = _write(tmp_path, signing_key=KEY)
    assert main(["inspect", str(path), "--verify-key", str(_pub(tmp_path))]) == 0
    kid = key_id(KEY.public_key()).hex()
    assert f"  signature: valid (key {kid})" in capsys.readouterr().out.splitlines()
    assert main(["inspect", str(path)]) == 0
    assert f"  signature: present, not checked (key {kid})" in capsys.readouterr().out.splitlines()


def test_inspect_wrong_key_and_unsigned(tmp_path, capsys):
    signed = _write(tmp_path, "signed.nmc", signing_key=KEY)
    other = _pub(tmp_path, Ed25519PrivateKey.from_private_bytes(bytes(32)), "other.pub")
    assert main(["inspect", str(signed), "--verify-key", str(other)]) == 1
    err = capsys.readouterr().err
    assert f"{signed}: error[NM721]: image is signed by key {key_id(KEY.public_key()).hex()[:16]}, which is not a trusted key" in err
    assert main(["inspect", str(signed), "--verify-key", str(other), "--verify-key", str(_pub(tmp_path))]) == 0
    assert f"  signature: valid (key {key_id(KEY.public_key()).hex()})" in capsys.readouterr().out.splitlines()
    unsigned = _write(tmp_path, "plain.nmc")
    assert main(["inspect", str(unsigned), "--verify-key", str(_pub(tmp_path))]) == 1
    assert "error[NM710]: image is not signed and a signature is required" in capsys.readouterr().err


def test_inspect_damaged_and_missing(tmp_path, capsys):
    path = _write(tmp_path)
    path.write_bytes(path.read_bytes()[:100])
    assert main(["inspect", str(path), "-o", "json"]) == 1
    [diag] = json.loads(capsys.readouterr().out)
    assert diag["code"] == "NM702" and diag["file"] == str(path)
    assert diag["message"].startswith("image truncated at byte 100: the header declares ")
    assert main(["inspect", str(tmp_path / "nope.nmc")]) == 2
    assert "nmspec inspect: cannot read" in capsys.readouterr().err


def test_keys_load_from_file_env_and_raw(tmp_path, monkeypatch):
    pem = tmp_path / "sign.pem"
    pem.write_bytes(KEY.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                      serialization.NoEncryption()))
    raw = KEY.private_bytes(serialization.Encoding.Raw, serialization.PrivateFormat.Raw, serialization.NoEncryption())
    expected = write_image(CONTENTS, signing_key=KEY)
    assert write_image(CONTENTS, signing_key=load_signing_key(pem)) == expected
    monkeypatch.delenv("NMSPEC_SIGNING_KEY", raising=False)
    assert load_signing_key() is None
    monkeypatch.setenv("NMSPEC_SIGNING_KEY", raw.hex())
    assert write_image(CONTENTS, signing_key=load_signing_key()) == expected
    monkeypatch.setenv("NMSPEC_SIGNING_KEY", str(pem))
    assert write_image(CONTENTS, signing_key=load_signing_key()) == expected
    monkeypatch.setenv("NMSPEC_SIGNING_KEY", "x" * 32)  # 32 characters are not taken as a raw seed
    with pytest.raises(ImageError, match=r"^\$NMSPEC_SIGNING_KEY: expected a PEM Ed25519 private key"):
        load_signing_key()
    pub_raw = tmp_path / "raw.pub"
    pub_raw.write_bytes(KEY.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw))
    load_verify_key(pub_raw).verify(expected[-64:], expected[:-64])
    bad = tmp_path / "bad.pem"
    bad.write_text("not a key")
    try:
        load_signing_key(bad)
    except ImageError as exc:
        assert exc.code == "NM713"
        assert exc.diagnostic.message == f"{bad}: expected a PEM Ed25519 private key or a 32-byte seed (binary, hex or base64)"
    else:
        raise AssertionError("a bad key file loaded")
