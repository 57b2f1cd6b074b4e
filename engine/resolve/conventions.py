"""What each exporter means by the numbers it writes into a NIR neuron node.

NIR is continuous time; every framework runs its neurons in discrete steps and writes
them into NIR its own way, so the same node read literally reproduces none of them. A
reading turns one neuron node's parameters into the discrete-time float neuron the
framework itself computes (checked against each framework's own recorded output in
tests/test_framework_fixtures.py): per-step decays, the gain of the input into the
synaptic current and of the current into the membrane, the reset, the spike rule
(several spikes per step for Rockpool and Sinabs), and the spike latency (Spyx).

Each reading also says what in the node no exporter of that framework writes (a decay
above 1, a non-finite or negative time constant, an `r` the framework's exporter would
not have written): the import reports those as warnings naming the node and the value.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

import attrs
import numpy as np
from numpy.typing import NDArray

Array = NDArray[np.float64]

CONVENTIONS = ("nir", "snntorch", "norse", "sinabs", "rockpool", "spyx")
SNNTORCH_EXPORT_DT = 1e-4
# Rockpool's LIF modules default to max_spikes_per_dt = 2**16; Sinabs' MultiSpike has no bound
ROCKPOOL_MAX_SPIKES = 2**16
SINABS_MAX_SPIKES = 2**31 - 1
# a parameter the exporter wrote matches what it would write to float32 rounding
MATCH_RTOL = 1e-5
# frameworks that run their decays clamped to 0..1 (snnTorch's beta.clamp(0, 1), Spyx's jnp.clip)
CLAMPING = {"snntorch": "snnTorch", "spyx": "Spyx"}


@attrs.frozen(eq=False)
class Neuron:
    """One node's neurons in discrete time (the fields FloatPopulation takes)."""

    alpha: Array | None  # synaptic decay per step; None without a synaptic current
    beta: Array  # membrane decay per step
    in_gain: Array  # input into the synaptic current (or, without one, into the membrane)
    i_gain: Array  # synaptic current into the membrane
    leak: Array  # constant drive per step
    reset: str  # subtract | subtract_late | subtract_before_decay | zero
    compare: str  # gt | ge
    max_spikes: int
    spike_delay: int
    warnings: tuple[str, ...] = ()


def _f32(values: Array) -> Array:
    return values.astype(np.float32).astype(np.float64)


def _first_bad(values: Array, bad: NDArray[np.bool_]) -> str:
    index = int(np.flatnonzero(bad)[0])
    return f"{float(values[index]):g} (neuron {index})"


def _same(a: Array, b: Array) -> bool:
    return bool(np.all(np.abs(a - b) <= MATCH_RTOL * np.maximum(np.abs(b), 1e-12)))


def _check_taus(params: Mapping[str, Array], warnings: list[str]) -> None:
    """A zero or NaN time constant is no neuron at all (a negative one shows as a decay above 1)."""
    for key in ("tau", "tau_mem", "tau_syn"):
        if key in params:
            bad = np.isnan(params[key]) | (params[key] == 0)
            if np.any(bad):
                warnings.append(f"{key} {_first_bad(params[key], bad)} is not a time constant; no framework trains "
                                "such a neuron: the export is probably lossy")


def _tau_key(kind: str, what: str) -> str:
    return ("tau_syn" if what == "synaptic" else "tau_mem") if kind in ("CubaLIF", "CubaLI") else "tau"


def _outside(kind: str, params: Mapping[str, Array], what: str, decays: Array) -> tuple[str, NDArray[np.bool_]] | None:
    """'tau_mem -0.0004 gives a membrane decay per step of 1.25 (neuron 0)', where a decay is outside 0..1."""
    bad = ~np.isfinite(decays) | (decays > 1) | (decays < 0)
    if not np.any(bad):
        return None
    index = int(np.flatnonzero(bad)[0])
    key = _tau_key(kind, what)
    tau = f"{key} {float(params[key][index]):g} gives " if key in params else ""
    return f"{tau}a {what} decay per step of {float(decays[index]):g} (neuron {index}), outside 0..1", bad


def read_neuron(kind: str, params: Mapping[str, Array], dt: float, convention: str) -> Neuron:
    """kind: CubaLIF, LIF, IF, LI, CubaLI or I; params: the node's parameters, one value per
    neuron (tau, tau_mem, tau_syn, r, w_in, v_leak)."""
    warnings: list[str] = []
    _check_taus(params, warnings)
    neuron = _READERS[convention](kind, params, dt, warnings)
    if convention in CLAMPING:  # the framework runs its decays clamped to 0..1: so does the reading
        for what in ("synaptic", "membrane"):
            decays = neuron.alpha if what == "synaptic" else neuron.beta
            found = _outside(kind, params, what, decays) if decays is not None and kind not in ("IF", "I") else None
            if found is not None:
                warnings.append(f"{found[0]}: {CLAMPING[convention]} writes a trained decay above 1 as a negative time "
                                f"constant and runs it clamped to 0..1; read clamped")
        alpha = None if neuron.alpha is None else np.clip(neuron.alpha, 0.0, 1.0)
        beta = np.clip(neuron.beta, 0.0, 1.0)
        neuron = attrs.evolve(neuron, alpha=alpha, beta=beta)
    for what in ("synaptic", "membrane"):
        decays = neuron.alpha if what == "synaptic" else neuron.beta
        found = _outside(kind, params, what, decays) if decays is not None and kind not in ("IF", "I") else None
        if found is not None:
            warnings.append(f"{found[0]}: a state that grows every step or flips sign; no framework trains such a "
                            "neuron")
    return attrs.evolve(neuron, warnings=tuple(warnings))


