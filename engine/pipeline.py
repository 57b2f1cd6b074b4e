"""One site, end to end: spec -> resolved network -> placement -> image and firmware ->
verification. Pure: returns the bundle's files and the report as data and raises
StageError with every diagnostic it found; the CLI decides what to print and where to write.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import attrs
import numpy as np

from engine import memo
from engine.catalog import Catalog
from engine.codegen.assemble import SanityBounds, bundle_files, image_contents
from engine.diagnostics import Diagnostic, StageError, has_errors
from engine.image import write_image
from engine.mapping import CoreMap, map_deployment
from engine.netlist import QuantNetwork
from engine.resolve import Deployment, resolve
from engine.resolve.alerts import alert_policy, window_s
from engine.spec import SpecDocument, validate_spec

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from engine.dsp.chain import Chain
    from engine.image import ImageContents

DEFAULT_SANITY_WINDOW_S = 86400.0


@attrs.frozen
class BuildOptions:
    signing_key: Ed25519PrivateKey | None = None
    verify: bool = True
    source_date_epoch: int | None = None
    preview: bool = False  # an in-memory build for diff or verify: the release rules do not apply
    firmware_size: bool = False  # compile firmware/ for Cortex-M4 and report its size (needs the toolchain)


@attrs.frozen(eq=False)
class BuildResult:
    site: str
    files: Mapping[str, bytes]
    report: Mapping[str, Any]
    diagnostics: tuple[Diagnostic, ...]


def referenced_files(doc: SpecDocument) -> list[tuple[str, Path]]:
    """Every file the spec names besides itself (model, traces), with its pointer."""
    from engine.spec import referenced_paths

    return [(pointer, doc.resolve_path(pointer, value)) for pointer, value in referenced_paths(doc)]


def spec_hash(doc: SpecDocument) -> str:
    """Hash of the merged spec and of every file it references (models, traces)."""
    digest = hashlib.sha256(json.dumps(doc.data, sort_keys=True, separators=(",", ":")).encode())
    for pointer, path in referenced_files(doc):
        digest.update(pointer.encode() + b"\0" + hashlib.sha256(path.read_bytes()).digest())
    return digest.hexdigest()


# What of a spec configures the node around the model (radio, uplink policy, battery and
# budget, safety rules, owner) rather than the model: none of it may reach the image, so a
# radio-only change leaves model.nmc byte-identical and ships as configuration.
NOT_IN_IMAGE = ("power", "alerts", "safety")
METADATA_IN_IMAGE = ("site",)
VERIFY_IN_IMAGE = ("stimuli",)  # the nominal traces set the image's sanity bounds


def image_spec(data: Mapping[str, Any]) -> dict[str, Any]:
    """The part of a merged spec the image is built from (everything not named above)."""
    out = {k: v for k, v in data.items() if k not in NOT_IN_IMAGE}
    out["metadata"] = {k: v for k, v in (data.get("metadata") or {}).items() if k in METADATA_IN_IMAGE}
    if "verify" in data:
        out["verify"] = {k: v for k, v in (data.get("verify") or {}).items() if k in VERIFY_IN_IMAGE}
    return out


def image_hash(doc: SpecDocument) -> str:
    """Hash of the spec's image part and of every file it references: the image's META
    spec hash, so it changes exactly when what the image is built from changes."""
    digest = hashlib.sha256(json.dumps(image_spec(doc.data), sort_keys=True, separators=(",", ":")).encode())
    for pointer, path in referenced_files(doc):
        digest.update(pointer.encode() + b"\0" + hashlib.sha256(path.read_bytes()).digest())
    return digest.hexdigest()


def _check(diagnostics: list[Diagnostic]) -> None:
    if has_errors(diagnostics):
        raise StageError(diagnostics)


def resolve_site(doc: SpecDocument, catalog: Catalog) -> Deployment:
    """The resolve stage's deployment of a valid spec (raises StageError)."""
    return resolve(doc, catalog)


def _placement(deployment: Deployment, catalog: Catalog) -> tuple[QuantNetwork, CoreMap | None]:
    """The mapping stage's placement when the network has none of its own."""
    network = deployment.network
    if network.placement is not None:
        return network, None
    core_map = map_deployment(deployment, catalog)
    return attrs.evolve(network, placement=core_map.placement), core_map


