"""Monocypher's Ed25519 for the firmware, fetched from the package registry at build time.

The C sources ship inside the `monocypher-py` source distribution on PyPI (Monocypher
3.1.2, BSD-2-Clause or CC0-1.0 at the user's choice). They are downloaded with pip, checked
against the archive's pinned SHA-256 and unpacked flat into a folder that is never
committed (`.deps/monocypher` in this repository; a bundle's Makefile fetches its own).

    python -m engine.codegen.monocypher DEST
"""

from __future__ import annotations

import hashlib
import io
import os
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

PACKAGE = "monocypher-py"
PACKAGE_VERSION = "0.0.3"
SDIST = f"{PACKAGE}-{PACKAGE_VERSION}.tar.gz"
SDIST_SHA256 = "9f1da74704ade57be8f1f93c75526342b0c4515a9548a388cc2f6ddc62ac94a3"
MONOCYPHER_VERSION = "3.1.2"
_INNER = f"{PACKAGE}-{PACKAGE_VERSION}/src/monocypher-{MONOCYPHER_VERSION}-src/"
# member of the archive -> file name in the destination folder
FILES = {
    _INNER + "monocypher.c": "monocypher.c",
    _INNER + "monocypher.h": "monocypher.h",
    _INNER + "optional/monocypher-ed25519.c": "monocypher-ed25519.c",
    _INNER + "optional/monocypher-ed25519.h": "monocypher-ed25519.h",
}
# pip prepares an sdist's metadata even to download it; this package's setup.py needs a
# setuptools that still accepts its extras_require and the wheel command, so a throwaway venv provides both
BUILD_TOOLS = ("setuptools==65.5.0", "wheel==0.48.0")


def default_dir() -> Path:
    """$NMSPEC_MONOCYPHER_DIR, else .deps/monocypher beside the engine package (this source tree)."""
    override = os.environ.get("NMSPEC_MONOCYPHER_DIR")
    return Path(override) if override else Path(__file__).resolve().parents[2] / ".deps" / "monocypher"


def make_arguments(makefile: bytes) -> list[str]:
    """`MONOCYPHER_DIR=...` for `make` when a bundle's firmware/Makefile compiles Monocypher
    (a build with keys), fetching the sources once into default_dir(); else nothing."""
    if b"CRYPTO := $(MONOCYPHER_DIR)" not in makefile:
        return []
    return [f"MONOCYPHER_DIR={fetch(default_dir())}"]


def unpack(archive: bytes, dest: Path) -> None:
    digest = hashlib.sha256(archive).hexdigest()
    if digest != SDIST_SHA256:
        raise RuntimeError(f"{SDIST}: SHA-256 {digest}, expected {SDIST_SHA256}")
    dest.mkdir(parents=True, exist_ok=True)
    with tarfile.open(fileobj=io.BytesIO(archive), mode="r:gz") as tar:
        for member, name in FILES.items():
            handle = tar.extractfile(member)
            if handle is None:
                raise RuntimeError(f"{SDIST}: {member} is not a file")
            (dest / name).write_bytes(handle.read())


def fetch(dest: Path) -> Path:
    """Download the sdist with pip (into a temporary folder), check it and unpack the four
    files into `dest`; nothing is done when they are already there."""
    dest = Path(dest)
    if all((dest / name).is_file() for name in FILES.values()):
        return dest
    with tempfile.TemporaryDirectory() as tmp:
        venv = Path(tmp) / "venv"
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        pip = [str(venv / "bin" / "python"), "-m", "pip", "--disable-pip-version-check", "-q"]
        subprocess.run(pip + ["install", *BUILD_TOOLS], check=True)
        subprocess.run(pip + ["download", "--no-binary", ":all:", "--no-deps", "--no-build-isolation",
                              "-d", tmp, f"{PACKAGE}=={PACKAGE_VERSION}"], check=True)
        unpack((Path(tmp) / SDIST).read_bytes(), dest)
    return dest


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.stderr.write("usage: python -m engine.codegen.monocypher DEST\n")
        raise SystemExit(2)
    print(fetch(Path(sys.argv[1])))
