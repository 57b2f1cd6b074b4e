"""Mapping: neuron populations onto cores, cores onto the chip's mesh, routing tables."""

from __future__ import annotations

from typing import TYPE_CHECKING

import attrs
import numpy as np

from engine.mapping.aliases import add_aliases, aliased_graph
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
    from engine.netlist import QuantNetwork
    from engine.resolve import Deployment


def map_deployment(deployment: Deployment, catalog: Catalog, *, strategy: str = "auto") -> CoreMap:
    """The resolved deployment's network on its chip."""
    chip = catalog.part("chips", deployment.spec.target.chip)
    core = core_spec_from_catalog(chip, deployment.spec.part_overrides()["chips"], dt=deployment.network.dt)
    return map_graph(deployment.graph, core, strategy=strategy)


def map_as_built(deployment: Deployment, catalog: Catalog, *, strategy: str = "auto") -> tuple[CoreMap, int]:
    """The map the build uses (`nmspec map`) and its alias neurons: map_deployment's
    partition and, on Xylo, the alias neurons alias_deployment adds after it, each on its
    source's core, counted in every figure (neurons, axons, duty, routes)."""
    chip = catalog.part("chips", deployment.spec.target.chip)
    core = core_spec_from_catalog(chip, deployment.spec.part_overrides()["chips"], dt=deployment.network.dt)
    core_map = map_graph(deployment.graph, core, strategy=strategy)
    network = alias_deployment(attrs.evolve(deployment.network, placement=core_map.placement), deployment, catalog)
    aliases = network.n_neurons - deployment.network.n_neurons
    if aliases == 0 or network.placement is None:
        return core_map, 0
    groups = groups_from_graph(aliased_graph(deployment.graph, network))
    view = net_view(groups, core)
    cores = np.concatenate([np.asarray(network.placement.neuron_core[g.name], dtype=np.int64) for g in view.groups])
    return map_partition(view, core, cores, strategy=core_map.strategy), aliases


def alias_deployment(network: QuantNetwork, deployment: Deployment, catalog: Catalog) -> QuantNetwork:
    """Xylo: the network with alias neurons wherever a hidden neuron's fan-out is past the
    chip's fan_out_max (the spec's override first), as fit counted them."""
    if network.family != "xylo":
        return network
    chip = catalog.part("chips", deployment.spec.target.chip)
    overrides = deployment.spec.part_overrides()["chips"]
    figure = chip.figure("fan_out_max")
    limit = overrides.get("fan_out_max", figure.value if figure.known and not isinstance(figure.value, list) else None)
    return network if limit is None else add_aliases(network, int(limit))


__all__ = ["STRATEGIES", "CoreMap", "CoreSpec", "Group", "add_aliases", "alias_deployment", "benchmark_core",
           "core_spec_from_catalog", "deliveries", "groups_from_graph", "map_as_built", "map_deployment", "map_graph",
           "map_groups", "map_partition", "net_view"]
