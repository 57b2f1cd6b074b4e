"""nmspec verify BUNDLE|SPEC: run the image through the kernel against the source model."""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from engine.cli.common import (
    EXIT_INVALID,
    EXIT_OK,
    EXIT_USAGE,
    add_catalog_option,
    emit_diagnostics,
    load_and_validate,
)
from engine.cli.numbers import eng
from engine.diagnostics import Diagnostic, StageError
from engine.pipeline import MAX_MANIFEST_BYTES, manifest_shape, read_limited

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    from engine.cli.common import Subparsers
    from engine.pipeline import ImageContents


def register(subparsers: Subparsers) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(
        "verify", help="verify a bundle or spec with the kernel",
        description="Check a bundle's files against its signed statement (or its manifest), the signatures against "
                    "the trusted keys and the manifest against the image; then run model.nmc (or the spec's image, "
                    "built in memory) through the kernel on the spec's stimuli and compare with the float reference "
                    "of the source model.")
    parser.add_argument("target", metavar="BUNDLE|SPEC", help="a bundle folder (with manifest.json) or a site spec")
    parser.add_argument("--spec", help="the bundle's spec (default: the one recorded in its report.json)")
    parser.add_argument("--verify-key", metavar="PUB", action="append",
                        help="a trusted Ed25519 public key (PEM, or 32 raw bytes as binary, hex or base64); repeat for a "
                             "set; the bundle's statement and image must be signed by one of them")
    parser.add_argument("--retired", metavar="STATEMENT", action="append",
                        help="a key retirement statement (nmspec retire-key) signed by a trusted key; bundles signed "
                             "by the key it retires are refused; repeatable")
    parser.add_argument("--min-security-version", metavar="N", type=int,
                        help="refuse a bundle whose security version is below N (the fleet's floor)")
    parser.add_argument("--output", "-o", choices=("text", "json", "github"), default="text")
    add_catalog_option(parser)
    parser.set_defaults(func=run)
    return parser


def _trust(args: argparse.Namespace) -> tuple[list[Ed25519PublicKey], set[str]] | str:
    """(trusted keys, retired key ids), or what is wrong with the options."""
    from engine.pipeline import EnvelopeError, retired_key, verify_key

    try:
        keys = [verify_key(path) for path in args.verify_key or ()]
    except StageError as exc:
        return str(getattr(exc, "message", exc))
    retired = set()
    if args.retired and not keys:
        return "--retired needs --verify-key: a retirement counts only when a trusted key signed it"
    for path in args.retired or ():
        try:
            retired.add(retired_key(Path(path).read_bytes(), keys))
        except OSError as exc:
            return f"cannot read {path}: {exc.strerror or exc}"
        except EnvelopeError as exc:
            return f"{path}: {exc}"
    return keys, retired


def _bundle_problems(folder: Path) -> tuple[dict[str, Any], list[Diagnostic]]:
    manifest_path = folder / "manifest.json"
    try:
        manifest = json.loads(read_limited(manifest_path, MAX_MANIFEST_BYTES))
    except OverflowError:
        return {}, [Diagnostic("error", "NM804", f"not a bundle manifest: more than {MAX_MANIFEST_BYTES} bytes",
                               file=str(manifest_path))]
    except (OSError, ValueError) as exc:
        return {}, [Diagnostic("error", "NM804", f"not a readable bundle manifest: {exc}", file=str(manifest_path))]
    shape = manifest_shape(manifest)
    if shape:
        return {}, [Diagnostic("error", "NM804", f"not a bundle manifest: {shape}", file=str(manifest_path),
                               hint="rebuild the bundle with nmspec build")]
    problems = []
    for name, entry in sorted(manifest["files"].items()):
        path = folder / name
        if not path.is_file():
            problems.append(Diagnostic("error", "NM804", "listed in the manifest but missing", file=str(path)))
        elif hashlib.sha256(path.read_bytes()).hexdigest() != entry["sha256"]:
            problems.append(Diagnostic("error", "NM804", "differs from the manifest's SHA-256 (modified after the build)", file=str(path)))
    return manifest, problems




