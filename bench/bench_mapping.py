"""Mapping quality and speed against baselines measured in the same run.

Graph families (engine.mapping.synthetic) at 1e3, 1e4 and 1e5 neurons and one 1e6-neuron
convolution, on the benchmark core (256 neurons, 64K synapses, 4096 input and output
axons, 70% duty) on a 64 x 64 mesh. Methods: nmspec's mapper; sequential fill (layer
order); METIS (pymetis) and KaHIP k-way at k = the lower bound with capacity repair. All
share the mapper's placement (Hilbert curve + swaps), routing and metrics; only the
partition differs. Ratios compare spike-hops per second with sequential fill and with the
best baseline (the lowest spike-hops among sequential fill, METIS and KaHIP).
"""

from __future__ import annotations

import json
import time
from pathlib import Path

from engine.mapping import benchmark_core, map_groups, map_partition, net_view, synthetic
from engine.mapping import partition as part

FAMILIES = ("conv", "conv2d", "recurrent", "small-world", "small-world-shuffled", "dense")
SIZES = (1_000, 10_000, 100_000)
LARGE = ("conv", 1_000_000)
RESULTS = Path(__file__).parent / "results" / "mapping.json"


def _baselines():
    out = {}
    try:
        import pymetis  # noqa: F401

        from engine.mapping.baselines import metis_parts

        out["metis"] = metis_parts
    except ImportError:
        pass
    try:
        import kahip  # noqa: F401

        from engine.mapping.baselines import kahip_parts

        out["kahip"] = kahip_parts
    except ImportError:
        pass
    return out


def _row(family, neurons, method, core_map, seconds) -> dict:
    s = core_map.summary()
    return {"family": family, "neurons": neurons, "method": method, "cores": s["cores"], "lower_bound": s["lower_bound"],
            "traffic": s["traffic_spikes_per_s"], "spikes_hops": s["spikes_hops_per_s"],
            "hottest_link": s["hottest_link"]["spikes_per_s"], "max_duty": s["max_duty"],
            "runtime_s": round(seconds, 3), "strategy": s["strategy"]}


def _measure(family: str, neurons: int, baselines: dict, skip: dict) -> list[dict]:
    core = benchmark_core()
    groups = synthetic.FAMILIES[family](neurons)
    rows = []
    start = time.perf_counter()
    ours = map_groups(groups, core)
    rows.append(_row(family, neurons, "nmspec", ours, time.perf_counter() - start))
    start = time.perf_counter()
    sequential = map_groups(groups, core, strategy="layer")
    rows.append(_row(family, neurons, "sequential", sequential, time.perf_counter() - start))
    for name, partitioner in baselines.items():
        if name in skip:
            rows.append({"family": family, "neurons": neurons, "method": name, "skipped": skip[name]})
            continue
        start = time.perf_counter()
        view = net_view(groups, core)
        cores = _repair(view, core, partitioner(view, part.lower_bound(view, core)))
        core_map = map_partition(view, core, cores, strategy=name)
        rows.append(_row(family, neurons, name, core_map, time.perf_counter() - start))
    return rows


def _repair(view, core, parts):
    from engine.mapping.baselines import repaired

    return repaired(view, core, parts)


def _ratios(rows: list[dict]) -> None:
    measured = [r for r in rows if "skipped" not in r]
    by_method = {r["method"]: r for r in measured}
    best = min((r for r in measured if r["method"] != "nmspec"), key=lambda r: (r["cores"], r["spikes_hops"]))
    for r in measured:
        r["vs_sequential"] = _ratio(r["spikes_hops"], by_method["sequential"]["spikes_hops"])
        r["vs_best_baseline"] = _ratio(r["spikes_hops"], best["spikes_hops"])
        r["best_baseline"] = best["method"]


def _ratio(a: float, b: float) -> float | None:
    if b == 0:
        return 1.0 if a == 0 else None
    return round(a / b, 4)


def _print_header() -> None:
    print(f"{'family':<21} {'neurons':>8} {'method':<10} {'cores':>5} {'bound':>5} {'traffic/s':>11} "
          f"{'spk*hops/s':>11} {'hot link':>9} {'duty':>6} {'time s':>7} {'vs seq':>7} {'vs best':>7}", flush=True)


def _print(row: dict) -> None:
    if "skipped" in row:
        print(f"{row['family']:<21} {row['neurons']:>8} {row['method']:<10} not run: {row['skipped']}", flush=True)
        return

    def ratio(v):
        return f"{v:.3f}" if v is not None else "-"

    print(f"{row['family']:<21} {row['neurons']:>8} {row['method']:<10} {row['cores']:>5} {row['lower_bound']:>5} "
          f"{row['traffic']:>11.4g} {row['spikes_hops']:>11.4g} {row['hottest_link']:>9.4g} {row['max_duty']:>6.3f} "
          f"{row['runtime_s']:>7.2f} {ratio(row['vs_sequential']):>7} {ratio(row['vs_best_baseline']):>7}", flush=True)


def main(families=FAMILIES, sizes=SIZES, large=LARGE) -> list[dict]:
    baselines = _baselines()
    cases = [(f, n) for n in sizes for f in families] + ([large] if large else [])
    _print_header()
    rows = []
    for family, neurons in cases:
        skip = {}
        if neurons >= 1_000_000 and "kahip" in baselines:
            skip["kahip"] = "KaHIP takes tens of seconds at 1e5 neurons; 1e6 would exceed the benchmark's time budget"
        case = _measure(family, neurons, baselines, skip)
        _ratios(case)
        for row in case:
            _print(row)
        rows += case
    if set(families) == set(FAMILIES) and tuple(sizes) == SIZES:
        RESULTS.parent.mkdir(parents=True, exist_ok=True)
        RESULTS.write_text(json.dumps({"core": "256 neurons, 65536 synapses, 4096 input/output axons, 70% duty, 64x64 mesh",
                                       "baselines": sorted(baselines), "rows": rows}, indent=2, sort_keys=True) + "\n")
    return rows


if __name__ == "__main__":
    main()
