"""The kernel's step loops, compiled to machine code by numba: the one source of the integer
arithmetic that engine/verify/kernel.py runs (docs/kernel.md states the same rules in prose).

Each function is plain Python over flat integer arrays, so it reads as the per-neuron rules
and runs as such under NUMBA_DISABLE_JIT=1; compiled, one call runs a whole window. The
independent check is engine/verify/reference.py, which shares no code with this module, and
the vendor simulators where they are installed.

Layouts: every population's neurons sit in one flat vector (`pop_start[p]` .. `pop_start[p+1]`);
every projection's CSR rows sit in one concatenated CSR (`proj_row[k]` is the projection's first
row in `indptr`, `proj_src[k]` the source population or -1 for the input channels, `proj_dst[k]`
the target population). Spikes are recorded into (steps, neurons) arrays, states only when asked.
"""

from __future__ import annotations

import numpy as np
from numba import njit
from numpy.typing import NDArray

I64 = NDArray[np.int64]  # what the loops read and update: inputs, parameters, state, CSR rows
I32 = NDArray[np.int32]  # what they record: spikes and states per step, CSR targets and weights

I16_MIN, I16_MAX = -32768, 32767
I32_MIN, I32_MAX = -(2**31 - 1), 2**31 - 1
LOIHI_V_MAX = 2**23 - 1


@njit(cache=True, inline="always")
def _sat16(x: int) -> int:
    return I16_MIN if x < I16_MIN else (min(x, I16_MAX))


@njit(cache=True, inline="always")
def _wrap16(x: int) -> int:
    return ((x + 32768) & 0xFFFF) - 32768


@njit(cache=True, inline="always")
def _xylo_decay(x: int, dash: int) -> int:
    """x >> dash (an arithmetic shift), but at least 1 while x is positive."""
    shifted = x >> dash
    if shifted == 0 and x > 0:
        return 1
    return shifted


