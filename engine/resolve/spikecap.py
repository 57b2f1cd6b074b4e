"""How many spikes a neuron may emit in one step, where the file cannot say.

NIR has no field for it: Rockpool's LIF modules emit up to max_spikes_per_dt spikes per
step (2^16 unless the model set it; Rockpool's Xylo networks use 31 in hidden layers and 1
in the readout), Sinabs' MultiSpike without bound. The reading takes the framework's
default; `model.max_spikes` (hidden, readout) bounds it to what the model was trained with.
A population whose reading emits one spike per step keeps it: the bound is an upper one.
"""

from __future__ import annotations

import attrs

from engine.resolve.floatnet import FloatNet, FloatPopulation


def bounded(net: FloatNet, hidden: int | None, readout: int | None) -> FloatNet:
    """The network with each multi-spike population's count bounded by the model's setting."""
    if hidden is None and readout is None:
        return net

    def bound(pop: FloatPopulation) -> FloatPopulation:
        limit = readout if pop.name == net.output else hidden
        if limit is None or pop.threshold is None or pop.max_spikes <= limit:
            return pop
        return attrs.evolve(pop, max_spikes=limit)

    populations = tuple(bound(pop) for pop in net.populations)
    if all(a is b for a, b in zip(populations, net.populations)):
        return net
    return attrs.evolve(net, populations=populations)
