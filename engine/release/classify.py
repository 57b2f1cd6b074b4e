"""Per site, between the deployed release and the new one: nothing, configuration only,
model only, or firmware; with the reasons. Pure: bundle files in, frozen data out."""

from __future__ import annotations

from collections.abc import Mapping

import attrs

from engine.release.compat import generated_body, model_update_blockers
from engine.release.facts import CONFIG_DEFINES, BundleFacts, bundle_facts

KINDS = ("nothing", "configuration", "model", "firmware", "removed")


@attrs.frozen
class SiteChange:
    site: str
    kind: str  # one of KINDS
    reasons: tuple[str, ...]
    image_bytes: int  # the new image's size (0 for a removed site)
    image_sha256: str

    @property
    def full_image_path(self) -> bool:
        """A firmware update goes through the full firmware image path, not a model slot."""
        return self.kind == "firmware"


@attrs.frozen
class Release:
    old: str
    new: str
    sites: tuple[SiteChange, ...]

    def count(self, kind: str) -> int:
        return sum(1 for s in self.sites if s.kind == kind)


def _config_lines(facts: BundleFacts) -> dict[str, str]:
    return {name: str(facts.define_int(name)) if facts.define_int(name) is not None else facts.defines[name]
            for name in CONFIG_DEFINES if name in facts.defines}


def _nonconfig_config(facts: BundleFacts) -> bytes:
    """nmc_config.h without the configuration defines (and the banner, which names the spec)."""
    body = generated_body(facts.firmware.get("nmc_config.h", b"")).decode()
    return "\n".join(line for line in body.splitlines()
                     if not any(line.startswith(f"#define {name} ") for name in CONFIG_DEFINES)).encode()


def _firmware_differs(old: BundleFacts, new: BundleFacts) -> list[str]:
    """Firmware files that differ beyond the configuration defines and the banners."""
    names = sorted(set(old.firmware) | set(new.firmware))
    out = []
    for name in names:
        if name == "nmc_config.h":
            if _nonconfig_config(old) != _nonconfig_config(new):
                out.append(name)
        elif generated_body(old.firmware.get(name, b"")) != generated_body(new.firmware.get(name, b"")):
            out.append(name)
    return out


def classify_site(old_files: Mapping[str, bytes] | None, new_files: Mapping[str, bytes] | None) -> SiteChange:
    import hashlib

    if new_files is None:
        facts = bundle_facts(old_files or {})
        return SiteChange(facts.site, "removed", ("not in the new release",), 0, "")
    new = bundle_facts(new_files)
    sha = hashlib.sha256(new.image).hexdigest()
    if old_files is None:
        return SiteChange(new.site, "firmware", ("not in the deployed release: a first install",), len(new.image), sha)
    old = bundle_facts(old_files)
    a, b = _config_lines(old), _config_lines(new)
    config = [f"{name} {a.get(name)} -> {b.get(name)}" for name in sorted(set(a) | set(b)) if a.get(name) != b.get(name)]
    firmware = _firmware_differs(old, new)
    if old.image == new.image:
        if firmware:
            return SiteChange(new.site, "firmware", (f"firmware sources changed: {', '.join(firmware)}",) + tuple(config),
                              len(new.image), sha)
        if config:
            return SiteChange(new.site, "configuration", tuple(config), len(new.image), sha)
        return SiteChange(new.site, "nothing", ("the image and the firmware are unchanged",), len(new.image), sha)
    blockers = model_update_blockers(old, new)
    if blockers:
        return SiteChange(new.site, "firmware", blockers + tuple(config), len(new.image), sha)
    return SiteChange(new.site, "model", ((f"image {old.image_digest()[:12]} -> {sha[:12]}: the running firmware "
                                          "accepts it"),) + tuple(config), len(new.image), sha)


def classify(old: Mapping[str, Mapping[str, bytes]], new: Mapping[str, Mapping[str, bytes]], old_label: str,
             new_label: str) -> Release:
    """`old`, `new`: site -> bundle files."""
    sites = tuple(classify_site(old.get(site), new.get(site)) for site in sorted(set(old) | set(new)))
    return Release(old_label, new_label, sites)
