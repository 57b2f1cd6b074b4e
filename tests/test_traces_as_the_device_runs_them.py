"""What `simulate` and `verify` say about a recorded trace is what the device would do with it:
windows run the way the firmware schedules them, a trace recorded with other sensor settings
is refused with its values, and accuracy on labelled stimuli has a floor."""

from __future__ import annotations

import importlib.util
import shutil
import sys
from pathlib import Path

import numpy as np
import pytest
from spec_cases import run_cli

from engine.cli.cmd_build import summary_table

ROOT = Path(__file__).resolve().parents[1]
_spec = importlib.util.spec_from_file_location("make_examples", ROOT / "tools" / "make_examples.py")
make_examples = importlib.util.module_from_spec(_spec)
sys.modules.setdefault("make_examples", make_examples)
_spec.loader.exec_module(make_examples)


@pytest.fixture(scope="module")
def repo(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("repo")
    shutil.copytree(ROOT / "specs" / "examples", root / "specs" / "examples")
    (root / "nmspec.toml").write_text("")
    return root


@pytest.fixture(scope="module")
def normal_recording(repo) -> Path:
    """20 s of one normal installation recorded in one go (a seed no example trace uses)."""
    samples = make_examples.compressor_recording("normal", 20.0, 123, 1600.0)
    path = repo / "normal-20s.npz"
    np.savez(path, samples=samples, sample_rate=np.float64(1600.0), lsb=np.float64(0.000488))
    return path


def summary_lines(err: str) -> dict[str, str]:
    return dict(line.split(": ", 1) for line in err.splitlines() if ": " in line and not line.startswith("nmspec"))


def test_a_continuous_normal_recording_reads_normal_window_by_window(repo, normal_recording):
    code, out, err = run_cli(["simulate", "specs/examples/compressor.yaml", "--trace", normal_recording.name], repo)
    assert code == 0, err
    summary = summary_lines(err)
    assert summary["windows"] == "normal 20"
    assert summary["mode"] == ("measurement windows of 1 s (1600 samples), each from the zero state as the firmware runs "
                               "them (docs/firmware.md); --continuous runs the trace as one signal")
    assert summary["steps"] == "2000" and "unused_samples" not in summary
    assert out.startswith("step,time_s,output,label,spikes\n")


def test_continuous_is_one_run_and_says_so(repo, normal_recording):
    code, _, err = run_cli(["simulate", "specs/examples/compressor.yaml", "--trace", normal_recording.name,
                            "--continuous"], repo)
    assert code == 0, err
    summary = summary_lines(err)
    assert summary["mode"] == ("one continuous run from one state (--continuous); the firmware instead starts every "
                               "measurement window from the zero state")
    assert "windows" not in summary


def test_each_window_equals_a_fresh_run_of_that_window(repo, normal_recording, tmp_path):
    """The windowed run's events are those of each window simulated on its own, shifted."""
    with np.load(normal_recording) as data:
        samples = data["samples"]
    whole = tmp_path / "whole.csv"
    assert run_cli(["simulate", "specs/examples/compressor.yaml", "--trace", str(normal_recording), "--events",
                    str(whole)], repo)[0] == 0
    expected = ["step,time_s,output,label,spikes"]
    for w in (0, 7):
        one = tmp_path / f"w{w}.npz"
        np.savez(one, samples=samples[w * 1600:(w + 1) * 1600], sample_rate=np.float64(1600.0))
        events = tmp_path / f"w{w}.csv"
        assert run_cli(["simulate", "specs/examples/compressor.yaml", "--trace", str(one), "--events", str(events)],
                       repo)[0] == 0
        for line in events.read_text().splitlines()[1:]:
            step, _, output, label, spikes = line.split(",")
            shifted = int(step) + 100 * w
            expected.append(f"{shifted},{shifted * 0.01:.9g},{output},{label},{spikes}")
    got = [line for line in whole.read_text().splitlines()
           if line.startswith("step") or int(line.split(",")[0]) // 100 in (0, 7)]
    assert got == expected


def test_a_trace_recorded_at_another_rate_is_refused(repo, tmp_path):
    trace = tmp_path / "t.npz"
    np.savez(trace, samples=np.zeros((3200, 3), np.int16), sample_rate=np.float64(2000.0))
    code, _, err = run_cli(["simulate", "specs/examples/compressor.yaml", "--trace", str(trace)], repo)
    assert code == 1
    assert err == (f"{trace}: error[NM816]: recorded at 2000 Hz (its sample_rate), the spec's sensor runs at 1600 Hz "
                   "(sensor.odr); every frequency in the chain would be off by a factor 0.8\n"
                   "  hint: run the trace through a spec with the sensor settings it was recorded with\n")


def test_stimuli_recorded_at_another_rate_are_refused(repo):
    traces = repo / "specs" / "examples" / "traces"
    with np.load(traces / "compressor-nominal.npz") as data:
        np.savez(traces / "fast.npz", **{**dict(data), "sample_rate": np.float64(2000.0)})
    spec = repo / "specs" / "examples" / "fast.yaml"
    spec.write_text((repo / "specs" / "examples" / "compressor.yaml").read_text().replace(
        "traces/compressor-nominal.npz", "traces/fast.npz"))
    code, _, err = run_cli(["fit", str(spec)], repo)
    assert code == 1
    assert err.splitlines()[0].endswith(
        "error[NM306]: verify.stimuli[0]: fast.npz: recorded at 2000 Hz (its sample_rate), the spec's sensor runs at "
        "1600 Hz (sensor.odr); every frequency in the chain would be off by a factor 0.8")
    spec.unlink()


def test_a_trace_beyond_the_sensor_range_is_refused(repo, tmp_path):
    trace = tmp_path / "loud.npz"
    np.savez(trace, samples=np.full((1600, 3), 16000, np.int16), sample_rate=np.float64(1600.0),
             lsb=np.float64(0.000488))
    code, _, err = run_cli(["simulate", "specs/examples/compressor.yaml", "--trace", str(trace)], repo)
    assert code == 1
    assert err.splitlines()[0] == (f"{trace}: error[NM816]: its samples reach 7.808 g (0.000488 g per count), beyond "
                                   "the spec's 4 g range (sensor.range)")


def test_a_trace_shorter_than_one_window(repo, tmp_path):
    trace = tmp_path / "short.npz"
    np.savez(trace, samples=np.zeros((800, 3), np.int16))
    code, _, err = run_cli(["simulate", "specs/examples/compressor.yaml", "--trace", str(trace)], repo)
    assert code == 1
    assert err == (f"{trace}: error[NM814]: the trace holds 800 samples, less than one measurement window of 1600 "
                   "(runtime.schedule.window at sensor.odr)\n  hint: record at least one window, or run it with --continuous\n")


def test_accuracy_below_the_floor(repo):
    """Labels shifted by one class: the kernel still agrees with the float model, and is wrong."""
    traces = repo / "specs" / "examples" / "traces"
    with np.load(traces / "compressor-fault.npz") as data:
        arrays = dict(data)
    arrays["labels"] = (arrays["labels"] % 3) + 1
    np.savez(traces / "mislabelled.npz", **arrays)
    text = (repo / "specs" / "examples" / "compressor.yaml").read_text().replace(
        "stimuli: [traces/compressor-nominal.npz, traces/compressor-fault.npz]",
        "stimuli: [traces/compressor-nominal.npz, traces/mislabelled.npz]")
    spec = repo / "specs" / "examples" / "mislabelled.yaml"
    spec.write_text(text)
    code, out, err = run_cli(["verify", str(spec)], repo)
    assert code == 0
    assert "warning[NM808]: verify: the image classifies 50.0% of the 48 labelled stimulus windows correctly, below " \
           "the default floor 0.9 (verify.min_accuracy is not set)" in err
    assert "accuracy on the labelled stimuli: kernel 50.0%, float 50.0% (warned below 90%; set verify.min_accuracy " \
           "to require one)" in out
    spec.write_text(text.replace("min_agreement: 0.99", "min_agreement: 0.99\n  min_accuracy: 0.95"))
    code, out, err = run_cli(["verify", str(spec)], repo)
    assert code == 1
    assert "error[NM808]: verify: the image classifies 50.0% of the 48 labelled stimulus windows correctly, below " \
           "verify.min_accuracy 0.95" in err
    assert out.splitlines()[-1] == "verification FAILED (unsigned: no signature checked)"
    spec.unlink()


def test_the_build_table_shows_accuracy_beside_agreement(tmp_path):
    rows = [("plant/a", "written", "miss", 1.25, 1.0, 0.708), ("plant/b", "failed", "-", 0.5, None, None)]
    assert summary_table(rows, tmp_path / "out", False).splitlines()[:3] == [
        "site     status      cache    time  agreement  accuracy",
        "plant/a  written     miss     1.2s     100.0%     70.8%",
        "plant/b  failed      -        0.5s          -         -",
    ]
