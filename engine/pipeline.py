"""One site, end to end: spec -> resolved network -> placement -> image and firmware ->
verification. Pure: returns the bundle's files and the report as data and raises
StageError with every diagnostic it found; the CLI decides what to print and where to write.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import attrs
import numpy as np

from engine.catalog import Catalog
from engine.diagnostics import Diagnostic, StageError, has_errors
from engine.spec import SpecDocument, validate_spec
from engine.spec.units import parse_quantity


@attrs.frozen
class BuildOptions:
    signing_key: Any = None
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
    out = [("/model/source", doc.resolve_path("/model/source", doc.data["model"]["source"]))]
    for i, item in enumerate((doc.data.get("verify") or {}).get("stimuli") or []):
        out.append((f"/verify/stimuli/{i}", doc.resolve_path(f"/verify/stimuli/{i}", item)))
    return out


def spec_hash(doc: SpecDocument) -> str:
    """Hash of the merged spec and of every file it references (models, traces)."""
    digest = hashlib.sha256(json.dumps(doc.data, sort_keys=True, separators=(",", ":")).encode())
    for pointer, path in referenced_files(doc):
        digest.update(pointer.encode() + b"\0" + hashlib.sha256(path.read_bytes()).digest())
    return digest.hexdigest()


def _check(diagnostics: list[Diagnostic]) -> None:
    if has_errors(diagnostics):
        raise StageError(diagnostics)


@attrs.frozen(eq=False)
class Resolved:
    """What the later stages need from resolve, whichever resolve produced it."""

    data: Mapping[str, Any]  # merged spec with defaults
    chain: Any
    float_model: Any
    network: Any  # QuantNetwork
    stimuli: Any  # engine.verify.agreement.Stimuli
    layers: tuple
    notes: tuple[str, ...]
    deployment: Any  # the resolve stage's own result, for fit / power / safety / graph
    nominal_spikes: Any = None  # the chain's spikes for the nominal stimuli (calibration)


def resolve_site(doc: SpecDocument, catalog: Catalog) -> Resolved:
    from engine.resolve import resolve

    deployment = resolve(doc, catalog)
    return Resolved(deployment.data, deployment.chain, deployment.float_model, deployment.network, deployment.stimuli,
                    deployment.quantized.layers, deployment.quantized.notes, deployment, deployment.nominal_spikes)


def _placement(resolved: Resolved, catalog: Catalog):
    """The mapping stage's placement when it exists and the target has several cores."""
    network = resolved.network
    if network.placement is not None:
        return network, None
    try:
        from engine.mapping import map_deployment
    except ImportError:
        map_deployment = None
    if map_deployment is not None and resolved.deployment is not None:
        core_map = map_deployment(resolved.deployment, catalog)
        return attrs.evolve(network, placement=core_map.placement), core_map
    from engine.image.contents import state_layout_for  # noqa: F401  (image package owns the default)
    from engine.netlist import Placement, frozen_array

    single = Placement(1, 1, frozen_array([[0, 0]], np.int32),
                       {p.name: frozen_array(np.zeros(p.size), np.int32) for p in network.populations}, ())
    return attrs.evolve(network, placement=single), None


