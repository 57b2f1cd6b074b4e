"""write_image: ImageContents -> `.nmc` bytes (deterministic; same input, same bytes)."""

from __future__ import annotations

import hashlib
import itertools
import math
import zlib
from collections.abc import Iterable
from typing import TYPE_CHECKING

import numpy as np
from numpy.typing import ArrayLike

from engine.diagnostics import Diagnostic
from engine.image import layout as L
from engine.image.blocks import compact_dtype, encode_array, encode_text
from engine.image.contents import ImageContents, Thermal
from engine.image.errors import INVALID_CONTENTS, ImageError
from engine.image.keys import key_id
from engine.image.limits import MAX_INPUTS
from engine.netlist import FAMILIES, INPUT, Placement, QuantNetwork, Weights

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

U32_MAX = 2**32 - 1
U64_MAX = 2**64 - 1
I64 = (-(2**63), 2**63 - 1)


def write_image(contents: ImageContents, signing_key: Ed25519PrivateKey | None = None, *,
                security_version: int = 0) -> bytes:
    """Serialise contents; sign with an Ed25519 private key when one is given. The security
    version goes into the trailer, where the signature covers it.

    Raises ImageError (NM712) listing every value the format cannot hold exactly."""
    problems = _check_contents(contents)
    if isinstance(security_version, bool) or not isinstance(security_version, int) \
            or not 0 <= security_version <= L.MAX_SECURITY_VERSION:
        problems.append(Diagnostic("error", INVALID_CONTENTS, f"cannot write image: security version {security_version!r} "
                                                              f"is outside 0..{L.MAX_SECURITY_VERSION}"))
    if problems:
        raise ImageError(problems)
    sections = _sections(contents)
    flags = (L.FLAG_LEARNING_LOCKED if contents.policy.learning_locked else 0) | (
        L.FLAG_SIGNED if signing_key is not None else 0)
    minor = max((L.MINOR_OF_SECTION.get(L.SECTION_BY_ID[s[0]].name, 0) for s in sections), default=0)
    if contents.network.readout != "spikes":
        minor = max(minor, L.MINOR_OF_TAG[("NETWORK", "READOUT")])
    return _assemble(sections, flags, L.FAMILY_IDS[contents.network.family], signing_key, security_version, minor)


# ---------------------------------------------------------------- assembly

def _assemble(sections: list[tuple[int, int, bytes, int]], flags: int, family: int,
              signing_key: Ed25519PrivateKey | None, security_version: int = 0, minor: int = 0) -> bytes:
    table_offset = L.align(L.HEADER.size)
    pos = L.align(table_offset + len(sections) * L.SECTION_ENTRY.size)
    entries, payloads = [], []
    for type_id, instance, payload, n_blocks in sections:
        entries.append(L.SECTION_ENTRY.pack(
            type=type_id, flags=0, instance=instance, offset=pos, size=len(payload),
            crc32=zlib.crc32(payload), block_count=n_blocks, reserved=0))
        payloads.append((pos, payload))
        pos = L.align(pos + len(payload))
    trailer_offset = pos
    total = trailer_offset + L.TRAILER.size
    if total > U32_MAX:
        raise ImageError([Diagnostic("error", INVALID_CONTENTS, f"image of {total} bytes exceeds the 4 GiB format limit")])
    header_fields: dict[str, int | bytes] = {
        "magic": L.MAGIC, "version_major": L.VERSION_MAJOR, "version_minor": minor,
        "header_size": L.HEADER.size, "entry_size": L.SECTION_ENTRY.size, "flags": flags, "family": family,
        "reserved0": 0, "section_count": len(sections), "table_offset": table_offset,
        "trailer_offset": trailer_offset, "total_size": total, "crc32": 0, "reserved1": 0, "reserved2": 0, "reserved3": 0}
    body = bytearray(trailer_offset)
    body[0:L.HEADER.size] = L.HEADER.pack(**header_fields)
    for i, entry in enumerate(entries):
        at = table_offset + i * L.SECTION_ENTRY.size
        body[at:at + len(entry)] = entry
    for at, payload in payloads:
        body[at:at + len(payload)] = payload
    header_fields["crc32"] = zlib.crc32(bytes(body))
    body[0:L.HEADER.size] = L.HEADER.pack(**header_fields)
    key = key_id(signing_key.public_key()) if signing_key is not None else bytes(32)
    # every byte before the digest is hashed and every byte before the signature is signed,
    # so the trailer's flags, security version and key id are as covered as the sections
    head = L.TRAILER.pack(magic=L.TRAILER_MAGIC, flags=flags & L.FLAG_SIGNED, security_version=security_version,
                          reserved=0, key_id=key, sha256=bytes(32), signature=bytes(64))[:L.TRAILER_HASHED]
    hashed = bytes(body) + head
    signed = hashed + hashlib.sha256(hashed).digest()
    signature = signing_key.sign(signed) if signing_key is not None else bytes(64)
    return signed + signature


