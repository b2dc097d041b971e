"""The asset graph: the system's assets as nodes, its flows as edges, and analyses over it.

Edges point the way data and influence move, so "downstream" is what a compromise reaches and
"upstream" is what an asset depends on. A `depends_on` flow is stored reversed for that reason
(`api depends_on cluster` becomes the edge cluster → api); the edge's `flow` keeps the direction
the user wrote.

Analyses are plain functions of an AssetGraph that return plain data (sets, dicts, lists). Those
that judge assets return {asset: [reasons]} so every mark can be explained. Whole-graph analyses
work on integer adjacency lists and cost about assets + flows, so they run on 100,000 assets.
"""

from __future__ import annotations

import bisect
import functools
import gc
import math
import random
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cached_property
from operator import attrgetter
from typing import NamedTuple

import networkx as nx
import numpy as np

from .model import FLOW_KINDS, Flow, SystemModel


def gc_paused(fn):
    """Run `fn` with the cycle collector paused: it builds many small acyclic containers, and
    each full collection meanwhile would rescan the whole model (a third of the time at 100k)."""

    @functools.wraps(fn)
    def run(*args, **kwargs):
        was_enabled = gc.isenabled()
        gc.disable()
        try:
            return fn(*args, **kwargs)
        finally:
            if was_enabled:
                gc.enable()

    return run


class Edge(NamedTuple):
    """One flow as the graph sees it: influence goes from `source` to `target`."""

    source: str
    target: str
    kind: str
    flow: Flow

    @property
    def id(self) -> str:
        return self.flow.id


@dataclass
class AssetGraph:
    """The inventory graph of one system, with adjacency lists for fast walks.

    Edge number i is flow i of the system file (`edge_list[i]`). `out_edges[a]` and
    `in_edges[a]` list the edges leaving and entering asset `a`; `table` holds the edges as numpy
    columns for the threat engine. Each view is made on first use, so a caller pays only for the
    ones it needs (the networkx view `graph` included).
    """

    model: SystemModel

    @property
    def assets(self):
        return self.model.asset_by_id

    def edges(self) -> Iterable[Edge]:
        for edges in self.out_edges.values():
            yield from edges

    @cached_property
    @gc_paused
    def edge_list(self) -> list[Edge]:
        """One edge per flow, in file order (a depends_on flow reversed)."""
        make = tuple.__new__  # Edge(...) without the keyword-handling wrapper: one call each
        out = []
        for flow in self.model.flows:
            source, target, kind = flow.source, flow.target, flow.kind
            if kind == "depends_on":
                source, target = target, source
            out.append(make(Edge, (source, target, kind, flow)))
        return out

    @cached_property
    def out_edges(self) -> dict[str, list[Edge]]:
        return self._adjacency[0]

    @cached_property
    def in_edges(self) -> dict[str, list[Edge]]:
        return self._adjacency[1]

    @cached_property
    @gc_paused
    def _adjacency(self) -> tuple[dict[str, list[Edge]], dict[str, list[Edge]]]:
        out_edges: dict[str, list[Edge]] = {a: [] for a in self.numbers}
        in_edges: dict[str, list[Edge]] = {a: [] for a in self.numbers}
        for edge in self.edge_list:
            out_edges[edge.source].append(edge)
            in_edges[edge.target].append(edge)
        return out_edges, in_edges

    @cached_property
    def graph(self) -> nx.MultiDiGraph:
        """A networkx MultiDiGraph of the same nodes and edges (edge key = flow ID)."""
        g = nx.MultiDiGraph(name=self.model.system.name)
        g.add_nodes_from((a.id, {"type": a.type}) for a in self.model.assets)
        g.add_edges_from((e.source, e.target, e.flow.id, {"kind": e.kind}) for e in self.edges())
        return g

    @cached_property
    def numbers(self) -> dict[str, int]:
        """{asset ID: its number}, assets numbered 0..n-1 in model order."""
        return {a.id: i for i, a in enumerate(self.model.assets)}

    @cached_property
    def table(self) -> EdgeTable:
        """Every edge (edge i = flow i) with its ends and kind as numpy columns."""
        flows, pos, m = self.model.flows, self.numbers, len(self.model.flows)
        code = {k: i for i, k in enumerate(FLOW_KINDS)}
        kind = np.fromiter(map(code.__getitem__, map(attrgetter("kind"), flows)), np.int64, m)
        source = np.fromiter(map(pos.__getitem__, map(attrgetter("source"), flows)), np.int64, m)
        target = np.fromiter(map(pos.__getitem__, map(attrgetter("target"), flows)), np.int64, m)
        reverse = kind == code["depends_on"]  # influence runs from the dependency
        return EdgeTable(np.where(reverse, target, source), np.where(reverse, source, target), kind)

    def steps(self, direction: str) -> Steps:
        """The edges a walk `direction` follows, grouped by the node it steps from (cached)."""
        found = self._steps.get(direction)
        if found is None:
            found = self._steps[direction] = _steps(self.table, len(self.numbers), direction)
        return found

    @cached_property
    def _steps(self) -> dict[str, Steps]:
        return {}

    @cached_property
    @gc_paused
    def indexed(self) -> Indexed:
        """The graph as integer adjacency lists, for whole-graph analyses."""
        ids, pos = list(self.numbers), self.numbers
        succ = [[pos[e.target] for e in self.out_edges[a]] for a in ids]
        pred = [[pos[e.source] for e in self.in_edges[a]] for a in ids]
        return Indexed(ids, pos, succ, pred)


