"""The firmware's signal chain: the C rendered from templates/ equals the Python
fixed-point model (engine.dsp) bit for bit, and the fixed-point model stays within stated
error of the float ideal.

Every chain is rendered with the renderer's Jinja settings, compiled once per module with
the host flags and sanitizers, and driven by a small program that streams samples through
nm_chain_push and prints each step's features and spike counts. Probe chains (one sample
stage, then |y| of every sample) let the C output of single stages be measured.
"""

from __future__ import annotations

import math
import re
import subprocess
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import jinja2
import numpy as np
import pytest

from engine.catalog import builtin_catalog
from engine.codegen.chain_c import chain_context
from engine.dsp import vibration as vib
from engine.dsp.chain import Chain, FrameSampler, build_chain
from engine.dsp.encoders import Encoder
from engine.dsp.from_spec import chain_for_spec
from engine.dsp.stages import Biquads, DcBlock, Decimate
from engine.resolve.stimuli import load_traces
from engine.spec.document import load_spec
from engine.spec.model import site_spec
from engine.spec.render import with_defaults

ROOT = Path(__file__).resolve().parents[1]
CHAIN_FILES = ("preprocess.h", "preprocess.c", "encode.h", "encode.c")
WARNINGS = ["-std=c99", "-Wall", "-Wextra", "-Werror", "-pedantic", "-Wdouble-promotion", "-Wfloat-equal"]
HOST_FLAGS = WARNINGS + ["-O1", "-g", "-fsanitize=address,undefined", "-fno-sanitize-recover=all"]
PROBE_FLAGS = WARNINGS + ["-O2"]  # probes only measure; the sanitized builds check the same code
ARM_FLAGS = WARNINGS + ["-mcpu=cortex-m4", "-mthumb", "-Os", "-c"]

DRIVER = r"""
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "preprocess.h"

/* argv[1]: samples per window, argv[2]: "each" (one chain, restarted every window) or
 * "pair" (two chains side by side, fed windows 2i and 2i+1 sample by sample).
 * stdin: int16 samples (windows, n, axes); stdout per model step: the chain's number
 * (one byte), its features (int32) and its spike counts (uint8). */
static void emit(int which, const nm_chain_t *c, const uint8_t *counts)
{
    const unsigned char tag = (unsigned char)which;
    fwrite(&tag, 1, 1, stdout);
    fwrite(c->features, sizeof c->features, 1, stdout);
    fwrite(counts, NM_CHAIN_CHANNELS, 1, stdout);
}

int main(int argc, char **argv)
{
    static nm_chain_t chains[2];
    const long n = argc > 2 ? atol(argv[1]) : 0;
    const int pair = argc > 2 && strcmp(argv[2], "pair") == 0;
    const size_t window_bytes = (size_t)n * NM_CHAIN_AXES * sizeof(int16_t);
    int16_t *windows = malloc(2 * window_bytes);
    uint8_t counts[NM_CHAIN_CHANNELS];
    if (n <= 0 || windows == NULL) {
        return 2;
    }
    for (;;) {
        const int count = pair ? 2 : 1;
        long i;
        int w;
        if (fread(windows, window_bytes, (size_t)count, stdin) != (size_t)count) {
            break;
        }
        for (w = 0; w < count; w++) {
            nm_chain_init(&chains[w]);
        }
        for (i = 0; i < n; i++) {
            for (w = 0; w < count; w++) {
                const int16_t *sample = windows + ((size_t)w * (size_t)n + (size_t)i) * NM_CHAIN_AXES;
                if (nm_chain_push(&chains[w], sample, counts)) {
                    emit(w, &chains[w], counts);
                }
            }
        }
    }
    free(windows);
    return 0;
}
"""


def environment() -> jinja2.Environment:
    return jinja2.Environment(loader=jinja2.FileSystemLoader(str(ROOT / "templates")), undefined=jinja2.StrictUndefined,
                              trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=True)


def render(chain: Chain) -> dict[str, str]:
    context = chain_context(chain)
    env = environment()
    return {name: env.get_template(f"{name}.j2").render(chain=context) for name in CHAIN_FILES}


