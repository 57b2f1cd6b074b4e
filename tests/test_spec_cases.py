"""Golden cases: every invalid spec gives exactly its expected diagnostics and exit 1;
every valid spec validates with exit 0 and no output on stderr."""

from __future__ import annotations

import shutil

import pytest
from spec_cases import CASES, materialise, run_cli

INVALID = sorted(p for p in (CASES / "invalid").iterdir() if p.is_dir())
VALID = sorted((CASES / "valid").glob("*.yaml"))


def test_there_are_at_least_forty_invalid_cases():
    assert len(INVALID) >= 40


@pytest.mark.parametrize("case", INVALID, ids=[p.name for p in INVALID])
def test_invalid_case(case, tmp_path):
    workdir = materialise(case, tmp_path)
    code, out, err = run_cli(["validate", "spec.yaml"], workdir)
    assert err == (case / "expected.txt").read_text()
    assert code == 1
    assert out == ""
    assert "Traceback" not in err


@pytest.mark.parametrize("spec", VALID, ids=[p.name for p in VALID])
def test_valid_case(spec, tmp_path):
    shutil.copy(spec, tmp_path / "spec.yaml")
    (tmp_path / "nmspec.toml").write_text("")
    (tmp_path / "model.nir").write_bytes(b"")
    code, out, err = run_cli(["validate", "spec.yaml"], tmp_path)
    assert (code, out, err) == (0, "1 spec valid\n", "")


def test_every_invalid_case_reports_at_a_line_of_its_file():
    for case in INVALID:
        first = (case / "expected.txt").read_text().splitlines()[0]
        location = first.split(": ", 1)[0]
        file, line, column = location.rsplit(":", 2)
        assert int(line) >= 1 and int(column) >= 1, case.name
        assert (case / file).exists() or (case / "size").exists(), case.name


FIXED = sorted(p for p in INVALID if (p / "fix").exists())


@pytest.mark.parametrize("case", FIXED, ids=[p.name for p in FIXED])
def test_following_the_diagnostic_gives_a_valid_spec(case, tmp_path):
    """Each case's fix does what its diagnostic says (the fix names the words it follows),
    and the spec it gives validates."""
    from spec_cases import apply_fix, read_fix

    follows, target, edits = read_fix(case)
    assert follows and follows in (case / "expected.txt").read_text(), case.name
    workdir = materialise(case, tmp_path)
    apply_fix(workdir / target, edits)
    code, out, err = run_cli(["validate", "spec.yaml"], workdir)
    assert "error[" not in err, err
    assert (code, out) == (0, "1 spec valid\n"), err
