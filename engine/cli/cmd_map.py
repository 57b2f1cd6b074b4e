"""nmspec map SPEC: the spec's network on its chip's cores."""

from __future__ import annotations

import json
import sys

from engine.cli.common import add_catalog_option, emit_diagnostics, load_and_validate
from engine.diagnostics import StageError


def register(subparsers):
    parser = subparsers.add_parser("map", help="map a spec's network onto neuro-cores",
                                   description="Partition the network into cores, place them on the chip's mesh, build the "
                                               "routing tables, and print the core map.")
    parser.add_argument("spec", metavar="SPEC")
    parser.add_argument("--format", choices=("text", "json"), default="text")
    add_catalog_option(parser)
    parser.set_defaults(func=run)
    return parser


def run(args) -> int:
    from engine.mapping import map_deployment
    from engine.resolve import resolve_partial

    doc, catalog, diagnostics = load_and_validate(args.spec, args)
    if doc is None:
        return emit_diagnostics(diagnostics, "text")
    try:
        deployment = resolve_partial(doc, catalog)
        core_map = map_deployment(deployment, catalog)
    except StageError as exc:
        return emit_diagnostics(list(exc.diagnostics), "text")
    summary = core_map.summary()
    if args.format == "json":
        summary["per_core"] = [{"core": i, "x": int(core_map.placement.core_xy[i][0]), "y": int(core_map.placement.core_xy[i][1]),
                                "neurons": int(core_map.core_neurons[i]), "synapses": int(core_map.core_synapses[i]),
                                "input_sources": int(core_map.core_inputs[i]), "duty": round(float(core_map.core_duty[i]), 5)}
                               for i in range(core_map.cores)]
        sys.stdout.write(json.dumps(summary, indent=2, sort_keys=True) + "\n")
        return 0
    out = sys.stdout
    out.write(f"{deployment.data['target']['chip']}: {summary['cores']} core(s) used (lower bound {summary['lower_bound']}) "
              f"on a {summary['mesh'][0]} x {summary['mesh'][1]} mesh\n")
    out.write(f"traffic {summary['traffic_spikes_per_s']:.1f} spikes/s delivered, {summary['spikes_hops_per_s']:.1f} "
              f"spike-hops/s, hottest link {summary['hottest_link']['spikes_per_s']:.1f} spikes/s, "
              f"{summary['routes']} routing entries\n")
    out.write(f"  {'core':>4} {'x,y':>6} {'neurons':>8} {'synapses':>9} {'sources':>8} {'duty':>7}\n")
    for i in range(core_map.cores):
        x, y = core_map.placement.core_xy[i]
        out.write(f"  {i:>4} {f'{x},{y}':>6} {core_map.core_neurons[i]:>8} {core_map.core_synapses[i]:>9} "
                  f"{core_map.core_inputs[i]:>8} {core_map.core_duty[i]:>7.2%}\n")
    return 0
