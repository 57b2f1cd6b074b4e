"""Mapping: neuron populations onto cores, cores onto the chip's mesh, routing tables."""

from __future__ import annotations

from typing import TYPE_CHECKING

from engine.mapping.mapper import (
    STRATEGIES,
    CoreMap,
    deliveries,
    groups_from_graph,
    map_graph,
    map_groups,
    map_partition,
)
from engine.mapping.netview import Group, net_view
from engine.mapping.target import CoreSpec, benchmark_core, core_spec_from_catalog

if TYPE_CHECKING:
    from engine.catalog import Catalog
    from engine.resolve import Deployment


def map_deployment(deployment: Deployment, catalog: Catalog, *, strategy: str = "auto") -> CoreMap:
    """The resolved deployment's network on its chip."""
    chip = catalog.part("chips", deployment.spec.target.chip)
    core = core_spec_from_catalog(chip, deployment.spec.part_overrides()["chips"], dt=deployment.network.dt)
    return map_graph(deployment.graph, core, strategy=strategy)


__all__ = ["STRATEGIES", "CoreMap", "CoreSpec", "Group", "benchmark_core", "core_spec_from_catalog", "deliveries",
           "groups_from_graph", "map_deployment", "map_graph", "map_groups", "map_partition", "net_view"]