def _section(type_name: str, instance: int, blocks: list[bytes]) -> tuple[int, int, bytes, int]:
    return (L.SECTION_BY_NAME[type_name].id, instance, b"".join(blocks), len(blocks))


def _tag(section: str, tag: str) -> int:
    return L.tag_id(section, tag)


def _scalar(section: str, tag: str, value: ArrayLike, dtype: str) -> bytes:
    return encode_array(_tag(section, tag), np.array(value, dtype=dtype), dtype)


def _compact(section: str, tag: str, values: ArrayLike, *, unsigned_ok: bool = True) -> bytes:
    array = np.asarray(values)
    return encode_array(_tag(section, tag), array, compact_dtype(array, unsigned_ok=unsigned_ok))


def _texts(section: str, tag: str, texts: Iterable[str]) -> list[bytes]:
    return [encode_text(_tag(section, tag), t) for t in texts]


# ---------------------------------------------------------------- sections

def _sections(c: ImageContents) -> list[tuple[int, int, bytes, int]]:
    net = c.network
    m = c.metadata
    out = [
        _section("META", 0, _texts("META", "SITE", [m.site]) + _texts("META", "SPEC_HASH", [m.spec_hash])
                 + _texts("META", "TOOL_VERSION", [m.tool_version]) + _texts("META", "MODEL_NAME", [m.model_name])
                 + _texts("META", "LABEL", m.labels)),
        _section("TARGET", 0, _texts("TARGET", "CHIP", [c.target.chip]) + _texts("TARGET", "FAMILY", [c.target.family])),
        _section("NETWORK", 0, _network_blocks(net)),
    ]
    if net.placement is not None:
        p = net.placement
        out.append(_section("PLACEMENT", 0, [
            _scalar("PLACEMENT", "MESH", [p.mesh_width, p.mesh_height], "<u4"),
            encode_array(_tag("PLACEMENT", "CORE_XY"), np.asarray(p.core_xy).reshape(-1, 2), "<i4"),
        ]))
    cores = _neuron_cores(net)
    n_cores = net.placement.n_cores if net.placement is not None else 1
    for core, blocks in enumerate(_neuron_sections(net, cores, n_cores)):
        out.append(_section("NEURONS", core, blocks))
    for core, blocks in enumerate(_weight_sections(net, cores, n_cores)):
        out.append(_section("WEIGHTS", core, blocks))
    routes = np.array([[r.router, r.key, r.mask, r.out_links] for r in (net.placement.routes if net.placement else ())],
                      dtype=np.uint64).reshape(-1, 4)
    out.append(_section("ROUTES", 0, [encode_array(_tag("ROUTES", "ENTRIES"), routes, "<u8")]))
    pre: list[bytes] = []
    for name in sorted(c.preprocessing):
        array = c.preprocessing[name]
        pre += [encode_text(_tag("PREPROC", "NAME"), name), encode_array(_tag("PREPROC", "ARRAY"), array)]
    out.append(_section("PREPROC", 0, pre))
    out.append(_section("IO", 0, _texts("IO", "INPUT", c.io.input_channels) + _texts("IO", "OUTPUT", c.io.output_labels)))
    pol = c.policy
    out.append(_section("POLICY", 0, [
        _scalar("POLICY", "LEARNING_LOCKED", int(pol.learning_locked), "<u1"),
        _scalar("POLICY", "CLASS_EXPECTED", list(pol.class_expected_ppm), "<u4"),
        _scalar("POLICY", "CLASS_TOLERANCE", list(pol.class_tolerance_ppm), "<u4"),
        _scalar("POLICY", "SPIKE_RATE", pol.spike_rate_mhz, "<u4"),
        _scalar("POLICY", "SPIKE_RATE_TOLERANCE", pol.spike_rate_tolerance_mhz, "<u4"),
        _scalar("POLICY", "DEAD_NEURON_WINDOW", pol.dead_neuron_window_s, "<u4"),
        _scalar("POLICY", "SANITY_WINDOW", pol.sanity_window_s, "<u4"),
    ]))
    layout = c.resolved_state_layout
    names = [p.name for p in net.populations]
    state = [_scalar("STATE", "VERSION", layout.version, "<u4"),
             encode_array(_tag("STATE", "HASH"), np.frombuffer(layout.digest, dtype=np.uint8), "<u1")]
    for pop_state in layout.populations:
        state.append(_scalar("STATE", "POP", names.index(pop_state.population), "<u4"))
        for w in pop_state.words:
            state.append(encode_text(_tag("STATE", "WORD_NAME"), w.name))
            state.append(_scalar("STATE", "WORD_SPEC", [w.bits, int(w.signed), w.count], "<u4"))
    out.append(_section("STATE", 0, state))
    if c.thermal is not None:
        th = c.thermal
        blocks = [encode_array(_tag("THERMAL", "EDGES"), np.asarray(th.edges_centi_c, dtype=np.int64), "<i4"),
                  _scalar("THERMAL", "HYSTERESIS", th.hysteresis_centi, "<u4")]
        for name, values in th.thresholds.items():
            blocks.append(_scalar("THERMAL", "POP", names.index(name), "<u4"))
            blocks.append(_compact("THERMAL", "THRESHOLD", np.asarray(values)))
        out.append(_section("THERMAL", 0, blocks))
    return sorted(out, key=lambda s: (s[0], s[1]))


