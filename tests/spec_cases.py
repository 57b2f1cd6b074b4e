"""Running the data-driven spec cases under tests/cases the way a user would."""

from __future__ import annotations

import contextlib
import io
import os
import shutil
from pathlib import Path

from engine.cli import main

CASES = Path(__file__).parent / "cases"


def materialise(case: Path, workdir: Path) -> Path:
    """Copy a case into its own spec repository; a `size` file asks for a spec of that size."""
    target = workdir / case.name
    shutil.copytree(case, target, ignore=shutil.ignore_patterns("expected.txt", "size"))
    (target / "nmspec.toml").write_text("")
    (target / "model.nir").write_bytes(b"")
    size_file = case / "size"
    if size_file.exists():
        size = int(size_file.read_text())
        with open(target / "spec.yaml", "wb") as handle:
            handle.write(b"# padding\n" * (size // 10))
    return target


def run_cli(args: list[str], cwd: Path) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    previous = Path.cwd()
    os.chdir(cwd)
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                code = main(args)
            except SystemExit as exc:  # argparse usage errors
                code = int(exc.code or 0)
    finally:
        os.chdir(previous)
    return code, out.getvalue(), err.getvalue()
