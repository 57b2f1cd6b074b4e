"""Building many sites: discovery, a content-addressed cache, and parallel executors.

A site's cache key hashes everything its bundle depends on: the merged spec and the bytes of
every file it references (the spec's spec_hash), the spec's path in its repository (the
report names it), the catalog parts it names (sensor, chip, MCU, cell, radio: every field but
the file they came from), and the build context: the tool (its version and the bytes of the
engine package, templates/ and schemas/), the signing key's public half, whether the image
is verified, and SOURCE_DATE_EPOCH. A catalog edit therefore rebuilds exactly the sites that
use the part it changes.

An index beside the cached objects remembers, per spec file, the size and mtime of every
file its last build read, the context it was built in (including a hash of every catalog
file) and the key that gave; per bundle folder, the key written there and the size and mtime
of its files. An unchanged site in an unchanged bundle folder therefore costs a few stat
calls and no reading or hashing; any change falls back to validating and hashing the spec,
and to the cached object if its key is known.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import shutil
import tempfile
import time
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import attrs

from engine import __version__, memo
from engine.diagnostics import Diagnostic, StageError
from engine.fs import staging_prefix

if TYPE_CHECKING:
    from engine.pipeline import Catalog, SpecDocument

INDEX_FORMAT = 2
# A file modified this close to the start of a build (or later) may have changed while it
# was read; its size and mtime are not trusted to stand for its content (file-system
# timestamps come from a coarse clock, so the margin is generous).
RACY_MARGIN_NS = 1_000_000_000


def _yaml_files(folder: str) -> list[Path]:
    """Every *.yaml / *.yml under `folder`, hidden folders and files left out, sorted."""
    found = []
    for top, dirs, files in os.walk(folder):
        dirs[:] = [d for d in dirs if not d.startswith(".")]
        found += [os.path.join(top, f) for f in files if f.endswith((".yaml", ".yml")) and not f.startswith(".")]
    return [Path(f) for f in sorted(found, key=lambda f: f.split(os.sep))]


def site_specs(paths: Iterable[str]) -> tuple[list[Path], list[Diagnostic]]:
    """Spec files under the given files and folders; bases (kind SiteBase) and catalog
    files are skipped, since they are not sites."""
    found, problems = [], []
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            candidates = _yaml_files(raw)
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
    from engine.pipeline import file_kind

    return file_kind(path)


# --- what a bundle depends on besides its spec ------------------------------------------

def _tool_folders() -> tuple[Path, ...]:
    package = Path(__file__).resolve().parent
    return (package, package.parent / "templates", package.parent / "schemas")


def _hash_files(digest: hashlib._Hash, files: Iterable[tuple[str, Path]]) -> None:
    for name, path in files:
        digest.update(name.encode() + b"\0" + hashlib.sha256(path.read_bytes()).digest())


@functools.lru_cache(maxsize=1)
def tool_digest() -> str:
    """The tool version and the bytes of everything the tool reads to make a bundle: its
    code, its templates and its schemas (a development tree changes without a new version)."""
    digest = hashlib.sha256(__version__.encode() + b"\0")
    for folder in _tool_folders():
        if folder.is_dir():
            _hash_files(digest, sorted((f"{folder.name}/{p.relative_to(folder).as_posix()}", p)
                                       for p in folder.rglob("*")
                                       if p.is_file() and "__pycache__" not in p.parts and p.suffix != ".pyc"))
    return digest.hexdigest()


def catalog_folders(root: Path, extra: Iterable[str]) -> tuple[Path, ...]:
    """The catalog folders a spec in repository `root` is built with, in reading order
    (the same rule as engine.spec.repository_catalog)."""
    own = (root / "catalog",) if (root / "catalog").is_dir() else ()
    return own + tuple(Path(f) for f in extra)


def catalog_digest(root: Path, extra: Iterable[str] = ()) -> str:
    """Hash of every catalog file the build reads, named by its place in the reading order."""
    from engine.pipeline import catalog_sources

    digest = hashlib.sha256()
    folders = catalog_folders(root, extra)
    for path, builtin in catalog_sources(folders):
        owner = next((i for i, f in enumerate(folders) if path.parent == f), None)
        name = f"builtin/{path.name}" if owner is None and builtin else f"{owner}/{path.name}"
        _hash_files(digest, [(name, path)])
    return digest.hexdigest()


def signer_fingerprint(signing_pem: bytes | None) -> str:
    if not signing_pem:
        return "unsigned"
    from cryptography.hazmat.primitives import serialization

    key = serialization.load_pem_private_key(signing_pem, password=None)
    raw = key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()


@attrs.frozen
class BuildContext:
    """Everything outside a spec that its bundle depends on, for one spec repository."""

    tool: str
    catalog: str
    signer: str
    verify: bool
    source_date_epoch: int | None

    @property
    def digest(self) -> str:
        """What the index checks before trusting a recorded key: every field."""
        return _digest(attrs.asdict(self))

    @property
    def key_base(self) -> str:
        """What every cache key starts from: every field but the catalog files, since a key
        hashes the parts its site uses instead."""
        return _digest(attrs.asdict(self, filter=lambda a, _: a.name != "catalog"))


def _digest(value: object) -> str:
    return hashlib.sha256(json.dumps(value, sort_keys=True, separators=(",", ":"), default=str).encode()).hexdigest()


def build_context(root: Path, extra: Iterable[str], signing_pem: bytes | None, verify: bool,
                  source_date_epoch: int | None) -> BuildContext:
    return BuildContext(tool_digest(), catalog_digest(root, extra), signer_fingerprint(signing_pem), verify,
                        source_date_epoch)


def parts_digest(doc: SpecDocument, catalog: Catalog) -> str:
    """Hash of the catalog parts a spec names, all but where each was defined."""
    from engine.pipeline import named_parts

    used = {pointer: None if part is None else attrs.asdict(part, filter=lambda a, _: a.name != "origin")
            for pointer, part in named_parts(doc, catalog).items()}
    return _digest(used)


def cache_key(key_base: str, spec_in_repository: str, spec_digest: str, parts: str) -> str:
    return hashlib.sha256(f"{key_base}\0{spec_in_repository}\0{spec_digest}\0{parts}".encode()).hexdigest()


# --- the cache and its index --------------------------------------------------------------

def _fingerprint(path: str) -> list[Any]:  # [path, size, mtime], as the JSON index holds it
    stat = os.stat(path)
    return [path, stat.st_size, stat.st_mtime_ns]


def index_name(path: str | Path) -> str:
    # absolute, not resolved: a stable name costs no look-up of every folder on the way
    return os.path.abspath(path)


def _diagnostic_record(d: Diagnostic) -> dict[str, Any]:
    return attrs.asdict(d, recurse=False) | {"chain": list(d.chain)}


def _diagnostic_from(record: Mapping[str, Any]) -> Diagnostic:
    return Diagnostic(**{**record, "chain": tuple(record.get("chain") or ())})


@attrs.frozen
class QuickHit:
    """What the index knows about a spec none of whose inputs changed since its last build."""

    key: str
    site: str
    agreement: float | None
    diagnostics: tuple[Diagnostic, ...]
    accuracy: float | None = None  # the kernel's accuracy on the labelled stimuli


@attrs.frozen
class Cache:
    root: Path

    def _index_path(self) -> Path:
        return self.root / "index.json"

    def load_index(self) -> dict[str, Any]:
        try:
            index = json.loads(self._index_path().read_text())
        except (OSError, ValueError):
            index = {}
        if not isinstance(index, dict) or index.get("format") != INDEX_FORMAT:
            index = {"format": INDEX_FORMAT}
        index.setdefault("specs", {})
        index.setdefault("outputs", {})
        return index

    def save_index(self, index: Mapping[str, Any]) -> None:
        """Write the index whole or not at all (a full disk leaves the previous one)."""
        tmp = None
        try:
            self.root.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=self.root, prefix=staging_prefix("index"))
            with os.fdopen(fd, "w") as handle:
                handle.write(json.dumps(index, sort_keys=True, separators=(",", ":")))  # the C encoder
            os.replace(tmp, self._index_path())
        except OSError:
            if tmp is not None and os.path.exists(tmp):
                os.unlink(tmp)

    def quick(self, index: Mapping[str, Any], spec: Path, context: str) -> QuickHit | None:
        """The recorded outcome for `spec` if it was built in the same context and no file
        its last build read has changed since."""
        entry = index["specs"].get(index_name(spec))
        if not entry or entry["context"] != context:
            return None
        if entry["diagnostics"] and entry.get("cwd") != os.getcwd():
            return None  # diagnostics name files relative to the working folder
        try:
            if not all(_fingerprint(f[0]) == f for f in entry["files"]):
                return None
        except OSError:
            return None
        return QuickHit(entry["key"], entry["site"], entry["agreement"],
                        tuple(_diagnostic_from(d) for d in entry["diagnostics"]), entry.get("accuracy"))

    def record(self, index: dict[str, Any], outcome: SiteOutcome, context: str, started_ns: int) -> bool:
        """Remember a validated site's key and the fingerprints of the files it read, unless
        one of them was modified too close to the build's start to be trusted; whether the
        index changed."""
        files = [_fingerprint(index_name(f)) for f in sorted(set(outcome.read))]
        name = index_name(outcome.spec)
        before = index["specs"].get(name)
        if any(f[2] >= started_ns - RACY_MARGIN_NS for f in files):
            index["specs"].pop(name, None)
            return before is not None
        index["specs"][name] = {
            "context": context, "key": outcome.key, "site": outcome.site, "files": files,
            "agreement": outcome.agreement, "accuracy": outcome.accuracy, "diagnostics": [_diagnostic_record(d) for d in outcome.diagnostics],
            "cwd": os.getcwd() if outcome.diagnostics else None,
        }
        return bool(index["specs"][name] != before)

    def output_current(self, index: Mapping[str, Any], folder: Path, key: str) -> bool:
        """Whether `folder` still holds exactly what this cache wrote there for `key`."""
        entry = index["outputs"].get(index_name(folder))
        if not entry or entry["key"] != key:
            return False
        try:
            return bool(_bundle_fingerprints(folder) == entry["files"])
        except OSError:
            return False

    def record_output(self, index: dict[str, Any], folder: Path, key: str) -> bool:
        """Remember what `folder` holds now, written from `key`; whether the index changed."""
        name, before = index_name(folder), index["outputs"].get(index_name(folder))
        index["outputs"][name] = {"key": key, "files": _bundle_fingerprints(folder)}
        return bool(index["outputs"][name] != before)

    def _object(self, key: str) -> Path:
        return self.root / "objects" / key[:2] / key

    def get(self, key: str) -> dict[str, bytes] | None:
        """The object's files, each checked against the SHA-256 recorded when it was stored;
        None (and the object removed, so the site is rebuilt) when anything differs."""
        folder = self._object(key)
        try:
            recorded = json.loads((folder / ".complete").read_bytes())
            files = {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*"))
                     if p.is_file() and p.name != ".complete"}
        except (OSError, ValueError):
            recorded, files = None, None
        if files is not None and isinstance(recorded, dict) and recorded == {
                name: hashlib.sha256(data).hexdigest() for name, data in files.items()}:
            return files
        if folder.exists():
            shutil.rmtree(folder, ignore_errors=True)
        return None

    def put(self, key: str, files: Mapping[str, bytes]) -> None:
        folder = self._object(key)
        if (folder / ".complete").exists():
            return
        staging = None
        try:
            folder.parent.mkdir(parents=True, exist_ok=True)
            staging = Path(tempfile.mkdtemp(dir=folder.parent, prefix=staging_prefix(key[:8])))
            for name, data in files.items():
                (staging / name).parent.mkdir(parents=True, exist_ok=True)
                (staging / name).write_bytes(data)
            digests = {name: hashlib.sha256(data).hexdigest() for name, data in sorted(files.items())}
            (staging / ".complete").write_bytes(json.dumps(digests, sort_keys=True).encode())
            os.replace(staging, folder)
        except OSError:  # another worker stored the same key first, or no room: the cache is optional
            if staging is not None:
                shutil.rmtree(staging, ignore_errors=True)


def _bundle_fingerprints(folder: Path) -> list[list[Any]]:
    """[relative path, size, mtime] of every file under `folder`, sorted."""
    out = []

    def walk(path: str, prefix: str) -> None:
        with os.scandir(path) as entries:
            for entry in entries:
                if entry.is_dir(follow_symlinks=False):
                    walk(entry.path, f"{prefix}{entry.name}/")
                elif entry.is_file():
                    stat = entry.stat()
                    out.append([prefix + entry.name, stat.st_size, stat.st_mtime_ns])

    walk(str(folder), "")
    return sorted(out)


# --- one site, in any worker --------------------------------------------------------------

@attrs.frozen
class BuildJob:
    """One site's build as plain values, so it travels to a process pool or a Dask worker."""

    spec: str
    context: str  # BuildContext.digest of the spec's repository
    key_base: str  # BuildContext.key_base
    catalog_dirs: tuple[str, ...]
    signing_pem: bytes | None
    verify: bool
    source_date_epoch: int | None
    cache_root: str | None
    firmware_size: bool = False  # compile for Cortex-M4 and report sizes (the CLI then skips the cache)


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
    agreement: float | None = None
    accuracy: float | None = None  # the kernel's accuracy on the labelled stimuli
    stages: tuple[tuple[str, int, int], ...] = ()  # per stage: results this build computed, and reused (engine.memo)


