"""`nmspec build --check` and `nmspec diff REV:PATH` in a git repository of specs with its
bundles committed, as CI and a reviewer use them."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import time
from pathlib import Path

import pytest
import yaml
from spec_cases import run_cli

ROOT = Path(__file__).resolve().parents[1]
_spec = importlib.util.spec_from_file_location("make_fleet", ROOT / "tools" / "make_fleet.py")
make_fleet = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(make_fleet)

GIT = ["git", "-c", "user.name=t", "-c", "user.email=t@example.invalid", "-c", "commit.gpgsign=false"]
CHECK = ["build", "sites", "--out", "bundles", "--no-verify", "--jobs", "1", "--check"]
SITE = "plant-000/compressor-1"
SPEC = f"sites/{SITE}.yaml"


def git(repo: Path, *args: str) -> str:
    return subprocess.run(GIT + list(args), cwd=repo, check=True, capture_output=True, text=True).stdout


def tree(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def repo(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("specs")
    make_fleet.make_fleet(root, 3, seed=7, safety_class="none")
    past = time.time() - 60
    for path in root.rglob("*"):
        os.utime(path, (past, past))
    (root / ".gitignore").write_text("/.nmspec-cache/\n")
    code, _, err = run_cli(["build", "sites", "--out", "bundles", "--no-verify", "--jobs", "1", "-q"], root)
    assert code == 0, err
    git(root, "init", "-q")
    git(root, "add", "-A")
    git(root, "commit", "-qm", "three sites and their bundles")
    return root


@pytest.fixture
def faster_radio(repo):
    """SITE's spec with spreading factor 9 instead of 7, restored afterwards."""
    spec = repo / SPEC
    original = spec.read_text()
    assert "radio: {spreading_factor: 7}" in original
    spec.write_text(original.replace("spreading_factor: 7", "spreading_factor: 9"))
    yield spec
    spec.write_text(original)


def fresh_bundle(repo: Path, tmp_path: Path) -> Path:
    code, _, err = run_cli(["build", SPEC, "--out", str(tmp_path / "new"), "--no-verify", "--no-cache", "-q"], repo)
    assert code == 0, err
    return tmp_path / "new" / SITE


def test_check_passes_on_the_committed_tree_and_writes_nothing(repo):
    for extra in ([], ["--no-cache"]):
        code, out, err = run_cli(CHECK + extra, repo)
        assert code == 0, err
        assert err == ""
        assert out.splitlines()[-1].startswith("3 sites checked against bundles/: 3 up to date;")
    assert git(repo, "status", "--porcelain") == ""


def test_check_exits_3_naming_every_differing_file_and_writes_nothing(repo, faster_radio, tmp_path):
    committed = tree(repo / "bundles" / SITE)
    expected = sorted(name for name, data in tree(fresh_bundle(repo, tmp_path)).items() if committed.get(name) != data)
    # a radio-only change is configuration: the image keeps its bytes, nmc_config.h changes
    assert {"firmware/nmc_config.h", "manifest.json", "report.json"} <= set(expected)
    assert "model.nmc" not in expected
    code, out, err = run_cli(CHECK, repo)
    assert code == 3
    # a line for each change to the device (the radio's spreading factor, and the gap between
    # alert uplinks it stretches), then one line for resolve's estimates
    lines = err.splitlines()
    device = [line for line in lines if line.startswith(f"bundles/{SITE}: changes the device: ")]
    assert f"bundles/{SITE}: changes the device: ~ firmware/nmc_config.h: NM_RADIO_SPREADING_FACTOR 7UL -> 9UL" in device
    (gap,) = [line for line in device if "NM_ALERT_DUTY_GAP_S" in line]
    gap_before, gap_after = (int(v.rstrip("UL")) for v in gap.split("NM_ALERT_DUTY_GAP_S ")[1].split(" -> "))
    assert gap_after == 3 * gap_before  # SF9 frames are about three times as long on air as SF7's
    (estimates,) = [line for line in lines if line.startswith(f"bundles/{SITE}: estimates: ")]
    assert "figures of report.json change" in estimates
    assert len(lines) == len(device) + 1 + sum(1 for line in lines if ": metadata only: " in line)
    rows = [line.split()[:3] for line in out.splitlines()[1:-1]]
    assert rows == [["plant-000/air-header-1", "up", "to"], [SITE, "differs", "miss"],
                    ["plant-000/compressor-2", "up", "to"]]
    # a radio change recomputes no stage: model, chain, quantization and verification come from the cache
    assert out.splitlines()[-1] == ("3 sites checked against bundles/: 2 up to date, 1 differs; 2 from the cache; "
                                    "stage results: 0 computed, 5 shared")
    code, _, err = run_cli(CHECK + ["--output", "github"], repo)
    assert code == 3
    assert err.splitlines() == [f"::error file={SPEC},title=NM920::{line}" for line in lines]
    assert git(repo, "status", "--porcelain") == f" M {SPEC}\n"
    assert tree(repo / "bundles" / SITE) == committed


