"""One site, end to end: spec -> resolved network -> placement -> image and firmware ->
verification. Pure: returns the bundle's files and the report as data and raises
StageError with every diagnostic it found; the CLI decides what to print and where to write.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import attrs
import numpy as np
from numpy.typing import NDArray

from engine import memo
from engine.catalog import Catalog, Part
from engine.diagnostics import Diagnostic, StageError, has_errors
from engine.image import ImageContents, ImageError
from engine.image.limits import MAX_IMAGE_BYTES, read_limited
from engine.spec import SpecDocument, repository_catalog, validate_spec
from engine.spec.document import display_name, find_root
from engine.trust.check import MAX_MANIFEST_BYTES, check_bundle, manifest_shape
from engine.trust.dsse import EnvelopeError
from engine.trust.retire import retired_key

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import (
        Ed25519PrivateKey,
        Ed25519PublicKey,
    )

    from engine.codegen.assemble import SanityBounds
    from engine.dsp.chain import Chain
    from engine.image import Thermal
    from engine.mapping import CoreMap
    from engine.netlist import QuantNetwork
    from engine.resolve import Deployment
    from engine.resolve.floatnet import FloatNet
    from engine.resolve.rank import Candidate
    from engine.spec.model import SiteSpec
    from engine.verify.bundle import Verification
    from engine.verify.cycles import CycleCounts, CycleModel
    from engine.verify.simulate import TraceEvent, TraceRun

__all__ = [
    "MAX_IMAGE_BYTES",
    "MAX_MANIFEST_BYTES",
    "BuildOptions",
    "BuildResult",
    "Catalog",
    "EnvelopeError",
    "ImageContents",
    "ImageError",
    "ImageRun",
    "ReferenceRun",
    "SiteTrace",
    "SiteTraceRun",
    "SpecDocument",
    "StageError",
    "build_site",
    "builtin_catalog",
    "catalog_sources",
    "check_bundle",
    "device_changes",
    "diff_plan",
    "display_name",
    "events_csv",
    "events_npz",
    "file_kind",
    "find_root",
    "image_signature",
    "inspect_image",
    "key_id",
    "manifest_shape",
    "map_site",
    "named_parts",
    "placement_graph",
    "preview_image",
    "rank_targets",
    "read_image",
    "read_limited",
    "read_site_trace",
    "referenced_files",
    "render_diff_plan",
    "render_spec",
    "repository_catalog",
    "resolve_partial",
    "resolve_site",
    "retired_key",
    "run_image",
    "run_reference",
    "run_site_trace",
    "section_per_core",
    "signing_key",
    "site_name",
    "spec_hash",
    "spec_schema",
    "temperature_over_range",
    "validate_spec",
    "verify_key",
    "verify_site",
]

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
    from engine.resolve import resolve

    return resolve(doc, catalog)


def _placement(deployment: Deployment, catalog: Catalog) -> tuple[QuantNetwork, CoreMap | None]:
    """The mapping stage's placement when the network has none of its own, and Xylo's alias
    neurons where a fan-out is past the chip's limit."""
    from engine.mapping import alias_deployment, map_deployment

    network = deployment.network
    if network.placement is not None:
        return alias_deployment(network, deployment, catalog), None
    core_map = map_deployment(deployment, catalog)
    return alias_deployment(attrs.evolve(network, placement=core_map.placement), deployment, catalog), core_map


def sanity_bounds(deployment: Deployment, window: float) -> SanityBounds:
    """Expected behaviour after an update, from the float model on the nominal stimuli."""
    from engine.codegen.assemble import SanityBounds
    from engine.resolve.floatnet import classify, readout_scores, simulate

    labels = deployment.spec.model.labels
    spikes = deployment.nominal_spikes
    if deployment.stimuli is None or spikes is None:
        share = [1_000_000] + [0] * (len(labels) - 1)
        return SanityBounds(tuple(share), tuple([100_000] * len(labels)), 0, 0, int(max(window, 1) * 10))
    float_model = deployment.float_model
    out = memo.call("float.simulate", (float_model, spikes), lambda: simulate(float_model, spikes))
    classes = classify(readout_scores(float_model, out))
    share = [round(1_000_000 * float(np.mean(classes == c))) for c in range(len(labels))]
    total_neurons = sum(p.size for p in float_model.populations)
    # a membrane readout's output is its membrane, not spikes: it adds none
    total_spikes = sum(float(out[p.name].sum()) for p in float_model.populations if p.threshold is not None)
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