def _verification(files: Mapping[str, bytes] | None) -> tuple[float | None, float | None]:
    """(agreement, kernel accuracy) from a bundle's report."""
    if not files:
        return None, None
    verification = json.loads(files["report.json"]).get("verification") or {}
    return verification.get("agreement"), verification.get("kernel_accuracy")


# Worker processes build many sites from a few repositories: load each catalog once.
_CATALOGS: dict[tuple[str, tuple[str, ...], str], Catalog] = {}


def _catalog_for(job: BuildJob) -> tuple[Catalog | None, list[Diagnostic]]:
    from engine.pipeline import find_root, repository_catalog

    root = find_root(Path(job.spec).resolve().parent)
    if not catalog_folders(root, job.catalog_dirs):
        from engine.pipeline import builtin_catalog

        # the same parts, loaded once per process and shared with the stages that read it
        return builtin_catalog(), []
    memo = (str(root), job.catalog_dirs, job.context)
    if memo not in _CATALOGS:
        catalog, problems = repository_catalog(job.spec, job.catalog_dirs)
        if catalog is None:
            return None, problems
        if len(_CATALOGS) >= 8:  # a long-lived worker that has seen many contexts
            _CATALOGS.clear()
        _CATALOGS[memo] = catalog
    return _CATALOGS[memo], []


