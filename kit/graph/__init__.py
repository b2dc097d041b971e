"""The asset graph: the system's assets as nodes and its flows as edges.

Edges point the way data and influence move, so "downstream" is what a compromise reaches and
"upstream" is what an asset depends on. A `depends_on` flow is stored reversed for that reason
(`api depends_on cluster` becomes the edge cluster → api); the edge's `flow` keeps the direction
the user wrote.

The security analyses over it live in `kit.graph.analyses`; the threat engine's batched
search over its edges in `kit.threats.search`.
"""

from __future__ import annotations

import functools
import gc
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cached_property
from typing import NamedTuple

import networkx as nx

from kit.model.schema import Flow, SystemModel


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
    `in_edges[a]` list the edges leaving and entering asset `a`. Each view is made on first use, so a caller pays only for the
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
