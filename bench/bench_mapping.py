"""Mapping quality and speed against the strongest general partitioners, side by side.

Graph families with the fan-in of typical SNN layers (engine.mapping.synthetic.REALISTIC:
3 x 3 x 16 convolutions, deep dense layers of fan-in 256, random recurrent of fan-in 100,
a small-world ring of fan-in 200, plain and with shuffled ids) on the benchmark core (256
neurons, 64K synapses, 4096 input and output axons, 4096 routing entries per router, 70%
duty) on a 64 x 64 mesh.

Methods: nmspec's mapper; sequential fill (layer order); METIS (volume objective, and
`metis-cut`: its default edge-cut objective), KaHIP and Mt-KaHyPar at
k = the lower bound with their good settings (engine.mapping.baselines) and the repair
that moves the fewest neurons. All share the mapper's placement and routing; every
assignment is scored by engine.mapping.score, which shares no code with the mapper.

Each (family, size) case runs its methods one after the other, each in a process of its
own under a memory and a time limit (a method over them is reported as such, the others
still run), and its row replaces that method's row of the case in bench/results/mapping.json
(`--methods` re-measures some methods of a case and keeps the others').
`python -m bench mapping` runs 1e4 and 1e5; `python -m bench.bench_mapping --sizes
1000000` the families that reach 1e6; `--table` prints the markdown table docs/mapping.md
shows, from the results file. Each baseline's repaired assignment is kept (untracked,
bench/results/mapping-assignments/), so after a change to placement or routing
`--rescore` places, routes and scores every kept assignment again without partitioning
again (the row keeps its partition time and adds the new mapping time).
"""

from __future__ import annotations

import argparse
import calendar
import json
import os
import resource
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

FAMILIES = ("conv2d", "dense", "recurrent", "small-world", "small-world-shuffled")
SIZES = (10_000, 100_000)
REACH_1E6 = ("conv2d",)  # the families whose graphs reach 1e6 neurons within the machine's memory
METHODS = ("nmspec", "sequential", "metis", "metis-cut", "kahip", "mtkahypar")
BASELINES = ("metis", "metis-cut", "kahip", "mtkahypar")
# per method: seconds, bytes of address space
LIMITS = {10_000: (900, 4 << 30), 100_000: (2400, 8 << 30), 1_000_000: (3600, 20 << 30)}
RESULTS = Path(__file__).parent / "results" / "mapping.json"
PARTIAL = Path(__file__).parent / "results" / "mapping-partial"  # untracked: one file per measured method
# untracked: each baseline's repaired assignment, so a change of placement or routing can
# re-score it (--rescore) without partitioning again
ASSIGNMENTS = Path(__file__).parent / "results" / "mapping-assignments"
# a method cut short by --until, and those after it that never ran
STOPPED = "the run was stopped at the end of its time budget before this method finished"
CORE = "256 neurons, 65536 synapses, 4096 input/output axons, 4096 routing entries per router, 70% duty, 64x64 mesh"


def measure_one(family: str, neurons: int, method: str, rescore: bool = False) -> dict[str, Any]:
    """One method on one graph, timed from the groups to the placed and routed map. A
    baseline's repaired assignment is kept (assignment_file); `rescore` places, routes
    and scores the kept one instead of partitioning again, its runtime_s then the mapping
    time alone (the caller adds the partition time the row recorded)."""
    import numpy as np

    from engine.mapping import benchmark_core, map_groups, map_partition, net_view, synthetic
    from engine.mapping import partition as part
    from engine.mapping.score import score

    core = benchmark_core()
    groups = synthetic.REALISTIC[family](neurons)
    timing: dict[str, float] = {}
    start = time.perf_counter()
    if method in ("nmspec", "sequential"):
        core_map = map_groups(groups, core, strategy="auto" if method == "nmspec" else "layer")
    else:
        view = net_view(groups, core)
        if rescore:
            cores = np.load(assignment_file(family, neurons, method)).astype(np.int64)
        else:
            cores = _baseline_partition(view, core, method, part.lower_bound(view, core))
            timing["partition_s"] = round(time.perf_counter() - start, 3)
            ASSIGNMENTS.mkdir(parents=True, exist_ok=True)
            np.save(assignment_file(family, neurons, method), cores.astype(np.int32))
        core_map = map_partition(view, core, cores, strategy=method)
    seconds = time.perf_counter() - start
    assignment = np.concatenate([np.asarray(v, dtype=np.int64) for v in core_map.placement.neuron_core.values()])
    figures = score(groups, core, assignment, core_map.placement.core_xy, core_map.placement, core_map.neuron_keys)
    return {"strategy": core_map.strategy, "runtime_s": round(seconds, 3), **timing,
            **{k: (round(v, 3) if isinstance(v, float) else v) for k, v in figures.items()}}


