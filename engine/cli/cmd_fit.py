"""nmspec fit SPEC: the spec's fit, power table and safety; then every target ranked."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, TextIO

import attrs

from engine.cli.common import add_catalog_option, emit_diagnostics, load_and_validate
from engine.cli.progress import progress_bar
from engine.diagnostics import Diagnostic, StageError

if TYPE_CHECKING:
    from engine.cli.common import Subparsers
    from engine.pipeline import Candidate, Catalog, Deployment, SpecDocument

# A battery life beyond this is arithmetic on a small load, not a cell that lasts that long.
LONG_LIFE_YEARS = 20.0


def register(subparsers: Subparsers) -> argparse.ArgumentParser:
    parser = subparsers.add_parser("fit", help="rank every catalog target for a spec",
                                   description="Check the spec's network against its target's limits, show the power "
                                               "table and battery life, and rank every catalog target for the same spec.")
    parser.add_argument("spec", metavar="SPEC")
    parser.add_argument("--output", "-o", choices=("text", "json"), default="text")
    parser.add_argument("--measured", metavar="STATUS.json",
                        help="the site's average current measured in the field (`nmspec fleet status -o json`) "
                             "in place of the power model's, with its provenance")
    add_catalog_option(parser)
    parser.set_defaults(func=run)
    return parser


def run(args: argparse.Namespace) -> int:
    from engine.pipeline import rank_targets, resolve_site, temperature_over_range

    doc, catalog, diagnostics = load_and_validate(args.spec, args)
    if doc is None or catalog is None:  # a document comes with its catalog
        return emit_diagnostics(diagnostics, "text")
    status = 0
    deployment: Deployment | None
    report: dict[str, Any] | None
    try:
        deployment = resolve_site(doc, catalog)
        report = deployment.report()
    except StageError as exc:
        # the ranking is most useful exactly when the spec's own target does not work, and the
        # power table when the budget or the battery life is what failed
        deployment, report, problems = _partial(doc, catalog, list(exc.diagnostics))
        status = emit_diagnostics([_here(d) for d in problems], "text")
    if deployment is None:
        return status
    measured = None
    if args.measured:
        measured, problem = _measured(args.measured, deployment)
        if problem is not None:
            return emit_diagnostics([problem], "text")
    with progress_bar("ranking targets", enabled=args.output == "text") as advance:
        ranking = rank_targets(deployment, catalog, advance)
    temperature = None
    if report is not None:
        try:
            temperature = temperature_over_range(deployment, catalog)
        except StageError as exc:
            status = max(status, emit_diagnostics(list(exc.diagnostics), "text"))
    if args.output == "json":
        out = {"spec": report, "ranking": [attrs.asdict(c) for c in ranking]}
        if measured is not None:
            out["measured"] = measured
        if temperature is not None:
            out["temperature"] = temperature
        sys.stdout.write(json.dumps(out, indent=2, sort_keys=True) + "\n")
        return status
    if report is not None:
        _print_spec(deployment, report)
    if temperature is not None:
        from engine.cli.temperature import temperature_lines

        sys.stdout.write("\n" + "".join(line + "\n" for line in temperature_lines(temperature)))
    if measured is not None:
        sys.stdout.write(f"\nmeasured in the field ({measured['provenance']['source']}, site "
                         f"{measured['provenance']['site']}, {measured['provenance']['readings']} gauge readings, "
                         f"status at {measured['provenance']['at']}): {measured['load_uA']:.3f} uA against "
                         f"{measured['model_uA']:.3f} uA modelled ({measured['ratio'] - 1:+.0%}); battery life "
                         f"{measured['life_years']:.1f} years at the measured draw (model "
                         f"{measured['model_life_years']:.1f})\n")
    _print_ranking(ranking, deployment.spec.target.chip)
    return status


def _measured(path: str, deployment: Deployment) -> tuple[dict[str, Any] | None, Diagnostic | None]:
    """The measured load as an override of the modelled one, or the diagnostic why not."""
    from engine.telemetry.measured import MeasuredError, life_with, measured_load

    power = deployment.power
    if power is None:
        return None, Diagnostic("error", "NM965", "the spec has no power model to compare a measurement with", file=path)
    try:
        with open(path, encoding="utf-8") as handle:
            status = json.load(handle)
        load = measured_load(status, deployment.spec.metadata.site, path)
    except (OSError, ValueError) as exc:
        hint = "write it with `nmspec fleet status -o json > STATUS.json`"
        return None, Diagnostic("error", "NM965", str(exc) if isinstance(exc, MeasuredError) else
                                f"cannot read the status file: {exc}", file=path, hint=hint)
    return {"load_uA": round(load.current_a * 1e6, 4), "model_uA": round(power.total_current_a * 1e6, 4),
            "ratio": round(load.current_a / power.total_current_a, 4) if power.total_current_a else None,
            "life_years": round(life_with(power, load), 3), "model_life_years": round(power.life_years, 3),
            "provenance": load.provenance()}, None


def _partial(doc: SpecDocument, catalog: Catalog, problems: list[Diagnostic]
             ) -> tuple[Deployment | None, dict[str, Any] | None, list[Diagnostic]]:
    """A deployment without the verdicts that failed, so the ranking can still be made
    (None when resolving stops before there is anything to rank), and every problem once."""
    from engine.pipeline import resolve_partial

    try:
        deployment = resolve_partial(doc, catalog)
    except StageError as exc:
        return None, None, problems + list(exc.diagnostics)
    return deployment, deployment.report(), problems


# Hints that send the user to `nmspec fit`, as said inside `nmspec fit`.
_HERE = {"NM410": "the ranking below lists every catalog target for this spec; choose one whose verdict is fits",
         "NM401": "the power table below shows what drains the cell; lengthen runtime.schedule.interval or use a "
                  "larger cell"}


def _here(diagnostic: Diagnostic) -> Diagnostic:
    if diagnostic.code in _HERE:
        return attrs.evolve(diagnostic, hint=_HERE[diagnostic.code])
    if diagnostic.code == "NM403" and diagnostic.hint:
        return attrs.evolve(diagnostic, hint=diagnostic.hint.replace("`nmspec fit SPEC` prints the power table",
                                                                     "the power table below shows each consumer"))
    return diagnostic


def _print_spec(deployment: Deployment, report: Mapping[str, Any]) -> None:
    out = sys.stdout
    spec = deployment.spec
    fit = report["fit"]
    out.write(f"target {spec.target.chip} ({report['fidelity']}): {fit['verdict']} ({fit['reason']})\n")
    for limit in fit["limits"]:
        allowed = "?" if limit["allowed"] is None else limit["allowed"]
        out.write(f"  {limit['name']:<34} {limit['used']:>8} of {allowed}\n")
    power = report.get("power")
    if power:
        _print_power(out, spec.power.battery.cell, power)
    safety = report["safety"]
    out.write(f"\nsafety class {safety['class']}: " + ("no findings\n" if not safety["findings"] else
                                                       "; ".join(f["message"] for f in safety["findings"]) + "\n"))


def _print_power(out: TextIO, cell: str, power: Mapping[str, Any]) -> None:
    """Every figure both as the current drawn from the cell and as power at its nominal
    voltage (uW = uA x V), the rows adding up to the total, and what the budget covers."""
    volts = power["voltage_V"]
    out.write(f"\npower on {cell}, every current drawn at its nominal {volts:g} V "
              f"(uW = uA x {volts:g} V):\n")
    out.write(f"  {'consumer':<15} {'part':<10} {'uA':>9} {'uW':>9} {'share':>6}\n")
    for row in power["consumers"]:
        uw = row.get("uW", row["uA"] * volts)
        out.write(f"  {row['name']:<15} {row['part']:<10} {row['uA']:>9.3f} {uw:>9.3f} {row['share']:>6.1%}\n")
    out.write(f"  {'total':<26} {power['total_uA']:>9.3f} {power['total_uW']:>9.3f}\n")
    if "load_uA" in power:
        out.write(f"  (consumers {power['load_uA']:.3f} uA = {power['load_uW']:.1f} uW, plus the cell's self-discharge "
                  f"{power['self_discharge_uA']:.3f} uA)\n")
    if power["budget_uW"] is None:
        out.write(f"  inference {power['inference_uW']:.1f} uW (no power.budget set)\n")
    else:
        verdict = "within" if power["inference_uW"] <= power["budget_uW"] else "OVER"
        out.write(f"  budget {power['budget_uW']:g} uW for {power.get('budget_covers', 'inference')}: "
                  f"{power['inference_uW']:.1f} uW, {verdict}\n")
    caveat = ("; past 20 years the cell's shelf life and temperature bound it, not this load (docs/spec.md)"
              if power["life_years"] > LONG_LIFE_YEARS else "")
    out.write(f"  battery life {power['life_years']:.1f} years (required {power['required_years']:g}): "
              f"{power['usable_Ah']:g} Ah usable / {power['total_uA']:.3f} uA{caveat}\n")
    if power.get("life_note"):
        out.write(f"  battery life {power['life_note']}\n")
    if power.get("temperature"):
        out.write(f"  temperature: {power['temperature']['derating']}\n")

def _print_ranking(ranking: Sequence[Candidate], own: str) -> None:
    out = sys.stdout
    out.write("\ntargets for this spec, best first:\n")
    out.write(f"  {'chip':<13} {'family':<6} {'kind':<12} {'fidelity':<15} {'verdict':<13} {'life':>7}  reason "
              "(* marks the spec's own target.chip)\n")
    for c in ranking:
        life = "?" if c.life_years is None else f"{c.life_years:.1f} y"
        reason = _safety_reason(c.safety) if c.verdict == "refused" else c.reason
        if c.life_years is None and c.power_note:
            reason += f"; power {c.power_note}"
        mark = "*" if c.chip == own else " "
        out.write(f"{mark} {c.chip:<13} {c.family:<6} {c.implementation:<12} {c.fidelity:<15} {c.verdict:<13} {life:>7}  "
                  f"{reason}\n")


def _safety_reason(findings: Sequence[str]) -> str:
    """The first safety finding, and how many more: several rules refuse a mixed-signal
    target for the same cause, and the ranking needs the cause once (fit on that target
    lists every finding)."""
    if not findings:
        return ""
    more = len(findings) - 1
    return findings[0] + (f" (and {more} more safety finding{'s' if more > 1 else ''})" if more else "")
