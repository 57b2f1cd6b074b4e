"""Spikes onto the mesh: multicast groups, dimension-order trees, routing entries.

A route group is some of one population's neurons on one core (a slice): those with one
target set, or the rest of the slice together (split_groups; tables.finest_split chooses
which sets get a group of their own). All its spikes share one multicast tree to every
core any of them reaches, and one masked key: the group's index
in the high bits, the neuron's index within the group in the low bits, so a router needs
one entry per group passing through it, not one per neuron. Trees follow dimension
order (X first, then Y): from the source along its row to every target column, then up
or down each column; a router gets one entry per group with the links to forward on and
LOCAL where the group has targets.
"""

from __future__ import annotations

import attrs
import numpy as np

from engine.diagnostics import Diagnostic, StageError
from engine.mapping.arrays import unique, unique_first, unique_pairs
from engine.mapping.netview import NetView, placed_pairs
from engine.netlist import LINK_EAST, LINK_LOCAL, LINK_NORTH, LINK_SOUTH, LINK_WEST, RouteEntry

KEY_BITS = 32
LINK_BITS = (LINK_EAST, LINK_NORTH, LINK_WEST, LINK_SOUTH)
LINK_INDEX = {bit: i for i, bit in enumerate(LINK_BITS)}


MAX_SETS_PER_SLICE = 8  # more distinct target sets than this in one slice: one union group


@attrs.frozen(eq=False)
class RouteGroups:
    group: np.ndarray  # (g,) population index of each route group
    source: np.ndarray  # (g,) source core
    rate: np.ndarray  # (g,) spikes per second the group sends
    target_ptr: np.ndarray  # (g + 1,) CSR into targets
    targets: np.ndarray  # destination cores, ascending within a group (the source core too if local)
    member_ptr: np.ndarray  # (g + 1,) CSR into members
    members: np.ndarray  # neuron ids, ascending within a group; a neuron's key is group << bits | rank

    def __len__(self) -> int:
        return int(self.group.size)

    def targets_of(self, index: int) -> np.ndarray:
        return self.targets[self.target_ptr[index]: self.target_ptr[index + 1]]

    def members_of(self, index: int) -> np.ndarray:
        return self.members[self.member_ptr[index]: self.member_ptr[index + 1]]


@attrs.frozen(eq=False)
class TargetSets:
    """Each sending neuron's set of destination cores, numbered as distinct sets within
    its slice (one population on one core): what a route-group split chooses among."""
    n_cores: int
    senders: np.ndarray  # (s,) neuron ids that send anywhere, ascending
    slice_of_sender: np.ndarray  # (s,) population * n_cores + core
    set_of_sender: np.ndarray  # (s,) index of the sender's set, distinct sets numbered by slice
    pair_ptr: np.ndarray  # (s + 1,) CSR of each sender's destination cores
    pair_core: np.ndarray  # destination cores, ascending within a sender
    slice_of_set: np.ndarray  # (m,) slice of each distinct set
    set_size: np.ndarray  # (m,) cores in each set
    set_rate: np.ndarray  # (m,) spikes per second its senders send

    @property
    def sets(self) -> int:
        return int(self.slice_of_set.size)

    def sets_in_slice(self) -> np.ndarray:
        """(m,) how many distinct sets the slice of each set has."""
        _, inverse, counts = np.unique(self.slice_of_set, return_inverse=True, return_counts=True)
        return counts[inverse]


def target_sets(view: NetView, cores: np.ndarray) -> TargetSets:
    n_cores = int(cores.max(initial=0)) + 1
    src, dst = placed_pairs(view)
    pairs = unique_pairs(src, cores[dst], n_cores)
    sender_of_pair, core_of_pair = pairs // n_cores, pairs % n_cores
    senders, first = unique_first(sender_of_pair)
    if not senders.size:
        empty = np.zeros(0, dtype=np.int64)
        return TargetSets(n_cores, empty, empty, empty, np.zeros(1, np.int64), empty, empty, empty, np.zeros(0))
    lengths = np.diff(np.append(first, pairs.size))
    sender_index = np.repeat(np.arange(senders.size), lengths)
    h1, h2 = _set_hashes(core_of_pair, np.arange(pairs.size) - first[sender_index], first)
    slices = view.group_of[senders] * n_cores + cores[senders]
    order = np.lexsort((senders, h2, h1, slices))
    sl, a, b = slices[order], h1[order], h2[order]
    new_set = np.concatenate([[True], (sl[1:] != sl[:-1]) | (a[1:] != a[:-1]) | (b[1:] != b[:-1])])
    set_id = np.cumsum(new_set) - 1
    set_of_sender = np.empty(senders.size, dtype=np.int64)
    set_of_sender[order] = set_id
    firsts = order[new_set]
    return TargetSets(n_cores, senders, slices, set_of_sender, np.append(first, pairs.size).astype(np.int64),
                      core_of_pair, slices[firsts], lengths[firsts],
                      np.bincount(set_of_sender, weights=view.rate[senders], minlength=firsts.size))