def _baseline_partition(view: Any, core: Any, method: str, bound: int) -> Any:
    from engine.mapping import baselines

    partitioner = {"metis": baselines.metis_parts, "mtkahypar": baselines.mtkahypar_parts,
                   "metis-cut": lambda view, k: baselines.metis_parts(view, k, "cut"),
                   "kahip": lambda view, k: baselines.kahip_parts(view, k, "FAST")}[method]
    if method == "metis-cut":
        # fast enough to search the part count a user would settle on
        return baselines.at_fewest_cores(view, core, partitioner, bound)
    return baselines.repaired(view, core, partitioner(view, bound))


def assignment_file(family: str, neurons: int, method: str) -> Path:
    return ASSIGNMENTS / f"{family}-{neurons}-{method}.npy"


def _limited(seconds: int, memory: int) -> Any:
    def apply() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (memory, memory))
    return apply


def run_method(family: str, neurons: int, method: str, until: float | None = None) -> dict[str, Any]:
    """One method in a process of its own; `until` (a time.time()) cuts it short, recorded as STOPPED."""
    seconds, memory = LIMITS[neurons]
    row: dict[str, Any] = {"family": family, "neurons": neurons, "method": method,
                           "load_before": round(os.getloadavg()[0], 1)}
    left = seconds if until is None else min(seconds, until - time.time())
    if left <= 0:
        row["failed"] = STOPPED
        return row
    try:
        done = subprocess.run([sys.executable, "-m", "bench.bench_mapping", "--one", family, str(neurons), method],
                              capture_output=True, text=True, check=False, timeout=left, preexec_fn=_limited(seconds, memory),
                              cwd=Path(__file__).parent.parent)
    except subprocess.TimeoutExpired:
        row["failed"] = f"over the {seconds} s limit" if left == seconds else STOPPED
        return row
    row["load_after"] = round(os.getloadavg()[0], 1)
    if done.returncode != 0:
        memory_error = "MemoryError" in done.stderr or "std::bad_alloc" in done.stderr
        lines = done.stderr.strip().splitlines()
        # the mapper's own refusal (a diagnostic such as NM603) is a result, worded as such
        refusal = next((line.split("StageError: ", 1)[1] for line in reversed(lines) if "StageError: " in line), None)
        row["failed"] = (f"over the {memory >> 30} GiB memory limit" if memory_error
                         else f"refused: {refusal}" if refusal else _crash(done.returncode, lines, memory))
        return row
    row.update(json.loads(done.stdout.strip().splitlines()[-1]))
    return row


def rescore(until: float | None = None) -> list[dict[str, Any]]:
    """Every baseline row with a kept assignment placed, routed and scored again by the
    current mapper (each in a process of its own, under the case's limits); the row keeps
    its partition time and load, its runtime_s becomes that plus the new mapping time."""
    results = load()
    done = []
    for row in results["rows"]:
        if row["method"] not in BASELINES or "partition_s" not in row or not assignment_file(
                row["family"], row["neurons"], row["method"]).exists():
            continue
        seconds, memory = LIMITS[row["neurons"]]
        left = seconds if until is None else min(seconds, until - time.time())
        if left <= 0:
            break
        try:
            ran = subprocess.run([sys.executable, "-m", "bench.bench_mapping", "--rescore-one", row["family"],
                                  str(row["neurons"]), row["method"]], capture_output=True, text=True, check=True,
                                 timeout=left, preexec_fn=_limited(seconds, memory), cwd=Path(__file__).parent.parent)
        except (subprocess.TimeoutExpired, subprocess.CalledProcessError):
            continue
        figures = json.loads(ran.stdout.strip().splitlines()[-1])
        mapping_s = figures.pop("runtime_s")
        row.update(figures)
        row["runtime_s"] = round(row["partition_s"] + mapping_s, 3)
        done.append(row)
    for family, neurons in {(r["family"], r["neurons"]) for r in results["rows"]}:
        ratios([r for r in results["rows"] if (r["family"], r["neurons"]) == (family, neurons)])
    _write(results)
    return done


