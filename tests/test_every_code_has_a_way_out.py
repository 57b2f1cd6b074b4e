"""Every diagnostic code the engine raises was gone through once: either a golden test
follows its hint to a spec that passes (a spec case with a `fix`, or a test named below),
or the table says why no change to a spec is the way out. A new code fails this test until
it joins one of the two."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CASES = ROOT / "tests" / "cases" / "invalid"

# Codes whose hint a test follows to a passing spec, outside the spec cases.
FOLLOWED = {
    "NM111": "test_what_the_user_reads.py::test_a_copied_specs_folder_says_the_root_is_missing_and_the_hint_fixes_it",
    "NM211": "test_what_the_user_reads.py::test_a_copied_specs_folder_says_the_root_is_missing_and_the_hint_fixes_it",
    "NM224": "spec case cutoff-above-nyquist (its fix lowers the low-pass as NM224's hint says)",
    "NM311": "test_what_the_user_reads.py::test_a_sites_granularity_is_blamed_at_the_sites_line",
    "NM318": "test_rediscretise.py::test_a_frame_longer_than_a_time_constant_is_refused_at_runtime_frame",
    "NM319": "test_membrane_readout_chips.py::test_a_chip_whose_catalog_does_not_say_refuses_until_the_spec_does",
    "NM402": "test_what_the_user_reads.py::test_a_missing_figure_hint_gives_a_datasheet_order_of_magnitude",
    "NM403": "test_what_the_user_reads.py::test_an_exceeded_budget_prints_the_table_and_a_hint_that_passes",
    "NM410": "test_what_the_user_reads.py::test_fit_does_not_tell_the_user_to_run_fit",
    "NM501": "test_what_the_user_reads.py::test_a_mixed_signal_target_hint_does_not_offer_a_class_that_refuses_it_too",
    "NM802": "test_what_the_user_reads.py::test_a_verification_problem_of_the_merged_site_is_reported_in_the_site",
    "NM808": "test_traces_as_the_device_runs_them.py::test_accuracy_below_the_floor",
    "NM814": "test_traces_as_the_device_runs_them.py::test_a_trace_shorter_than_one_window",
    "NM816": "test_traces_as_the_device_runs_them.py::test_a_trace_recorded_at_another_rate_is_refused",
    "NM306": "test_traces_as_the_device_runs_them.py::test_stimuli_recorded_at_another_rate_are_refused",
}

# Codes where the way out is not an edit of the spec, and why.
NOT_A_SPEC_EDIT = {
    "NM002": "a file over 1 MiB is not a spec; the hint asks whether it is the right file",
    "NM005": "an alias bomb is an attack or a generator's fault; the hint says to write the values out",
    "NM006": "an empty file holds nothing to fix; the hint says how a spec starts",
    "NM007": "a list or a scalar at the top is not a spec; the message says a spec is a mapping",
    "NM012": "a folder or a missing path on the command line: a usage matter, the message names it",
    "NM104": "a malformed part id is refused by the schema's pattern before the catalog is asked",
    "NM109": "a schema rule without its own wording; the schema's message is passed on",
    "NM110": "extends of the wrong shape; the message gives the right one",
    "NM113": "a base that does not exist: which base was meant is the user's choice",
    "NM114": "more than 16 levels of bases: a generator's loop, not a hand-written spec",
    "NM202": "catalog files, not specs: a figure that is not a finite number",
    "NM215": "more axes than the sensor has; the message gives both counts",
    "NM216": "a catalog file that links outside the repository: copy it into the repository's catalog/ folder",
    "NM225": "band_energy limits; the message gives the bound",
    "NM232": "an alert latency shorter than the interval; the hint says why",
    "NM240": "a site name with an empty, '.' or '..' segment; the hint shows the form",
    "NM241": "two specs with one site name: which to rename is the user's choice",
    "NM300": "the model file: re-export it",
    "NM301": "the model file: a NIR node nmspec does not import; re-export it",
    "NM302": "the model file: a cycle without a neuron node",
    "NM303": "the model file: the Output node's feed",
    "NM304": "the model and the chain disagree on channels; which to change is the design's choice",
    "NM305": "labels against output neurons: the message gives both counts",
    "NM307": "a warning about the model file itself (a lossy or suspicious export): re-export or retrain the model",
    "NM310": "the model's neurons: the targets need spiking neurons",
    "NM312": "the model's weights quantize to zero: retrain or choose more weight bits",
    "NM313": "the model's neurons cannot fire after quantization: retrain",
    "NM315": "a catalog chip with too few weight bits for nmspec's quantizer",
    "NM316": "the stimuli or the encoder leave the network silent; the hint says which",
    "NM317": "binary-spike targets and the encoder's counts; the hint gives both ways",
    "NM320": "a stage the fixed-point chain cannot build; the message names the parameter",
    "NM401": "battery life: the hint gives the two levers (interval, cell); the figures decide",
    "NM404": "the cell's temperature rating against the site's: the hint names the catalog listing",
    "NM502": "the safety rule's hint names the one value (runtime.learning: locked)",
    "NM503": "the safety rule's hint names the values (runtime.update)",
    "NM504": "a build option (--sign-key), not a spec value",
    "NM505": "a build option (no --no-verify), not a spec value",
    "NM506": "the hint names the value (target.temperature_compensation: true); the firmware switches per-band thresholds",
    "NM507": "the hint names the value (environment.temperature)",
    "NM508": "a target's fidelity: the hint says which targets and classes go together",
    "NM601": "mapping capacity: the network against the target's cores",
    "NM602": "mapping capacity: the network against the target's cores",
    "NM603": "mapping capacity: the network against the target's cores",
    "NM604": "mapping capacity: the network against the target's cores",
    "NM605": "mapping capacity: the network against the target's cores",
    "NM606": "routing table capacity of the target",
    "NM607": "routing table capacity of the target: entries per router",
    "NM801": "a warning: no stimuli, only the round trip was checked",
    "NM803": "a kernel that is not deterministic is a bug in nmspec",
    "NM809": "a warning at class none: the accuracy over temperature rests on the chip's drift figures; the hint names the levers",
    "NM804": "a bundle modified after its build: rebuild it",
    "NM720": "an image whose reserved fields or unknown flag bits are set: altered after the build, rebuild it",
    "NM721": "an image signed by a key outside the trusted set: sign it with a trusted key or trust its key",
    "NM831": "an unsigned or unreadable bundle statement where a signature is required: build with --sign-key",
    "NM832": "a statement signed by an untrusted key or badly: re-sign with a trusted key",
    "NM833": "a manifest or statement field contradicts the image: the bundle was altered, rebuild it",
    "NM834": "a security version below the fleet's floor: raise runtime.update.security_version and rebuild",
    "NM835": "signed by a retired key: re-sign with a current key (docs/trust.md)",
    "NM805": "a bundle built from another version of the spec: rebuild it",
    "NM806": "the chip's clock against the network's busiest step: the hint gives the clock needed",
    "NM807": "the kernel's counts exceed the power budget (as NM403, with measured counts)",
    "NM810": "a file named on the command line that cannot be read",
    "NM811": "a spike-count file's shape",
    "NM812": "a spike-count file's values",
    "NM813": "a trace file that cannot be read",
    "NM815": "an output file that cannot be written",
    "NM901": "the firmware toolchain's size measurement",
    "NM920": "a stale committed bundle: rebuild and commit it",
    "NM921": "the output folder cannot be written (a full disk, no permission): not a spec edit; the hint says what to free",
}
NOT_A_SPEC_EDIT.update({f"NM7{n:02d}": "the model image's bytes: rebuild the bundle" for n in range(15)})
NOT_A_SPEC_EDIT.update({
    "NM931": "rollout files, not site specs: the schema's message and a hint on the keys",
    "NM932": "a rollout's sites folder on the command line",
    "NM940": "a rollout plan's constraint, with its own hint",
    "NM941": "a rollout's telemetry input, not a site spec",
    "NM960": "telemetry exports, not specs: a file that cannot be read",
    "NM961": "telemetry: the bundles folder; the hint names what it is",
    "NM962": "telemetry exports, not specs: a malformed export",
    "NM963": "telemetry: a missing export file",
    "NM964": "a usage matter (--now); the hint gives the form",
    "NM965": "a measurement for a spec without a power model",
})


def raised_codes() -> set[str]:
    codes = set()
    for path in (ROOT / "engine").rglob("*.py"):
        codes |= set(re.findall(r'"(NM\d{3})"', path.read_text()))
    return codes


def followed_by_cases() -> set[str]:
    out = set()
    for fix in CASES.glob("*/fix"):
        first = (fix.parent / "expected.txt").read_text().splitlines()[0]
        out.add(re.search(r"\[(NM\d{3})\]", first).group(1))
    return out


def test_every_code_has_a_followed_hint_or_a_reason():
    covered = followed_by_cases() | set(FOLLOWED)
    missing = sorted(raised_codes() - covered - set(NOT_A_SPEC_EDIT))
    assert missing == []
    assert not covered & set(NOT_A_SPEC_EDIT)  # a code is one or the other


def test_the_tests_named_exist():
    for where in FOLLOWED.values():
        if "::" in where:
            module, name = where.split("::")
            assert f"def {name}(" in (ROOT / "tests" / module).read_text(), where
