"""The report's inputs from what a build leaves: the image's bytes (run by the kernel for the
raster), the mapping's core map, the fit limits in report.json."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from engine.image import read_image
from engine.report import RasterPanel, RasterRow
from engine.verify import kernel

if TYPE_CHECKING:
    from engine.dsp.chain import Chain
    from engine.mapping import CoreMap
    from engine.netlist import QuantNetwork
    from engine.verify.kernel import KernelRun


def resources(report: Mapping[str, Any]) -> tuple[tuple[str, int, int], ...]:
    """The fit limits whose allowed figure is known, as (what, used, allowed)."""
    limits = ((report.get("resolve") or {}).get("fit") or {}).get("limits") or []
    return tuple((limit["name"], int(limit["used"]), int(limit["allowed"])) for limit in limits
                 if limit.get("allowed") not in (None, 0))


def core_rows(core_map: CoreMap) -> tuple[dict[str, Any], ...]:
    rows = []
    for i in range(core_map.cores):
        x, y = core_map.placement.core_xy[i]
        rows.append({"core": i, "x": int(x), "y": int(y), "neurons": int(core_map.core_neurons[i]),
                     "synapses": int(core_map.core_synapses[i]), "input_sources": int(core_map.core_inputs[i]),
                     "duty": float(core_map.core_duty[i])})
    return tuple(rows)


def _run(network: QuantNetwork, chain: Chain, window: np.ndarray) -> tuple[np.ndarray, KernelRun, int]:
    spikes = np.asarray(chain.run(window), dtype=np.int64)
    run = kernel.run(network, spikes)
    return spikes, run, int(np.argmax(run.output_scores(network)))


def raster_panels(image: bytes, chain: Chain, samples: np.ndarray, labels: Sequence[int], classes: Sequence[str],
                  fault: int = 1) -> tuple[RasterPanel, ...]:
    """A normal window and a window of class `fault`, run by the kernel from the image: input
    spikes, then every population, the readout last with class names. Of each class, the
    first window the kernel classifies as that class (what an event looks like), else the
    first window; the panel's title says which window and what it was classified as."""
    network = read_image(image).network
    panels = []
    for label in (0, fault):
        indices = [int(i) for i in np.nonzero(np.asarray(labels) == label)[0]]
        if not indices:
            continue
        chosen: tuple[int, np.ndarray, KernelRun, int] | None = None
        for index in indices:
            spikes, run, predicted = _run(network, chain, samples[index])
            if chosen is None or predicted == label:
                chosen = (index, spikes, run, predicted)
            if predicted == label:
                break
        assert chosen is not None  # indices is not empty
        index, spikes, run, predicted = chosen
        rows: list[RasterRow] = [("input channel", spikes, None)]
        rows += [(f"{p.name} neuron", run.spikes[p.name], None) for p in network.populations if p.name != network.output]
        rows.append((network.output, run.spikes[network.output], tuple(classes)))
        panels.append(RasterPanel(f"window {index}: {classes[label]}, classified {classes[predicted]}", tuple(rows)))
    return tuple(panels)
