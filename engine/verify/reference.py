"""A plain, per-neuron, per-event reference of the four integer families: slow and
written to be read against docs/kernel.md line by line. It shares no code with kernel.py;
tests require the two to agree bit for bit."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from engine.netlist import INPUT, Population, Projection, QuantNetwork

# a step's input spike counts per channel (a row of an int array, or a list)
Inputs = Sequence[Sequence[int]] | np.ndarray
Record = dict[str, list[list[int]]]  # population -> per step, spikes per neuron


def _sat(x: int, lo: int = -32768, hi: int = 32767) -> int:
    return lo if x < lo else min(x, hi)


def _wrap16(x: int) -> int:
    x &= 0xFFFF
    return x - 0x10000 if x >= 0x8000 else x


def _decay(v: int, d: int) -> int:
    shifted = v >> d  # Python's >> on ints is an arithmetic (floor) shift
    if shifted == 0 and v > 0:
        return 1
    return shifted


def _rows(projection: Projection) -> dict[int, list[tuple[int, int]]]:
    """{source: [(target, weight), ...]} in CSR order."""
    w = projection.weights
    out: dict[int, list[tuple[int, int]]] = {}
    for s in range(w.n_src):
        lo, hi = int(w.indptr[s]), int(w.indptr[s + 1])
        out[s] = [(int(w.indices[k]), int(w.values[k])) for k in range(lo, hi)]
    return out


def run_xylo(net: QuantNetwork, inputs: Inputs) -> Record:
    hidden, output = net.population("hidden"), net.population("output")
    nh, no = hidden.size, output.size
    n_syn = len(hidden.params["dash_syn"][0])
    isyn = [[0] * n_syn for _ in range(nh)]
    v = [0] * nh
    o_isyn = [0] * no
    o_v = [0] * no
    last = [0] * nh
    proj_in = [(p.synapse, p.shift, _rows(p)) for p in net.projections if p.src == INPUT]
    proj_rec = [(p.synapse, p.shift, _rows(p)) for p in net.projections if p.src == "hidden" and p.dst == "hidden"]
    proj_out = [(p.shift, _rows(p)) for p in net.projections if p.dst == "output"]
    record_h: list[list[int]] = []
    record_o: list[list[int]] = []
    for step in inputs:
        for synapse in range(n_syn):
            for syn, shift, rows in proj_in:
                if syn != synapse:
                    continue
                for channel in range(net.n_inputs):
                    count = min(int(step[channel]), 15)
                    for target, weight in rows[channel]:
                        for _ in range(count):
                            isyn[target][syn] = _sat(isyn[target][syn] + _wrap16(weight << shift))
            for syn, shift, rows in proj_rec:
                if syn != synapse:
                    continue
                for source in range(nh):
                    for target, weight in rows[source]:
                        for _ in range(last[source]):
                            isyn[target][syn] = _sat(isyn[target][syn] + _wrap16(weight << shift))
        for shift, rows in proj_out:
            for source in range(nh):
                for target, weight in rows[source]:
                    for _ in range(last[source]):
                        o_isyn[target] = _sat(o_isyn[target] + _wrap16(weight << shift))
        counts = [0] * nh
        for j in range(nh):
            for s in range(n_syn):
                isyn[j][s] -= _decay(isyn[j][s], int(hidden.params["dash_syn"][j][s]))
            current = sum(isyn[j])
            dv = _sat(_wrap16(-_decay(v[j], int(hidden.params["dash_mem"][j]))) + current)
            dv = _sat(dv + int(hidden.params["bias"][j]))
            v[j] = _sat(v[j] + dv)
            threshold = int(hidden.params["threshold"][j])
            while v[j] >= threshold and counts[j] < 31:
                counts[j] += 1
                v[j] = _wrap16(v[j] - threshold)  # wraps only below a threshold <= 0, as XyloSim
            target = int(hidden.params["alias"][j])
            if target >= 0:
                counts[target] = min(counts[target] + counts[j], 31)
        out_counts = [0] * no
        for k in range(no):
            o_isyn[k] -= _decay(o_isyn[k], int(output.params["dash_syn"][k][0]))
            dv = _sat(_wrap16(-_decay(o_v[k], int(output.params["dash_mem"][k]))) + o_isyn[k])
            dv = _sat(dv + int(output.params["bias"][k]))
            o_v[k] = _sat(o_v[k] + dv)
            threshold = int(output.params["threshold"][k])
            while o_v[k] >= threshold and out_counts[k] < 1:
                out_counts[k] += 1
                o_v[k] = _wrap16(o_v[k] - threshold)
        last = counts
        record_h.append(counts)
        record_o.append(out_counts)
    return {"hidden": record_h, "output": record_o}


def _trunc0(numerator: int) -> int:
    magnitude = abs(numerator) >> 12
    return -magnitude if numerator < 0 else magnitude


def run_loihi(net: QuantNetwork, inputs: Inputs) -> Record:
    pops = list(net.populations)
    u = {p.name: [0] * p.size for p in pops}
    v = {p.name: [0] * p.size for p in pops}
    buffers = [[0] * net.size_of(p.dst) for p in net.projections]
    rows = [_rows(p) for p in net.projections]
    record: Record = {p.name: [] for p in pops}
    for step in inputs:
        spiked: dict[str, list[int]] = {}
        for p in pops:
            a_in = [0] * p.size
            for k, proj in enumerate(net.projections):
                if proj.dst == p.name:
                    for j in range(p.size):
                        a_in[j] += buffers[k][j]
            out = []
            for j in range(p.size):
                du, dv = int(p.params["du"][j]), int(p.params["dv"][j])
                vth = int(p.params["vth"][j])
                bias = int(p.params["bias_mant"][j]) << int(p.params["bias_exp"][j])
                uu = _trunc0(u[p.name][j] * (4096 - (du + 1))) + (a_in[j] << 6)
                if uu > 2**23:
                    uu -= 2**24
                elif uu <= -(2**23):
                    uu += 2**24
                vv = _trunc0(v[p.name][j] * (4096 - dv)) + uu + bias
                vv = max(-(2**23 - 1), min(2**23 - 1, vv))
                fire = vv > (vth << 6)
                if fire:
                    vv = 0
                u[p.name][j], v[p.name][j] = uu, vv
                out.append(1 if fire else 0)
            spiked[p.name] = out
            record[p.name].append(out)
        for k, proj in enumerate(net.projections):
            source = [int(c) for c in step] if proj.src == INPUT else spiked[proj.src]
            acc = [0] * net.size_of(proj.dst)
            for s, count in enumerate(source):
                for target, weight in rows[k][s]:
                    acc[target] += weight * count
            buffers[k] = [(a << proj.shift) if proj.shift >= 0 else (a >> -proj.shift) for a in acc]
    return record


def run_lif(net: QuantNetwork, inputs: Inputs) -> Record:
    lim = 2**31 - 1
    pops = list(net.populations)
    i = {p.name: [0] * p.size for p in pops}
    v = {p.name: [0] * p.size for p in pops}
    last = {p.name: [0] * p.size for p in pops}
    rows = [_rows(p) for p in net.projections]
    record: Record = {p.name: [] for p in pops}
    for step in inputs:
        for k, proj in enumerate(net.projections):
            source = [int(c) for c in step] if proj.src == INPUT else last[proj.src]
            for s, count in enumerate(source):
                for target, weight in rows[k][s]:
                    i[proj.dst][target] = max(-lim, min(lim, i[proj.dst][target] + count * (weight << proj.shift)))
        now: dict[str, list[int]] = {}
        for p in pops:
            out = []
            for j in range(p.size):
                ii = i[p.name][j] - (i[p.name][j] >> int(p.params["decay_syn"][j]))
                vv = v[p.name][j] - (v[p.name][j] >> int(p.params["decay_mem"][j])) + ii + int(p.params["bias"][j])
                vv = max(-lim, min(lim, vv))
                fire = vv >= int(p.params["threshold"][j])
                if fire:
                    vv -= int(p.params["threshold"][j])
                i[p.name][j], v[p.name][j] = ii, vv
                out.append(1 if fire else 0)
            now[p.name] = out
            record[p.name].append(out)
        last = now
    return record


def run_speck(net: QuantNetwork, inputs: Inputs) -> Record:
    """Speck: spikes per population, and the membranes after each step as "<pop>.v"."""
    pops = list(net.populations)
    v = {p.name: [0] * p.size for p in pops}
    rows = [_rows(p) for p in net.projections]
    record: Record = {p.name: [] for p in pops}
    record.update({f"{p.name}.v": [] for p in pops})

    def event(p: Population, j: int, add: int, out: list[int]) -> None:
        vv = _sat(v[p.name][j] + add)
        if vv >= int(p.params["threshold"][j]):
            out[j] += 1
            vv = 0 if int(p.params["reset_zero"][j]) else vv - int(p.params["threshold"][j])
        v[p.name][j] = max(vv, int(p.params["threshold_low"][j]))

    for step in inputs:
        now: dict[str, list[int]] = {}
        for p in pops:
            out = [0] * p.size
            for k, proj in enumerate(net.projections):
                if proj.dst != p.name:
                    continue
                source = [int(c) for c in step] if proj.src == INPUT else now[proj.src]
                for s, count in enumerate(source):
                    weights = dict(rows[k][s])
                    for _ in range(count):
                        for target in range(p.size):  # every neuron of the layer, zero weights too
                            event(p, target, weights.get(target, 0), out)
            for j in range(p.size):
                if int(p.params["bias"][j]):
                    event(p, j, int(p.params["bias"][j]), out)
            now[p.name] = out
            record[p.name].append(out)
            record[f"{p.name}.v"].append(list(v[p.name]))
    return record


def run(net: QuantNetwork, inputs: Inputs) -> Record:
    runners: dict[str, Callable[[QuantNetwork, Inputs], Record]] = {"xylo": run_xylo, "loihi": run_loihi,
                                                                     "lif": run_lif, "speck": run_speck}
    return runners[net.family](net, inputs)
