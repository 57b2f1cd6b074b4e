"""Shared steps of the firmware tests: build an example's bundle in memory, write its
firmware/ folder, compile it with its own Makefile, run the host program and read what it
prints."""

from __future__ import annotations

import subprocess
from functools import cache
from pathlib import Path

import numpy as np

from engine.catalog import load_catalog
from engine.image import generate_c_header, read_image
from engine.pipeline import BuildOptions, build_site, resolve_site
from engine.spec import validate_spec

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ("compressor", "pump-loihi", "acoustic-xylo")


@cache
def catalog():
    return load_catalog()


@cache
def example(name: str, signing_key=None):
    """(build result, resolved site) of specs/examples/<name>.yaml, built in memory."""
    path = ROOT / "specs" / "examples" / f"{name}.yaml"
    result = build_site(path, catalog(), BuildOptions(signing_key=signing_key, verify=False, preview=True))
    doc, _ = validate_spec(path, catalog())
    return result, resolve_site(doc, catalog())


def write_firmware(files, folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name, data in files.items():
        if name.startswith("firmware/"):
            (folder / name[len("firmware/"):]).write_bytes(data)
    assert (folder / "nmc_format.h").read_text() == generate_c_header()
    return folder


@cache
def monocypher_dir() -> Path:
    """Monocypher's sources, fetched once (make install does it; a test run without it fetches)."""
    from engine.codegen.monocypher import default_dir, fetch

    return fetch(default_dir())


def make(folder: Path, target: str, timeout: float = 300) -> None:
    done = subprocess.run(["make", "-s", target, f"MONOCYPHER_DIR={monocypher_dir()}"], check=False, cwd=folder,
                          capture_output=True, text=True, timeout=timeout)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "warning" not in done.stderr, done.stderr


def run_program(argv, *, timeout: float = 300, cwd=None) -> str:
    done = subprocess.run([str(a) for a in argv], check=False, capture_output=True, text=True, timeout=timeout, cwd=cwd)
    assert "runtime error" not in done.stderr and "AddressSanitizer" not in done.stderr, done.stderr
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def parse_rows(text: str, n_pops: int) -> dict[str, list[list[np.ndarray]]]:
    """Lines `KIND step pop values...` -> KIND -> per population -> per step array."""
    rows: dict[str, list[list[np.ndarray]]] = {}
    for line in text.splitlines():
        kind, *fields = line.split()
        if kind not in ("S", "I", "V", "C"):
            continue
        pop = int(fields[1])
        table = rows.setdefault(kind, [[] for _ in range(max(n_pops, 1))])
        assert int(fields[0]) == len(table[pop]), line[:80]
        table[pop].append(np.array([int(v) for v in fields[2:]], dtype=np.int64))
    return rows


def network_of(files):
    return read_image(files["model.nmc"]).network


def kernel_state_names(family: str, pop: str) -> tuple[str, str]:
    return (f"{pop}.u" if family == "loihi" else f"{pop}.isyn"), f"{pop}.v"
