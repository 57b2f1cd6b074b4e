"""nmspec inspect: what a .nmc model image holds, and whether it can be trusted."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from engine.cli.common import EXIT_INVALID, EXIT_OK, EXIT_USAGE, add_output_option, emit_diagnostics
from engine.diagnostics import Diagnostic, StageError
from engine.pipeline import (
    MAX_IMAGE_BYTES,
    inspect_image,
    read_limited,
    section_per_core,
    verify_key,
)

if TYPE_CHECKING:
    from engine.cli.common import Subparsers


def register(subparsers: Subparsers) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(
        "inspect", help="show the contents of a .nmc model image",
        description="Show a .nmc image's header, sections, sizes, hashes and signature status. "
                    "With --verify-key the image must carry a valid Ed25519 signature from that key.")
    parser.add_argument("image", metavar="IMAGE", help="the .nmc file")
    parser.add_argument("--verify-key", metavar="PUB", action="append",
                        help="a trusted Ed25519 public key (PEM, or 32 raw bytes as binary, hex or base64); requires a "
                             "valid signature by the trusted key the image's key id names; repeat for a set of keys")
    parser.add_argument("--params", action="store_true",
                        help="also list every integer parameter as stored, enough to replay the image elsewhere")
    add_output_option(parser, choices=("text", "json"))
    parser.set_defaults(func=run)
    return parser


def run(args: argparse.Namespace) -> int:
    try:
        data = read_limited(args.image, MAX_IMAGE_BYTES)
    except OverflowError:
        sys.stderr.write(f"nmspec inspect: {args.image} holds more than {MAX_IMAGE_BYTES} bytes; "
                         "no .nmc image is that large\n")
        return EXIT_INVALID
    except OSError as exc:
        sys.stderr.write(f"nmspec inspect: cannot read {args.image}: {exc.strerror or exc}\n")
        return EXIT_USAGE
    try:
        keys = [verify_key(path) for path in args.verify_key] if args.verify_key else None
        # inspect shows any well-formed image; what no target could run is a warning here,
        # where every command that runs an image refuses it
        report, cannot_run = inspect_image(data, key=keys, params=args.params)
    except StageError as exc:
        diagnostics = [d if d.file else _with_file(d, args.image) for d in exc.diagnostics]
        return emit_diagnostics(diagnostics, args.output)
    if cannot_run and args.output != "json":
        emit_diagnostics([Diagnostic("warning", "NM711", f"image cannot run: {p}", file=args.image) for p in cannot_run],
                         args.output)
    if args.output == "json":
        sys.stdout.write(json.dumps({"file": args.image, **report}, indent=2, sort_keys=True) + "\n")
    else:
        sys.stdout.write(render_text(args.image, report))
    return EXIT_OK


def _with_file(diagnostic: Diagnostic, file: str) -> Diagnostic:
    import attrs

    return attrs.evolve(diagnostic, file=file)


def render_text(path: str, r: Mapping[str, Any]) -> str:
    lines = [
        (f"{path}: .nmc {r['format_version']}, {r['size']} bytes, family {r['family']}, "
        f"flags {' '.join(r['flags']) or '-'}"),
        f"  crc32 {r['crc32']}  sha256 {r['sha256']}",
        f"  signature: {r['signature']}" + (f" (key {r['key_id']})" if r["key_id"] else ""),
        f"  security version: {r['security_version']}",
        "",
        f"{'section':<10} {'core':>4} {'offset':>8} {'size':>8} {'blocks':>6}  crc32",
    ]
    for s in r["sections"]:
        name = s["type"] if s["type"] != "unknown" else f"type {s['type_id']}"
        core = str(s["instance"]) if section_per_core(s["type_id"]) else "-"
        lines.append(f"{name:<10} {core:>4} {s['offset']:>8} {s['size']:>8} {s['blocks']:>6}  {s['crc32']}")
    m, n = r["metadata"], r["network"]
    lines += [
        "",
        f"site {m['site']}  model {m['model_name']}  spec {m['spec_hash']}  tool {m['tool_version']}",
        f"target {r['target']['chip']} ({r['target']['family']})  labels {', '.join(m['labels']) or '-'}",
        f"network dt {n['dt']:g} s, {n['inputs']} inputs, output {n['output']}, {n['cores']} core(s)"
        + (f" on a {n['mesh'][0]}x{n['mesh'][1]} mesh, {n['routes']} route(s)" if n["mesh"] else ""),
    ]
    for p in n["populations"]:
        lines.append(f"  population {p['name']}: {p['size']} neurons; {', '.join(p['params'])}")
    for p in n["projections"]:
        lines.append(f"  projection {p['src']} -> {p['dst']}: {p['synapses']} synapses, synapse {p['synapse']}, shift {p['shift']}")
    pol = r["policy"]
    lines += [
        f"io inputs {', '.join(r['io']['inputs']) or '-'}; outputs {', '.join(r['io']['outputs']) or '-'}",
        (f"policy learning {'locked' if pol['learning_locked'] else 'UNLOCKED'}, sanity window {pol['sanity_window_s']} s, "
        f"dead-neuron window {pol['dead_neuron_window_s']} s, spike rate {pol['spike_rate_mhz']} "
        f"± {pol['spike_rate_tolerance_mhz']} mHz"),
        "  class shares (ppm): " + (", ".join(f"{e} ± {t}" for e, t in zip(pol["class_expected_ppm"], pol["class_tolerance_ppm"])) or "-"),
        f"state layout v{r['state_layout']['version']} sha256 {r['state_layout']['sha256']}",
    ]
    for name, info in r["preprocessing"].items():
        lines.append(f"preprocessing {name}: {info['dtype']} {tuple(info['shape'])}")
    if "params" in r:
        lines += ["", "parameters as stored:"]
        params = r["params"]
        for pop, values in params["populations"].items():
            for name, v in values.items():
                lines.append(f"  {pop}.{name} = {json.dumps(v)}")
        for i, p in enumerate(params["projections"]):
            lines.append(f"  projection {i} {p['src']} -> {p['dst']} ({p['n_src']}x{p['n_dst']}, synapse {p['synapse']}, shift {p['shift']})")
            for key in ("indptr", "indices", "values"):
                lines.append(f"    {key} = {json.dumps(p[key])}")
        for name, v in params["preprocessing"].items():
            lines.append(f"  preprocessing {name} = {json.dumps(v)}")
        if "placement" in params:
            pl = params["placement"]
            lines.append(f"  core_xy = {json.dumps(pl['core_xy'])}")
            for pop, v in pl["neuron_core"].items():
                lines.append(f"  {pop}.core = {json.dumps(v)}")
            for route in pl["routes"]:
                lines.append(f"  route router {route['router']} key {route['key']:#x} mask {route['mask']:#x} "
                             f"links {route['out_links']:#07b}")
    return "\n".join(lines) + "\n"
