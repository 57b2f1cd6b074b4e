"""How full a split's routing tables are, counted without building them, and the finest
route-group split the tables hold.

A route group's dimension-order tree (route.tree_entries) is one row segment on the
source's row and, for each target column, one segment up and one down from that row; a
router holds one entry per group whose tree passes it. Counting the segments with
difference arrays gives every router's entries and every tree's links in a few sorts,
where building the entries takes a Python object each: a split can be tried on every
step of a search.
"""

from __future__ import annotations

import numpy as np

from engine.mapping.netview import NetView
from engine.mapping.route import RouteGroups, TargetSets, keys_fit, split_groups, tree_segments


def tree_load(groups: RouteGroups, positions: np.ndarray, width: int, height: int) -> tuple[np.ndarray, np.ndarray]:
    """(entries of each router, row-major (height * width,); links of each group's tree)."""
    n = len(groups)
    if n == 0:
        return np.zeros(width * height, dtype=np.int64), np.zeros(0, dtype=np.int64)
    tree = tree_segments(groups, positions)
    row_y = tree.column_row
    up, down = np.maximum(tree.y_hi - row_y, 0), np.maximum(row_y - tree.y_lo, 0)
    links = (tree.x_hi - tree.x_lo) + np.bincount(tree.column_group, weights=up + down, minlength=n).astype(np.int64)
    # entries: rows [x_lo, x_hi] on the source row; columns (row_y, y_hi] and [y_lo, row_y)
    rows = np.zeros((height + 1, width + 1), dtype=np.int64)
    np.add.at(rows, (tree.sy, tree.x_lo), 1)
    np.add.at(rows, (tree.sy, tree.x_hi + 1), -1)
    columns = np.zeros((height + 1, width + 1), dtype=np.int64)
    has_up, has_down = up > 0, down > 0
    np.add.at(columns, (row_y[has_up] + 1, tree.column_x[has_up]), 1)
    np.add.at(columns, (tree.y_hi[has_up] + 1, tree.column_x[has_up]), -1)
    np.add.at(columns, (tree.y_lo[has_down], tree.column_x[has_down]), 1)
    np.add.at(columns, (row_y[has_down], tree.column_x[has_down]), -1)
    entries = np.cumsum(rows, axis=1)[:height, :width] + np.cumsum(columns, axis=0)[:height, :width]
    return entries.ravel(), links


def split_cost(groups: RouteGroups, positions: np.ndarray, width: int, height: int) -> tuple[int, float]:
    """(most entries any router holds, spike-hops per second) of a split at these positions."""
    entries, links = tree_load(groups, positions, width, height)
    return int(entries.max(initial=0)), float((groups.rate * links).sum())


def finest_split(view: NetView, sets: TargetSets, own_group: np.ndarray, positions: np.ndarray,
                 width: int, height: int, table: int) -> np.ndarray:
    """More sets given their own route group, at these core positions, while every router's
    table holds its entries (and the groups' indices fit the routing keys). A set is worth its own group by the spike-hops it saves
    against its slice's union tree, per entry its own tree costs; the sets are added in
    that order, as many as fit (bisection: each set added costs entries, so fitting is
    close to monotone in how many; the split returned is one that was counted to fit).
    `own_group` must fit; it is returned when nothing more does."""
    candidates = np.nonzero(~own_group)[0]
    if not candidates.size:
        return own_group
    everyone = np.ones(sets.sets, dtype=bool)
    own_links = _links_by_set(view, sets, everyone, positions, width, height)
    union_links = _links_by_set(view, sets, np.zeros(sets.sets, dtype=bool), positions, width, height)
    saved = sets.set_rate * (union_links - own_links)
    worth = saved / (own_links + 1)
    candidates = candidates[saved[candidates] > 0]
    ranked = candidates[np.lexsort((candidates, -worth[candidates]))]

    def with_first(count: int) -> np.ndarray:
        keep = own_group.copy()
        keep[ranked[:count]] = True
        return keep

    fits, lo, hi = 0, 0, ranked.size
    while lo <= hi:
        mid = (lo + hi) // 2
        groups = split_groups(view, sets, with_first(mid))
        most, _ = split_cost(groups, positions, width, height)
        if most <= table and keys_fit(groups):
            fits, lo = mid, mid + 1
        else:
            hi = mid - 1
    return with_first(fits)


def _links_by_set(view: NetView, sets: TargetSets, own_group: np.ndarray, positions: np.ndarray,
                  width: int, height: int) -> np.ndarray:
    """Links of the tree each set's spikes take under a split."""
    groups = split_groups(view, sets, own_group)
    _, links = tree_load(groups, positions, width, height)
    group_of_member = np.repeat(np.arange(len(groups)), np.diff(groups.member_ptr))
    group_of_sender = np.empty(view.n, dtype=np.int64)
    group_of_sender[groups.members] = group_of_member
    set_links = np.zeros(sets.sets, dtype=np.int64)
    set_links[sets.set_of_sender] = links[group_of_sender[sets.senders]]
    return set_links
