"""The threat engine: evaluates every threat's `when` set-at-a-time over the asset graph.

Each condition becomes a dict {asset id: evidence} computed once for all assets: attribute tests
scan one column, graph tests are one multi-source search, and all / any / not are set algebra.
Identical sub-conditions are computed once per evaluation. Cost ≈ rules × (assets + flows).
"""

from __future__ import annotations

import gc
import json
from dataclasses import dataclass
from operator import attrgetter

from ..graph import AssetGraph, Path, render_path, walk_to
from .conditions import (
    All,
    Any_,
    AttributeTest,
    Condition,
    Downstream,
    Neighbour,
    Not,
    Upstream,
)
from .library import Library, Threat

# Evidence for one asset: a tuple of facts, each either ("attr", text) or ("walk", text, assets).
Evidence = tuple


@dataclass(frozen=True)
class Match:
    """One threat applying to one asset, with why."""

    threat: Threat
    asset_id: str
    evidence: Evidence
    factors: tuple  # the Factor objects that held for this asset

    @property
    def id(self) -> str:
        return f"{self.threat.id}@{self.asset_id}"

    @property
    def related_assets(self) -> set[str]:
        """The finding's asset and every asset its evidence names."""
        out = {self.asset_id}
        for fact in self.evidence:
            if fact[0] == "walk":
                out.update(fact[2])
        return out

    @property
    def explanation(self) -> str:
        parts = [fact[1] for fact in self.evidence]
        return "; ".join(dict.fromkeys(parts)) or f"applies to every {self.threat.attaches_to[0]}"


