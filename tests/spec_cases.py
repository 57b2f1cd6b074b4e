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


def read_fix(case: Path) -> tuple[str, str, list[str]]:
    """A case's `fix` file: the words of the diagnostic the fix follows, the file it edits
    (default spec.yaml) and its edits."""
    follows, target, edits = "", "spec.yaml", []
    for line in (case / "fix").read_text(encoding="utf-8").splitlines():
        if line.startswith("#") or not line.strip():
            continue
        if line.startswith("follows: "):
            follows = line[len("follows: "):]
        elif line.startswith("file: "):
            target = line[len("file: "):]
        else:
            edits.append(line)
    return follows, target, edits


def apply_fix(path: Path, edits: list[str]) -> None:
    """Edits, numbered by the original file's lines: 'N: text' replaces line N, 'N+: text'
    inserts after it, 'N-' deletes it; 'sub: REGEX => TEXT' rewrites every line."""
    import re

    lines = path.read_bytes().decode("utf-8", errors="replace").splitlines()
    out: list[list[str]] = [[line] for line in lines]
    for edit in edits:
        if edit.startswith("sub: "):
            pattern, replacement = edit[len("sub: "):].split(" =>", 1)
            out = [[re.sub(pattern, replacement.strip(), line) for line in group] for group in out]
            continue
        head, _, text = edit.partition(": ")
        if head.endswith("-"):
            out[int(head[:-1]) - 1] = out[int(head[:-1]) - 1][1:]
        elif head.endswith("+"):
            out[int(head[:-1]) - 1].append(text)
        else:
            out[int(head) - 1][0:1] = [text]
    path.write_text("\n".join(line for group in out for line in group) + "\n", encoding="utf-8")
