"""Inputs a careless user or an attacker hands nmspec: each gets a diagnostic that says what
and where, and exit 1 or 2; never an internal error (exit 70), never a hang."""

from __future__ import annotations

import errno
import io
import shutil
import subprocess
import zipfile
from pathlib import Path

import nir
import numpy as np
import pytest
from spec_cases import run_cli

from engine.resolve.nir_import import ImportError_, import_graph
from engine.resolve.stimuli import SensorSetting, TraceError, load_traces, trace_mismatches
from engine.spec.yamlread import read_bytes

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "specs" / "examples"


@pytest.fixture
def repo(tmp_path) -> Path:
    """A spec repository with the examples (their models and traces) and a git folder."""
    root = tmp_path / "repo"
    shutil.copytree(EXAMPLES, root)
    (root / ".git").mkdir()
    return root


def only(diagnostics) -> tuple[str, str, int | None]:
    (d,) = diagnostics
    return d.code, d.message, d.line


# --- YAML ---------------------------------------------------------------------------------

def test_flow_nesting_deeper_than_the_stack_is_a_diagnostic():
    text = b"a: " + b"[" * 600 + b"]" * 600 + b"\n"
    assert only(read_bytes(text, "f.yaml").diagnostics) == ("NM005", "nesting deeper than 64 levels", 1)


def test_block_nesting_deeper_than_the_limit_is_a_diagnostic():
    text = "".join(f"{'  ' * i}k{i}:\n" for i in range(200)).encode()
    code, message, line = only(read_bytes(text, "f.yaml").diagnostics)
    assert (code, message, line) == ("NM005", "nesting deeper than 64 levels", 64)


def test_aliases_of_one_long_string_are_bounded_by_expanded_size():
    text = ("a: &x " + "y" * 900_000 + "\nb: [" + ", ".join(["*x"] * 5) + "]\n").encode()
    result = read_bytes(text, "f.yaml")
    assert only(result.diagnostics) == (
        "NM005", "document expands to more than 4194304 characters of text (alias expansion); a site spec is far smaller", 2)
    assert result.data["b"][4] is None  # construction stopped at the budget


def test_the_same_long_string_written_once_is_fine():
    result = read_bytes(("a: " + "y" * 900_000 + "\n").encode(), "f.yaml")
    assert result.diagnostics == () and len(result.data["a"]) == 900_000


def test_kind_as_a_list(repo):
    spec = repo / "compressor.yaml"
    spec.write_text(spec.read_text().replace("kind: SiteDeployment", "kind: [a]"))
    code, _, err = run_cli(["validate", "compressor.yaml"], repo)
    assert code == 1
    assert err.splitlines()[0] == "compressor.yaml:6:7: error[NM103]: kind: expected a string, got a list"


def test_a_path_segment_longer_than_the_system_allows(repo):
    spec = repo / "compressor.yaml"
    spec.write_text(spec.read_text().replace("models/compressor.nir", "models/" + "a" * 300 + ".nir"))
    code, _, err = run_cli(["validate", "compressor.yaml"], repo)
    assert code == 1
    assert err.splitlines()[0] == ("compressor.yaml:27:11: error[NM212]: model.source: the path has a name of 304 bytes; "
                                   "file and folder names hold at most 255")


def test_an_extends_path_longer_than_the_system_allows(repo):
    spec = repo / "compressor.yaml"
    spec.write_text("extends: " + "b" * 300 + ".yaml\n" + spec.read_text())
    code, _, err = run_cli(["validate", "compressor.yaml"], repo)
    assert code == 1
    assert err.splitlines()[0] == ("compressor.yaml:1:10: error[NM113]: extends: the path has a name of 305 bytes; "
                                   "file and folder names hold at most 255")


def test_a_site_name_too_long_for_a_folder_fails_validation(repo):
    spec = repo / "compressor.yaml"
    spec.write_text(spec.read_text().replace("demo-plant/compressor-1", "s" * 300))
    code, _, err = run_cli(["validate", "compressor.yaml"], repo)
    assert code == 1
    assert err.splitlines()[0] == "compressor.yaml:8:9: error[NM108]: metadata.site: 300 characters; at most 128 are allowed"