def _network_blocks(net: QuantNetwork) -> list[bytes]:
    names = [p.name for p in net.populations]
    blocks = [
        _scalar("NETWORK", "DT", float(net.dt), "<f8"),
        _scalar("NETWORK", "N_INPUTS", net.n_inputs, "<u4"),
        _scalar("NETWORK", "OUTPUT", names.index(net.output), "<u4"),
    ]
    blocks += _texts("NETWORK", "POP_NAME", names)
    blocks.append(_scalar("NETWORK", "POP_SIZE", [p.size for p in net.populations], "<u4"))
    blocks.append(_scalar("NETWORK", "PARAM_COUNT", [len(p.params) for p in net.populations], "<u4"))
    shapes = []
    for pop in net.populations:
        for name in sorted(pop.params):
            blocks.append(encode_text(_tag("NETWORK", "PARAM_NAME"), name))
            array = np.asarray(pop.params[name])
            shapes.append([array.ndim, array.shape[1] if array.ndim == 2 else 1])
    blocks.append(encode_array(_tag("NETWORK", "PARAM_SHAPE"), np.array(shapes, dtype="<u4").reshape(-1, 2), "<u4"))
    index = {name: i for i, name in enumerate(names)}
    projections = [[-1 if p.src == INPUT else index[p.src], index[p.dst], p.synapse, p.shift] for p in net.projections]
    blocks.append(encode_array(_tag("NETWORK", "PROJECTIONS"), np.array(projections, dtype="<i8").reshape(-1, 4), "<i8"))
    if net.readout != "spikes":  # a spike readout writes no block: its bytes stay those of format 2.0
        blocks.append(_scalar("NETWORK", "READOUT", L.READOUT_IDS[net.readout], "<u1"))
    return blocks


def _neuron_cores(net: QuantNetwork) -> dict[str, np.ndarray]:
    if net.placement is None:
        return {p.name: np.zeros(p.size, dtype=np.int64) for p in net.populations}
    return {p.name: np.asarray(net.placement.neuron_core[p.name], dtype=np.int64) for p in net.populations}


def _split_by_core(cores: np.ndarray, n_cores: int) -> list[np.ndarray]:
    """For each core, the positions whose core it is, ascending (one stable sort, not a scan per core)."""
    order = np.argsort(cores, kind="stable")
    bounds = np.searchsorted(cores[order], np.arange(n_cores + 1))
    return [order[bounds[c]:bounds[c + 1]] for c in range(n_cores)]


