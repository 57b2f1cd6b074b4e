"""nmspec build / verify / diff from the command line, on copies of the bundled examples."""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from spec_cases import run_cli

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def repo(tmp_path_factory) -> Path:
    """A spec repository holding the examples (as a git repository, for REV:PATH)."""
    root = tmp_path_factory.mktemp("repo")
    shutil.copytree(ROOT / "specs", root / "specs")
    (root / "nmspec.toml").write_text("")
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@example.invalid"]
    subprocess.run(git + ["init", "-q"], cwd=root, check=True)
    subprocess.run(git + ["add", "-A"], cwd=root, check=True)
    subprocess.run(git + ["commit", "-qm", "sites"], cwd=root, check=True)
    code, _, err = run_cli(["keygen", str(root.parent / "keys" / "sign.pem")], root)
    assert code == 0, err
    return root


def key(repo: Path) -> list[str]:
    return ["--sign-key", str(repo.parent / "keys" / "sign.pem")]


@pytest.fixture(scope="module")
def built(repo) -> Path:
    code, _out, err = run_cli(["build", "specs/examples/compressor.yaml", "--out", "out", "--no-cache"] + key(repo), repo)
    assert code == 0, err
    return repo / "out" / "demo-plant" / "compressor-1"


def test_bundle_has_its_files_and_the_manifest_hashes_them(built):
    names = sorted(str(p.relative_to(built)) for p in built.rglob("*") if p.is_file())
    assert {"model.nmc", "manifest.json", "report.json", "firmware/nmc_format.h"} <= set(names)
    manifest = json.loads((built / "manifest.json").read_text())
    assert manifest["site"] == "demo-plant/compressor-1" and manifest["chip"] == "xylo-imu"
    for name, entry in manifest["files"].items():
        assert hashlib.sha256((built / name).read_bytes()).hexdigest() == entry["sha256"]
    report = json.loads((built / "report.json").read_text())
    assert report["verification"]["agreement"] >= 0.99
    assert report["verification"]["deterministic"] is True


def test_check_mode_passes_then_reports_a_changed_spec_without_writing(repo, built):
    code, _out, err = run_cli(["build", "specs/examples/compressor.yaml", "--out", "out", "--check", "--no-cache"] + key(repo), repo)
    assert code == 0, err
    spec = repo / "specs/examples/compressor.yaml"
    original = spec.read_text()
    before = (built / "model.nmc").read_bytes()
    try:
        spec.write_text(original.replace("harmonics: 3, q: 30", "harmonics: 2, q: 30"))
        code, _out, err = run_cli(["build", "specs/examples/compressor.yaml", "--out", "out", "--check", "--no-cache"] + key(repo), repo)
        assert code == 3
        assert "out/demo-plant/compressor-1: changes the device: ~ section PREPROC[0] (1376 -> 1360 bytes)" in err.splitlines()
        assert (built / "model.nmc").read_bytes() == before
    finally:
        spec.write_text(original)


def test_verify_bundle_and_refuse_a_modified_one(repo, built, tmp_path):
    code, out, err = run_cli(["verify", str(built), "--spec", "specs/examples/compressor.yaml",
                              "--verify-key", str(repo.parent / "keys" / "sign.pem.pub")], repo)
    assert code == 0, err
    last = out.splitlines()[-1]
    assert last.startswith("verification passed") and re.search(r" \(signature by key [0-9a-f]{16} checked\)$", last), last
    copy = tmp_path / "bundle"
    shutil.copytree(built, copy)
    data = bytearray((copy / "model.nmc").read_bytes())
    data[100] ^= 1
    (copy / "model.nmc").write_bytes(bytes(data))
    code, out, err = run_cli(["verify", str(copy), "--spec", "specs/examples/compressor.yaml"], repo)
    assert code == 1
    assert "model.nmc: error[NM804]: differs from the signed statement's SHA-256 (modified after the build)" in err


def test_diff_between_revisions_names_what_changes(repo):
    spec = repo / "specs/examples/compressor.yaml"
    original = spec.read_text()
    try:
        spec.write_text(original.replace("harmonics: 3, q: 30", "harmonics: 2, q: 30"))
        code, out, err = run_cli(["diff", "HEAD:specs/examples/compressor.yaml", "specs/examples/compressor.yaml"], repo)
    finally:
        spec.write_text(original)
    assert code == 0, err
    lines = out.splitlines()
    assert lines[0] == "--- HEAD:specs/examples/compressor.yaml"
    assert "    ~ section PREPROC[0] (1376 -> 1360 bytes)" in lines
    code, out, _ = run_cli(["diff", "specs/examples/compressor.yaml", "specs/examples/compressor.yaml"], repo)
    assert out.splitlines()[-1] == "no change for the device"


