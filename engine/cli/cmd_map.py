"""nmspec map SPEC: the spec's network on its chip's cores."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from engine.cli.common import add_catalog_option, emit_diagnostics, load_and_validate
from engine.diagnostics import StageError

if TYPE_CHECKING:
    from engine.cli.common import Subparsers


def register(subparsers: Subparsers) -> argparse.ArgumentParser:
    parser = subparsers.add_parser("map", help="map a spec's network onto neuro-cores",
                                   description="Partition the network into cores, place them on the chip's mesh, build the "
                                               "routing tables, and print the core map.")
    parser.add_argument("spec", metavar="SPEC")
    parser.add_argument("--format", choices=("text", "json"), default="text")
    parser.add_argument("--strategy", choices=("auto", "layer", "spatial", "graph", "similar", "axons"),
                        default="auto",
                        help="partition order: layer order (sequential fill), spatial tiles, graph order (reverse "
                             "Cuthill-McKee), similarity order (the same over synapses between neurons with "
                             "similar neighbourhoods), the axon-aware fill (each core takes the neurons whose "
                             "sources it already has), or the best of them")
    add_catalog_option(parser)
    parser.set_defaults(func=run)
    return parser


def run(args: argparse.Namespace) -> int:
    from engine.pipeline import map_site, resolve_partial

    doc, catalog, diagnostics = load_and_validate(args.spec, args)
    if doc is None or catalog is None:  # a document comes with its catalog
        return emit_diagnostics(diagnostics, "text")
    try:
        deployment = resolve_partial(doc, catalog)
        core_map, aliases = map_site(deployment, catalog, strategy=args.strategy)
    except StageError as exc:
        return emit_diagnostics(list(exc.diagnostics), "text")
    summary = core_map.summary()
    summary["chip"] = deployment.spec.target.chip
    summary["alias_neurons"] = aliases
    if args.format == "json":
        summary["per_core"] = core_map.per_core()
        sys.stdout.write(json.dumps(summary, indent=2, sort_keys=True) + "\n")
        return 0
    sys.stdout.write(render_text(summary, core_map.per_core()))
    return 0


def render_text(summary: Mapping[str, Any], per_core: Sequence[Mapping[str, Any]]) -> str:
    hot = summary["hottest_link"]
    lines = [
        (f"{summary['chip']}: {summary['cores']} core(s) used, lower bound {summary['lower_bound']}, on a "
         f"{summary['mesh'][0]} x {summary['mesh'][1]} mesh ({summary['strategy']} partition)"),
        (f"traffic {summary['traffic_spikes_per_s']:.1f} spikes/s to remote cores, {summary['spikes_hops_per_s']:.1f} "
         f"spike-hops/s, hottest link {hot['spikes_per_s']:.1f} spikes/s"
         + (f" ({hot['x']},{hot['y']} {hot['link']})" if hot["link"] != "none" else "")
         + f", {summary['route_groups']} route group(s), {summary['routes']} routing entries"),
        f"max duty {summary['max_duty']:.2%}",
    ]
    if summary["alias_neurons"]:
        lines.append(f"{summary['alias_neurons']} alias neuron(s) carry fan-out past the chip's limit, each on its "
                     "source's core (counted below)")
    lines += [
        f"  {'core':>4} {'x,y':>6} {'neurons':>8} {'synapses':>9} {'in axons':>9} {'out axons':>9} {'duty':>7}",
    ]
    for row in per_core:
        lines.append(f"  {row['core']:>4} {str(row['x']) + ',' + str(row['y']):>6} {row['neurons']:>8} "
                     f"{row['synapses']:>9} {row['input_axons']:>9} {row['output_axons']:>9} {row['duty']:>7.2%}")
    return "\n".join(lines) + "\n"
