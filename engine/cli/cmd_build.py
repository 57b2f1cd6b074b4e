"""nmspec build PATH...: validate, resolve, map, generate and verify bundles."""

from __future__ import annotations

import argparse
import importlib.util
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from engine.cli.common import (
    EXIT_CHECK_DIFFERS,
    EXIT_INVALID,
    EXIT_USAGE,
    add_catalog_option,
    emit_diagnostics,
)
from engine.diagnostics import RENDERERS, Diagnostic, StageError
from engine.fleet import (
    BuildContext,
    BuildJob,
    Cache,
    SiteOutcome,
    build_context,
    index_name,
    run_dask,
    run_local,
    site_specs,
    stage_totals,
)
from engine.fs import differences, remove_stale_staging, write_atomically
from engine.pipeline import find_root

if TYPE_CHECKING:
    from rich.progress import Progress, TaskID

    from engine.cli.common import Subparsers

# A line of the summary table: site, status, cache, seconds, agreement, accuracy.
Row = tuple[str, str, str, float, float | None, float | None]


def register(subparsers: Subparsers) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(
        "build", help="build firmware, model image and manifest",
        description="Build one bundle per site spec (files, or folders of specs; bases are skipped): "
                    "model.nmc, firmware/, manifest.json and report.json, verified against the source model.")
    parser.add_argument("paths", nargs="+", metavar="PATH", help="site spec or folder of specs")
    parser.add_argument("--out", default="build", metavar="DIR", help="where bundles go: DIR/<site>/ (default: build)")
    parser.add_argument("--check", action="store_true",
                        help="write nothing; exit 3 when a bundle under --out differs from what its spec produces")
    parser.add_argument("--jobs", "-j", type=int, default=os.cpu_count() or 1, help="sites built in parallel")
    parser.add_argument("--sign-key", metavar="FILE",
                        help="Ed25519 private key (PEM) to sign images; default: $NMSPEC_SIGNING_KEY if set")
    parser.add_argument("--no-verify", action="store_true", help="skip running the kernel against the float model")
    parser.add_argument("--no-cache", action="store_true", help="rebuild every site")
    parser.add_argument("--firmware-size", action="store_true",
                        help="compile firmware/ for Cortex-M4 (arm-none-eabi-gcc, qemu-system-arm) and add flash, "
                             "RAM and instruction counts to report.json; implies --no-cache")
    parser.add_argument("--cache-dir", metavar="DIR", help="build cache (default: .nmspec-cache at the spec repository root)")
    parser.add_argument("--executor", choices=("local", "dask"), default="local", help="where the per-site builds run")
    parser.add_argument("--scheduler", metavar="ADDRESS", help="Dask scheduler address (default: start a local cluster)")
    parser.add_argument("--output", "-o", choices=("text", "json", "github"), default="text")
    parser.add_argument("--quiet", "-q", action="store_true", help="no progress bar and no summary table")
    add_catalog_option(parser)
    parser.set_defaults(func=run)
    return parser


def _signing_pem(args: argparse.Namespace) -> tuple[bytes | None, str | None]:
    from engine.pipeline import signing_key

    try:
        key = signing_key(args.sign_key)
    except StageError as exc:
        return None, getattr(exc, "message", str(exc))
    if key is None:
        return None, None
    from cryptography.hazmat.primitives import serialization

    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption()), None


def _key_file(args: argparse.Namespace) -> Path | None:
    if args.sign_key:
        return Path(args.sign_key)
    value = os.environ.get("NMSPEC_SIGNING_KEY", "")
    return Path(value) if value and not value.lstrip().startswith("-----BEGIN") and Path(value).is_file() else None


def _git_ignores(root: Path, path: Path) -> bool:
    if not (root / ".git").exists():
        return False
    done = subprocess.run(["git", "-C", str(root), "check-ignore", "-q", str(path)], capture_output=True, check=False)
    return done.returncode == 0


def _key_inside_a_repository(key_file: Path | None, specs: list[Path]) -> str | None:
    """A private key inside a spec repository is one `git add` away from being published
    with the specs: refused unless git ignores it."""
    if key_file is None:
        return None
    key = key_file.resolve()
    for root in sorted({find_root(spec.resolve().parent) for spec in specs}):
        if key.is_relative_to(root) and not _git_ignores(root, key):
            return (f"the signing key {key_file} lies inside the spec repository {root.name}/; keep keys outside "
                    "the repository (or at least in a path git ignores)")
    return None


