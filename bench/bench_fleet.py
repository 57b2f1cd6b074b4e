"""A fleet of synthetic sites (tools/make_fleet.py): cold build of every site, rebuild with
nothing changed, rebuild with one site changed, against a baseline measured in the same run:
the build time of a single site in one process, median of a few, per base.

    python -m bench fleet --sites 50          # or NMSPEC_BENCH_SITES=50; default 1000

Targets (docs/gitops.md): the warm rebuild with one site changed takes at most 2 s; the cold
build takes at most 1.5 x (sum of single-site times / cores).
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
WARM_TARGET_S = 2.0
COLD_FACTOR = 1.5
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
    and the last line it printed (the build's totals)."""
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
    from engine.fleet import BuildJob, build_one

    pem = key.read_bytes()
    job = BuildJob(str(specs[0]), "bench", "bench", (), pem, True, None, None)
    build_one(job)
    times, cpu = [], []
    for spec in specs[:SINGLE_RUNS]:
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


def main() -> None:
    sites = _site_count(sys.argv[1:])
    cores = os.cpu_count() or 1
    with tempfile.TemporaryDirectory(prefix="nmspec-fleet-") as scratch:
        scratch = Path(scratch)
        fleet = scratch / "fleet"
        specs = _make_fleet().make_fleet(fleet, sites)
        key = scratch / "sign.pem"
        _nmspec(["keygen", str(key)], scratch)
        by_base: dict[str, list[Path]] = {}
        for spec in specs:
            by_base.setdefault(spec.stem.rsplit("-", 1)[0], []).append(spec)
        measured = {base: _single_site_seconds(group, key) for base, group in sorted(by_base.items())}
        single = {base: wall for base, (wall, _) in measured.items()}
        serial = sum(single[base] * len(group) for base, group in by_base.items())
        serial_cpu = sum(measured[base][1] * len(group) for base, group in by_base.items())
        build = ["build", "sites", "--out", "out", "--jobs", str(cores), "--sign-key", str(key),
                 "--cache-dir", str(scratch / "cache")]
        one = ["build", str(specs[0].relative_to(fleet)), "--out", "out-one", "-q", "--no-cache", "--sign-key", str(key)]
        cli_single, _, _ = _nmspec(one, fleet)
        # the index does not trust a file modified within a second of a build's start
        time.sleep(1.1)
        cold, cold_cpu, cold_totals = _nmspec(build, fleet)
        unchanged, unchanged_cpu, unchanged_totals = _nmspec(build, fleet)
        changed_spec = specs[len(specs) // 2]
        _change_one_site(changed_spec)
        warm, warm_cpu, warm_totals = _nmspec(build, fleet)
        changed_base = changed_spec.stem.rsplit("-", 1)[0]
    cold_target = serial / cores * COLD_FACTOR
    rows = [
        ("sites", f"{sites}", ""),
        ("cores", f"{cores}", ""),
        *[(f"single site, {base} (in process, median of {SINGLE_RUNS})", f"{single[base]:.2f} s",
           f"{len(by_base[base])} sites") for base in sorted(single)],
        ("single site, nmspec build one.yaml (process)", f"{cli_single:.2f} s", ""),
        ("per-site time (serial sum / sites)", f"{serial / sites:.2f} s", ""),
        ("cold build, all sites", f"{cold:.1f} s",
         (f"target {cold_target:.1f} s (serial {serial:.1f} s / {cores} cores x {COLD_FACTOR}): "
         f"{cold / cold_target:.2f} of target")),
        ("cold per site", f"{cold / sites:.3f} s", f"{cold * cores / serial:.2f} x ideal scaling"),
        ("cold CPU time (all processes)", f"{cold_cpu:.1f} s",
         f"{cold_cpu / serial_cpu:.2f} x the single-site CPU time x sites ({serial_cpu:.1f} s)"),
        ("rebuild, nothing changed", f"{unchanged:.2f} s", f"{unchanged / cold:.4f} of cold; CPU {unchanged_cpu:.2f} s"),
        ("rebuild, one site changed", f"{warm:.2f} s",
         (f"target {WARM_TARGET_S:.1f} s: {warm / WARM_TARGET_S:.2f} of target; one {changed_base} site alone "
         f"{single[changed_base]:.2f} s; CPU {warm_cpu:.2f} s")),
        ("warm / cold", f"{warm / cold:.4f}", ""),
    ]
    width = max(len(r[0]) for r in rows)
    for name, value, note in rows:
        print(f"{name.ljust(width)}  {value.rjust(9)}  {note}")
    verdict = {"warm": warm <= WARM_TARGET_S, "cold": cold <= cold_target}
    for name, totals in (("cold", cold_totals), ("nothing changed", unchanged_totals), ("one changed", warm_totals)):
        print(f"{name}: {totals}")
    print(f"targets: warm {'met' if verdict['warm'] else 'MISSED'}, cold {'met' if verdict['cold'] else 'MISSED'}")
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps({
        "sites": sites, "cores": cores, "single_site_s": {k: round(v, 3) for k, v in single.items()},
        "single_site_cli_s": round(cli_single, 3), "serial_s": round(serial, 2), "per_site_s": round(serial / sites, 3),
        "cold_s": round(cold, 2), "cold_cpu_s": round(cold_cpu, 2), "serial_cpu_s": round(serial_cpu, 2), "cold_target_s": round(cold_target, 2), "unchanged_s": round(unchanged, 3), "unchanged_cpu_s": round(unchanged_cpu, 3),
        "warm_cpu_s": round(warm_cpu, 3),
        "warm_one_changed_s": round(warm, 3), "warm_target_s": WARM_TARGET_S, "warm_over_cold": round(warm / cold, 5),
        "targets_met": verdict, "totals": {"cold": cold_totals, "unchanged": unchanged_totals, "warm": warm_totals},
    }, indent=2, sort_keys=True) + "\n")


if __name__ == "__main__":
    main()