class Indexed(NamedTuple):
    """Assets numbered 0..n-1 in model order, with successor and predecessor lists."""

    ids: list[str]
    pos: dict[str, int]
    succ: list[list[int]]
    pred: list[list[int]]


def build(model: SystemModel) -> AssetGraph:
    """Build the AssetGraph of a system model.

    Parameters
    ----------
    model : a loaded SystemModel

    Returns
    -------
    AssetGraph whose edges point the way influence moves (depends_on reversed).

    Example
    -------
    >>> g = build(load_system("system.yaml"))  # doctest: +SKIP
    >>> sorted(blast_radius(g, "training-data"))  # doctest: +SKIP
    ['fraud-api', 'fraud-model', 'analysts']
    """
    return AssetGraph(model)


Path = tuple[Edge, ...]


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


def _steps(table: EdgeTable, n: int, direction: str) -> Steps:
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

    `steps` come from `AssetGraph.steps(direction)`: "downstream" follows flows forward to a
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


def reachable(graph: AssetGraph, start: str, *, direction: str, kinds=None) -> set[str]:
    """Every asset reached from `start` following flows `direction` ("downstream"/"upstream").

    Raises KeyError for an unknown asset.
    """
    if start not in graph.out_edges:
        raise KeyError(f"unknown asset '{start}'")
    if not kinds:
        return _reachable_all(graph.indexed, start, direction)
    adjacency = graph.out_edges if direction == "downstream" else graph.in_edges
    end = "target" if direction == "downstream" else "source"
    seen = {start}
    stack = [start]
    while stack:
        node = stack.pop()
        for edge in adjacency.get(node, ()):
            if edge.kind not in kinds:
                continue
            other = getattr(edge, end)
            if other not in seen:
                seen.add(other)
                stack.append(other)
    seen.discard(start)
    return seen


def _reachable_all(ix: Indexed, start: str, direction: str) -> set[str]:
    adjacency = ix.succ if direction == "downstream" else ix.pred
    first = ix.pos[start]
    seen = bytearray(len(ix.ids))
    seen[first] = 1
    stack = [first]
    found = []
    while stack:
        for w in adjacency[stack.pop()]:
            if not seen[w]:
                seen[w] = 1
                stack.append(w)
                found.append(w)
    ids = ix.ids
    return {ids[w] for w in found if w != first}


