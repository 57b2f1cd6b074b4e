"""What changes for the device between two bundles: image sections, network, firmware
files, verification, and whatever the resolve report says about fit, power and safety."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import numpy as np

from engine.image import parse_image


def _sections(image: bytes) -> dict[tuple[str, int], tuple[int, int]]:
    parsed = parse_image(image)
    return {(s.type_name, s.instance): (s.size, s.crc32) for s in parsed.sections}


def _network_changes(old: bytes, new: bytes) -> list[str]:
    a, b = parse_image(old).contents.network, parse_image(new).contents.network
    out = []
    if (a.family, a.n_inputs) != (b.family, b.n_inputs):
        out.append(f"network: {a.family} with {a.n_inputs} inputs -> {b.family} with {b.n_inputs} inputs")
    sizes_a = {p.name: p.size for p in a.populations}
    sizes_b = {p.name: p.size for p in b.populations}
    if sizes_a != sizes_b:
        out.append(f"populations: {sizes_a} -> {sizes_b}")
    if a.n_synapses != b.n_synapses:
        out.append(f"synapses: {a.n_synapses} -> {b.n_synapses}")
    for pop in a.populations:
        if pop.name in sizes_b and sizes_b[pop.name] == pop.size:
            other = b.population(pop.name)
            for key in sorted(set(pop.params) & set(other.params)):
                before, after = np.asarray(pop.params[key]), np.asarray(other.params[key])
                changed = int(np.sum(before != after)) if before.shape == after.shape else pop.size
                if changed:
                    out.append(f"{pop.name}.{key}: {changed} of {pop.size} neurons changed")
    pairs = {(p.src, p.dst, p.synapse): p for p in a.projections}
    for proj in b.projections:
        before = pairs.get((proj.src, proj.dst, proj.synapse))
        if before is not None and before.weights.n_src == proj.weights.n_src and before.weights.n_dst == proj.weights.n_dst:
            delta = _changed_weights(before.weights, proj.weights)
            if delta:
                out.append(f"weights {proj.src} -> {proj.dst}: {delta} changed")
            if before.shift != proj.shift:
                out.append(f"weights {proj.src} -> {proj.dst}: shift {before.shift} -> {proj.shift}")
    if a.placement is not None and b.placement is not None and a.placement.n_cores != b.placement.n_cores:
        out.append(f"cores: {a.placement.n_cores} -> {b.placement.n_cores}")
    return out


def _changed_weights(a, b) -> int:
    """Synapses whose weight differs (absent counts as zero), without a dense matrix: an
    image's input count is not backed by stored bytes, so n_src x n_dst may be huge."""
    def flat(w):
        rows = np.repeat(np.arange(w.n_src, dtype=np.int64), np.diff(w.indptr))
        return rows * w.n_dst + w.indices.astype(np.int64), w.values.astype(np.int64)

    (ka, va), (kb, vb) = flat(a), flat(b)
    keys = np.union1d(ka, kb)
    dense_a, dense_b = np.zeros(keys.size, np.int64), np.zeros(keys.size, np.int64)
    dense_a[np.searchsorted(keys, ka)] = va
    dense_b[np.searchsorted(keys, kb)] = vb
    return int(np.sum(dense_a != dense_b))


def _flatten(value: Any, prefix: str = "") -> dict[str, Any]:
    """Dotted paths to leaves; a list of records that each carry a distinct name (power
    consumers, fit limits) is a mapping by that name, so a plan says which one changed."""
    if isinstance(value, list) and value and all(isinstance(v, Mapping) for v in value):
        names = [v.get("name", v.get("id")) for v in value]
        if all(isinstance(n, str) for n in names) and len(set(names)) == len(names):
            value = {n: {k: v for k, v in item.items() if k not in ("name", "id")} for n, item in zip(names, value)}
    if isinstance(value, Mapping):
        out = {}
        for key, sub in value.items():
            out.update(_flatten(sub, f"{prefix}.{key}" if prefix else str(key)))
        return out
    return {prefix: value}


REPORT_KEYS = ("site", "chip", "family", "network", "verification.agreement", "verification.detection_rate",
               "verification.false_alarm_rate", "resolve", "mapping", "sanity_bounds")


def diff_bundles(old: Mapping[str, bytes], new: Mapping[str, bytes]) -> dict[str, list[str]]:
    """Plan-like summary: {"image": [...], "network": [...], "firmware": [...], "report": [...]}."""
    plan: dict[str, list[str]] = {"image": [], "network": [], "firmware": [], "report": []}
    if old.get("model.nmc") != new.get("model.nmc"):
        a, b = _sections(old["model.nmc"]), _sections(new["model.nmc"])
        for key in sorted(set(a) | set(b)):
            name = f"{key[0]}[{key[1]}]"
            if key not in a:
                plan["image"].append(f"+ section {name} ({b[key][0]} bytes)")
            elif key not in b:
                plan["image"].append(f"- section {name}")
            elif a[key] != b[key]:
                plan["image"].append(f"~ section {name} ({a[key][0]} -> {b[key][0]} bytes)")
        plan["image"].append(f"~ model.nmc {len(old['model.nmc'])} -> {len(new['model.nmc'])} bytes")
        plan["network"] = _network_changes(old["model.nmc"], new["model.nmc"])
    firmware = sorted(k for k in set(old) | set(new) if k.startswith("firmware/"))
    for name in firmware:
        if name not in old:
            plan["firmware"].append(f"+ {name}")
        elif name not in new:
            plan["firmware"].append(f"- {name}")
        elif old[name] != new[name]:
            plan["firmware"].append(f"~ {name}")
    ra = _flatten(json.loads(old.get("report.json", b"{}")))
    rb = _flatten(json.loads(new.get("report.json", b"{}")))
    for key in sorted(set(ra) | set(rb)):
        if key.startswith(REPORT_KEYS) and ra.get(key) != rb.get(key):
            plan["report"].append(f"~ {key}: {ra.get(key)!r} -> {rb.get(key)!r}")
    return plan


def render_plan(plan: Mapping[str, list[str]], old: str, new: str) -> str:
    lines = [f"--- {old}", f"+++ {new}"]
    changes = 0
    for section in ("image", "network", "firmware", "report"):
        if plan.get(section):
            lines.append(f"{section}:")
            lines += [f"  {item}" for item in plan[section]]
            changes += len(plan[section])
    lines.append("no change for the device" if not changes else f"{changes} change{'s' if changes != 1 else ''}")
    return "\n".join(lines) + "\n"