class Evaluator:
    """Evaluates conditions over one graph, caching columns and sub-results."""

    def __init__(self, graph: AssetGraph):
        self.graph = graph
        self.assets = graph.model.asset_by_id
        self.universe = dict.fromkeys(self.assets, ())
        self._cache: dict[str, dict[str, Evidence]] = {}
        self._columns: dict[str, dict[str, object]] = {}
        self._flow_filters: dict[tuple, frozenset[int]] = {}
        self._by_type: dict[str, list[str]] = {}
        for a in graph.model.assets:
            self._by_type.setdefault(a.type, []).append(a.id)

    def of_types(self, types) -> list[str]:
        out: list[str] = []
        for t in types:
            out += self._by_type.get(t, [])
        return out

    def column(self, attribute: str) -> dict[str, object]:
        col = self._columns.get(attribute)
        if col is None:
            col = {aid: getattr(a, attribute) for aid, a in self.assets.items()}
            self._columns[attribute] = col
        return col

    def passing_flows(self, wanted: dict) -> frozenset[int]:
        """The id() of every flow whose attributes have the wanted values (one scan per filter)."""
        key = tuple(sorted(wanted.items()))
        keep = self._flow_filters.get(key)
        if keep is None:
            get = attrgetter(*(k for k, _ in key))
            want = tuple(v for _, v in key) if len(key) > 1 else key[0][1]
            keep = frozenset(id(e.flow) for e in self.graph.edges() if get(e.flow) == want)
            self._flow_filters[key] = keep
        return keep

    def evaluate(self, cond: Condition) -> dict[str, Evidence]:
        key = json.dumps(cond.model_dump(mode="json", by_alias=True, exclude_defaults=True), sort_keys=True)
        hit = self._cache.get(key)
        if hit is None:
            hit = self._cache[key] = self._evaluate(cond)
        return hit

    def _evaluate(self, cond: Condition) -> dict[str, Evidence]:
        if isinstance(cond, AttributeTest):
            return self._attribute(cond)
        if isinstance(cond, (Upstream, Downstream, Neighbour)):
            return self._walk(cond)
        if isinstance(cond, All):
            parts = [self.evaluate(c) for c in cond.all]
            parts.sort(key=len)
            result = dict(parts[0])
            for part in parts[1:]:
                result = {k: v + part[k] for k, v in result.items() if k in part}
            return result
        if isinstance(cond, Any_):
            result: dict[str, Evidence] = {}
            for c in cond.any:
                for k, v in self.evaluate(c).items():
                    result.setdefault(k, v)
            return result
        if isinstance(cond, Not):
            inner = self.evaluate(cond.not_)
            return {k: () for k in self.universe if k not in inner}
        raise TypeError(f"unknown condition {type(cond).__name__}")

    def _attribute(self, t: AttributeTest) -> dict[str, Evidence]:
        col = self.column(t.attribute)
        op, name = t.operator, t.attribute
        if op == "equals":
            want = t.equals
            return {k: (("attr", f"{k}: {name} is {want}"),) for k, v in col.items() if v == want}
        if op == "in":
            want = set(t.in_)
            return {k: (("attr", f"{k}: {name} is {v}"),) for k, v in col.items() if v in want}
        if op == "exists":
            if t.exists:
                return {k: (("attr", f"{k}: has {name}"),) for k, v in col.items() if _present(v)}
            return {k: (("attr", f"{k}: no {name} recorded"),) for k, v in col.items() if not _present(v)}
        if op == "contains":
            want = t.contains
            return {k: (("attr", f"{k}: {name} include {want}"),) for k, v in col.items() if want in v}
        other = self.column(t.beyond)
        out = {}
        for k, v in col.items():
            extra = sorted(set(v) - set(other[k]))
            if extra:
                out[k] = (("attr", f"{k}: {name} has {', '.join(extra)} beyond {t.beyond}"),)
        return out

    def _walk(self, cond) -> dict[str, Evidence]:
        direction = next(iter(type(cond).model_fields))
        walk = getattr(cond, direction)
        targets = self.evaluate(walk.where) if walk.where is not None else self.universe
        edge_filter = None
        wanted = walk.flow.model_dump(exclude_none=True) if walk.flow is not None else None
        if wanted:  # an empty filter lets every flow through
            keep = self.passing_flows(wanted)
            if not keep:
                return {}  # no flow passes the filter, so no walk can reach anything
            edge_filter = lambda e: id(e.flow) in keep  # noqa: E731
        reached = walk_to(
            self.graph, targets, direction=direction, kinds=walk.kinds, depth=walk.depth,
            edge_filter=edge_filter,
        )
        out = {}
        for asset, (target, path) in reached.items():
            out[asset] = (("walk", _describe(asset, path), _assets_on(path)), *targets[target])
        return out


def _present(value) -> bool:
    return value is not None and value != [] and value != ""


def _assets_on(path: Path) -> frozenset[str]:
    return frozenset([e.source for e in path] + [e.target for e in path])


def _describe(asset: str, path: Path) -> str:
    return render_path(asset, path)


def evaluate(graph: AssetGraph, library: Library) -> list[Match]:
    """Every threat of the library that applies to an asset of the graph, with evidence."""
    # The evaluation makes many small acyclic containers; with the cycle collector running, each
    # full collection meanwhile rescans the whole model (about a third of the time at 10k assets).
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        return _evaluate_all(graph, library)
    finally:
        if was_enabled:
            gc.enable()


def _evaluate_all(graph: AssetGraph, library: Library) -> list[Match]:
    ev = Evaluator(graph)
    ai_type = graph.model.system.ai_type
    matches: list[Match] = []
    for threat in sorted(library.threats.values(), key=lambda t: t.id):
        if ai_type not in threat.ai_types:
            continue
        candidates = ev.of_types(threat.attaches_to)
        if not candidates:
            continue
        hits = ev.evaluate(threat.when) if threat.when is not None else ev.universe
        factor_sets = [ev.evaluate(f.when) for f in threat.factors]
        for asset_id in candidates:
            evidence = hits.get(asset_id)
            if evidence is None:
                continue
            held = tuple(f for f, s in zip(threat.factors, factor_sets, strict=True) if asset_id in s)
            matches.append(Match(threat, asset_id, evidence, held))
    return matches
