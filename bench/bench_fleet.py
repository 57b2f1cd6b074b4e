"""A fleet of synthetic sites (tools/make_fleet.py): cold build of every site, rebuild with
nothing changed, rebuild with one site changed, against a baseline measured in the same run:
the build time of a single site from nothing in one process (no stage result shared), median
of a few, per base. Then the same for a fleet ten times larger (cold and one change).

    python -m bench fleet --sites 50          # or NMSPEC_BENCH_SITES=50; default 1000 (and 10,000)

Targets (docs/gitops.md): 1,000 sites cold in at most 45 s on 2 cores, 10,000 in at most
5 minutes, one changed site rebuilt in at most 1 s. A fleet's sites share a few models,
chains and stimuli; each build prints how many stage results it computed and how many it
shared, which says what the fleet's cost grows with.
"""

from __future__ import annotations

import importlib.util
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = Path(__file__).parent / "results" / "fleet.json"
WARM_TARGET_S = 1.0
COLD_TARGET_S_PER_1000 = 45.0
LARGE_COLD_TARGET_S = 300.0
SINGLE_RUNS = 3


def _site_count(argv: list[str]) -> int:
    if "--sites" in argv:
        return int(argv[argv.index("--sites") + 1])
    return int(os.environ.get("NMSPEC_BENCH_SITES", "1000"))


