"""`nmspec fit`: every catalog target for one spec, ranked."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING

import attrs

from engine.catalog import Catalog, MissingFigure, Part
from engine.spec.model import SiteSpec

if TYPE_CHECKING:
    from engine.netlist import QuantNetwork
    from engine.resolve import Deployment
    from engine.resolve.power import PowerReport

# A target is a fit only when its power is known to meet the budget and the required life:
# one whose power cannot be computed is "power unknown", never "fits".
ORDER = {"fits": 0, "marginal": 1, "power unknown": 2, "over budget": 3, "refused": 4, "does not fit": 5}


@attrs.frozen
class Candidate:
    chip: str
    family: str
    implementation: str
    fidelity: str  # vendor-verified | documented | stand-in
    verdict: str  # fits | marginal | power unknown | over budget | refused (by the safety policy) | does not fit
    reason: str
    life_years: float | None
    power_note: str
    safety: tuple[str, ...]


def rank_targets(deployment: Deployment, catalog: Catalog,
                 progress: Callable[[int, int], None] | None = None) -> list[Candidate]:
    """`progress(done, total)`, when given, is called after each chip (the CLI draws a bar)."""
    from engine.resolve import binary_spike_excess
    from engine.resolve.fit import check_fit
    from engine.resolve.power import site_power
    from engine.resolve.quantize import QuantizeError, quantize
    from engine.resolve.safety import check_safety

    spec = deployment.spec
    overrides = spec.part_overrides()
    own_chip = spec.target.chip
    by_family: dict[tuple[str, int], QuantNetwork | QuantizeError] = {}
    out = []
    for done, chip_id in enumerate(catalog.ids("chips"), start=1):
        if progress is not None:
            progress(done, len(catalog.ids("chips")))
        chip = catalog.part("chips", chip_id)
        family = chip.attribute("family")
        chip_over = overrides["chips"] if chip_id == own_chip else {}
        bits = int(chip_over.get("weight_bits", chip.figure("weight_bits").value or 8))
        key = (family, bits)
        if key not in by_family:
            try:
                by_family[key] = quantize(deployment.float_model, family, stimuli=deployment.nominal_spikes,
                                          weight_bits=bits).network
            except QuantizeError as exc:
                by_family[key] = exc
        network = by_family[key]
        safety = tuple(f.message for f in check_safety(spec, chip))
        if isinstance(network, QuantizeError):
            out.append(Candidate(chip_id, family, chip.attribute("implementation"), chip.fidelity, "does not fit",
                                 "; ".join(d.message for d in network.diagnostics), None, "-", safety))
            continue
        fit = check_fit(network, chip, chip_over, deployment.float_model.conv_shapes())
        life, note, power_problem = None, "", None
        try:
            power = site_power(spec, catalog, deployment.activity, {**overrides, "chips": chip_over}, chip)
            life = power.life_years
            note = f"{power.total_current_a * 1e6:.1f} uA"
            power_problem = power_shortfall(power)
        except MissingFigure as exc:
            note = f"unknown: {exc.part.id} {exc.name} not verified" + _always_on_bound(chip, chip_over, spec)
        verdict, reason = fit.verdict, fit.reason()
        peak = binary_spike_excess(chip, deployment.stimulus_spikes)
        if peak is not None:
            verdict, reason = "does not fit", f"binary spikes only; the encoder emits up to {peak} events per channel and step"
        if safety and verdict != "does not fit":
            verdict = "refused"
        elif verdict != "does not fit" and power_problem:
            verdict, reason = "over budget", power_problem
        elif verdict != "does not fit" and life is None:
            verdict = "power unknown"
        out.append(Candidate(chip_id, family, chip.attribute("implementation"), chip.fidelity, verdict, reason, life,
                             note, safety))
    # among equals, a target whose kernel a vendor simulator vouches for comes first
    trust = {"vendor-verified": 0, "documented": 1, "stand-in": 2}
    out.sort(key=lambda c: (ORDER[c.verdict], bool(c.safety), trust.get(c.fidelity, 2), -(c.life_years or -1.0), c.chip))
    return out


def power_shortfall(power: PowerReport) -> str | None:
    """Why the node's power rules the target out (budget, then life), or None."""
    problems = []
    if power.budget_w is not None and power.inference_power_w > power.budget_w:
        problems.append(f"inference {power.inference_power_w * 1e6:.4g} uW > {power.budget_w * 1e6:g} uW budget")
    if power.life_years < power.required_years:
        problems.append(f"battery life {power.life_years:.2g} y < {power.required_years:g} y required")
    return "; ".join(problems) or None


def _always_on_bound(chip: Part, overrides: Mapping[str, float] | None, spec: SiteSpec) -> str:
    """What the catalog does say when the duty-cycled figures are missing: a powered chip
    draws at least its idle power, so an always-on node would need that much."""
    idle = (overrides or {}).get("idle_power")
    if idle is None and chip.figure("idle_power").known:
        idle = chip.figure("idle_power").si()
    if idle is None:
        return ""
    limit = spec.power.budget
    over = ""
    if limit is not None and idle > limit:
        over = f", {idle / limit:.3g}x the {_watts(limit)} budget"
    return f" (powered, it draws at least its {_watts(idle)} idle{over})"


def _watts(w: float) -> str:
    for scale, unit in ((1.0, "W"), (1e-3, "mW"), (1e-6, "uW")):
        if w >= scale:
            return f"{w / scale:.4g} {unit}"
    return f"{w * 1e9:.4g} nW"
