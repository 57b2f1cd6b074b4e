"""A built bundle's report page, with its accuracy on held-out traces.

    python tools/deployment_report.py BUNDLE --spec SPEC [--held-out TRACE.npz ...] [--out DIR]

Reads the bundle's report.json and model.nmc (the image is what the kernel runs), resolves
the spec again for its signal chain, float model and core map, measures the image and the
float model on the held-out traces, and writes report.html and plots/*.png to DIR (default:
beside the bundle, BUNDLE-report/). Prints the held-out figures. The traces must be ones
the build never saw: not the spec's verify.stimuli, whose nominal windows calibrate the
quantization. A held-out trace may carry a per-window `severity`; detection is then also
given below and within the training severities.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from engine.catalog import builtin_catalog
from engine.diagnostics import StageError
from engine.evaluate import Evaluation, Rate, evaluate
from engine.fs import write_atomically
from engine.image import read_image
from engine.mapping import map_deployment
from engine.pipeline import resolve_site, spec_hash
from engine.report import HeldOut, ReportInputs, render_report
from engine.report.collect import core_rows, raster_panels, resources
from engine.report.host_run import run_on_host
from engine.resolve.stimuli import TraceError, load_traces
from engine.spec import validate_spec

TRAINING_SEVERITY = 0.6  # the lowest fault severity tools/make_examples.py trains on


def severity_groups(paths: list[Path], evaluation: Evaluation) -> tuple[tuple[str, Rate, Rate], ...]:
    severities = []
    for path in paths:
        with np.load(path) as data:
            if "severity" not in data:
                return ()
            severities.append(np.asarray(data["severity"], dtype=np.float64))
    severity = np.concatenate(severities)[: len(evaluation.labels)]
    out = []
    for name, mask in ((f"incipient faults (severity < {TRAINING_SEVERITY})", severity < TRAINING_SEVERITY),
                       (f"faults at training severities (>= {TRAINING_SEVERITY})", severity >= TRAINING_SEVERITY)):
        kernel_rate = evaluation.kernel.detection_where(evaluation.labels, mask)
        if kernel_rate.total:
            out.append((name, kernel_rate, evaluation.float.detection_where(evaluation.labels, mask)))
    return tuple(out)


def describe(paths: list[Path], evaluation: Evaluation) -> str:
    counts = np.bincount(np.asarray(evaluation.labels), minlength=len(evaluation.classes))
    per_class = ", ".join(f"{n} {name}" for name, n in zip(evaluation.classes, counts, strict=True))
    names = ", ".join(p.name for p in paths)
    return (f"{len(evaluation.labels)} windows ({per_class}) from {names}: recordings of installations the model "
            "never saw (other seeds, wider ranges of running speed, structural and mounting resonance, fault "
            "severities down to incipient), through the spec's fixed-point chain.")


def held_out_lines(evaluation: Evaluation, groups) -> list[str]:
    k, f = evaluation.kernel, evaluation.float

    def count(rate: Rate) -> str:
        return f"{rate.value:.1%} ({rate.hits}/{rate.total})"

    def span(rate: Rate) -> str:
        low, high = rate.interval()
        return f"{low:.1%}-{high:.1%}"

    rows = [("", "kernel (image)", "float model"), ("accuracy", f"{k.accuracy:.1%}", f"{f.accuracy:.1%}"),
            ("detection rate", count(k.detection), count(f.detection)),
            ("  95% interval", span(k.detection), span(f.detection)),
            ("false-alarm rate", count(k.false_alarm), count(f.false_alarm)),
            ("  95% interval", span(k.false_alarm), span(f.false_alarm))]
    rows += [(f"{name} recognised", f"{k.recall(c).hits}/{k.recall(c).total}", f"{f.recall(c).hits}/{f.recall(c).total}")
             for c, name in enumerate(evaluation.classes)]
    rows += [(f"detected, {name}", count(kr), count(fr)) for name, kr, fr in groups]
    width = max(len(label) for label, _, _ in rows)
    lines = [f"held-out accuracy: {len(evaluation.labels)} windows of installations the model never saw"]
    lines += [f"  {label:<{width}}  {a:>16}  {b:>16}" for label, a, b in rows]
    lines.append(f"  kernel and float model pick the same class in {evaluation.agreement:.1%} of windows")
    return lines


def host_lines(host, evaluation: Evaluation) -> list[str]:
    if host.problem:
        return [f"firmware on the host: not run ({host.problem})"]
    verdict = "bit exact" if host.bit_exact else "NOT bit exact"
    lines = [(f"firmware on the host (gcc, ASan/UBSan): C chain = Python chain on {host.chain_exact}/{host.windows} "
             f"windows, C fallback = kernel on {host.spikes_exact}/{host.windows} ({host.steps} steps): {verdict}")]
    if list(host.classes) != list(evaluation.kernel.predicted):
        lines.append("  the C fallback's classes differ from the kernel's")
    return lines


def firmware_lines(firmware: dict) -> list[str]:
    m4 = firmware.get("cortex_m4")
    if not m4:
        return []
    return [(f"firmware for Cortex-M4 ({m4.get('toolchain', '?')}): flash {m4['flash_bytes']} B, RAM {m4['ram_bytes']} B; "
            f"chain {m4['chain_instructions_per_s'] / 1e6:.2f} M instructions/s, network "
            f"{m4['network_instructions_per_step']} instructions per step (under QEMU)")]


def with_cycles(report: dict, doc, image: bytes, resolved, catalog) -> dict:
    """report.json with the cycles, latency, energy and kernel-counted power of `nmspec verify`
    when the build recorded none: the same image on the same stimuli, so the same figures."""
    verification = report.get("verification")
    if verification is None or "cycles" in verification or resolved.stimuli is None:
        return report
    from engine.verify.bundle import verify_bundle

    summary = verify_bundle(doc, image, resolved, catalog=catalog).summary()
    extra = {key: summary[key] for key in ("cycles", "power") if key in summary}
    return {**report, "verification": {**verification, **extra}} if extra else report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("bundle", type=Path)
    parser.add_argument("--spec", type=Path, required=True)
    parser.add_argument("--held-out", type=Path, nargs="*", default=[], metavar="TRACE")
    parser.add_argument("--out", type=Path)
    parser.add_argument("--host-firmware", action="store_true",
                        help="also compile the bundle's firmware for the host and run the held-out windows through "
                             "its C chain and CPU fallback, against the Python chain and the kernel")
    args = parser.parse_args(argv)
    report = json.loads((args.bundle / "report.json").read_text())
    manifest = json.loads((args.bundle / "manifest.json").read_text())
    image = (args.bundle / "model.nmc").read_bytes()
    catalog = builtin_catalog()
    try:
        doc, _ = validate_spec(args.spec, catalog)
        resolved = resolve_site(doc, catalog)
        core_map = map_deployment(resolved, catalog)
    except StageError as exc:
        sys.stderr.write("".join(f"{d.message}\n" for d in exc.diagnostics))
        return 1
    if spec_hash(doc) != report["spec_hash"]:
        sys.stderr.write(f"{args.bundle} was built from another version of {args.spec} or of the files it names; "
                         "rebuild the bundle first\n")
        return 1
    classes = tuple(resolved.spec.model.labels)
    report = with_cycles(report, doc, image, resolved, catalog)
    held_out = None
    lines: list[str] = []
    raster_source = resolved.stimuli
    if args.held_out:
        try:
            stimuli = load_traces(args.held_out, [p.name for p in args.held_out])
        except TraceError as exc:
            sys.stderr.write(f"{exc}\n")
            return 2
        evaluation = evaluate(image, resolved.chain, resolved.float_model, stimuli, classes)
        groups = severity_groups(args.held_out, evaluation)
        held_out = HeldOut(evaluation, describe(args.held_out, evaluation), groups)
        lines = held_out_lines(evaluation, groups)
        raster_source = stimuli
    host = None
    if args.host_firmware and held_out is not None:
        firmware = {p.relative_to(args.bundle / "firmware").as_posix(): p.read_bytes()
                    for p in sorted((args.bundle / "firmware").glob("*")) if p.is_file()}
        host = run_on_host(firmware, stimuli.samples, resolved.chain, read_image(image).network)
        lines += host_lines(host, held_out.evaluation)
    lines += firmware_lines(report.get("firmware") or {})
    panels = ()
    if raster_source is not None:
        panels = raster_panels(image, resolved.chain, raster_source.samples, raster_source.labels, classes)
    log_path = doc.resolve_path("/model/source", resolved.spec.model.source).with_suffix(".train.log")
    training = tuple(log_path.read_text().splitlines()) if log_path.exists() else ()
    files = tuple(sorted((name, int(entry["bytes"])) for name, entry in manifest["files"].items()))
    inputs = ReportInputs(report, files, resources(report), core_rows(core_map), panels, resolved.chain.dt,
                          held_out, training, host)
    out = args.out or args.bundle.with_name(args.bundle.name + "-report")
    write_atomically(render_report(inputs), out)
    sys.stdout.write("\n".join(lines + [f"report: {out / 'report.html'}"]) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