def _crash(returncode: int, lines: list[str], memory: int) -> str:
    """A failure that names neither memory nor a refusal, worded as what was seen: the
    signal or exit code and the last line the method wrote, under the address-space limit
    it ran in (a C++ allocation failing under that limit can surface as either)."""
    how = f"killed by {signal.Signals(-returncode).name}" if returncode < 0 else f"exit {returncode}"
    last = f" ({lines[-1]})" if lines else ""
    return f"{how}{last} under the {memory >> 30} GiB address-space limit"


def ratios(rows: list[dict[str, Any]]) -> None:
    """hops_vs_best: chip spike-hops against the fewest any baseline reached on the case;
    time_vs_metis: run time against METIS's fastest finished run (either objective)."""
    for r in rows:  # a row's ratios from an earlier count of its case
        for key in ("best_baseline", "hops_vs_best", "time_vs_metis"):
            r.pop(key, None)
    measured = [r for r in rows if "failed" not in r]
    others = [r for r in measured if r["method"] in BASELINES]
    best = min(others, key=lambda r: (r["spike_hops_tables"], r["cores"]), default=None)
    metis = min((r for r in measured if r["method"] in ("metis", "metis-cut")), key=lambda r: r["runtime_s"], default=None)
    for r in measured:
        r["best_baseline"] = best["method"] if best else None
        r["hops_vs_best"] = _ratio(r["spike_hops_tables"], best["spike_hops_tables"]) if best else None
        r["time_vs_metis"] = _ratio(r["runtime_s"], metis["runtime_s"]) if metis else None


def _ratio(a: float, b: float) -> float | None:
    if b == 0:
        return 1.0 if a == 0 else None
    return round(a / b, 3)


COLUMNS = ("family", "neurons", "method", "cores", "bound", "traffic/s", "hops/s tree", "hops/s chip", "hot link",
           "ent/rtr", "in ax", "ok", "time s", "hops/best", "t/metis", "load")


def cells(row: dict[str, Any]) -> list[str]:
    head = [row["family"], str(row["neurons"]), row["method"]]
    if "failed" in row:
        return head + [f"not measured: {row['failed']}"] + [""] * (len(COLUMNS) - 4)

    def ratio(v: float | None) -> str:
        return f"{v:.3f}" if v is not None else "-"

    load = f"{row['load_before']:.1f}-{row['load_after']:.1f}"
    return head + [str(row["cores"]), str(row["lower_bound"]), f"{row['traffic']:.3g}",
                   f"{row['spike_hops_neuron_trees']:.4g}", f"{row['spike_hops_tables']:.4g}",
                   f"{row['hottest_link']:.3g}", str(row["max_entries_per_router"]), str(row["max_input_axons"]),
                   "y" if row["within_limits"] else "N", f"{row['runtime_s']:.1f}", ratio(row["hops_vs_best"]),
                   ratio(row["time_vs_metis"]), load]