def compile_chain(chain: Chain, folder: Path, flags: list[str]) -> Path:
    folder.mkdir(parents=True)
    for name, text in render(chain).items():
        (folder / name).write_text(text)
    (folder / "driver.c").write_text(DRIVER)
    exe = folder / "driver"
    done = subprocess.run(["gcc", *flags, "-o", str(exe), "driver.c", "preprocess.c", "encode.c"], cwd=folder,
                          capture_output=True, text=True, check=False)
    assert done.returncode == 0 and done.stderr == "", done.stderr
    return exe


def run_c(exe: Path, chain: Chain, samples: np.ndarray, *, pair: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """int16 (windows, n, axes) -> C features (windows, frames, features) and counts
    (windows, frames, channels)."""
    windows, n, _ = samples.shape
    done = subprocess.run([str(exe), str(n), "pair" if pair else "each"],
                          input=np.ascontiguousarray(samples, dtype="<i2").tobytes(), capture_output=True, timeout=120,
                          check=False)
    assert done.returncode == 0 and done.stderr == b"", done.stderr.decode()
    record = np.dtype([("chain", "u1"), ("features", "<i4", (chain.n_features,)), ("counts", "u1", (chain.n_channels,))])
    rows = np.frombuffer(done.stdout, dtype=record)
    if pair:
        # window 2i ran on chain 0, window 2i+1 on chain 1, in step
        first, second = rows[rows["chain"] == 0], rows[rows["chain"] == 1]
        frames = len(first) // (windows // 2)
        ordered = np.stack([first.reshape(-1, frames), second.reshape(-1, frames)], axis=1).reshape(windows, frames)
    else:
        assert (rows["chain"] == 0).all()
        ordered = rows.reshape(windows, -1)
    return ordered["features"].astype(np.int64), ordered["counts"]


# --- the chains under test -----------------------------------------------------------

EXAMPLES = tuple(sorted(p.stem for p in (ROOT / "specs" / "examples").glob("*.yaml")))
VALID_CASES = ("minimal", "full", "features-fir")
# full.yaml's 5 ms step is 2.5 samples at its decimated 500 Hz: the chain is taken at 10 ms
DT_OVERRIDE = {"full": 0.01}


def spec_data(name: str) -> dict:
    path = ROOT / "specs" / "examples" / f"{name}.yaml" if name in EXAMPLES else ROOT / "tests" / "cases" / "valid" / f"{name}.yaml"
    doc, diagnostics = load_spec(path)
    assert doc is not None, diagnostics
    data = dict(doc.data)
    if name in DT_OVERRIDE:
        data["model"] = {**data["model"], "dt": f"{DT_OVERRIDE[name] * 1000:g}ms"}
    return data


def spec_chain(name: str) -> Chain:
    spec = site_spec(with_defaults(spec_data(name))[0])
    return chain_for_spec(spec, builtin_catalog().get("sensors", spec.sensor.part))


# Hand-made chains for what the specs do not use: every encoder and polarity, the frame
# sampler, odd filter orders, two decimations, band energies per axis, log bands.
SYNTHETIC = {
    "frames-delta-split": {"stages": [{"kind": "dc_block", "cutoff": 1.0}, {"kind": "highpass", "cutoff": 20.0, "order": 3},
                                       {"kind": "envelope", "cutoff": 30.0},
                                       {"kind": "encode", "encoding": "delta", "threshold": 0.01, "polarity": "split"}],
                               "sample_rate": 1000.0, "axes": 2, "dt": 0.01},
    "frames-threshold-split": {"stages": [{"kind": "lowpass", "cutoff": 100.0, "order": 3}, {"kind": "decimate", "factor": 2},
                                           {"kind": "decimate", "factor": 2},
                                           {"kind": "encode", "encoding": "threshold", "threshold": 0.5, "polarity": "split"}],
                                   "sample_rate": 2000.0, "axes": 1, "dt": 0.004},
    "bands-rate": {"stages": [{"kind": "dc_block", "cutoff": 2.0}, {"kind": "notch", "freq": 60.0, "harmonics": 4, "q": 10.0},
                               {"kind": "band_energy", "fft": 32, "bands": 4},
                               {"kind": "encode", "encoding": "rate", "max_rate": 500.0, "polarity": "single"}],
                       "sample_rate": 4000.0, "axes": 3, "dt": 0.008},
    "bands-threshold": {"stages": [{"kind": "band_energy", "fft": 128, "bands": 8, "combine_axes": True},
                                    {"kind": "encode", "encoding": "threshold", "threshold": 0.25, "polarity": "single"}],
                            "sample_rate": 1000.0, "axes": 2, "dt": 0.02},
    "bands-delta-single": {"stages": [{"kind": "highpass", "cutoff": 10.0, "order": 1},
                                       {"kind": "band_energy", "fft": 64, "bands": 5, "fmin": 20.0, "fmax": 400.0, "spacing": "log"},
                                       {"kind": "encode", "encoding": "delta", "threshold": 0.02, "polarity": "single"}],
                               "sample_rate": 1000.0, "axes": 1, "dt": 0.05},
    "features-all": {"stages": [{"kind": "dc_block", "cutoff": 2.0}, {"kind": "decimate", "factor": 2},
                                 {"kind": "features", "kinds": ["rms", "peak", "kurtosis"]},
                                 {"kind": "encode", "encoding": "sigma_delta", "threshold": 0.05, "polarity": "single"}],
                         "sample_rate": 2000.0, "axes": 3, "dt": 0.02},
    "features-kurtosis-peak": {"stages": [{"kind": "features", "kinds": ["kurtosis", "peak"]},
                                           {"kind": "encode", "encoding": "threshold", "threshold": 0.1, "polarity": "split"}],
                                   "sample_rate": 1000.0, "axes": 1, "dt": 0.05},
    "fir-decimate": {"stages": [{"kind": "dc_block", "cutoff": 3.0}, {"kind": "decimate", "factor": 2, "taps": 31},
                                 {"kind": "decimate", "factor": 3, "taps": 41}, {"kind": "band_energy", "fft": 32, "bands": 4},
                                 {"kind": "encode", "encoding": "delta", "threshold": 0.02, "polarity": "split"}],
                         "sample_rate": 6000.0, "axes": 2, "dt": 0.016},
}


def synthetic_chain(name: str) -> Chain:
    spec = SYNTHETIC[name]
    return build_chain(spec["stages"], sample_rate=spec["sample_rate"], mains=50.0, axes=spec["axes"], dt=spec["dt"])


def chain_of(name: str) -> Chain:
    return synthetic_chain(name) if name in SYNTHETIC else spec_chain(name)


ALL_CHAINS = EXAMPLES + VALID_CASES + tuple(SYNTHETIC)


def probe(chain: Chain, stage) -> Chain:
    """One sample stage, then |y| of every sample as the features."""
    return Chain((stage,), FrameSampler("probe", 1), Encoder("probe", "threshold", 1, False), chain.axes,
                 chain.sample_rate, chain.dt, 1)


def stage_rate(chain: Chain, index: int) -> float:
    """The sample rate a stage runs at (after the decimations before it)."""
    rate = chain.sample_rate
    for stage in chain.sample_stages[:index]:
        if isinstance(stage, Decimate):
            rate /= stage.factor
    return rate


# probes: the stages of full.yaml one by one, the other examples' DC blocks and notches,
# the decimating FIRs
PROBES = {f"full-{i}": ("full", i) for i in range(len(spec_chain("full").sample_stages))}
PROBES.update({"fir-decimate-1": ("fir-decimate", 1), "fir-decimate-2": ("fir-decimate", 2)})
for _name in EXAMPLES:
    for _i, _stage in enumerate(spec_chain(_name).sample_stages):
        if isinstance(_stage, DcBlock) or (isinstance(_stage, Biquads) and _stage.kind == "notch"):
            PROBES[f"{_name}-{_i}"] = (_name, _i)


@pytest.fixture(scope="module")
def builds(tmp_path_factory):
    """name -> (chain, driver executable); each chain compiled once, two at a time."""
    root = tmp_path_factory.mktemp("chains")
    jobs = {name: (chain_of(name), HOST_FLAGS) for name in ALL_CHAINS}
    for name, (owner, index) in PROBES.items():
        owner_chain = chain_of(owner)
        jobs[f"probe:{name}"] = (probe(owner_chain, owner_chain.sample_stages[index]), PROBE_FLAGS)
    with ThreadPoolExecutor(max_workers=2) as pool:
        futures = {name: pool.submit(compile_chain, chain, root / name.replace(":", "_"), flags)
                   for name, (chain, flags) in jobs.items()}
        return {name: (jobs[name][0], future.result()) for name, future in futures.items()}


# --- signals ---------------------------------------------------------------------------

def signal_length(chain: Chain) -> int:
    framer = chain.framer
    fill = math.ceil(getattr(framer, "fft", 1) / framer.hop)  # steps before the FFT ring is full
    return chain.samples_per_frame() * (fill + 16)


def synthetic_signals(chain: Chain, n: int, seed: int = 7) -> np.ndarray:
    """int16 (windows, n, axes): a recorded machine, a full-scale sweep, DC steps, a
    clipping square wave, full-scale noise, impulses, the most negative sample, silence."""
    rng = np.random.default_rng(seed)
    fs, axes = chain.sample_rate, chain.axes
    t = np.arange(n) / fs
    out = []
    machine = vib.Machine(shaft_hz=24.6, mains_hz=50.0)
    sensor = vib.Sensor(odr=fs, lsb_g=0.000488, axes=axes, oversample=2)
    out.append(vib.record(machine, sensor, "looseness", seconds=n / fs, seed=seed)[:n])
    f0, f1 = 5.0, 0.45 * fs
    phase = 2 * math.pi * f0 * n / fs / math.log(f1 / f0) * ((f1 / f0) ** (t * fs / n) - 1)
    out.append(np.stack([32000 * np.sin(phase + a) for a in range(axes)], axis=1))
    steps = rng.integers(-32768, 32768, size=(8, axes))
    out.append(np.repeat(steps, -(-n // 8), axis=0)[:n])
    square = np.where(np.sin(2 * math.pi * fs / 37 * t) >= 0, 32767, -32768)
    out.append(np.stack([np.roll(square, 3 * a) for a in range(axes)], axis=1))
    out.append(rng.integers(-32768, 32768, size=(n, axes)))
    impulses = np.zeros((n, axes))
    where = rng.integers(0, n, size=(max(4, n // 97), axes))
    np.put_along_axis(impulses, where, rng.choice([-32768, 32767], size=where.shape), axis=0)
    out.append(impulses)
    out.append(np.full((n, axes), -32768))
    out.append(np.zeros((n, axes)))
    return np.clip(np.round(np.stack(out)), -32768, 32767).astype(np.int16)


def spec_stimuli(name: str) -> np.ndarray:
    data = spec_data(name)
    paths = [ROOT / "specs" / "examples" / p for p in data["verify"]["stimuli"]]
    return load_traces(paths).samples


# --- C equals the fixed-point model ----------------------------------------------------

def model_outputs(chain: Chain, samples: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The fixed-point model's conditioned samples, features and spike counts, each stage
    run once (Chain.run is encoder.run(features); checked on the synthetic signals)."""
    conditioned = chain.conditioned(samples)
    features = chain.framer.run(conditioned)
    return conditioned, features, chain.encoder.run(features)


def assert_equal_arrays(got: np.ndarray, expected: np.ndarray, what: str) -> None:
    assert got.shape == expected.shape, what
    mismatch = np.argwhere(got != expected)
    assert mismatch.size == 0, f"{what} differ first at (window, step, index) {tuple(mismatch[0])}"


def assert_c_equals_model(chain: Chain, exe: Path, samples: np.ndarray, *, pair: bool = False) -> np.ndarray:
    features, counts = run_c(exe, chain, samples, pair=pair)
    _, expected_features, expected = model_outputs(chain, samples)
    assert_equal_arrays(features, expected_features, "features")
    assert_equal_arrays(counts, expected, "spike counts")
    return counts


@pytest.fixture(scope="module")
def example_runs(builds):
    """name -> (samples, C features, C counts, model conditioned, model features, model counts)
    on the spec's own stimuli, computed once."""
    runs = {}
    for name in EXAMPLES:
        chain, exe = builds[name]
        samples = spec_stimuli(name)
        runs[name] = (samples, *run_c(exe, chain, samples), *model_outputs(chain, samples))
    return runs


@pytest.mark.parametrize("name", EXAMPLES)
def test_c_chain_equals_the_model_on_the_spec_stimuli(builds, example_runs, name):
    chain, _ = builds[name]
    samples, features, counts, _, expected_features, expected = example_runs[name]
    assert_equal_arrays(features, expected_features, "features")
    assert_equal_arrays(counts, expected, "spike counts")
    assert counts.shape == (samples.shape[0], samples.shape[1] // chain.samples_per_frame(), chain.n_channels)
    assert counts.sum() > 1000 and len(np.unique(counts)) > 3  # the comparison saw real activity


@pytest.mark.parametrize("name", ALL_CHAINS)
def test_c_chain_equals_the_model_on_synthetic_signals(builds, name):
    chain, exe = builds[name]
    samples = synthetic_signals(chain, signal_length(chain))
    counts = assert_c_equals_model(chain, exe, samples)
    assert_equal_arrays(chain.run(samples), counts, "Chain.run and the stage by stage model")
    assert counts.sum() > 0


@pytest.mark.parametrize("name", ["compressor", "frames-delta-split"])
def test_two_chains_side_by_side_keep_their_own_state(builds, name):
    chain, exe = builds[name]
    samples = synthetic_signals(chain, signal_length(chain), seed=11)
    assert_c_equals_model(chain, exe, samples, pair=True)


@pytest.mark.parametrize("index", range(len(spec_chain("full").sample_stages)))
def test_each_sample_stage_of_full_in_c_equals_the_model(builds, index):
    chain, exe = builds[f"probe:full-{index}"]
    samples = synthetic_signals(chain, 3000, seed=index)
    assert_c_equals_model(chain, exe, samples)


def test_chain_context_holds_only_c_text_and_control_values():
    def leaves(value):
        if isinstance(value, dict):
            for item in value.values():
                yield from leaves(item)
        elif isinstance(value, list):
            for item in value:
                yield from leaves(item)
        else:
            yield value

    for name in ALL_CHAINS:
        assert all(isinstance(v, (str, int, bool)) for v in leaves(chain_context(chain_of(name))))


@pytest.mark.parametrize("name", ALL_CHAINS)
def test_generated_c_has_no_floating_point_and_renders_the_same_twice(name):
    first, second = render(chain_of(name)), render(chain_of(name))
    assert first == second
    for text in first.values():
        assert not re.search(r"\b(float|double)\b", text)
        assert not re.search(r"\b(malloc|calloc|realloc|free)\b", text)


@pytest.mark.parametrize("name", EXAMPLES + ("frames-delta-split", "frames-threshold-split", "bands-rate", "fir-decimate"))
def test_chain_builds_for_cortex_m4(tmp_path, name):
    for file, text in render(chain_of(name)).items():
        (tmp_path / file).write_text(text)
    for source in ("preprocess.c", "encode.c"):
        done = subprocess.run(["arm-none-eabi-gcc", *ARM_FLAGS, source, "-o", source + ".o"], cwd=tmp_path,
                              capture_output=True, text=True, check=False)
        assert done.returncode == 0 and done.stderr == "", done.stderr
    # no static data beyond the constant tables: the state is all in nm_chain_t
    size = subprocess.run(["arm-none-eabi-size", "preprocess.c.o", "encode.c.o"], cwd=tmp_path, capture_output=True,
                          text=True, check=True).stdout.splitlines()[1:]
    assert [line.split()[1:3] for line in size] == [["0", "0"], ["0", "0"]]


# --- the fixed-point model against the float ideal -------------------------------------

def c_stage_output(builds, probe_name: str, samples: np.ndarray) -> np.ndarray:
    """|y| of one stage in C for int16 (windows, n, axes)."""
    chain, exe = builds[f"probe:{probe_name}"]
    features, _ = run_c(exe, chain, samples)
    return features


def single_tone(freq: float, fs: float, n: int, amplitude: float, axes: int) -> np.ndarray:
    t = np.arange(n) / fs
    tone = np.round(amplitude * np.sin(2 * math.pi * freq * t)).astype(np.int16)
    return np.repeat(tone[None, :, None], axes, axis=2)


def float_gain(sections, freq: float, fs: float) -> float:
    z = np.exp(-1j * 2 * math.pi * freq / fs)
    gain = 1.0
    for b0, b1, b2, _, a1, a2 in sections:
        gain *= abs((b0 + b1 * z + b2 * z * z) / (1 + a1 * z + a2 * z * z))
    return gain


NOTCH_PROBES = sorted(name for name, (owner, i) in PROBES.items()
                      if isinstance(chain_of(owner).sample_stages[i], Biquads) and chain_of(owner).sample_stages[i].kind == "notch")
DC_PROBES = sorted(name for name, (owner, i) in PROBES.items() if isinstance(chain_of(owner).sample_stages[i], DcBlock))


@pytest.mark.parametrize("probe_name", NOTCH_PROBES)
def test_notch_removes_mains_and_each_harmonic_by_at_least_80_db(builds, probe_name):
    """A 20000 LSB tone at each notched frequency, after the slowest pole has settled,
    leaves at most 2 LSB in C (the issue asks for 40 dB; the fixed point gives 80)."""
    owner, index = PROBES[probe_name]
    chain = chain_of(owner)
    stage = chain.sample_stages[index]
    fs = stage_rate(chain, index)
    radius = max(math.sqrt(s[4] / (1 << 28)) for s in stage.sections)
    settle = int(14 / (1 - radius))  # the slowest pole decays by e^-14 (-122 dB)
    amplitude = 20000.0
    for harmonic, (b0, b1, _, _, _) in enumerate(stage.sections, start=1):
        f0 = fs * math.acos(-b1 / (2 * b0)) / (2 * math.pi)  # the zero of this section
        tone = single_tone(f0, fs, settle + 4000, amplitude, 1)
        residual = c_stage_output(builds, probe_name, tone[:, :, :1].repeat(chain.axes, axis=2))[0, settle:].max()
        attenuation = 20 * math.log10(amplitude / max(residual, 0.5))
        assert attenuation >= 80.0, f"harmonic {harmonic} at {f0:.2f} Hz: {attenuation:.1f} dB"
    # halfway between the notches the fixed-point gain is the float design's within 0.05 dB
    fundamental = fs * math.acos(-stage.sections[0][1] / (2 * stage.sections[0][0])) / (2 * math.pi)
    for harmonic in range(1, len(stage.sections) + 1):
        tone = single_tone(fundamental * (harmonic - 0.5), fs, settle + 8000, amplitude, chain.axes)
        peak = c_stage_output(builds, probe_name, tone)[0, settle:, 0].max()
        ideal = np.abs(stage.run_float(tone[:, :, :1].astype(np.float64))[0, settle:, 0]).max()
        assert abs(20 * math.log10(peak / ideal)) < 0.05, (harmonic, peak, ideal)


@pytest.mark.parametrize("probe_name", DC_PROBES)
@pytest.mark.parametrize("step", [16000, 2049, -300, 32767])
def test_dc_step_is_gone_after_the_settling_time_its_cutoff_implies(builds, probe_name, step):
    """A step of `step` LSB after a quiet start: after 5 time constants 1 / (2 pi fc) the
    residual is the float filter's (step p^n, about e^-5 step) within 1 LSB; after 12 (a
    full-scale step decays to 0.2 LSB) it is at most 1 LSB."""
    owner, index = PROBES[probe_name]
    chain = chain_of(owner)
    stage = chain.sample_stages[index]
    pole = stage.pole / (1 << 30)
    tau = 1 / (1 - pole)  # samples; 1 - p = 2 pi fc / fs
    start = 64
    n = start + int(12 * tau) + 1
    samples = np.zeros((1, n, chain.axes), dtype=np.int16)
    samples[0, start:, :] = step
    residual = c_stage_output(builds, probe_name, samples)[0, :, 0]
    at5 = start + int(5 * tau)
    assert abs(residual[at5] - abs(step) * pole ** (at5 - start)) <= 1.0
    assert residual[-1] <= 1
    assert residual[start] == min(abs(step), 32767)  # the step itself passes


def test_sample_stages_stay_within_their_rounding_of_the_float_design():
    """Stage by stage on full-scale noise and a machine recording, from the same fixed-point
    input: at most 1 LSB per recursive section (DC block, envelope, each biquad) plus the
    output rounding."""
    for name in ALL_CHAINS:
        chain = chain_of(name)
        x = synthetic_signals(chain, 4000)[[0, 4]].astype(np.int64) // 4  # no saturation: the float ideal has none
        for stage in chain.sample_stages:
            fixed = stage.run(x)
            ideal = stage.run_float(x)
            sections = len(stage.sections) if isinstance(stage, Biquads) else 1
            assert np.abs(fixed - ideal).max() <= sections + 0.5, (name, stage.id)
            x = fixed


def float_band_features(chain: Chain, conditioned: np.ndarray) -> np.ndarray:
    """256 log2 of the band energies of a float numpy FFT of the same frames (X / N of the
    Hann-windowed segments), energies below 1 taken as 1."""
    framer = chain.framer
    segments = framer.frames(conditioned.astype(np.float64)) * (0.5 * (1 - np.cos(2 * np.pi * np.arange(framer.fft) / framer.fft)))
    power = np.abs(np.fft.rfft(segments, axis=-1)[..., : framer.fft // 2] / framer.fft) ** 2
    energies = np.stack([power[..., framer.bin_band == b].sum(axis=-1) for b in range(framer.bands)], axis=-1)
    energies = energies.sum(axis=2) if framer.combine_axes else energies.reshape(energies.shape[0], energies.shape[1], -1)
    return 256 * np.log2(np.maximum(energies, 1.0)), energies


@pytest.mark.parametrize("name", EXAMPLES)
def test_band_energies_in_c_are_within_stated_error_of_a_float_fft(builds, example_runs, name):
    """On the spec's stimuli, against a float numpy FFT of the same conditioned frames:
    within 3 (of 256 per octave: 0.035 dB) wherever the band energy is at least 4 LSB^2,
    within 8 below that."""
    chain, _ = builds[name]
    _, features, _, conditioned, _, _ = example_runs[name]
    ideal, energies = float_band_features(chain, conditioned)
    error = np.abs(features - ideal)
    assert error[energies >= 4].max() <= 3.0
    assert error.max() <= 8.0
    assert (energies >= 4).sum() > 1000  # most of what was compared carried signal


def test_band_energy_of_a_tone_lands_in_its_band_at_the_float_level():
    chain = synthetic_chain("bands-threshold")
    framer = chain.framer
    fs = chain.sample_rate
    for amplitude in (30, 3000, 30000):
        freq = fs / framer.fft * 21  # on bin 21
        tone = single_tone(freq, fs, 2000, amplitude, chain.axes)
        fixed = chain.framer.run(tone.astype(np.int64))[0, -1]
        ideal, _ = float_band_features(chain, tone)
        band = framer.bin_band[21]
        assert np.argmax(fixed) == band
        assert abs(fixed[band] - ideal[0, -1, band]) <= 2.0, (amplitude, fixed[band], ideal[0, -1, band])


@pytest.mark.parametrize("probe_name", ["fir-decimate-1", "fir-decimate-2"])
def test_decimating_fir_keeps_the_new_band_and_stops_what_would_alias(builds, probe_name):
    """Tones through the FIR in C: above the new Nyquist frequency at least 40 dB down;
    below half of it within 0.05 dB of the float taps' gain on the same input."""
    owner, index = PROBES[probe_name]
    chain = chain_of(owner)
    stage = chain.sample_stages[index]
    fs = stage_rate(chain, index)
    nyquist = fs / stage.factor / 2
    amplitude = 20000.0
    n = 40 * len(stage.taps) * stage.factor
    settle = 2 * len(stage.taps) // stage.factor + 1  # output samples
    for freq in np.linspace(nyquist * 1.001, fs / 2 * 0.999, 9):
        tone = single_tone(freq, fs, n, amplitude, chain.axes)
        peak = c_stage_output(builds, probe_name, tone)[0, settle:].max()
        assert 20 * math.log10(amplitude / max(peak, 0.5)) >= 40.0, freq
    for freq in np.linspace(nyquist * 0.05, nyquist * 0.5, 5):
        tone = single_tone(freq, fs, n, amplitude, chain.axes)
        peak = c_stage_output(builds, probe_name, tone)[0, settle:, 0].max()
        ideal = np.abs(stage.run_float(tone[:, :, :1])[0, settle:, 0]).max()
        assert abs(20 * math.log10(peak / ideal)) < 0.05, (freq, peak, ideal)


def test_decimate_taps_are_checked():
    from engine.dsp.stages import ChainError

    with pytest.raises(ChainError, match="^taps must be 0 \\(no filter\\) or an odd number of at least 3, not 30$"):
        Decimate.design("d", 2, 30)
    with pytest.raises(ChainError, match="^9 taps leave less than half the band below the new Nyquist frequency for "
                                         "factor 4; use at least 27$"):
        Decimate.design("d", 4, 9)
    assert sum(Decimate.design("d", 4, 63).taps) == 1 << 15


def test_time_features_are_within_stated_error_of_the_float_definitions(builds):
    """RMS within 1 LSB (a floor), peak exact, kurtosis within 4 of 256 (0.016), against
    numpy on the same 20-sample frames (noise, heavy tails, a sine, a small signal on a
    large offset, a full-scale sweep)."""
    chain, exe = builds["features-all"]
    features = chain.framer
    rng = np.random.default_rng(3)
    n = features.hop * 40
    t = np.arange(n) / (chain.sample_rate / chain.decimation)
    signals = np.stack([rng.normal(0, 3000, (n, 3)), rng.laplace(0, 800, (n, 3)),
                        np.stack([9000 * np.sin(2 * np.pi * 37 * t + a) for a in range(3)], axis=1),
                        rng.normal(0, 3, (n, 3)) + 1500, synthetic_signals(chain, n)[1]])
    x = np.clip(np.round(signals), -32768, 32767).astype(np.int64)
    fixed, ideal = features.run(x), features.run_float(x)
    error = np.abs(fixed - ideal).reshape(x.shape[0], -1, chain.axes, 3)
    assert error[..., 0].max() <= 1.0 and error[..., 1].max() == 0 and error[..., 2].max() <= 4.0
    kurtosis = fixed.reshape(x.shape[0], -1, chain.axes, 3)[..., 2] / 256
    assert np.median(kurtosis[1]) > np.median(kurtosis[0]) + 0.5  # Laplace tails are heavier than Gaussian
    # and the C reads the same numbers from the raw samples through its whole chain
    samples = np.repeat(x.astype(np.int16), chain.decimation, axis=1)
    c_features, _ = run_c(exe, chain, samples)
    assert_equal_arrays(c_features, chain.features(samples), "features")


def test_hostile_stage_ids_reach_the_c_only_as_safe_comments(tmp_path):
    """Stage ids end up in comments; ids a schema would refuse still cannot end them."""
    hostile = '*/ #error "escaped" /* \n#include <stdio.h>'
    chain = build_chain([{"kind": "dc_block", "id": hostile, "cutoff": 2.0},
                         {"kind": "decimate", "id": "x*/y", "factor": 2, "taps": 15},
                         {"kind": "band_energy", "id": "??=", "fft": 32, "bands": 4},
                         {"kind": "encode", "id": "*/", "encoding": "delta", "threshold": 0.05}],
                        sample_rate=1000.0, mains=50.0, axes=1, dt=0.016)
    exe = compile_chain(chain, tmp_path / "hostile", HOST_FLAGS)
    text = (tmp_path / "hostile" / "preprocess.c").read_text()
    assert "#error" not in text.replace('* / #error "escaped" / *', "")
    samples = synthetic_signals(chain, signal_length(chain))[:3]
    assert_c_equals_model(chain, exe, samples)


def test_a_step_longer_than_the_firmware_counts_is_refused():
    from engine.dsp.stages import ChainError

    encode = {"kind": "encode", "encoding": "delta", "threshold": 0.05}
    with pytest.raises(ChainError, match="^80000 samples per model step; the firmware counts at most 65535 \\(decimate first\\)$"):
        build_chain([encode], sample_rate=8000.0, mains=50.0, axes=1, dt=10.0)
    with pytest.raises(ChainError, match="^80000 samples per model step; the firmware counts at most 65535 \\(decimate first\\)$"):
        build_chain([{"kind": "band_energy", "fft": 64, "bands": 4}, encode], sample_rate=8000.0, mains=50.0, axes=1, dt=10.0)
    with pytest.raises(ChainError, match="^80000 samples per model step; features take at most 16384 \\(decimate first\\)$"):
        build_chain([{"kind": "features"}, encode], sample_rate=8000.0, mains=50.0, axes=1, dt=10.0)
