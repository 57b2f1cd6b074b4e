"""`nmspec simulate` as data: raw input spikes or a recorded sensor trace in, every spike,
per-step state and per-step cycle counts out. Loading problems a user can cause are
StageError diagnostics; nothing here prints or exits.

Inputs:
- spike counts: an .npz with one integer array (steps, input channels) of non-negative
  counts, under the key `spikes` (or as its only array);
- a sensor trace: an .npz with int16 `samples` (n, axes) or (n,), or a CSV with one
  column per axis (an optional header row of names; `#` lines are comments).

Outputs are written deterministically: .npz members in sorted order with a fixed
timestamp, CSV with fixed formatting.
"""

from __future__ import annotations

import csv
import io
import zipfile
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn

import attrs
import numpy as np
from numpy.typing import NDArray

from engine.diagnostics import Diagnostic, StageError

if TYPE_CHECKING:
    from engine.dsp.chain import Chain
    from engine.netlist import QuantNetwork
    from engine.resolve.floatnet import FloatNet
    from engine.resolve.stimuli import SensorSetting
    from engine.verify.cycles import CycleCounts, CycleModel
    from engine.verify.kernel import KernelRun

# one output spike count of a trace run: (step, time s, output neuron, label, spikes)
TraceEvent = tuple[int, float, int, str, int]


def _fail(code: str, path: str | Path, message: str, hint: str | None = None) -> NoReturn:
    raise StageError([Diagnostic("error", code, message, file=str(path), hint=hint)])


def load_spike_counts(path: str | Path, n_inputs: int, *, whole_floats: bool = False) -> NDArray[np.int64]:
    """(steps, n_inputs) non-negative integer counts. `whole_floats`: a float array of whole
    numbers is taken too (frameworks record their input spikes as floats)."""
    from engine.npzfile import NpzError, read_npz

    if not Path(path).exists():
        _fail("NM810", path, "no such file")
    try:
        data = read_npz(path)
    except NpzError as exc:
        _fail("NM811", path, f"not a readable .npz of spike counts: {exc}")
    names = sorted(data)
    if "spikes" in names:
        raw = data["spikes"]
    elif len(names) == 1:
        raw = data[names[0]]
    else:
        _fail("NM811", path, f"holds {len(names)} arrays ({', '.join(names)}) and none is named 'spikes'")
    if raw.ndim != 2 or raw.shape[1] != n_inputs:
        _fail("NM812", path, f"spike counts must be (steps, {n_inputs}) for this {'model' if whole_floats else 'image'}, "
                             f"got shape {raw.shape}", hint="one row per time step, one column per input channel")
    if whole_floats and raw.dtype.kind == "f":
        finite = np.isfinite(raw)
        if not np.all(finite) or np.any(raw != np.round(np.where(finite, raw, 0))):
            bad = np.argwhere(~finite | (raw != np.round(np.where(finite, raw, 0))))[0]
            _fail("NM812", path, f"spike counts must be whole numbers; step {int(bad[0])}, input {int(bad[1])} holds "
                                 f"{float(raw[bad[0], bad[1]])!r}", hint="count spikes per step and input (0, 1, 2, ...)")
        if raw.size and raw.max() > 2**31 - 1:
            _fail("NM812", path, f"spike counts must fit 32 bits; the largest is {raw.max():g}")
    elif raw.dtype.kind not in "iub":
        accepted = "integers or whole floats" if whole_floats else "integers"
        _fail("NM812", path, f"spike counts must be {accepted}, got {raw.dtype}")
    if raw.size and raw.min() < 0:
        _fail("NM812", path, "spike counts must be non-negative")
    return raw.astype(np.int64)


