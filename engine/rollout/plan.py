"""A rollout file's plan: every site spec under the file's sites folder (its own folder by
default), by metadata.site and labels, assigned to the waves that select it."""

from __future__ import annotations

from pathlib import Path

from engine.diagnostics import Diagnostic, StageError
from engine.rollout.model import load_rollout
from engine.rollout.select import RolloutPlan, plan_rollout, site_infos


def site_labels(folder: Path) -> dict[str, dict[str, str]]:
    """metadata.site -> metadata.labels of every site spec under `folder`; raises StageError."""
    from engine.fleet import site_specs
    from engine.spec.document import load_spec

    specs, problems = site_specs([str(folder)])
    if problems:
        raise StageError(problems)
    out: dict[str, dict[str, str]] = {}
    for spec in specs:
        doc, diagnostics = load_spec(spec)
        if doc is None:
            raise StageError(diagnostics)
        meta = doc.data.get("metadata") or {}
        if isinstance(meta.get("site"), str):
            out[meta["site"]] = {str(k): str(v) for k, v in (meta.get("labels") or {}).items()}
    return out


def load_plan(path: str) -> RolloutPlan:
    """The rollout file at `path`, its waves filled with the sites they select; raises
    StageError (NM932) when the sites folder is missing or a wave names no site."""
    rollout = load_rollout(path)
    folder = rollout.sites_folder or Path(path).parent
    if not folder.is_dir():
        raise StageError([Diagnostic("error", "NM932", f"sites: no such folder {folder}", file=path)])
    plan = plan_rollout(rollout, site_infos(site_labels(folder)))
    problems = [Diagnostic("error", "NM932", f"wave {wave}: no site is named {site}", file=path,
                           hint="names are metadata.site of the specs under sites")
                for wave, site in plan.unknown]
    if problems:
        raise StageError(problems)
    return plan