@njit(cache=True, inline="always")
def _xylo_fire(v: int, threshold: int, start: int, cap: int) -> tuple[int, int]:
    """while v >= threshold and count < cap: count += 1, v -= threshold. Returns (count, v)."""
    room = cap - start
    if threshold > 0:
        n = max(min(room, (v - threshold) // threshold + 1), 0) if v >= threshold else 0
        return start + n, v - n * threshold
    # a threshold <= 0 raises v with every spike; the chip's 16-bit subtraction wraps (as
    # XyloSim does), and a wrapped v falls below the threshold and ends the spikes
    n = 0
    while v >= threshold and n < room:
        n += 1
        v = _wrap16(v - threshold)
    return start + n, v


@njit(cache=True)
def xylo_run(inputs: I64, n_hidden: int, indptr: I64, indices: I32, values: I32, dash_syn: I64, dash_mem: I64,
             threshold: I64, bias: I64, cap: I64, alias: I64, involved: NDArray[np.bool_], isyn: I64, v: I64,
             previous: I64, spikes: I32, ops: I64, record: bool, rec_isyn: I32, rec_v: I32) -> None:
    """Xylo steps. Neurons: hidden then output; isyn flat (neuron, synapse); rows of the CSR:
    the input channels, then the hidden neurons (the order a step delivers in). `previous`
    holds last step's spike counts of every neuron and is updated in place, as are isyn and v;
    ops[t] counts the synaptic events step t delivers.

    Per step: deliver this step's inputs and last step's hidden spikes, saturating after every
    single add (one source's c equal adds saturate monotonically: sat(x + c * w) is exact);
    decay every synaptic current; integrate; fire with the per-step spike cap; aliases pass
    counts on in neuron order."""
    steps, n_in = inputs.shape
    n = v.size
    n_syn = isyn.size // n
    counts = np.zeros(n, dtype=np.int64)
    for t in range(steps):
        total = 0
        for s in range(n_in + n_hidden):
            c = inputs[t, s] if s < n_in else previous[s - n_in]
            if c == 0:
                continue
            total += c * (indptr[s + 1] - indptr[s])
            for k in range(indptr[s], indptr[s + 1]):
                j = indices[k]
                isyn[j] = _sat16(isyn[j] + c * values[k])
        for j in range(isyn.size):
            isyn[j] -= _xylo_decay(isyn[j], dash_syn[j])
        for i in range(n):
            current = 0
            for s in range(n_syn):
                current += isyn[i * n_syn + s]
            leak = _wrap16(-_xylo_decay(v[i], dash_mem[i]))  # -(-32768) wraps (only with dash_mem 0)
            dv = _sat16(leak + current)
            v[i] = _sat16(v[i] + _sat16(dv + bias[i]))
        for i in range(n):
            counts[i] = 0
        for i in range(n):
            if not involved[i]:
                counts[i], v[i] = _xylo_fire(v[i], threshold[i], 0, cap[i])
        for i in range(n):
            if involved[i]:
                counts[i], v[i] = _xylo_fire(v[i], threshold[i], counts[i], cap[i])
                a = alias[i]
                if a >= 0:
                    counts[a] = min(counts[a] + counts[i], cap[a])
        for i in range(n):
            spikes[t, i] = counts[i]
            previous[i] = counts[i]
        ops[t] = total
        if record:
            for j in range(isyn.size):
                rec_isyn[t, j] = isyn[j]
            for i in range(n):
                rec_v[t, i] = v[i]


@njit(cache=True, inline="always")
def _trunc0_mul(value: int, factor: int) -> int:
    """trunc0(value * factor / 4096): the magnitude shifted right by 12, the sign restored."""
    product = value * factor
    return product >> 12 if product >= 0 else -((-product) >> 12)


@njit(cache=True, inline="always")
def _shifted(x: int, exp: int) -> int:
    return x << exp if exp >= 0 else x >> (-exp)


@njit(cache=True, inline="always")
def _deliver(indptr: I64, indices: I32, values: I32, row: int, count: int, out: I64, offset: int) -> int:
    """out[offset + target] += count * weight over one CSR row, without saturation; returns the
    synaptic events it delivered."""
    lo, hi = indptr[row], indptr[row + 1]
    for q in range(lo, hi):
        out[offset + indices[q]] += count * values[q]
    delivered: int = count * (hi - lo)
    return delivered


@njit(cache=True)
def _source_count(inputs: I64, t: int, spikes: I32, pop_start: I64, src: int, s: int) -> int:
    if src < 0:
        count: int = inputs[t, s]
        return count
    spiked: int = spikes[t, pop_start[src] + s]
    return spiked


@njit(cache=True)
def loihi_run(inputs: I64, pop_start: I64, proj_src: I64, proj_dst: I64, proj_row: I64, proj_shift: I64,
              pend_start: I64, indptr: I64, indices: I32, values: I32, du: I64, dv: I64, vth64: I64, bias: I64,
              u: I64, v: I64, pending: I64, previous: I64, spikes: I32, ops: I64, record: bool, rec_u: I32,
              rec_v: I32) -> None:
    """Loihi steps. Every population takes what its Dense projections computed on the previous
    step (one step of delay per Dense, the input's included), then every Dense computes
    W @ spikes of this step, scaled by its weight exponent, for the next step. Input counts
    above 1 are graded: the weight times the count."""
    steps = inputs.shape[0]
    n = v.size
    a_in = np.zeros(n, dtype=np.int64)
    for t in range(steps):
        for i in range(n):
            a_in[i] = 0
        for k in range(proj_src.size):
            d0 = pop_start[proj_dst[k]]
            for j in range(pop_start[proj_dst[k] + 1] - d0):
                a_in[d0 + j] += pending[pend_start[k] + j]
        for i in range(n):
            uu = _trunc0_mul(u[i], 4096 - (du[i] + 1)) + (a_in[i] << 6)
            if uu > 2**23:
                uu -= 2**24
            elif uu <= -(2**23):
                uu += 2**24
            vv = _trunc0_mul(v[i], 4096 - dv[i]) + uu + bias[i]
            vv = min(max(vv, -LOIHI_V_MAX), LOIHI_V_MAX)
            fired = vv > vth64[i]
            if fired:
                vv = 0
            u[i], v[i] = uu, vv
            spikes[t, i] = 1 if fired else 0
            previous[i] = spikes[t, i]
        total = 0
        for k in range(proj_src.size):
            p0 = pend_start[k]
            for j in range(pend_start[k + 1] - p0):
                pending[p0 + j] = 0
            src = proj_src[k]
            n_src = (pop_start[src + 1] - pop_start[src]) if src >= 0 else inputs.shape[1]
            row0 = proj_row[k]
            for s in range(n_src):
                c = _source_count(inputs, t, spikes, pop_start, src, s)
                if c == 0:
                    continue
                total += _deliver(indptr, indices, values, row0 + s, c, pending, p0)
            exp = proj_shift[k]
            if exp != 0:
                for j in range(pend_start[k + 1] - p0):
                    pending[p0 + j] = _shifted(pending[p0 + j], exp)
        ops[t] = total
        if record:
            for i in range(n):
                rec_u[t, i] = u[i]
                rec_v[t, i] = v[i]


@njit(cache=True, inline="always")
def _lif_projections(t: int, inputs: I64, pop_start: I64, proj_src: I64, proj_dst: I64, proj_row: I64,
                     proj_shift: I64, indptr: I64, indices: I32, values: I32, isyn: I64, previous: I64,
                     added: I64) -> int:
    """One step's synaptic input of the generic LIF: per projection in order, add (w << shift)
    of this step's input counts or the source's previous-step spikes into the target's
    current, saturating at +-(2^31 - 1). Returns the synaptic operations done."""
    total = 0
    for k in range(proj_src.size):
        src = proj_src[k]
        n_src = (pop_start[src + 1] - pop_start[src]) if src >= 0 else inputs.shape[1]
        s0 = pop_start[src] if src >= 0 else 0
        active = False
        for s in range(n_src):
            c = inputs[t, s] if src < 0 else previous[s0 + s]
            if c != 0:
                active = True
                break
        if not active:
            continue
        d0, d1 = pop_start[proj_dst[k]], pop_start[proj_dst[k] + 1]
        for j in range(d0, d1):
            added[j] = 0
        row0 = proj_row[k]
        for s in range(n_src):
            c = inputs[t, s] if src < 0 else previous[s0 + s]
            if c == 0:
                continue
            total += _deliver(indptr, indices, values, row0 + s, c, added, d0)
        exp = proj_shift[k]
        for j in range(d0, d1):
            x = (added[j] << exp) + isyn[j]
            isyn[j] = min(max(x, I32_MIN), I32_MAX)
    return total


@njit(cache=True)
def lif_run(inputs: I64, pop_start: I64, proj_src: I64, proj_dst: I64, proj_row: I64, proj_shift: I64,
            indptr: I64, indices: I32, values: I32, decay_syn: I64, decay_mem: I64, threshold: I64, bias: I64,
            isyn: I64, v: I64, previous: I64, spikes: I32, ops: I64, record: bool, rec_i: I32, rec_v: I32) -> None:
    """Generic integer LIF steps: per projection in order, add (w << shift) of this step's input
    counts or the source population's previous-step spikes into the target's current,
    saturating the projection's sum at +-(2^31 - 1); then per neuron: decay the current, leak,
    integrate, add the bias, saturate, spike where v >= threshold and subtract it."""
    steps = inputs.shape[0]
    n = v.size
    added = np.zeros(n, dtype=np.int64)
    for t in range(steps):
        total = _lif_projections(t, inputs, pop_start, proj_src, proj_dst, proj_row, proj_shift, indptr, indices,
                                 values, isyn, previous, added)
        for i in range(n):
            ii = isyn[i] - (isyn[i] >> decay_syn[i])
            vv = v[i] - (v[i] >> decay_mem[i]) + ii + bias[i]
            vv = min(max(vv, I32_MIN), I32_MAX)
            fired = vv >= threshold[i]
            if fired:
                vv -= threshold[i]
            isyn[i], v[i] = ii, vv
            spikes[t, i] = 1 if fired else 0
        for i in range(n):
            previous[i] = spikes[t, i]
        ops[t] = total
        if record:
            for i in range(n):
                rec_i[t, i] = isyn[i]
                rec_v[t, i] = v[i]


@njit(cache=True, inline="always")
def _speck_event(v: I64, j: int, add: int, threshold: I64, low: I64, reset_zero: I64, spikes_t: I32) -> None:
    """One event at neuron j: add, fire at most one spike, then the membrane's floor."""
    vv = _sat16(v[j] + add)
    if vv >= threshold[j]:
        spikes_t[j] += 1
        vv = 0 if reset_zero[j] != 0 else vv - threshold[j]
    v[j] = max(vv, low[j])


@njit(cache=True)
def speck_run(inputs: I64, pop_start: I64, proj_src: I64, proj_dst: I64, proj_row: I64, indptr: I64,
              indices: I32, values: I32, threshold: I64, low: I64, bias: I64, reset_zero: I64, v: I64,
              spikes: I32, ops: I64, record: bool, rec_v: I32) -> None:
    """Speck (DynapCNN) steps. Populations in network order (a feed-forward pipeline); each
    takes, projection by projection in network order, its events of this step: the input
    counts or its source population's spikes of this step, sources ascending, a count of c as
    c events one after another. An event reaches every neuron of the layer in index order (a
    dense layer is a convolution whose kernel covers its input: the kernel memory holds a
    weight, zero or not, for every neuron) and adds its weight; a neuron whose 16-bit membrane
    (saturating) reaches its threshold fires one spike and is set to 0 or loses the threshold;
    a membrane below its floor is raised to it. Then every neuron with a nonzero bias takes it
    once, as one more event."""
    steps = inputs.shape[0]
    n_pops = pop_start.size - 1
    for t in range(steps):
        total = 0
        spikes_t = spikes[t]
        for p in range(n_pops):
            d0, d1 = pop_start[p], pop_start[p + 1]
            for k in range(proj_src.size):
                if proj_dst[k] != p:
                    continue
                src = proj_src[k]
                n_src = (pop_start[src + 1] - pop_start[src]) if src >= 0 else inputs.shape[1]
                s0 = pop_start[src] if src >= 0 else 0
                row0 = proj_row[k]
                for s in range(n_src):
                    c = inputs[t, s] if src < 0 else spikes_t[s0 + s]
                    if c == 0:
                        continue
                    a, b = indptr[row0 + s], indptr[row0 + s + 1]
                    for _ in range(c):
                        q = a
                        for j in range(d1 - d0):
                            add = 0
                            if q < b and indices[q] == j:
                                add = values[q]
                                q += 1
                            _speck_event(v, d0 + j, add, threshold, low, reset_zero, spikes_t)
                    total += c * (d1 - d0)
            for j in range(d0, d1):
                if bias[j] != 0:
                    _speck_event(v, j, bias[j], threshold, low, reset_zero, spikes_t)
        ops[t] = total
        if record:
            for i in range(v.size):
                rec_v[t, i] = v[i]


@njit(cache=True)
def lif_leak_run(inputs: I64, pop_start: I64, proj_src: I64, proj_dst: I64, proj_row: I64, proj_shift: I64,
                 indptr: I64, indices: I32, values: I32, leak_syn: I64, leak_mem: I64, leak_bits: int,
                 threshold: I64, bias: I64, isyn: I64, v: I64, previous: I64, spikes: I32) -> None:
    """The generic integer LIF of lif_run with each neuron's leak given as a fixed-point
    fraction (x loses (x * leak) >> leak_bits per step) instead of a shift: an analog target's
    time constants drift by any factor, not by powers of two. With leak = 2^(leak_bits - d) it
    is lif_run exactly (engine/resolve/drift.py)."""
    steps = inputs.shape[0]
    n = v.size
    added = np.zeros(n, dtype=np.int64)
    for t in range(steps):
        _lif_projections(t, inputs, pop_start, proj_src, proj_dst, proj_row, proj_shift, indptr, indices,
                         values, isyn, previous, added)
        for i in range(n):
            ii = isyn[i] - ((isyn[i] * leak_syn[i]) >> leak_bits)
            vv = v[i] - ((v[i] * leak_mem[i]) >> leak_bits) + ii + bias[i]
            vv = min(max(vv, I32_MIN), I32_MAX)
            fired = vv >= threshold[i]
            if fired:
                vv -= threshold[i]
            isyn[i], v[i] = ii, vv
            spikes[t, i] = 1 if fired else 0
        for i in range(n):
            previous[i] = spikes[t, i]