def thermal_table(spec: SiteSpec, network: QuantNetwork, catalog: Catalog) -> Thermal | None:
    """The per-band thresholds an analog target's firmware programs (docs/analog.md), when
    the spec compensates; None for digital targets and uncompensated ones. Raises StageError
    when the chip's drift figures are missing."""
    from engine.catalog import MissingFigure
    from engine.image import Thermal
    from engine.resolve.drift import compensation, drift_model, is_analog, temperature_bands

    chip = catalog.part("chips", spec.target.chip)
    if not (is_analog(chip) and spec.target.temperature_compensation and spec.environment.temperature is not None
            and network.family == "lif"):
        return None
    try:
        model = drift_model(chip, spec.part_overrides()["chips"])
    except MissingFigure as exc:
        raise StageError([Diagnostic("error", "NM402", f"temperature compensation: {exc.message}", hint=exc.hint)]) from None
    low, high = spec.environment.temperature
    bands = temperature_bands(low, high, spec.target.compensation.bands, spec.target.compensation.hysteresis)
    table = compensation(network, model, bands)
    return Thermal(bands.edges_centi_c(), bands.hysteresis_centi, table.thresholds)


def temperature_over_range(deployment: Deployment, catalog: Catalog) -> dict[str, Any] | None:
    """An analog target's accuracy per temperature band, with and without the compensation
    the build would put in the image (`nmspec fit`); None for a digital target, without
    stimuli, or from sil1 up. Raises StageError when the drift figures are missing."""
    from engine.resolve.safety import level
    from engine.verify.drift import site_sweep

    chip = catalog.get("chips", deployment.spec.target.chip)
    if chip is None or deployment.stimuli is None or deployment.stimulus_spikes is None or level(deployment.spec) >= 1:
        return None  # from sil1 up an analog target is refused (NM501): there is no accuracy to weigh
    network = deployment.network
    sweep, note = site_sweep(network, thermal_table(deployment.spec, network, catalog), deployment.spec,
                             deployment.stimulus_spikes, deployment.stimuli.labels, chip)
    if sweep is not None:
        return sweep.summary()
    return {"note": note} if note else None


def release_security_version(spec: SiteSpec) -> int:
    update = spec.runtime.update
    return update.security_version if update is not None else 0


def release_trusted_keys(spec: SiteSpec) -> tuple[bytes, ...]:
    update = spec.runtime.update
    return tuple(bytes.fromhex(k) for k in (update.trusted_keys if update is not None else ()))


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
    inputs = FirmwareInputs(doc.path.relative_to(doc.root).as_posix(), deployment.spec, deployment.chain, public_key,
                            release_trusted_keys(deployment.spec))
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
    from engine.codegen.assemble import bundle_files, image_contents
    from engine.image import write_image
    from engine.resolve.alerts import alert_policy, window_s

    doc, diagnostics = validate_spec(spec_path, catalog)
    _check(diagnostics)
    assert doc is not None  # validate_spec returns a document whenever it found no error
    deployment = resolve_site(doc, catalog)
    spec = deployment.spec
    if not options.preview:
        _check(list(deployment.warnings) + build_policy(doc, deployment, options))
    network, core_map = _placement(deployment, catalog)
    update = spec.runtime.update
    sanity_s = int(update.sanity_window if update is not None and update.sanity_window is not None
                   else DEFAULT_SANITY_WINDOW_S)
    bounds = sanity_bounds(deployment, window_s(spec))
    digest = spec_hash(doc)
    contents = image_contents(spec, network, deployment.chain.coefficients(), input_names(deployment.chain), bounds,
                              image_hash(doc), sanity_s)
    thermal = thermal_table(spec, network, catalog)
    if thermal is not None:
        contents = attrs.evolve(contents, thermal=thermal)
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
    image = write_image(contents, options.signing_key, security_version=release_security_version(spec))
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
        _check(list(deployment.warnings) + list(verification.diagnostics))
    files = bundle_files(contents, firmware, report, {}, signing_key=options.signing_key,
                         source_date_epoch=options.source_date_epoch, image=image,
                         security_version=release_security_version(spec))
    return BuildResult(spec.metadata.site, files, report, tuple(diagnostics) + deployment.warnings)


