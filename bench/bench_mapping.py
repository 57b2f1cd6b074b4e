"""Mapping quality and speed against the strongest general partitioners, in one run.

Graph families with the fan-in of typical SNN layers (engine.mapping.synthetic.REALISTIC:
3 x 3 x 16 convolutions, deep dense layers of fan-in 256, random recurrent of fan-in 100,
a small-world ring of fan-in 200, plain and with shuffled ids) on the benchmark core (256
neurons, 64K synapses, 4096 input and output axons, 70% duty) on a 64 x 64 mesh.

Methods: nmspec's mapper; sequential fill (layer order); METIS, KaHIP and Mt-KaHyPar at
k = the lower bound with their good settings (engine.mapping.baselines) and the repair
that moves the fewest neurons. All share the mapper's placement and routing; every
assignment is scored by engine.mapping.score, which shares no code with the mapper.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

from engine.mapping import benchmark_core, map_groups, map_partition, net_view, synthetic
from engine.mapping import partition as part
from engine.mapping.score import score

FAMILIES = tuple(synthetic.REALISTIC)
SIZES = (10_000, 100_000)
BASELINE_MAX_NEURONS = 10_000  # at 1e5 each baseline takes minutes per graph on the 2-core machine
RESULTS = Path(__file__).parent / "results" / "mapping.json"


def _baselines() -> dict:
    from engine.mapping import baselines

    out = {}
    for name, module, function in (("metis", "pymetis", baselines.metis_parts),
                                   ("kahip", "kahip", lambda view, k: baselines.kahip_parts(view, k, "FAST")),
                                   ("mtkahypar", "mtkahypar", baselines.mtkahypar_parts)):
        try:
            __import__(module)
        except ImportError:
            continue
        out[name] = function
    return out


def _row(family, neurons, method, groups, core, core_map, seconds) -> dict:
    figures = score(groups, core, _cores(core_map), core_map.placement.core_xy, core_map.placement,
                    core_map.neuron_keys)
    return {"family": family, "neurons": neurons, "method": method, "strategy": core_map.strategy,
            "runtime_s": round(seconds, 3), **{k: (round(v, 3) if isinstance(v, float) else v) for k, v in figures.items()}}


def _cores(core_map):
    import numpy as np

    return np.concatenate([np.asarray(v, dtype=np.int64) for v in core_map.placement.neuron_core.values()])


def _measure(family: str, neurons: int, baselines: dict) -> list[dict]:
    core = benchmark_core()
    groups = synthetic.REALISTIC[family](neurons)
    rows = []
    start = time.perf_counter()
    ours = map_groups(groups, core)
    rows.append(_row(family, neurons, "nmspec", groups, core, ours, time.perf_counter() - start))
    start = time.perf_counter()
    sequential = map_groups(groups, core, strategy="layer")
    rows.append(_row(family, neurons, "sequential", groups, core, sequential, time.perf_counter() - start))
    for name, partitioner in baselines.items():
        if neurons > BASELINE_MAX_NEURONS:
            rows.append({"family": family, "neurons": neurons, "method": name,
                         "skipped": "minutes per graph at 1e5 on the 2-core machine, beyond the benchmark's budget"})
            continue
        from engine.mapping.baselines import repaired

        start = time.perf_counter()
        view = net_view(groups, core)
        cores = repaired(view, core, partitioner(view, part.lower_bound(view, core)))
        core_map = map_partition(view, core, cores, strategy=name)
        rows.append(_row(family, neurons, name, groups, core, core_map, time.perf_counter() - start))
    return rows


def _ratios(rows: list[dict]) -> None:
    measured = [r for r in rows if "skipped" not in r]
    others = [r for r in measured if r["method"] not in ("nmspec", "sequential")]
    best = min(others, key=lambda r: (r["cores"], r["spike_hops_tables"]), default=None)
    metis = next((r for r in measured if r["method"] == "metis"), None)
    for r in measured:
        r["best_baseline"] = best["method"] if best else None
        r["hops_vs_best"] = _ratio(r["spike_hops_tables"], best["spike_hops_tables"]) if best else None
        r["time_vs_metis"] = _ratio(r["runtime_s"], metis["runtime_s"]) if metis else None


def _ratio(a: float, b: float) -> float | None:
    if b == 0:
        return 1.0 if a == 0 else None
    return round(a / b, 3)


HEADER = (f"{'family':<20} {'neurons':>7} {'method':<10} {'cores':>5} {'bound':>5} {'traffic/s':>9} "
          f"{'hops/s tree':>11} {'hops/s chip':>11} {'hot link':>9} {'ent/rtr':>7} {'in ax':>5} {'ok':>2} "
          f"{'time s':>7} {'hops/best':>9} {'t/metis':>7}")


def _line(row: dict) -> str:
    if "skipped" in row:
        return f"{row['family']:<20} {row['neurons']:>7} {row['method']:<10} not run: {row['skipped']}"

    def ratio(v):
        return f"{v:.3f}" if v is not None else "-"

    return (f"{row['family']:<20} {row['neurons']:>7} {row['method']:<10} {row['cores']:>5} {row['lower_bound']:>5} "
            f"{row['traffic']:>9.3g} {row['spike_hops_neuron_trees']:>11.4g} {row['spike_hops_tables']:>11.4g} "
            f"{row['hottest_link']:>9.3g} {row['max_entries_per_router']:>7} {row['max_input_axons']:>5} "
            f"{'y' if row['within_limits'] else 'N':>2} {row['runtime_s']:>7.2f} {ratio(row['hops_vs_best']):>9} "
            f"{ratio(row['time_vs_metis']):>7}")


def main(families=FAMILIES, sizes=SIZES) -> list[dict]:
    baselines = _baselines()
    print(HEADER, flush=True)
    rows = []
    for neurons in sizes:
        for family in families:
            case = _measure(family, neurons, baselines)
            _ratios(case)
            for row in case:
                print(_line(row), flush=True)
            rows += case
            if set(families) == set(FAMILIES):
                # after every case, so a run stopped on a loaded machine keeps what it measured
                _write(baselines, rows, complete=tuple(sizes) == SIZES and neurons == sizes[-1] and family == families[-1])
    return rows


def _write(baselines, rows, complete: bool) -> None:
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps({"core": "256 neurons, 65536 synapses, 4096 input/output axons, 70% duty, 64x64 mesh",
                                   "baselines": sorted(baselines), "complete": complete, "rows": rows},
                                  indent=2, sort_keys=True) + "\n")


if __name__ == "__main__":
    main()
