"""Kernel speed: steps per second and synaptic events per second, against the plain
per-neuron reference (engine/verify/reference.py) measured in the same run. The
reference runs fewer steps of the same network and input (it is 2-4 orders of magnitude
slower); its time is scaled to the kernel's step count, and the steps both ran are
checked to agree bit for bit.

Cases:
- xylo: a Xylo Audio 2-shaped network, 16 -> 1000 (two synapses, 3% recurrent) -> 8,
  about 2% of hidden neurons spiking per step, 10,000 steps, run by the kernel without and
  with every state recorded and by SynSense's C++ xylosim (which always records) on the same
  network and input (target: at least 10x xylosim with every state recorded);
- sparse: 100,000 generic-LIF neurons in four layers of 25,000 on 400 cores of a 20x20
  mesh, each neuron reaching 64 neighbours of the next layer, spikes through routing
  tables (target: at least 3e8 synaptic events per second).

Every timed run follows one untimed run of the same call, for the kernel and for xylosim alike:
the first run in a process loads (or, after a change, compiles) the numba step loops and
first-touches its output memory, which `first_run_s` shows.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np

from engine.mapping.route import tree_entries
from engine.netlist import (
    INPUT,
    Placement,
    Population,
    Projection,
    QuantNetwork,
    RouteEntry,
    Weights,
    frozen_array,
)
from engine.verify import reference
from engine.verify.kernel import run
from engine.verify.mesh import needed_cores

RESULTS = Path(__file__).parent / "results" / "kernel.json"


def xylo_network(seed: int = 0) -> tuple[QuantNetwork, np.ndarray]:
    rng = np.random.default_rng(seed)
    n_in, n_hid, n_out = 16, 1000, 8

    def sparse(shape, density, lo, hi):
        return rng.integers(lo, hi, size=shape) * (rng.random(shape) < density)

    hidden = Population("hidden", n_hid, {
        "dash_syn": frozen_array(rng.integers(2, 5, (n_hid, 2)), np.int32), "dash_mem": frozen_array(rng.integers(3, 6, n_hid), np.int32),
        "threshold": frozen_array(rng.integers(800, 1600, n_hid), np.int32), "bias": frozen_array(np.zeros(n_hid), np.int32),
        "alias": frozen_array(np.full(n_hid, -1), np.int32)})
    output = Population("output", n_out, {
        "dash_syn": frozen_array(np.full((n_out, 1), 2), np.int32), "dash_mem": frozen_array(np.full(n_out, 3), np.int32),
        "threshold": frozen_array(np.full(n_out, 300), np.int32), "bias": frozen_array(np.zeros(n_out), np.int32)})
    projections = (Projection(INPUT, "hidden", Weights.from_dense(sparse((n_in, n_hid), 0.25, -20, 100)), 0, 0),
                   Projection("hidden", "hidden", Weights.from_dense(sparse((n_hid, n_hid), 0.03, -60, 30)), 1, 0),
                   Projection("hidden", "output", Weights.from_dense(sparse((n_hid, n_out), 0.3, -20, 60)), 0, 0))
    net = QuantNetwork("xylo", 1e-3, n_in, (hidden, output), projections, "output")
    return net, rng.poisson(0.05, size=(10_000, n_in))


def _routes(network: QuantNetwork) -> tuple[RouteEntry, ...]:
    """Dimension-order multicast trees (the mapper's), one key per (population, source core)
    with synapses: the key layout the kernel's mesh walker ties to a source by its tree."""
    placement = network.placement
    xy = placement.core_xy
    needed = needed_cores(network)
    entries = []
    for key, (pop, core) in enumerate(sorted(needed)):
        targets = np.array(sorted(needed[(pop, core)]))
        sx, sy = xy[core].tolist()
        xs, ys, bits = tree_entries(sx, sy, xy[targets, 0], xy[targets, 1])
        entries += [RouteEntry(int(y) * placement.mesh_width + int(x), key, 0xFFFFFFFF, int(b))
                    for x, y, b in zip(xs, ys, bits)]
    return tuple(entries)


def sparse_network(seed: int = 0, layer: int = 25_000, layers: int = 4, fan_out: int = 64, n_in: int = 256,
                   mesh: int = 20) -> tuple[QuantNetwork, np.ndarray]:
    rng = np.random.default_rng(seed)
    pops, projs, previous, n_src = [], [], INPUT, n_in
    for k in range(1, layers + 1):
        name = f"l{k}"
        pops.append(Population(name, layer, {
            "decay_syn": frozen_array(np.full(layer, 2), np.int32), "decay_mem": frozen_array(np.full(layer, 3), np.int32),
            "threshold": frozen_array(rng.integers(400, 800, layer), np.int32), "bias": frozen_array(np.zeros(layer), np.int32)}))
        # each source reaches fan_out consecutive neurons around its own position in the next layer
        centre = (np.arange(n_src) * layer) // n_src
        cols = (centre[:, None] + np.arange(fan_out)[None, :] - fan_out // 2) % layer
        cols = np.sort(cols, axis=1)
        weights = Weights.from_csr(n_src, layer, np.arange(n_src + 1) * fan_out, cols.ravel(),
                                   rng.integers(-40, 100, cols.size))
        projs.append(Projection(previous, name, weights, 0, 0))
        previous, n_src = name, layer
    n_cores = mesh * mesh
    per_core = -(-layer * layers // n_cores)
    order = np.arange(layer * layers) // per_core  # sequential fill, layer after layer
    serpentine = [(x if (y % 2 == 0) else mesh - 1 - x, y) for y in range(mesh) for x in range(mesh)]
    placement = Placement(mesh, mesh, frozen_array(serpentine, np.int32),
                          {p.name: frozen_array(order[i * layer:(i + 1) * layer], np.int32) for i, p in enumerate(pops)}, ())
    net = QuantNetwork("lif", 1e-3, n_in, tuple(pops), tuple(projs), previous, placement)
    from attrs import evolve

    net = evolve(net, placement=evolve(placement, routes=_routes(net)))
    return net, (rng.random((200, n_in)) < 0.3).astype(np.int64)


def _timed(fn, *args, **kwargs):
    """(value, wall seconds, CPU seconds of this process): on a shared machine the CPU time
    says what the code costs, the wall time what a user waits."""
    wall, cpu = time.perf_counter(), time.process_time()
    value = fn(*args, **kwargs)
    return value, time.perf_counter() - wall, time.process_time() - cpu


def _xylosim(net: QuantNetwork, inputs: np.ndarray) -> dict:
    """The vendor simulator on the same network and input: seconds of evolve(), and whether its
    spikes and recorded states equal the kernel's."""
    from engine.verify.xylosim_layer import vendor_layer

    run(net, inputs, record=True)  # untimed: the first run in a process also first-touches its recording memory
    ours, kernel_s, kernel_cpu = _timed(run, net, inputs, record=True)
    layer, _keep = vendor_layer(net)
    first = layer.evolve(inputs.tolist())  # untimed, from rest: compared with the kernel's run
    exact = (np.array(first, dtype=np.int64).reshape(inputs.shape[0], -1).tolist() == ours.spikes["output"].tolist()
             and ours.states["hidden.v"].T.tolist() == [list(r) for r in layer.rec_v_mem])
    _, seconds, cpu = _timed(layer.evolve, inputs.tolist())  # timed: continues from its state, the same work
    return {"xylosim_seconds": round(seconds, 4), "xylosim_cpu_seconds": round(cpu, 4),
            "recording_seconds": round(kernel_s, 4), "recording_cpu_seconds": round(kernel_cpu, 4),
            "speedup_vs_xylosim_recording": round(cpu / kernel_cpu, 1) if kernel_cpu > 0 else None,
            "equals_xylosim": exact}


def _case(name: str, net: QuantNetwork, inputs: np.ndarray, reference_steps: int, target: str) -> dict:
    from engine.verify.mesh import route_network

    routing, setup_s = None, 0.0
    if net.placement is not None and net.placement.n_cores > 1:
        routing, setup_s, _ = _timed(route_network, net)  # once per image: the tables walked for every key
    _, first_s, _ = _timed(run, net, inputs, routing=routing)
    result, seconds, cpu = _timed(run, net, inputs, routing=routing)
    steps = inputs.shape[0]
    events = int(result.events["synaptic_ops"].sum())
    spiking = sum(int(np.count_nonzero(s)) for s in result.spikes.values()) / (steps * net.n_neurons)
    slow, ref_seconds, ref_cpu = _timed(reference.run, routing.network if routing else net, inputs[:reference_steps].tolist())
    agree = all(result.spikes[p.name][:reference_steps].tolist() == slow[p.name] for p in net.populations)
    scaled, scaled_cpu = ref_seconds * steps / reference_steps, ref_cpu * steps / reference_steps
    return {"case": name, "neurons": net.n_neurons, "synapses": net.n_synapses,
            "cores": net.placement.n_cores if net.placement is not None else 1, "steps": steps,
            "spiking_fraction": round(spiking, 4), "routing_setup_s": round(setup_s, 3),
            "seconds": round(seconds, 4), "cpu_seconds": round(cpu, 4), "steps_per_s": round(steps / seconds, 1),
            "synaptic_events": events, "synaptic_events_per_s": round(events / seconds, 1),
            "synaptic_events_per_cpu_s": round(events / cpu, 1) if cpu > 0 else None,
            "reference_steps": reference_steps, "reference_seconds_scaled": round(scaled, 3),
            "first_run_s": round(first_s, 3), "speedup_vs_reference": round(scaled / seconds, 1),
            "speedup_vs_reference_cpu": round(scaled_cpu / cpu, 1) if cpu > 0 else None,
            "agrees_with_reference": agree, "target": target}


def main() -> None:
    rows = []
    net, inputs = xylo_network()
    rows.append(_case("xylo 16-1000-8", net, inputs, 100, ">= 10x xylosim with every state recorded") | _xylosim(net, inputs))
    net, inputs = sparse_network()
    rows.append(_case("sparse 100k", net, inputs, 2, ">= 3e8 synaptic events/s"))
    print(f"{'case':<15} {'neurons':>7} {'synapses':>8} {'cores':>5} {'steps':>6} {'active':>6} {'wall s':>7} {'cpu s':>6} "
          f"{'steps/s':>8} {'events/s':>9} {'ev/cpu-s':>9} {'ref s*':>7} {'x ref':>6} {'exact':>5}  target")
    for r in rows:
        print(f"{r['case']:<15} {r['neurons']:>7} {r['synapses']:>8} {r['cores']:>5} {r['steps']:>6} "
              f"{r['spiking_fraction']:>6.2%} {r['seconds']:>7.3f} {r['cpu_seconds']:>6.3f} {r['steps_per_s']:>8.0f} "
              f"{r['synaptic_events_per_s']:>9.3g} {r['synaptic_events_per_cpu_s']:>9.3g} {r['reference_seconds_scaled']:>7.1f} "
              f"{r['speedup_vs_reference']:>6.0f} {'yes' if r['agrees_with_reference'] else 'NO':>5}  {r['target']}")
    for r in rows:
        if "xylosim_seconds" in r:
            print(f"{r['case']}: xylosim {r['xylosim_cpu_seconds']:.3f} cpu s; kernel {r['cpu_seconds']:.3f} cpu s without "
                  f"recording ({r['xylosim_cpu_seconds'] / r['cpu_seconds']:.1f}x xylosim), {r['recording_cpu_seconds']:.3f} "
                  f"with every state recorded ({r['speedup_vs_xylosim_recording']:.1f}x xylosim); equal to xylosim: "
                  f"{'yes' if r['equals_xylosim'] else 'NO'}")
    print("first run in a process (numba loads the compiled loops): "
          + ", ".join(f"{r['case']} {r['first_run_s']:.2f} s" for r in rows))
    print("ref s*: the plain reference ran the first reference_steps steps; its time is scaled to the kernel's step count")
    print("sparse: routing tables walked once per image before the run (routing_setup_s in the results), not counted in events/s")
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(json.dumps({"kernel": rows}, indent=2, sort_keys=True) + "\n")


if __name__ == "__main__":
    main()