# ---- the rest of the façade: what the command line calls besides build_site --------------
# Each imports its stage when called, so a command pays only for the stages it runs.

def file_kind(path: str | Path) -> str | None:
    """The `kind` a YAML file declares (SiteDeployment, SiteBase, PartCatalog), if it reads."""
    from engine.spec.yamlread import read_file

    result = read_file(str(path), str(path))
    kind = result.data.get("kind") if isinstance(result.data, dict) else None
    return kind if isinstance(kind, str) else None


def render_spec(doc: SpecDocument, *, show_origin: bool = False) -> str:
    """The merged spec with the schema's defaults, as YAML (`nmspec render`)."""
    from engine.spec import render_merged

    return render_merged(doc, show_origin=show_origin)


def spec_schema(name: str = "nmspec.schema.json") -> dict[str, Any]:
    """The JSON Schema of the spec language (`nmspec schema`)."""
    from engine.spec.schema_check import load_schema

    return load_schema(name)


def resolve_partial(doc: SpecDocument, catalog: Catalog) -> Deployment:
    """As resolve_site, with fit, power and safety problems kept in `problems` (`fit`, `graph`, `map`)."""
    from engine.resolve import resolve_partial as partial

    return partial(doc, catalog)


def rank_targets(deployment: Deployment, catalog: Catalog,
                 progress: Callable[[int, int], None] | None = None) -> list[Candidate]:
    """Every catalog target for the deployment's model, best first (`nmspec fit`);
    `progress(done, total)` after each chip."""
    from engine.resolve.rank import rank_targets as rank

    return rank(deployment, catalog, progress)


def placement_graph(deployment: Deployment, fmt: str) -> str:
    """The deployment's placement graph as Graphviz dot or JSON (`nmspec graph`)."""
    from engine.resolve.graph import to_dot, to_json

    return to_dot(deployment.graph) if fmt == "dot" else to_json(deployment.graph)


def map_site(deployment: Deployment, catalog: Catalog, *, strategy: str = "auto") -> tuple[CoreMap, int]:
    """The deployment's network on its chip's cores as the build places it, Xylo's alias
    neurons included, and how many of those there are (`nmspec map`)."""
    from engine.mapping import map_as_built

    return map_as_built(deployment, catalog, strategy=strategy)


def diff_plan(old: Mapping[str, bytes], new: Mapping[str, bytes]) -> dict[str, list[str]]:
    """What changes for the device between two bundles' files (`nmspec diff`), by section."""
    from engine.bundlediff import diff_bundles

    return diff_bundles(old, new)


def device_changes(plan: Mapping[str, list[str]]) -> list[str]:
    """The items of a diff plan that change what the device computes or does."""
    from engine.bundlediff import device_changes as changes

    return changes(plan)


def render_diff_plan(plan: Mapping[str, list[str]], old: str, new: str) -> str:
    from engine.bundlediff import render_plan

    return render_plan(plan, old, new)


def signing_key(path: str | None) -> Ed25519PrivateKey | None:
    """The Ed25519 key from `path`, else from $NMSPEC_SIGNING_KEY; raises StageError."""
    from engine.image import load_signing_key

    return load_signing_key(path) if path else load_signing_key()


def key_id(key: Ed25519PublicKey) -> bytes:
    """The key's id: SHA-256 of its raw public bytes (what images and statements name)."""
    from engine.image.keys import key_id as image_key_id

    return image_key_id(key)


def verify_key(path: str) -> Ed25519PublicKey:
    """The Ed25519 public key in `path`; raises StageError."""
    from engine.image import load_verify_key

    return load_verify_key(path)


def read_image(image: bytes, *, key: Ed25519PublicKey | Sequence[Ed25519PublicKey] | None = None) -> ImageContents:
    """The image's contents, its signature checked against `key` (one or a trusted set) when
    given; raises StageError."""
    from engine.image import read_image as read

    return read(image, verify_key=key, require_signature=key is not None)