def test_diff_of_two_revisions_is_the_plan_between_their_bundles(repo, faster_radio, tmp_path):
    git(repo, "commit", "-qam", "plant-000: spreading factor 9")
    try:
        code, out, err = run_cli(["diff", f"HEAD~1:{SPEC}", f"HEAD:{SPEC}"], repo)
        assert code == 0, err
        lines = out.splitlines()
        assert lines[:2] == [f"--- HEAD~1:{SPEC}", f"+++ HEAD:{SPEC}"]
        # the bundle committed with HEAD~1 against the bundle HEAD's spec builds
        new = fresh_bundle(repo, tmp_path)
        code, by_bundles, err = run_cli(["diff", f"bundles/{SITE}", str(new)], repo)
        assert code == 0, err
        assert by_bundles.splitlines()[2:] == lines[2:]
        old_files, new_files = tree(repo / "bundles" / SITE), tree(new)
        firmware = sorted(n for n in new_files if n.startswith("firmware/") and old_files.get(n) != new_files[n])
        assert firmware == ["firmware/nmc_config.h"]
        start = lines.index("changes the device:")
        end = lines.index("estimates and verification (report.json):")
        assert lines[start + 1] == "  firmware:"
        device = lines[start + 2:end]
        assert "    ~ firmware/nmc_config.h: NM_RADIO_SPREADING_FACTOR 7UL -> 9UL" in device
        assert any(line.startswith("    ~ firmware/nmc_config.h: NM_ALERT_DUTY_GAP_S ") for line in device)
        # LoRa time on air (Semtech AN1200.13), 20 B of payload + 13 B of LoRaWAN framing, 125 kHz,
        # CR 4/5, 8 preamble symbols, explicit header, CRC: SF7 (8 + 10*5 + 12.25) x 1.024 ms = 71.9 ms,
        # SF9 (8 + 8*5 + 12.25) x 4.096 ms = 246.8 ms
        # the 39-byte status frame: SF7 8 + ceil((8*52 - 28 + 28 + 16) / 28) * 5 = 88 symbols,
        # (88 + 12.25) x 1.024 ms = 102.7 ms; SF9 8 + ceil((8*52 - 36 + 44) / 36) * 5 = 68 symbols,
        # 80.25 x 4.096 ms = 328.7 ms
        assert ("  ~ resolve.power.details.radio: '1 event uplinks/day of 12 B and 1 status uplinks/day of 39 B at SF7 "
                "(61.7 and 102.7 ms on air) at 118 mA, 600 nA asleep' -> '1 event uplinks/day of 12 B and 1 status "
                "uplinks/day of 39 B at SF9 (205.8 and 328.7 ms on air) at 118 mA, 600 nA asleep'") in lines
        after = (lines.index("metadata only (the device does not change):")
                 if "metadata only (the device does not change):" in lines else len(lines) - 1)
        estimates = after - lines.index("estimates and verification (report.json):") - 1
        assert lines[-1] == (f"{len(device)} changes for the device; {estimates} in the estimates"
                             + ("; metadata" if after != len(lines) - 1 else ""))
        # the same from a subfolder: REV:PATH is relative to the working folder, as in git
        code, inside, err = run_cli(["diff", f"HEAD~1:{SITE.split('/')[0]}/compressor-1.yaml",
                                     f"HEAD:{SITE.split('/')[0]}/compressor-1.yaml"], repo / "sites")
        assert code == 0, err
        assert inside.splitlines()[2:] == lines[2:]
    finally:
        git(repo, "revert", "--no-edit", "HEAD")


def test_diff_of_a_spec_against_its_committed_self_is_no_change(repo):
    code, out, err = run_cli(["diff", f"HEAD:{SPEC}", SPEC], repo)
    assert code == 0, err
    assert out == f"--- HEAD:{SPEC}\n+++ {SPEC}\nno change for the device\n"


def test_diff_names_a_path_missing_at_a_revision(repo):
    code, _out, err = run_cli(["diff", "HEAD:sites/plant-000/nope.yaml", SPEC], repo)
    assert code == 2
    assert err == "nmspec diff: 'sites/plant-000/nope.yaml' does not exist at revision HEAD\n"
    code, _out, err = run_cli(["diff", f"no-such-rev:{SPEC}", SPEC], repo)
    assert code == 2
    assert err.startswith("nmspec diff: git cannot read revision 'no-such-rev': ")


def test_diff_never_hands_a_revision_to_git_as_an_option(repo, tmp_path):
    victim = tmp_path / "victim"
    victim.write_text("keep me\n")
    code, out, err = run_cli(["diff", "--", f"--output={victim}:x.yaml", SPEC], repo)
    assert (code, out) == (2, "")
    assert err == (f"nmspec diff: '--output={victim}' is not a revision (a branch, tag, commit id or HEAD~N, "
                   "not starting with '-')\n")
    assert victim.read_text() == "keep me\n"


def test_diff_never_reads_outside_the_revisions_tree(repo):
    for inner in ("../../..", "../../../etc/passwd", "sites/../../x.yaml"):
        code, out, err = run_cli(["diff", f"HEAD:{inner}", SPEC], repo)
        assert (code, out) == (2, "")
        assert err == f"nmspec diff: '{inner}' leads outside the revision's tree; name a file inside the repository\n"


def test_pre_commit_hooks_run_as_declared(repo, faster_radio):
    hooks = {hook["id"]: hook for hook in yaml.safe_load((ROOT / ".pre-commit-hooks.yaml").read_text())}
    check = hooks["nmspec-check"]
    assert check["entry"].split()[0] == "nmspec" and check["pass_filenames"] is False
    # pre-commit runs `entry args...`; the repository's config adds its bundle folder
    command = check["entry"].split()[1:] + check["args"] + ["--out", "bundles", "--no-verify", "--jobs", "1", "-q"]
    code, _, err = run_cli(command, repo)
    assert code == 3
    assert f"bundles/{SITE}: changes the device: ~ firmware/nmc_config.h: NM_RADIO_SPREADING_FACTOR 7UL -> 9UL" in err.splitlines()
    validate = hooks["nmspec-validate"]
    code, out, err = run_cli(validate["entry"].split()[1:] + [SPEC, "regions/us/compressor.yaml"], repo)
    assert code == 0, err
    assert out == "2 specs valid\n"
