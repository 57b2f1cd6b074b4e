"""Which sites each wave takes: by name, by label, or a share of the fleet picked by
hashing the rollout name with each site name (a site's draw does not depend on the others,
so adding or removing sites never moves the rest between waves)."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping

import attrs

from engine.rollout.model import Rollout, Wave


@attrs.frozen
class SiteInfo:
    site: str
    labels: tuple[tuple[str, str], ...] = ()


@attrs.frozen
class WavePlan:
    wave: Wave
    sites: tuple[str, ...]


@attrs.frozen
class RolloutPlan:
    rollout: Rollout
    waves: tuple[WavePlan, ...]
    unassigned: tuple[str, ...]  # sites no wave selects
    unknown: tuple[tuple[str, str], ...]  # (wave, site name) a wave lists that is no site


def draw(rollout_name: str, site: str) -> float:
    """The site's place in [0, 100) for percentage waves."""
    digest = hashlib.sha256(f"{rollout_name}\0{site}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64 * 100


def _selects(wave: Wave, rollout_name: str, info: SiteInfo) -> bool:
    if wave.sites:
        return info.site in wave.sites
    if wave.labels:
        labels = dict(info.labels)
        return all(labels.get(k) == v for k, v in wave.labels)
    return wave.percent is not None and draw(rollout_name, info.site) < wave.percent


def plan_rollout(rollout: Rollout, sites: Iterable[SiteInfo]) -> RolloutPlan:
    infos = sorted(sites, key=lambda s: s.site)
    taken: set[str] = set()
    waves = []
    for wave in rollout.waves:
        chosen = tuple(i.site for i in infos if i.site not in taken and _selects(wave, rollout.name, i))
        taken.update(chosen)
        waves.append(WavePlan(wave, chosen))
    known = {i.site for i in infos}
    unknown = tuple((w.name, s) for w in rollout.waves for s in w.sites if s not in known)
    return RolloutPlan(rollout, tuple(waves), tuple(i.site for i in infos if i.site not in taken), unknown)


def site_infos(labels_by_site: Mapping[str, Mapping[str, str]]) -> list[SiteInfo]:
    return [SiteInfo(site, tuple(sorted(labels.items()))) for site, labels in sorted(labels_by_site.items())]