def load_trace(path: str | Path, axes: int, sensor: SensorSetting | None = None
               ) -> tuple[NDArray[np.int16], tuple[str, ...]]:
    """int16 (n, axes) samples from a trace .npz or CSV, and warnings. With `sensor` (an
    engine.resolve.stimuli.SensorSetting), a .npz's sample_rate and lsb must match the spec."""
    from engine.resolve.stimuli import trace_mismatches

    path = Path(path)
    if not path.is_file():
        _fail("NM810", path, "no such file")
    warnings: tuple[str, ...] = ()
    if path.suffix.lower() == ".csv":
        samples = _read_csv(path)
        if sensor is not None:
            warnings = ((f"{path}: a CSV trace carries no sample rate; it is taken as recorded at the spec's "
                         f"{sensor.sample_rate:g} Hz (sensor.odr)"),)
    else:
        from engine.npzfile import NpzError, read_npz

        try:
            data = read_npz(path)
        except NpzError as exc:
            _fail("NM813", path, f"not a readable trace (.npz with samples, or .csv): {exc}")
        if "samples" not in data:
            _fail("NM813", path, "a trace .npz needs a 'samples' array (n, axes)")
        samples = data["samples"]
        errors, cautions = trace_mismatches(str(path), data, samples, sensor) if sensor is not None else ([], [])
        if errors:
            _fail("NM816", path, "; ".join(e.removeprefix(f"{path}: ") for e in errors),
                  hint="run the trace through a spec with the sensor settings it was recorded with")
        warnings = tuple(cautions)
    if samples.ndim == 1:
        samples = samples[:, None]
    if samples.ndim != 2 or samples.shape[1] != axes:
        _fail("NM814", path, f"the trace has {samples.shape[1] if samples.ndim == 2 else samples.shape} channel(s); "
                             f"the spec's sensor has {axes} axes", hint="one column per sensor axis, in the spec's order")
    if samples.shape[0] == 0:
        _fail("NM814", path, "the trace holds no samples")
    if samples.dtype.kind == "f" and not np.all(np.isfinite(samples)):
        _fail("NM814", path, "the trace holds NaN or infinite samples")
    if samples.min() < -32768 or samples.max() > 32767 or (samples.dtype.kind == "f" and np.any(samples != np.round(samples))):
        _fail("NM814", path, "samples must be integers in the sensor's int16 range (raw ADC counts)")
    return samples.astype(np.int16), warnings


def _read_csv(path: Path) -> NDArray[np.float64]:
    from engine.npzfile import MAX_NPZ_BYTES

    try:
        if path.stat().st_size > MAX_NPZ_BYTES:
            _fail("NM813", path, f"the trace is larger than {MAX_NPZ_BYTES} bytes")
        text = path.read_text()
    except (OSError, UnicodeDecodeError) as exc:
        _fail("NM813", path, f"cannot read the trace: {exc}")
    rows = []
    for number, row in enumerate(csv.reader(line for line in text.splitlines() if not line.lstrip().startswith("#")), start=1):
        if not row or all(not cell.strip() for cell in row):
            continue
        try:
            rows.append([float(cell) for cell in row])
        except ValueError:
            if rows or number > 1:
                _fail("NM813", path, f"row {number}: not a number: {','.join(row)[:60]}")
            continue  # a header row of names
    widths = {len(r) for r in rows}
    if len(widths) > 1:
        _fail("NM813", path, f"rows have different numbers of columns: {sorted(widths)}")
    return np.array(rows, dtype=np.float64).reshape(len(rows), widths.pop() if widths else 0)


def record_arrays(run: KernelRun, counts: CycleCounts | None = None) -> dict[str, np.ndarray]:
    """Everything `simulate --record` writes: spikes and states per population, per-step
    cycles and event counters per core, latency per step."""
    out: dict[str, np.ndarray] = {"inputs": run.inputs}
    for pop, spikes in run.spikes.items():
        out[f"spikes.{pop}"] = spikes
    for name, values in run.states.items():
        out[f"state.{name}"] = values
    if counts is not None:
        out["cycles"] = counts.cycles
        out["latency_s"] = counts.latency_s
        for name, counter in counts.counters.items():
            out[f"events.{name}"] = counter
    return out


def reference_arrays(net: FloatNet, counts: NDArray[np.int64]) -> dict[str, np.ndarray]:
    """Everything `simulate SPEC --reference --record` writes: the float reading of the
    model run on `counts`: per population (its NIR node's name) `spikes.<pop>`,
    `state.<pop>.v` (the membrane after any reset, or an LI's state) and, with a synapse,
    `state.<pop>.isyn`; all (steps, neurons), float64."""
    from engine.resolve.floatnet import simulate

    run = simulate(net, counts.astype(np.float64), record=True)
    out: dict[str, np.ndarray] = {"inputs": counts}
    for pop in net.populations:
        out[f"spikes.{pop.name}"] = run[pop.name]
        out[f"state.{pop.name}.v"] = run[f"v:{pop.name}"]
        if f"syn:{pop.name}" in run:
            out[f"state.{pop.name}.isyn"] = run[f"syn:{pop.name}"]
    return out


