"""nmspec simulate: a recorded sensor trace through a spec's chain and kernel, or raw input
spike counts straight into an image's network."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

from engine.cli.common import (
    EXIT_OK,
    EXIT_USAGE,
    add_catalog_option,
    emit_diagnostics,
    load_and_validate,
)
from engine.cli.numbers import eng
from engine.cli.progress import progress_bar
from engine.diagnostics import Diagnostic, StageError
from engine.pipeline import (
    MAX_IMAGE_BYTES,
    ImageError,
    events_csv,
    events_npz,
    preview_image,
    read_image,
    read_limited,
    read_site_trace,
    repository_catalog,
    run_image,
    run_reference,
    run_site_trace,
)

if TYPE_CHECKING:
    from engine.cli.common import Subparsers


def register(subparsers: Subparsers) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(
        "simulate", help="run traces or spikes through the kernel",
        description="SPEC --trace FILE: run a recorded sensor trace (.npz with samples, or .csv with one column per axis) "
                    "through the spec's fixed-point chain and the kernel, cut into measurement windows that each "
                    "start from the zero state as the firmware runs them (--continuous: one run from one state), "
                    "and write the output events and each window's class. "
                    "IMAGE --spikes FILE.npz --record OUT.npz: feed input spike counts (steps x input channels) into the "
                    "image's network and record every spike, per-step state and per-step cycle counts per core. "
                    "SPEC --spikes FILE.npz --reference --record OUT.npz: run the float reading of the spec's model (as "
                    "docs/models.md reads the exporter's file, at runtime.frame) on the input spikes and record every "
                    "population's spikes, membrane and synaptic current, to compare with the framework's own run.")
    parser.add_argument("target", metavar="SPEC|IMAGE",
                        help="a site spec (with --trace, or --spikes --reference) or a .nmc image (with --spikes)")
    parser.add_argument("--trace", metavar="FILE", help="sensor trace (.npz or .csv) to run through the spec's chain")
    parser.add_argument("--events", metavar="OUT", help="write the output events here (.csv or .npz; default: CSV on stdout)")
    parser.add_argument("--spikes", metavar="FILE.npz", help="input spike counts (steps, input channels) for an image")
    parser.add_argument("--record", metavar="OUT.npz", help="write spikes, states and cycle counts of the image run here")
    parser.add_argument("--reference", action="store_true",
                        help="with SPEC --spikes: run the float reading of the spec's model instead of an image")
    parser.add_argument("--continuous", action="store_true",
                        help="with --trace: run the whole trace as one signal from one state, instead of measurement "
                             "windows each from the zero state as the firmware runs them")
    parser.add_argument("--output", "-o", choices=("text", "json"), default="text", help="how to print the summary")
    add_catalog_option(parser)
    parser.set_defaults(func=run)
    return parser


def run(args: argparse.Namespace) -> int:
    if args.reference and (not args.spikes or args.trace):
        sys.stderr.write("nmspec simulate: --reference goes with SPEC --spikes FILE.npz --record OUT.npz\n")
        return EXIT_USAGE
    if bool(args.trace) == bool(args.spikes):
        sys.stderr.write("nmspec simulate: give either SPEC --trace FILE or IMAGE --spikes FILE.npz --record OUT.npz\n")
        return EXIT_USAGE
    if args.spikes and not args.record:
        sys.stderr.write("nmspec simulate: --spikes needs --record OUT.npz (where to write the run)\n")
        return EXIT_USAGE
    if args.continuous and not args.trace:
        sys.stderr.write("nmspec simulate: --continuous goes with SPEC --trace FILE\n")
        return EXIT_USAGE
    if args.trace and args.record:
        sys.stderr.write("nmspec simulate: --record goes with IMAGE --spikes; with --trace use --events OUT\n")
        return EXIT_USAGE
    try:
        if args.reference:
            return _reference_mode(args)
        return _image_mode(args) if args.spikes else _trace_mode(args)
    except StageError as exc:
        return emit_diagnostics(list(exc.diagnostics), "json" if args.output == "json" else "text")


def _image_mode(args: argparse.Namespace) -> int:
    path = Path(args.target)
    try:
        data = read_limited(path, MAX_IMAGE_BYTES)
    except OverflowError:
        return emit_diagnostics([Diagnostic("error", "NM810", f"more than {MAX_IMAGE_BYTES} bytes; no .nmc image is that large",
                                            file=str(path))], args.output)
    except OSError as exc:
        return emit_diagnostics([Diagnostic("error", "NM810", f"cannot read the image: {exc.strerror or exc}", file=str(path))],
                                args.output)
    try:
        contents = read_image(data)
    except ImageError as exc:
        diagnostics = [d if d.file else Diagnostic(d.severity, d.code, d.message, file=str(path), hint=d.hint)
                       for d in exc.diagnostics] or [Diagnostic("error", "NM700", f"not a .nmc image: {exc}", file=str(path))]
        return emit_diagnostics(diagnostics, args.output)
    catalog, _ = repository_catalog(str(path), tuple(args.catalog or ()))
    run = run_image(contents, args.spikes, catalog)
    try:
        Path(args.record).write_bytes(run.record)
    except OSError as exc:
        return emit_diagnostics([Diagnostic("error", "NM815", f"cannot write the record: {exc.strerror or exc}", file=args.record)],
                                args.output)
    summary: dict[str, object] = {"image": str(path), "chip": contents.target.chip, "family": contents.network.family,
                                  "steps": run.steps, "spikes": dict(run.spikes), "record": args.record}
    counts = run.cycles
    if counts is not None:
        summary.update({"cores": int(counts.cycles.shape[1]), "peak_cycles_per_step": float(counts.step_cycles.max(initial=0)),
                        "min_clock_hz": counts.min_clock_hz, "clock_hz": counts.clock_hz, "real_time": counts.real_time})
    if run.routing is not None:
        summary["routing"] = dict(run.routing)
    _print_summary(summary, args.output)
    return EXIT_OK


def _reference_mode(args: argparse.Namespace) -> int:
    doc, _catalog, diagnostics = load_and_validate(args.target, args)
    if doc is None:
        return emit_diagnostics(diagnostics, args.output)
    run = run_reference(doc, args.spikes)
    try:
        Path(args.record).write_bytes(run.record)
    except OSError as exc:
        return emit_diagnostics([Diagnostic("error", "NM815", f"cannot write the record: {exc.strerror or exc}", file=args.record)],
                                args.output)
    model = run.model
    summary: dict[str, object] = {"spec": args.target, "reference": f"float reading, convention {model.convention}, step {model.dt * 1e3:g} ms",
               "steps": run.steps, "spikes": dict(run.spikes), "record": args.record}
    emit_diagnostics(diagnostics, "text")
    _print_summary(summary, args.output)
    return EXIT_OK


def _trace_mode(args: argparse.Namespace) -> int:
    doc, catalog, diagnostics = load_and_validate(args.target, args)
    if doc is None or catalog is None:
        return emit_diagnostics(diagnostics, args.output)
    trace = read_site_trace(doc, catalog, args.trace)
    diagnostics += [Diagnostic("warning", "NM816", w.removeprefix(f"{args.trace}: "), file=args.trace) for w in trace.warnings]
    try:
        contents = preview_image(args.target, catalog)
    except ImageError as exc:
        return emit_diagnostics(list(exc.diagnostics) or [Diagnostic("error", "NM700", str(exc))], args.output)
    samples, window_samples = trace.samples, trace.window_samples
    if not args.continuous and samples.shape[0] < window_samples:
        diagnostics.append(Diagnostic("error", "NM814", f"the trace holds {samples.shape[0]} samples, less than one "
                                      f"measurement window of {window_samples} (runtime.schedule.window at sensor.odr)",
                                      file=args.trace, hint="record at least one window, or run it with --continuous"))
        return emit_diagnostics(diagnostics, args.output)
    with progress_bar("simulating", enabled=args.output == "text") as advance:
        site_run = run_site_trace(trace, contents, catalog, continuous=args.continuous, progress=advance)
    run, labels = site_run.run, site_run.labels
    events = list(run.events)
    if args.events:
        body = events_npz(events, labels) if args.events.lower().endswith(".npz") else events_csv(events).encode()
        try:
            Path(args.events).write_bytes(body)
        except OSError as exc:
            return emit_diagnostics([Diagnostic("error", "NM815", f"cannot write the events: {exc.strerror or exc}",
                                                file=args.events)], args.output)
    elif args.output == "json":
        sys.stderr.write("nmspec simulate: with --output json name the events file with --events OUT\n")
        return EXIT_USAGE
    else:
        sys.stdout.write(events_csv(events))
    per_label: dict[str, int] = {}
    for _, _, _, label, n in events:
        per_label[label] = per_label.get(label, 0) + n
    window_s = window_samples / trace.chain.sample_rate
    summary: dict[str, object] = {"spec": args.target, "trace": args.trace, "samples": int(samples.shape[0]), "steps": run.steps,
               "output_spikes": dict(sorted(per_label.items())), "events": args.events or "-"}
    if run.windowed:
        summary["mode"] = (f"measurement windows of {window_s:g} s ({window_samples} samples), each from the zero "
                           "state as the firmware runs them (docs/firmware.md); --continuous runs the trace as one signal")
        summary["windows"] = {label: run.window_classes.count(label) for label in labels if label in run.window_classes}
        if run.unused_samples:
            summary["unused_samples"] = run.unused_samples
    else:
        summary["mode"] = ("one continuous run from one state (--continuous); the firmware instead starts every "
                           "measurement window from the zero state")
    if site_run.clock_hz is not None and run.peak_cycles is not None:
        dt = site_run.dt
        summary.update({"peak_cycles_per_step": run.peak_cycles, "min_clock_hz": run.peak_cycles / dt,
                        "clock_hz": site_run.clock_hz, "real_time": run.peak_cycles <= site_run.clock_hz * dt})
    emit_diagnostics(diagnostics, "text")
    _print_summary(summary, args.output, stream=sys.stderr if not args.events and args.output == "text" else sys.stdout)
    return EXIT_OK


def _print_summary(summary: Mapping[str, object], fmt: str, stream: TextIO | None = None) -> None:
    stream = stream or sys.stdout
    if fmt == "json":
        stream.write(json.dumps(summary, indent=2, sort_keys=True) + "\n")
        return
    for key in sorted(summary):
        value = summary[key]
        if key.endswith("_hz") and isinstance(value, (int, float)) and not isinstance(value, bool):
            value = eng(float(value), "Hz")
        elif isinstance(value, float):
            value = f"{value:.6g}"
        elif isinstance(value, dict):
            value = ", ".join(f"{k} {v}" for k, v in value.items()) or "-"
        stream.write(f"{key}: {value}\n")