def sanity_bounds(deployment: Deployment, window: float) -> SanityBounds:
    """Expected behaviour after an update, from the float model on the nominal stimuli."""
    from engine.resolve.floatnet import classify, simulate

    labels = deployment.spec.model.labels
    spikes = deployment.nominal_spikes
    if deployment.stimuli is None or spikes is None:
        share = [1_000_000] + [0] * (len(labels) - 1)
        return SanityBounds(tuple(share), tuple([100_000] * len(labels)), 0, 0, int(max(window, 1) * 10))
    float_model = deployment.float_model
    out = memo.call("float.simulate", (float_model, spikes), lambda: simulate(float_model, spikes))
    classes = classify(out[float_model.output].sum(axis=1))
    share = [round(1_000_000 * float(np.mean(classes == c))) for c in range(len(labels))]
    total_neurons = sum(p.size for p in float_model.populations)
    total_spikes = sum(float(out[p.name].sum()) for p in float_model.populations)
    seconds = spikes.shape[0] * spikes.shape[1] * deployment.chain.dt
    rate_mhz = round(1000 * total_spikes / max(total_neurons * seconds, 1e-12))
    # a class may drift by 5 percentage points plus sampling noise of one window in twenty
    tolerance = tuple(50_000 + 50_000 for _ in labels)
    return SanityBounds(tuple(share), tolerance, rate_mhz, rate_mhz // 5, int(max(10 * window, 1)))


def build_policy(doc: SpecDocument, deployment: Deployment, options: BuildOptions) -> list[Diagnostic]:
    """Safety rules only the build can check: how the image is signed and verified."""
    from engine.resolve.safety import SIGNED_IMAGE, VERIFIED_BUILD, level

    spec = deployment.spec
    name = spec.safety.class_
    problems = []
    if level(spec) >= 1 and options.signing_key is None:
        code, message, hint = SIGNED_IMAGE
        problems.append(doc.at("/safety/class", code, f"safety.class: {message.format(level=name)}", hint=hint))
    if level(spec) >= 1 and not options.verify:
        code, message, hint = VERIFIED_BUILD
        problems.append(doc.at("/safety/class", code, f"safety.class: {message.format(level=name)}", hint=hint))
    return problems


def input_names(chain: Chain) -> tuple[str, ...]:
    return tuple(f"{chain.encoder.id}{i:03d}" for i in range(chain.n_channels))


def site_firmware(doc: SpecDocument, contents: ImageContents, deployment: Deployment, options: BuildOptions,
                  image: bytes) -> dict[str, bytes]:
    """firmware/ sources for the site, keyed by name inside firmware/."""
    from engine.codegen.firmware import FirmwareInputs, firmware_files

    public_key = None
    if options.signing_key is not None:
        from cryptography.hazmat.primitives import serialization

        public_key = options.signing_key.public_key().public_bytes(serialization.Encoding.Raw,
                                                                    serialization.PublicFormat.Raw)
    inputs = FirmwareInputs(doc.path.relative_to(doc.root).as_posix(), deployment.spec, deployment.chain, public_key)
    return firmware_files(contents, inputs, image)


def firmware_measurements(firmware: Mapping[str, bytes], deployment: Deployment) -> dict[str, Any]:
    """arm-none-eabi-size of fw.elf and, under QEMU, the chain's instructions per second of
    the first stimulus window's samples."""
    from engine.codegen.measure import measure_cortex_m4
    from engine.image import generate_c_header

    samples = deployment.stimuli.samples[0] if deployment.stimuli is not None else None
    files = {f"firmware/{name}": data for name, data in firmware.items()}
    files["firmware/nmc_format.h"] = generate_c_header().encode()
    return measure_cortex_m4(files, samples, deployment.chain.sample_rate)


def _fidelity(catalog: Catalog, chip_id: str) -> dict[str, str]:
    chip = catalog.part("chips", chip_id)
    return {"level": chip.fidelity, "basis": chip.fidelity_basis}


def _on_chip(deployment: Deployment, model_population: str) -> str:
    """The chip population a model population runs in (Xylo packs hidden layers into one)."""
    from engine.resolve import model_populations

    for chip_name, names in model_populations(deployment.float_model, deployment.network.family).items():
        if model_population in names:
            return chip_name
    return model_population


def build_site(spec_path: str | Path, catalog: Catalog, options: BuildOptions = BuildOptions()) -> BuildResult:
    doc, diagnostics = validate_spec(spec_path, catalog)
    _check(diagnostics)
    assert doc is not None  # validate_spec returns a document whenever it found no error
    deployment = resolve_site(doc, catalog)
    spec = deployment.spec
    if not options.preview:
        _check(build_policy(doc, deployment, options))
    network, core_map = _placement(deployment, catalog)
    update = spec.runtime.update
    sanity_s = int(update.sanity_window if update is not None and update.sanity_window is not None
                   else DEFAULT_SANITY_WINDOW_S)
    bounds = sanity_bounds(deployment, window_s(spec))
    digest = spec_hash(doc)
    contents = image_contents(spec, network, deployment.chain.coefficients(), input_names(deployment.chain), bounds,
                              image_hash(doc), sanity_s)
    chain = deployment.chain
    report: dict[str, Any] = {
        "site": spec.metadata.site,
        "spec": doc.path.relative_to(doc.root).as_posix(),  # the same from any working folder
        "spec_hash": digest,
        "image_hash": contents.metadata.spec_hash,
        "chip": spec.target.chip,
        "family": network.family,
        "fidelity": _fidelity(catalog, spec.target.chip),
        "network": {"inputs": network.n_inputs, "neurons": network.n_neurons, "synapses": network.n_synapses,
                    "populations": {p.name: p.size for p in network.populations}},
        "quantization": [{**attrs.asdict(layer), "on_chip": _on_chip(deployment, layer.population)}
                         for layer in deployment.quantized.layers],
        "notes": list(deployment.quantized.notes),
        "chain": {"channels": chain.n_channels, "dt_s": chain.dt, "samples_per_step": chain.samples_per_frame()},
        "sanity_bounds": attrs.asdict(bounds),
    }
    if core_map is not None:
        report["mapping"] = core_map.summary()
    report["resolve"] = deployment.report()
    image = write_image(contents, options.signing_key)
    power = report["resolve"].get("power")
    if power is not None:
        from engine.delivery.cost import update_cost

        per_update = update_cost(spec, catalog, len(image), power["voltage_V"], power.get("usable_Ah"))
        if per_update is not None:
            power["per_update"] = per_update
    firmware = site_firmware(doc, contents, deployment, options, image)
    report["firmware"] = {"alerts": alert_policy(spec)}
    if options.firmware_size:
        report["firmware"]["cortex_m4"] = firmware_measurements(firmware, deployment)
    if options.verify:
        from engine.verify.bundle import verify_bundle

        verification = verify_bundle(doc, image, deployment, catalog=catalog)
        report["verification"] = verification.summary()
        _check(list(verification.diagnostics))
    files = bundle_files(contents, firmware, report, {}, signing_key=options.signing_key,
                         source_date_epoch=options.source_date_epoch, image=image)
    return BuildResult(spec.metadata.site, files, report, tuple(diagnostics))