def blast_radius(graph: AssetGraph, asset_id: str) -> set[str]:
    """Everything downstream that a compromise of `asset_id` reaches.

    Parameters
    ----------
    graph : AssetGraph
    asset_id : the compromised asset

    Returns
    -------
    set of asset IDs, not including `asset_id` itself.

    Example
    -------
    A poisoned dataset reaches the model trained on it, the API serving that model and the
    people behind the API:

    >>> blast_radius(g, "claims-history")  # doctest: +SKIP
    {'fraud-model', 'fraud-api', 'adjusters'}
    """
    return reachable(graph, asset_id, direction="downstream")


def lineage(graph: AssetGraph, asset_id: str) -> set[str]:
    """Everything upstream that `asset_id` depends on (data, base models, components).

    Parameters
    ----------
    graph : AssetGraph
    asset_id : the asset whose lineage is wanted

    Returns
    -------
    set of asset IDs, not including `asset_id` itself.

    Example
    -------
    >>> lineage(g, "fraud-api")  # doctest: +SKIP
    {'fraud-model', 'claims-history', 'k8s-cluster'}
    """
    return reachable(graph, asset_id, direction="upstream")


def render_path(start: str, path: Path) -> str:
    """`a -trains-> b -serves-> c` for a path starting at `start`."""
    out, node = start, start
    for edge in path:
        if edge.source == node:
            out += f" -{edge.kind}-> {edge.target}"
            node = edge.target
        else:
            out += f" <-{edge.kind}- {edge.source}"
            node = edge.source
    return out


# --- Whole-graph analyses -------------------------------------------------------------------------

EXACT_REACH_LIMIT = 4096
SKETCH_SIZE = 64
CRITICAL_SHARE = 0.5
_DATA_TYPES = frozenset({"dataset", "vector_store", "log_store"})
_HASHED_TYPES = frozenset({"dataset", "model", "prompt", "vector_store"})
_UNVERSIONED_TYPES = frozenset({"user_group", "infrastructure", "log_store"})
_TRAINING_KINDS = frozenset({"trains", "fine_tunes"})


@gc_paused
def blast_radius_sizes(graph: AssetGraph) -> dict[str, int]:
    """How many assets a compromise of each asset reaches: ``len(blast_radius(g, a))`` for all a.

    Exact for systems of up to EXACT_REACH_LIMIT (4,096) assets. Larger systems get an estimate
    (bottom-64 sketches, about ±13%, still exact below 64), because exact counts for every asset
    cost time that grows with the square of the system's size.

    Parameters
    ----------
    graph : AssetGraph

    Returns
    -------
    dict {asset ID: number of assets downstream of it}.

    Example
    -------
    >>> sizes = blast_radius_sizes(g)  # doctest: +SKIP
    >>> sizes["claims-history"]  # doctest: +SKIP
    3
    """
    ix = graph.indexed
    n = len(ix.ids)
    comps = _strongly_connected(ix.succ)
    comp_of = [0] * n
    for c, members in enumerate(comps):
        for v in members:
            comp_of[v] = c
    rank = list(range(n))
    random.Random(0).shuffle(rank)  # noqa: S311 - a sketch, not a secret
    exact = n <= EXACT_REACH_LIMIT
    reach: list = []
    counts: list[int] = []
    # Tarjan's order puts every component after all those it reaches, so one pass suffices.
    for c, members in enumerate(comps):
        below = {comp_of[w] for v in members for w in ix.succ[v]}
        below.discard(c)
        if exact:
            bits = 0
            for v in members:
                bits |= 1 << v
            for d in below:
                bits |= reach[d]
            reach.append(bits)
            counts.append(bits.bit_count())
            continue
        pool = {rank[v] for v in members}
        for d in below:
            pool.update(reach[d])
        sketch = sorted(pool)[:SKETCH_SIZE]
        reach.append(sketch)
        if len(sketch) < SKETCH_SIZE:
            counts.append(len(sketch))
        else:
            counts.append(min(n, round((SKETCH_SIZE - 1) * (n + 1) / (sketch[-1] + 1))))
    return {ix.ids[v]: counts[comp_of[v]] - 1 for v in range(n)}