def _ones(params: Mapping[str, Array]) -> Array:
    return np.ones_like(next(iter(params.values())))


def _literal(kind: str, params: Mapping[str, Array], dt: float, warnings: list[str], *, decay: Callable[[Array], Array],
             step: float, reset: str, cast: Callable[[Array], Array] = lambda a: a, compare: str = "gt",
             max_spikes: int = 1) -> Neuron:
    """NIR's equations with a per-step decay and gains (1 - d) r and (1 - a) w_in."""
    one = _ones(params)
    if kind in ("CubaLIF", "CubaLI"):
        alpha, beta = decay(params["tau_syn"]), decay(params["tau_mem"])
        return Neuron(alpha, beta, cast((1.0 - alpha) * params["w_in"]), cast((1.0 - beta) * params["r"]),
                      (1.0 - beta) * params["v_leak"], reset, compare, max_spikes, 0)
    if kind in ("LIF", "LI"):
        beta = decay(params["tau"])
        return Neuron(None, beta, cast((1.0 - beta) * params["r"]), one, (1.0 - beta) * params["v_leak"], reset, compare,
                      max_spikes, 0)
    return Neuron(None, one, params["r"] * step, one, 0.0 * one, reset, compare, max_spikes, 0)  # IF, I


def _nir(kind: str, params: Mapping[str, Array], dt: float, warnings: list[str]) -> Neuron:
    return _literal(kind, params, dt, warnings, decay=lambda tau: 1.0 - dt / tau, step=dt, reset="zero")


def _snntorch(kind: str, params: Mapping[str, Array], dt: float, warnings: list[str]) -> Neuron:
    """snnTorch 1.0 exports at dt = 1e-4 whatever it was trained at: the decays are beta and
    alpha (tau = 1e-4 / (1 - beta)), and r = 1 / (1 - beta) makes the gain 1. snnTorch runs
    beta and alpha clamped to 0..1: a trained beta of 1.25 is written as tau = -4e-4 but
    computed as 1, so the reading clamps too (and says so)."""
    for key, tau, formula in (("r", "tau_mem" if kind in ("CubaLIF", "CubaLI") else "tau", "1 / (1 - beta)"),
                              ("w_in", "tau_syn", "1 / (1 - alpha)")):
        if key in params and tau in params and np.all(np.isfinite(params[tau])):
            _expect(key, params[key], params[tau] / SNNTORCH_EXPORT_DT, "snnTorch", formula, warnings)
    return _literal(kind, params, dt, warnings, decay=lambda tau: _f32(1.0 - SNNTORCH_EXPORT_DT / tau), step=1.0,
                    reset="subtract_late", cast=_f32)


def _norse(kind: str, params: Mapping[str, Array], dt: float, warnings: list[str]) -> Neuron:
    # tau is written as dt * tau_true; a CubaLIF current jumps by w_in times the input
    if "r" in params:
        _expect("r", params["r"], np.ones_like(params["r"]), "Norse", "1", warnings)
    neuron = _literal(kind, params, dt, warnings, decay=lambda tau: 1.0 - dt / (tau / dt), step=1.0, reset="zero")
    if kind in ("CubaLIF", "CubaLI"):
        return attrs.evolve(neuron, in_gain=params["w_in"])
    return neuron


def _sinabs(kind: str, params: Mapping[str, Array], dt: float, warnings: list[str]) -> Neuron:
    """Sinabs 3.1 writes time constants in steps: LIF v = d v + (1 - d) input (norm_input,
    its default), IAF v = v + input, ExpLeak (LI) v = d v + input; IAF and LIF emit
    floor(v / threshold) spikes where v >= threshold (MultiSpike), each taking the threshold
    off (MembraneSubtract)."""
    if "r" in params:
        _expect("r", params["r"], np.ones_like(params["r"]), "Sinabs", "1", warnings)
    neuron = _literal(kind, params, dt, warnings, decay=lambda tau: np.exp(-1.0 / tau), step=1.0, reset="subtract",
                      compare="ge", max_spikes=SINABS_MAX_SPIKES)
    if kind == "LI":
        return attrs.evolve(neuron, in_gain=params["r"])
    return neuron


