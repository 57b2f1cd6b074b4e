"""The firmware/ folder of a bundle: C sources rendered from templates/ for one site.

Every value a template sees is a string made by engine.codegen.cnames (literals,
identifiers, comments); the network tables come from the image contents, the policy
constants from the merged spec. Pure: same arguments, same bytes.
"""

from __future__ import annotations

import hashlib
import math
import struct
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import attrs
import numpy as np

from engine import __version__, frames
from engine.codegen import render as R
from engine.codegen.cnames import c_array, c_bytes, c_comment, c_int, c_string, make_comment
from engine.image import ImageContents, write_image
from engine.image import layout as L
from engine.netlist import INPUT, Projection, QuantNetwork
from engine.resolve.alerts import alert_policy, uplink_interval_s, window_s
from engine.spec.model import SiteSpec

if TYPE_CHECKING:
    from engine.dsp.chain import Chain

IMAGE_C_DIR = Path(__file__).resolve().parents[1] / "image" / "c"
FLASH_PAGE = 2048  # STM32L4/U5 flash page
DEAD_NEURON_MAX_PERMILLE = 500  # more than half the neurons silent over the policy window

# templates rendered for every site: output name -> template
TEMPLATES = {name: f"{name}.j2" for name in (
    "nmc_config.h", "fallback.h", "fallback.c", "runtime.h", "runtime.c", "alerts.h", "alerts.c", "fragdec.h", "fragdec.c",
    "platform_host.h", "platform_host.c", "host_main.c", "platform_arm.c", "arm_main.c", "arm_startup.c", "mps2_an386.ld", "Makefile")}
CHAIN_TEMPLATES = ("preprocess.h", "preprocess.c", "encode.h", "encode.c")
THERMAL_TEMPLATES = ("thermal.h", "thermal.c")  # only for an image with a THERMAL section (analog targets)
COPIED = ("nmc_image.h", "nmc_image.c")  # the image package's C reader, used as is


@attrs.frozen
class FirmwareInputs:
    """What the firmware needs beyond the image contents."""

    spec_name: str  # the spec's path relative to its repository
    spec: SiteSpec
    chain: Chain | None = None
    public_key: bytes | None = None  # raw Ed25519 public key the images are signed with
    trusted_keys: tuple[bytes, ...] = ()  # further raw public keys the node accepts (key rotation)

    @property
    def key_table(self) -> tuple[bytes, ...]:
        """The node's trusted keys in table order: the signing key first, no repeats."""
        keys = ([self.public_key] if self.public_key is not None else []) + list(self.trusted_keys)
        return tuple(dict.fromkeys(keys))


def _banner(contents: ImageContents, spec_name: str) -> dict[str, str]:
    digest = contents.metadata.spec_hash
    return {
        "tool_version": c_comment(__version__),
        "site": c_comment(contents.metadata.site),
        "site_make": make_comment(contents.metadata.site),
        "spec": c_comment(spec_name),
        "spec_hash": c_comment(digest),
        "build_tag": c_int(int(digest[:8], 16), "uint32_t"),
    }


def _alert_config(spec: SiteSpec) -> dict[str, str]:
    policy = alert_policy(spec)
    return {
        "alert_confirmed": c_int(int(policy["confirmed"]), "uint32_t"),
        "alert_retries": c_int(policy["retries"], "uint32_t"),
        "alert_max_latency_s": c_int(policy["max_latency_s"], "uint32_t"),
        "alert_retry_gap_s": c_int(policy["retry_gap_s"], "uint32_t"),
        "alert_duty_gap_s": c_int(policy["duty_gap_s"], "uint32_t"),
        "status_interval_s": c_int(policy["status_interval_s"], "uint32_t"),
        "spreading_factor": c_int(policy["spreading_factor"], "uint32_t"),
    }


NETWORK_SECTIONS = ("NETWORK", "NEURONS", "WEIGHTS")


def network_digest(image: bytes) -> bytes:
    """SHA-256 over the sections that define the network (type, instance, size, payload, in
    section-table order): the runtime computes the same over an image to know whether the
    compiled-in fallback runs that image's network."""
    from engine.image import parse_image

    types = {L.SECTION_BY_NAME[name].id for name in NETWORK_SECTIONS}
    digest = hashlib.sha256()
    for section in parse_image(image).sections:
        if section.type in types:
            digest.update(struct.pack("<HII", section.type, section.instance, section.size))
            digest.update(image[section.offset: section.offset + section.size])
    return digest.digest()