def route_groups(view: NetView, cores: np.ndarray, max_sets: int = MAX_SETS_PER_SLICE) -> RouteGroups:
    """Route groups of the neurons that send anywhere. A slice (one population on one
    core) is split by target set, so a spike reaches only cores that need it, unless it
    has more than `max_sets` distinct sets; then the slice is one group to the union of
    its targets (fewer table entries, spikes the extra cores drop)."""
    sets = target_sets(view, cores)
    return split_groups(view, sets, sets.sets_in_slice() <= max_sets)


def split_groups(view: NetView, sets: TargetSets, own_group: np.ndarray) -> RouteGroups:
    """Route groups: each set with `own_group` its own group; the rest of a slice's senders
    one group to the union of their sets. Groups are ordered by (population, source core,
    lowest member id)."""
    senders, n_cores = sets.senders, sets.n_cores
    if not senders.size:
        empty = np.zeros(0, dtype=np.int64)
        return RouteGroups(empty, empty, np.zeros(0), np.zeros(1, np.int64), empty, np.zeros(1, np.int64), empty)
    label = np.where(own_group[sets.set_of_sender], sets.set_of_sender, -1 - sets.slice_of_sender)
    slices = sets.slice_of_sender
    # route group order: (slice, lowest member id); senders are ascending, so the first
    # sender seen of each label is its lowest member
    labels, first_sender = unique_first(label)
    rank = np.lexsort((senders[first_sender], slices[first_sender]))
    group_of_label = np.empty(labels.size, dtype=np.int64)
    group_of_label[rank] = np.arange(labels.size)
    group_of_sender = group_of_label[np.searchsorted(labels, label)]
    n_groups = labels.size
    sender_index = np.repeat(np.arange(senders.size), np.diff(sets.pair_ptr))
    target_pairs = unique(group_of_sender[sender_index] * n_cores + sets.pair_core)
    target_ptr = np.searchsorted(target_pairs // n_cores, np.arange(n_groups + 1))
    member_order = np.lexsort((senders, group_of_sender))
    member_ptr = np.searchsorted(group_of_sender[member_order], np.arange(n_groups + 1))
    leaders = senders[first_sender[np.argsort(group_of_label)]]
    return RouteGroups(
        group=view.group_of[leaders], source=slices[first_sender[np.argsort(group_of_label)]] % n_cores,
        rate=np.bincount(group_of_sender, weights=view.rate[senders], minlength=n_groups),
        target_ptr=target_ptr.astype(np.int64), targets=target_pairs % n_cores,
        member_ptr=member_ptr.astype(np.int64), members=senders[member_order])


def _set_hashes(values: np.ndarray, position: np.ndarray, starts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Two 64-bit polynomial hashes of each sorted segment of `values` (a 128-bit
    fingerprint: equal sets collide always, different ones with odds near 2^-128)."""
    out = []
    with np.errstate(over="ignore"):
        for base in (np.uint64(0x9E3779B97F4A7C15), np.uint64(0xC2B2AE3D27D4EB4F)):
            powers = np.cumprod(np.full(int(position.max(initial=0)) + 1, base, dtype=np.uint64), dtype=np.uint64)
            terms = (values.astype(np.uint64) + np.uint64(1)) * powers[position]
            out.append(np.add.reduceat(terms, starts, dtype=np.uint64))
    return out[0], out[1]


def remote_traffic(groups: RouteGroups) -> float:
    """Spikes per second delivered to cores other than the sender's."""
    owner = np.repeat(np.arange(len(groups)), np.diff(groups.target_ptr))
    remote = np.bincount(owner[groups.targets != groups.source[owner]], minlength=len(groups))
    return float((groups.rate * remote).sum())


def tree_links(sx: int, sy: int, tx: np.ndarray, ty: np.ndarray) -> int:
    """Links a dimension-order multicast tree from (sx, sy) to the targets uses."""
    if not tx.size:
        return 0
    x_links = max(sx, int(tx.max())) - min(sx, int(tx.min()))
    order = np.lexsort((ty, tx))
    cx, cy = tx[order], ty[order]
    first = np.concatenate([[True], cx[1:] != cx[:-1]])
    starts = np.nonzero(first)[0]
    y_min = np.minimum(np.minimum.reduceat(cy, starts), sy)
    y_max = np.maximum(np.maximum.reduceat(cy, starts), sy)
    return x_links + int((y_max - y_min).sum())


def tree_entries(sx: int, sy: int, tx: np.ndarray, ty: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Routers (x, y) of the tree, ascending by (y, x), and the out-link bits of each."""
    xs, ys, bits = [], [], []
    x_lo, x_hi = min(sx, int(tx.min())), max(sx, int(tx.max()))
    row = np.arange(x_lo, x_hi + 1)
    row_bits = np.where((row >= sx) & (row < x_hi), LINK_EAST, 0) | np.where((row <= sx) & (row > x_lo), LINK_WEST, 0)
    xs.append(row)
    ys.append(np.full(row.size, sy))
    bits.append(row_bits)
    for column in unique(tx):
        col_y = ty[tx == column]
        y_lo, y_hi = min(sy, int(col_y.min())), max(sy, int(col_y.max()))
        up = np.arange(sy, y_hi + 1)  # router at sy forwards north when the column goes up
        if y_hi > sy:
            xs.append(np.full(up.size, column))
            ys.append(up)
            bits.append(np.where(up < y_hi, LINK_NORTH, 0))
        if y_lo < sy:
            col_down = np.arange(y_lo, sy + 1)
            xs.append(np.full(col_down.size, column))
            ys.append(col_down)
            bits.append(np.where(col_down > y_lo, LINK_SOUTH, 0))
    xs.append(tx)
    ys.append(ty)
    bits.append(np.full(tx.size, LINK_LOCAL))
    x, y, b = np.concatenate(xs), np.concatenate(ys), np.concatenate(bits).astype(np.int64)
    order = np.lexsort((x, y))
    x, y, b = x[order], y[order], b[order]
    first = np.concatenate([[True], (x[1:] != x[:-1]) | (y[1:] != y[:-1])])
    starts = np.nonzero(first)[0]
    return x[starts], y[starts], np.bitwise_or.reduceat(b, starts)


@attrs.frozen(eq=False)
class Routing:
    entries: tuple[RouteEntry, ...]  # by route group then router
    link_load: np.ndarray  # (height, width, 4) spikes per second leaving each router on E, N, W, S
    spike_rate: float  # spikes per second sent by neurons with targets
    traffic: float  # spikes per second delivered to remote cores
    spikes_hops: float  # spike-hops per second
    neuron_bits: int  # low key bits that number a neuron within its group


def key_neuron_bits(groups: RouteGroups) -> int:
    """Low key bits that number a neuron within its group: enough for the largest group."""
    largest = int(np.diff(groups.member_ptr).max(initial=1))
    return max(1, int(np.ceil(np.log2(max(largest, 2)))))


def keys_fit(groups: RouteGroups) -> bool:
    """Whether every group's index fits the key's high bits."""
    return not len(groups) or ((len(groups) - 1) << key_neuron_bits(groups)) < 1 << KEY_BITS


def build_routing(groups: RouteGroups, positions: np.ndarray, mesh_width: int,
                  mesh_height: int) -> Routing:
    """Every group's tree_entries, built for all groups at once: the row and column
    segments expanded to routers, the out-link bits of a router OR-ed together."""
    neuron_bits = key_neuron_bits(groups)
    if not keys_fit(groups):
        raise StageError([Diagnostic("error", "NM606", f"{len(groups)} route groups of up to {1 << neuron_bits} neurons "
                                                       f"do not fit {KEY_BITS}-bit routing keys")])
    mask = ((1 << KEY_BITS) - 1) ^ ((1 << neuron_bits) - 1)
    group, x, y, bits = _tree_routers(groups, positions)
    routers = mesh_width * mesh_height
    cell = group * routers + y * mesh_width + x
    order = np.argsort(cell, kind="stable")
    cell, bits = cell[order], bits[order]
    first = np.ones(cell.size, dtype=bool)
    first[1:] = cell[1:] != cell[:-1]
    starts = np.nonzero(first)[0]
    cell, bits = cell[starts], (np.bitwise_or.reduceat(bits, starts) if starts.size else bits)
    owner, router = cell // routers, cell % routers
    entries = tuple(RouteEntry(int(r), int(g) << neuron_bits, mask, int(b))
                    for r, g, b in zip(router.tolist(), owner.tolist(), bits.tolist()))
    load = np.zeros((mesh_height, mesh_width, 4))
    rate = groups.rate[owner]
    spikes_hops = 0.0
    for link, bit in enumerate(LINK_BITS):
        on = (bits & bit) != 0
        np.add.at(load, (router[on] // mesh_width, router[on] % mesh_width, link), rate[on])
        spikes_hops += float(rate[on].sum())
    return Routing(entries, load, float(groups.rate.sum()), remote_traffic(groups), spikes_hops, neuron_bits)


@attrs.frozen(eq=False)
class TreeSegments:
    """Every group's dimension-order tree as segments: the source row [x_lo, x_hi] at
    (sx, sy), and per (group, target column) the targets' extent [y_lo, y_hi] in it."""
    sx: np.ndarray  # (g,)
    sy: np.ndarray
    x_lo: np.ndarray
    x_hi: np.ndarray
    column_group: np.ndarray  # (c,) one per (group, target column)
    column_x: np.ndarray
    column_row: np.ndarray  # the source row of the column's group
    y_lo: np.ndarray
    y_hi: np.ndarray


def tree_segments(groups: RouteGroups, positions: np.ndarray) -> TreeSegments:
    owner = np.repeat(np.arange(len(groups)), np.diff(groups.target_ptr))
    tx, ty = positions[groups.targets, 0].astype(np.int64), positions[groups.targets, 1].astype(np.int64)
    sx, sy = positions[groups.source, 0].astype(np.int64), positions[groups.source, 1].astype(np.int64)
    starts = groups.target_ptr[:-1]
    order = np.lexsort((tx, owner))
    g, cx, cy = owner[order], tx[order], ty[order]
    column = np.nonzero(np.concatenate([[True], (g[1:] != g[:-1]) | (cx[1:] != cx[:-1])]))[0]
    return TreeSegments(sx, sy, np.minimum(sx, np.minimum.reduceat(tx, starts)),
                        np.maximum(sx, np.maximum.reduceat(tx, starts)), g[column], cx[column], sy[g[column]],
                        np.minimum.reduceat(cy, column), np.maximum.reduceat(cy, column))


def _tree_routers(groups: RouteGroups, positions: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(group, x, y, out-link bits) of every router on every group's tree, a router once
    per segment that passes it (the caller ORs them): the source row from the westmost to
    the eastmost target column, each target column up and down from the source row, and
    LOCAL at each target."""
    n = len(groups)
    empty = np.zeros(0, dtype=np.int64)
    if n == 0:
        return empty, empty, empty, empty
    tree = tree_segments(groups, positions)
    parts = []
    # the row: east of the source forwards east up to the last column, west likewise
    row_group, row_x = _expand(np.arange(n), tree.x_lo, tree.x_hi)
    row_sx, row_lo, row_hi = tree.sx[row_group], tree.x_lo[row_group], tree.x_hi[row_group]
    parts.append((row_group, row_x, tree.sy[row_group], np.where((row_x >= row_sx) & (row_x < row_hi), LINK_EAST, 0)
                  | np.where((row_x <= row_sx) & (row_x > row_lo), LINK_WEST, 0)))
    seg_y, y_lo, y_hi = tree.column_row, tree.y_lo, tree.y_hi
    up = y_hi > seg_y
    up_index, up_y = _expand(np.nonzero(up)[0], seg_y[up], y_hi[up])
    parts.append((tree.column_group[up_index], tree.column_x[up_index], up_y, np.where(up_y < y_hi[up_index], LINK_NORTH, 0)))
    down = y_lo < seg_y
    down_index, down_y = _expand(np.nonzero(down)[0], y_lo[down], seg_y[down])
    parts.append((tree.column_group[down_index], tree.column_x[down_index], down_y,
                  np.where(down_y > y_lo[down_index], LINK_SOUTH, 0)))
    owner = np.repeat(np.arange(n), np.diff(groups.target_ptr))
    parts.append((owner, positions[groups.targets, 0], positions[groups.targets, 1], np.full(owner.size, LINK_LOCAL)))
    return tuple(np.concatenate([part[i] for part in parts]).astype(np.int64) for i in range(4))  # type: ignore[return-value]


def _expand(index: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(index repeated, value) for every value in each inclusive range [lo, hi]."""
    lengths = hi - lo + 1
    repeated = np.repeat(index, lengths)
    offsets = np.arange(int(lengths.sum())) - np.repeat(np.cumsum(lengths) - lengths, lengths)
    return repeated, np.repeat(lo, lengths) + offsets