@gc_paused
def single_points_of_failure(graph: AssetGraph) -> dict[str, list[str]]:
    """Assets that are the only link between the rest of the system and assets they feed.

    Removing such an asset splits the system (it is a cut vertex of the undirected graph) and at
    least one part cut off from the largest part is fed by it: losing it starves that part, and
    compromising it controls everything that part receives. Cut-off parts that only feed the
    asset (an infrastructure node used by nothing else, say) do not count.

    Parameters
    ----------
    graph : AssetGraph

    Returns
    -------
    dict {asset ID: [reason]}, the reason naming how many assets it cuts off.

    Example
    -------
    >>> single_points_of_failure(g)  # doctest: +SKIP
    {'fraud-api': ['the only link between the rest of the system and 1 asset (adjusters)']}
    """
    ix = graph.indexed
    n = len(ix.ids)
    neighbours = [list(set(s).union(p)) for s, p in zip(ix.succ, ix.pred, strict=True)]
    disc, low, size, parent = [-1] * n, [0] * n, [1] * n, [-1] * n
    whole = [0] * n
    order: list[int] = []
    separated: dict[int, list[int]] = {}
    for root in range(n):
        if disc[root] != -1:
            continue
        first = len(order)
        disc[root] = low[root] = len(order)
        order.append(root)
        stack = [(root, iter(neighbours[root]))]
        while stack:
            v, todo = stack[-1]
            for w in todo:
                if disc[w] == -1:
                    parent[w] = v
                    disc[w] = low[w] = len(order)
                    order.append(w)
                    stack.append((w, iter(neighbours[w])))
                    break
                if w != parent[v] and disc[w] < low[v]:
                    low[v] = disc[w]
            else:
                stack.pop()
                if stack:
                    p = stack[-1][0]
                    size[p] += size[v]
                    low[p] = min(low[p], low[v])
                    if low[v] >= disc[p]:
                        separated.setdefault(p, []).append(v)
        for v in order[first:]:
            whole[v] = len(order) - first
    out: dict[str, list[str]] = {}
    for p, children in separated.items():
        if parent[p] == -1 and len(children) < 2:
            continue
        pieces = sorted((disc[v], size[v]) for v in children)  # disjoint runs of `order`
        starts = [start for start, _ in pieces]
        if parent[p] != -1:
            pieces.append((-1, whole[p] - 1 - sum(size[v] for v in children)))
        # The largest part is "the rest of the system"; on a tie, the part holding p's parent.
        rest = max(range(len(pieces)), key=lambda i: (pieces[i][1], pieces[i][0] == -1))

        def piece_of(w: int, pieces=pieces, starts=starts) -> int:
            i = bisect.bisect_right(starts, disc[w]) - 1
            if i >= 0 and disc[w] < starts[i] + pieces[i][1]:
                return i
            return len(pieces) - 1  # the part holding p's parent (a root has none to fall to)

        cut = set(range(len(pieces))) - {rest}
        fed = {piece_of(w) for w in ix.succ[p]} & cut
        if not fed:
            continue
        fed_ids = sorted({ix.ids[w] for w in ix.succ[p] if piece_of(w) in fed})
        count = sum(pieces[i][1] for i in fed)
        more = ", …" if count > len(fed_ids[:3]) else ""
        out[ix.ids[p]] = [
            f"the only link between the rest of the system and {_n(count, 'asset')} "
            f"({', '.join(fed_ids[:3])}{more})"
        ]
    return dict(sorted(out.items()))