def _neuron_sections(net: QuantNetwork, cores: dict[str, np.ndarray], n_cores: int) -> list[list[bytes]]:
    per_core: list[list[bytes]] = [[] for _ in range(n_cores)]
    for i, pop in enumerate(net.populations):
        for core, local in enumerate(_split_by_core(cores[pop.name], n_cores)):
            if local.size == 0:
                continue
            blocks = per_core[core]
            blocks.append(_scalar("NEURONS", "POP", i, "<u4"))
            blocks.append(_compact("NEURONS", "INDEX", local))
            for name in sorted(pop.params):
                blocks.append(_compact("NEURONS", "PARAM", np.asarray(pop.params[name])[local]))
    return per_core


def _weight_sections(net: QuantNetwork, cores: dict[str, np.ndarray], n_cores: int) -> list[list[bytes]]:
    """Each synapse lives on the core of its target neuron; per (projection, core) the
    smaller of CSR and dense is stored. Dense cannot tell a stored zero from no synapse,
    so a block holding an explicit zero weight is always sparse."""
    per_core: list[list[bytes]] = [[] for _ in range(n_cores)]
    for i, proj in enumerate(net.projections):
        w = proj.weights
        if w.nnz == 0:
            continue
        dst_core = cores[proj.dst]
        indices, values = np.asarray(w.indices), np.asarray(w.values)
        rows = np.repeat(np.arange(w.n_src), np.diff(np.asarray(w.indptr)))
        targets = _split_by_core(dst_core, n_cores)
        # stable: within a core the synapses stay in (row, target) order
        for core, here in enumerate(_split_by_core(dst_core[indices], n_cores)):
            if here.size == 0:
                continue
            sub_rows, sub_cols, sub_vals = rows[here], indices[here], values[here]
            indptr = np.concatenate([[0], np.cumsum(np.bincount(sub_rows, minlength=w.n_src))])
            sparse = [_compact("WEIGHTS", "INDPTR", indptr), _compact("WEIGHTS", "INDICES", sub_cols),
                      _compact("WEIGHTS", "VALUES", sub_vals)]
            blocks = per_core[core]
            blocks.append(_scalar("WEIGHTS", "PROJ", i, "<u4"))
            local = targets[core]
            sparse_bytes = sum(len(b) for b in sparse)
            # dense needs at least one byte per cell: skip building it when that already loses
            if np.all(sub_vals != 0) and w.n_src * local.size + L.BLOCK.size < sparse_bytes:
                dense_values = np.zeros((w.n_src, local.size), dtype=np.int64)
                dense_values[sub_rows, np.searchsorted(local, sub_cols)] = sub_vals
                dense = _compact("WEIGHTS", "DENSE", dense_values)
                if len(dense) < sparse_bytes:
                    blocks.append(dense)
                    continue
            blocks += sparse
    return per_core


# ---------------------------------------------------------------- input checks