def test_deep_nesting_in_a_catalog_file(repo):
    (repo / "catalog").mkdir()
    (repo / "catalog" / "parts.yaml").write_text("chips: " + "[" * 500 + "]" * 500 + "\n")
    code, _, err = run_cli(["validate", "compressor.yaml"], repo)
    assert code == 1
    assert err.splitlines()[0] == "catalog/parts.yaml:1:71: error[NM005]: nesting deeper than 64 levels"


def test_a_catalog_file_linking_outside_the_repository_is_refused(repo, tmp_path):
    outside = tmp_path / "elsewhere.yaml"
    outside.write_text("chips: {}\n")
    (repo / "catalog").mkdir()
    (repo / "catalog" / "parts.yaml").symlink_to(outside)
    code, _, err = run_cli(["validate", "compressor.yaml"], repo)
    assert code == 1
    assert err.splitlines()[0] == (f"catalog/parts.yaml: error[NM216]: catalog file links to {outside}, "
                                   "outside the spec repository")


# --- traces -------------------------------------------------------------------------------

def _npz(path: Path, **arrays) -> Path:
    np.savez(path, **arrays)
    return path


def _trace_error(path: Path, n_labels: int = 4) -> str:
    with pytest.raises(TraceError) as info:
        load_traces([path], [path.name], n_labels=n_labels)
    return str(info.value)


def test_an_empty_trace_file(tmp_path):
    (tmp_path / "t.npz").write_bytes(b"")
    assert _trace_error(tmp_path / "t.npz") == ("t.npz: not a readable trace (.npz with samples, window, labels): "
                                                "not an .npz file (not a zip archive)")


def test_a_trace_that_is_not_a_zip(tmp_path):
    (tmp_path / "t.npz").write_bytes(b"samples,window\n1,2\n")
    assert _trace_error(tmp_path / "t.npz").endswith("not an .npz file (not a zip archive)")


def test_a_trace_header_claiming_terabytes_is_refused_before_allocating(tmp_path):
    header = io.BytesIO()
    np.lib.format.write_array_header_1_0(header, {"descr": "<i2", "fortran_order": False, "shape": (2**40, 3)})
    with zipfile.ZipFile(tmp_path / "t.npz", "w") as archive:
        archive.writestr("samples.npy", header.getvalue() + b"\0" * 64)
        buffer = io.BytesIO()
        np.save(buffer, np.int64(64))
        archive.writestr("window.npy", buffer.getvalue())
    assert _trace_error(tmp_path / "t.npz").endswith(
        "array 'samples' declares shape (1099511627776, 3) (6597069766656 bytes) but the archive stores 192 bytes for it")


def test_a_trace_with_samples_of_the_wrong_rank(tmp_path):
    path = _npz(tmp_path / "t.npz", samples=np.zeros((4, 4, 4), np.int16), window=np.int64(2), labels=np.zeros(2, np.int64))
    assert _trace_error(path) == "t.npz: samples must be integers of shape (n,) or (n, axes), got int16 of shape (4, 4, 4)"


def test_a_trace_with_a_window_array(tmp_path):
    path = _npz(tmp_path / "t.npz", samples=np.zeros((8, 3), np.int16), window=np.arange(3), labels=np.zeros(2, np.int64))
    assert _trace_error(path) == ("t.npz: window must be one integer from 1 to 16777216 (samples per window), "
                                  "got int64 of shape (3,)")


def test_a_trace_with_nan_labels(tmp_path):
    path = _npz(tmp_path / "t.npz", samples=np.zeros((8, 3), np.int16), window=np.int64(4), labels=np.array([np.nan, 0.0]))
    assert _trace_error(path) == "t.npz: labels must be integers, one per window (shape (windows,)), got float64 of shape (2,)"


