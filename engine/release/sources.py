"""A release as bundles, site by site, from what a user names: a bundle folder, a folder of
bundles, a spec file or folder of specs, or a git revision of a spec repository (REV, or
REV:PATH for part of it), whose site specs are built in memory."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path

from engine.diagnostics import StageError
from engine.gitrev import inside, revision_tree


class SourceError(ValueError):
    """A release the user named that cannot be read (a usage error)."""


def _bundle(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def _bundles_under(folder: Path) -> dict[str, dict[str, bytes]]:
    out = {}
    for manifest in sorted(folder.rglob("manifest.json")):
        files = _bundle(manifest.parent)
        site = json.loads(files["manifest.json"]).get("site")
        if isinstance(site, str):
            out[site] = files
    return out


def _tree_at(revision: str, scratch: Path) -> tuple[Path, str]:
    """The revision's tree, extracted under scratch; and the working folder's prefix in it."""
    try:
        return revision_tree(revision, scratch)
    except ValueError as exc:
        raise SourceError(str(exc)) from None


def _build_specs(path: Path, catalog_dirs: tuple[str, ...]) -> dict[str, dict[str, bytes]]:
    from engine.fleet import site_specs
    from engine.pipeline import BuildOptions, build_site
    from engine.spec import repository_catalog

    specs, problems = site_specs([str(path)])
    if problems:
        raise StageError(problems)
    out: dict[str, dict[str, bytes]] = {}
    for spec in specs:
        catalog, problems = repository_catalog(str(spec), catalog_dirs)
        if catalog is None:
            raise StageError(problems)
        result = build_site(str(spec), catalog, BuildOptions(verify=False, preview=True))
        out[result.site] = dict(result.files)
    return out


def _release_at(target: Path, catalog_dirs: tuple[str, ...]) -> dict[str, dict[str, bytes]]:
    """Specs when the path holds any (built in memory), else the bundles under it."""
    if target.is_file() or any(target.rglob("*.yaml")) or any(target.rglob("*.yml")):
        return _build_specs(target, catalog_dirs)
    return _bundles_under(target)


def release_bundles(source: str, scratch: Path, catalog_dirs: tuple[str, ...] = (),
                    default_path: str = ".") -> Mapping[str, Mapping[str, bytes]]:
    """site -> bundle files for the release `source` names: a path in the working tree, or
    REV / REV:PATH of the git repository around the working folder."""
    path = Path(source)
    if path.exists():
        if path.is_dir() and (path / "manifest.json").is_file():
            return _bundles_under(path)  # one bundle folder
        return _release_at(path, catalog_dirs)
    revision, _, inner = source.partition(":")
    tree, prefix = _tree_at(revision, scratch)
    try:
        target = inside(tree, prefix, inner or default_path)
    except ValueError as exc:
        raise SourceError(str(exc)) from None
    if not target.exists():
        raise SourceError(f"'{inner or default_path}' does not exist at revision {revision}")
    return _release_at(target, catalog_dirs)