def npz_bytes(arrays: Mapping[str, np.ndarray]) -> bytes:
    """A .npz numpy reads, byte-identical for the same arrays (sorted, fixed timestamps)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name in sorted(arrays):
            member = io.BytesIO()
            array = np.asarray(arrays[name])
            np.lib.format.write_array(member, np.ascontiguousarray(array.astype(array.dtype.newbyteorder("<"))),
                                      allow_pickle=False)
            info = zipfile.ZipInfo(f"{name}.npy", date_time=(1980, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            archive.writestr(info, member.getvalue())
    return buffer.getvalue()


def output_events(run: KernelRun, output: str, labels: Sequence[str], dt: float) -> list[TraceEvent]:
    """(step, time s, output neuron, label, spikes) for every output spike, in time order."""
    spikes = run.spikes[output]
    steps, neurons = np.nonzero(spikes)
    return [(int(t), round(float(t) * dt, 9), int(k), labels[int(k)] if int(k) < len(labels) else f"out{int(k)}",
             int(spikes[t, k])) for t, k in zip(steps.tolist(), neurons.tolist())]


def events_csv(events: Iterable[TraceEvent]) -> str:
    lines = ["step,time_s,output,label,spikes"]
    lines += [f"{t},{time:.9g},{k},{label},{n}" for t, time, k, label, n in events]
    return "\n".join(lines) + "\n"


def events_npz(events: Sequence[TraceEvent], labels: Iterable[str]) -> bytes:
    steps = np.array([e[0] for e in events], dtype=np.int64)
    return npz_bytes({"step": steps, "time_s": np.array([e[1] for e in events], dtype=np.float64),
                      "output": np.array([e[2] for e in events], dtype=np.int64),
                      "spikes": np.array([e[4] for e in events], dtype=np.int64),
                      "labels": np.array(list(labels), dtype=np.str_)})


CONTINUOUS_CHUNK_STEPS = 20_000  # steps per kernel call in a continuous run: memory stays bounded, results do not change


@attrs.frozen(eq=False)
class TraceRun:
    """A trace through the chain and the kernel. `windowed`: cut into measurement windows,
    each from the zero state as the firmware runs them; else one continuous run."""

    windowed: bool
    window_samples: int  # samples per measurement window (windowed runs)
    events: tuple[TraceEvent, ...]
    window_classes: tuple[str, ...]  # the class of each window, as the firmware would report it
    steps: int
    unused_samples: int  # trailing samples shorter than one window (windowed runs)
    peak_cycles: float | None  # busiest step's cycles, with a cycle model


def run_trace(chain: Chain, network: QuantNetwork, labels: Sequence[str], samples: NDArray[np.int16], *,
              window_samples: int, continuous: bool = False, cycle_model: CycleModel | None = None,
              progress: Callable[[int, int], None] | None = None) -> TraceRun:
    """`progress(done, total)`, when given, is called after each piece of work."""
    from engine.resolve.floatnet import classify
    from engine.verify import kernel
    from engine.verify.cycles import count_cycles

    events: list[TraceEvent] = []
    classes: list[str] = []
    peak = 0.0
    dt = network.dt
    if continuous:
        spikes = chain.run(samples)
        pieces = [(start, spikes[start: start + CONTINUOUS_CHUNK_STEPS])
                  for start in range(0, spikes.shape[0], CONTINUOUS_CHUNK_STEPS)]
        unused, state, routing = 0, None, None
    else:
        count = samples.shape[0] // window_samples
        unused = samples.shape[0] - count * window_samples
        windows = samples[: count * window_samples].reshape(count, window_samples, samples.shape[1])
        spikes = chain.run(windows) if count else np.zeros((0, 0, network.n_inputs), dtype=np.uint8)
        steps_per_window = spikes.shape[1] if count else 0
        pieces = [(w * steps_per_window, spikes[w]) for w in range(count)]
        routing = None
    for done, (start, piece) in enumerate(pieces, start=1):
        if continuous:
            result = kernel.run(network, piece, initial=state, routing=routing)
            state = result.final
        else:  # every window from the zero state (docs/firmware.md)
            result = kernel.run(network, piece, routing=routing)
            classes.append(labels[int(classify(result.output_scores(network)))])
        routing = result.routing
        events += [(t + start, round((t + start) * dt, 9), k, label, n)
                   for t, _, k, label, n in output_events(result, network.output, labels, dt)]
        if cycle_model is not None:
            peak = max(peak, float(count_cycles(network, result, cycle_model).step_cycles.max(initial=0.0)))
        if progress is not None:
            progress(done, len(pieces))
    steps = sum(piece.shape[0] for _, piece in pieces)
    return TraceRun(not continuous, window_samples, tuple(events), tuple(classes), steps, unused,
                    peak if cycle_model is not None else None)
