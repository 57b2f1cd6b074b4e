"""A LIF without a synaptic current (snnTorch's Leaky, NIR's LIF) in the exact form Xylo's
hidden neurons and the generic LIF can run: the synaptic current is the membrane.

Both kernels add a step's input to the current and then decay it, I <- a (I + w s), and
update the membrane as V <- V - (V >> dash_mem) + I + bias. dash_mem 0 clears V on every
step (V - (V >> 0) = 0), so V = I + bias; with a = beta the current integrates as the
model's membrane:
  snnTorch (reset after the decay):    v_t = beta v_{t-1} + x_t + c - n_{t-1} theta
  Rockpool, Sinabs (reset first):      v_t = beta (v_{t-1} - n_{t-1} theta) + x_t + c
The reset becomes a recurrent self-weight, -theta or -beta theta before the synapse's
decay, which delivers a step's spikes on the next step as recurrent weights do. A
constant drive c (v_leak, a bias of the layer before) becomes the bias c in V plus beta c
into the current from the second step on, delivered by one neuron that fires once on
every step (no input, V = bias = threshold = 1): by induction v_t = I_t + c on every step.
Where the target has no neuron to spare for it, the drive enters V at its steady state
c / (1 - beta) instead, and the first steps differ from the model by c beta^(t+1) / (1 - beta).

The rewritten network is still a FloatNet: the float simulator runs it (its spikes equal
the model's, tests/test_leaky_current.py), and the quantizer quantizes it as it quantizes
any CubaLIF. Only a decay that Xylo's shifts can carry takes this form (beta 1 - 2^-dash
for dash 1..15, rounded as any Xylo decay); a readout on Xylo has no recurrent weights and
keeps the stand-in synapse (engine/resolve/quantize.py), as do resets to a potential.
"""

from __future__ import annotations

import attrs
import numpy as np

from engine.resolve.floatnet import FloatNet, FloatPopulation, FloatProjection

# the neuron that fires on every step and hands each rewritten population beta * c
CLOCK = "bias_clock"
# resets a recurrent self-weight reproduces: after the decay (snnTorch) or before it
RESET_WEIGHT = {"subtract_late": "after", "subtract": "before"}
FAMILIES = ("xylo", "lif")


def carries(net: FloatNet, pop: FloatPopulation, family: str) -> bool:
    """Whether `pop` takes the exact form on `family`."""
    if family not in FAMILIES or pop.alpha is not None or pop.threshold is None or pop.spike_delay:
        return False
    if family == "xylo" and pop.name == net.output:  # Xylo's readout neurons have no recurrent weights
        return False
    if pop.reset not in RESET_WEIGHT or not np.all(pop.threshold > 0) or not np.all(pop.in_gain != 0):
        return False
    if not np.all((pop.beta > 0) & (pop.beta < 1)):
        return False
    dash = np.round(np.log2(1.0 / (1.0 - pop.beta)))
    return bool(np.all((dash >= 1) & (dash <= 15)))


def clock_name(net: FloatNet) -> str:
    names = {p.name for p in net.populations}
    name = CLOCK
    while name in names:
        name += "_"
    return name


@attrs.frozen(eq=False)
class Rewrite:
    net: FloatNet
    populations: tuple[str, ...]  # the populations whose membrane is now the current
    clock: str | None  # the bias clock's name when one was added
    # without room for the clock: populations whose constant drive enters V at its steady
    # state c / (1 - beta), so that step t differs from the model by c beta^(t+1) / (1 - beta)
    steady: tuple[str, ...] = ()


def current_as_membrane(net: FloatNet, family: str, *, clock_room: bool = True) -> Rewrite:
    """The network with every population that `carries` rewritten; `clock_room` False when
    the target has no neuron to spare for the bias clock."""
    chosen = [p for p in net.populations if carries(net, p, family)]
    if not chosen:
        return Rewrite(net, (), None)
    names = {p.name for p in chosen}
    clock = clock_name(net)
    populations: list[FloatPopulation] = []
    projections = [proj if proj.dst not in names else attrs.evolve(proj, bias=None) for proj in net.projections]
    needs_clock = False
    steady: list[str] = []
    for pop in net.populations:
        if pop.name not in names:
            populations.append(pop)
            continue
        drive = pop.leak.copy()
        for proj in net.into(pop.name):
            if proj.bias is not None:
                drive = drive + proj.bias * pop.in_gain
        threshold = np.asarray(pop.threshold, dtype=np.float64)
        reset = threshold if RESET_WEIGHT[pop.reset] == "after" else pop.beta * threshold
        projections.append(FloatProjection(pop.name, pop.name, np.diag(-reset / pop.in_gain), None, True, ("reset",)))
        if np.any(drive != 0) and not clock_room:
            steady.append(pop.name)
            drive = drive / (1.0 - pop.beta)
        elif np.any(drive != 0):
            needs_clock = True
            projections.append(FloatProjection(clock, pop.name, (pop.beta * drive / pop.in_gain)[None, :], None, True,
                                               ("bias",)))
        # V is cleared on every step, so its own reset changes nothing but what a record shows: the
        # model's v (before the reset for snnTorch, after it for a reset before the decay)
        populations.append(attrs.evolve(pop, alpha=pop.beta, beta=np.zeros(pop.size), i_gain=np.ones(pop.size),
                                        leak=drive, reset="subtract" if RESET_WEIGHT[pop.reset] == "before" else "none",
                                        tau_syn=pop.tau_mem))
    if needs_clock:
        one = np.ones(1)
        tick = FloatPopulation(clock, "if", 1, None, np.zeros(1), one, one, one, one, np.zeros(1), "subtract", "ge",
                               None, None)
        at = [p.name for p in populations].index(net.output)
        populations.insert(at, tick)
    rewritten = attrs.evolve(net, populations=tuple(populations), projections=tuple(projections))
    return Rewrite(rewritten, tuple(p.name for p in chosen), clock if needs_clock else None, tuple(steady))