def verify_site(doc: SpecDocument, image: bytes, deployment: Deployment, catalog: Catalog) -> Verification:
    """The image run by the kernel against the deployment's float model (`nmspec verify`)."""
    from engine.verify.bundle import verify_bundle

    return verify_bundle(doc, image, deployment, catalog=catalog)


def inspect_image(image: bytes, *, key: Ed25519PublicKey | Sequence[Ed25519PublicKey] | None = None,
                  params: bool = False) -> tuple[dict[str, Any], tuple[str, ...]]:
    """The image's header, sections, sizes, hashes and signature status (`nmspec inspect`),
    and what would stop any target running it (shown, where every command that runs an image
    refuses it); with `key` (one or a trusted set) the image must carry a valid signature from
one of them. Raises StageError."""
    from engine.image import parse_image
    from engine.image.describe import describe_image
    from engine.image.runnable import runnable_problems

    parsed = parse_image(image, verify_key=key, require_signature=key is not None, runnable=False)
    return describe_image(parsed, params=params), tuple(runnable_problems(parsed.contents.network))


def section_per_core(type_id: int) -> bool:
    """Whether sections of this type come once per core (the others once per image)."""
    from engine.image import layout

    section = layout.SECTION_BY_ID.get(type_id)
    return bool(section is not None and section.per_core)


@attrs.frozen(eq=False)
class ImageRun:
    """An image's network run on given input spike counts, everything recorded."""

    contents: ImageContents
    steps: int
    spikes: Mapping[str, int]  # output spikes per population
    record: bytes  # spikes, states and cycle counts as .npz
    cycles: CycleCounts | None  # when the catalog has the chip's cycle model
    routing: Mapping[str, int] | None  # the routing tables' summary, when the run went through them


def _cycle_model(chip: str, catalog: Catalog) -> CycleModel | None:
    from engine.verify.cycles import cycle_model

    part = catalog.get("chips", chip)
    return cycle_model(part) if part is not None else None


def run_image(contents: ImageContents, spikes: str | Path, catalog: Catalog | None) -> ImageRun:
    """The image's network on the input spike counts in the .npz file `spikes` (`nmspec
    simulate IMAGE --spikes`). Raises StageError."""
    from engine.verify import kernel
    from engine.verify.cycles import count_cycles
    from engine.verify.simulate import load_spike_counts, npz_bytes, record_arrays

    network = contents.network
    counts_in = load_spike_counts(spikes, network.n_inputs)
    result = kernel.run(network, counts_in, record=True)
    model = _cycle_model(contents.target.chip, catalog) if catalog is not None else None
    counts = count_cycles(network, result, model) if model is not None else None
    return ImageRun(contents, int(counts_in.shape[0]), {pop: int(s.sum()) for pop, s in sorted(result.spikes.items())},
                    npz_bytes(record_arrays(result, counts)), counts,
                    result.routing.summary() if result.routing is not None else None)


@attrs.frozen(eq=False)
class SiteTrace:
    """A recorded sensor trace read for a site: what its chain takes."""

    chain: Chain
    samples: NDArray[np.int16]  # (n, axes) raw ADC counts
    window_samples: int  # samples in one measurement window (runtime.schedule.window at sensor.odr)
    warnings: tuple[str, ...]  # what the spec had to assume about the recording


def read_site_trace(doc: SpecDocument, catalog: Catalog, trace: str | Path) -> SiteTrace:
    """The trace in `trace` (.npz or .csv), checked against the spec's sensor (`nmspec
    simulate SPEC --trace`). Raises StageError."""
    from engine.dsp.from_spec import chain_for_spec
    from engine.resolve import sensor_setting
    from engine.spec import site_model
    from engine.verify.simulate import load_trace

    spec = site_model(doc)
    chain = chain_for_spec(spec, catalog.get("sensors", spec.sensor.part))
    sensor = sensor_setting(spec, chain)
    samples, warnings = load_trace(trace, chain.axes, sensor)
    return SiteTrace(chain, samples, sensor.window_samples, warnings)


