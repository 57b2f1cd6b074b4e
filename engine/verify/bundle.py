"""`nmspec verify`: the image read back from its bytes, run by the kernel on the spec's
stimuli, against the float reference of the source model; with the target's cycle model,
the cycles, latency and energy of those runs, and the node's power recomputed from what
the kernel counted instead of the float model's estimate."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import attrs

from engine import memo
from engine.diagnostics import Diagnostic
from engine.image import read_image
from engine.verify.agreement import Agreement, CycleSummary, check_agreement
from engine.verify.drift import TemperatureSweep

if TYPE_CHECKING:
    from engine.catalog import Catalog
    from engine.resolve import Deployment
    from engine.spec import SpecDocument
    from engine.spec.model import SiteSpec

DEFAULT_MIN_AGREEMENT = 0.99

# Without verify.min_accuracy, an image right on fewer windows than this is reported
# (a warning): agreement with the float model says nothing about whether either is right.
DEFAULT_MIN_ACCURACY = 0.9


@attrs.frozen
class KernelPower:
    """The node's power with the chip's work per window taken from the kernel's counts."""

    inference_w: float  # chip + the MCU's signal chain, averaged over the schedule
    total_w: float
    budget_w: float | None
    life_years: float
    required_years: float
    estimate_inference_w: float | None  # what resolve estimated from the float model


def verdict(passed: bool, fidelity: str, chip: str) -> str:
    """The one-line verdict: a pass on anything but a vendor-verified target says what it
    is a pass of, since the kernel's arithmetic is then not known to be the chip's."""
    if not passed:
        return "verification FAILED"
    if fidelity == "vendor-verified":
        return "verification passed"
    if fidelity == "documented":
        return (f"verification passed on {chip}'s documented arithmetic: no vendor simulator has been compared "
                "with the kernel")
    return f"verification passed on stand-in arithmetic: not a verification of the {chip}"


@attrs.frozen(eq=False)
class Verification:
    agreement: Agreement | None
    min_agreement: float
    image_bytes: int
    diagnostics: tuple[Diagnostic, ...]
    power: KernelPower | None = None
    power_note: str | None = None  # why there is no kernel power figure
    chip: str = ""
    fidelity: str = "stand-in"  # of the chip the image targets (engine.catalog.FIDELITY_LEVELS)
    min_accuracy: float | None = None  # the spec's verify.min_accuracy
    temperature: TemperatureSweep | None = None  # analog and mixed-signal targets: the Monte Carlo over temperature
    temperature_note: str | None = None  # why an analog target has no Monte Carlo

    @property
    def passed(self) -> bool:
        return not any(d.severity == "error" for d in self.diagnostics)

    def summary(self) -> dict[str, Any]:
        out: dict[str, Any] = {"image_bytes": self.image_bytes, "min_agreement": self.min_agreement,
                               "min_accuracy": self.min_accuracy, "default_min_accuracy": DEFAULT_MIN_ACCURACY,
                               "passed": self.passed, "fidelity": self.fidelity,
                               "verdict": verdict(self.passed, self.fidelity, self.chip)}
        if self.agreement is not None:
            a = self.agreement
            out.update({
                "windows": a.windows, "agreement": a.agreement, "kernel_accuracy": a.kernel_accuracy,
                "float_accuracy": a.float_accuracy, "detection_rate": a.detection_rate,
                "false_alarm_rate": a.false_alarm_rate, "float_detection_rate": a.float_detection_rate,
                "float_false_alarm_rate": a.float_false_alarm_rate,
                "spike_count_correlation": list(a.correlation), "deterministic": a.deterministic,
                "synaptic_ops": a.synaptic_ops, "steps": a.steps,
            })
            if a.readout != "spikes":  # the correlation is of the readout's membrane peaks (docs/models.md)
                out["readout"] = a.readout
            if a.cycles is not None:
                c = a.cycles
                out["cycles"] = {
                    "model": c.model, "cores": c.cores, "clock_hz": c.clock_hz, "dt_s": c.dt,
                    "peak_per_step": round(c.peak_cycles, 3), "mean_per_step": round(c.mean_cycles, 3),
                    "peak_latency_s": c.peak_latency_s, "mean_latency_s": c.mean_latency_s,
                    "min_clock_hz": round(c.min_clock_hz, 3),
                    "worst_case_clock_hz": None if c.worst_case_clock_hz is None else round(c.worst_case_clock_hz, 3),
                    "real_time": c.real_time, "window_steps": c.window_steps,
                    "synaptic_ops_per_window": c.synaptic_ops_per_window,
                    "neuron_updates_per_window": c.neuron_updates_per_window, "hops_per_window": c.hops_per_window,
                    "energy_per_window_j": c.energy_j, "dynamic_energy_j": c.dynamic_energy_j,
                    "static_energy_j": c.static_energy_j,
                    "constants": {name: where for name, where in c.provenance},
                }
        if self.power is not None:
            p = self.power
            out["power"] = {"inference_uW": round(p.inference_w * 1e6, 3), "total_uW": round(p.total_w * 1e6, 3),
                            "budget_uW": None if p.budget_w is None else round(p.budget_w * 1e6, 3),
                            "within_budget": None if p.budget_w is None else p.inference_w <= p.budget_w,
                            "life_years": round(p.life_years, 3), "required_years": round(p.required_years, 3),
                            "estimate_inference_uW": None if p.estimate_inference_w is None
                            else round(p.estimate_inference_w * 1e6, 3)}
        elif self.power_note:
            out["power"] = {"note": self.power_note}
        if self.temperature is not None:
            out["temperature"] = self.temperature.summary()
        elif self.temperature_note:
            out["temperature"] = {"note": self.temperature_note}
        return out


