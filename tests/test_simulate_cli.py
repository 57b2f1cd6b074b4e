"""nmspec simulate in both modes: what it writes, and a one-line diagnostic for every bad input."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from engine.cli import main
from engine.image import ImageContents, Metadata, Target, read_image, write_image
from engine.verify.kernel import run
from tests.test_kernel_cycles import tiny_xylo, two_core_lif

REPO = Path(__file__).resolve().parents[1]


def image(tmp_path, network, chip, name="model.nmc"):
    contents = ImageContents(Metadata("test/site", "0" * 64, "test", "tiny", ("a",)), Target(chip, network.family), network)
    path = tmp_path / name
    path.write_bytes(write_image(contents))
    return path


def spikes_file(tmp_path, array, name="in.npz", key="spikes"):
    path = tmp_path / name
    with open(path, "wb") as handle:  # np.savez would append .npz to other names
        np.savez(handle, **{key: array})
    return path


def text_file(path, text):
    path.write_text(text)
    return path


def test_image_mode_records_spikes_states_and_cycles_per_core(tmp_path, capsys):
    path = image(tmp_path, two_core_lif(), "generic-lif")
    inputs = np.array([[1], [0], [0]])
    record = tmp_path / "out.npz"
    assert main(["simulate", str(path), "--spikes", str(spikes_file(tmp_path, inputs)), "--record", str(record),
                 "--output", "json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["cores"] == 2 and summary["steps"] == 3 and summary["peak_cycles_per_step"] == 52.0
    assert summary["routing"] == {"packet_sources": 2, "undelivered_synapses": 0, "stray_deliveries": 0, "hops_per_packet_max": 1}
    with np.load(record) as data:
        assert sorted(data.files) == ["cycles", "events.hops", "events.input_events", "events.neuron_updates",
                                      "events.spikes_sent", "events.synaptic_ops", "inputs", "latency_s",
                                      "spikes.p1", "spikes.p2", "state.p1.isyn", "state.p1.v", "state.p2.isyn", "state.p2.v"]
        assert data["cycles"].tolist() == [[34, 46], [28, 52], [28, 52]]  # as worked by hand in test_kernel_cycles
        expected = run(read_image(path.read_bytes()).network, inputs, record=True)
        assert data["spikes.p1"].tolist() == expected.spikes["p1"].tolist() == [[1, 1], [1, 1], [1, 1]]
        assert data["state.p2.v"].tolist() == expected.states["p2.v"].tolist()
    first = record.read_bytes()
    assert main(["simulate", str(path), "--spikes", str(tmp_path / "in.npz"), "--record", str(record)]) == 0
    assert record.read_bytes() == first  # byte-identical on a second run


def test_image_mode_xylo_states_per_synapse(tmp_path, capsys):
    path = image(tmp_path, tiny_xylo(), "xylo-audio2")
    record = tmp_path / "out.npz"
    assert main(["simulate", str(path), "--spikes", str(spikes_file(tmp_path, np.array([[1, 0], [0, 0], [0, 0]]))),
                 "--record", str(record)]) == 0
    assert "peak_cycles_per_step: 96" in capsys.readouterr().out
    with np.load(record) as data:
        assert data["state.hidden.isyn"][:, 0, 0].tolist() == [127, 64, 32]  # 254 - 127, - 63, - 32
        assert data["state.hidden.v"][:, 0].tolist() == [27, 85, 96]  # 127 - 100; 27 - 6 + 64; 85 - 21 + 32
        assert data["cycles"][:, 0].tolist() == [93.5, 96.0, 80.0]


@pytest.mark.parametrize("make, message", [
    (lambda d: d / "missing.npz", "error[NM810]: no such file"),
    (lambda d: spikes_file(d, np.zeros((4, 3), dtype=int)), "error[NM812]: spike counts must be (steps, 1) for this image, got shape (4, 3)"),
    (lambda d: spikes_file(d, np.zeros(4, dtype=int)), "error[NM812]: spike counts must be (steps, 1) for this image, got shape (4,)"),
    (lambda d: spikes_file(d, -np.ones((4, 1), dtype=int)), "error[NM812]: spike counts must be non-negative"),
    (lambda d: spikes_file(d, np.full((4, 1), 0.5)), "error[NM812]: spike counts must be integers, got float64"),
    (lambda d: text_file(d / "text.npz", "hello"), "error[NM811]: not a readable .npz of spike counts"),
])
def test_image_mode_bad_spikes(tmp_path, capsys, make, message):
    path = image(tmp_path, two_core_lif(), "generic-lif")
    assert main(["simulate", str(path), "--spikes", str(make(tmp_path)), "--record", str(tmp_path / "r.npz")]) == 1
    err = capsys.readouterr().err
    assert message in err.splitlines()[0]
    assert "Traceback" not in err and not (tmp_path / "r.npz").exists()


def test_image_mode_not_an_image(tmp_path, capsys):
    fake = spikes_file(tmp_path, np.zeros((2, 1), dtype=int), name="fake.nmc")
    assert main(["simulate", str(fake), "--spikes", str(fake), "--record", str(tmp_path / "r.npz")]) == 1
    assert "error[NM701]: not an .nmc image" in capsys.readouterr().err
    assert main(["simulate", str(tmp_path / "none.nmc"), "--spikes", str(fake), "--record", str(tmp_path / "r.npz")]) == 1
    assert "error[NM810]: cannot read the image" in capsys.readouterr().err


@pytest.mark.parametrize("argv", [["x.nmc"], ["x.nmc", "--spikes", "a.npz"], ["s.yaml", "--trace", "t.csv", "--record", "r.npz"],
                                  ["s.yaml", "--trace", "t.csv", "--spikes", "a.npz", "--record", "r.npz"]])
def test_usage_errors_exit_2(capsys, argv):
    assert main(["simulate", *argv]) == 2
    err = capsys.readouterr().err
    assert err.startswith("nmspec simulate: ") and len(err.splitlines()) == 1


@pytest.fixture(scope="module")
def acoustic(tmp_path_factory):
    root = tmp_path_factory.mktemp("repo")
    shutil.copytree(REPO / "specs", root / "specs")
    (root / ".git").mkdir()
    return root / "specs" / "examples" / "acoustic-xylo.yaml"


def test_trace_mode_csv_and_npz_give_the_same_events(acoustic, tmp_path, capsys):
    with np.load(acoustic.parent / "traces" / "acoustic-fault.npz") as data:
        samples = data["samples"][:16000]
    csv_path = tmp_path / "trace.csv"
    csv_path.write_text("mic\n" + "\n".join(str(int(v)) for v in samples.reshape(-1)) + "\n")
    npz_path = tmp_path / "trace.npz"
    np.savez(npz_path, samples=samples)
    out_csv, out_npz = tmp_path / "events.csv", tmp_path / "events.npz"
    assert main(["simulate", str(acoustic), "--trace", str(csv_path), "--events", str(out_csv)]) == 0
    summary = capsys.readouterr().out
    assert "steps: 100" in summary and "samples: 16000" in summary
    assert main(["simulate", str(acoustic), "--trace", str(npz_path), "--events", str(out_npz), "-o", "json"]) == 0
    report = json.loads(capsys.readouterr().out)
    lines = out_csv.read_text().splitlines()
    assert lines[0] == "step,time_s,output,label,spikes"
    with np.load(out_npz) as events:
        assert len(lines) - 1 == events["step"].size > 0
        assert [int(line.split(",")[0]) for line in lines[1:]] == events["step"].tolist()
        labels = events["labels"].tolist()
        assert [line.split(",")[3] for line in lines[1:]] == [labels[k] for k in events["output"].tolist()]
    assert sum(report["output_spikes"].values()) == len(lines) - 1
    assert report["real_time"] is True


def test_trace_mode_bad_traces(acoustic, tmp_path, capsys):
    three = tmp_path / "three.csv"
    three.write_text("1,2,3\n4,5,6\n")
    text = tmp_path / "words.csv"
    text.write_text("mic\n12\nloud\n")
    wide = tmp_path / "wide.npz"
    np.savez(wide, samples=np.zeros((10, 2), dtype=np.int16))
    nosamples = tmp_path / "nosamples.npz"
    np.savez(nosamples, data=np.zeros(10))
    big = tmp_path / "big.csv"
    big.write_text("40000\n")
    for path, message in [(three, "error[NM814]: the trace has 3 channel(s); the spec's sensor has 1 axes"),
                          (text, "error[NM813]: row 3: not a number: loud"),
                          (wide, "error[NM814]: the trace has 2 channel(s); the spec's sensor has 1 axes"),
                          (nosamples, "error[NM813]: a trace .npz needs a 'samples' array (n, axes)"),
                          (big, "error[NM814]: samples must be integers in the sensor's int16 range"),
                          (tmp_path / "absent.csv", "error[NM810]: no such file")]:
        assert main(["simulate", str(acoustic), "--trace", str(path)]) == 1
        err = capsys.readouterr().err
        assert message in err.splitlines()[0], err
        assert "Traceback" not in err


def test_trace_mode_in_pieces_writes_the_same_events(acoustic, tmp_path, monkeypatch, capsys):
    import engine.verify.simulate as sim

    with np.load(acoustic.parent / "traces" / "acoustic-fault.npz") as data:
        np.savez(tmp_path / "trace.npz", samples=data["samples"][:32000])
    whole, pieces = tmp_path / "whole.csv", tmp_path / "pieces.csv"
    continuous = ["--continuous", "--trace", str(tmp_path / "trace.npz")]
    assert main(["simulate", str(acoustic), *continuous, "--events", str(whole)]) == 0
    monkeypatch.setattr(sim, "CONTINUOUS_CHUNK_STEPS", 7)  # 200 steps in 29 pieces
    assert main(["simulate", str(acoustic), *continuous, "--events", str(pieces)]) == 0
    assert pieces.read_text() == whole.read_text() and len(whole.read_text().splitlines()) > 2
    capsys.readouterr()


def test_record_is_byte_identical_across_processes(tmp_path):
    import os
    import subprocess
    import sys

    path = image(tmp_path, two_core_lif(), "generic-lif")
    inputs = spikes_file(tmp_path, np.random.default_rng(5).integers(0, 3, size=(40, 1)))
    outputs = []
    for seed in ("1", "2"):
        out = tmp_path / f"r{seed}.npz"
        env = dict(os.environ, PYTHONHASHSEED=seed)
        done = subprocess.run([sys.executable, "-m", "engine", "simulate", str(path), "--spikes", str(inputs), "--record", str(out)],
                              env=env, capture_output=True, text=True, cwd=REPO, check=False)
        assert done.returncode == 0, done.stderr
        outputs.append(out.read_bytes())
    assert outputs[0] == outputs[1]
