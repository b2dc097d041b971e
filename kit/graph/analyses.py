"""Security analyses of the asset graph: reach, blast radius, lineage, single points of failure,
critical assets, trust-boundary crossings, entry points, inventory gaps, permission excess and
environment mixing.

Each is a plain function of an AssetGraph that returns plain data (sets, dicts, lists). Those
that judge assets return {asset: [reasons]} so every mark can be explained. Whole-graph analyses
work on integer adjacency lists and cost about assets + flows, so they run on 100,000 assets.
"""

from __future__ import annotations

import bisect
import math
import random

from kit.graph import AssetGraph, Indexed, gc_paused


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
def inventory_gaps(graph: AssetGraph) -> dict[str, list[str]]:
    """What the inventory lacks for each asset (5.2.1-1, 5.2.1-2, 5.2.4-1.2, 5.2.4-2.1).

    Gaps, by name:

    - ``owner``: no owner (every asset but user groups);
    - ``version``: no version (active assets but user groups, infrastructure and log stores);
    - ``sha256``: no hash for an active dataset, model, prompt or vector store, in the file or
      recorded by ``saikit hash`` (the loader merges those in); models hosted by a third party (no
      artifact, no format) are exempt, since there is no file to hash;
    - ``provenance``, ``provenance.retrieved``: public data or models with no recorded origin,
      or no retrieval date;
    - ``flows``: no flows at all, so its interdependencies are unrecorded.

    Parameters
    ----------
    graph : AssetGraph

    Returns
    -------
    dict {asset ID: [gap names]}, only assets with gaps, sorted by asset ID.

    Example
    -------
    >>> inventory_gaps(g)  # doctest: +SKIP
    {'web-scrape': ['provenance', 'sha256']}
    """
    out: dict[str, list[str]] = {}
    for a in graph.model.assets:
        gaps = []
        active = a.status == "active"
        if a.owner is None and a.type != "user_group":
            gaps.append("owner")
        if a.version is None and active and a.type not in _UNVERSIONED_TYPES:
            gaps.append("version")
        hosted = a.type == "model" and a.source == "third_party" and not (a.artifact or a.format)
        if active and a.type in _HASHED_TYPES and not hosted and a.sha256 is None:
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
    none of them names is more than the asset needs. A wildcard grant (``crm.*``) is always
    excess: least privilege names what is needed, and a flow that also says ``*`` only repeats
    the grant. Applies to every asset with grants: tools and agents above all, but also
    applications and APIs that reach into other systems.

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
        excess = sorted(p for p in set(a.permissions) if p not in used or "*" in p)
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
def analyses(graph: AssetGraph) -> dict[str, object]:
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
        "inventory_gaps": inventory_gaps(graph),
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
