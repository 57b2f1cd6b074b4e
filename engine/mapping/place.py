"""Cores onto the mesh: fill order along a Hilbert curve, then pairwise swaps.

Consecutive cores in fill order hold neighbouring neurons (the same tile, or the same
or adjacent layers), and consecutive Hilbert positions are mesh neighbours, so the curve
alone keeps most traffic short. The swaps then lower the rate-weighted links of the
multicast trees, a spike counted once per link of its group's tree (connectivity minus
one, not the edge cut). Swaps are proposed from a seeded generator and stop after a
fixed amount of work (tree targets re-costed), so the result is deterministic and the
time bounded on graphs where every group reaches every core.
"""

from __future__ import annotations

import math

import numpy as np

from engine.mapping.arrays import unique
from engine.mapping.native import compiled
from engine.mapping.route import RouteGroups

SWAP_ROUNDS_PER_CORE = 64
SWAP_WORK = 6_000_000  # targets re-costed over all swaps


def hilbert_order(width: int, height: int) -> list[tuple[int, int]]:
    """Mesh positions in an order where consecutive positions are adjacent: a Hilbert
    curve on square power-of-two meshes, serpentine rows otherwise."""
    side = 1 << max(0, math.ceil(math.log2(max(width, height, 1))))
    if width == height == side:
        return [_hilbert_d2xy(side, d) for d in range(side * side)]
    return [(x if y % 2 == 0 else width - 1 - x, y) for y in range(height) for x in range(width)]


def _hilbert_d2xy(n: int, d: int) -> tuple[int, int]:
    x = y = 0
    s, t = 1, d
    while s < n:
        rx = 1 & (t // 2)
        ry = 1 & (t ^ rx)
        if ry == 0:
            if rx == 1:
                x, y = s - 1 - x, s - 1 - y
            x, y = y, x
        x += s * rx
        y += s * ry
        t //= 4
        s *= 2
    return x, y


def place(n_cores: int, width: int, height: int, groups: RouteGroups, *, swaps: bool = True) -> np.ndarray:
    """(n_cores, 2) mesh position of each core."""
    slots = np.array(hilbert_order(width, height), dtype=np.int64).reshape(-1, 2)
    slot_of = np.arange(n_cores, dtype=np.int64)  # core -> slot
    if swaps and n_cores >= 2 and len(groups):
        _swap(slot_of, slots, groups)
    return slots[slot_of]


def _swap(slot_of: np.ndarray, slots: np.ndarray, groups: RouteGroups) -> None:
    n_cores, n_slots = slot_of.size, slots.shape[0]
    core_at = np.full(n_slots, -1, dtype=np.int64)
    core_at[slot_of] = np.arange(n_cores)
    touching = _touching(groups, n_cores)
    grid = np.full((int(slots[:, 1].max()) + 1, int(slots[:, 0].max()) + 1), -1, dtype=np.int64)
    grid[slots[:, 1], slots[:, 0]] = np.arange(n_slots)
    slot_xy = [tuple(p) for p in slots.tolist()]
    slot_x, slot_y = slots[:, 0].astype(np.int64), slots[:, 1].astype(np.int64)
    targets = [groups.targets_of(i).tolist() for i in range(len(groups))]
    sources = groups.source.tolist()
    where = slot_of.astype(np.int64)
    tree_costs = compiled(_tree_costs)

    def costs_of(affected: list[int]) -> list[float]:
        values: list[float] = tree_costs(np.asarray(affected, dtype=np.int64), groups.target_ptr, groups.targets,
                                         groups.source, groups.rate, where, slot_x, slot_y).tolist()
        return values

    costs = costs_of(list(range(len(groups))))
    rng = np.random.default_rng(0)
    work = 0
    for _ in range(SWAP_ROUNDS_PER_CORE * n_cores):
        a = int(rng.integers(n_cores))
        if touching[a].size and rng.random() < 0.5:
            # move next to a core it exchanges spikes with
            g = int(touching[a][rng.integers(touching[a].size)])
            partner = targets[g][int(rng.integers(len(targets[g])))]
            if partner == a:
                partner = sources[g]
            px, py = slot_xy[where[partner]]
            dx, dy = ((1, 0), (-1, 0), (0, 1), (0, -1))[int(rng.integers(4))]
            x, y = px + dx, py + dy
            if not (0 <= y < grid.shape[0] and 0 <= x < grid.shape[1]) or grid[y, x] < 0:
                continue
            target_slot = int(grid[y, x])
        else:
            target_slot = int(rng.integers(n_slots))
        b = int(core_at[target_slot])
        if b == a:
            continue
        affected = (touching[a] if b < 0 else np.union1d(touching[a], touching[b])).tolist()
        work += sum(len(targets[i]) + 1 for i in affected)
        if work > SWAP_WORK:
            break
        before = sum(costs[i] for i in affected)
        old_slot = where[a]
        _move(where, core_at, a, b, old_slot, target_slot)
        after = costs_of(affected)
        if sum(after) < before - 1e-9 * max(before, 1.0):
            for i, value in zip(affected, after):
                costs[i] = value
        else:
            _move(where, core_at, a, b, target_slot, old_slot)
    slot_of[:] = where


def _tree_costs(affected: np.ndarray, target_ptr: np.ndarray, targets: np.ndarray, source: np.ndarray,
                rate: np.ndarray, slot_of: np.ndarray, slot_x: np.ndarray, slot_y: np.ndarray) -> np.ndarray:
    """rate x tree links of each affected group at the cores' current slots: the X span
    on the source row plus each target column's Y span from the source row."""
    out = np.empty(affected.size)
    for k in range(affected.size):
        g = affected[k]
        sx, sy = slot_x[slot_of[source[g]]], slot_y[slot_of[source[g]]]
        lo, hi = target_ptr[g], target_ptr[g + 1]
        xs = np.empty(hi - lo, dtype=np.int64)
        ys = np.empty(hi - lo, dtype=np.int64)
        for j in range(lo, hi):
            xs[j - lo] = slot_x[slot_of[targets[j]]]
            ys[j - lo] = slot_y[slot_of[targets[j]]]
        order = np.argsort(xs)
        x_lo, x_hi = min(sx, xs[order[0]]), max(sx, xs[order[-1]])
        links = x_hi - x_lo
        j = 0
        while j < order.size:
            column = xs[order[j]]
            y_lo = y_hi = sy
            while j < order.size and xs[order[j]] == column:
                y_lo = min(y_lo, ys[order[j]])
                y_hi = max(y_hi, ys[order[j]])
                j += 1
            links += y_hi - y_lo
        out[k] = rate[g] * links
    return out


def _move(slot_of: np.ndarray, core_at: np.ndarray, a: int, b: int, from_slot: int, to_slot: int) -> None:
    slot_of[a] = to_slot
    core_at[to_slot] = a
    if b >= 0:
        slot_of[b] = from_slot
    core_at[from_slot] = b


def _touching(groups: RouteGroups, n_cores: int) -> list[np.ndarray]:
    """Route groups whose tree starts or ends on each core."""
    owner = np.repeat(np.arange(len(groups), dtype=np.int64), np.diff(groups.target_ptr))
    core = np.concatenate([groups.targets, groups.source])
    group = np.concatenate([owner, np.arange(len(groups), dtype=np.int64)])
    pair = unique(core * max(len(groups), 1) + group)
    by_core = pair // max(len(groups), 1)
    starts = np.searchsorted(by_core, np.arange(n_cores + 1))
    members = pair % max(len(groups), 1)
    return [members[starts[c]: starts[c + 1]] for c in range(n_cores)]