def test_a_trace_with_a_label_beyond_the_models_labels(tmp_path):
    path = _npz(tmp_path / "t.npz", samples=np.zeros((8, 3), np.int16), window=np.int64(4), labels=np.array([0, 7]))
    assert _trace_error(path) == "t.npz: label 7 is not an index into the model's 4 labels (0..3)"


def _sensor_errors(path: Path, **recorded) -> list[str]:
    _npz(path, samples=np.zeros((8, 3), np.int16), window=np.int64(4), labels=np.zeros(2, np.int64), **recorded)
    sensor = SensorSetting(sample_rate=1000.0, range_g=2.0, window_samples=4)
    errors, _ = trace_mismatches(path.name, dict(np.load(path)), np.zeros((8, 3), np.int16), sensor)
    return errors


def test_a_trace_with_two_sample_rates(tmp_path):
    assert _sensor_errors(tmp_path / "t.npz", sample_rate=np.array([1000.0, 3.0])) == [
        "t.npz: its sample_rate must be one finite number, got float64 of shape (2,)"]


def test_a_trace_with_an_infinite_lsb_and_a_fractional_window(tmp_path):
    path = tmp_path / "t.npz"
    _npz(path, samples=np.zeros((8, 3), np.int16), window=np.float64(4.5), labels=np.zeros(2, np.int64),
         lsb=np.float64(np.inf))
    sensor = SensorSetting(sample_rate=1000.0, range_g=2.0, window_samples=4)
    errors, _ = trace_mismatches("t.npz", dict(np.load(path)), np.ones((8, 3), np.int16), sensor)
    assert errors == ["t.npz: its lsb must be one finite number, got float64 of shape ()",
                      "t.npz: its window must be one integer, got float64 of shape ()"]


def test_a_trace_with_a_zero_sample_rate(tmp_path):
    assert _sensor_errors(tmp_path / "t.npz", sample_rate=np.float64(0.0)) == [
        ("t.npz: recorded at 0 Hz (its sample_rate), the spec's sensor runs at 1000 Hz (sensor.odr); every frequency "
         "in the chain would be off by a factor inf")]


def test_a_sample_rate_stored_as_one_element_is_read_as_that_number(tmp_path):
    assert _sensor_errors(tmp_path / "t.npz", sample_rate=np.array([1000.0])) == []


def test_a_two_valued_sample_rate_in_a_spec_is_a_diagnostic_not_a_crash(repo):
    path = repo / "traces" / "compressor-fault.npz"
    data = dict(np.load(path))
    data["sample_rate"] = np.array([data["sample_rate"], 3.0])
    np.savez(path, **data)
    code, _, err = run_cli(["fit", "compressor.yaml"], repo)
    assert code == 1
    assert err.splitlines()[0] == ("compressor.yaml:65:44: error[NM306]: verify.stimuli[1]: compressor-fault.npz: its "
                                   "sample_rate must be one finite number, got float64 of shape (2,)")


def test_a_hostile_trace_in_a_spec_is_a_diagnostic_at_its_entry(repo):
    (repo / "traces" / "compressor-fault.npz").write_bytes(b"")
    code, _, err = run_cli(["fit", "compressor.yaml"], repo)
    assert code == 1
    assert err.splitlines()[0] == ("compressor.yaml:65:44: error[NM306]: verify.stimuli[1]: compressor-fault.npz: not a "
                                   "readable trace (.npz with samples, window, labels): not an .npz file (not a zip archive)")


# --- NIR ----------------------------------------------------------------------------------

def _lif(n: int) -> nir.LIF:
    return nir.LIF(tau=np.full(n, 4e-3), r=np.ones(n), v_leak=np.zeros(n), v_threshold=np.ones(n), v_reset=np.zeros(n))


def _import_error(graph) -> list[tuple[str, str]]:
    with pytest.raises(ImportError_) as info:
        import_graph(graph, dt=1e-3, convention="nir")
    return [(d.code, d.message) for d in info.value.diagnostics]