@gc_paused
def critical_assets(
    graph: AssetGraph,
    *,
    share: float = CRITICAL_SHARE,
    spof: dict[str, list[str]] | None = None,
) -> dict[str, list[str]]:
    """Assets whose loss or compromise matters most, with every reason that makes them so.

    An asset is critical when its owner declared it so (`criticality: high`), when it is a single
    point of failure, or when its blast radius is among the widest: in the top tenth of the
    system's blast radii and reaching at least `share` of the other assets. (Feedback loops make
    most blast radii in a real system large, so size alone would mark nearly everything.)

    Parameters
    ----------
    graph : AssetGraph
    share : the least fraction of the other assets a wide blast radius reaches
    spof : the result of single_points_of_failure(graph), if already known

    Returns
    -------
    dict {asset ID: [reasons]}, sorted by asset ID.

    Example
    -------
    >>> critical_assets(g)["claims-history"]  # doctest: +SKIP
    ['a compromise reaches 3 of the other 4 assets (75%), among the widest here']
    """
    sizes = blast_radius_sizes(graph)
    spof = single_points_of_failure(graph) if spof is None else spof
    others = len(graph.model.assets) - 1
    ranked = sorted(sizes.values(), reverse=True)
    threshold = max(2, math.ceil(share * others), ranked[math.ceil(len(ranked) / 10) - 1])
    about = "" if others < EXACT_REACH_LIMIT else "about "
    wide: dict[int, str] = {}  # one text per size: a big component's members share theirs
    out: dict[str, list[str]] = {}
    for asset in graph.model.assets:
        reasons = []
        if asset.criticality == "high":
            reasons.append("declared criticality: high")
        if asset.id in spof:
            reasons.append(f"single point of failure: {spof[asset.id][0]}")
        size = sizes[asset.id]
        if size >= threshold:
            if size not in wide:
                wide[size] = (
                    f"a compromise reaches {about}{size:,} of the other {others:,} "
                    f"assets ({size / others:.0%}), among the widest here"
                )
            reasons.append(wide[size])
        if reasons:
            out[asset.id] = reasons
    return dict(sorted(out.items()))


@gc_paused
def boundary_crossings(graph: AssetGraph) -> list[dict]:
    """Every flow that crosses a trust boundary, as the user declared it.

    Returns
    -------
    list of {"flow", "from", "to", "kind", "authenticated", "encrypted"} in file order; `from` and
    `to` read as written in the system file.

    Example
    -------
    >>> [c["flow"] for c in boundary_crossings(g)]  # doctest: +SKIP
    ['brokers-invokes->score-api']
    """
    return [
        {
            "flow": f.id,
            "from": f.source,
            "to": f.target,
            "kind": f.kind,
            "authenticated": f.authenticated,
            "encrypted": f.encrypted,
        }
        for f in graph.model.flows
        if f.crosses_boundary
    ]


@gc_paused
def entry_points(graph: AssetGraph) -> dict[str, list[str]]:
    """Assets that people or systems outside the organisation can reach directly, and how.

    An asset is an entry point when it is exposed to partners or the public, when a partner or
    public user group sends it anything, or when a flow crossing a trust boundary delivers into
    it (except flows that carry data out to an outside provider, and flows to people).

    Returns
    -------
    dict {asset ID: [reasons]}, sorted by asset ID.

    Example
    -------
    >>> entry_points(g)  # doctest: +SKIP
    {'score-api': ['exposed to partners', "calls from 'brokers' (partner users)"]}
    """
    assets = graph.assets
    out: dict[str, list[str]] = {}
    for asset in graph.model.assets:
        if asset.type != "user_group" and asset.exposure != "internal":
            out.setdefault(asset.id, []).append(f"exposed to {_AUDIENCE[asset.exposure]}")
    for flow in graph.model.flows:
        if flow.kind == "depends_on":
            continue
        source, target = assets[flow.source], assets[flow.target]
        if target.type == "user_group":
            continue
        if source.type == "user_group" and source.exposure != "internal":
            out.setdefault(target.id, []).append(
                f"{_CARRIES[flow.kind]} from '{source.id}' ({source.exposure} users)"
            )
        elif flow.crosses_boundary and not (_outside(target) and not _outside(source)):
            out.setdefault(target.id, []).append(
                f"{_CARRIES[flow.kind]} from '{source.id}' across a trust boundary"
            )
    return dict(sorted(out.items()))


