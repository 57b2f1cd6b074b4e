"""A JSON-able description of a parsed image: what `nmspec inspect` shows, and what any
tool comparing two images (a fleet diff, a manifest) can use without re-deriving it."""

from __future__ import annotations

from typing import Any

from engine.image import layout as L
from engine.image.contents import ImageContents
from engine.image.reader import ParsedImage


def describe_image(parsed: ParsedImage, *, params: bool = False) -> dict[str, Any]:
    """Header, sections, digests, signature status and contents; with params, every stored integer."""
    c = parsed.contents
    net = c.network
    layout = c.resolved_state_layout
    report = {
        "format_version": f"{parsed.version[0]}.{parsed.version[1]}",
        "size": parsed.total_size,
        "flags": list(L.flag_names(parsed.flags)),
        "family": parsed.family,
        "crc32": f"{parsed.crc32:08x}",
        "sha256": parsed.sha256,
        "signature": parsed.signature,
        "security_version": parsed.security_version,
        "key_id": parsed.key_id or None,
        "sections": [
            {"type": s.type_name, "type_id": s.type, "instance": s.instance, "offset": s.offset, "size": s.size,
             "blocks": s.block_count, "crc32": f"{s.crc32:08x}"}
            for s in parsed.sections
        ],
        "metadata": {"site": c.metadata.site, "spec_hash": c.metadata.spec_hash, "tool_version": c.metadata.tool_version,
                     "model_name": c.metadata.model_name, "labels": list(c.metadata.labels)},
        "target": {"chip": c.target.chip, "family": c.target.family},
        "network": {
            "dt": net.dt, "inputs": net.n_inputs, "output": net.output,
            "populations": [{"name": p.name, "size": p.size, "params": sorted(p.params)} for p in net.populations],
            "projections": [{"src": p.src, "dst": p.dst, "synapse": p.synapse, "shift": p.shift, "synapses": p.weights.nnz}
                            for p in net.projections],
            "cores": net.placement.n_cores if net.placement is not None else 1,
            "mesh": [net.placement.mesh_width, net.placement.mesh_height] if net.placement is not None else None,
            "routes": len(net.placement.routes) if net.placement is not None else 0,
        },
        "io": {"inputs": list(c.io.input_channels), "outputs": list(c.io.output_labels)},
        "policy": {
            "learning_locked": c.policy.learning_locked,
            "class_expected_ppm": list(c.policy.class_expected_ppm),
            "class_tolerance_ppm": list(c.policy.class_tolerance_ppm),
            "spike_rate_mhz": c.policy.spike_rate_mhz, "spike_rate_tolerance_mhz": c.policy.spike_rate_tolerance_mhz,
            "dead_neuron_window_s": c.policy.dead_neuron_window_s, "sanity_window_s": c.policy.sanity_window_s,
        },
        "state_layout": {
            "version": layout.version, "sha256": layout.digest.hex(),
            "populations": {p.population: [{"word": w.name, "bits": w.bits, "signed": w.signed, "count": w.count}
                                           for w in p.words] for p in layout.populations},
        },
        "preprocessing": {name: {"dtype": a.dtype.newbyteorder("<").str, "shape": list(a.shape)}
                          for name, a in c.preprocessing.items()},
    }
    if params:
        report["params"] = _params(c)
    return report


def _params(c: ImageContents) -> dict[str, Any]:
    net = c.network
    out = {
        "populations": {p.name: {k: p.params[k].tolist() for k in sorted(p.params)} for p in net.populations},
        "projections": [
            {"src": p.src, "dst": p.dst, "synapse": p.synapse, "shift": p.shift, "n_src": p.weights.n_src,
             "n_dst": p.weights.n_dst, "indptr": p.weights.indptr.tolist(), "indices": p.weights.indices.tolist(),
             "values": p.weights.values.tolist()}
            for p in net.projections
        ],
        "preprocessing": {name: a.tolist() for name, a in c.preprocessing.items()},
    }
    if net.placement is not None:
        pl = net.placement
        out["placement"] = {
            "core_xy": pl.core_xy.tolist(),
            "neuron_core": {k: pl.neuron_core[k].tolist() for k in sorted(pl.neuron_core)},
            "routes": [{"router": r.router, "key": r.key, "mask": r.mask, "out_links": r.out_links} for r in pl.routes],
        }
    return out