def _recorded_spec(recorded: str | None, bundle: Path) -> tuple[str | None, list[str]]:
    """The bundle's spec from the path its report records, relative to the root of the spec
    repository it was built in: looked for under the repository holding the bundle, then
    under the one holding the working folder, then from the working folder itself."""
    from engine.pipeline import display_name, find_root

    if not recorded:
        return None, []
    tried: list[str] = []
    for base in (find_root(bundle.resolve()), find_root(Path.cwd()), Path.cwd()):
        candidate = base / recorded
        shown = display_name(candidate)
        if shown in tried:
            continue
        tried.append(shown)
        if candidate.is_file():
            return shown, tried
    return None, tried


def run(args: argparse.Namespace) -> int:
    from engine.pipeline import check_bundle, image_hash, read_image, resolve_site, verify_site

    target = Path(args.target)
    image_bytes = None
    diagnostics: list[Diagnostic] = []
    spec = args.spec
    trust = _trust(args)
    if isinstance(trust, str):
        sys.stderr.write(f"nmspec verify: {trust}\n")
        return EXIT_USAGE
    keys, retired = trust
    verdict = None
    if target.is_dir():
        checked = check_bundle(target, keys, retired=retired, min_security_version=args.min_security_version)
        if not checked.ok:
            return emit_diagnostics(list(checked.diagnostics), args.output)
        _manifest, diagnostics = _bundle_problems(target)  # names that leave the bundle, sizes past any bundle's
        if diagnostics:
            return emit_diagnostics(diagnostics, args.output)
        verdict = checked.verdict()
        image_bytes = checked.image
        if spec is None:
            try:
                report = json.loads(read_limited(target / "report.json", MAX_MANIFEST_BYTES))
            except (OSError, ValueError, OverflowError):
                report = None
            recorded = report.get("spec") if isinstance(report, dict) else None
            spec, tried = _recorded_spec(recorded if isinstance(recorded, str) else None, target)
            if spec is None:
                sys.stderr.write(f"nmspec verify: the bundle records its spec as '{recorded}' (relative to its spec "
                                 f"repository's root); not found at {', '.join(tried) or 'any place'}: name it with "
                                 "--spec SPEC\n")
                return EXIT_USAGE
        elif not Path(spec).is_file():
            sys.stderr.write(f"nmspec verify: --spec {spec}: no such file\n")
            return EXIT_USAGE
    else:
        spec = str(target)
    doc, catalog, diagnostics = load_and_validate(spec, args)
    if doc is None or catalog is None:  # a document comes with its catalog
        return emit_diagnostics(diagnostics, args.output)
    key = keys or None
    try:
        resolved = resolve_site(doc, catalog)
        if image_bytes is None:
            from engine.pipeline import BuildOptions, build_site

            image_bytes = build_site(spec, catalog, BuildOptions(verify=False, preview=True)).files["model.nmc"]
        contents = read_image(image_bytes, key=key)
    except StageError as exc:
        return emit_diagnostics(diagnostics + list(exc.diagnostics), args.output)
    if contents.metadata.spec_hash != image_hash(doc):
        diagnostics.append(Diagnostic("warning", "NM805", "the image was built from another version of this spec or its files "
                                                          "(its spec hash differs from the spec's image part); verifying it against the current one", file=doc.display))
    result = verify_site(doc, image_bytes, resolved, catalog)
    diagnostics += list(result.diagnostics)
    summary = result.summary()
    summary["signature"] = verdict or _signature_status(image_bytes, key is not None)
    if args.output == "json":
        sys.stdout.write(json.dumps({"verification": summary, "diagnostics": [d.to_json() if hasattr(d, "to_json") else vars(d) for d in diagnostics]},
                                    indent=2, sort_keys=True, default=str) + "\n")
        return EXIT_INVALID if any(d.severity == "error" for d in diagnostics) else EXIT_OK
    status = emit_diagnostics(diagnostics, args.output)
    _print(summary, contents)
    return status


def _signature_status(image: bytes, checked: bool) -> str:
    """Whether the last line's verdict covers the image's signature: a pass says so."""
    from engine.pipeline import image_signature

    if checked:
        return "signature checked"
    if image_signature(image) == "unsigned":
        return "unsigned: no signature checked"
    return "signed, but no signature checked: pass --verify-key PUB"


