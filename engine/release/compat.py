"""Whether a node running one release's firmware accepts another release's image: every
check the runtime makes at install (templates/runtime.c.j2), made here before anything is
sent. One function holds them all; each refusal is a sentence naming what differs."""

from __future__ import annotations

from engine.image import ImageError, ParsedImage, parse_image
from engine.image import layout as L
from engine.release.facts import BundleFacts

# nmc_config.h settings the firmware compiles in and an image cannot change
COMPILED_SETTINGS = ("NM_SITE_NAME", "NM_STEP_US", "NM_WINDOW_STEPS", "NM_INTERVAL_S", "NM_STEP_DEADLINE_US",
                     "NM_DEAD_NEURON_MAX_PERMILLE", "NM_SAFETY_LEVEL", "NM_LEARNING_UNLOCKABLE", "NM_REQUIRE_SIGNATURE",
                     "NM_HAVE_CHAIN")
# firmware sources generated from the spec's signal chain: the MCU runs them, not the image
CHAIN_SOURCES = ("preprocess.h", "preprocess.c", "encode.h", "encode.c")


def generated_body(data: bytes) -> bytes:
    """A generated file without what names its build (the banner with the spec and the image
    hash, the build-tag guard): what is left is what the file does."""
    text = data.decode("utf-8", "replace")
    text = text.split("*/", 1)[1] if text.startswith("/*") else text
    return "\n".join(line for line in text.splitlines() if "NM_BUILD_TAG" not in line).encode()


def _hex(data: bytes | None) -> str:
    return data.hex()[:16] if data else "none"


def model_update_blockers(running: BundleFacts, new: BundleFacts) -> tuple[str, ...]:
    """Why the firmware of `running` would refuse (or misrun) `new`'s image; empty: a
    model-only update is enough."""
    from engine.codegen.firmware import network_digest

    out: list[str] = []
    try:
        parsed = parse_image(new.image)
    except ImageError as exc:
        return (f"the new image does not parse: {exc}",)
    major = running.define_int("NM_CONFIG_FORMAT_MAJOR")
    if major is not None and parsed.version[0] != major:
        out.append(f"image format {parsed.version[0]}.x, the running firmware reads {major}.x")
    if running.chip != new.chip:
        out.append(f"chip {running.chip} -> {new.chip}")
    family = running.define_int("NM_FAMILY")
    if family is not None and L.FAMILY_IDS.get(parsed.contents.network.family) != family:
        out.append(f"neuron family {parsed.contents.network.family}, the running firmware runs family id {family}")
    layout = parsed.contents.resolved_state_layout
    if (running.define_int("NM_STATE_LAYOUT_VERSION"), running.define_bytes("NM_STATE_LAYOUT_DIGEST")) != \
            (layout.version, layout.digest):
        out.append(f"state layout {layout.version}/{_hex(layout.digest)}, the running firmware keeps "
                   f"{running.define_int('NM_STATE_LAYOUT_VERSION')}/{_hex(running.define_bytes('NM_STATE_LAYOUT_DIGEST'))}")
    net = parsed.contents.network
    shapes = {"NM_N_INPUTS": net.n_inputs, "NM_N_OUTPUTS": net.population(net.output).size,
              "NM_N_NEURONS": net.n_neurons, "NM_N_LABELS": len(parsed.contents.metadata.labels)}
    for name, value in shapes.items():
        compiled = running.define_int(name)
        if compiled is not None and compiled != value:
            out.append(f"{name} {value}, the running firmware is compiled for {compiled}")
    for name in COMPILED_SETTINGS:
        if running.defines.get(name) != new.defines.get(name):
            out.append(f"{name} {running.defines.get(name)} -> {new.defines.get(name)} is compiled into the firmware")
    chain = [name for name in CHAIN_SOURCES
             if generated_body(running.firmware.get(name, b"")) != generated_body(new.firmware.get(name, b""))]
    if chain:
        out.append(f"the signal chain compiled into the firmware changed ({', '.join(chain)})")
    slot = running.define_int("NM_SLOT_SIZE")
    if slot is not None and len(new.image) > slot:
        out.append(f"image of {len(new.image)} B, the running firmware's slots hold {slot} B")
    if running.define_int("NM_SAFETY_LEVEL") and running.define_bytes("NM_NETWORK_DIGEST") != network_digest(new.image):
        out.append(f"network digest {_hex(network_digest(new.image))}, the running firmware's CPU fallback runs "
                   f"{_hex(running.define_bytes('NM_NETWORK_DIGEST'))} and must stand in at this safety level")
    out += _signature_blockers(running, new, parsed)
    out += security_version_blockers(running, new)
    return tuple(out)


def _signature_blockers(running: BundleFacts, new: BundleFacts, parsed: ParsedImage) -> list[str]:
    if not running.define_int("NM_REQUIRE_SIGNATURE"):
        return []
    if parsed.signature == "unsigned":
        return ["the running firmware requires signed images; the new image is unsigned"]
    key = running.define_bytes("NM_SIGNING_PUBKEY")
    if not running.define_int("NM_HAVE_SIGNING_KEY") or not key:
        return []
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    try:
        parse_image(new.image, verify_key=Ed25519PublicKey.from_public_bytes(key), require_signature=True)
    except (ImageError, ValueError):
        return [f"the new image is not signed by the key the running firmware trusts ({_hex(key)})"]
    return []


def security_version_blockers(running: BundleFacts, new: BundleFacts) -> list[str]:
    """A node never goes below its security version."""
    old, now = running.security_version, new.security_version
    if old is not None and now is not None and now < old:
        return [f"security version {now} is below the running release's {old}"]
    return []