def _stage_delta(before: Mapping[str, tuple[int, int]]) -> tuple[tuple[str, int, int], ...]:
    after = memo.stats()
    out = []
    for stage, (computed, served) in after.items():
        was = before.get(stage, (0, 0))
        if (computed, served) != was:
            out.append((stage, computed - was[0], served - was[1]))
    return tuple(out)


def stage_totals(outcomes: Iterable[SiteOutcome]) -> tuple[int, int]:
    """Stage results the builds computed and reused, over all sites."""
    computed = sum(c for o in outcomes for _, c, _ in o.stages)
    return computed, sum(r for o in outcomes for _, _, r in o.stages)


def build_one(job: BuildJob) -> SiteOutcome:
    from engine.pipeline import (
        BuildOptions,
        build_site,
        referenced_files,
        site_name,
        spec_hash,
        validate_spec,
    )

    started = time.perf_counter()
    # stage results shared with the other sites of this process, and on disk between builds
    memo.use_folder(Path(job.cache_root) / "stages" / tool_digest()[:16] if job.cache_root else None)
    stages_before = memo.stats()

    def outcome(site: str | None, status: str, files: Mapping[str, bytes] | None, diagnostics: Iterable[Diagnostic],
                key: str | None = None, read: tuple[str, ...] = ()) -> SiteOutcome:
        return SiteOutcome(job.spec, site, status, files, tuple(diagnostics), time.perf_counter() - started, key,
                           read, *_verification(files), _stage_delta(stages_before))

    catalog, problems = _catalog_for(job)
    if catalog is None:
        return outcome(None, "failed", None, problems)
    doc, diagnostics = validate_spec(job.spec, catalog)
    if doc is None or any(d.severity == "error" for d in diagnostics):
        return outcome(None, "failed", None, diagnostics)
    read = tuple(str(doc.absolute[f]) for f in doc.files) + tuple(str(p) for _, p in referenced_files(doc))
    key = cache_key(job.key_base, doc.path.relative_to(doc.root).as_posix(), spec_hash(doc),
                    parts_digest(doc, catalog))
    cache = Cache(Path(job.cache_root)) if job.cache_root else None
    site = site_name(doc)
    if cache is not None:
        cached = cache.get(key)
        if cached is not None:
            return outcome(site, "cached", cached, diagnostics, key, read)
    signing_key = None
    if job.signing_pem:
        from cryptography.hazmat.primitives import serialization
        from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

        loaded = serialization.load_pem_private_key(job.signing_pem, password=None)
        assert isinstance(loaded, Ed25519PrivateKey)  # the CLI loaded it as one before it made the job
        signing_key = loaded
    options = BuildOptions(signing_key=signing_key, verify=job.verify, source_date_epoch=job.source_date_epoch,
                           firmware_size=job.firmware_size)
    try:
        result = build_site(job.spec, catalog, options)
    except StageError as exc:
        return outcome(site, "failed", None, exc.diagnostics, key, read)
    if cache is not None:
        cache.put(key, result.files)
    return outcome(site, "built", dict(result.files), result.diagnostics, key, read)


