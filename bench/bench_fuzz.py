"""The long fuzz campaign: mutated specs through `nmspec validate`, mutated and resealed
images through the reader and the kernel, tampered bundles through `nmspec verify`. Prints
the inputs tried and their outcomes; the targets are 0 internal errors (exit 70), 0 hangs
(per-input time limit) and 0 tampered bundles accepted. Bundle changes also cover the
manifest's own fields and an extra file, which only a signed bundle statement can catch:
those are counted apart. Writes bench/results/fuzz.json."""

from __future__ import annotations

import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests"))

# NMSPEC_FUZZ_SCALE=0.1 runs a tenth of the inputs (a quick look on a busy machine)
_SCALE = float(os.environ.get("NMSPEC_FUZZ_SCALE", "1"))
SPECS, IMAGES, BUNDLES, UNCOVERED = (max(2, int(n * _SCALE)) for n in (2000, 20000, 300, 60))
SECONDS = 30.0  # per input; a hang is anything longer


def _uncovered(bundle: Path, spec: Path, inputs: int) -> dict[str, int]:
    """Changes the manifest's hashes cannot see: a manifest field, an extra file."""
    from fuzzing import bundle_files, restore, run_cli, tally

    original = bundle_files(bundle)
    rng = np.random.default_rng(23)
    outcomes = []
    for i in range(inputs):
        if i % 2:
            (bundle / "firmware" / f"extra{i}.c").write_text("int extra;\n")
        else:
            manifest = json.loads((bundle / "manifest.json").read_text())
            field = ["site", "chip", "tool_version", "spec_hash"][int(rng.integers(4))]
            manifest[field] = f"{manifest.get(field)}-changed"
            (bundle / "manifest.json").write_text(json.dumps(manifest))
        outcome, _code, _err = run_cli(["verify", str(bundle), "--spec", str(spec)], spec.parent, SECONDS)
        outcomes.append("accepted-tampered" if outcome == "ok" else outcome)
        restore(bundle, original)
    return tally(outcomes)


def main() -> None:
    from fuzzing import EXAMPLES, bundle_campaign, image_campaign, run_cli, spec_campaign

    rows = {}
    with tempfile.TemporaryDirectory(prefix="nmspec-fuzz-") as scratch:
        tmp = Path(scratch)
        started = time.perf_counter()
        counts, _ = spec_campaign(tmp / "specs", SPECS, seed=1, seconds=SECONDS)
        rows["spec loader (nmspec validate, mutated examples)"] = (SPECS, counts, time.perf_counter() - started)
        started = time.perf_counter()
        counts, _ = image_campaign(IMAGES, seed=2, seconds=SECONDS)
        rows["image reader + kernel (mutated, resealed)"] = (IMAGES, counts, time.perf_counter() - started)
        repo = tmp / "bundle"
        shutil.copytree(EXAMPLES, repo)
        (repo / ".git").mkdir()
        run_cli(["build", "pump-loihi.yaml", "--out", "out", "--no-cache", "-q"], repo, 600)
        bundle, spec = repo / "out" / "refinery-2" / "pump-p101", repo / "pump-loihi.yaml"
        started = time.perf_counter()
        counts, _ = bundle_campaign(bundle, spec, BUNDLES, seed=3, seconds=SECONDS)
        rows["bundle verify (covered files changed)"] = (BUNDLES, counts, time.perf_counter() - started)
        started = time.perf_counter()
        counts = _uncovered(bundle, spec, UNCOVERED)
        rows["bundle verify (manifest fields, extra files)"] = (UNCOVERED, counts, time.perf_counter() - started)
    print(f"{'campaign':<48} {'inputs':>7} {'refused':>8} {'ok':>7} {'exit 70':>8} {'hangs':>6} {'accepted':>9} {'s':>7}")
    results = []
    for name, (inputs, counts, seconds) in rows.items():
        row = {"campaign": name, "inputs": inputs, "refused": counts.get("refused", 0), "ok": counts.get("ok", 0),
               "internal": counts.get("internal", 0), "hang": counts.get("hang", 0),
               "accepted_tampered": counts.get("accepted-tampered", 0), "seconds": round(seconds, 1),
               "per_input_limit_s": SECONDS}
        results.append(row)
        print(f"{name:<48} {inputs:>7} {row['refused']:>8} {row['ok']:>7} {row['internal']:>8} {row['hang']:>6} "
              f"{row['accepted_tampered']:>9} {seconds:>7.1f}")
    out = HERE / "results"
    out.mkdir(exist_ok=True)
    (out / "fuzz.json").write_text(json.dumps(results, indent=2, sort_keys=True) + "\n")


if __name__ == "__main__":
    main()
