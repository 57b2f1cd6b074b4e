"""Spyx's step of spike latency, moved out of the neuron into the edges the chips already delay.

Spyx computes a step's spike from the previous step's membrane (engine/resolve/conventions.py):
  s_t = H(v_{t-1} - theta)  ("spike_delay" 1 on the population)
so a layer emits at t what crossed at t - 1, and the next layer integrates it at t. The
membrane itself never looks at when a spike is emitted, only at when it crossed (the reset
takes the threshold off on the step after the crossing). A neuron that emits on the step of
the crossing and an edge that delivers the previous step's spikes therefore hand the next
layer exactly Spyx's input, and leave every membrane as Spyx computes it:
  Spyx        layer k integrates c_{k-1}(t - 1) through its own latency
  retimed     layer k integrates c_{k-1}(t - 1) through a delayed edge
where c is the crossing. Xylo and the generic LIF deliver every spike from one neuron to
another on the next step (hidden to hidden, hidden to readout), so on them each layer's step
of latency is the step between layers that every other model loses: the hidden layers run
on Spyx's steps, and only the readout, whose spikes leave the chip on the step of their
crossing, emits one step before Spyx does (a window's readout spikes are Spyx's of steps
1..T; Spyx emits nothing on step 0, and the crossing of the window's last step, which Spyx
emits after the window, counts in it). Loihi delays every Dense, the input's included:
every layer runs one step behind its input, so its readout spikes on Spyx's steps.
Speck passes a spike on within the step and has no synaptic delay: no form.

Two of Spyx's resets are the chips' immediate subtraction in other words, so the retimed
network uses it and the quantizer's approximations do not apply to them:
  CuBaLIF, v_t = beta (v_{t-1} - s theta) + I_t: with u = v - c theta (the membrane after
    its crossing takes the threshold off), u_t = beta u_{t-1} + I_t - c_t theta;
  IF (beta = 1), v_t = v_{t-1} + x_t - s theta: likewise u_t = u_{t-1} + x_t - c_t theta.
The crossings are the same (c_t = H(v_t > theta) = H(beta u_{t-1} + I_t > theta)); the float
network's membrane trace becomes u. A LIF keeps its reset one step late (subtract_late):
engine/resolve/leaky_current.py runs it exactly as a recurrent self-weight where it can.
"""

from __future__ import annotations

import attrs
import numpy as np

from engine.resolve.floatnet import FloatNet, FloatPopulation

# families whose every edge from a neuron delivers the previous step's spikes
RETIMED_FAMILIES = ("xylo", "lif", "loihi")


@attrs.frozen(eq=False)
class Retime:
    net: FloatNet
    populations: tuple[str, ...]  # those whose latency moved into the edges leaving them
    resets: tuple[str, ...] = ()  # those whose reset became the immediate subtraction (CuBaLIF, IF)


def _immediate(pop: FloatPopulation) -> bool:
    """Whether `pop`'s reset is the immediate subtraction with the membrane read after it."""
    if pop.reset == "subtract_before_decay":
        return True
    return pop.reset == "subtract_late" and pop.alpha is None and bool(np.all(pop.beta == 1))


def latency_problems(net: FloatNet, family: str) -> list[str]:
    """Why the spike latency has no form on `family` (empty when it has one)."""
    delayed = [p for p in net.populations if p.spike_delay]
    if not delayed:
        return []
    names = ", ".join(f"'{p.name}'" for p in delayed)
    if family not in RETIMED_FAMILIES:
        which = f"populations {names} emit" if len(delayed) > 1 else f"population {names} emits"
        return [(f"{which} each spike one step after the membrane crosses (as {net.convention} computes: one step of "
                 f"latency per layer); {family} passes a spike on to the next layer within the step and has no "
                 "synaptic delay to hold it for one: train the model with a neuron that spikes on the step its "
                 "membrane crosses (Spyx's LIF computes the spike from the previous membrane) and export it with that "
                 "framework's model.convention (snntorch, norse, rockpool or sinabs)")]
    problems = []
    for proj in net.projections:
        if proj.src in {p.name for p in delayed} and proj.delayed:
            problems.append(f"projection '{proj.src}' -> '{proj.dst}' delivers '{proj.src}''s spikes a step after "
                            f"they are emitted, and they are emitted a step after the crossing; {family} delays a spike "
                            "by one step between neurons, not two: train the model without the recurrent delay or "
                            "without the latency")
    return problems


def retime(net: FloatNet) -> Retime:
    """`net` with every population that has a spike latency emitting on its crossing, the
    edges leaving it delivering the previous step's spikes instead; call latency_problems first."""
    names = {p.name for p in net.populations if p.spike_delay}
    if not names:
        return Retime(net, ())
    populations = []
    resets = []
    for pop in net.populations:
        if pop.name in names:
            if _immediate(pop):
                resets.append(pop.name)
            pop = attrs.evolve(pop, spike_delay=0, reset="subtract" if _immediate(pop) else pop.reset)
        populations.append(pop)
    projections = tuple(attrs.evolve(p, delayed=True) if p.src in names else p for p in net.projections)
    retimed = attrs.evolve(net, populations=tuple(populations), projections=projections)
    return Retime(retimed, tuple(p.name for p in net.populations if p.name in names), tuple(resets))


def notes(retimed: Retime, family: str, output: str) -> tuple[str, ...]:
    """What the build says about the moved latency."""
    if not retimed.populations:
        return ()
    names = ", ".join(retimed.populations)
    convention = retimed.net.convention
    said = []
    if family == "loihi":
        said.append(f"{names}: one step of spike latency per layer, as {convention} computes it, is Loihi's step of "
                    "delay per Dense (the input's included): each layer runs one step behind its input and the "
                    "readout spikes on the model's steps (exact in the timing; the other notes say what else differs)")
    else:
        early = (f"; the readout '{output}' emits one step before the model does: a window's readout spikes are the "
                 f"model's of steps 1..T ({convention} emits nothing on step 0), so the crossing of the window's last "
                 "step, which the model emits after the window, counts in it" if output in retimed.populations else "")
        said.append(f"{names}: one step of spike latency per layer, as {convention} computes it, is the step {family} "
                    "takes between neurons: each neuron spikes on the step its membrane crosses and the next layer "
                    f"takes the spike a step later, on the model's step (exact in the timing{early})")
    if retimed.resets:
        said.append(f"{', '.join(retimed.resets)}: the threshold the model subtracts on the step after the crossing "
                    "(before the decay, or without one) is the immediate subtraction of the chip's membrane, read after "
                    "the crossing: exact")
    return tuple(said)
