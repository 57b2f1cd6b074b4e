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

Xylo's readout neurons have no recurrent weights, so a Leaky readout moves into the hidden
population in this form, and each readout neuron copies its spikes one step later. A copy
that only takes the spike's weight w cannot: Xylo adds a step's spikes to the current before
it decays it, so with the shortest synapse (dash_syn 1: I <- ceil((I + w c) / 2)) one spike
leaves w / 2, a long run of spikes approaches w and the step after the run w / 2 again: no
threshold tells them apart (XyloSim agrees). A second hidden neuron per output, the echo,
repeats the readout's spike count c one step later and takes w / 2 back off the copy's
current on the step after a spike: with w = 2 and the echo's -1, the copy's current is
exactly c_{t-1} (ceil(2 c / 2)), so with threshold 1 and V = I (dash_mem 0) it fires once
where the readout fired (Xylo's readout emits at most one spike a step, as the model). The
echo itself runs the same rule with a recurrent self-weight in place of the copy's echo:
I = ceil((c_{t-1} + 2 c_t - c_{t-1}) / 2) = c_t, threshold 1, floor(V / 1) = c_t spikes.
Every current stays at most 2 x 31 weight units, so nothing saturates: the copy is the
readout's spike train one step late, bit-exact (tests/test_leaky_current.py). It costs two
hidden neurons per output and is asked for (`copy_room`): the quantizer asks where the hidden
population has room and keeps it or the stand-in synapse, whichever the calibration stimuli
show closer to the model (engine/resolve/quantize.py); resets to a potential keep the stand-in.

The rewritten network is still a FloatNet: the float simulator runs it (its spikes equal
the model's, the copy's one step late), and the quantizer quantizes it as it quantizes any
CubaLIF, with the echo and the copy at their fixed integer values. Only a decay that Xylo's
shifts can carry takes this form (beta 1 - 2^-dash for dash 1..15, rounded as any Xylo decay).
"""

from __future__ import annotations

import attrs
import numpy as np

from engine.resolve.floatnet import FloatNet, FloatPopulation, FloatProjection

# the neuron that fires on every step and hands each rewritten population beta * c
CLOCK = "bias_clock"
# Xylo's readout as a copy of a Leaky readout run in the hidden population (module docstring)
ECHO, COPY = "readout_echo", "readout_copy"
# the copy's weight from the readout, the echo's from the readout and itself, and both thresholds
COPY_WEIGHT, ECHO_WEIGHT, COPY_THRESHOLD = 2, -1, 1
# resets a recurrent self-weight reproduces: after the decay (snnTorch) or before it
RESET_WEIGHT = {"subtract_late": "after", "subtract": "before"}
FAMILIES = ("xylo", "lif")
XYLO_HIDDEN_CAP = 31  # spikes a Xylo hidden neuron emits in one step at most


def carries(net: FloatNet, pop: FloatPopulation, family: str, *, readout_copy: bool = False) -> bool:
    """Whether `pop` takes the exact form on `family`; Xylo's readout only as a copy
    (`readout_copy`), and only a one-spike readout (the copy fires once a step)."""
    if family not in FAMILIES or pop.alpha is not None or pop.threshold is None or pop.spike_delay:
        return False
    if family == "xylo" and pop.name == net.output and not (readout_copy and pop.max_spikes == 1):
        return False
    if pop.reset not in RESET_WEIGHT or not np.all(pop.threshold > 0) or not np.all(pop.in_gain != 0):
        return False
    if not np.all((pop.beta > 0) & (pop.beta < 1)):
        return False
    dash = np.round(np.log2(1.0 / (1.0 - pop.beta)))
    return bool(np.all((dash >= 1) & (dash <= 15)))


def clock_name(net: FloatNet, base: str = CLOCK) -> str:
    names = {p.name for p in net.populations}
    name = base
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
    # Xylo: the Leaky readout (now a hidden population) and the echo that lets the new
    # readout, net.output, copy it one step late
    readout: str | None = None
    echo: str | None = None


def current_as_membrane(net: FloatNet, family: str, *, clock_room: bool = True, copy_room: bool = False) -> Rewrite:
    """The network with every population that `carries` rewritten; `clock_room` False when
    the target has no neuron to spare for the bias clock, `copy_room` True where Xylo's
    hidden population has room for a Leaky readout and its echo (and the copy is wanted)."""
    chosen = [p for p in net.populations if carries(net, p, family, readout_copy=copy_room)]
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
    output = net.output
    readout = echo = None
    if family == "xylo" and output in names:
        readout, echo, output = output, clock_name(net, ECHO), clock_name(net, COPY)
        size = net.population(readout).size
        one, eye = np.ones(size), np.eye(size)
        # I <- (I + x) / 2 (dash_syn 1: in_gain 1/2 with the weights below), V = I, fires floor(V / 1)
        relay = FloatPopulation(echo, "lif", size, 0.5 * one, np.zeros(size), 0.5 * one, one, np.zeros(size),
                                COPY_THRESHOLD * one, np.zeros(size), "subtract", "ge", None, None,
                                max_spikes=XYLO_HIDDEN_CAP)
        populations += [relay, attrs.evolve(relay, name=output, max_spikes=1)]
        for src, dst, weight in ((readout, echo, COPY_WEIGHT), (echo, echo, ECHO_WEIGHT), (readout, output, COPY_WEIGHT),
                                 (echo, output, ECHO_WEIGHT)):
            projections.append(FloatProjection(src, dst, weight * eye, None, True, ("readout copy",)))
    rewritten = attrs.evolve(net, populations=tuple(populations), projections=tuple(projections), output=output)
    return Rewrite(rewritten, tuple(p.name for p in chosen), clock if needs_clock else None, tuple(steady), readout, echo)