def _rockpool(kind: str, params: Mapping[str, Array], dt: float, warnings: list[str]) -> Neuron:
    """Rockpool 3.1 (LIFTorch as CubaLIF, LIFNeuronTorch as LIF, ExpSynTorch as LI) computes
        I = (I + input) * exp(-dt / tau_syn);  v = v * exp(-dt / tau_mem) + I
    (the whole input enters the current, which then decays; the current enters v with gain
    1), an LI as I = (I + input) * exp(-dt / tau), and floor(v / threshold) spikes where
    v >= threshold, each taking the threshold off. It writes r = tau exp(-dt / tau) / dt:
    that r reads as gain 1 (LI: exp(-dt / tau)); another r scales the gain by r over it."""
    one = _ones(params)
    tau = params["tau_mem"] if kind in ("CubaLIF", "CubaLI") else params.get("tau")

    def decay(t: Array) -> Array:
        return _f32(np.exp(-dt / t))

    if tau is None:  # IF, I: Rockpool writes neither
        return Neuron(None, one, params["r"], one, 0.0 * one, "subtract", "ge", ROCKPOOL_MAX_SPIKES, 0)
    beta = decay(tau)
    written = tau * np.exp(-dt / tau) / dt
    if _same(params["r"], written):
        gain = one if kind != "LI" else beta
    else:
        gain = params["r"] / written * (one if kind != "LI" else beta)
        warnings.append(f"r {float(params['r'].reshape(-1)[0]):g} (neuron 0) is not what Rockpool writes for tau "
                        f"{float(tau.reshape(-1)[0]):g} s at dt {dt:g} s ({float(written.reshape(-1)[0]):g}): "
                        "model.dt may differ from the dt the model was trained at; the input gain is scaled by the ratio")
    leak = (1.0 - beta) * params["v_leak"]
    if kind in ("CubaLIF", "CubaLI"):
        alpha = decay(params["tau_syn"])
        return Neuron(alpha, beta, alpha * params["w_in"], gain, leak, "subtract", "ge", ROCKPOOL_MAX_SPIKES, 0)
    return Neuron(None, beta, gain, one, leak, "subtract", "ge", ROCKPOOL_MAX_SPIKES, 0)


def _spyx(kind: str, params: Mapping[str, Array], dt: float, warnings: list[str]) -> Neuron:
    """Spyx 1.0 writes tau = dt / (1 - beta) and r = beta; its neurons compute
        LIF:     s = H(v - threshold);  v = beta v + input - s threshold
        CuBaLIF: s = H(v - threshold);  I = alpha I + input;  v = beta (v - s threshold) + I
        IF:      s = H(v - threshold);  v = v + input - s threshold
    from the previous step's v: each spiking layer emits one step late, and the threshold
    comes off one step after the crossing. The input gain is 1 (r holds the decay)."""
    one = _ones(params)

    def decay(t: Array) -> Array:
        return _f32(1.0 - dt / t)

    if kind in ("CubaLIF", "CubaLI"):
        alpha, beta = decay(params["tau_syn"]), decay(params["tau_mem"])
        _check_r_is_decay(params["r"], beta, warnings)
        return Neuron(alpha, beta, params["w_in"], one, (1.0 - beta) * params["v_leak"], "subtract_before_decay", "gt", 1, 1)
    if kind in ("LIF", "LI"):
        beta = decay(params["tau"])
        if kind == "LIF":  # PSU_LIF's LI is written with r = 1, its real gain
            _check_r_is_decay(params["r"], beta, warnings)
            return Neuron(None, beta, one, one, (1.0 - beta) * params["v_leak"], "subtract_late", "gt", 1, 1)
        return Neuron(None, beta, params["r"], one, (1.0 - beta) * params["v_leak"], "subtract_late", "gt", 1, 0)
    return Neuron(None, one, params["r"], one, 0.0 * one, "subtract_late", "gt", 1, 1)


def _expect(key: str, actual: Array, expected: Array, framework: str, formula: str, warnings: list[str]) -> None:
    """A parameter the framework's exporter always writes one way, written another."""
    bad = ~(np.abs(actual - expected) <= MATCH_RTOL * np.maximum(np.abs(expected), 1e-12))
    if np.any(bad):
        index = int(np.flatnonzero(bad)[0])
        warnings.append(f"{key} {float(actual[index]):g} (neuron {index}) is not what {framework}'s exporter writes "
                        f"({formula} = {float(expected[index]):g}): the file was written another way, or "
                        "model.convention is not the framework that wrote it")


def _check_r_is_decay(r: Array, beta: Array, warnings: list[str]) -> None:
    if not _same(r, beta):
        bad = np.abs(r - beta) > MATCH_RTOL * np.maximum(np.abs(beta), 1e-12)
        warnings.append(f"r {_first_bad(r, bad)} differs from the decay 1 - dt/tau the node's tau gives; Spyx writes r = beta: "
                        "the file was not written by Spyx at this model.dt")


_READERS: dict[str, Callable[[str, Mapping[str, Array], float, list[str]], Neuron]] = {
    "nir": _nir, "snntorch": _snntorch, "norse": _norse, "sinabs": _sinabs, "rockpool": _rockpool, "spyx": _spyx,
}