def _print(summary: Mapping[str, Any], contents: ImageContents) -> None:
    out = sys.stdout
    out.write(f"image: {contents.metadata.site} on {contents.target.chip} ({contents.network.family}), "
              f"{summary['image_bytes']} bytes\n")
    if "windows" not in summary:
        out.write("no stimuli: image read back and checked only\n")
        return
    out.write(f"target fidelity: {summary['fidelity']}\n")
    out.write(f"windows: {summary['windows']} ({summary['steps']} steps, {summary['synaptic_ops']} synaptic events)\n")
    out.write(f"agreement kernel vs float model: {summary['agreement']:.1%} (required {summary['min_agreement']:.0%})\n")
    floor = (f"required {summary['min_accuracy']:.0%}" if summary.get("min_accuracy") is not None
             else f"warned below {summary['default_min_accuracy']:.0%}; set verify.min_accuracy to require one")
    out.write(f"accuracy on the labelled stimuli: kernel {summary['kernel_accuracy']:.1%}, "
              f"float {summary['float_accuracy']:.1%} ({floor})\n")
    out.write(f"detection rate: kernel {summary['detection_rate']:.1%}, float {summary['float_detection_rate']:.1%}\n")
    out.write(f"false alarms: kernel {summary['false_alarm_rate']:.1%}, float {summary['float_false_alarm_rate']:.1%}\n")
    corr = ", ".join(f"{c:.3f}" for c in summary["spike_count_correlation"])
    what = "peak-membrane" if summary.get("readout") == "membrane" else "spike-count"
    out.write(f"{what} correlation per output: {corr}\n")
    out.write(f"deterministic: {'yes' if summary['deterministic'] else 'NO'}\n")
    if "cycles" in summary:
        c = summary["cycles"]
        if c["model"] == "speck-event":  # a cycle is one event through one layer (engine/verify/cycles.py)
            out.write(f"layer events (speck-event model, {1e6 / c['clock_hz']:.4g} us each, one after another): peak "
                      f"{c['peak_per_step']:.0f}, mean {c['mean_per_step']:.0f} per step of {c['dt_s'] * 1e3:g} ms\n")
            out.write(f"latency per step: peak {c['peak_latency_s'] * 1e6:.1f} us, mean {c['mean_latency_s'] * 1e6:.1f} us "
                      f"({'real time' if c['real_time'] else 'NOT real time'})\n")
        else:
            out.write(f"cycles ({c['model']} model, {c['cores']} core(s)): peak {c['peak_per_step']:.0f}, mean "
                      f"{c['mean_per_step']:.0f} per step of {c['dt_s'] * 1e3:g} ms\n")
            out.write(f"latency per step: peak {c['peak_latency_s'] * 1e6:.1f} us, mean {c['mean_latency_s'] * 1e6:.1f} us "
                      f"at {eng(c['clock_hz'], 'Hz')} ({'real time' if c['real_time'] else 'NOT real time'})\n")
            worst = "" if c["worst_case_clock_hz"] is None else f"; worst case with margin {eng(c['worst_case_clock_hz'], 'Hz', 3)}"
            out.write(f"lowest real-time clock: {eng(c['min_clock_hz'], 'Hz', 3)}{worst}\n")
        energy = "unknown (no per-operation energy or static power in the catalog)" if c["energy_per_window_j"] is None else (
            f"{eng(c['energy_per_window_j'], 'J')} per window of {c['window_steps']} steps (dynamic "
            + eng(c["dynamic_energy_j"], "J") + ", static " + eng(c["static_energy_j"], "J") + ")")
        out.write(f"energy: {energy}\n")
    if "power" in summary:
        p = summary["power"]
        if "note" in p:
            out.write(f"power: {p['note']}\n")
        else:
            budget = "no budget" if p["budget_uW"] is None else (
                f"budget {p['budget_uW']:g} uW: {'within' if p['within_budget'] else 'OVER'}")
            estimate = "" if p["estimate_inference_uW"] is None else f" (float-model estimate {p['estimate_inference_uW']:.2f} uW)"
            out.write(f"power with the kernel's counts: inference {p['inference_uW']:.2f} uW{estimate}, {budget}; "
                      f"node consumers {p['total_uW']:.2f} uW (the cell's self-discharge comes on top), "
                      f"{p['life_years']:.2f} years (required {p['required_years']:g})\n")
    if "temperature" in summary:
        from engine.cli.temperature import temperature_lines

        out.writelines(line + "\n" for line in temperature_lines(summary["temperature"]))
    out.write(f"{summary['verdict']} ({summary['signature']})\n")
