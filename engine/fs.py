"""Files on disk: a folder of files written all-or-nothing, and what differs between a
mapping of files and a folder.

A bundle (or a report) is a mapping of relative paths to bytes. It is written into a fresh
sibling folder, which then replaces the target folder with renames, so a failure never
leaves a half-written folder where one was asked for.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Mapping
from pathlib import Path


def differences(files: Mapping[str, bytes], folder: Path) -> list[str]:
    """Paths that differ between `files` and what `folder` holds (missing, changed or extra)."""
    changed = []
    on_disk = {str(p.relative_to(folder)): p for p in folder.rglob("*") if p.is_file()} if folder.is_dir() else {}
    for path, data in sorted(files.items()):
        existing = on_disk.get(path)
        if existing is None:
            changed.append(f"missing {path}")
        elif existing.read_bytes() != data:
            changed.append(f"changed {path}")
    changed += [f"extra {path}" for path in sorted(set(on_disk) - set(files))]
    return changed


def write_atomically(files: Mapping[str, bytes], folder: Path) -> None:
    folder = Path(folder)
    folder.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{folder.name}.", dir=folder.parent))
    try:
        for path, data in sorted(files.items()):
            target = staging / path
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(data)
        old = None
        if folder.exists():
            old = Path(tempfile.mkdtemp(prefix=f".{folder.name}.old.", dir=folder.parent))
            os.rmdir(old)
            os.replace(folder, old)
        os.replace(staging, folder)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
