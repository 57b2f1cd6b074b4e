"""nmspec rollout plan|status ROLLOUT: the waves of a rollout file, and per wave which gates
pass and whether the rollout proceeds, holds or rolls back.

Observations come from a JSON file or from the telemetry store (--db with --bundles).
Exit codes of `status` (for CI): 0 proceed (start the next wave, or every wave is done),
4 hold (a gate does not pass yet), 5 roll back (a site reported a rollback), 1 invalid
rollout file or observations, 2 usage."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from engine.cli.common import EXIT_OK, EXIT_USAGE, emit_diagnostics
from engine.diagnostics import Diagnostic, StageError

if TYPE_CHECKING:
    from engine.cli.common import Subparsers
    from engine.rollout.gates import RolloutStatus, SiteObservation
    from engine.rollout.select import RolloutPlan

EXIT_HOLD, EXIT_ROLL_BACK = 4, 5


def register(subparsers: Subparsers) -> argparse.ArgumentParser:
    parser = subparsers.add_parser("rollout", help="waves of a rollout and whether the next may start",
                                   description="Cohorts and waves declared in a rollout file beside the specs.")
    sub = parser.add_subparsers(dest="rollout_command", metavar="SUBCOMMAND")
    sub.required = True
    plan = sub.add_parser("plan", help="print the waves and the sites in each",
                          description="Assign every site the rollout covers to its wave.")
    plan.add_argument("rollout", metavar="ROLLOUT", help="rollout file (kind: Rollout)")
    plan.add_argument("--output", "-o", choices=("text", "json"), default="text")
    plan.set_defaults(func=run_plan)
    status = sub.add_parser(
        "status", help="per wave, which gates pass; proceed, hold or roll back",
        description="Evaluate the gates over what each site reported. Exit 0: proceed (start the next wave, or "
                    "all done); 4: hold; 5: roll back; 1: invalid input; 2: usage.")
    status.add_argument("rollout", metavar="ROLLOUT", help="rollout file (kind: Rollout)")
    source = status.add_mutually_exclusive_group(required=True)
    source.add_argument("--observations", metavar="FILE", help="per-site observations (JSON; docs/field-updates.md)")
    source.add_argument("--db", metavar="PATH|URL", help="the telemetry store `nmspec fleet ingest` fills")
    status.add_argument("--bundles", metavar="DIR", help="with --db: the bundles of the release rolling out")
    status.add_argument("--rev", metavar="REV", help="with --db: read --bundles as committed at this git revision")
    status.add_argument("--now", metavar="TIME", help="with --db: judge at this RFC 3339 time (default: the newest "
                                                       "uplink in the store)")
    status.add_argument("--output", "-o", choices=("text", "json"), default="text")
    status.set_defaults(func=run_status)
    return parser


def _plan_document(plan: RolloutPlan) -> dict[str, Any]:
    return {"rollout": plan.rollout.name,
            "waves": [{"name": w.wave.name, "soak_s": w.wave.soak_s, "sites": list(w.sites)} for w in plan.waves],
            "unassigned": list(plan.unassigned)}


def run_plan(args: argparse.Namespace) -> int:
    from engine.rollout.plan import load_plan

    try:
        plan = load_plan(args.rollout)
    except StageError as exc:
        return emit_diagnostics(list(exc.diagnostics), "text")
    if args.output == "json":
        sys.stdout.write(json.dumps(_plan_document(plan), indent=2, sort_keys=True) + "\n")
        return EXIT_OK
    lines = [f"rollout {plan.rollout.name}: {sum(len(w.sites) for w in plan.waves)} sites in {len(plan.waves)} waves"]
    for i, w in enumerate(plan.waves, start=1):
        lines.append(f"wave {i} {w.wave.name}: {len(w.sites)} sites, soak {w.wave.soak_s / 3600:g} h")
        lines += [f"  {site}" for site in w.sites]
    if plan.unassigned:
        lines.append(f"in no wave: {len(plan.unassigned)} sites")
        lines += [f"  {site}" for site in plan.unassigned]
    sys.stdout.write("\n".join(lines) + "\n")
    return EXIT_OK


def status_document(status: RolloutStatus) -> dict[str, Any]:
    return {"decision": status.decision, "reason": status.reason,
            "waves": [{"wave": w.wave, "sites": w.sites, "decision": w.decision, "reason": w.reason,
                       "gates": [{"gate": g.gate, "passed": g.passed,
                                  "failing": [{"site": s, "seen": d} for s, d in g.failing]} for g in w.gates]}
                      for w in status.waves]}


def _from_store(args: argparse.Namespace) -> tuple[dict[str, SiteObservation], float]:
    """(site -> observation, now in seconds) from the telemetry store."""
    import subprocess
    from datetime import datetime

    from engine.rollout.from_telemetry import observations
    from engine.telemetry.desired import DesiredError, desired_at_revision, desired_from_folder
    from engine.telemetry.status import fleet_status
    from engine.telemetry.store import Store, StoreError

    try:
        if args.rev:
            top = subprocess.run(["git", "rev-parse", "--show-toplevel"], capture_output=True, text=True, check=False)
            if top.returncode != 0:
                raise DesiredError("--rev needs a git repository")
            folder = (Path.cwd() / args.bundles).resolve().relative_to(Path(top.stdout.strip()).resolve())
            desired = desired_at_revision(Path(top.stdout.strip()), args.rev, folder.as_posix())
        else:
            desired = desired_from_folder(Path(args.bundles))
        with Store.open(args.db, create=False) as store:
            uplinks = list(store.uplinks())
    except (DesiredError, StoreError, ValueError) as exc:
        raise StageError([Diagnostic("error", "NM941", str(exc))]) from None
    if args.now:
        try:
            moment = datetime.fromisoformat(args.now)
            if moment.tzinfo is None:
                raise ValueError("no time zone")
            now_ms = int(moment.timestamp() * 1000)
        except ValueError:
            raise StageError([Diagnostic("error", "NM941", f"--now {args.now}: not an RFC 3339 time",
                                         hint="for example 2027-01-31T12:00:00Z")]) from None
    else:
        now_ms = max((u.received_ms for u in uplinks), default=0)
    fleet = fleet_status(desired, uplinks, now_ms)
    return observations(desired, uplinks, fleet), now_ms / 1000


def run_status(args: argparse.Namespace) -> int:
    from engine.rollout.gates import HOLD, ROLL_BACK, evaluate
    from engine.rollout.observations import load_observations
    from engine.rollout.plan import load_plan

    try:
        plan = load_plan(args.rollout)
        if args.observations:
            observations, now = load_observations(args.observations)
        else:
            if not args.bundles:
                sys.stderr.write("nmspec rollout status: --db needs --bundles (the release rolling out)\n")
                return EXIT_USAGE
            observations, now = _from_store(args)
    except StageError as exc:
        return emit_diagnostics(list(exc.diagnostics), "text")
    status = evaluate(plan, observations, now)
    if args.output == "json":
        sys.stdout.write(json.dumps(status_document(status), indent=2, sort_keys=True) + "\n")
    else:
        lines = []
        for i, w in enumerate(status.waves, start=1):
            lines.append(f"wave {i} {w.wave} ({w.sites} sites): {w.decision}")
            for g in w.gates:
                lines.append(f"  {'pass' if g.passed else 'FAIL'}  {g.gate}"
                             + (f"  {'; '.join((s + ': ' if s else '') + d for s, d in g.failing[:5])}"
                                if g.failing else ""))
            if w.decision not in ("done",):
                lines.append(f"  {w.reason}")
        lines.append(f"{status.decision}: {status.reason}")
        sys.stdout.write("\n".join(lines) + "\n")
    return {HOLD: EXIT_HOLD, ROLL_BACK: EXIT_ROLL_BACK}.get(status.decision, EXIT_OK)