# --- executors ----------------------------------------------------------------------------

def _die_with(parent: int) -> None:
    """Run in each pool worker: the kernel kills it when the build that started it dies
    (even by kill -9, when nothing in Python gets to clean up)."""
    try:
        import ctypes
        import signal

        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG (Linux)
    except (OSError, AttributeError):
        pass  # elsewhere the pool's own shutdown is all there is
    if os.getppid() != parent:  # the parent died before the request took effect
        os._exit(1)


def run_local(jobs: int, work: list[BuildJob], on_done: Callable[[SiteOutcome], None]) -> list[SiteOutcome]:
    if jobs <= 1 or len(work) <= 1:
        memo.clear()  # in this process too, a build shares what it computes and what the cache holds, nothing older
        out = []
        for job in work:
            outcome = build_one(job)
            on_done(outcome)
            out.append(outcome)
        return out
    from concurrent.futures import ProcessPoolExecutor, as_completed

    outcomes = []
    with ProcessPoolExecutor(max_workers=min(jobs, len(work)), initializer=_die_with, initargs=(os.getpid(),)) as pool:
        futures = [pool.submit(build_one, job) for job in work]
        for future in as_completed(futures):
            outcome = future.result()
            on_done(outcome)
            outcomes.append(outcome)
    return outcomes


def run_dask(address: str | None, jobs: int, work: list[BuildJob], on_done: Callable[[SiteOutcome], None]) -> list[SiteOutcome]:
    """The same per-site builds on a Dask distributed cluster (a local one when no address)."""
    from distributed import Client, LocalCluster, as_completed

    cluster = None
    if address is None:
        cluster = LocalCluster(n_workers=max(jobs, 1), threads_per_worker=1, processes=True, dashboard_address=None)
        client = Client(cluster)
    else:
        client = Client(address)
    try:
        futures = [client.submit(build_one, job, pure=False) for job in work]
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
