"""The threat engine's batched graph search: many multi-source searches run as one.

The edges are numpy columns (`edge_table`); a walk's steps are the edges grouped by the asset
they step from (`steps`), restricted to the flows a condition allows (`Steps.only`); `reach_all`
runs every search of one nesting level together over disjoint copies of the graph.
"""

from __future__ import annotations

from operator import attrgetter
from typing import NamedTuple

import numpy as np

from kit.graph import AssetGraph
from kit.model.schema import FLOW_KINDS


class EdgeTable(NamedTuple):
    """The edges as numpy columns: edge i runs from asset number `source[i]` to `target[i]`,
    and `kind[i]` indexes FLOW_KINDS; so a walk can filter and step over all edges at once."""

    source: np.ndarray
    target: np.ndarray
    kind: np.ndarray


class Steps(NamedTuple):
    """Edges grouped by the node a walk steps from (CSR): those of node i are the slice
    indptr[i]:indptr[i+1] of `to` (the node stepped to) and `edge` (the edge's number)."""

    indptr: np.ndarray
    to: np.ndarray
    edge: np.ndarray

    def only(self, allowed: np.ndarray) -> Steps:
        """The same steps restricted to the edges `allowed` (a boolean mask over edge numbers)."""
        keep = allowed[self.edge]
        kept = np.zeros(len(keep) + 1, np.int64)  # kept[p]: positions kept before p
        keep.cumsum(out=kept[1:])
        return Steps(kept[self.indptr], self.to[keep], self.edge[keep])


def edge_table(graph: AssetGraph) -> EdgeTable:
    """Every edge of the graph (edge i = flow i) with its ends and kind as numpy columns."""
    flows, pos, m = graph.model.flows, graph.numbers, len(graph.model.flows)
    code = {k: i for i, k in enumerate(FLOW_KINDS)}
    kind = np.fromiter(map(code.__getitem__, map(attrgetter("kind"), flows)), np.int64, m)
    source = np.fromiter(map(pos.__getitem__, map(attrgetter("source"), flows)), np.int64, m)
    target = np.fromiter(map(pos.__getitem__, map(attrgetter("target"), flows)), np.int64, m)
    reverse = kind == code["depends_on"]  # influence runs from the dependency
    return EdgeTable(np.where(reverse, target, source), np.where(reverse, source, target), kind)


def steps(table: EdgeTable, n: int, direction: str) -> Steps:
    """The edges a walk `direction` follows, grouped by the asset it steps from (CSR)."""
    # A walk searches backward from its targets: "downstream" (an asset reaches a target by
    # following flows forward) steps from an edge's target to its source.
    loop = table.source == table.target
    number = np.flatnonzero(~loop)
    source, target = table.source[number], table.target[number]
    at, to, edge = {
        "downstream": (target, source, number),
        "upstream": (source, target, number),
        "neighbour": (
            np.concatenate([target, source]),
            np.concatenate([source, target]),
            np.concatenate([number, number]),
        ),
    }[direction]
    order = np.argsort(at, kind="stable")
    indptr = np.zeros(n + 1, np.int64)
    np.cumsum(np.bincount(at, minlength=n), out=indptr[1:])
    return Steps(indptr, to[order], edge[order])


class Reach:
    """The result of one multi-source walk, over asset numbers.

    `first[i] >= 0` when asset i reaches a target other than itself; `path(i)` gives the nearest
    such target and the edges of the way there. Each asset keeps up to two distinct targets
    (`labels[slot]`), with the edge it left by toward each and the next asset on the way. Those
    values are numbers in the batch the walk ran in: asset number + `offset`.
    """

    __slots__ = ("first", "labels", "via_edge", "via_next", "offset", "_lists")

    def __init__(self, targets: np.ndarray, labels, via_edge, via_next, offset: int = 0):
        self.first = np.where(targets, labels[1], labels[0])
        self.labels, self.via_edge, self.via_next = labels, via_edge, via_next
        self.offset = offset
        self._lists = None

    def path(self, asset: int) -> tuple[int, list[int]]:
        """(target reached, edge numbers from `asset` to it) for an asset with first >= 0."""
        if self._lists is None:  # Python lists: fast to index one item at a time
            self._lists = (self.labels.tolist(), self.via_edge.tolist(), self.via_next.tolist())
        labels, via_edge, via_next = self._lists
        offset = self.offset
        target, node, out = int(self.first[asset]), asset + offset, []
        while node != target:
            i = node - offset
            slot = 0 if labels[0][i] == target else 1
            out.append(via_edge[slot][i])
            node = via_next[slot][i]
        return target - offset, out


_UNSET = np.iinfo(np.int64).max
BATCH_ASSETS = 500_000  # copies of the graph searched at once, in assets: bounds the memory