def _config(contents: ImageContents, inputs: FirmwareInputs, image: bytes, have_chain: bool) -> dict[str, str]:
    from engine.resolve.safety import level

    net = contents.network
    spec = inputs.spec
    layout = contents.resolved_state_layout
    window = window_s(spec)
    interval_s = uplink_interval_s(spec)
    step_us = round(net.dt * 1e6)
    safety = level(spec)
    learning = spec.runtime.learning
    slot = max(8 * FLASH_PAGE, FLASH_PAGE * math.ceil(2 * len(image) / FLASH_PAGE))
    keys = inputs.key_table
    # one line: the table is the body of a #define
    table = ", ".join("{ " + c_bytes(hashlib.sha256(k).digest() + k, per_line=64) + " }" for k in keys)
    return {
        "format_major": c_int(L.VERSION_MAJOR, "uint32_t"), "format_minor": c_int(L.VERSION_MINOR, "uint32_t"),
        "site": c_string(contents.metadata.site), "spec_hash": c_string(contents.metadata.spec_hash),
        "family_id": c_int(L.FAMILY_IDS[net.family], "uint32_t"),
        "n_inputs": c_int(net.n_inputs, "uint32_t"), "n_outputs": c_int(net.population(net.output).size, "uint32_t"),
        "n_neurons": c_int(net.n_neurons, "uint32_t"), "n_labels": c_int(len(contents.metadata.labels), "uint32_t"),
        "state_version": c_int(layout.version, "uint32_t"),
        "state_tag": c_int(int.from_bytes(layout.digest[:4], "big"), "uint32_t"),
        "state_digest": c_bytes(layout.digest, per_line=32),
        "network_digest": c_bytes(network_digest(image), per_line=32),
        "step_us": c_int(step_us, "uint32_t"),
        "window_steps": c_int(max(1, int(window / net.dt + 1e-9)), "uint32_t"),
        "interval_s": c_int(max(1, round(interval_s)), "uint32_t"),
        "deadline_us": c_int(step_us, "uint32_t"),
        "dead_permille": c_int(DEAD_NEURON_MAX_PERMILLE, "uint32_t"),
        "safety_level": c_int(safety, "uint32_t"),
        "learning_unlockable": c_int(int(learning != "locked" and safety < 1), "uint32_t"),
        "require_signature": c_int(int(safety >= 1 or bool(keys)), "uint32_t"),
        "have_key": c_int(int(bool(keys)), "uint32_t"),
        "key_count": c_int(max(1, len(keys)), "uint32_t"),
        "pubkey": c_bytes(keys[0] if keys else bytes(32), per_line=32),
        "trusted_keys": table or "{ 0 }",
        "flash_page": c_int(FLASH_PAGE, "uint32_t"), "slot_size": c_int(slot, "uint32_t"),
        "have_chain": c_int(int(have_chain), "uint32_t"),
        "have_thermal": c_int(int(contents.thermal is not None), "uint32_t"),
        **_alert_config(spec),
    }


def _delivery_order(net: QuantNetwork) -> list[Projection]:
    """Xylo delivers input, then recurrent, then readout projections; the others in order."""
    if net.family != "xylo":
        return list(net.projections)
    group = lambda p: 0 if p.src == INPUT else (2 if p.dst == "output" else 1)
    return sorted(net.projections, key=group)


