"""nmspec fit SPEC: the spec's fit, power table and safety; then every target ranked."""

from __future__ import annotations

import json
import sys

import attrs

from engine.cli.common import add_catalog_option, emit_diagnostics, load_and_validate
from engine.diagnostics import StageError


def register(subparsers):
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


def run(args) -> int:
    from engine.pipeline import rank_targets, resolve_site

    doc, catalog, diagnostics = load_and_validate(args.spec, args)
    if doc is None:
        return emit_diagnostics(diagnostics, "text")
    status = 0
    try:
        deployment = resolve_site(doc, catalog)
        report = deployment.report()
    except StageError as exc:
        # the ranking is most useful exactly when the spec's own target does not work
        deployment, report, problems = _partial(doc, catalog, list(exc.diagnostics))
        status = emit_diagnostics(problems, "text")
    if deployment is None:
        return status
    measured = None
    if args.measured:
        measured, problem = _measured(args.measured, deployment)
        if problem is not None:
            return emit_diagnostics([problem], "text")
    ranking = rank_targets(deployment, catalog)
    if args.output == "json":
        out = {"spec": report, "ranking": [attrs.asdict(c) for c in ranking]}
        if measured is not None:
            out["measured"] = measured
        sys.stdout.write(json.dumps(out, indent=2, sort_keys=True) + "\n")
        return status
    if report is not None:
        _print_spec(deployment, report)
    if measured is not None:
        sys.stdout.write(f"\nmeasured in the field ({measured['provenance']['source']}, site "
                         f"{measured['provenance']['site']}, {measured['provenance']['readings']} gauge readings, "
                         f"status at {measured['provenance']['at']}): {measured['load_uA']:.3f} uA against "
                         f"{measured['model_uA']:.3f} uA modelled ({measured['ratio'] - 1:+.0%}); battery life "
                         f"{measured['life_years']:.1f} years at the measured draw (model "
                         f"{measured['model_life_years']:.1f})\n")
    _print_ranking(ranking, deployment.spec.target.chip)
    return status


def _measured(path: str, deployment):
    """The measured load as an override of the modelled one, or the diagnostic why not."""
    from engine.diagnostics import Diagnostic
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


def _partial(doc, catalog, problems):
    """A deployment without the verdicts that failed, so the ranking can still be made
    (None when resolving stops before there is anything to rank), and every problem once."""
    from engine.pipeline import resolve_partial

    try:
        return resolve_partial(doc, catalog), None, problems
    except StageError as exc:
        return None, None, problems + list(exc.diagnostics)


def _print_spec(deployment, report) -> None:
    out = sys.stdout
    spec = deployment.spec
    fit = report["fit"]
    out.write(f"target {spec.target.chip} ({report['fidelity']}): {fit['verdict']} ({fit['reason']})\n")
    for limit in fit["limits"]:
        allowed = "?" if limit["allowed"] is None else limit["allowed"]
        out.write(f"  {limit['name']:<34} {limit['used']:>8} of {allowed}\n")
    power = report.get("power")
    if power:
        out.write(f"\npower on {spec.power.battery.cell} at {power['voltage_V']:g} V "
                  f"({power['usable_Ah']:g} Ah usable):\n")
        out.write(f"  {'consumer':<15} {'part':<10} {'uA':>9} {'share':>6}\n")
        for row in power["consumers"]:
            out.write(f"  {row['name']:<15} {row['part']:<10} {row['uA']:>9.3f} {row['share']:>6.1%}\n")
        out.write(f"  {'total':<26} {power['total_uA']:>9.3f}\n")
        budget = "" if power["budget_uW"] is None else f" (budget {power['budget_uW']:g} uW)"
        out.write(f"  inference {power['inference_uW']:.1f} uW{budget}; battery life {power['life_years']:.1f} years "
                  f"(required {power['required_years']:g})\n")
        if power.get("life_note"):
            out.write(f"  battery life {power['life_note']}\n")
    safety = report["safety"]
    out.write(f"\nsafety class {safety['class']}: " + ("no findings\n" if not safety["findings"] else
                                                       "; ".join(f["message"] for f in safety["findings"]) + "\n"))


def _print_ranking(ranking, own: str) -> None:
    out = sys.stdout
    out.write("\ntargets for this spec, best first:\n")
    out.write(f"  {'chip':<13} {'family':<6} {'kind':<12} {'fidelity':<15} {'verdict':<13} {'life':>7}  reason\n")
    for c in ranking:
        life = "?" if c.life_years is None else f"{c.life_years:.1f} y"
        reason = "; ".join(c.safety) if c.verdict == "refused" else c.reason
        if c.life_years is None and c.power_note:
            reason += f"; power {c.power_note}"
        mark = "*" if c.chip == own else " "
        out.write(f"{mark} {c.chip:<13} {c.family:<6} {c.implementation:<12} {c.fidelity:<15} {c.verdict:<13} {life:>7}  "
                  f"{reason}\n")
