"""A float network read at the model's own time step, re-discretised to the deployment's.

The model's step (model.dt) is the step it was trained at; the deployment's (runtime.frame)
is the signal chain's frame period and the chip's step. When they differ, each per-step
decay d is read as the exact exponential it is, exp(-dt / tau), and raised to the ratio
k = frame / dt: d' = d^k. What a spike does is an impulse and keeps its size (a current or
membrane jumps by the same weight at any step); what flows per step keeps its steady state:

  i_gain' = i_gain (1 - beta') / (1 - beta)     current into the membrane
  leak'   = leak   (1 - beta') / (1 - beta)     v_leak's drive
  bias'   = bias   (1 - d') / (1 - d)           a projection's bias, d the state it enters

(times k where the decay is 1: an integrator adds k steps' worth). Thresholds and resets
are per spike and stay.

What has no re-discretisation is refused, each reason naming the population or edge, the
two steps and what to change: a recurrent edge (it delivers the previous step's spikes, so
its delay is one step whatever the step's length), a spike emitted one step late (one
step of latency per layer), a decay outside (0, 1] (no time constant), and a time constant
shorter than the frame (the state would lose more than 1 - 1/e of itself within one step
of the chip, which the trained dynamics never saw). A frame shorter than the model's step
only refines it.
"""

from __future__ import annotations

import math

import attrs
import numpy as np

from engine.resolve.floatnet import FloatNet, FloatPopulation

# relative difference below which two steps are the same step (1 ns in 10 ms)
SAME_STEP = 1e-7


class RediscretiseError(Exception):
    """Every reason the network cannot run at the frame period, one sentence each."""

    def __init__(self, reasons: list[str]) -> None:
        super().__init__("; ".join(reasons))
        self.reasons = reasons


def same_step(a: float, b: float) -> bool:
    return abs(a - b) <= SAME_STEP * max(abs(a), abs(b))


def ms(seconds: float) -> str:
    return f"{seconds * 1e3:.4g}ms"


def exact_tau(decay: np.ndarray, dt: float) -> np.ndarray:
    """The time constant whose exact exponential over dt is the decay: -dt / ln(d)."""
    with np.errstate(divide="ignore"):
        return np.where(decay >= 1.0, np.inf, -dt / np.log(np.clip(decay, 1e-300, 1.0)))


def _scaled(decay: np.ndarray, k: float) -> np.ndarray:
    out: np.ndarray = np.power(decay, k)
    return out


def _flow(old: np.ndarray, new: np.ndarray, k: float) -> np.ndarray:
    """The factor that keeps the steady state of a per-step flow into a state of decay old -> new."""
    leaky = old < 1.0
    return np.where(leaky, (1.0 - new) / np.where(leaky, 1.0 - old, 1.0), k)


def _check_decay(pop: FloatPopulation, which: str, decay: np.ndarray, dt: float, frame: float, reasons: list[str]) -> None:
    if not np.all(np.isfinite(decay)) or np.any(decay < 0.0) or np.any(decay > 1.0):
        bad = decay[~np.isfinite(decay) | (decay < 0.0) | (decay > 1.0)]
        reasons.append(f"population '{pop.name}': {which} decay {float(bad[0]):g} per step is outside 0..1, so it has no "
                       "time constant to re-discretise from; fix the model (a decay above 1 grows without input)")
        return
    if frame > dt and np.any((decay > 0.0) & (decay < 1.0)):
        tau = exact_tau(decay, dt)
        fading = (decay > 0.0) & (tau < frame)
        if np.any(fading):
            shortest = float(np.min(tau[fading]))
            reasons.append(f"population '{pop.name}': {which} time constant {ms(shortest)} (trained at {ms(dt)}) is shorter "
                           f"than the {ms(frame)} frame: the state would lose {1 - math.exp(-frame / shortest):.1%} of itself "
                           f"in one step of the chip; set runtime.frame to at most {ms(shortest)}, or retrain at {ms(frame)}")


def at_model_step(net: FloatNet, dt: float) -> FloatNet:
    """A network read with the exporter's dt (Spyx writes its time constants with dt = 1
    unless told otherwise) as what it is: the same per-step decays, each step model.dt long."""
    if same_step(net.dt, dt):
        return net
    populations = tuple(attrs.evolve(pop, tau_syn=None if pop.alpha is None else _tau_of(pop.alpha, dt),
                                     tau_mem=None if pop.tau_mem is None else _tau_of(pop.beta, dt))
                        for pop in net.populations)
    return attrs.evolve(net, populations=populations, dt=dt)


def rediscretise(net: FloatNet, frame: float) -> FloatNet:
    """The network at the frame period; raises RediscretiseError naming every obstacle."""
    if same_step(net.dt, frame):
        return net
    dt = net.dt
    k = frame / dt
    reasons: list[str] = []
    for proj in net.projections:
        if proj.delayed:
            reasons.append(f"the recurrent edge '{proj.src}' -> '{proj.dst}' delivers the previous step's spikes: "
                           f"{ms(dt)} later as trained, {ms(frame)} later at the frame; set runtime.frame to model.dt "
                           f"({ms(dt)}), or retrain at {ms(frame)}")
    for pop in net.populations:
        if int(getattr(pop, "spike_delay", 0)):
            reasons.append(f"population '{pop.name}' emits each spike one step after its membrane crosses: {ms(dt)} of "
                           f"latency as trained, {ms(frame)} at the frame; set runtime.frame to model.dt ({ms(dt)}), or "
                           f"retrain at {ms(frame)}")
        if pop.alpha is not None:
            _check_decay(pop, "synaptic", pop.alpha, dt, frame, reasons)
        _check_decay(pop, "membrane", pop.beta, dt, frame, reasons)
    if reasons:
        raise RediscretiseError(reasons)
    populations: list[FloatPopulation] = []
    entry: dict[str, np.ndarray] = {}  # per population: the factor for a bias entering its first state
    for pop in net.populations:
        beta = _scaled(pop.beta, k)
        membrane = _flow(pop.beta, beta, k)
        alpha = None if pop.alpha is None else _scaled(pop.alpha, k)
        entry[pop.name] = membrane if pop.alpha is None or alpha is None else _flow(pop.alpha, alpha, k)
        populations.append(attrs.evolve(
            pop, alpha=alpha, beta=beta, i_gain=pop.i_gain * membrane if pop.alpha is not None else pop.i_gain,
            leak=pop.leak * membrane,
            tau_syn=None if alpha is None else _tau_of(alpha, frame), tau_mem=None if pop.tau_mem is None else _tau_of(beta, frame)))
    projections = [proj if proj.bias is None else attrs.evolve(proj, bias=proj.bias * entry[proj.dst])
                   for proj in net.projections]
    note = (f"re-discretised from the model's step {ms(dt)} to the {ms(frame)} frame: each decay d became d^{k:.6g}, "
            "spikes keep their weight, per-step flows (current into the membrane, leak, bias) keep their steady state")
    return attrs.evolve(net, populations=tuple(populations), projections=tuple(projections), dt=frame,
                        notes=(*net.notes, note))


def _tau_of(decay: np.ndarray, dt: float) -> np.ndarray:
    """As the import reports it: the tau whose Euler step at dt is the decay."""
    with np.errstate(divide="ignore"):
        return dt / np.maximum(1.0 - decay, 1e-300)

