"""Building many sites: discovery, a content-addressed cache, and parallel executors.

The cache key of a site is the hash of the tool version, the merged spec and the bytes of
every file it references (the spec's spec_hash), plus the catalog and the signing key's
public half. A small index remembers, per spec file, the size and mtime of every file its
last build read and the key they gave, so an unchanged site costs a few stat calls; any
change falls back to reading and hashing.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping

import attrs

from engine import __version__
from engine.diagnostics import Diagnostic, StageError
from engine.spec.yamlread import read_file


def site_specs(paths: Iterable[str]) -> tuple[list[Path], list[Diagnostic]]:
    """Spec files under the given files and folders; bases (kind SiteBase) and catalog
    files are skipped, since they are not sites."""
    found, problems = [], []
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            candidates = sorted(p for p in path.rglob("*") if p.suffix in (".yaml", ".yml") and p.is_file()
                                and not any(part.startswith(".") for part in p.relative_to(path).parts))
        elif path.exists():
            candidates = [path]
        else:
            problems.append(Diagnostic("error", "NM012", "no such file or folder", file=raw))
            continue
        for candidate in candidates:
            kind = _kind(candidate)
            if kind == "SiteDeployment" or (kind is None and path == candidate):
                found.append(candidate)
    return found, problems


def _kind(path: Path) -> str | None:
    with open(path, "rb") as handle:
        head = handle.read(4096)
    for line in head.decode("utf-8", errors="replace").splitlines():
        if line.startswith("kind:"):
            return line.split(":", 1)[1].split("#", 1)[0].strip().strip("'\"")
    result = read_file(str(path), str(path))
    return result.data.get("kind") if isinstance(result.data, dict) else None


def _fingerprint(path: Path) -> list:
    stat = path.stat()
    return [str(path), stat.st_size, stat.st_mtime_ns]


@attrs.frozen
class Cache:
    root: Path

    def _index_path(self) -> Path:
        return self.root / "index.json"

    def load_index(self) -> dict[str, Any]:
        try:
            return json.loads(self._index_path().read_text())
        except (OSError, ValueError):
            return {}

    def save_index(self, index: Mapping[str, Any]) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=self.root, prefix=".index.")
        with os.fdopen(fd, "w") as handle:
            json.dump(index, handle, sort_keys=True)
        os.replace(tmp, self._index_path())

    def quick_key(self, index: Mapping[str, Any], spec: Path) -> str | None:
        """The key recorded for `spec` if no file its last build read has changed."""
        entry = index.get(str(spec.resolve()))
        if not entry:
            return None
        try:
            if all(_fingerprint(Path(f[0])) == f for f in entry["files"]):
                return entry["key"]
        except OSError:
            return None
        return None

    def record(self, index: dict[str, Any], spec: Path, key: str, files: Iterable[Path]) -> None:
        index[str(spec.resolve())] = {"key": key, "files": [_fingerprint(Path(f).resolve()) for f in sorted(set(files))]}

    def get(self, key: str) -> dict[str, bytes] | None:
        folder = self.root / "objects" / key[:2] / key
        if not (folder / ".complete").exists():
            return None
        return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*"))
                if p.is_file() and p.name != ".complete"}

    def put(self, key: str, files: Mapping[str, bytes]) -> None:
        folder = self.root / "objects" / key[:2] / key
        if (folder / ".complete").exists():
            return
        folder.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(dir=folder.parent, prefix=f".{key[:8]}."))
        for name, data in files.items():
            (staging / name).parent.mkdir(parents=True, exist_ok=True)
            (staging / name).write_bytes(data)
        (staging / ".complete").write_bytes(b"")
        try:
            os.replace(staging, folder)
        except OSError:  # another worker stored the same key first
            shutil.rmtree(staging, ignore_errors=True)


def cache_key(spec_digest: str, catalog_digest: str, signer: str) -> str:
    return hashlib.sha256(f"{__version__}\0{spec_digest}\0{catalog_digest}\0{signer}".encode()).hexdigest()


def catalog_digest(catalog) -> str:
    blob = json.dumps({kind: {pid: {"origin": p.origin, "figures": {n: [f.value, f.unit] for n, f in sorted(p.figures.items())},
                                    "attributes": dict(p.attributes)} for pid, p in sorted(parts.items())}
                       for kind, parts in sorted(catalog.parts.items())}, sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()


@attrs.frozen
class SiteOutcome:
    spec: str
    site: str | None
    status: str  # built | cached | failed
    files: Mapping[str, bytes] | None
    diagnostics: tuple[Diagnostic, ...]
    seconds: float
    key: str | None
    read: tuple[str, ...]  # every file the build depended on


def signer_fingerprint(signing_pem: bytes | None) -> str:
    if not signing_pem:
        return "unsigned"
    from cryptography.hazmat.primitives import serialization

    key = serialization.load_pem_private_key(signing_pem, password=None)
    raw = key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()


def build_one(spec: str, cache_root: str | None, catalog_dirs: tuple[str, ...], signing_pem: bytes | None,
              verify: bool, source_date_epoch: int | None) -> SiteOutcome:
    """One site, in any worker: everything it needs comes in as plain values, so the same
    function runs in a process pool or on a Dask cluster."""
    import time

    from engine.pipeline import BuildOptions, build_site, referenced_files, spec_hash
    from engine.spec import repository_catalog, validate_spec

    started = time.perf_counter()
    catalog, problems = repository_catalog(spec, catalog_dirs)
    if catalog is None:
        return SiteOutcome(spec, None, "failed", None, tuple(problems), time.perf_counter() - started, None, ())
    doc, diagnostics = validate_spec(spec, catalog)
    if doc is None or any(d.severity == "error" for d in diagnostics):
        return SiteOutcome(spec, None, "failed", None, tuple(diagnostics), time.perf_counter() - started, None, ())
    read = tuple(str(doc.absolute[f]) for f in doc.files) + tuple(str(p) for _, p in referenced_files(doc))
    key = cache_key(spec_hash(doc), catalog_digest(catalog), signer_fingerprint(signing_pem))
    cache = Cache(Path(cache_root)) if cache_root else None
    site = doc.data["metadata"]["site"]
    if cache is not None:
        cached = cache.get(key)
        if cached is not None:
            return SiteOutcome(spec, site, "cached", cached, tuple(diagnostics), time.perf_counter() - started, key, read)
    key_obj = None
    if signing_pem:
        from cryptography.hazmat.primitives import serialization

        key_obj = serialization.load_pem_private_key(signing_pem, password=None)
    try:
        result = build_site(spec, catalog, BuildOptions(signing_key=key_obj, verify=verify, source_date_epoch=source_date_epoch))
    except StageError as exc:
        return SiteOutcome(spec, site, "failed", None, tuple(exc.diagnostics), time.perf_counter() - started, key, read)
    if cache is not None:
        cache.put(key, result.files)
    return SiteOutcome(spec, site, "built", dict(result.files), result.diagnostics, time.perf_counter() - started, key, read)


def run_local(jobs: int, calls: list[tuple], on_done: Callable[[SiteOutcome], None]) -> list[SiteOutcome]:
    if jobs <= 1 or len(calls) <= 1:
        out = []
        for call in calls:
            outcome = build_one(*call)
            on_done(outcome)
            out.append(outcome)
        return out
    from concurrent.futures import ProcessPoolExecutor, as_completed

    outcomes = []
    with ProcessPoolExecutor(max_workers=jobs) as pool:
        futures = [pool.submit(build_one, *call) for call in calls]
        for future in as_completed(futures):
            outcome = future.result()
            on_done(outcome)
            outcomes.append(outcome)
    return outcomes


def run_dask(address: str | None, jobs: int, calls: list[tuple], on_done: Callable[[SiteOutcome], None]) -> list[SiteOutcome]:
    """The same per-site builds on a Dask distributed cluster (a local one when no address)."""
    from distributed import Client, LocalCluster, as_completed

    cluster = None
    if address is None:
        cluster = LocalCluster(n_workers=max(jobs, 1), threads_per_worker=1, processes=True, dashboard_address=None)
        client = Client(cluster)
    else:
        client = Client(address)
    try:
        futures = [client.submit(build_one, *call, pure=False) for call in calls]
        outcomes = []
        for future in as_completed(futures):
            outcome = future.result()
            on_done(outcome)
            outcomes.append(outcome)
        return outcomes
    finally:
        client.close()
        if cluster is not None:
            cluster.close()