def _progress(total: int, enabled: bool) -> tuple[Progress, TaskID] | None:
    if not enabled:
        return None
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    progress = Progress(TextColumn("building"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                        console=None, transient=True)
    progress.start()
    task = progress.add_task("sites", total=total)
    return progress, task


def run(args: argparse.Namespace) -> int:
    started_ns = time.time_ns()
    specs, problems = site_specs(args.paths)
    if problems:
        return emit_diagnostics(problems, args.output)
    if not specs:
        sys.stderr.write("nmspec build: no site specs found (bases with kind SiteBase are not built)\n")
        return EXIT_USAGE
    if args.executor == "dask" and importlib.util.find_spec("distributed") is None:
        sys.stderr.write("nmspec build: --executor dask needs Dask distributed; "
                         "install it with: pip install 'nmspec[dask]'\n")
        return EXIT_USAGE
    out_root = Path(args.out)
    if out_root.exists() and not out_root.is_dir():
        sys.stderr.write(f"nmspec build: --out {args.out} is a file; name a folder (bundles go to FOLDER/<site>/)\n")
        return EXIT_USAGE
    pem, key_problem = _signing_pem(args)
    key_problem = key_problem or (_key_inside_a_repository(_key_file(args), specs) if pem else None)
    if key_problem:
        sys.stderr.write(f"nmspec build: {key_problem}\n")
        return EXIT_USAGE
    epoch_text = os.environ.get("SOURCE_DATE_EPOCH")
    epoch = int(epoch_text) if epoch_text and epoch_text.isdigit() else None
    roots = _roots(specs)
    contexts = {root: build_context(root, args.catalog, pem, not args.no_verify, epoch)
                for root in sorted(set(roots.values()))}
    cache = None if args.no_cache or args.firmware_size else Cache(Path(args.cache_dir) if args.cache_dir else roots[specs[0]] / ".nmspec-cache")
    index = cache.load_index() if cache else {}
    if not args.check:  # what builds killed mid-write left behind
        for folder in (out_root, cache.root if cache else None):
            if folder is not None and folder.is_dir():
                remove_stale_staging(folder)

    settled: list[SiteOutcome] = []
    work: list[BuildJob] = []
    for spec in specs:
        context = contexts[roots[spec]]
        hit = cache.quick(index, spec, _index_context(context, roots[spec], spec)) if cache else None
        if hit and cache and not args.check and cache.output_current(index, out_root / hit.site, hit.key):
            settled.append(SiteOutcome(str(spec), hit.site, CURRENT, None, hit.diagnostics, 0.0, hit.key, (),
                                       hit.agreement, hit.accuracy))
            continue
        files = cache.get(hit.key) if hit and cache else None
        if hit is not None and files is not None:
            settled.append(SiteOutcome(str(spec), hit.site, "cached", files, hit.diagnostics, 0.0, hit.key, (),
                                       hit.agreement, hit.accuracy))
        else:
            work.append(BuildJob(str(spec), context.digest, context.key_base, tuple(args.catalog), pem,
                                 not args.no_verify, epoch, str(cache.root) if cache else None,
                                 firmware_size=args.firmware_size))
    outcomes = settled + _run(args, work)
    dirty = False  # the index is rewritten only when it changed: a no-change build writes nothing
    if cache:
        for outcome in outcomes:
            if outcome.read and outcome.status in ("built", "cached"):
                spec = Path(outcome.spec)
                recorded_as = _index_context(contexts[roots[spec]], roots[spec], spec)
                dirty |= cache.record(index, outcome, recorded_as, started_ns)
    outcomes.sort(key=lambda o: o.spec)
    diagnostics = [d for o in outcomes for d in o.diagnostics] + _duplicate_sites(outcomes)
    if any(d.code == "NM241" for d in diagnostics):
        if cache and dirty:
            cache.save_index(index)
        return emit_diagnostics(diagnostics, args.output)
    orphans = _orphans(index, out_root, {o.site for o in outcomes if o.site}) if cache else []
    try:
        rows, changed, written = _publish(outcomes, out_root, args.check, cache, index)
        for gone, site, folder in orphans:
            if args.check:
                changed.append((gone, f"{folder}: its spec {gone} is gone; a build removes this bundle"))
                rows.append((site, "orphaned", "-", 0.0, None, None))
            else:
                shutil.rmtree(folder)
                index["outputs"].pop(index_name(folder), None)
                index["specs"].pop(index_name(gone), None)
                written = True
                rows.append((site, "removed", "-", 0.0, None, None))
    except _WriteFailed as failed:  # a full disk, a read-only or vanished folder: nothing half-written stays
        return emit_diagnostics(diagnostics + [Diagnostic(
            "error", "NM921", f"cannot write the bundle: {failed.reason}", file=str(failed.folder),
            hint="free space or choose another --out folder; bundles already there are unchanged")], args.output)
    except OSError as exc:
        return emit_diagnostics(diagnostics + [Diagnostic(
            "error", "NM921", f"cannot remove the bundle: {exc.strerror or exc}", file=str(exc.filename or out_root))],
            args.output)
    if cache and (dirty or written):
        cache.save_index(index)
    status = emit_diagnostics(diagnostics, args.output)
    if args.output == "text" and not args.quiet:
        sys.stdout.write(summary_table(rows, out_root, args.check, stage_totals(outcomes)))
    if any(o.status == "failed" for o in outcomes):
        return EXIT_INVALID
    if args.check and changed:
        if args.output == "github":  # an annotation on the spec whose bundle is stale
            sys.stderr.write(RENDERERS["github"]([Diagnostic("error", "NM920", line, file=spec) for spec, line in changed]))
        else:
            sys.stderr.write("".join(f"{line}\n" for _, line in changed))
        return EXIT_CHECK_DIFFERS
    return status


# A site whose inputs and bundle folder are unchanged since the last build: nothing is read.
CURRENT = "current"


def _index_context(context: BuildContext, root: Path, spec: Path) -> str:
    """What a recorded key stands for besides the files it read: the build context and the
    spec's place in its repository (the report names it; a new nmspec.toml can move it)."""
    return f"{context.digest}:{os.path.relpath(os.path.abspath(spec), root)}"


def _roots(specs: list[Path]) -> dict[Path, Path]:
    by_folder: dict[Path, Path] = {}
    roots: dict[Path, Path] = {}
    for spec in specs:
        folder = spec.parent
        if folder not in by_folder:
            by_folder[folder] = find_root(folder.resolve())
        roots[spec] = by_folder[folder]
    return roots


def _run(args: argparse.Namespace, work: list[BuildJob]) -> list[SiteOutcome]:
    show = not args.quiet and args.output == "text" and sys.stderr.isatty() and len(work) > 1
    bar = _progress(len(work), show)

    def done(_outcome: SiteOutcome) -> None:
        if bar:
            bar[0].advance(bar[1])

    try:
        if args.executor == "dask":
            return run_dask(args.scheduler, args.jobs, work, done)
        return run_local(args.jobs, work, done)
    finally:
        if bar:
            bar[0].stop()


class _WriteFailed(Exception):
    def __init__(self, folder: Path, reason: str) -> None:
        super().__init__(reason)
        self.folder, self.reason = folder, reason


def _publish(outcomes: Sequence[SiteOutcome], out_root: Path, check: bool, cache: Cache | None,
             index: dict[str, Any]) -> tuple[list[Row], list[tuple[str, str]], bool]:
    """Write (or, with check, compare) each site's bundle; the summary rows, for check
    (spec, what differs) for every bundle that differs, and whether the index changed."""
    rows: list[Row] = []
    changed: list[tuple[str, str]] = []
    recorded = False
    for outcome in outcomes:
        cache_column = "-" if cache is None else ("hit" if outcome.status in ("cached", CURRENT) else "miss")
        if outcome.status == "failed":
            rows.append((outcome.site or outcome.spec, "failed", "-", outcome.seconds, None, None))
            continue
        assert outcome.site is not None  # every outcome but a failed one names its site
        target = out_root / outcome.site
        if outcome.status == CURRENT:
            status = "up to date"
        else:
            assert outcome.files is not None  # a built or cached outcome carries its files
            diff = differences(outcome.files, target)
            if check:
                changed += [(outcome.spec, f"{target}: {line}") for line in check_lines(outcome.files, target, diff)]
                status = "differs" if diff else "up to date"
            else:
                if diff:
                    try:
                        write_atomically(outcome.files, target)
                    except OSError as exc:
                        raise _WriteFailed(target, exc.strerror or str(exc)) from None
                status = "written" if diff else "up to date"
            if cache is not None and outcome.key and not (check and diff):
                recorded |= cache.record_output(index, target, outcome.key)
        rows.append((outcome.site, status, cache_column, outcome.seconds, outcome.agreement, outcome.accuracy))
    return rows, changed, recorded


def _orphans(index: Mapping[str, Any], out_root: Path, built: set[str]) -> list[tuple[str, str, Path]]:
    """(spec, site, bundle folder) of every bundle under out_root that this cache wrote from
    a spec that no longer exists, unless a spec of this build now makes that site."""
    found = []
    for spec, entry in sorted(index["specs"].items()):
        site = entry.get("site")
        if not isinstance(site, str) or site in built or os.path.exists(spec):
            continue
        folder = out_root / site
        written = index["outputs"].get(index_name(folder))
        if written and written.get("key") == entry.get("key") and folder.is_dir():
            found.append((os.path.relpath(spec), site, folder))
    return found


def check_lines(files: Mapping[str, bytes], target: Path, diff: list[str]) -> list[str]:
    """What a stale bundle's rebuild would change: one line per change to the device, then
    one line for the estimates and one for what only names the build, so CI annotates what
    matters once and not every regenerated file."""
    from engine.pipeline import ImageError, device_changes, diff_plan

    if not diff:
        return []
    if not target.is_dir():
        return ["not built yet"]
    committed = {str(p.relative_to(target)): p.read_bytes() for p in sorted(target.rglob("*")) if p.is_file()}
    try:
        plan = diff_plan(committed, files)
    except (ImageError, ValueError, KeyError):  # a committed bundle too damaged to read: say which files differ
        return list(diff)
    lines = [f"changes the device: {item}" for item in device_changes(plan)]
    if plan["report"]:
        lines.append(f"estimates: {len(plan['report'])} figure{'s' if len(plan['report']) != 1 else ''} of report.json "
                     "change (nmspec diff shows them)")
    other = [d for d in diff if not d.startswith("changed ")]
    if plan["metadata"] or other or not lines:
        lines.append("metadata only: " + "; ".join([item.lstrip("~ ") for item in plan["metadata"]] + other
                                                   or ["manifest and report"]))
    return lines


def _duplicate_sites(outcomes: Sequence[SiteOutcome]) -> list[Diagnostic]:
    by_site: dict[str, list[str]] = {}
    for outcome in outcomes:
        if outcome.status != "failed" and outcome.site is not None:  # every outcome but a failed one names its site
            by_site.setdefault(outcome.site, []).append(outcome.spec)
    return [Diagnostic("error", "NM241", f"metadata.site: '{site}' is the site of {len(specs)} specs ({', '.join(specs)}); "
                                         "each site needs its own name", file=specs[1])
            for site, specs in sorted(by_site.items()) if len(specs) > 1]


def summary_table(rows: Sequence[Row], out_root: Path, check: bool, stages: tuple[int, int] = (0, 0)) -> str:
    """One line per site (site, what happened to its bundle, cache, build time, agreement
    of the kernel with the float model, the kernel's accuracy on the labelled stimuli), then
    the totals, and how many stage results (chain, quantization, verification...) the builds
    computed and how many they shared. Agreement alone can be 100% for a model that is wrong
    on every window."""
    width = max([len("site")] + [len(r[0]) for r in rows])
    lines = [f"{'site'.ljust(width)}  {'status'.ljust(10)}  cache  {'time'.rjust(6)}  agreement  accuracy"]
    for site, status, cache, seconds, agreement, accuracy in rows:
        shown = "-" if agreement is None else f"{agreement:.1%}"
        right = "-" if accuracy is None else f"{accuracy:.1%}"
        lines.append(f"{site.ljust(width)}  {status.ljust(10)}  {cache.ljust(5)}  {seconds:5.1f}s  {shown.rjust(9)}  {right.rjust(8)}")
    counts: dict[str, int] = {}
    for row in rows:
        counts[row[1]] = counts.get(row[1], 0) + 1
    hits = sum(1 for r in rows if r[2] == "hit")
    done = ", ".join(f"{counts[s]} {s}" for s in ("written", "up to date", "differs", "failed", "removed", "orphaned")
                     if s in counts)
    where = "checked against" if check else "under"
    shared = f"; stage results: {stages[0]} computed, {stages[1]} shared" if sum(stages) else ""
    lines.append(f"{len(rows)} site{'s' if len(rows) != 1 else ''} {where} {out_root}/: {done}; "
                 f"{hits} from the cache{shared}")
    return "\n".join(lines) + "\n"