def preview_image(spec_path: str | Path, catalog: Catalog) -> ImageContents:
    """The image a build of the spec writes, read back; built without verification and
    without the release rules, as a preview. Raises StageError (ImageError for the image)."""
    image = build_site(spec_path, catalog, BuildOptions(verify=False, preview=True)).files["model.nmc"]
    return read_image(image)


@attrs.frozen(eq=False)
class SiteTraceRun:
    """A site's trace through its chain and its image's network."""

    run: TraceRun
    labels: tuple[str, ...]  # the output neurons' classes
    dt: float  # the network's time step, s
    clock_hz: float | None  # the chip's clock, when the catalog has its cycle model


def run_site_trace(trace: SiteTrace, contents: ImageContents, catalog: Catalog, *, continuous: bool = False,
                   progress: Callable[[int, int], None] | None = None) -> SiteTraceRun:
    """The trace through the chain and the image's network, in measurement windows each
    from the zero state as the firmware runs them, or (`continuous`) as one signal;
    `progress(done, total)` after each piece of work."""
    from engine.verify.simulate import run_trace

    network = contents.network
    labels = tuple(contents.metadata.labels or contents.io.output_labels)
    model = _cycle_model(contents.target.chip, catalog)
    run = run_trace(trace.chain, network, labels, trace.samples, window_samples=trace.window_samples,
                    continuous=continuous, cycle_model=model, progress=progress)
    return SiteTraceRun(run, labels, network.dt, model.clock_hz if model is not None else None)


def events_csv(events: Sequence[TraceEvent]) -> str:
    """A trace run's output events as CSV (step, time_s, output, label, spikes)."""
    from engine.verify.simulate import events_csv as csv

    return csv(events)


def events_npz(events: Sequence[TraceEvent], labels: Sequence[str]) -> bytes:
    """A trace run's output events as .npz, one array per column and the labels."""
    from engine.verify.simulate import events_npz as npz

    return npz(events, labels)


@attrs.frozen(eq=False)
class ReferenceRun:
    """The float reading of a spec's model run on given input spikes, everything recorded."""

    model: FloatNet
    steps: int
    spikes: Mapping[str, int]  # spikes per population
    record: bytes  # inputs, spikes and states per population as .npz


def run_reference(doc: SpecDocument, spikes: str | Path) -> ReferenceRun:
    """`nmspec simulate SPEC --spikes IN.npz --reference`: the spec's model as its float
    reading computes it, on raw input spike counts. Raises StageError."""
    from engine.resolve import float_reading
    from engine.verify.simulate import load_spike_counts, npz_bytes, reference_arrays

    model = float_reading(doc)
    counts = load_spike_counts(spikes, model.n_inputs, whole_floats=True)
    arrays = reference_arrays(model, counts)
    totals = {pop.name: int(arrays[f"spikes.{pop.name}"].sum()) for pop in model.populations}
    return ReferenceRun(model, int(counts.shape[0]), totals, npz_bytes(arrays))


# ---- for the fleet's cache: what a build reads besides the spec and its files ------------

def named_parts(doc: SpecDocument, catalog: Catalog) -> dict[str, Part | None]:
    """The catalog part each of the spec's part fields names, by the field's pointer."""
    from engine.spec import part_pointers

    return {pointer: catalog.get(kind, value) if isinstance(value, str) else None
            for pointer, kind, value in part_pointers(doc)}


def catalog_sources(folders: tuple[Path, ...]) -> list[tuple[Path, bool]]:
    """Every catalog file a build with these extra folders reads, in reading order, each with
    whether it is one of the built-in catalog's own files."""
    from engine.catalog import DATA_DIR, catalog_files

    return [(path, path.parent == DATA_DIR) for path in catalog_files(folders)]


def builtin_catalog() -> Catalog:
    """The built-in parts, loaded once per process."""
    from engine.catalog import builtin_catalog as builtin

    return builtin()


def site_name(doc: SpecDocument) -> str:
    """metadata.site of a valid site spec."""
    from engine.spec import site_model

    return site_model(doc).metadata.site


def image_signature(image: bytes) -> str:
    """'unsigned', or how the image says it is signed (no key checked)."""
    from engine.image import parse_image

    return str(parse_image(image, runnable=False).signature)
