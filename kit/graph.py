"""The asset graph: the system's assets as nodes, its flows as edges, and analyses over it.

Edges point the way data and influence move, so "downstream" is what a compromise reaches and
"upstream" is what an asset depends on. A `depends_on` flow is stored reversed for that reason
(`api depends_on cluster` becomes the edge cluster → api); its `declared` attribute keeps the
direction the user wrote.

Analyses are plain functions of an AssetGraph that return plain data (sets, dicts, lists).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field

import networkx as nx

from .model import Flow, SystemModel


@dataclass(frozen=True)
class Edge:
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
    """The inventory graph of one system, with adjacency lists for fast walks."""

    model: SystemModel
    graph: nx.MultiDiGraph
    out_edges: dict[str, list[Edge]] = field(default_factory=dict)
    in_edges: dict[str, list[Edge]] = field(default_factory=dict)

    @property
    def assets(self):
        return self.model.asset_by_id

    def edges(self) -> Iterable[Edge]:
        for edges in self.out_edges.values():
            yield from edges


def build(model: SystemModel) -> AssetGraph:
    """Build the AssetGraph of a system model.

    Example: ``g = build(load_system("system.yaml")); blast_radius(g, "training-data")``
    """
    g = nx.MultiDiGraph(name=model.system.name)
    out_edges: dict[str, list[Edge]] = {a.id: [] for a in model.assets}
    in_edges: dict[str, list[Edge]] = {a.id: [] for a in model.assets}
    for asset in model.assets:
        g.add_node(asset.id, type=asset.type)
    for flow in model.flows:
        if flow.kind == "depends_on":
            edge = Edge(flow.target, flow.source, flow.kind, flow)
        else:
            edge = Edge(flow.source, flow.target, flow.kind, flow)
        out_edges[edge.source].append(edge)
        in_edges[edge.target].append(edge)
        g.add_edge(edge.source, edge.target, key=flow.id, kind=flow.kind)
    return AssetGraph(model, g, out_edges, in_edges)


Path = tuple[Edge, ...]


def walk_to(
    graph: AssetGraph,
    targets: Iterable[str],
    *,
    direction: str,
    kinds: Iterable[str] | None = None,
    depth: int = 1,
    edge_filter=None,
) -> dict[str, tuple[str, Path]]:
    """Every asset from which some target is reached within `depth` steps, with a witness.

    `direction` is "downstream" (follow flows forward to a target), "upstream" (follow them
    backward) or "neighbour" (either way). One multi-source search from all targets at once,
    so the cost is about assets + flows whatever the number of targets. Returns
    {asset: (target reached, path of edges from the asset to it)}; targets themselves are not
    included unless reachable from another target.
    """
    kinds = set(kinds) if kinds else None

    def ok(edge: Edge) -> bool:
        return (kinds is None or edge.kind in kinds) and (edge_filter is None or edge_filter(edge))

    # Searching from the targets, we walk each edge the opposite way to the test's direction.
    steps = []
    if direction in ("downstream", "neighbour"):
        steps.append((graph.in_edges, "source"))
    if direction in ("upstream", "neighbour"):
        steps.append((graph.out_edges, "target"))
    found: dict[str, tuple[str, Path]] = {}
    frontier = deque((t, t, ()) for t in targets)
    seen_at = {t: 0 for t, _, _ in frontier}
    level = 0
    while frontier and level < depth:
        level += 1
        next_frontier: deque = deque()
        for node, target, path in frontier:
            for adjacency, end in steps:
                for edge in adjacency.get(node, ()):
                    if not ok(edge):
                        continue
                    other = getattr(edge, end)
                    if other == node:
                        continue
                    new_path = (edge, *path)
                    if other not in found and other != target:
                        found[other] = (target, new_path)
                    if other not in seen_at:
                        seen_at[other] = level
                        next_frontier.append((other, target, new_path))
        frontier = next_frontier
    return found


def reachable(graph: AssetGraph, start: str, *, direction: str, kinds=None) -> set[str]:
    """Every asset reached from `start` following flows `direction` ("downstream"/"upstream")."""
    adjacency = graph.out_edges if direction == "downstream" else graph.in_edges
    end = "target" if direction == "downstream" else "source"
    seen = {start}
    stack = [start]
    while stack:
        node = stack.pop()
        for edge in adjacency.get(node, ()):
            if kinds and edge.kind not in kinds:
                continue
            other = getattr(edge, end)
            if other not in seen:
                seen.add(other)
                stack.append(other)
    seen.discard(start)
    return seen


def blast_radius(graph: AssetGraph, asset_id: str) -> set[str]:
    """Everything downstream that a compromise of `asset_id` reaches."""
    return reachable(graph, asset_id, direction="downstream")


def lineage(graph: AssetGraph, asset_id: str) -> set[str]:
    """Everything upstream that `asset_id` depends on (data, base models, components)."""
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