def _check_contents(c: ImageContents) -> list[Diagnostic]:
    problems: list[str] = []
    net = c.network

    def text(label: str, value: object) -> None:
        if not isinstance(value, str):
            problems.append(f"{label} must be text, got {type(value).__name__}")
            return
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            problems.append(f"{label} {value!r} is not valid Unicode text")

    def integer(label: str, value: object, lo: int, hi: int) -> None:
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
            problems.append(f"{label} must be an integer, got {value!r}")
        elif not lo <= int(value) <= hi:
            problems.append(f"{label} = {int(value)} is outside {lo}..{hi}")

    for field in ("site", "spec_hash", "tool_version", "model_name"):
        text(f"metadata.{field}", getattr(c.metadata, field))
    for i, label in enumerate(c.metadata.labels):
        text(f"metadata.labels[{i}]", label)
    text("target.chip", c.target.chip)
    if net.family not in FAMILIES:
        problems.append(f"network family {net.family!r} is not one of {', '.join(FAMILIES)}")
    if c.target.family != net.family:
        problems.append(f"target family {c.target.family!r} differs from the network family {net.family!r}")
    if not isinstance(net.dt, (int, float)) or isinstance(net.dt, bool) or not math.isfinite(net.dt):
        problems.append(f"network dt {net.dt!r} must be a finite number of seconds")
    integer("network n_inputs", net.n_inputs, 0, MAX_INPUTS)
    names = [p.name for p in net.populations]
    for i, pop in enumerate(net.populations):
        text(f"population {i} name", pop.name)
        if pop.name in ("", INPUT):
            problems.append(f"population {i} may not be named {pop.name!r}")
        if names.count(pop.name) > 1 and names.index(pop.name) == i:
            problems.append(f"population name {pop.name!r} is used {names.count(pop.name)} times")
        integer(f"population {pop.name!r} size", pop.size, 0, U32_MAX)
        for pname in sorted(pop.params):
            text(f"population {pop.name!r} parameter name", pname)
            array = np.asarray(pop.params[pname])
            if array.dtype.kind not in "iu":
                problems.append(f"parameter {pop.name}.{pname} must be integer, got {array.dtype}")
            elif array.size and array.dtype == np.uint64 and int(array.max()) > I64[1]:
                problems.append(f"parameter {pop.name}.{pname} holds a value beyond 2^63-1")
            elif array.ndim not in (1, 2) or array.shape[0] != pop.size:
                problems.append(f"parameter {pop.name}.{pname} has shape {array.shape}, expected ({pop.size},) or ({pop.size}, k)")
    if net.output not in names:
        problems.append(f"output population {net.output!r} is not a population of the network")
    sizes = {p.name: p.size for p in net.populations} | {INPUT: net.n_inputs}
    for i, proj in enumerate(net.projections):
        label = f"projection {i} ({proj.src} -> {proj.dst})"
        if proj.src not in sizes:
            problems.append(f"{label}: unknown source population {proj.src!r}")
        if proj.dst not in sizes or proj.dst == INPUT:
            problems.append(f"{label}: unknown target population {proj.dst!r}")
        integer(f"{label} synapse", proj.synapse, *I64)
        integer(f"{label} shift", proj.shift, *I64)
        if proj.src in sizes and proj.dst in sizes:
            problems += [f"{label}: {p}" for p in _csr_problems(proj.weights, sizes[proj.src], sizes[proj.dst])]
    if net.placement is not None:
        problems += _placement_problems(net, net.placement, names)
    pol = c.policy
    if len(pol.class_expected_ppm) != len(pol.class_tolerance_ppm):
        problems.append(f"policy has {len(pol.class_expected_ppm)} expected class shares but "
                        f"{len(pol.class_tolerance_ppm)} tolerances")
    for i, v in enumerate(pol.class_expected_ppm + pol.class_tolerance_ppm):
        integer(f"policy class share {i}", v, 0, U32_MAX)
    for field in ("spike_rate_mhz", "spike_rate_tolerance_mhz", "dead_neuron_window_s", "sanity_window_s"):
        integer(f"policy.{field}", getattr(pol, field), 0, U32_MAX)
    layout = c.resolved_state_layout
    integer("state layout version", layout.version, 0, U32_MAX)
    for pop_state in layout.populations:
        if pop_state.population not in names:
            problems.append(f"state layout names population {pop_state.population!r}, which the network does not have")
        for w in pop_state.words:
            text(f"state word of {pop_state.population!r}", w.name)
            integer(f"state word {pop_state.population}.{w.name} bits", w.bits, 1, 64)
            integer(f"state word {pop_state.population}.{w.name} count", w.count, 0, U32_MAX)
    for i, label in enumerate(c.io.input_channels):
        text(f"io.input_channels[{i}]", label)
    for i, label in enumerate(c.io.output_labels):
        text(f"io.output_labels[{i}]", label)
    for name, array in c.preprocessing.items():
        text("preprocessing name", name)
        if name == "":
            problems.append("preprocessing array names may not be empty")
        if array.dtype.kind not in "iu":
            problems.append(f"preprocessing {name!r} must be an integer array, got {array.dtype}")
        if array.ndim > 3:
            problems.append(f"preprocessing {name!r} has {array.ndim} dimensions; at most 3 are stored")
    if c.thermal is not None:
        problems += _thermal_problems(c.thermal, net)
    return [Diagnostic("error", INVALID_CONTENTS, f"cannot write image: {p}") for p in problems]


