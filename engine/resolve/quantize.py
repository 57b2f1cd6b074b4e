"""Discretisation and quantization: a FloatNet at the spec's dt -> an integer QuantNetwork.

Scales come from calibration: the float network runs on the spec's stimuli, and each
population's scale keeps its largest membrane and drive values, plus the headroom, inside
the target's state words while its weights use the full weight range. Per-layer
granularity uses one scale per population, per-channel one per neuron from that neuron's
own peak (thresholds are per neuron on Xylo and the generic LIF, and spikes carry no
scale, so neurons scale independently); Loihi holds one vth per population, so its scales
are per layer.

Family mappings (float: I = a*I + g_in*x;  v = b*v + g_i*I + leak; spike v > theta):
  xylo   I += w*s; I -= I >> dash_syn (so I ~ a*(I + w*s)); V += -(V >> dash_mem) + I + bias.
         dash = round(log2(tau / dt)) with tau = dt / (1 - decay); w = s*g_in*g_i*W / a;
         threshold = s*theta; bias = s*(g_i*g_in*b/(1-a) + leak). Where the 8-bit weights
         would bind the scale below what the state word allows, the matrix's weight shift
         (input, recurrent, output; 0..7) lifts it: w << shift is the effective weight.
         Layers after the first are packed into the hidden population through the recurrent
         matrix (one step each), so they share its shift.
         Every neuron integrates through a synapse, and dash_syn 0 erases the current before
         it acts: a hidden LIF without one and with a subtractive reset runs its membrane as
         the current (dash_mem 0, the reset a recurrent self-weight: exact,
         engine/resolve/leaky_current.py), and a Leaky readout can run so in the hidden
         population with the readout neurons copying it a step later (kept where the
         calibration shows it closer to the model than the stand-in below); another
         population without one (a readout, a reset to v_reset, IF) takes the shortest,
         dash_syn 1, with weights that deliver the model's charge per spike (approximate; a
         note says so); a memoryless one (Threshold) has no Xylo form. The matrices that
         feed a Leaky run as its current take, after the scales, the smallest shift their
         weights fit.
  loihi  du = round(4096 (1 - a)) - 1, dv = round(4096 (1 - b)); W_q 2^weight_exp = s*g_in*g_i*W
         (mixed-sign weights even, in [-256, 254]); vth = s*theta; 64*s*v fits 24 bits;
         vth is one value per population: thresholds that vary are absorbed into per-neuron
         scales; du and dv are one value per neuron process: a population whose time
         constants vary is split into groups that share them (a note says so).
  lif    as xylo with 32-bit state, one spike per step, no aliases, a shift per projection;
         a LIF without a synaptic current takes the exact form in every layer.
  speck  IF only (no synapse, no decay): one scale per layer, the smallest of those that bring
         the weights and the biases to 8 bits and the threshold to 16 bits (sinabs' DynapCNN
         rule, engine/resolve/quantize_speck.py); w = round(s*g_in*W), threshold = round(s*theta).

Spyx's step of spike latency per layer is the step Xylo, the generic LIF and Loihi take
between neurons: the population spikes on its crossing and the edges leaving it deliver a
step later (engine/resolve/latency.py); Speck has no such step and refuses it.

Reports, per population: the weights' relative RMS quantization error, the nonzero weights
that became 0, the neurons that can never fire (their largest reachable membrane, with
every excitatory source spiking at its cap on every step and no inhibitory one, stays
below threshold: computed in closed form from the integer recurrences), and the relative
error of the per-step decays against the float model's. A quantized network that does not
emit a single output spike on the calibration stimuli is an error (NM316): the check runs
the quantized parameters (integer weights, thresholds, biases and the decays they really
have) through the float simulator in integer units.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import attrs
import numpy as np
from numpy.typing import ArrayLike

from engine.diagnostics import Diagnostic
from engine.netlist import INPUT, Population, Projection, QuantNetwork, Weights, frozen_array
from engine.resolve.floatnet import (
    FloatNet,
    FloatPopulation,
    FloatProjection,
    readout_scores,
    simulate,
)
from engine.resolve.latency import latency_problems, retime
from engine.resolve.latency import notes as latency_notes
from engine.resolve.leaky_current import (
    COPY_THRESHOLD,
    COPY_WEIGHT,
    ECHO_WEIGHT,
    Rewrite,
    current_as_membrane,
)

XYLO_STATE_MAX = 32767
XYLO_BIAS_MAX = 127  # 8-bit bias, [-128, 127]
LIF_STATE_MAX = 2**31 - 1
LOIHI_STATE_MAX = 2**23 - 1
LOIHI_VTH_MAX = 2**17 - 1
LOIHI_WEIGHT_EXP = (-8, 7)
LOIHI_WEIGHT_MAX = 254 * 2 ** LOIHI_WEIGHT_EXP[1]  # the largest mixed-sign weight at the largest weight_exp
# families whose kernel runs a leaky-integrator readout read by its membrane (docs/models.md, "Membrane
# readouts"); whether a chip lets the host read that membrane is the catalog's `membrane_readout`
MEMBRANE_READOUT_FORMS = ("xylo", "loihi", "lif")
XYLO_INPUT_CAP, XYLO_HIDDEN_CAP = 15, 31
# weight shifts nmspec writes: |w << 7| stays inside 16 bits for 8-bit weights
XYLO_MAX_SHIFT = 7
# the synapse that stands in for a model without one: the shortest Xylo has (dash_syn 0 erases
# the current before it reaches the membrane, as xylosim shows)
SUBSTITUTE_DASH_SYN = 1


class QuantizeError(Exception):
    def __init__(self, diagnostics: list[Diagnostic]) -> None:
        super().__init__("; ".join(d.message for d in diagnostics))
        self.diagnostics = diagnostics


@attrs.frozen
class LayerReport:
    population: str
    size: int
    weight_error: float  # relative RMS error of the dequantized weights
    zeroed_weights: int  # nonzero float weights that became 0
    total_weights: int
    never_fire: int  # neurons whose largest reachable membrane stays below threshold
    decay_error_syn: float  # relative error of the per-step synaptic loss (1 - decay)
    decay_error_mem: float
    scale: float  # float units -> integer units (median over neurons)


@attrs.frozen
class QuantizeResult:
    network: QuantNetwork
    layers: tuple[LayerReport, ...]
    notes: tuple[str, ...]


def decay_error(float_decay: np.ndarray, int_decay: np.ndarray) -> float:
    """Largest relative error of the per-step loss: |(1 - d_int) - (1 - d)| / (1 - d)."""
    return float(np.max(np.abs(int_decay - float_decay) / np.maximum(1.0 - float_decay, 1e-12)))


def _decay_shift(decay: np.ndarray, name: str, kind: str, dt: float, problems: list[str], shortest: int = 0) -> np.ndarray:
    """Xylo-style dash: round(log2(tau/dt)) where tau/dt = 1/(1 - decay)."""
    steps = 1.0 / np.maximum(1.0 - decay, 1e-300)
    if np.any(steps <= 1.0 + 1e-9):
        tau = float(np.min(steps) * dt)
        problems.append(f"population '{name}': {kind} time constant {tau * 1e3:.4g}ms is not longer than dt "
                        f"({dt * 1e3:g}ms); a bit-shift decay cannot represent it")
        return np.zeros(decay.shape, dtype=np.int64)
    dash = np.round(np.log2(steps)).astype(np.int64)
    if np.any(dash < shortest):
        tau = float(np.min(steps) * dt)
        problems.append(f"population '{name}': {kind} time constant {tau * 1e3:.4g}ms rounds to dash 0, which erases "
                        f"the current before it acts; the shortest is {2 ** shortest * dt * 1e3:g}ms (dash {shortest})")
    if np.any(dash > 15):
        problems.append(f"population '{name}': {kind} time constant {float(np.max(steps) * dt):.4g}s is longer than "
                        f"2^15 steps of dt; the longest is {2 ** 15 * dt:.4g}s")
    return np.clip(dash, 0, 15)


def substitute_divisor(a: np.ndarray) -> np.ndarray:
    """The weight divisor for a synapse that stands in for none. The integer synapse
    I <- a (I + w' s) hands the membrane a w' now and a^k a w' on later steps, w' a / (1 - a)
    in all: with w' = w (1 - a) / a every spike delivers the model's charge w, so the
    membrane's level under a steady spike rate (what a rate-coded input sets) is the
    model's, while a single spike's effect peaks a step later and lower."""
    return a / (1.0 - a)


def _effective(proj: FloatProjection, pop: FloatPopulation) -> np.ndarray:
    """The per-spike drive into v (float units) of every weight, before the family's own gain."""
    gain = pop.in_gain * (pop.i_gain if pop.alpha is not None else 1.0)
    return proj.weight * gain[None, :]


def _bias_drive(pop: FloatPopulation, incoming: Sequence[FloatProjection]) -> np.ndarray:
    """The constant drive into v per step: v_leak plus the steady state of every projection bias."""
    bias = pop.leak.copy()
    for proj in incoming:
        if proj.bias is None:
            continue
        alpha = pop.alpha2 if proj.synapse == 1 else pop.alpha
        if alpha is not None:
            bias = bias + proj.bias * pop.in_gain / np.maximum(1.0 - alpha, 1e-12) * pop.i_gain
        else:
            bias = bias + proj.bias * pop.in_gain
    return bias


def _peaks(net: FloatNet, stimuli: np.ndarray | None) -> dict[str, np.ndarray]:
    """Per neuron: the largest |v| and |drive| on the stimuli, never below the threshold
    (without stimuli: twice the threshold)."""
    peaks = {p.name: np.abs(p.threshold) if p.threshold is not None else np.ones(p.size) for p in net.populations}
    if stimuli is None or len(stimuli) == 0:
        return {k: 2.0 * v for k, v in peaks.items()}
    record = simulate(net, stimuli, record=True)
    for pop in net.populations:
        axes = tuple(range(record[f"v:{pop.name}"].ndim - 1))
        seen = np.maximum(np.max(np.abs(record[f"v:{pop.name}"]), axis=axes), np.max(np.abs(record[f"i:{pop.name}"]), axis=axes))
        peaks[pop.name] = np.maximum(peaks[pop.name], seen)
    return peaks


def _state_scale(pop: FloatPopulation, peak: np.ndarray, headroom: float, state_max: float, per_channel: bool) -> np.ndarray:
    """Per neuron: the largest scale that keeps the calibrated peak, plus headroom, in the state word."""
    if not per_channel:
        peak = np.full(pop.size, float(np.max(peak)))
    scale: np.ndarray = state_max / ((1.0 + headroom) * np.maximum(peak, 1e-12))
    return scale


def _weight_scale(proj: FloatProjection, pop: FloatPopulation, weight_max: float, per_channel: bool,
                  weight_divisor: np.ndarray) -> np.ndarray:
    """Per neuron: the largest scale at which the projection's weights fit weight_max (inf: no weight)."""
    largest = np.max(np.abs(_effective(proj, pop)), axis=0) / weight_divisor if proj.weight.size else np.zeros(pop.size)
    if not per_channel:
        largest = np.full(pop.size, float(np.max(largest)) if largest.size else 0.0)
    with np.errstate(divide="ignore"):
        return np.where(largest > 0, weight_max / np.maximum(largest, 1e-300), np.inf)


def _matrix_shifts(needs: Mapping[object, list[float]]) -> dict[object, int]:
    """Per weight matrix, the largest left shift (0..XYLO_MAX_SHIFT) that no projection in it
    needs less of: log2(state scale / weight scale), the factor by which the state word could
    hold finer units than the 8-bit weights allow."""
    shifts = {}
    for matrix, ratios in needs.items():
        finite = [r for r in ratios if np.isfinite(r) and r > 0]
        shifts[matrix] = int(np.clip(math.floor(math.log2(min(finite))), 0, XYLO_MAX_SHIFT)) if finite else 0
    return shifts


def _source_caps(net: FloatNet, family: str, stimuli: np.ndarray | None) -> dict[str, int]:
    """The most spikes a source can deliver in one step: Xylo caps input channels at 15 and
    hidden neurons at 31; elsewhere a neuron spikes once and an input channel delivers at
    most the largest count seen in the calibration stimuli (1 without stimuli)."""
    seen = int(np.max(stimuli)) if stimuli is not None and np.size(stimuli) else 1
    caps = {INPUT: XYLO_INPUT_CAP if family == "xylo" else max(seen, 1)}
    for pop in net.populations:
        caps[pop.name] = XYLO_HIDDEN_CAP if family == "xylo" else 1
    return caps


def reachable_shift_state(drive: np.ndarray, dash: np.ndarray, state_max: int) -> np.ndarray:
    """The least fixed point of x <- (x + D) - floor((x + D) / 2^dash) from 0, which the
    integer recurrence reaches under a constant input D >= 0: D (2^dash - 1); 0 for D <= 0."""
    reach = np.where(drive > 0, drive * (2 ** dash.astype(np.int64) - 1), 0)
    return np.minimum(reach, state_max)


def xylo_never_fire(drive: np.ndarray, bias: np.ndarray, dash_syn: np.ndarray, dash_mem: np.ndarray,
                    threshold: np.ndarray, state_max: int, drive2: np.ndarray | None = None,
                    dash_syn2: np.ndarray | None = None) -> np.ndarray:
    """Neurons that cannot reach `threshold` under the maximal input `drive` per step
    (`drive2` into a second synapse with `dash_syn2`: the two currents add)."""
    current = reachable_shift_state(drive, dash_syn, state_max)
    if drive2 is not None and dash_syn2 is not None:
        current = current + reachable_shift_state(drive2, dash_syn2, state_max)
    # V <- V - floor(V / 2^dash_mem) + J settles at J * 2^dash_mem
    j = current + bias
    v = np.where(j > 0, np.minimum(j * 2 ** dash_mem.astype(np.int64), state_max), 0)
    return v < threshold


def _loihi_reach(drive: np.ndarray, loss: np.ndarray, state_max: int) -> np.ndarray:
    """Least fixed point of x <- floor(x (4096 - loss) / 4096) + A from 0, for A = drive:
    the least x with ceil(x * loss / 4096) = A, i.e. floor((A - 1) 4096 / loss) + 1."""
    safe = np.maximum(loss, 1)
    reach = np.where(loss > 0, ((drive - 1) * 4096) // safe + 1, state_max)
    return np.where(drive > 0, np.minimum(reach, state_max), 0)


def loihi_never_fire(drive: np.ndarray, bias: np.ndarray, du: np.ndarray, dv: np.ndarray, vth: np.ndarray) -> np.ndarray:
    """drive: the largest a_in << 6 per step; fires where v > vth << 6."""
    u = _loihi_reach(drive, du + 1, 2**23)
    v = _loihi_reach(u + bias, dv, LOIHI_STATE_MAX)
    return v <= (vth << 6)


def _neurons(net: FloatNet, family: str) -> int:
    """The neurons a target's neuron limit counts: Xylo's hidden population, every neuron elsewhere."""
    return sum(p.size for p in net.populations if family != "xylo" or p.name != net.output)


def quantize(net: FloatNet, family: str, *, stimuli: np.ndarray | None = None, headroom: float = 0.05,
             granularity: str = "per_layer", weight_bits: int = 8, max_neurons: int | None = None) -> QuantizeResult:
    """Raises QuantizeError (NM31x) when a parameter cannot be expressed on the family, or
    when the quantized network stays silent on the calibration stimuli. `max_neurons`, the
    target's (hidden) neuron limit, decides whether a neuron can be spared for the exact form
    of a constant drive (engine/resolve/leaky_current.py)."""
    problems: list[str] = []
    if weight_bits < 2:
        # TrueNorth: a synapse is only connected or not; each input axon carries a type, and the
        # type indexes one weight stored per neuron, so a neuron's inputs take as many values
        # as there are axon types, and an axon's type holds for every neuron of its core
        binary = (" A binary crossbar whose axon types index per-neuron weights (TrueNorth) is not supported: a "
                  "neuron's incoming weights would have to share its few per-type values, with each axon's type "
                  "common to every neuron of the core, and nmspec neither clusters weights into types nor assigns "
                  "axon types") if weight_bits == 1 else ""
        raise QuantizeError([Diagnostic("error", "NM315", f"{weight_bits}-bit weights: nmspec quantizes to signed weights "
                                                          f"of at least 2 bits.{binary}")])
    for pop in net.populations:
        if pop.threshold is None and membrane_readout(net, pop):
            if family not in MEMBRANE_READOUT_FORMS:
                problems.append(f"population '{pop.name}' ({pop.kind}) is a membrane readout (a leaky integrator read "
                                f"by its membrane; it does not spike); {family} neurons integrate and fire without a "
                                "synaptic current and leak only by a constant per step (the layer's bias), so a leak "
                                "in proportion to the membrane has no form there: train the model with a spiking "
                                "readout (IF, classified by spike count)")
        elif pop.threshold is None:
            where = ("in every layer, including the readout (a membrane readout must be a leaky integrator: LI or "
                     "CubaLI)" if pop.name == net.output else
                     "in every layer; only the readout may be a leaky integrator read by its membrane")
            problems.append(f"population '{pop.name}' ({pop.kind}) does not spike; {family} targets need spiking neurons "
                            f"(LIF, CubaLIF, IF) {where}")
        if pop.reset == "zero" and np.any(pop.v_reset != 0):
            problems.append(f"population '{pop.name}': reset to {float(pop.v_reset.max()):g}; the targets reset to 0 or by subtraction")
    if problems:
        raise QuantizeError([Diagnostic("error", "NM310", p) for p in problems])
    readout = "membrane" if net.population(net.output).threshold is None else "spikes"
    if readout == "membrane" and family != "loihi":
        net = _membrane_form(net)
    problems += _spike_rule_problems(net, family)
    for pop in net.populations:
        if pop.alpha2 is not None and (family != "xylo" or pop.name == net.output):
            where = ("the readout" if family == "xylo" else f"{family} neurons")
            problems.append(f"population '{pop.name}' integrates two synaptic currents; {where} have one (only Xylo "
                            "Audio's hidden neurons have a second synapse)")
    if problems:
        raise QuantizeError([Diagnostic("error", "NM311", p) for p in problems])
    per_channel = granularity == "per_channel"
    if family == "speck":
        return _speck(net, stimuli, per_channel)
    # Spyx's step of latency per layer is the step the chips take between neurons (engine/resolve/latency.py)
    retimed = retime(net)
    net = retimed.net
    if family == "loihi":
        peaks = _peaks(net, stimuli)
        result, shadow = _loihi(net, peaks, headroom, per_channel, _source_caps(net, family, stimuli), problems)
        if problems:
            raise QuantizeError([Diagnostic("error", "NM311", p) for p in problems])
    else:
        net, result, shadow = _xylo_form(net, family, stimuli, headroom, per_channel, weight_bits, max_neurons,
                                         retimed.populations)
    assert result is not None and shadow is not None  # the families return None only with problems
    if retimed.populations:
        result = attrs.evolve(result, notes=(*result.notes, *latency_notes(retimed, family, net.output)))
    if readout == "membrane":
        result = attrs.evolve(result, network=attrs.evolve(result.network, readout="membrane"), notes=(
            *result.notes, _membrane_note(net, family)))
    if stimuli is not None and len(stimuli):
        _check_activity(net, shadow, family, stimuli)
    return result


def _fitting(net: FloatNet, family: str, max_neurons: int | None, copy_room: bool) -> Rewrite | None:
    """The exact Leaky form with the extra neurons (Xylo's readout copy, the bias clock) only
    where the target has room for them; None where even the copy without the clock has none."""
    for clock_room in (True, False):
        rewrite = current_as_membrane(net, family, clock_room=clock_room, copy_room=copy_room)
        if max_neurons is None or _neurons(rewrite.net, family) <= max_neurons:
            return rewrite
    return None if copy_room else rewrite


def _xylo_form(net: FloatNet, family: str, stimuli: np.ndarray | None, headroom: float, per_channel: bool,
               weight_bits: int, max_neurons: int | None,
               retimed: tuple[str, ...] = ()) -> tuple[FloatNet, QuantizeResult, FloatNet]:
    """Xylo and the generic LIF: a LIF without a synaptic current runs its membrane as the
    current (engine/resolve/leaky_current.py). A Leaky readout on Xylo can run so in the hidden
    population with the readout neurons copying it, or keep the stand-in synapse; where the
    calibration stimuli are given, both are quantized and the one whose readout spike counts
    per window come closer to the model's is kept (the copy is exact, but its Leaky emits
    floor(v / threshold) spikes where the model's membrane reaches twice the threshold)."""
    # a retimed readout (Spyx's latency, engine/resolve/latency.py) keeps the stand-in: its notes count
    # on the readout spiking a step before the model, which the copy's step would change
    copy = None if net.output in retimed else _fitting(net, family, max_neurons, True)
    forms = [r for r in (copy, _fitting(net, family, max_neurons, False)) if r is not None]
    if len(forms) == 2 and forms[0].readout is None:
        forms = forms[1:]  # no Leaky readout to copy: one form
    built = []
    for rewrite in forms:
        problems: list[str] = []
        copied = (rewrite.readout, rewrite.echo) if rewrite.readout is not None and rewrite.echo is not None else None
        caps = _source_caps(rewrite.net, family, stimuli)
        if rewrite.clock is not None:
            caps = {**caps, rewrite.clock: 1}
        result, shadow = _xylo_like(rewrite.net, family, _peaks(rewrite.net, stimuli), headroom, per_channel,
                                    weight_bits, caps, problems, rewrite.populations, rewrite.clock, rewrite.steady,
                                    copied, retimed)
        if problems:
            raise QuantizeError([Diagnostic("error", "NM311", p) for p in problems])
        assert result is not None and shadow is not None  # _xylo_like returns None only with problems
        built.append((rewrite.net, result, shadow))
    if len(built) == 1 or stimuli is None or not len(stimuli):
        return built[0]
    model = readout_scores(net, simulate(net, stimuli))
    x = np.minimum(stimuli, XYLO_INPUT_CAP)
    differ = [float(np.sum(np.abs(readout_scores(shadow, simulate(shadow, x)) - model))) for _, _, shadow in built]
    keep = 0 if differ[0] <= differ[1] else 1
    rewritten, result, shadow = built[keep]
    how = (f"on the calibration stimuli the copy's readout spike counts differ from the model's by {differ[0]:g} in "
           f"all, the stand-in synapse's by {differ[1]:g}")
    note = (f"{forms[0].readout}: the copy is kept: {how}" if keep == 0 else
            f"{forms[0].readout}: a Leaky readout on Xylo can run in the hidden population with the readout neurons "
            f"copying it, but {how} (Xylo's hidden neurons emit floor(v / threshold) spikes where the model's membrane "
            "reaches twice the threshold, the model one): the stand-in synapse is kept")
    return rewritten, attrs.evolve(result, notes=(*result.notes, note)), shadow


def membrane_readout(net: FloatNet, pop: FloatPopulation) -> bool:
    """A leaky integrator (LI, CubaLI) that is the network's readout: read by its membrane."""
    return pop.name == net.output and pop.kind in ("li", "cubali")


def _membrane_form(net: FloatNet) -> FloatNet:
    """An LI readout in the form of a neuron with a synapse whose membrane passes the current
    through: v = beta v + g x + leak is I = beta I + g x, v = I + leak / (1 - beta) up to the
    transient of the leak (and of a projection bias), which the synaptic current then carries
    (the Xylo and generic-LIF neurons hold their state in the synapse: dash_mem 0 makes
    V = I + bias exactly, as XyloSim computes). A CubaLI keeps its own synapse and membrane."""
    pop = net.population(net.output)
    if pop.alpha is not None:
        return net
    leak = np.where(pop.beta < 1, pop.leak / np.maximum(1.0 - pop.beta, 1e-12), pop.leak)
    passed = attrs.evolve(pop, alpha=pop.beta, beta=np.zeros(pop.size), i_gain=np.ones(pop.size), leak=leak,
                          tau_syn=pop.tau_mem)
    return attrs.evolve(net, populations=tuple(passed if p.name == pop.name else p for p in net.populations))


def _membrane_note(net: FloatNet, family: str) -> str:
    pop = net.population(net.output)
    how = {"xylo": "Xylo's readout Vmem, which the host reads from the chip's membrane memory",
           "loihi": "Loihi's v, which the host reads from the neuron process",
           "lif": "the generic LIF's v"}[family]
    biased = any(p.bias is not None for p in net.into(pop.name)) or bool(np.any(pop.leak != 0))
    form = ("" if family == "loihi" or pop.kind == "cubali" else
            "; the leaky integrator runs as the neuron's synaptic current passed through a membrane without decay")
    return (f"membrane readout: '{pop.name}' ({pop.kind}) never spikes (threshold at the state word's largest value); "
            f"a window's class is the readout neuron whose membrane ({how}) peaks highest over the window{form}"
            + ("; its bias enters at its steady-state value from the first step (the model ramps it up)"
               if biased and family != "loihi" and pop.kind == "li" else ""))


def _speck(net: FloatNet, stimuli: np.ndarray | None, per_channel: bool) -> QuantizeResult:
    from engine.resolve.quantize_speck import quantize_speck, speck_problems

    problems = speck_problems(net, per_channel)
    if problems:
        raise QuantizeError([Diagnostic("error", "NM311", p) for p in problems])
    network, layers, shadow, notes = quantize_speck(net)
    reports = tuple(LayerReport(str(r["population"]), int(r["size"]), float(r["weight_error"]), int(r["zeroed"]),
                                int(r["total"]), int(r["never_fire"]), 0.0, 0.0, float(r["scale"])) for r in layers)
    if stimuli is not None and len(stimuli):
        _check_activity(net, shadow, "speck", stimuli)
    return QuantizeResult(network, reports, notes)


# What Loihi's neurons send, from Lava 0.10's process models (lava-nc/lava src/lava/proc: lif,
# graded, sdn; lava-nc/lava-dl slayer/neuron/cuba.py): the LIF's spike is binary (v > vth, v
# reset to 0); the graded senders put a value in the payload (24 bits: their s_out ports'
# precision), never a count with the threshold subtracted per spike. A custom microcode
# neuron could count, but Loihi 2's microcode is not public, so nothing here could verify it.
LOIHI_NO_COUNT = ("Loihi neurons send no spike count: Loihi 1 spikes are binary, and Loihi 2's graded spikes (a 24-bit "
                  "payload in Lava 0.10) carry a value, not floor(v / threshold) with the threshold subtracted per "
                  "spike (Lava's LIF sends binary spikes and resets v to 0; GradedVec sends its step's input, "
                  "Sigma-Delta a quantized change, lava-dl's graded CUBA its membrane)")


def _spike_rule_problems(net: FloatNet, family: str) -> list[str]:
    """Spike rules the float reading keeps (as the framework computes) that no kernel runs:
    refused by name rather than verified as something else."""
    problems = []
    for pop in net.populations:
        if pop.threshold is None:  # a membrane readout: no spike rule
            continue
        readout = pop.name == net.output
        # Speck fires once per event (several per step); Xylo's hidden neurons floor(v / threshold), up to 31
        if pop.max_spikes > 1 and family != "speck" and not (family == "xylo" and not readout):
            chip = ("Xylo's readout neurons emit at most one spike per neuron and step" if family == "xylo" else
                    LOIHI_NO_COUNT if family == "loihi" else
                    f"the {family} kernels emit at most one spike per neuron and step")
            problems.append(f"population '{pop.name}' emits up to floor(v / threshold) spikes per step, at most "
                            f"{pop.max_spikes} (multi-spike: {net.convention}'s NIR export records no lower "
                            f"max_spikes_per_dt or SingleSpike); {chip}: a model trained with one spike per step says "
                            f"so with model.max_spikes.{'readout' if readout else 'hidden'}: 1")
    return problems + latency_problems(net, family)


def _check_activity(net: FloatNet, shadow: FloatNet, family: str, stimuli: np.ndarray) -> None:
    x = np.minimum(stimuli, XYLO_INPUT_CAP) if family == "xylo" else stimuli
    if net.population(net.output).threshold is None:  # a membrane readout: its membrane must move
        membrane = simulate(shadow, x, record=True)[f"v:{shadow.output}"]
        if np.any(np.rint(membrane) != 0):
            return
        windows = 1 if np.ndim(stimuli) == 2 else len(stimuli)
        raise QuantizeError([Diagnostic(
            "error", "NM316", f"the network quantized for {family} leaves its readout membrane at 0 on the {windows} "
                              "calibration window(s): every window would be classified as the first class",
            hint="weights that became zero or neurons that can never fire silence the readout; lower "
                 "model.quantization.headroom, or check the stimuli (nmspec simulate shows the input spikes)")])
    quantized = int(simulate(shadow, x)[shadow.output].sum())
    if quantized:
        return
    reference = int(simulate(net, stimuli)[net.output].sum())
    windows = 1 if np.ndim(stimuli) == 2 else len(stimuli)
    raise QuantizeError([Diagnostic(
        "error", "NM316",
        f"the network quantized for {family} emits no output spike on the {windows} calibration window(s); "
        f"the float model emits {reference}",
        hint=("the float model is silent too: the encoder emits too few spikes for these stimuli; lower the "
              "encode threshold or check the stimuli (nmspec simulate shows the input spikes)" if reference == 0 else
              "weights that became zero or neurons that can never fire silence the output; "
              "lower model.quantization.headroom, or set granularity: per_channel (not on loihi)"))])


def _shadow_population(pop: FloatPopulation, alpha: ArrayLike, in_gain: ArrayLike, beta: ArrayLike, leak: ArrayLike,
                       threshold: ArrayLike, compare: str, reset: str) -> FloatPopulation:
    """The quantized population in integer units, for the float simulator."""
    a, b, gain, drive, th = (np.asarray(x, dtype=np.float64) for x in (alpha, beta, in_gain, leak, threshold))
    return FloatPopulation(pop.name, pop.kind, pop.size, a, b, gain, np.ones(pop.size), drive,
                           th, np.zeros(pop.size), reset, compare, pop.tau_syn, pop.tau_mem)


def _matrix_of(net: FloatNet, family: str, proj: FloatProjection) -> object:
    """Xylo shifts a whole matrix (input, recurrent, output); the generic LIF each projection."""
    if family != "xylo":
        return (proj.src, proj.dst)
    return "input" if proj.src == INPUT else ("output" if proj.dst == net.output else "recurrent")


def _finest_shifts(net: FloatNet, family: str, prepared: Mapping[str, tuple[object, ...]], scales: Mapping[str, np.ndarray],
                   shifts: Mapping[object, int], wmax: int, as_current: tuple[str, ...]) -> dict[object, int]:
    """Per matrix that feeds a Leaky run as its current, the smallest shift at which its
    weights still fit 8 bits at the scales finally chosen. A matrix's shift is chosen before
    the scales (from the room the state word leaves); where the reset's self-weight binds the
    scale lower (a per-layer scale under per-neuron thresholds), the input weights are left in
    a fraction of their range, and a smaller shift gives them the full 8 bits. Scales,
    thresholds and biases do not depend on the shifts, and no weight outgrows its range (each
    scale is at most limit x 2^shift). Other matrices keep their shifts (their images stay
    as they were)."""
    largest: dict[object, float] = {}
    finer = set()
    for entry in prepared.values():
        pop, incoming, a_safe, of_synapse = entry[0], entry[1], entry[7], entry[10]
        assert isinstance(pop, FloatPopulation) and isinstance(incoming, list) and callable(of_synapse)
        for proj in incoming:
            ideal = np.abs(_effective(proj, pop)) * scales[pop.name][None, :] / of_synapse(a_safe, proj.synapse)[None, :]
            matrix = _matrix_of(net, family, proj)
            largest[matrix] = max(largest.get(matrix, 0.0), float(np.max(ideal)) if ideal.size else 0.0)
            if pop.name in as_current:
                finer.add(matrix)
    finest = dict(shifts)
    for matrix, shift in shifts.items():
        while matrix in finer and shift > 0 and largest.get(matrix, 0.0) / 2.0 ** (shift - 1) < wmax + 0.5:
            shift -= 1
        finest[matrix] = shift
    return finest


def _xylo_like(net: FloatNet, family: str, peaks: Mapping[str, np.ndarray], headroom: float, per_channel: bool,
               weight_bits: int, caps: Mapping[str, int], problems: list[str], as_current: tuple[str, ...] = (),
               clock: str | None = None, steady: tuple[str, ...] = (),
               copied: tuple[str, str] | None = None,
               retimed: tuple[str, ...] = ()) -> tuple[QuantizeResult | None, FloatNet | None]:
    """`copied`: Xylo's Leaky readout run in the hidden population and its echo, which the
    readout neurons (net.output) copy (engine/resolve/leaky_current.py)."""
    state_max = XYLO_STATE_MAX if family == "xylo" else LIF_STATE_MAX
    wmax = 2 ** (weight_bits - 1) - 1
    dt = net.dt
    layer_pops = list(net.populations)
    if family == "xylo":
        hidden_pops = [p for p in layer_pops if p.name != net.output]
        for proj in net.projections:
            if proj.src == INPUT and proj.dst == net.output:
                problems.append(f"projection input -> '{net.output}': Xylo has no direct input-to-readout weights; add a hidden layer")
        if not hidden_pops:
            problems.append("Xylo needs at least one hidden population before the readout")
    reports: list[LayerReport] = []
    params: dict[str, dict[str, np.ndarray]] = {}
    quant_weights: list[tuple[str, str, np.ndarray, int, int]] = []  # (src, dst, dense int matrix, shift, synapse)
    shadow_pops, shadow_projs = [], []
    prepared = {}
    needs: dict[object, list[float]] = {}
    substituted: list[str] = []
    multi: list[str] = []
    for pop in layer_pops:
        if pop.name == clock:  # fires once on every step: V = bias = threshold = 1, V cleared (dash_mem 0)
            one = np.ones(1, dtype=np.int64)
            params[pop.name] = {"dash_syn": one, "dash_mem": 0 * one, "threshold": one, "bias": one}
            shadow_pops.append(_shadow_population(pop, 0.5 * one, 0.5 * one, 0 * one, one, one, "ge", "subtract"))
            continue
        if copied is not None and pop.name in (copied[1], net.output):  # fixed values, once the shifts are known
            continue
        if pop.alpha is None and not np.all(pop.beta > 0):
            problems.append(f"population '{pop.name}' ({pop.kind}) has no membrane memory and no synaptic current; "
                            f"{family} neurons integrate their input through a synapse and a leaky membrane: "
                            "export LIF or CubaLIF")
            continue
        incoming = [p for p in net.projections if p.dst == pop.name]
        # no synapse in the model: the chip's shortest one (dash_syn 1) stands in (docs/models.md)
        dash_syn = (np.full(pop.size, SUBSTITUTE_DASH_SYN, dtype=np.int64) if pop.alpha is None else
                    _decay_shift(pop.alpha, pop.name, "synaptic", dt, problems, shortest=1))
        if pop.alpha2 is not None:
            dash_syn = np.stack([dash_syn, _decay_shift(pop.alpha2, pop.name, "second synaptic", dt, problems,
                                                        shortest=1)], axis=1)
        leaky = bool(np.all(pop.beta < 1))
        # V - (V >> 0) = 0: the membrane is the current, for a Leaky run as its current
        # (engine/resolve/leaky_current.py) and for a membrane readout's pass-through membrane
        if pop.name in as_current or (pop.threshold is None and np.all(pop.beta == 0)):
            dash_mem = np.zeros(pop.size, dtype=np.int64)
        elif leaky:
            dash_mem = _decay_shift(pop.beta, pop.name, "membrane", dt, problems)
        else:
            dash_mem = np.full(pop.size, 15)
        # the integer synapse gives a*(I + w s): divide by the decay it really has (per synapse)
        a_int = 1.0 - 2.0 ** (-dash_syn.astype(np.float64))
        b_int = 1.0 - 2.0 ** (-dash_mem.astype(np.float64))
        a_safe = np.where(a_int > 0, a_int, 1.0)
        if pop.alpha is None:
            a_safe = substitute_divisor(a_int)
            substituted.append(pop.name)

        def of_synapse(values: np.ndarray, synapse: int) -> np.ndarray:
            return values[:, synapse] if values.ndim == 2 else values

        state = _state_scale(pop, peaks[pop.name], headroom, state_max, per_channel)
        if pop.threshold is None:
            # a membrane readout's peak is its current's, which holds I + w s before the decay
            # takes its share: 1 / a times the peak the calibration sees
            state = state * (a_int[:, 0] if a_int.ndim == 2 else a_int)
        limits = [_weight_scale(proj, pop, wmax, per_channel, of_synapse(a_safe, proj.synapse)) for proj in incoming]
        for proj, limit in zip(incoming, limits):
            with np.errstate(divide="ignore", invalid="ignore"):
                needs.setdefault(_matrix_of(net, family, proj), []).append(float(np.min(state / limit)))
        prepared[pop.name] = (pop, incoming, dash_syn, dash_mem, leaky, a_int, b_int, a_safe, state, limits, of_synapse)
    shifts = _matrix_shifts(needs)
    bias_limited: list[str] = []
    scales = {}
    for pop, incoming, dash_syn, dash_mem, leaky, a_int, b_int, a_safe, state, limits, of_synapse in prepared.values():
        proj_shifts = [shifts[_matrix_of(net, family, proj)] for proj in incoming]
        scale = state.copy()
        for limit, shift in zip(limits, proj_shifts):
            scale = np.minimum(scale, limit * 2.0 ** shift)
        drive_float = _bias_drive(pop, incoming)
        if family == "xylo" and np.any(drive_float != 0):
            # Xylo's bias is 8-bit (Rockpool's XyloSim.from_specification takes bias as int8 and its
            # quantizer scales bias with the weights): a bias that needs more lowers the scale
            with np.errstate(divide="ignore"):
                room = np.where(drive_float != 0, XYLO_BIAS_MAX / np.abs(drive_float), np.inf)
            if np.any(scale * np.abs(drive_float) > XYLO_BIAS_MAX + 0.5):
                bias_limited.append(pop.name)
            scale = np.minimum(scale, room)
        if not per_channel:
            scale = np.full(pop.size, float(np.min(scale)))
        scales[pop.name] = scale
    shifts = _finest_shifts(net, family, prepared, scales, shifts, wmax, as_current)
    for pop, incoming, dash_syn, dash_mem, leaky, a_int, b_int, a_safe, state, limits, of_synapse in prepared.values():
        proj_shifts = [shifts[_matrix_of(net, family, proj)] for proj in incoming]
        scale = scales[pop.name]
        drive_float = _bias_drive(pop, incoming)
        # a membrane readout never spikes: its threshold is the largest the state word holds
        threshold = (np.full(pop.size, state_max, dtype=np.int64) if pop.threshold is None else
                     np.round(scale * pop.threshold).astype(np.int64))
        if np.any(threshold > state_max):
            problems.append(f"population '{pop.name}': threshold does not fit the state word")
        threshold = np.clip(threshold, 1, state_max)
        bias_max = XYLO_BIAS_MAX if family == "xylo" else state_max
        bias = np.clip(np.round(scale * drive_float), -bias_max - (family == "xylo"), bias_max).astype(np.int64)
        error_num = error_den = 0.0
        zeroed = total = 0
        drives = np.zeros((2, pop.size), dtype=np.int64)
        for proj, shift in zip(incoming, proj_shifts):
            exact = _effective(proj, pop)
            step = 2.0 ** shift
            a_syn = of_synapse(a_safe, proj.synapse)
            q = np.clip(np.round(exact * scale[None, :] / a_syn[None, :] / step), -wmax - 1, wmax).astype(np.int64)
            dequant = q * step * a_syn[None, :] / scale[None, :]
            error_num += float(np.sum((dequant - exact) ** 2))
            error_den += float(np.sum(exact ** 2))
            zeroed += int(np.sum((exact != 0) & (q == 0)))
            total += int(np.sum(exact != 0))
            drives[proj.synapse] += (np.sum(np.maximum(q, 0), axis=0) << shift) * caps[proj.src]
            quant_weights.append((proj.src, pop.name, q, shift, proj.synapse))
            shadow_projs.append(FloatProjection(proj.src, pop.name, q * step, None, proj.delayed, proj.nodes,
                                                proj.synapse))
        two = pop.alpha2 is not None
        never = 0 if pop.threshold is None else int(np.sum(xylo_never_fire(
            drives[0], bias, of_synapse(dash_syn, 0), dash_mem, threshold, state_max, drives[1] if two else None,
            dash_syn[:, 1] if two else None)))
        syn_error = decay_error(pop.alpha, of_synapse(a_int, 0)) if pop.alpha is not None else 0.0
        if pop.alpha2 is not None:
            syn_error = max(syn_error, decay_error(pop.alpha2, a_int[:, 1]))
        reports.append(LayerReport(pop.name, pop.size, math.sqrt(error_num / error_den) if error_den else 0.0,
                                   zeroed, total, never, syn_error,
                                   decay_error(pop.beta, b_int) if leaky else 0.0, float(np.median(scale))))
        params[pop.name] = {"dash_syn": dash_syn, "dash_mem": dash_mem, "threshold": threshold, "bias": bias}
        shadow_pop = _shadow_population(pop, of_synapse(a_int, 0), of_synapse(a_int, 0), b_int, bias, threshold, "ge",
                                        "subtract")
        if two:
            shadow_pop = attrs.evolve(shadow_pop, alpha2=a_int[:, 1])
        if pop.max_spikes > 1:  # Xylo's hidden neurons: up to 31 a step (the readout's multi-spike is refused)
            multi.append(f"'{pop.name}' (up to {pop.max_spikes})")
        if family == "xylo" and pop.name != net.output and pop.threshold is not None:
            shadow_pop = attrs.evolve(shadow_pop, max_spikes=XYLO_HIDDEN_CAP)  # as Xylo's hidden neurons emit
        shadow_pops.append(shadow_pop)
    if copied is not None:
        readout_copy(net, copied, shifts, params, quant_weights, shadow_pops, shadow_projs)
    if problems:
        return None, None
    shadow = FloatNet(net.n_inputs, tuple(shadow_pops), tuple(shadow_projs), net.output, net.dt, net.convention)
    notes: tuple[str, ...] = ()
    if bias_limited:
        notes += ((f"{', '.join(bias_limited)}: the 8-bit bias set the scale (weights and threshold are smaller "
                   "than the state word allows)"),)
    if multi:
        notes += ((f"multi-spike as trained: {', '.join(multi)} spikes per step; Xylo's hidden neurons emit "
                   f"floor(v / threshold) spikes by the same rule (v >= threshold, the threshold subtracted per spike) "
                   f"up to {XYLO_HIDDEN_CAP}, exact wherever the model's count stays within it"),)
    if substituted:
        notes += ((f"{', '.join(substituted)}: no synaptic current in the model; {family} has no pass-through synapse "
                  f"(dash_syn 0 erases the current before it acts), so the shortest one (dash_syn {SUBSTITUTE_DASH_SYN}: "
                  "half of a spike's charge now, the rest over the next steps) stands in with weights that deliver the "
                  "model's charge per spike; a steady spike rate gives the model's membrane level, a single spike acts "
                  "a step later and lower (approximate: verify measures the agreement)"),)
    if as_current:
        many = ("; Xylo's hidden neurons emit floor(v / threshold) spikes, so a step whose membrane reaches twice "
                "the threshold emits more than the model's one") if family == "xylo" else ""
        notes += ((f"{', '.join(as_current)}: no synaptic current in the model; the membrane runs as the synaptic current "
                   "(its decay from the model's, dash_mem 0 clears V so that V = I + bias) and the subtractive reset as "
                   "a recurrent self-weight of -threshold"
                   + (" with the constant drive from a neuron that fires on every step" if clock is not None else "")
                   + f" (exact: the model's equations{', but for the constant drive below' if steady else ''}{many})"),)
    if steady:
        notes += ((f"{', '.join(steady)}: no neuron to spare for the one that fires on every step, so the constant "
                   "drive c enters V at its steady state c / (1 - beta): step t differs from the model by "
                   "c beta^(t+1) / (1 - beta), which fades within the membrane's time constant"),)
    for reset, how in (("zero", "reset to v_reset"), ("subtract_late", "subtract the threshold one step after a spike"),
                       ("subtract_before_decay", "subtract the threshold one step after a spike, before the decay")):
        names = [p.name for p in layer_pops if p.reset == reset]
        if names:
            notes += (f"{', '.join(names)} {how}; {family} subtracts it at once",)
    if copied is not None:
        notes += ((f"{copied[0]}: Xylo's readout neurons have no recurrent weights, so this Leaky readout runs in the "
                   "hidden population as above and each readout neuron copies its spikes one step later, exactly "
                   "(two hidden neurons per output: the Leaky readout and an echo that cancels what a spike leaves in "
                   "the copy's current); the readout's spikes of a window's last step fall after the window and are "
                   "not counted"),)
    if family == "xylo":
        helpers = tuple(name for name in (clock, copied[1] if copied else None) if name is not None)
        return _pack_xylo(net, layer_pops, params, quant_weights, reports, notes, helpers, retimed), shadow
    populations = []
    for pop in layer_pops:
        p = params[pop.name]
        populations.append(Population(pop.name, pop.size, {
            "decay_syn": frozen_array(p["dash_syn"], np.int32), "decay_mem": frozen_array(p["dash_mem"], np.int32),
            "threshold": frozen_array(p["threshold"], np.int32), "bias": frozen_array(p["bias"], np.int32)}))
    projections = tuple(Projection(src, dst, Weights.from_dense(q), 0, shift) for src, dst, q, shift, _ in quant_weights)
    network = QuantNetwork("lif", net.dt, net.n_inputs, tuple(populations), projections, net.output)
    return QuantizeResult(network, tuple(reports), notes), shadow


def readout_copy(net: FloatNet, copied: tuple[str, str], shifts: Mapping[object, int],
                 params: dict[str, dict[str, np.ndarray]], quant_weights: list[tuple[str, str, np.ndarray, int, int]],
                 shadow_pops: list[FloatPopulation], shadow_projs: list[FloatProjection]) -> None:
    """The echo and the readout neurons that copy a Leaky readout run in the hidden
    population: dash_syn 1, dash_mem 0, bias 0, weights 2 and -1 and threshold 1 in units of
    their matrix's shift (recurrent for the echo, output for the copy), which only scales them."""
    readout, echo = copied
    for pop, matrix in ((net.population(echo), "recurrent"), (net.population(net.output), "output")):
        shift = shifts.get(matrix, 0)
        one = np.ones(pop.size, dtype=np.int64)
        params[pop.name] = {"dash_syn": one, "dash_mem": 0 * one, "threshold": COPY_THRESHOLD * one << shift,
                            "bias": 0 * one}
        for src, weight in ((readout, COPY_WEIGHT), (echo, ECHO_WEIGHT)):
            q = weight * np.eye(pop.size, dtype=np.int64)
            quant_weights.append((src, pop.name, q, shift, 0))
            shadow_projs.append(FloatProjection(src, pop.name, (q << shift).astype(np.float64), None, True,
                                                ("readout copy",)))
        shadow_pop = _shadow_population(pop, 0.5 * one, 0.5 * one, 0 * one, 0 * one, COPY_THRESHOLD * one << shift,
                                        "ge", "subtract")
        shadow_pops.append(attrs.evolve(shadow_pop, max_spikes=pop.max_spikes))


def _pack_xylo(net: FloatNet, layer_pops: list[FloatPopulation], params: Mapping[str, Mapping[str, np.ndarray]],
               quant_weights: list[tuple[str, str, np.ndarray, int, int]], reports: list[LayerReport],
               notes: tuple[str, ...], helpers: tuple[str, ...], retimed: tuple[str, ...] = ()) -> QuantizeResult:
    hidden_pops = [p for p in layer_pops if p.name != net.output]
    offsets, total = {}, 0
    for pop in hidden_pops:
        offsets[pop.name] = total
        total += pop.size
    out_pop = net.population(net.output)

    def cat(key: str) -> np.ndarray:
        return np.concatenate([params[p.name][key] for p in hidden_pops])

    # one synapse, or two when any hidden layer has a second (the others' second stays unused)
    n_syn = 2 if any(params[p.name]["dash_syn"].ndim == 2 for p in hidden_pops) else 1
    dash_syn = np.concatenate([np.broadcast_to(params[p.name]["dash_syn"].reshape(p.size, -1), (p.size, n_syn))
                               for p in hidden_pops])
    hidden = Population("hidden", total, {
        "dash_syn": frozen_array(dash_syn, np.int32),
        "dash_mem": frozen_array(cat("dash_mem"), np.int32),
        "threshold": frozen_array(cat("threshold"), np.int32),
        "bias": frozen_array(cat("bias"), np.int32),
        "alias": frozen_array(np.full(total, -1), np.int32),
    })
    o = params[out_pop.name]
    output = Population("output", out_pop.size, {
        "dash_syn": frozen_array(o["dash_syn"][:, None], np.int32), "dash_mem": frozen_array(o["dash_mem"], np.int32),
        "threshold": frozen_array(o["threshold"], np.int32), "bias": frozen_array(o["bias"], np.int32)})
    w_in = np.zeros((2, net.n_inputs, total), dtype=np.int64)
    w_rec = np.zeros((2, total, total), dtype=np.int64)
    w_out = np.zeros((total, out_pop.size), dtype=np.int64)
    shift = {}
    for src, dst, q, s, synapse in quant_weights:
        key = "input" if src == INPUT else ("output" if dst == net.output else "recurrent")
        shift[key] = s
        if dst == net.output:
            w_out[offsets[src]: offsets[src] + q.shape[0], :] += q
        elif src == INPUT:
            w_in[synapse, :, offsets[dst]: offsets[dst] + q.shape[1]] += q
        else:
            w_rec[synapse, offsets[src]: offsets[src] + q.shape[0], offsets[dst]: offsets[dst] + q.shape[1]] += q
    projections = [Projection(INPUT, "hidden", Weights.from_dense(w_in[0]), 0, shift.get("input", 0))]
    if np.any(w_in[1]):
        projections.append(Projection(INPUT, "hidden", Weights.from_dense(w_in[1]), 1, shift.get("input", 0)))
    for synapse in range(2):
        if np.any(w_rec[synapse]):
            projections.append(Projection("hidden", "hidden", Weights.from_dense(w_rec[synapse]), synapse,
                                          shift.get("recurrent", 0)))
    projections.append(Projection("hidden", "output", Weights.from_dense(w_out), 0, shift.get("output", 0)))
    network = QuantNetwork("xylo", net.dt, net.n_inputs, (hidden, output), tuple(projections), "output")
    layers = [p for p in hidden_pops if p.name not in helpers]  # the bias clock, the readout copy's echo
    # a layer fed by one with Spyx's latency takes its spikes on the model's step (engine/resolve/latency.py)
    if len(layers) > 1 and not all(p.name in retimed for p in layers[:-1]):
        notes = (*notes, (f"{len(layers)} hidden layers packed into Xylo's hidden population; each layer after "
                         "the first adds one step of delay"))
    return QuantizeResult(network, tuple(reports), notes)


def _loihi_weights(ideal: np.ndarray) -> tuple[np.ndarray, int]:
    """8-bit Loihi weights and weight_exp: mixed-sign matrices round to even values in
    [-256, 254] (Lava drops their LSB), single-sign ones to [-255, 255]."""
    peak = float(np.max(np.abs(ideal))) if ideal.size else 0.0
    mixed = bool(np.any(ideal > 0) and np.any(ideal < 0))
    limit = 254.0 if mixed else 255.0
    exp = 0 if peak == 0 else math.ceil(math.log2(peak / limit))
    exp = max(LOIHI_WEIGHT_EXP[0], min(LOIHI_WEIGHT_EXP[1], exp))
    if mixed:
        q = 2 * np.round(ideal / 2.0 ** exp / 2)
        q = np.clip(q, -256, 254)
    else:
        q = np.clip(np.round(ideal / 2.0 ** exp), -255, 255)
    return q.astype(np.int64), exp


def loihi_groups(du: np.ndarray, dv: np.ndarray) -> list[tuple[int, int]]:
    """The distinct (du, dv) pairs of a population, sorted: Loihi holds one du and one dv per
    neuron process, so each pair is a group of its own."""
    return sorted({(int(a), int(b)) for a, b in zip(du.tolist(), dv.tolist())})


def _loihi(net: FloatNet, peaks: Mapping[str, np.ndarray], headroom: float, per_channel: bool, caps: Mapping[str, int],
           problems: list[str]) -> tuple[QuantizeResult | None, FloatNet | None]:
    if per_channel:
        problems.append("granularity per_channel: loihi holds one vth per population, so its scales are per layer")
        return None, None
    populations, projections, reports, shadow_pops, shadow_projs = [], [], [], [], []
    split: list[str] = []
    normalised: list[str] = []
    for pop in net.populations:
        incoming = [p for p in net.projections if p.dst == pop.name]
        alpha = pop.alpha if pop.alpha is not None else np.zeros(pop.size)
        du = np.clip(np.round(4096 * (1 - alpha)) - 1, 0, 4095).astype(np.int64)
        dv = np.clip(np.round(4096 * (1 - pop.beta)), 0, 4095).astype(np.int64)
        groups = loihi_groups(du, dv)
        if len(groups) > 1:
            split.append(f"'{pop.name}' into {len(groups)}")
        if pop.threshold is None:  # a membrane readout: the state word alone sets the scale; vth is out of reach
            state_scale = LOIHI_STATE_MAX / (64 * (1 + headroom) * max(float(np.max(peaks[pop.name])), 1e-12))
            scale = np.full(pop.size, state_scale)
        elif np.ptp(pop.threshold) > 0 and np.any(pop.threshold <= 0):
            problems.append(f"population '{pop.name}': thresholds vary from {float(np.min(pop.threshold)):g} to "
                            f"{float(np.max(pop.threshold)):g}; loihi's one vth per population takes per-neuron "
                            "thresholds only when all are positive")
            scale = np.ones(pop.size)
        elif np.ptp(pop.threshold) > 0:
            # one vth per population: each neuron takes its own scale so that its threshold is the shared vth
            # (spikes carry no scale, so a neuron's units are its own)
            room = LOIHI_STATE_MAX * pop.threshold / (64 * (1 + headroom) * np.maximum(peaks[pop.name], 1e-12))
            for proj in incoming:  # nor may a weight pass the largest 8-bit weight at the largest weight_exp
                largest = np.max(np.abs(_effective(proj, pop)), axis=0) if proj.weight.size else np.zeros(pop.size)
                room = np.minimum(room, np.where(largest > 0, LOIHI_WEIGHT_MAX * pop.threshold / np.maximum(largest, 1e-300),
                                                 np.inf))
            shared = math.floor(min(float(np.min(room)), float(LOIHI_VTH_MAX)))
            scale = shared / np.maximum(pop.threshold, 1e-300)
            normalised.append(pop.name)
        else:
            # state: 64 * s * peak within 24 bits; threshold within 17 bits
            state_scale = LOIHI_STATE_MAX / (64 * (1 + headroom) * max(float(np.max(peaks[pop.name])), 1e-12))
            vth_scale = LOIHI_VTH_MAX / max(float(np.max(pop.threshold)), 1e-12)
            scale = np.full(pop.size, min(state_scale, vth_scale))
        vth = (np.full(pop.size, LOIHI_VTH_MAX, dtype=np.int64) if pop.threshold is None else
               np.clip(np.round(scale * pop.threshold), 1, LOIHI_VTH_MAX).astype(np.int64))
        error_num = error_den = 0.0
        zeroed = total = 0
        drive = np.zeros(pop.size, dtype=np.int64)
        for proj in incoming:
            exact = _effective(proj, pop)
            q, exp = _loihi_weights(exact * scale[None, :])
            dequant = q * 2.0 ** exp / scale[None, :]
            error_num += float(np.sum((dequant - exact) ** 2))
            error_den += float(np.sum(exact ** 2))
            zeroed += int(np.sum((exact != 0) & (q == 0)))
            total += int(np.sum(exact != 0))
            positive = np.sum(np.maximum(q, 0), axis=0) * caps[proj.src]
            drive += (positive << exp if exp >= 0 else positive >> -exp) << 6
            projections.append(Projection(proj.src, pop.name, Weights.from_dense(q), 0, exp))
            shadow_projs.append(FloatProjection(proj.src, pop.name, q * 2.0 ** exp * 64, None, proj.delayed, proj.nodes))
        bias_float = 64 * scale * _bias_drive(pop, incoming)
        bias_exp = np.zeros(pop.size, dtype=np.int64)
        bias_mant = np.round(bias_float).astype(np.int64)
        while np.any(np.abs(bias_mant) > 4095):
            big = np.abs(bias_mant) > 4095
            bias_exp = np.where(big, bias_exp + 1, bias_exp)
            bias_mant = np.round(bias_float / 2.0 ** bias_exp).astype(np.int64)
        populations.append(Population(pop.name, pop.size, {
            "du": frozen_array(du, np.int32), "dv": frozen_array(dv, np.int32), "vth": frozen_array(vth, np.int32),
            "bias_mant": frozen_array(bias_mant, np.int32), "bias_exp": frozen_array(bias_exp, np.int32)}))
        a_int = 1 - (du + 1) / 4096
        b_int = 1 - dv / 4096
        bias_int = bias_mant << bias_exp
        never = 0 if pop.threshold is None else int(np.sum(loihi_never_fire(drive, bias_int, du, dv, vth)))
        reports.append(LayerReport(
            pop.name, pop.size, math.sqrt(error_num / error_den) if error_den else 0.0, zeroed, total, never,
            decay_error(alpha, a_int) if pop.alpha is not None else 0.0, decay_error(pop.beta, b_int), float(np.median(scale))))
        shadow_pops.append(_shadow_population(pop, a_int, np.ones(pop.size), b_int, bias_int, vth * 64.0, "gt", "zero"))
    if problems:
        return None, None
    network = QuantNetwork("loihi", net.dt, net.n_inputs, tuple(populations), tuple(projections), net.output)
    notes: tuple[str, ...] = (
        "Loihi resets the membrane to 0 where the model subtracts the threshold; each Dense adds one step of delay",
        ("input counts above 1 are graded spikes (the count is the spike's payload, a Loihi 2 feature); Loihi 1 "
         "takes binary spikes only"))
    if normalised:
        notes += ((f"{', '.join(normalised)}: thresholds vary across neurons; each neuron's weights and bias are scaled "
                  "so that its threshold is the population's one vth"),)
    if split:
        notes += ((f"time constants vary within a population: split {', '.join(split)} groups of neurons that share du "
                  "and dv (one Loihi neuron process each; the image holds them per neuron)"),)
    if any(p.bias is not None for p in net.projections if net.population(p.dst).alpha is not None):
        notes += ("a bias into a CubaLIF current enters Loihi's membrane as its steady-state drive",)
    shadow = FloatNet(net.n_inputs, tuple(shadow_pops), tuple(shadow_projs), net.output, net.dt, net.convention)
    return QuantizeResult(network, tuple(reports), notes), shadow
