"""nmspec simulate: a recorded sensor trace through a spec's chain and kernel, or raw input
spike counts straight into an image's network."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from engine.cli.common import (
    EXIT_OK,
    EXIT_USAGE,
    add_catalog_option,
    emit_diagnostics,
    load_and_validate,
)
from engine.diagnostics import Diagnostic, StageError


def register(subparsers):
    parser = subparsers.add_parser(
        "simulate", help="run traces or spikes through the kernel",
        description="SPEC --trace FILE: run a recorded sensor trace (.npz with samples, or .csv with one column per axis) "
                    "through the spec's fixed-point chain and the kernel, and write the output events. "
                    "IMAGE --spikes FILE.npz --record OUT.npz: feed input spike counts (steps x input channels) into the "
                    "image's network and record every spike, per-step state and per-step cycle counts per core.")
    parser.add_argument("target", metavar="SPEC|IMAGE", help="a site spec (with --trace) or a .nmc image (with --spikes)")
    parser.add_argument("--trace", metavar="FILE", help="sensor trace (.npz or .csv) to run through the spec's chain")
    parser.add_argument("--events", metavar="OUT", help="write the output events here (.csv or .npz; default: CSV on stdout)")
    parser.add_argument("--spikes", metavar="FILE.npz", help="input spike counts (steps, input channels) for an image")
    parser.add_argument("--record", metavar="OUT.npz", help="write spikes, states and cycle counts of the image run here")
    parser.add_argument("--output", "-o", choices=("text", "json"), default="text", help="how to print the summary")
    add_catalog_option(parser)
    parser.set_defaults(func=run)
    return parser


def run(args) -> int:
    if bool(args.trace) == bool(args.spikes):
        sys.stderr.write("nmspec simulate: give either SPEC --trace FILE or IMAGE --spikes FILE.npz --record OUT.npz\n")
        return EXIT_USAGE
    if args.spikes and not args.record:
        sys.stderr.write("nmspec simulate: --spikes needs --record OUT.npz (where to write the run)\n")
        return EXIT_USAGE
    if args.trace and args.record:
        sys.stderr.write("nmspec simulate: --record goes with IMAGE --spikes; with --trace use --events OUT\n")
        return EXIT_USAGE
    try:
        return _image_mode(args) if args.spikes else _trace_mode(args)
    except StageError as exc:
        return emit_diagnostics(list(exc.diagnostics), "json" if args.output == "json" else "text")


def _image_mode(args) -> int:
    from engine.pipeline import read_image, repository_catalog, run_image

    path = Path(args.target)
    try:
        data = path.read_bytes()
    except OSError as exc:
        return emit_diagnostics([Diagnostic("error", "NM810", f"cannot read the image: {exc.strerror or exc}", file=str(path))],
                                args.output)
    try:
        contents = read_image(data)
    except StageError as exc:
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
    network = contents.network
    summary = {"image": str(path), "chip": contents.target.chip, "family": network.family, "steps": run.steps,
               "spikes": dict(run.spikes), "record": args.record}
    counts = run.cycles
    if counts is not None:
        summary.update({"cores": int(counts.cycles.shape[1]), "peak_cycles_per_step": float(counts.step_cycles.max(initial=0)),
                        "min_clock_hz": counts.min_clock_hz, "clock_hz": counts.clock_hz, "real_time": counts.real_time})
    if run.routing is not None:
        summary["routing"] = run.routing
    _print_summary(summary, args.output)
    return EXIT_OK


def _trace_mode(args) -> int:
    from engine.pipeline import run_trace

    doc, catalog, diagnostics = load_and_validate(args.target, args)
    if doc is None:
        return emit_diagnostics(diagnostics, args.output)
    run = run_trace(args.target, doc, catalog, args.trace)
    if args.events:
        body = run.events_npz() if args.events.lower().endswith(".npz") else run.events_csv().encode()
        try:
            Path(args.events).write_bytes(body)
        except OSError as exc:
            return emit_diagnostics([Diagnostic("error", "NM815", f"cannot write the events: {exc.strerror or exc}",
                                                file=args.events)], args.output)
    elif args.output == "json":
        sys.stderr.write("nmspec simulate: with --output json name the events file with --events OUT\n")
        return EXIT_USAGE
    else:
        sys.stdout.write(run.events_csv())
    per_label: dict[str, int] = {}
    for _, _, _, label, n in run.events:
        per_label[label] = per_label.get(label, 0) + n
    summary = {"spec": args.target, "trace": args.trace, "samples": run.samples, "steps": run.steps,
               "output_spikes": dict(sorted(per_label.items())), "events": args.events or "-"}
    if run.peak_cycles is not None and run.clock_hz is not None:
        peak = run.peak_cycles
        summary.update({"peak_cycles_per_step": peak, "min_clock_hz": peak / run.dt, "clock_hz": run.clock_hz,
                        "real_time": peak <= run.clock_hz * run.dt})
    emit_diagnostics(diagnostics, "text")
    _print_summary(summary, args.output, stream=sys.stderr if not args.events and args.output == "text" else sys.stdout)
    return EXIT_OK


def _print_summary(summary: dict, fmt: str, stream=None) -> None:
    stream = stream or sys.stdout
    if fmt == "json":
        stream.write(json.dumps(summary, indent=2, sort_keys=True) + "\n")
        return
    for key in sorted(summary):
        value = summary[key]
        if isinstance(value, float):
            value = f"{value:.6g}"
        elif isinstance(value, dict):
            value = ", ".join(f"{k} {v}" for k, v in value.items()) or "-"
        stream.write(f"{key}: {value}\n")