@gc_paused
def inventory_gaps(graph: AssetGraph, hashes: dict[str, str] | None = None) -> dict[str, list[str]]:
    """What the inventory lacks for each asset (5.2.1-1, 5.2.1-2, 5.2.4-1.2, 5.2.4-2.1).

    Gaps, by name:

    - ``owner``: no owner (every asset but user groups);
    - ``version``: no version (active assets but user groups, infrastructure and log stores);
    - ``sha256``: no hash for an active dataset, model, prompt or vector store, in the file or
      in `hashes` (hashes recorded by ``saikit hash``); models hosted by a third party (no
      artifact, no format) are exempt, since there is no file to hash;
    - ``provenance``, ``provenance.retrieved``: public data or models with no recorded origin,
      or no retrieval date;
    - ``flows``: no flows at all, so its interdependencies are unrecorded.

    Parameters
    ----------
    graph : AssetGraph
    hashes : {asset ID: sha256} recorded outside the system file, if any

    Returns
    -------
    dict {asset ID: [gap names]}, only assets with gaps, sorted by asset ID.

    Example
    -------
    >>> inventory_gaps(g)  # doctest: +SKIP
    {'web-scrape': ['provenance', 'sha256']}
    """
    hashes = hashes or {}
    out: dict[str, list[str]] = {}
    for a in graph.model.assets:
        gaps = []
        active = a.status == "active"
        if a.owner is None and a.type != "user_group":
            gaps.append("owner")
        if a.version is None and active and a.type not in _UNVERSIONED_TYPES:
            gaps.append("version")
        hosted = a.type == "model" and a.source == "third_party" and not (a.artifact or a.format)
        if (
            active
            and a.type in _HASHED_TYPES
            and not hosted
            and a.sha256 is None
            and a.id not in hashes
        ):
            gaps.append("sha256")
        if a.source == "public" and a.type in _DATA_TYPES | {"model", "prompt"}:
            if a.provenance is None:
                gaps.append("provenance")
            elif a.provenance.retrieved is None:
                gaps.append("provenance.retrieved")
        if not graph.out_edges[a.id] and not graph.in_edges[a.id]:
            gaps.append("flows")
        if gaps:
            out[a.id] = gaps
    return dict(sorted(out.items()))


@gc_paused
def permission_excess(graph: AssetGraph) -> dict[str, list[str]]:
    """Permissions granted to an asset that none of its flows uses (5.1.2-6).

    An asset's flows use the permissions listed on the flows that start or end at it; a grant
    none of them names is more than the asset needs. A wildcard grant (``crm.*``) is excess
    unless a flow names the same wildcard. Applies to every asset with grants: tools and agents
    above all, but also applications and APIs that reach into other systems.

    Returns
    -------
    dict {asset ID: [excess permissions]}, only assets with excess, sorted by asset ID.

    Example
    -------
    >>> permission_excess(g)  # doctest: +SKIP
    {'crm-tool': ['crm.delete']}
    """
    out: dict[str, list[str]] = {}
    for a in graph.model.assets:
        if not a.permissions:
            continue
        used = {p for e in graph.out_edges[a.id] for p in e.flow.permissions}
        used.update(p for e in graph.in_edges[a.id] for p in e.flow.permissions)
        excess = sorted(set(a.permissions) - used)
        if excess:
            out[a.id] = excess
    return dict(sorted(out.items()))