def _kernel_power(deployment: Deployment, catalog: Catalog, cycles: CycleSummary) -> tuple[KernelPower | None, str | None]:
    from engine.catalog import MissingFigure
    from engine.resolve.power import site_power

    activity = deployment.activity
    scale = activity.steps / max(cycles.window_steps, 1)
    kernel_activity = attrs.evolve(activity, synaptic_ops=cycles.synaptic_ops_per_window * scale,
                                   neuron_updates=cycles.neuron_updates_per_window * scale)
    try:
        report = site_power(deployment.spec, catalog, kernel_activity, deployment.spec.part_overrides())
    except (MissingFigure, KeyError) as exc:
        return None, f"no power figure: {getattr(exc, 'message', exc)}"
    estimate = deployment.power.inference_power_w if deployment.power is not None else None
    return KernelPower(report.inference_power_w, report.total_power_w, report.budget_w, report.life_years,
                       report.required_years, estimate), None


def _agreement_hint(spec: SiteSpec, family: str) -> str:
    """What can raise the agreement on this target. Per-channel scales are the one change
    that reliably brings the integer network closer to the float model; loihi holds one
    threshold per population and refuses them (NM311). Headroom moves the agreement either
    way, so it is offered as a search, not a direction."""
    granularity = spec.model.quantization.granularity
    if family != "loihi" and granularity != "per_channel":
        return ("set model.quantization.granularity: per_channel (one scale per neuron instead of one per layer); "
                "`nmspec verify SPEC` shows the agreement it gives")
    return ("this target keeps one scale per layer: try other values of model.quantization.headroom (a change can "
            "raise or lower the agreement; `nmspec verify SPEC` shows it), or rank targets that take per-channel "
            "scales with `nmspec fit SPEC`")



