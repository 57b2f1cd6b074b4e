"""nmspec build PATH...: validate, resolve, map, generate and verify bundles."""

from __future__ import annotations

import importlib.util
import json
import os
import sys
from pathlib import Path

from engine.cli.common import (EXIT_CHECK_DIFFERS, EXIT_INVALID, EXIT_OK, EXIT_USAGE, add_catalog_option, emit_diagnostics)
from engine.codegen.bundle import differences, write_atomically
from engine.fleet import Cache, run_dask, run_local, site_specs
from engine.spec.document import find_root


def register(subparsers):
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
    parser.add_argument("--cache-dir", metavar="DIR", help="build cache (default: .nmspec-cache at the spec repository root)")
    parser.add_argument("--executor", choices=("local", "dask"), default="local", help="where the per-site builds run")
    parser.add_argument("--scheduler", metavar="ADDRESS", help="Dask scheduler address (default: start a local cluster)")
    parser.add_argument("--output", "-o", choices=("text", "json", "github"), default="text")
    parser.add_argument("--quiet", "-q", action="store_true", help="no progress bar and no summary table")
    add_catalog_option(parser)
    parser.set_defaults(func=run)
    return parser


def _signing_pem(args) -> tuple[bytes | None, str | None]:
    from engine.image import load_signing_key

    try:
        key = load_signing_key(args.sign_key) if args.sign_key else load_signing_key()
    except Exception as exc:  # KeyError from engine.image.keys carries a message
        return None, getattr(exc, "message", str(exc))
    if key is None:
        return None, None
    from cryptography.hazmat.primitives import serialization

    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption()), None


def _progress(total: int, enabled: bool):
    if not enabled:
        return None
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    progress = Progress(TextColumn("building"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                        console=None, transient=True)
    progress.start()
    task = progress.add_task("sites", total=total)
    return progress, task


def run(args) -> int:
    specs, problems = site_specs(args.paths)
    if problems:
        return emit_diagnostics(problems, args.output)
    if not specs:
        sys.stderr.write("nmspec build: no site specs found (bases with kind SiteBase are not built)\n")
        return EXIT_USAGE
    pem, key_problem = _signing_pem(args)
    if key_problem:
        sys.stderr.write(f"nmspec build: {key_problem}\n")
        return EXIT_USAGE
    root = find_root(specs[0].resolve().parent)
    cache = None if args.no_cache else Cache(Path(args.cache_dir) if args.cache_dir else root / ".nmspec-cache")
    epoch = os.environ.get("SOURCE_DATE_EPOCH")
    epoch = int(epoch) if epoch and epoch.isdigit() else None
    index = cache.load_index() if cache else {}
    outcomes, calls = [], []
    from engine.fleet import SiteOutcome, signer_fingerprint  # noqa: F401

    for spec in specs:
        quick = cache.quick_key(index, spec) if cache else None
        files = cache.get(quick) if quick else None
        if files is not None:
            outcomes.append(SiteOutcome(str(spec), None, "cached", files, (), 0.0, quick, ()))
        else:
            calls.append((str(spec), str(cache.root) if cache else None, tuple(args.catalog), pem,
                          not args.no_verify, epoch))
    show = not args.quiet and args.output == "text" and sys.stderr.isatty() and len(calls) > 1
    bar = _progress(len(calls), show)

    def done(_outcome) -> None:
        if bar:
            bar[0].advance(bar[1])

    if args.executor == "dask" and importlib.util.find_spec("distributed") is None:
        sys.stderr.write("nmspec build: --executor dask needs Dask distributed; "
                         "install it with: pip install 'nmspec[dask]'\n")
        return EXIT_USAGE
    try:
        if args.executor == "dask":
            outcomes += run_dask(args.scheduler, args.jobs, calls, done)
        else:
            outcomes += run_local(args.jobs, calls, done)
    finally:
        if bar:
            bar[0].stop()
    if cache:
        for outcome in outcomes:
            if outcome.key and outcome.read:
                cache.record(index, Path(outcome.spec), outcome.key, [Path(p) for p in outcome.read])
        cache.save_index(index)
    outcomes.sort(key=lambda o: o.spec)
    diagnostics = [d for o in outcomes for d in o.diagnostics] + _duplicate_sites(outcomes)
    if any(d.code == "NM241" for d in diagnostics):
        return emit_diagnostics(diagnostics, args.output)
    out_root = Path(args.out)
    changed: list[str] = []
    rows = []
    for outcome in outcomes:
        if outcome.files is None:
            rows.append((outcome.spec, outcome.site or "-", "failed", outcome.seconds, "-"))
            continue
        site = outcome.site or json.loads(outcome.files["manifest.json"])["site"]
        target = out_root / site
        diff = differences(outcome.files, target)
        if args.check:
            changed += [f"{target}: {d}" for d in diff]
        elif diff:
            write_atomically(outcome.files, target)
        status = outcome.status if not args.check else ("differs" if diff else "up to date")
        report = json.loads(outcome.files["report.json"])
        agreement = (report.get("verification") or {}).get("agreement")
        rows.append((outcome.spec, site, status, outcome.seconds, "-" if agreement is None else f"{agreement:.1%}"))
    status = emit_diagnostics(diagnostics, args.output)
    if args.output == "json":
        pass
    elif not args.quiet:
        _summary(rows, out_root, args.check)
    if any(o.files is None for o in outcomes):
        return EXIT_INVALID
    if args.check and changed:
        sys.stderr.write("\n".join(changed) + "\n")
        return EXIT_CHECK_DIFFERS
    return status if status != EXIT_OK else EXIT_OK


def _duplicate_sites(outcomes):
    from engine.diagnostics import Diagnostic

    by_site: dict[str, list[str]] = {}
    for outcome in outcomes:
        if outcome.files is not None:
            site = json.loads(outcome.files["manifest.json"])["site"]
            by_site.setdefault(site, []).append(outcome.spec)
    return [Diagnostic("error", "NM241", f"metadata.site: '{site}' is the site of {len(specs)} specs ({', '.join(specs)}); "
                                         "each site needs its own name", file=specs[1])
            for site, specs in sorted(by_site.items()) if len(specs) > 1]


def _summary(rows, out_root: Path, check: bool) -> None:
    width = max(len(r[1]) for r in rows)
    sys.stdout.write(f"{'site'.ljust(width)}  status      time    agreement\n")
    for spec, site, status, seconds, agreement in rows:
        sys.stdout.write(f"{site.ljust(width)}  {status.ljust(10)}  {seconds:5.1f}s  {agreement}\n")
    built = sum(1 for r in rows if r[2] in ("built", "cached", "up to date", "differs"))
    verb = "checked" if check else "written under"
    sys.stdout.write(f"{built} of {len(rows)} bundles {verb} {out_root}/\n")