@gc_paused
def environment_mixing(graph: AssetGraph) -> dict[str, list[str]]:
    """Non-public training or fine-tuning data found outside development (5.2.2-3).

    Training data is any dataset, vector store or log store that `trains` or `fine_tunes` a model
    and whose sensitivity is not public. It is flagged when it is held in staging or production,
    when an asset in production reads it (other than by training), or when it depends on
    production infrastructure.

    Returns
    -------
    dict {asset ID: [reasons]}, sorted by asset ID.

    Example
    -------
    >>> environment_mixing(g)  # doctest: +SKIP
    {'chat-logs': ['training data for chat-model held in production']}
    """
    assets = graph.assets
    out: dict[str, list[str]] = {}
    for a in graph.model.assets:
        if a.type not in _DATA_TYPES or a.sensitivity == "public":
            continue
        trained = sorted({e.target for e in graph.out_edges[a.id] if e.kind in _TRAINING_KINDS})
        if not trained:
            continue
        reasons = []
        if a.environment != "development":
            reasons.append(f"training data for {', '.join(trained)} held in {a.environment}")
        for e in graph.out_edges[a.id]:
            reader = assets[e.target]
            if e.kind not in _TRAINING_KINDS and reader.environment == "production":
                reasons.append(f"read by production asset '{reader.id}' ({e.kind})")
        for e in graph.in_edges[a.id]:
            host = assets[e.source]
            if e.kind == "depends_on" and host.environment == "production":
                reasons.append(f"depends on production {host.type} '{host.id}'")
        if reasons:
            out[a.id] = reasons
    return dict(sorted(out.items()))


@gc_paused
def analyses(graph: AssetGraph, hashes: dict[str, str] | None = None) -> dict[str, object]:
    """Every whole-graph analysis at once, by name (what ``saikit graph`` prints).

    Returns
    -------
    dict with keys single_points_of_failure, critical_assets, boundary_crossings, entry_points,
    inventory_gaps, permission_excess and environment_mixing, each the matching function's result.
    """
    spof = single_points_of_failure(graph)
    return {
        "single_points_of_failure": spof,
        "critical_assets": critical_assets(graph, spof=spof),
        "boundary_crossings": boundary_crossings(graph),
        "entry_points": entry_points(graph),
        "inventory_gaps": inventory_gaps(graph, hashes),
        "permission_excess": permission_excess(graph),
        "environment_mixing": environment_mixing(graph),
    }


_AUDIENCE = {"partner": "partners", "public": "the public"}
_CARRIES = {
    "trains": "training data",
    "fine_tunes": "fine-tuning data",
    "indexes": "indexed content",
    "retrieves": "retrieved data",
    "prompts": "prompts",
    "serves": "output",
    "invokes": "calls",
    "writes": "writes",
    "logs_to": "logs",
    "depends_on": "dependency",
}


def _outside(asset) -> bool:
    """Whether an asset sits outside the organisation (outside users, third-party providers)."""
    if asset.type == "user_group":
        return asset.exposure != "internal"
    return asset.source == "third_party"


def _n(count: int, noun: str) -> str:
    return f"{count:,} {noun}{'' if count == 1 else 's'}"


def _strongly_connected(succ: list[list[int]]) -> list[list[int]]:
    """Tarjan's strongly connected components, each after every component it reaches."""
    n = len(succ)
    index, low, on_stack = [-1] * n, [0] * n, [False] * n
    stack: list[int] = []
    comps: list[list[int]] = []
    counter = 0
    for start in range(n):
        if index[start] != -1:
            continue
        work = [(start, 0)]
        while work:
            v, i = work.pop()
            if i == 0:
                index[v] = low[v] = counter
                counter += 1
                stack.append(v)
                on_stack[v] = True
            nbrs = succ[v]
            descended = False
            while i < len(nbrs):
                w = nbrs[i]
                i += 1
                if index[w] == -1:
                    work.append((v, i))
                    work.append((w, 0))
                    descended = True
                    break
                if on_stack[w] and index[w] < low[v]:
                    low[v] = index[w]
            if descended:
                continue
            if low[v] == index[v]:
                comp = []
                while True:
                    w = stack.pop()
                    on_stack[w] = False
                    comp.append(w)
                    if w == v:
                        break
                comps.append(comp)
            if work:
                u = work[-1][0]
                low[u] = min(low[u], low[v])
    return comps