def verify_bundle(doc: SpecDocument, image: bytes, deployment: Deployment, *,
                  catalog: Catalog | None = None) -> Verification:
    """The image run by the kernel on the deployment's stimuli against its float model.
    With `catalog`, the chip's cycle model counts cycles, latency and energy, and the power
    budget is checked against the kernel's counts."""
    from engine.verify.cycles import cycle_model

    contents = read_image(image)
    spec = deployment.spec
    minimum = spec.verify.min_agreement if spec.verify is not None else DEFAULT_MIN_AGREEMENT
    stimuli = deployment.stimuli
    chip = catalog.get("chips", spec.target.chip) if catalog is not None else None
    fidelity = chip.fidelity if chip is not None else "stand-in"
    if stimuli is None:
        return Verification(None, minimum, len(image), (Diagnostic("warning", "NM801", "verify.stimuli: none given; only the image round trip was checked"),), chip=contents.target.chip, fidelity=fidelity)
    model = cycle_model(chip, spec.part_overrides()["chips"]) if chip is not None else None
    # every site whose image holds this network, on these stimuli and this chip, shares the result
    agreement = memo.call("verify.agreement", (contents.network, deployment.float_model, deployment.chain, stimuli,
                                               model, deployment.stimulus_spikes),
                          lambda: check_agreement(contents.network, deployment.float_model, deployment.chain, stimuli,
                                                  cycle_model=model, spikes=deployment.stimulus_spikes))
    problems = []
    if agreement.agreement < minimum:
        problems.append(doc.at("/verify/min_agreement", "NM802",
                               f"verify: the kernel agrees with the float model on {agreement.agreement:.1%} of "
                               f"{agreement.windows} windows, below min_agreement {minimum:g}",
                               hint=_agreement_hint(spec, contents.network.family)))
    floor = spec.verify.min_accuracy if spec.verify is not None else None
    if agreement.kernel_accuracy < (DEFAULT_MIN_ACCURACY if floor is None else floor):
        stated = (f"verify.min_accuracy {floor:g}" if floor is not None
                  else f"the default floor {DEFAULT_MIN_ACCURACY:g} (verify.min_accuracy is not set)")
        problems.append(doc.at("/verify/min_accuracy" if floor is not None else "/verify/stimuli", "NM808",
                               f"verify: the image classifies {agreement.kernel_accuracy:.1%} of the "
                               f"{agreement.windows} labelled stimulus windows correctly, below {stated}",
                               severity="error" if floor is not None else "warning",
                               hint="check that the stimuli were recorded the way the spec's sensor records "
                                    "(rate, range, axes) and that their labels follow model.labels; "
                                    "then retrain the model or fix the chain"))
    if not agreement.deterministic:
        problems.append(Diagnostic("error", "NM803", "verify: two kernel runs of the same input differ"))
    cycles = agreement.cycles
    if cycles is not None and not cycles.real_time:
        problems.append(doc.at("/target/chip", "NM806",
                               f"verify: the busiest step needs {cycles.peak_cycles:.0f} cycles, {cycles.peak_latency_s * 1e3:.3g} ms "
                               f"at {cycles.clock_hz / 1e6:g} MHz, longer than the {cycles.dt * 1e3:g} ms step",
                               hint=f"the chip needs at least {cycles.min_clock_hz / 1e6:.3g} MHz for this network"))
    power, note = None, None
    if cycles is not None and catalog is not None:
        power, note = _kernel_power(deployment, catalog, cycles)
        if power is not None and power.budget_w is not None and power.inference_w > power.budget_w:
            problems.append(doc.at("/power/budget", "NM807",
                                   f"verify: with the kernel's counts inference needs {power.inference_w * 1e6:.1f} uW, more than "
                                   f"the {power.budget_w * 1e6:g} uW budget"))
    sweep, sweep_note = None, None
    if chip is not None and deployment.stimulus_spikes is not None:
        from engine.verify.drift import site_sweep

        assert deployment.stimuli is not None
        sweep, sweep_note = site_sweep(contents.network, contents.thermal, spec, deployment.stimulus_spikes,
                                       deployment.stimuli.labels, chip)
    if sweep is not None:
        worst = sweep.worst_band(sweep.compensated)
        spread = worst.compensated_accuracy if sweep.compensated and worst.compensated_accuracy is not None else worst.accuracy
        wanted = DEFAULT_MIN_ACCURACY if floor is None else floor
        if spread.mean < wanted:
            problems.append(doc.at("/environment/temperature", "NM809",
                                   f"verify: over environment.temperature the image classifies {spread.mean:.1%} of the "
                                   f"stimulus windows correctly in its worst band ({worst.low_c:g} C to {worst.high_c:g} C, "
                                   f"{'compensated' if sweep.compensated else 'uncompensated'}; {sweep.chips} chips drawn"
                                   f"{', assumed drift figures' if sweep.model.assumed else ''}), below {wanted:g}",
                                   severity="warning",
                                   hint=("use more bands (target.compensation.bands), " if sweep.compensated else
                                         "compensate (target.temperature_compensation: true), ")
                                   + "narrow the site's range, or choose a digital target"))
    return Verification(agreement, minimum, len(image), tuple(problems), power, note, chip=contents.target.chip,
                        fidelity=fidelity, min_accuracy=floor, temperature=sweep, temperature_note=sweep_note)
