"""The threat engine: evaluates every threat's `when` set-at-a-time over the asset graph.

Each condition becomes the set of asset IDs that satisfy it, computed once for all assets:
attribute tests scan one column, graph tests are one multi-source search, and all / any / not
are set algebra. Identical sub-conditions are computed once per evaluation. Why a condition
holds is worked out afterwards, only for the assets that become findings, from the sets and
walks already computed. Cost ≈ rules × (assets + flows).
"""

from __future__ import annotations

import gc
import json
from collections.abc import Iterable
from dataclasses import dataclass
from operator import attrgetter

from ..graph import AssetGraph, Path, Reach, reach, reach_any, render_path
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
    """Evaluates conditions over one graph, caching columns, sets and walks."""

    def __init__(self, graph: AssetGraph):
        self.graph = graph
        self.assets = graph.model.asset_by_id
        self.universe: frozenset[str] = frozenset(self.assets)
        self._sets: dict[str, frozenset[str]] = {}
        self._reaches: dict[str, Reach] = {}
        self._keys: dict[int, str] = {}
        self._columns: dict[str, dict[str, object]] = {}
        self._flow_filters: dict[tuple, frozenset[int]] = {}
        self._by_type: dict[str, list[str]] = {}
        for a in graph.model.assets:
            self._by_type.setdefault(a.type, []).append(a.id)

    def of_types(self, types: Iterable[str]) -> list[str]:
        """Asset IDs of the given types, in file order."""
        out: list[str] = []
        for t in types:
            out += self._by_type.get(t, [])
        return out

    def column(self, attribute: str) -> dict[str, object]:
        """{asset: value} of one attribute."""
        col = self._columns.get(attribute)
        if col is None:
            # pydantic keeps field values in the instance __dict__; reading it skips getattr
            col = self._columns[attribute] = {
                k: a.__dict__[attribute] for k, a in self.assets.items()
            }
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

    def _key(self, cond: Condition) -> str:
        key = self._keys.get(id(cond))
        if key is None:
            dumped = cond.model_dump(mode="json", by_alias=True, exclude_defaults=True)
            key = self._keys[id(cond)] = json.dumps(dumped, sort_keys=True)
        return key

    def evaluate(self, cond: Condition) -> frozenset[str]:
        """The assets that satisfy `cond`."""
        key = self._key(cond)
        hit = self._sets.get(key)
        if hit is None:
            hit = self._sets[key] = frozenset(self._evaluate(cond, key))
        return hit

    def _evaluate(self, cond: Condition, key: str):
        if isinstance(cond, AttributeTest):
            return self._attribute(cond)
        if isinstance(cond, (Upstream, Downstream, Neighbour)):
            return self._walk(cond, key).first.keys()
        if isinstance(cond, All):
            parts = sorted((self.evaluate(c) for c in cond.all), key=len)
            return parts[0].intersection(*parts[1:])
        if isinstance(cond, Any_):
            return frozenset().union(*(self.evaluate(c) for c in cond.any))
        if isinstance(cond, Not):
            return self.universe - self.evaluate(cond.not_)
        raise TypeError(f"unknown condition {type(cond).__name__}")

    def _attribute(self, t: AttributeTest) -> list[str]:
        col = self.column(t.attribute).items()
        op = t.operator
        if op == "equals":
            want = t.equals
            return [k for k, v in col if v == want]
        if op == "in":
            wanted = set(t.in_)
            return [k for k, v in col if v in wanted]
        if op == "exists":
            if t.exists:
                return [k for k, v in col if v is not None and v != [] and v != ""]
            return [k for k, v in col if v is None or v == [] or v == ""]
        if op == "contains":
            item = t.contains
            return [k for k, v in col if item in v]
        other = self.column(t.beyond)
        return [k for k, v in col if v and set(v) - set(other[k])]

    def _walk(self, cond, key: str) -> Reach:
        found = self._reaches.get(key)
        if found is not None:
            return found
        direction = next(iter(type(cond).model_fields))
        walk = getattr(cond, direction)
        targets = self.evaluate(walk.where) if walk.where is not None else self.universe
        wanted = walk.flow.model_dump(exclude_none=True) if walk.flow is not None else None
        flows = self.passing_flows(wanted) if wanted else None  # an empty filter passes all
        if not targets or flows is not None and not flows:
            found = Reach({}, {})
        elif walk.where is None:
            found = reach_any(self.graph, direction=direction, kinds=walk.kinds, flows=flows)
        else:
            found = reach(
                self.graph,
                targets,
                direction=direction,
                kinds=walk.kinds,
                depth=walk.depth,
                flows=flows,
            )
        self._reaches[key] = found
        return found

    def explain(self, cond: Condition, asset: str) -> Evidence:
        """Why `asset` satisfies `cond`: the facts and walks that make it hold."""
        if isinstance(cond, AttributeTest):
            return (("attr", _describe_attribute(cond, asset, self)),)
        if isinstance(cond, (Upstream, Downstream, Neighbour)):
            walk = getattr(cond, next(iter(type(cond).model_fields)))
            target, path = self._walk(cond, self._key(cond)).path(asset)
            fact = ("walk", render_path(asset, path), _assets_on(path))
            return (fact, *self.explain(walk.where, target)) if walk.where is not None else (fact,)
        if isinstance(cond, All):
            return tuple(f for c in cond.all for f in self.explain(c, asset))
        if isinstance(cond, Any_):
            branch = next(c for c in cond.any if asset in self.evaluate(c))
            return self.explain(branch, asset)
        return ()  # `not`: holds by absence


def _describe_attribute(t: AttributeTest, asset: str, ev: Evaluator) -> str:
    name, value = t.attribute, ev.column(t.attribute)[asset]
    op = t.operator
    if op in ("equals", "in"):
        return f"{asset}: {name} is {value}"
    if op == "exists":
        return f"{asset}: has {name}" if t.exists else f"{asset}: no {name} recorded"
    if op == "contains":
        return f"{asset}: {name} include {t.contains}"
    extra = sorted(set(value) - set(ev.column(t.beyond)[asset]))
    return f"{asset}: {name} has {', '.join(extra)} beyond {t.beyond}"


def _present(value) -> bool:
    return value is not None and value != [] and value != ""


def _assets_on(path: Path) -> frozenset[str]:
    return frozenset([e.source for e in path] + [e.target for e in path])


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
            if asset_id not in hits:
                continue
            evidence = ev.explain(threat.when, asset_id) if threat.when is not None else ()
            held = tuple(
                f for f, s in zip(threat.factors, factor_sets, strict=True) if asset_id in s
            )
            matches.append(Match(threat, asset_id, evidence, held))
    return matches