def test_a_nir_edge_to_an_unknown_node():
    nodes = {"input": nir.Input(input_type={"input": np.array([2])}), "lif": _lif(2),
             "output": nir.Output(output_type={"output": np.array([2])})}
    graph = nir.NIRGraph(nodes=nodes, edges=[("input", "lif"), ("lif", "output"), ("lif", "ghost")], type_check=False)
    assert _import_error(graph) == [("NM301", "edge lif -> ghost names 'ghost', not a node of the graph")]


def test_a_nir_input_of_two_to_the_forty_values():
    nodes = {"input": nir.Input(input_type={"input": np.array([2**40])}), "lin": nir.Linear(weight=np.ones((2, 3))),
             "lif": _lif(2), "output": nir.Output(output_type={"output": np.array([2])})}
    graph = nir.NIRGraph(nodes=nodes, edges=[("input", "lin"), ("lin", "lif"), ("lif", "output")], type_check=False)
    assert _import_error(graph) == [
        ("NM301", "node 'input' (Input) receives shape [1099511627776]: nmspec imports 1 to 8192 values per node")]


# --- bundles, images, keys and output folders ---------------------------------------------

def test_a_manifest_that_is_a_list(tmp_path):
    (tmp_path / "manifest.json").write_text("[]\n")
    code, _, err = run_cli(["verify", "."], tmp_path)
    assert code == 1
    assert err == "manifest.json: error[NM804]: not a bundle manifest: the top level is list, not an object\n" \
                  "  hint: rebuild the bundle with nmspec build\n"


def test_a_manifest_naming_a_file_outside_the_bundle(tmp_path):
    (tmp_path / "manifest.json").write_text('{"files": {"model.nmc": {"sha256": ""}, "../x": {"sha256": ""}}}')
    code, _, err = run_cli(["verify", "."], tmp_path)
    assert code == 1
    assert err.splitlines()[0] == "manifest.json: error[NM804]: not a bundle manifest: file name '../x' does not stay inside the bundle"


def _bounded(*args: str) -> subprocess.CompletedProcess:
    # a process of its own: were the read unbounded, the timeout ends it instead of the suite
    return subprocess.run([str(ROOT / ".venv/bin/python") if (ROOT / ".venv/bin/python").exists() else "python3",
                           "-m", "engine", *args], capture_output=True, text=True, timeout=60, check=False, cwd=ROOT)


def test_inspect_dev_zero_reads_a_bounded_amount():
    done = _bounded("inspect", "/dev/zero")
    assert (done.returncode, done.stderr) == (
        1, "nmspec inspect: /dev/zero holds more than 268435456 bytes; no .nmc image is that large\n")


def test_a_signing_key_of_dev_zero_reads_a_bounded_amount(repo):
    done = _bounded("build", str(repo / "pump-loihi.yaml"), "--out", str(repo / "out"), "--sign-key", "/dev/zero")
    assert (done.returncode, done.stderr) == (
        2, "nmspec build: /dev/zero: more than 65536 bytes; a key file holds a few hundred\n")


def test_out_naming_a_file(repo):
    (repo / "afile").write_text("")
    code, _, err = run_cli(["build", "pump-loihi.yaml", "--out", "afile", "--no-verify"], repo)
    assert (code, err) == (2, "nmspec build: --out afile is a file; name a folder (bundles go to FOLDER/<site>/)\n")


def test_a_full_disk_is_a_diagnostic_and_leaves_nothing_half_written(repo, monkeypatch):
    def full(self, data):
        raise OSError(errno.ENOSPC, "No space left on device", str(self))

    monkeypatch.setattr(Path, "write_bytes", full)
    code, _, err = run_cli(["build", "pump-loihi.yaml", "--out", "out", "--no-verify", "-q", "--jobs", "1"], repo)
    assert code == 1
    assert err.splitlines()[-2:] == [
        "out/refinery-2/pump-p101: error[NM921]: cannot write the bundle: No space left on device",
        "  hint: free space or choose another --out folder; bundles already there are unchanged"]
    assert [p for p in (repo / "out").rglob("*") if p.is_file() or p.name.startswith(".")] == []