def _thermal_problems(th: Thermal, net: QuantNetwork) -> list[str]:
    problems = []
    edges = list(th.edges_centi_c)
    if len(edges) < 2 or any(b <= a for a, b in itertools.pairwise(edges)):
        problems.append(f"thermal band edges {edges} must be at least two, strictly ascending")
    if any(not -(2**31) <= e < 2**31 for e in edges):
        problems.append("thermal band edges must fit in 32 bits")
    if isinstance(th.hysteresis_centi, bool) or not 0 <= int(th.hysteresis_centi) <= U32_MAX:
        problems.append(f"thermal hysteresis {th.hysteresis_centi!r} is outside 0..{U32_MAX}")
    names = [p.name for p in net.populations]
    if list(th.thresholds) != [n for n in names if n in th.thresholds]:
        problems.append("thermal thresholds must name populations of the network, in network order")
    for name, thresholds in th.thresholds.items():
        values = np.asarray(thresholds)
        if name in names and values.shape != (len(edges) - 1, net.population(name).size):
            problems.append(f"thermal thresholds of {name!r} are {values.shape}, expected (bands, neurons)")
        if values.dtype.kind not in "iu":
            problems.append(f"thermal thresholds of {name!r} must be integers, got {values.dtype}")
    return problems


def _csr_problems(w: Weights, n_src: int, n_dst: int) -> list[str]:
    if (w.n_src, w.n_dst) != (n_src, n_dst):
        return [f"weights are {w.n_src}x{w.n_dst}, the populations need {n_src}x{n_dst}"]
    indptr, indices = np.asarray(w.indptr), np.asarray(w.indices)
    if indptr.shape != (n_src + 1,) or indptr[0] != 0 or np.any(np.diff(indptr) < 0) or indptr[-1] != indices.size:
        return ["CSR row pointers are not 0..nnz and non-decreasing"]
    if np.asarray(w.values).shape != indices.shape:
        return ["CSR values and indices differ in length"]
    if indices.size and (indices.min() < 0 or indices.max() >= n_dst):
        return [f"a target index is outside 0..{n_dst - 1}"]
    rows = np.repeat(np.arange(n_src), np.diff(indptr))
    same_row = rows[1:] == rows[:-1]
    if np.any(same_row & (np.diff(indices.astype(np.int64)) <= 0)):
        return ["CSR target indices are not strictly ascending within a row"]
    return []


def _placement_problems(net: QuantNetwork, p: Placement, names: list[str]) -> list[str]:
    problems = []
    core_xy = np.asarray(p.core_xy)
    if core_xy.ndim != 2 or core_xy.shape[1] != 2 or core_xy.shape[0] < 1:
        return [f"placement core_xy has shape {core_xy.shape}, expected (n_cores >= 1, 2)"]
    if core_xy.min() < -(2**31) or core_xy.max() > 2**31 - 1:
        problems.append("placement core coordinates do not fit 32 bits")
    for label, v in (("mesh_width", p.mesh_width), ("mesh_height", p.mesh_height)):
        if not 0 <= int(v) <= U32_MAX:
            problems.append(f"placement {label} = {v} is outside 0..{U32_MAX}")
    if sorted(p.neuron_core) != sorted(names):
        problems.append(f"placement covers populations {sorted(p.neuron_core)}, the network has {sorted(names)}")
    for pop in net.populations:
        cores = np.asarray(p.neuron_core.get(pop.name, np.zeros(0)))
        if cores.shape != (pop.size,):
            problems.append(f"placement of {pop.name!r} has shape {cores.shape}, expected ({pop.size},)")
        elif cores.size and (cores.min() < 0 or cores.max() >= p.n_cores):
            problems.append(f"placement puts a neuron of {pop.name!r} outside cores 0..{p.n_cores - 1}")
    for i, r in enumerate(p.routes):
        for field in ("router", "key", "mask", "out_links"):
            v = getattr(r, field)
            if not 0 <= int(v) <= U64_MAX:
                problems.append(f"route {i} {field} = {v} is outside 0..2^64-1")
    return problems
