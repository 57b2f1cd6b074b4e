"""A bounded mutation campaign over the three doors for outside bytes (the long one is
`make bench`, bench/bench_fuzz.py): mutated specs, mutated images (checksums and hashes
recomputed so the change reaches the decoder and the kernel), tampered bundles. Every input
must end in a diagnostic or a clean run: no internal error, no hang, no tampered bundle
accepted."""

from __future__ import annotations

import shutil
from pathlib import Path

from fuzzing import EXAMPLES, bundle_campaign, image_campaign, run_cli, spec_campaign

PER_INPUT_SECONDS = 60.0  # far above any input's time; only a hang reaches it


def test_mutated_specs_get_diagnostics(tmp_path):
    counts, failures = spec_campaign(tmp_path, 24, seed=13, seconds=PER_INPUT_SECONDS)
    assert failures == []
    assert sum(counts.values()) == 24 and set(counts) <= {"ok", "refused"}
    assert counts.get("refused", 0) > 0  # the mutations do reach the checks


def test_mutated_images_are_refused_or_run(tmp_path):
    counts, failures = image_campaign(800, seed=17, seconds=PER_INPUT_SECONDS)
    assert failures == []
    assert set(counts) == {"ok", "refused"}  # both: some mutations pass every check and run


def test_tampered_bundles_are_refused(tmp_path):
    repo = tmp_path / "repo"
    shutil.copytree(EXAMPLES, repo)
    (repo / ".git").mkdir()
    outcome, code, err = run_cli(["build", "pump-loihi.yaml", "--out", "out", "--no-cache", "-q"], repo, 600)
    assert (outcome, code) == ("ok", 0), err
    bundle = repo / "out" / "refinery-2" / "pump-p101"
    outcome, code, err = run_cli(["verify", str(bundle), "--spec", "pump-loihi.yaml"], repo, 600)
    assert (outcome, code) == ("ok", 0), err  # untouched, it passes: the refusals below are the tampering's
    counts, failures = bundle_campaign(bundle, repo / "pump-loihi.yaml", 16, seed=19, seconds=PER_INPUT_SECONDS)
    assert failures == []
    assert counts == {"refused": 16}
    assert Path(bundle / "model.nmc").is_file()
