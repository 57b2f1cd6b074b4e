"""`nmspec fit`: every catalog target for one spec, ranked."""

from __future__ import annotations

from typing import TYPE_CHECKING

import attrs

from engine.catalog import Catalog, MissingFigure

if TYPE_CHECKING:
    from engine.netlist import QuantNetwork
    from engine.resolve import Deployment

ORDER = {"fits": 0, "marginal": 1, "refused": 2, "does not fit": 3}


@attrs.frozen
class Candidate:
    chip: str
    family: str
    implementation: str
    verdict: str  # fits | marginal | refused (by the safety policy) | does not fit
    reason: str
    life_years: float | None
    power_note: str
    safety: tuple[str, ...]


def rank_targets(deployment: Deployment, catalog: Catalog) -> list[Candidate]:
    from engine.resolve.fit import check_fit
    from engine.resolve.power import site_power
    from engine.resolve.quantize import QuantizeError, quantize
    from engine.resolve.safety import check_safety

    spec = deployment.spec
    overrides = spec.part_overrides()
    own_chip = spec.target.chip
    by_family: dict[tuple[str, int], QuantNetwork | QuantizeError] = {}
    out = []
    for chip_id in catalog.ids("chips"):
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
            out.append(Candidate(chip_id, family, chip.attribute("implementation"), "does not fit",
                                 "; ".join(d.message for d in network.diagnostics), None, "-", safety))
            continue
        fit = check_fit(network, chip, chip_over)
        life, note = None, ""
        try:
            power = site_power(spec, catalog, deployment.activity, {**overrides, "chips": chip_over}, chip)
            life = power.life_years
            note = f"{power.total_current_a * 1e6:.1f} uA"
        except MissingFigure as exc:
            note = f"unknown: {exc.part.id} {exc.name} not verified"
        verdict = "refused" if safety and fit.verdict != "does not fit" else fit.verdict
        out.append(Candidate(chip_id, family, chip.attribute("implementation"), verdict, fit.reason(), life, note, safety))
    out.sort(key=lambda c: (ORDER[c.verdict], bool(c.safety), -(c.life_years or -1.0), c.chip))
    return out