def _make_fleet():
    spec = importlib.util.spec_from_file_location("make_fleet", ROOT / "tools" / "make_fleet.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _nmspec(args: list[str], cwd: Path) -> tuple[float, float, str]:
    """Wall time and CPU time (the command and its worker processes) of one nmspec command,
    and the last line it printed (the build's totals, with the stage results computed and shared)."""
    cpu, started = _children_cpu(), time.perf_counter()
    result = subprocess.run([sys.executable, "-m", "engine", *args], cwd=cwd, capture_output=True, text=True,
                            check=False)
    seconds = time.perf_counter() - started
    if result.returncode != 0:
        raise SystemExit(f"nmspec {' '.join(args)} failed ({result.returncode}):\n{result.stderr[-3000:]}")
    return seconds, _children_cpu() - cpu, (result.stdout.strip().splitlines() or [""])[-1]


def _single_site_seconds(specs: list[Path], key: Path) -> tuple[float, float]:
    """Wall and CPU time of one site built in this process, after a first build has paid for
    the imports (medians)."""
    from engine import memo
    from engine.fleet import BuildJob, build_one

    pem = key.read_bytes()
    job = BuildJob(str(specs[0]), "bench", "bench", (), pem, True, None, None)
    build_one(job)
    times, cpu = [], []
    for spec in specs[:SINGLE_RUNS]:
        memo.clear()  # a site from nothing: no stage result of another site to share
        started = time.process_time()
        outcome = build_one(BuildJob(str(spec), "bench", "bench", (), pem, True, None, None))
        cpu.append(time.process_time() - started)
        if outcome.status != "built":
            raise SystemExit(f"{spec}: {outcome.status}: {[d.message for d in outcome.diagnostics]}")
        times.append(outcome.seconds)
    return statistics.median(times), statistics.median(cpu)


def _change_one_site(spec: Path) -> None:
    text = spec.read_text()
    for old, new in (("threshold: 0.05}", "threshold: 0.0625}"), ("threshold: 0.0625}", "threshold: 0.075}"),
                     ("threshold: 0.075}", "threshold: 0.05}")):
        if old in text:
            spec.write_text(text.replace(old, new, 1))
            return
    raise SystemExit(f"{spec}: no encoder threshold to change")


def _stage_keys(totals: str) -> str:
    """'stage results: N computed, ...' -> N (the distinct stage keys the build computed)."""
    marker = "stage results: "
    return totals.split(marker, 1)[1].split(" ", 1)[0] if marker in totals else "0"


def _fleet(sites: int, key: Path, scratch: Path, cores: int) -> dict:
    """Cold build, rebuild with nothing changed, rebuild with one site changed."""
    fleet = scratch / f"fleet-{sites}"
    specs = _make_fleet().make_fleet(fleet, sites)
    build = ["build", "sites", "--out", "out", "--jobs", str(cores), "--sign-key", str(key),
             "--cache-dir", str(scratch / f"cache-{sites}")]
    time.sleep(1.1)  # the index does not trust a file modified within a second of a build's start
    cold, cold_cpu, cold_totals = _nmspec(build, fleet)
    unchanged, unchanged_cpu, unchanged_totals = _nmspec(build, fleet)
    changed_spec = specs[len(specs) // 2]
    _change_one_site(changed_spec)
    time.sleep(1.1)
    warm, warm_cpu, warm_totals = _nmspec(build, fleet)
    return {"sites": sites, "specs": specs, "cold": cold, "cold_cpu": cold_cpu, "cold_totals": cold_totals,
            "unchanged": unchanged, "unchanged_cpu": unchanged_cpu, "unchanged_totals": unchanged_totals,
            "warm": warm, "warm_cpu": warm_cpu, "warm_totals": warm_totals,
            "changed_base": changed_spec.stem.rsplit("-", 1)[0], "stage_keys": _stage_keys(cold_totals)}


def main() -> None:
    sites = _site_count(sys.argv[1:])
    large_sites = 10 * sites
    cores = os.cpu_count() or 1
    with tempfile.TemporaryDirectory(prefix="nmspec-fleet-") as scratch:
        scratch = Path(scratch)
        key = scratch / "sign.pem"
        _nmspec(["keygen", str(key)], scratch)
        small = _fleet(sites, key, scratch, cores)
        by_base: dict[str, list[Path]] = {}
        for spec in small["specs"]:
            by_base.setdefault(spec.stem.rsplit("-", 1)[0], []).append(spec)
        measured = {base: _single_site_seconds(group, key) for base, group in sorted(by_base.items())}
        single = {base: wall for base, (wall, _) in measured.items()}
        serial = sum(single[base] * len(group) for base, group in by_base.items())
        serial_cpu = sum(measured[base][1] * len(group) for base, group in by_base.items())
        fleet = scratch / f"fleet-{sites}"
        one = ["build", str(small["specs"][0].relative_to(fleet)), "--out", "out-one", "-q", "--no-cache",
               "--sign-key", str(key)]
        cli_single, _, _ = _nmspec(one, fleet)
        large = _fleet(large_sites, key, scratch, cores)
    cold_target = COLD_TARGET_S_PER_1000 * sites / 1000
    cold, warm, unchanged = small["cold"], small["warm"], small["unchanged"]
    rows = [
        ("sites", f"{sites}", ""),
        ("cores", f"{cores}", ""),
        *[(f"single site from nothing, {base} (in process, median of {SINGLE_RUNS})", f"{single[base]:.2f} s",
           f"{len(by_base[base])} sites") for base in sorted(single)],
        ("single site, nmspec build one.yaml (process)", f"{cli_single:.2f} s", ""),
        ("sites x single site (serial sum)", f"{serial:.1f} s", f"CPU {serial_cpu:.1f} s"),
        ("cold build, all sites", f"{cold:.1f} s",
         f"target {cold_target:.1f} s: {cold / cold_target:.2f} of target; {serial / cold:.1f}x the serial sum"),
        ("cold CPU time (all processes)", f"{small['cold_cpu']:.1f} s",
         f"{small['cold_cpu'] / serial_cpu:.3f} x the single-site CPU time x sites"),
        ("distinct stage keys computed (cold)", small["stage_keys"], ""),
        ("rebuild, nothing changed", f"{unchanged:.2f} s", f"CPU {small['unchanged_cpu']:.2f} s"),
        ("rebuild, one site changed", f"{warm:.2f} s",
         (f"target {WARM_TARGET_S:.1f} s: {warm / WARM_TARGET_S:.2f} of target; one {small['changed_base']} site "
          f"from nothing {single[small['changed_base']]:.2f} s; CPU {small['warm_cpu']:.2f} s")),
        (f"{large_sites} sites: cold build", f"{large['cold']:.1f} s",
         (f"target {LARGE_COLD_TARGET_S:.0f} s: {large['cold'] / LARGE_COLD_TARGET_S:.2f} of target; "
         f"{large['cold'] / cold:.1f}x the {sites}-site cold build")),
        (f"{large_sites} sites: distinct stage keys computed (cold)", large["stage_keys"], ""),
        (f"{large_sites} sites: rebuild, one site changed", f"{large['warm']:.2f} s",
         f"target {WARM_TARGET_S:.1f} s: {large['warm'] / WARM_TARGET_S:.2f} of target"),
    ]
    width = max(len(r[0]) for r in rows)
    for name, value, note in rows:
        print(f"{name.ljust(width)}  {value.rjust(9)}  {note}")
    verdict = {"warm": warm <= WARM_TARGET_S, "cold": cold <= cold_target,
               "large_cold": large["cold"] <= LARGE_COLD_TARGET_S, "large_warm": large["warm"] <= WARM_TARGET_S}
    for run in (small, large):
        for name in ("cold", "unchanged", "warm"):
            print(f"{run['sites']} sites, {name}: {run[name + '_totals']}")
    print("targets: " + ", ".join(f"{k} {'met' if v else 'MISSED'}" for k, v in verdict.items()))
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps({
        "sites": sites, "cores": cores, "single_site_s": {k: round(v, 3) for k, v in single.items()},
        "single_site_cli_s": round(cli_single, 3), "serial_s": round(serial, 2), "serial_cpu_s": round(serial_cpu, 2),
        "cold_s": round(cold, 2), "cold_cpu_s": round(small["cold_cpu"], 2), "cold_target_s": round(cold_target, 2),
        "stage_keys": small["stage_keys"], "unchanged_s": round(unchanged, 3),
        "unchanged_cpu_s": round(small["unchanged_cpu"], 3), "warm_one_changed_s": round(warm, 3),
        "warm_cpu_s": round(small["warm_cpu"], 3), "warm_target_s": WARM_TARGET_S,
        "large": {"sites": large_sites, "cold_s": round(large["cold"], 2), "cold_cpu_s": round(large["cold_cpu"], 2),
                  "cold_target_s": LARGE_COLD_TARGET_S, "stage_keys": large["stage_keys"],
                  "warm_one_changed_s": round(large["warm"], 3)},
        "targets_met": verdict,
        "totals": {f"{run['sites']}": {name: run[name + "_totals"] for name in ("cold", "unchanged", "warm")}
                   for run in (small, large)},
    }, indent=2, sort_keys=True) + "\n")


if __name__ == "__main__":
    main()
