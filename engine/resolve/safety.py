"""The safety policy (IEC 61508 / IEC 61511 integrity levels) as a table of named rules.

Each rule looks at the spec (merged, with defaults) and the target part and returns a
problem or None; its code is stable. Rules that depend on how the bundle is built (signed,
verified) are checked again by the build, which knows.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import attrs

from engine.spec.model import SiteSpec

if TYPE_CHECKING:
    from engine.catalog import Part

LEVELS = {"none": 0, "sil1": 1, "sil2": 2, "sil3": 3}


@attrs.frozen
class Rule:
    code: str
    name: str
    applies_from: int  # lowest integrity level the rule applies to (0 = always)
    pointer: str  # the spec value it is about
    check: Callable[[SiteSpec, Part], str | None]
    hint: str


def _digital(spec: SiteSpec, chip: Part) -> str | None:
    kind = chip.attribute("implementation")
    if kind != "digital":
        return (f"{chip.id} is a {kind} target; its results drift with temperature, so it is excluded from "
                f"safety-instrumented use")
    return None


def _vendor_verified(spec: SiteSpec, chip: Part) -> str | None:
    fidelity = chip.fidelity
    if fidelity == "vendor-verified":
        return None
    what = {"stand-in": "a stand-in: its image runs on another family's arithmetic",
            "documented": "documented: no vendor bit-accurate simulator has been compared with its kernel"}
    return (f"{chip.id} is {what.get(fidelity, fidelity)}; safety classes above none require a vendor-verified target")


def _learning_locked(spec: SiteSpec, chip: Part) -> str | None:
    if spec.runtime.learning != "locked":
        return "on-chip learning must be locked: weights may not change in the field"
    return None


def _rollback(spec: SiteSpec, chip: Part) -> str | None:
    update = spec.runtime.update
    if update is None:
        return None
    if update.rollback != "auto":
        return f"rollback is '{update.rollback}'; a failed update must roll back automatically"
    if update.slots < 2:
        return "one model slot leaves nothing to roll back to; use slots: 2"
    return None


def _temperature_compensation(spec: SiteSpec, chip: Part) -> str | None:
    if chip.attribute("implementation") != "digital" and not spec.target.temperature_compensation:
        return (f"{chip.id} is {chip.attribute('implementation')}: its dynamics change with temperature; "
                "the spec must declare temperature compensation")
    return None


def _temperature_range(spec: SiteSpec, chip: Part) -> str | None:
    if chip.attribute("implementation") != "digital" and not spec.environment.temperature:
        return "an analog target needs the site's temperature range (environment.temperature)"
    return None


RULES: tuple[Rule, ...] = (
    Rule("NM501", "digital_target", 1, "/target/chip", _digital,
         "choose a digital target (`nmspec fit SPEC` ranks them; `nmspec targets` lists each target's "
         "implementation); every class from sil1 up refuses a non-digital target, so keeping it takes safety.class: none"),
    Rule("NM508", "vendor_verified_target", 1, "/target/chip", _vendor_verified,
         "choose a vendor-verified target (`nmspec targets` shows each target's fidelity); every class from sil1 up "
         "requires one, so keeping this target takes safety.class: none"),
    Rule("NM502", "learning_locked", 1, "/runtime/learning", _learning_locked, "set runtime.learning: locked"),
    Rule("NM503", "automatic_rollback", 1, "/runtime/update", _rollback, "set runtime.update: {slots: 2, rollback: auto}"),
    Rule("NM506", "temperature_compensation", 0, "/target/chip", _temperature_compensation,
         "set target.temperature_compensation: true (the firmware then switches per-band thresholds, docs/analog.md), "
         "or choose a digital target"),
    Rule("NM507", "temperature_range", 0, "/environment/temperature", _temperature_range,
         "state environment.temperature: [min, max]"),
)
# Checked by the build, which knows whether the image is signed and verified:
SIGNED_IMAGE = ("NM504", "{level} requires a signed image",
                "pass --sign-key FILE or set NMSPEC_SIGNING_KEY (keep the key outside the spec repository)")
VERIFIED_BUILD = ("NM505", "{level} requires bit-exact verification of the image",
                  "build without --no-verify")


@attrs.frozen
class SafetyFinding:
    code: str
    rule: str
    pointer: str
    message: str
    hint: str


def check_safety(spec: SiteSpec, chip: Part) -> tuple[SafetyFinding, ...]:
    level_name = spec.safety.class_
    level = LEVELS.get(level_name, 0)
    findings = []
    for rule in RULES:
        if level < rule.applies_from:
            continue
        problem = rule.check(spec, chip)
        if problem:
            prefix = f"safety.class {level_name}: " if rule.applies_from else ""
            findings.append(SafetyFinding(rule.code, rule.name, rule.pointer, prefix + problem, rule.hint))
    return tuple(findings)


def level(spec: SiteSpec) -> int:
    return LEVELS.get(spec.safety.class_, 0)
