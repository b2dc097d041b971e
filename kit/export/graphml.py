"""The asset inventory as GraphML, for yEd, Gephi, Neo4j, networkx and other graph tools.

Nodes are assets and edges are flows, pointing the way influence moves as in kit.graph (a
`depends_on` flow runs from the dependency to the dependant); each edge's key is the flow ID and
its `from` / `to` attributes keep the flow as the system file writes it.

GraphML holds only strings, numbers and booleans, so values are encoded:

- every field of an asset (flow) becomes a node (edge) attribute, and every field of the system a
  graph attribute prefixed ``system.`` (``system.id``, ``system.name``);
- an unset field (None) is left out, always;
- a list is a JSON string, always, even when empty (``'["text", "code"]'``, ``'[]'``);
- a nested mapping flattens to dotted keys (``provenance.url``, ``due_diligence.date``);
- a date is an ISO-8601 string.

The graph attribute ``saikit_json_keys`` (itself JSON) lists the attributes that hold JSON, so
`decode` (and any other reader) can turn them back into lists without guessing.
"""

from __future__ import annotations

import io
import json
import os
from pathlib import Path

import networkx as nx

from kit.files import write_atomic
from kit.graph import AssetGraph

JSON_KEYS = "saikit_json_keys"
_READER_ADDED = ("node_default", "edge_default")


def to_networkx(graph: AssetGraph) -> nx.MultiDiGraph:
    """The inventory as a networkx MultiDiGraph with every field as a plain attribute.

    Parameters
    ----------
    graph : AssetGraph

    Returns
    -------
    MultiDiGraph; attribute values are str, int, bool or lists of str (not yet encoded).

    Example
    -------
    >>> g = to_networkx(build(model))  # doctest: +SKIP
    >>> g.nodes["fraud-model"]["type"]  # doctest: +SKIP
    'model'
    """
    model = graph.model
    # Prefixed, because GraphML readers treat a graph attribute called "id" as the graph's own ID.
    g = nx.MultiDiGraph(**_flat(model.system.model_dump(mode="json", exclude_none=True), "system."))
    for asset in model.assets:
        data = _flat(asset.model_dump(mode="json", exclude_none=True))
        del data["id"]
        g.add_node(asset.id, **data)
    for edge in graph.edges():
        data = _flat(edge.flow.model_dump(mode="json", by_alias=True, exclude_none=True))
        g.add_edge(edge.source, edge.target, key=edge.id, **data)
    return g


def encode(g: nx.MultiDiGraph) -> nx.MultiDiGraph:
    """A copy of `g` that GraphML can hold: lists as JSON strings, their keys listed."""
    out = g.copy()
    keys: set[str] = set()
    for data in [
        out.graph,
        *(d for _, d in out.nodes(data=True)),
        *(d for *_, d in out.edges(keys=True, data=True)),
    ]:
        for k, v in data.items():
            if isinstance(v, list):
                data[k] = json.dumps(v)
                keys.add(k)
    out.graph[JSON_KEYS] = json.dumps(sorted(keys))
    return out


def decode(g: nx.MultiDiGraph) -> nx.MultiDiGraph:
    """Undo `encode` (and drop what networkx's reader adds), giving `to_networkx`'s graph."""
    out = g.copy()
    keys = set(json.loads(out.graph.pop(JSON_KEYS, "[]")))
    for name in _READER_ADDED:
        out.graph.pop(name, None)
    for data in [
        out.graph,
        *(d for _, d in out.nodes(data=True)),
        *(d for *_, d in out.edges(keys=True, data=True)),
    ]:
        for k in keys & data.keys():
            data[k] = json.loads(data[k])
    return out


def write_graphml(graph: AssetGraph, path: str | os.PathLike) -> Path:
    """Write the inventory as a GraphML file (whole, never through a link at `path`, into a
    folder that exists: kit.files.write_atomic); return its path."""
    buf = io.BytesIO()
    nx.write_graphml(encode(to_networkx(graph)), buf, named_key_ids=False)
    return write_atomic(path, buf.getvalue(), make_folder=False)


def read_graphml(path: str | os.PathLike) -> nx.MultiDiGraph:
    """Read a file written by `write_graphml` back into `to_networkx`'s graph."""
    return decode(nx.read_graphml(path, force_multigraph=True))


def _flat(data: dict, prefix: str = "") -> dict:
    out: dict = {}
    for k, v in data.items():
        if isinstance(v, dict):
            out.update(_flat(v, f"{prefix}{k}."))
        elif v is not None:
            out[f"{prefix}{k}"] = v
    return out