def _fallback(net: QuantNetwork) -> dict[str, Any]:
    names = [p.name for p in net.populations]
    pops, first, syn_first = [], 0, 0
    for pop in net.populations:
        n_syn = int(pop.params["dash_syn"].shape[1]) if net.family == "xylo" else 1
        pops.append({"first": c_int(first, "uint32_t"), "size": c_int(pop.size, "uint32_t"),
                     "syn_first": c_int(syn_first, "uint32_t"), "n_syn": c_int(n_syn, "uint32_t"),
                     "comment": c_comment(pop.name), "_first": first, "_n_syn": n_syn})
        first += pop.size
        syn_first += pop.size * n_syn
    n_neurons, n_syn_words = first, syn_first
    params = []
    for name in {"xylo": ("dash_syn", "dash_mem", "threshold", "bias", "alias"),
                 "loihi": ("du", "dv", "vth", "bias_mant", "bias_exp"),
                 "lif": ("decay_syn", "decay_mem", "threshold", "bias"),
                 "speck": ("threshold", "threshold_low", "bias", "reset_zero")}[net.family]:
        parts = []
        for pop in net.populations:
            if name in pop.params:
                parts.append(np.asarray(pop.params[name]).reshape(-1))
            else:  # the readout population has no alias
                parts.append(np.full(pop.size, -1))
        values = np.concatenate(parts).astype(np.int64)
        params.append({"name": name, "length": c_int(max(1, values.size), "uint32_t"),
                       "body": c_array(values.tolist(), "int32_t")})
    projs, pending = [], 0
    for proj in _delivery_order(net):
        dst_size = net.size_of(proj.dst)
        if dst_size > 0xFFFF:
            raise ValueError(f"population {proj.dst} has {dst_size} neurons; the fallback indexes at most 65535")
        w = proj.weights
        projs.append({
            "comment": c_comment(f"{proj.src} -> {proj.dst}, synapse {proj.synapse}, shift {proj.shift}"),
            "src": c_int(-1 if proj.src == INPUT else names.index(proj.src), "int32_t"),
            "dst": c_int(names.index(proj.dst), "uint32_t"), "synapse": c_int(proj.synapse, "uint32_t"),
            "shift": c_int(proj.shift, "int32_t"), "n_src": c_int(w.n_src, "uint32_t"),
            "pending_first": c_int(pending, "uint32_t"),
            "n_indptr": c_int(w.n_src + 1, "uint32_t"), "indptr": c_array(w.indptr.tolist(), "int32_t"),
            "n_nnz": c_int(max(1, w.nnz), "uint32_t"), "indices": c_array(w.indices.tolist(), "uint16_t"),
            "weights": c_array(w.values.tolist(), "int32_t"),
        })
        pending += dst_size if net.family == "loihi" else 0
    return {
        "family": net.family,
        "family_comment": c_comment({"xylo": "Xylo", "loihi": "Loihi 2", "lif": "generic integer LIF",
                                     "speck": "Speck DynapCNN integrate-and-fire"}[net.family]),
        "n_pops": c_int(len(pops), "uint32_t"), "n_projs": c_int(max(1, len(projs)), "uint32_t"),
        "n_neurons": c_int(n_neurons, "uint32_t"), "n_syn_words": c_int(n_syn_words, "uint32_t"),
        "n_pending": c_int(max(1, pending), "uint32_t"),
        "output_pop": c_int(names.index(net.output), "uint32_t"),
        "hidden_pop": c_int(names.index("hidden") if "hidden" in names else 0, "uint32_t"),
        "pops": pops, "params": params, "projs": projs,
    }


def _chain_files(chain: Chain | None, context: Mapping[str, Any]) -> dict[str, str]:
    """The signal chain's C when its templates exist."""
    from engine.codegen.chain_c import chain_context

    if chain is None or not all(R.has_template(f"{name}.j2") for name in CHAIN_TEMPLATES):
        return {}
    chain_ctx = chain_context(chain)
    return {name: R.render(f"{name}.j2", chain=chain_ctx, **context) for name in CHAIN_TEMPLATES}


def _monocypher_make() -> dict[str, str]:
    from engine.codegen import monocypher as M

    return {"package": M.PACKAGE, "version": M.PACKAGE_VERSION, "sdist": M.SDIST, "sha256": M.SDIST_SHA256,
            "tools": " ".join(f"'{t}'" for t in M.BUILD_TOOLS),
            "members": " ".join(f"'{m}'" for m in M.FILES)}


def firmware_files(contents: ImageContents, inputs: FirmwareInputs, image: bytes | None = None) -> dict[str, bytes]:
    """firmware/<name> -> bytes for every source of the node's firmware. `image`: the
    contents as already written (signed or not: a signature changes neither the size nor
    the sections the firmware's configuration is computed from)."""
    if image is None:
        image = write_image(contents, None)
    context: dict[str, Any] = {"banner": _banner(contents, inputs.spec_name)}
    chain = _chain_files(inputs.chain, context)
    chain_sources = "".join(f" {name}" for name in CHAIN_TEMPLATES if name.endswith(".c") and name in chain)
    crypto = " $(MONOCYPHER_DIR)/monocypher.c $(MONOCYPHER_DIR)/monocypher-ed25519.c" if inputs.key_table else ""
    thermal = contents.thermal
    # every template sees `thermal` (None without a THERMAL section): the runtime, the
    # platforms and the host program add the band switch only for an analog target
    sizes = None if thermal is None else {
        "bands": c_int(thermal.bands, "uint32_t"), "populations": c_int(len(contents.network.populations), "uint32_t")}
    context.update(config=_config(contents, inputs, image, bool(chain)), fallback=_fallback(contents.network),
                   makefile={"chain_sources": chain_sources, "crypto_sources": crypto, "monocypher": _monocypher_make(),
                             "thermal_sources": " thermal.c" if thermal is not None else ""},
                   thermal=sizes)
    out = {name: R.render(template, **context) for name, template in TEMPLATES.items()}
    if thermal is not None:
        out.update({name: R.render(f"{name}.j2", **context) for name in THERMAL_TEMPLATES})
    out.update(chain)
    files = {name: text.encode("utf-8") for name, text in sorted(out.items())}
    for name in COPIED:
        files[name] = (IMAGE_C_DIR / name).read_bytes()
    files["nm_frames.h"] = frames.generate_c_header().encode("utf-8")
    return dict(sorted(files.items()))
