"""`nmspec build` writes the firmware: every example's bundle holds all of firmware/ (listed
and hashed in the manifest) beside model.nmc and report.json; two builds under different
hash seeds are byte-identical; the generated C guards its ABI; a site name written to break
out of a C string stays a string."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import attrs
import pytest

from engine.codegen.cnames import c_string
from engine.codegen.firmware import (
    CHAIN_TEMPLATES,
    COPIED,
    TEMPLATES,
    FirmwareInputs,
    firmware_files,
)
from engine.image import read_image
from tests.firmware_support import ROOT, example, make, run_program, write_firmware

HOSTILE = '"; system("rm -rf /"); //'
SITES = {"compressor": "demo-plant/compressor-1", "pump-loihi": "refinery-2/pump-p101",
         "acoustic-xylo": "plant-7/air-header-2"}


def nmspec(args, cwd: Path, seed: str) -> None:
    env = dict(os.environ, PYTHONHASHSEED=seed)
    done = subprocess.run([sys.executable, "-m", "engine", *args], cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=600, check=False)
    assert done.returncode == 0, done.stdout + done.stderr


@pytest.fixture(scope="module")
def repo(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("repo")
    shutil.copytree(ROOT / "specs", root / "specs")
    (root / "nmspec.toml").write_text("")
    nmspec(["keygen", str(root.parent / "fw-keys" / "sign.pem")], root, "0")
    for seed in ("1", "2"):
        nmspec(["build", "specs/examples", "--out", f"out{seed}", "--no-cache", "-q", "--jobs", "1",
                "--sign-key", str(root.parent / "fw-keys" / "sign.pem")], root, seed)
    return root


def bundle_files(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.mark.parametrize("name", sorted(SITES))
def test_every_example_bundle_holds_its_firmware(repo, name):
    import base64
    import json

    files = bundle_files(repo / "out1" / SITES[name])
    firmware = {n[len("firmware/"):] for n in files if n.startswith("firmware/")}
    assert firmware == set(TEMPLATES) | set(CHAIN_TEMPLATES) | set(COPIED) | {"nmc_format.h", "nm_frames.h"}
    assert {"model.nmc", "manifest.json", "report.json"} <= set(files)
    manifest = json.loads(files["manifest.json"])
    assert set(manifest["files"]) == set(files) - {"manifest.json", "bundle.dsse.json"}
    statement = json.loads(base64.b64decode(json.loads(files["bundle.dsse.json"])["payload"]))
    assert [s["name"] for s in statement["subject"]] == sorted(set(files) - {"bundle.dsse.json"})
    for text in (files[f"firmware/{n}"].decode() for n in TEMPLATES if n.endswith((".c", ".h"))):
        assert text.startswith("/* ") and f"for site {SITES[name]}" in text.splitlines()[0]
        assert json.loads(files["report.json"])["image_hash"] in text.split("*/", 1)[0]


def test_two_builds_are_byte_identical(repo):
    first, second = bundle_files(repo / "out1"), bundle_files(repo / "out2")
    assert sorted(first) == sorted(second)
    assert [n for n in first if first[n] != second[n]] == []


@pytest.fixture(scope="module")
def compressor():
    return example("compressor")


def rendered(compressor, **metadata) -> dict[str, bytes]:
    result, resolved = compressor
    contents = read_image(result.files["model.nmc"])
    contents = attrs.evolve(contents, metadata=attrs.evolve(contents.metadata, **metadata))
    files = {f"firmware/{k}": v for k, v in firmware_files(
        contents, FirmwareInputs(f"specs/{HOSTILE}.yaml", resolved.spec, resolved.chain, None)).items()}
    files["firmware/nmc_format.h"] = result.files["firmware/nmc_format.h"]
    return files


def test_hostile_site_name_stays_a_string_and_compiles(compressor, tmp_path):
    folder = write_firmware(rendered(compressor, site=HOSTILE, model_name=HOSTILE), tmp_path / "fw")
    config = (folder / "nmc_config.h").read_text()
    assert f"#define NM_SITE_NAME {c_string(HOSTILE)}" in config
    assert c_string(HOSTILE) == r'"\042; system(\042rm -rf /\042); //"'
    for source in sorted(folder.glob("*.[ch]")):
        code = subprocess.run(["gcc", "-fpreprocessed", "-dD", "-E", "-P", str(source)], capture_output=True,
                              text=True, check=True).stdout  # comments removed
        assert "system(" not in code.replace(c_string(HOSTILE), ""), source.name
    make(folder, "host")
    assert run_program([folder / "fw_host", "site"]) == HOSTILE + "\n"


def test_format_version_guard_stops_the_build(compressor, tmp_path):
    files = rendered(compressor)
    header = files["firmware/nmc_format.h"].decode()
    files["firmware/nmc_format.h"] = header.replace("#define NMC_VERSION_MINOR                            2u",
                                                    "#define NMC_VERSION_MINOR                            3u").encode()
    assert files["firmware/nmc_format.h"].decode() != header
    folder = tmp_path / "fw"
    folder.mkdir()
    for name, data in files.items():
        (folder / name[len("firmware/"):]).write_bytes(data)
    done = subprocess.run(["make", "-s", "host"], cwd=folder, capture_output=True, text=True, check=False)
    assert done.returncode != 0
    assert "nmc_format.h is not the image format version this firmware was generated for" in done.stderr


def test_files_of_two_builds_do_not_mix(compressor, tmp_path):
    files = rendered(compressor)
    other, _ = example("pump-loihi")
    files["firmware/fallback.h"] = other.files["firmware/fallback.h"]
    folder = write_firmware(files, tmp_path / "fw")
    done = subprocess.run(["make", "-s", "host"], cwd=folder, capture_output=True, text=True, check=False)
    assert done.returncode != 0
    assert "fallback.h and nmc_config.h come from different builds" in done.stderr