def ordered(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return sorted(rows, key=lambda r: (r["neurons"], FAMILIES.index(r["family"]), METHODS.index(r["method"])))


def table(results: dict[str, Any]) -> str:
    """The markdown table of every measured row, in (size, family, method) order."""
    lines = ["| " + " | ".join(COLUMNS) + " |", "|" + "|".join("---" for _ in COLUMNS) + "|"]
    lines += ["| " + " | ".join(c for c in cells(r)) + " |" for r in ordered(results["rows"])]
    return "\n".join(lines) + "\n"


def verdicts(results: dict[str, Any]) -> str:
    """nmspec against the targets on every measured case, worded from the rows alone."""
    out = []
    rows = ordered(results["rows"])
    for neurons, family in sorted({(r["neurons"], r["family"]) for r in rows}, key=lambda c: (c[0], FAMILIES.index(c[1]))):
        case = {r["method"]: r for r in rows if (r["neurons"], r["family"]) == (neurons, family)}
        ours = case.get("nmspec")
        if ours is None or "failed" in ours:
            failed = {m: r["failed"] for m, r in case.items() if "failed" in r}
            if len(set(failed.values())) == 1 and len(failed) == len(case):
                reasons = f"every method: {next(iter(failed.values()))}"
            else:
                reasons = "; ".join(f"{m}: {why}" for m, why in failed.items())
            out.append(f"- {family} {neurons:,}: not measured ({reasons})")
            continue
        cores = (f"{ours['cores']} cores, the lower bound" if ours["cores"] == ours["lower_bound"]
                 else f"{ours['cores']} cores against a lower bound of {ours['lower_bound']} "
                      f"({ours['cores'] / ours['lower_bound']:.3f}x)")
        likely = family_bound(family, neurons)
        if likely is not None:
            cores += (f" and the family's bound of {likely} that holds with probability 1 - {RISK:.0e}".replace("e-0", "e-")
                      + " over the "
                      f"graph's random draw ({ours['cores'] / likely:.3f}x)")
        if ours["hops_vs_best"] is None:
            hops = "no baseline measured"
        else:
            best = case[ours["best_baseline"]]
            hops = (f"chip spike-hops {ours['hops_vs_best']:.3f}x the best baseline's ({best['method']}, "
                    f"{best['spike_hops_tables']:.4g} on {best['cores']} cores)")
        time_text = f", time {ours['time_vs_metis']:.2f}x METIS's fastest run" if ours["time_vs_metis"] is not None else ""
        failed = [m for m in BASELINES if m in case and "failed" in case[m]]
        reasons = ", ".join(f"{m} ({case[m]['failed']})" for m in failed)
        missing = f"; not measured: {reasons}" if failed else ""
        out.append(f"- {family} {neurons:,}: {cores}; {hops}{time_text}{missing}")
    return "\n".join(out) + "\n"


RISK = 1e-9  # the chance a family's high-probability bound is allowed to fail on a random draw


def family_bound(family: str, neurons: int) -> int | None:
    """Cores every partition needs with probability at least 1 - RISK over the family's
    random draw, on the benchmark core, where such a bound is known (random recurrent:
    engine.mapping.synthetic.random_recurrent_partition_bound, with the size's witness
    where there is one); a bound on the family, not a certificate of the graph measured,
    so it is not the `bound` column."""
    if family != "recurrent":
        return None
    from engine.mapping import benchmark_core, synthetic

    core = benchmark_core()
    return synthetic.random_recurrent_partition_bound(neurons, synthetic.RECURRENT_FAN, core.input_axons,
                                                      core.neurons_per_core, RISK,
                                                      synthetic.RECURRENT_WITNESSES.get(neurons))


def load() -> dict[str, Any]:
    if RESULTS.exists():
        results: dict[str, Any] = json.loads(RESULTS.read_text())
        return results
    return {"core": CORE, "rows": []}


def _write(results: dict[str, Any]) -> None:
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    results["rows"] = ordered(results["rows"])
    RESULTS.write_text(json.dumps(results, indent=2, sort_keys=True) + "\n")


def _keep_case(family: str, neurons: int, rows: list[dict[str, Any]]) -> None:
    """The rows replace those of the same methods on the case; the ratios are recounted
    over the whole case (a method kept from an earlier run keeps its own load column)."""
    results = load()
    results["core"] = CORE
    ran = {r["method"] for r in rows}
    case = [r for r in results["rows"] if (r["family"], r["neurons"]) == (family, neurons) and r["method"] not in ran]
    ratios(case + rows)
    results["rows"] = [r for r in results["rows"] if (r["family"], r["neurons"]) != (family, neurons)] + case + rows
    _write(results)


def run_case(family: str, neurons: int, methods: tuple[str, ...] = METHODS,
             until: float | None = None) -> list[dict[str, Any]]:
    """The case's rows are written before each method starts, the methods not yet finished
    as STOPPED, so a run killed at any point leaves the file saying what was measured."""
    rows: list[dict[str, Any]] = []
    for i, method in enumerate(methods):
        _keep_case(family, neurons, rows + [{"family": family, "neurons": neurons, "method": m, "failed": STOPPED}
                                            for m in methods[i:]])
        row = run_method(family, neurons, method, until)
        rows.append(row)
        print(" | ".join(cells({**row, "hops_vs_best": None, "time_vs_metis": None} if "failed" not in row else row)),
              flush=True)
    _keep_case(family, neurons, rows)
    return rows


def stop_time(clock: str, now: float) -> float:
    """The next UTC time `clock` (HH:MM) after `now`: a run started at 23:00 with --until
    01:00 stops the next morning, not at once."""
    hour, minute = (int(x) for x in clock.split(":"))
    day = time.gmtime(now)
    at = calendar.timegm((day.tm_year, day.tm_mon, day.tm_mday, hour, minute, 0, 0, 0, 0))
    return at if at > now else at + 86_400


def main(argv: list[str] | None = None) -> list[dict[str, Any]]:
    parser = argparse.ArgumentParser(prog="bench.bench_mapping")
    parser.add_argument("--sizes", default=",".join(str(s) for s in SIZES))
    parser.add_argument("--families", default=None)
    parser.add_argument("--methods", default=",".join(METHODS))
    parser.add_argument("--one", nargs=3, metavar=("FAMILY", "NEURONS", "METHOD"))
    parser.add_argument("--rescore", action="store_true",
                        help="place, route and score every baseline's kept assignment again (after a mapper change)")
    parser.add_argument("--rescore-one", nargs=3, metavar=("FAMILY", "NEURONS", "METHOD"))
    parser.add_argument("--table", action="store_true")
    parser.add_argument("--results", default=None, help="results file (default bench/results/mapping.json)")
    parser.add_argument("--until", default=None, metavar="HH:MM",
                        help="UTC time at which the run stops; what is unfinished then is recorded as stopped")
    args = parser.parse_args([] if argv is None else argv)
    if args.results:
        global RESULTS
        RESULTS = Path(args.results)
    if args.one:
        family, neurons, method = args.one
        before = round(os.getloadavg()[0], 1)
        row = measure_one(family, int(neurons), method)
        print(json.dumps(row, sort_keys=True))
        # kept as soon as measured, so a run stopped within a case keeps its finished methods
        PARTIAL.mkdir(parents=True, exist_ok=True)
        (PARTIAL / f"{family}-{neurons}-{method}.json").write_text(json.dumps(
            {"family": family, "neurons": int(neurons), "method": method, "load_before": before,
             "load_after": round(os.getloadavg()[0], 1), **row}, sort_keys=True) + "\n")
        return []
    if args.rescore_one:
        family, neurons, method = args.rescore_one
        print(json.dumps(measure_one(family, int(neurons), method, rescore=True), sort_keys=True))
        return []
    if args.table:
        results = load()
        print(table(results) + "\n" + verdicts(results), end="")
        return []
    until = stop_time(args.until, time.time()) if args.until else None
    if args.rescore:
        return rescore(until)
    print(" | ".join(COLUMNS), flush=True)
    rows = []
    for neurons in (int(s) for s in args.sizes.split(",")):
        wanted = args.families.split(",") if args.families else FAMILIES
        for family in wanted:
            if neurons >= 1_000_000 and family not in REACH_1E6:
                continue
            rows += run_case(family, neurons, tuple(args.methods.split(",")), until)
    return rows


if __name__ == "__main__":
    main(sys.argv[1:])
