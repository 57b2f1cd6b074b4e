"""Mapping: neuron populations onto cores, cores onto the chip's mesh, routing tables."""

from __future__ import annotations

from engine.mapping.mapper import CoreMap, deliveries, map_graph, map_groups
from engine.mapping.target import CoreSpec, benchmark_core, core_spec_from_catalog


def map_deployment(deployment, catalog) -> CoreMap:
    """The resolved deployment's network on its chip."""
    chip = catalog.part("chips", deployment.data["target"]["chip"])
    from engine.resolve import _overrides

    core = core_spec_from_catalog(chip, _overrides(deployment.data)["chips"], dt=deployment.network.dt)
    return map_graph(deployment.graph, core)


__all__ = ["CoreMap", "CoreSpec", "benchmark_core", "core_spec_from_catalog", "deliveries", "map_deployment",
           "map_graph", "map_groups"]
