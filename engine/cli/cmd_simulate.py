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

TRACE_CHUNK_STEPS = 20_000  # steps per kernel call on a long trace: memory stays bounded, results do not change


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


def _cycle_model(chip: str, catalog):
    from engine.verify.cycles import cycle_model

    try:
        part = catalog.part("chips", chip)
    except KeyError:
        return None
    return cycle_model(part)


def _image_mode(args) -> int:
    from engine.image import ImageError, read_image
    from engine.spec import repository_catalog
    from engine.verify import kernel
    from engine.verify.cycles import count_cycles
    from engine.verify.simulate import load_spike_counts, npz_bytes, record_arrays

    path = Path(args.target)
    from engine.image.limits import MAX_IMAGE_BYTES, read_limited

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
                       for d in getattr(exc, "diagnostics", ())] or [Diagnostic("error", "NM700", f"not a .nmc image: {exc}", file=str(path))]
        return emit_diagnostics(diagnostics, args.output)
    network = contents.network
    counts_in = load_spike_counts(args.spikes, network.n_inputs)
    result = kernel.run(network, counts_in, record=True)
    catalog, _ = repository_catalog(str(path), tuple(args.catalog or ()))
    model = _cycle_model(contents.target.chip, catalog) if catalog is not None else None
    counts = count_cycles(network, result, model) if model is not None else None
    try:
        Path(args.record).write_bytes(npz_bytes(record_arrays(result, counts)))
    except OSError as exc:
        return emit_diagnostics([Diagnostic("error", "NM815", f"cannot write the record: {exc.strerror or exc}", file=args.record)],
                                args.output)
    summary = {"image": str(path), "chip": contents.target.chip, "family": network.family, "steps": int(counts_in.shape[0]),
               "spikes": {pop: int(s.sum()) for pop, s in sorted(result.spikes.items())}, "record": args.record}
    if counts is not None:
        summary.update({"cores": int(counts.cycles.shape[1]), "peak_cycles_per_step": float(counts.step_cycles.max(initial=0)),
                        "min_clock_hz": counts.min_clock_hz, "clock_hz": counts.clock_hz, "real_time": counts.real_time})
    if result.routing is not None:
        summary["routing"] = result.routing.summary()
    _print_summary(summary, args.output)
    return EXIT_OK


def _trace_mode(args) -> int:
    from engine.dsp.from_spec import chain_for_spec
    from engine.image import ImageError, read_image
    from engine.pipeline import BuildOptions, build_site
    from engine.spec import site_model
    from engine.verify import kernel
    from engine.verify.cycles import count_cycles
    from engine.verify.simulate import events_csv, events_npz, load_trace, output_events

    doc, catalog, diagnostics = load_and_validate(args.target, args)
    if doc is None:
        return emit_diagnostics(diagnostics, args.output)
    spec = site_model(doc)
    chain = chain_for_spec(spec, catalog.get("sensors", spec.sensor.part))
    samples = load_trace(args.trace, chain.axes)
    try:
        image = build_site(args.target, catalog, BuildOptions(verify=False, preview=True)).files["model.nmc"]
        contents = read_image(image)
    except ImageError as exc:
        return emit_diagnostics(list(getattr(exc, "diagnostics", ())) or [Diagnostic("error", "NM700", str(exc))], args.output)
    spikes = chain.run(samples)
    network = contents.network
    labels = contents.metadata.labels or contents.io.output_labels
    model = _cycle_model(contents.target.chip, catalog)
    events, peak, state, routing = [], 0.0, None, None
    for start in range(0, spikes.shape[0], TRACE_CHUNK_STEPS):  # a long trace in pieces, the state carried
        result = kernel.run(network, spikes[start : start + TRACE_CHUNK_STEPS], initial=state, routing=routing)
        state, routing = result.final, result.routing
        events += [(t + start, round((t + start) * network.dt, 9), k, label, n)
                   for t, _, k, label, n in output_events(result, network.output, labels, network.dt)]
        if model is not None:
            peak = max(peak, float(count_cycles(network, result, model).step_cycles.max(initial=0.0)))
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
    summary = {"spec": args.target, "trace": args.trace, "samples": int(samples.shape[0]), "steps": int(spikes.shape[0]),
               "output_spikes": dict(sorted(per_label.items())), "events": args.events or "-"}
    if model is not None:
        summary.update({"peak_cycles_per_step": peak, "min_clock_hz": peak / network.dt, "clock_hz": model.clock_hz,
                        "real_time": peak <= model.clock_hz * network.dt})
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