class Search(NamedTuple):
    """One multi-source search: the edges it may follow, its targets (a boolean mask over asset
    numbers) and how many steps it may take.

    `steps` come from `steps(edge_table(graph), n, direction)`: "downstream" follows flows forward to a
    target, "upstream" backward, "neighbour" either way. `Steps.only` keeps some edges of them.
    """

    steps: Steps
    targets: np.ndarray
    depth: int = 1


def reach_all(searches: list[Search]) -> list[Reach]:
    """For each search, every asset from which one of its targets is reached within its depth.

    Each is a multi-source breadth-first search from all its targets at once, walking edges
    backward from them. Each asset keeps its two nearest distinct targets, so a target that is
    itself a start still finds the nearest *other* one; ties go to the target met first (the
    lower asset number at the first step). With every asset a target, depth 1 is enough
    (anything further is reached through a neighbour that is itself a target).

    The searches run together, as one search over as many disjoint copies of the graph (copy k
    of asset i is k*n + i), so each level is a few dozen numpy operations whatever the number of
    searches: the cost is the edges touched, not the searches made.
    """
    if not searches:
        return []
    n = len(searches[0].targets)
    out: list[Reach | None] = [None] * len(searches)
    todo = []
    for k, search in enumerate(searches):
        if search.targets.any() and len(search.steps.to):
            todo.append(k)
        else:
            out[k] = Reach(search.targets, np.full((2, n), -1, np.int32), None, None)
    per_batch = max(1, BATCH_ASSETS // max(n, 1))
    for first in range(0, len(todo), per_batch):
        batch = todo[first : first + per_batch]
        found = _search([searches[k] for k in batch], n)
        for j, k in enumerate(batch):
            part = slice(j * n, (j + 1) * n)
            out[k] = Reach(searches[k].targets, *(x[:, part] for x in found), offset=j * n)
    return out  # type: ignore[return-value]


def _search(searches: list[Search], n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(labels, via_edge, via_next) over the copies; labels and next assets are numbered across
    the batch (copy k of asset i is k*n + i)."""
    w = len(searches)
    # The union of the copies' steps, as one CSR over w * n assets.
    sizes = np.array([len(s.steps.to) for s in searches])
    starts = np.concatenate(([0], sizes.cumsum()))
    steps = Steps(
        np.concatenate(
            [s.steps.indptr[:-1] + start for s, start in zip(searches, starts, strict=False)]
            + [starts[-1:]]
        ),
        np.concatenate([s.steps.to + k * n for k, s in enumerate(searches)]),
        np.concatenate([s.steps.edge for s in searches]),
    )
    depths = np.array([s.depth for s in searches])
    limit = depths.repeat(n) if depths.min() != depths.max() else None
    targets = np.concatenate([s.targets for s in searches])
    # Per asset, up to two targets (slot 0 nearest), the edge it leaves by toward each and the
    # next asset on that way; -1 where none. An asset holds `first_label >= 0` targets, plus one
    # more when `second_label >= 0`.
    labels, via_edge, via_next = np.full((3, 2, w * n), -1, np.int32)
    first_label, second_label = labels
    nodes = carried = np.flatnonzero(targets)  # the frontier, and the target each entry carries
    first_label[nodes] = nodes
    earliest = np.full(w * n, _UNSET)  # scratch: the first new entry per asset, reset after use
    for level in range(int(depths.max())):
        if level and limit is not None:  # copies whose depth is spent drop out
            alive = limit[nodes] > level
            nodes, carried = nodes[alive], carried[alive]
        # Every edge out of the frontier: the frontier entry it leaves, its position in `steps`
        # (array methods, not np.* functions: these arrays are often tiny, and calls dominate)
        starts = steps.indptr[nodes]
        lens = steps.indptr[nodes + 1] - starts
        entry = np.arange(len(nodes)).repeat(lens)
        if not len(entry):
            break
        at = np.arange(len(entry)) + (starts + lens - lens.cumsum())[entry]
        label, other = carried[entry], steps.to[at]
        keep = (second_label[other] < 0) & (first_label[other] != label)  # room, and new
        entry, at, label, other = entry[keep], at[keep], label[keep], other[keep]
        if not len(other):
            break
        # Each asset takes its first new target, and a second distinct one if it had none yet.
        index = np.arange(len(other))
        np.minimum.at(earliest, other, index)
        first_of = earliest[other]
        earliest[other] = _UNSET
        take = first_of == index
        slot = (first_label[other] >= 0).astype(np.int64)
        second = (label != label[first_of]) & (slot == 0)  # never a first: its label differs
        if np.count_nonzero(second):
            np.minimum.at(earliest, other[second], index[second])
            is_second = earliest[other] == index
            earliest[other] = _UNSET
            take |= is_second
            slot += is_second
        entry, at, label, other, slot = entry[take], at[take], label[take], other[take], slot[take]
        labels[slot, other] = label
        via_edge[slot, other] = steps.edge[at]
        via_next[slot, other] = nodes[entry]
        nodes, carried = other, label
    return labels, via_edge, via_next