def sanity_bounds(resolved: Resolved, window_s: float):
    """Expected behaviour after an update, from the float model on the nominal stimuli."""
    from engine.codegen.assemble import SanityBounds
    from engine.resolve.floatnet import classify, simulate

    labels = resolved.data["model"]["labels"]
    if resolved.stimuli is None:
        share = [1_000_000] + [0] * (len(labels) - 1)
        return SanityBounds(tuple(share), tuple([100_000] * len(labels)), 0, 0, int(max(window_s, 1) * 10))
    spikes = resolved.nominal_spikes
    out = simulate(resolved.float_model, spikes)
    classes = classify(out[resolved.float_model.output].sum(axis=1))
    share = [int(round(1_000_000 * float(np.mean(classes == c)))) for c in range(len(labels))]
    total_neurons = sum(p.size for p in resolved.float_model.populations)
    total_spikes = sum(float(out[p.name].sum()) for p in resolved.float_model.populations)
    seconds = spikes.shape[0] * spikes.shape[1] * resolved.chain.dt
    rate_mhz = int(round(1000 * total_spikes / max(total_neurons * seconds, 1e-12)))
    # a class may drift by 5 percentage points plus sampling noise of one window in twenty
    tolerance = tuple(50_000 + 50_000 for _ in labels)
    return SanityBounds(tuple(share), tolerance, rate_mhz, rate_mhz // 5, int(max(10 * window_s, 1)))


def build_policy(doc: SpecDocument, data: Mapping[str, Any], options: BuildOptions) -> list[Diagnostic]:
    """Safety rules only the build can check: how the image is signed and verified."""
    from engine.resolve.safety import SIGNED_IMAGE, VERIFIED_BUILD, level

    name = (data.get("safety") or {}).get("class", "none")
    problems = []
    if level(data) >= 1 and options.signing_key is None:
        code, message, hint = SIGNED_IMAGE
        problems.append(doc.at("/safety/class", code, f"safety.class: {message.format(level=name)}", hint=hint))
    if level(data) >= 1 and not options.verify:
        code, message, hint = VERIFIED_BUILD
        problems.append(doc.at("/safety/class", code, f"safety.class: {message.format(level=name)}", hint=hint))
    return problems


def input_names(chain) -> tuple[str, ...]:
    return tuple(f"{chain.encoder.id}{i:03d}" for i in range(chain.n_channels))


def site_firmware(doc: SpecDocument, contents, resolved: Resolved, options: BuildOptions,
                  image: bytes) -> dict[str, bytes]:
    """firmware/ sources for the site, keyed by name inside firmware/."""
    from engine.codegen.firmware import FirmwareInputs, firmware_files

    public_key = None
    if options.signing_key is not None:
        from cryptography.hazmat.primitives import serialization

        public_key = options.signing_key.public_key().public_bytes(serialization.Encoding.Raw,
                                                                    serialization.PublicFormat.Raw)
    inputs = FirmwareInputs(doc.path.relative_to(doc.root).as_posix(), resolved.data, resolved.chain, public_key)
    return firmware_files(contents, inputs, image)


def firmware_measurements(firmware: Mapping[str, bytes], resolved: Resolved) -> dict[str, Any]:
    """arm-none-eabi-size of fw.elf and, under QEMU, the chain's instructions per second of
    the first stimulus window's samples."""
    from engine.codegen.measure import measure_cortex_m4
    from engine.image import generate_c_header

    samples = resolved.stimuli.samples[0] if resolved.stimuli is not None else None
    files = {f"firmware/{name}": data for name, data in firmware.items()}
    files["firmware/nmc_format.h"] = generate_c_header().encode()
    return measure_cortex_m4(files, samples, resolved.chain.sample_rate)


def _on_chip(resolved: Resolved, model_population: str) -> str:
    """The chip population a model population runs in (Xylo packs hidden layers into one)."""
    from engine.resolve import model_populations

    for chip_name, names in model_populations(resolved.float_model, resolved.network.family).items():
        if model_population in names:
            return chip_name
    return model_population


def build_site(spec_path: str | Path, catalog: Catalog, options: BuildOptions = BuildOptions()) -> BuildResult:
    from engine.codegen.assemble import bundle_files, image_contents
    from engine.image import write_image
    from engine.resolve.alerts import alert_policy

    doc, diagnostics = validate_spec(spec_path, catalog)
    _check(diagnostics)
    resolved = resolve_site(doc, catalog)
    if not options.preview:
        _check(build_policy(doc, resolved.data, options))
    network, core_map = _placement(resolved, catalog)
    data = resolved.data
    window_s = parse_quantity(((data.get("runtime") or {}).get("schedule") or {}).get("window", "1s"), "time")
    sanity_s = int(parse_quantity(((data.get("runtime") or {}).get("update") or {}).get("sanity_window", "24h"), "time"))
    bounds = sanity_bounds(resolved, window_s)
    digest = spec_hash(doc)
    contents = image_contents(data, network, data["target"]["chip"], resolved.chain.coefficients(),
                              input_names(resolved.chain), bounds, digest, sanity_s)
    report: dict[str, Any] = {
        "site": data["metadata"]["site"],
        "spec": doc.path.relative_to(doc.root).as_posix(),  # the same from any working folder
        "spec_hash": digest,
        "chip": data["target"]["chip"],
        "family": network.family,
        "network": {"inputs": network.n_inputs, "neurons": network.n_neurons, "synapses": network.n_synapses,
                    "populations": {p.name: p.size for p in network.populations}},
        "quantization": [{**attrs.asdict(layer), "on_chip": _on_chip(resolved, layer.population)}
                         for layer in resolved.layers],
        "notes": list(resolved.notes),
        "chain": {"channels": resolved.chain.n_channels, "dt_s": resolved.chain.dt,
                  "samples_per_step": resolved.chain.samples_per_frame()},
        "sanity_bounds": attrs.asdict(bounds),
    }
    if core_map is not None:
        report["mapping"] = getattr(core_map, "summary", dict)()
    report["resolve"] = resolved.deployment.report()
    image = write_image(contents, options.signing_key)
    firmware = site_firmware(doc, contents, resolved, options, image)
    report["firmware"] = {"alerts": alert_policy(data)}
    if options.firmware_size:
        report["firmware"]["cortex_m4"] = firmware_measurements(firmware, resolved)
    if options.verify:
        from engine.verify.bundle import verify_bundle

        verification = verify_bundle(doc, image, resolved.chain, resolved.float_model, resolved.stimuli,
                                     catalog=catalog, deployment=resolved.deployment)
        report["verification"] = verification.summary()
        _check(list(verification.diagnostics))
    files = bundle_files(contents, firmware, report, {}, signing_key=options.signing_key,
                         source_date_epoch=options.source_date_epoch, image=image)
    return BuildResult(data["metadata"]["site"], files, report, tuple(diagnostics))
