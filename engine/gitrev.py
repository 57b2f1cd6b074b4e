"""A git revision of the repository around the working folder, extracted as a plain tree.

Shared by every command that reads REV or REV:PATH (`nmspec diff`, `nmspec release plan`): the
revision is checked for its form and resolved to its tree id before git sees it, so nothing a
user types can become an option, and a path inside the revision cannot lead out of its tree.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

# What git accepts as a revision in practice (names, ids, ~N, ^N, @{...}); never an option.
_REVISION = re.compile(r"^[A-Za-z0-9_.@{}~^/+-]{1,200}$")


def check_revision(revision: str) -> None:
    """ValueError unless `revision` has a revision's form (so git can never read it as an option)."""
    if not _REVISION.match(revision) or revision.startswith("-") or ".." in revision:
        raise ValueError(f"'{revision}' is not a revision (a branch, tag, commit id or HEAD~N, not starting with '-')")


def tree_id(revision: str, top: str) -> str:
    """The id of the revision's tree, or ValueError for anything that is not a revision."""
    check_revision(revision)
    done = subprocess.run(["git", "rev-parse", "--verify", "--quiet", "--end-of-options", f"{revision}^{{tree}}"],
                          capture_output=True, text=True, cwd=top, check=False)
    tree = done.stdout.strip()
    if done.returncode != 0 or not re.fullmatch(r"[0-9a-f]{40,64}", tree):
        raise ValueError(f"git cannot read revision '{revision}': no such commit")
    return tree


def revision_tree(revision: str, scratch: Path) -> tuple[Path, str]:
    """The revision's tree extracted under `scratch` (once per tree), and the working folder's
    prefix inside it; ValueError when there is no repository or no such revision."""
    top = subprocess.run(["git", "rev-parse", "--show-toplevel"], capture_output=True, text=True, check=False)
    if top.returncode != 0:
        raise ValueError("a git revision needs a git repository")
    prefix = subprocess.run(["git", "rev-parse", "--show-prefix"], capture_output=True, text=True,
                            check=False).stdout.strip()
    tree_hex = tree_id(revision, top.stdout.strip())
    tree = scratch / tree_hex[:16]
    if not tree.exists():
        # a tree id (hex) is all git is given: nothing the user typed can become an option
        archive = subprocess.run(["git", "archive", "--format=tar", tree_hex], capture_output=True,
                                 cwd=top.stdout.strip(), check=False)
        if archive.returncode != 0:
            raise ValueError(f"git cannot read revision '{revision}': {archive.stderr.decode().strip()}")
        tree.mkdir(parents=True)
        subprocess.run(["tar", "-x", "--no-same-owner", "-C", str(tree)], input=archive.stdout, check=True,
                       capture_output=True)
        (tree / "nmspec.toml").touch()
    return tree, prefix


def inside(tree: Path, prefix: str, inner: str) -> Path:
    """tree/prefix/inner, or ValueError when that leads outside the revision's tree."""
    path = tree / prefix / inner
    if not path.resolve().is_relative_to(tree.resolve()):
        raise ValueError(f"'{inner}' leads outside the revision's tree; name a file inside the repository")
    return path