def test_safety_class_requires_a_signed_and_verified_build(repo):
    code, _out, err = run_cli(["build", "specs/examples/compressor.yaml", "--out", "out-unsigned", "--no-cache", "--no-verify"], repo)
    assert code == 1
    assert err.splitlines()[:4] == [
        "specs/examples/compressor.yaml:52:10: error[NM504]: safety.class: sil2 requires a signed image",
        "  hint: pass --sign-key FILE or set NMSPEC_SIGNING_KEY (keep the key outside the spec repository)",
        "specs/examples/compressor.yaml:52:10: error[NM505]: safety.class: sil2 requires bit-exact verification of the image",
        "  hint: build without --no-verify",
    ]
    assert not (repo / "out-unsigned").exists()


def test_failed_build_writes_nothing(repo):
    bad = repo / "specs/examples/bad.yaml"
    bad.write_text((repo / "specs/examples/compressor.yaml").read_text()
                   .replace("demo-plant/compressor-1", "demo-plant/bad").replace("bands: 16", "bands: 12"))
    try:
        code, _out, err = run_cli(["build", "specs/examples/bad.yaml", "--out", "out-bad", "--no-cache"] + key(repo), repo)
    finally:
        bad.unlink()
    assert code == 1
    assert "error[NM304]: model.source: the model takes 16 inputs but the preprocessing chain produces 12 channels" in err
    assert not (repo / "out-bad").exists()


def test_builds_are_byte_identical_across_hash_seeds_and_folders(repo, tmp_path):
    outputs = []
    for seed, cwd in (("1", repo), ("4242", repo / "specs")):
        out = tmp_path / f"out-{seed}"
        spec = repo / "specs/examples/acoustic-xylo.yaml"
        env = {**os.environ, "PYTHONHASHSEED": seed}
        result = subprocess.run([sys.executable, "-m", "engine", "build", str(spec), "--out", str(out), "--no-cache",
                                 "--no-verify", "-q"], cwd=cwd, env=env, capture_output=True, text=True, check=False)
        assert result.returncode == 0, result.stderr
        outputs.append({str(p.relative_to(out)): p.read_bytes() for p in out.rglob("*") if p.is_file()})
    assert outputs[0] == outputs[1]


def test_dask_executor_gives_the_same_bundles(repo, tmp_path):
    args = ["build", "specs/sites", "--no-cache", "-q", "--jobs", "2"] + key(repo)
    code, _, err = run_cli(args + ["--out", str(tmp_path / "local")], repo)
    assert code == 0, err
    code, _, err = run_cli(args + ["--out", str(tmp_path / "dask"), "--executor", "dask"], repo)
    assert code == 0, err
    local = {str(p.relative_to(tmp_path / "local")): p.read_bytes() for p in (tmp_path / "local").rglob("*") if p.is_file()}
    remote = {str(p.relative_to(tmp_path / "dask")): p.read_bytes() for p in (tmp_path / "dask").rglob("*") if p.is_file()}
    assert local == remote and len(local) >= 8


def test_a_signing_key_inside_the_spec_repository_is_refused_unless_git_ignores_it(repo):
    secret = repo / "secret.pem"
    code, _, err = run_cli(["keygen", str(secret)], repo)
    assert code == 0, err
    try:
        args = ["build", "specs/examples/compressor.yaml", "--out", "out-key", "--no-cache", "-q", "--sign-key", "secret.pem"]
        code, _, err = run_cli(args, repo)
        assert (code, err) == (2, (f"nmspec build: the signing key secret.pem lies inside the spec repository {repo.name}/; "
                                  "keep keys outside the repository (or at least in a path git ignores)\n"))
        assert not (repo / "out-key").exists()
        (repo / ".gitignore").write_text("secret.pem\nsecret.pem.pub\nout-key/\n")
        code, _, err = run_cli(args, repo)
        assert code == 0, err
    finally:
        for name in ("secret.pem", "secret.pem.pub", ".gitignore"):
            (repo / name).unlink(missing_ok=True)
        shutil.rmtree(repo / "out-key", ignore_errors=True)
