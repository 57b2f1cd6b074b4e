"""What changes for the device between two bundles: image sections, network, firmware
files, verification, and whatever the resolve report says about fit, power and safety."""

from __future__ import annotations

import difflib
import json
import re
from collections.abc import Mapping
from typing import Any

import numpy as np

from engine.image import parse_image
from engine.netlist import Weights


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
        was = pairs.get((proj.src, proj.dst, proj.synapse))
        if was is not None and was.weights.n_src == proj.weights.n_src and was.weights.n_dst == proj.weights.n_dst:
            delta = _changed_weights(was.weights, proj.weights)
            if delta:
                out.append(f"weights {proj.src} -> {proj.dst}: {delta} changed")
            if was.shift != proj.shift:
                out.append(f"weights {proj.src} -> {proj.dst}: shift {was.shift} -> {proj.shift}")
    if a.placement is not None and b.placement is not None and a.placement.n_cores != b.placement.n_cores:
        out.append(f"cores: {a.placement.n_cores} -> {b.placement.n_cores}")
    return out


def _changed_weights(a: Weights, b: Weights) -> int:
    """Synapses whose weight differs (absent counts as zero), without a dense matrix: an
    image's input count is not backed by stored bytes, so n_src x n_dst may be huge."""
    def flat(w: Weights) -> tuple[np.ndarray, np.ndarray]:
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
# Image sections that say what the image is and where it came from, not what it computes.
METADATA_SECTIONS = ("META",)
# Firmware constants that name the build, not its behaviour.
BUILD_NAMES = ("NM_BUILD_TAG", "NM_SPEC_HASH")
_DEFINE = re.compile(r"^\s*#\s*define\s+(\w+)\s+(.*?)\s*$")


def _metadata_line(name: str, line: str) -> bool:
    """A firmware line that names the build (comments, the spec hash and the build tag
    derived from it) rather than telling the device what to do."""
    text = line.strip()
    if not text or any(name in text for name in BUILD_NAMES):
        return True
    if name.endswith(("Makefile", ".mk")):
        return text.startswith("#")
    return text.startswith(("/*", "*", "//"))


def _firmware_changes(name: str, old: bytes, new: bytes) -> list[str]:
    """What a firmware file's change does: '#define NAME old -> new' for a changed constant,
    else the changed code lines; [] when only comments and the build tag changed."""
    try:
        a, b = old.decode().splitlines(), new.decode().splitlines()
    except UnicodeDecodeError:
        return [f"~ {name} (binary)"]
    removed: list[str] = []
    added: list[str] = []
    for line in difflib.unified_diff(a, b, lineterm="", n=0):
        if line.startswith(("---", "+++", "@@")):
            continue
        if not _metadata_line(name, line[1:]):
            (removed if line[0] == "-" else added).append(line[1:])
    before = {m.group(1): m.group(2) for m in map(_DEFINE.match, removed) if m}
    after = {m.group(1): m.group(2) for m in map(_DEFINE.match, added) if m}
    out = [f"~ {name}: {key} {before[key]} -> {after[key]}" for key in sorted(set(before) & set(after))]
    paired = set(before) & set(after)
    rest_old = [line for line in removed if not ((m := _DEFINE.match(line)) and m.group(1) in paired)]
    rest_new = [line for line in added if not ((m := _DEFINE.match(line)) and m.group(1) in paired)]
    out += [f"- {name}: {line.strip()}" for line in rest_old] + [f"+ {name}: {line.strip()}" for line in rest_new]
    return out


def diff_bundles(old: Mapping[str, bytes], new: Mapping[str, bytes]) -> dict[str, list[str]]:
    """Plan-like summary, what changes the device first: {"image", "network", "firmware"}
    change what the device computes or does; "report" holds resolve's estimates and the
    verification figures; "metadata" what only names the build (spec hash, paths, comments)."""
    plan: dict[str, list[str]] = {"image": [], "network": [], "firmware": [], "report": [], "metadata": []}
    if old.get("model.nmc") != new.get("model.nmc"):
        a, b = _sections(old["model.nmc"]), _sections(new["model.nmc"])
        for key in sorted(set(a) | set(b)):
            name = f"{key[0]}[{key[1]}]"
            where = plan["metadata"] if key[0] in METADATA_SECTIONS else plan["image"]
            if key not in a:
                where.append(f"+ section {name} ({b[key][0]} bytes)")
            elif key not in b:
                where.append(f"- section {name}")
            elif a[key] != b[key]:
                where.append(f"~ section {name} ({a[key][0]} -> {b[key][0]} bytes)")
        if plan["image"]:
            plan["image"].append(f"~ model.nmc {len(old['model.nmc'])} -> {len(new['model.nmc'])} bytes")
        plan["network"] = _network_changes(old["model.nmc"], new["model.nmc"])
    firmware = sorted(k for k in set(old) | set(new) if k.startswith("firmware/"))
    comments_only = []
    for name in firmware:
        if name not in old:
            plan["firmware"].append(f"+ {name}")
        elif name not in new:
            plan["firmware"].append(f"- {name}")
        elif old[name] != new[name]:
            changes = _firmware_changes(name, old[name], new[name])
            if changes:
                plan["firmware"] += changes
            else:
                comments_only.append(name)
    if comments_only:
        plan["metadata"].append(f"~ {len(comments_only)} firmware file{'s' if len(comments_only) != 1 else ''}: "
                                "comments and build tag only (the spec's hash and path)")
    ra = _flatten(json.loads(old.get("report.json", b"{}")))
    rb = _flatten(json.loads(new.get("report.json", b"{}")))
    for path in sorted(set(ra) | set(rb)):
        if path.startswith(REPORT_KEYS) and ra.get(path) != rb.get(path):
            plan["report"].append(f"~ {path}: {ra.get(path)!r} -> {rb.get(path)!r}")
    return plan


DEVICE_SECTIONS = ("image", "network", "firmware")


def device_changes(plan: Mapping[str, list[str]]) -> list[str]:
    return [item for section in DEVICE_SECTIONS for item in plan.get(section, [])]


def render_plan(plan: Mapping[str, list[str]], old: str, new: str) -> str:
    lines = [f"--- {old}", f"+++ {new}"]
    device = device_changes(plan)
    if device:
        lines.append("changes the device:")
        for section in DEVICE_SECTIONS:
            if plan.get(section):
                lines.append(f"  {section}:")
                lines += [f"    {item}" for item in plan[section]]
    if plan.get("report"):
        lines.append("estimates and verification (report.json):")
        lines += [f"  {item}" for item in plan["report"]]
    if plan.get("metadata"):
        lines.append("metadata only (the device does not change):")
        lines += [f"  {item}" for item in plan["metadata"]]
    counts = [f"{len(device)} change{'s' if len(device) != 1 else ''} for the device" if device
              else "no change for the device"]
    if plan.get("report"):
        counts.append(f"{len(plan['report'])} in the estimates")
    if plan.get("metadata"):
        counts.append("metadata")
    lines.append("; ".join(counts))
    return "\n".join(lines) + "\n"
