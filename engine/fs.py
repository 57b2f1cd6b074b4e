"""Files on disk: a folder of files written all-or-nothing, and what differs between a
mapping of files and a folder.

A bundle (or a report) is a mapping of relative paths to bytes. It is written into a fresh
sibling folder, which then replaces the target folder with renames, so a failure never
leaves a half-written folder where one was asked for; the next build removes the hidden
folders of one that was killed.
"""

from __future__ import annotations

import os
import re
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


# Hidden folders a writer works in are named for the process that made them, so a later
# build can tell those of a killed build (process gone) from those of one still running.
_STAGING = re.compile(r"^\..+\.nmspec-(\d+)\.[^.]+$")


def staging_prefix(name: str) -> str:
    return f".{name}.nmspec-{os.getpid()}."


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:  # a zombie nobody reaped is gone too
        return " Z " not in Path(f"/proc/{pid}/stat").read_text().split(")", 1)[-1][:4]
    except OSError:
        return True


def remove_stale_staging(root: Path) -> list[Path]:
    """Remove the hidden staging folders and files under `root` left by builds that were
    killed; what was removed. Bundles and folders of running builds are left alone."""
    removed = []
    for top, dirs, files in os.walk(root):
        for name in sorted(dirs) + sorted(files):
            match = _STAGING.match(name)
            if match and not _alive(int(match.group(1))):
                path = Path(top) / name
                if path.is_dir() and not path.is_symlink():
                    shutil.rmtree(path, ignore_errors=True)
                else:
                    path.unlink(missing_ok=True)
                removed.append(path)
        # staging folders sit beside bundles, never inside one: a bundle's files are not walked
        dirs[:] = [] if "manifest.json" in files else [d for d in dirs if not d.startswith(".")]
    return removed


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def write_atomically(files: Mapping[str, bytes], folder: Path) -> None:
    folder = Path(folder)
    folder.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=staging_prefix(folder.name), dir=folder.parent))
    try:
        os.chmod(staging, 0o777 & ~_umask())  # mkdtemp makes 0700; a bundle is as shared as any folder
        for path, data in sorted(files.items()):
            target = staging / path
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(data)
        old = None
        if folder.exists():
            old = Path(tempfile.mkdtemp(prefix=staging_prefix(folder.name) + "old", dir=folder.parent))
            os.rmdir(old)
            os.replace(folder, old)
        os.replace(staging, folder)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
