"""The threat engine: evaluates every threat's `when` set-at-a-time over the asset graph.

Each condition becomes a boolean mask over the assets (numbered in model order), computed once
for all of them: attribute tests run once per distinct value of a column, graph tests are
multi-source searches over the edge table (kit.graph.reach_all, all those of one nesting level
in one batch), and all / any / not are mask algebra. Identical sub-conditions are computed once
per evaluation. Why a condition holds is worked out only when someone asks
(a finding's explanation, or the assets its controls may sit on), from the masks and walks
already computed. Cost ≈ rules × (assets + flows), mostly inside numpy.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from functools import cached_property
from operator import attrgetter, itemgetter
from typing import NamedTuple

import numpy as np

from kit.errors import fail
from kit.graph import AssetGraph, gc_paused, render_path
from kit.model.schema import FLOW_KINDS
from kit.threats.conditions import (
    BOOL_FLOW_ATTRIBUTES,
    GRAPH_TESTS,
    LIST_ATTRIBUTES,
    All,
    Any_,
    AttributeTest,
    Condition,
    Downstream,
    Neighbour,
    Not,
    Upstream,
    Walk,
    inner,
)
from kit.threats.library import Library, Threat
from kit.threats.search import Reach, Search, Steps, edge_table, reach_all
from kit.threats.search import steps as walk_steps
from kit.vocab import finding_id

# Evidence for one asset: a tuple of facts, each ("attr", text) or ("walk", start, edges).
Evidence = tuple


class Match(NamedTuple):
    """One threat applying to one asset. Why (`evidence`) is worked out on first use."""

    id: str  # the finding's stable ID, <threat-id>@<asset-id>
    threat: Threat
    asset_id: str
    factors: tuple  # the Factor objects that held for this asset
    evaluator: Evaluator
    number: int  # the asset's number in the evaluator

    @property
    def evidence(self) -> Evidence:
        return self.evaluator.evidence(self.threat, self.number)

    @property
    def related_assets(self) -> set[str]:
        """The finding's asset and every asset its evidence names."""
        out = {self.asset_id}
        for fact in self.evidence:
            if fact[0] == "walk":
                for e in fact[2]:
                    out.add(e.source)
                    out.add(e.target)
        return out

    @property
    def explanation(self) -> str:
        parts = [
            fact[1] if fact[0] == "attr" else render_path(fact[1], fact[2])
            for fact in self.evidence
        ]
        return "; ".join(dict.fromkeys(parts)) or f"applies to every {self.threat.attaches_to[0]}"

    def __repr__(self) -> str:
        return f"Match({self.id})"


class Evaluator:
    """Evaluates conditions over one graph, caching columns, masks and walks."""

    def __init__(self, graph: AssetGraph, keys: dict[int, str] | None = None):
        self.graph = graph
        self.ids: list[str] = list(graph.numbers)
        self.n = len(self.ids)
        self._fields = [a.__dict__ for a in graph.model.assets]  # pydantic keeps values here
        self._masks: dict[str, np.ndarray] = {}
        self._reaches: dict[str, Reach] = {}
        self._keys = {} if keys is None else keys  # id(condition) → its canonical text
        self._columns: dict[str, list] = {}
        self._codes_of: dict[str, tuple[np.ndarray, list]] = {}
        self._steps: dict[tuple, Steps] = {}
        self._flow_columns: dict[str, np.ndarray | tuple[np.ndarray, list]] = {}
        self._explained: dict[tuple[int, int], Evidence] = {}  # (id(condition), asset) → why

    def of_types(self, types: Iterable[str]) -> np.ndarray:
        """The mask of assets of the given types."""
        wanted = frozenset(types)
        key = f"types {sorted(wanted)}"
        mask = self._masks.get(key)
        if mask is None:
            mask = self._masks[key] = self._mask_where("type", wanted.__contains__)
        return mask

    def column(self, attribute: str) -> list:
        """One attribute's values, in asset-number order."""
        col = self._columns.get(attribute)
        if col is None:
            col = self._columns[attribute] = list(map(itemgetter(attribute), self._fields))
        return col

    def load_columns(self, attributes: Iterable[str]) -> None:
        """Read several attributes' columns in one pass over the assets (much cheaper than a
        pass each, when a library tests a few dozen attributes)."""
        names = [a for a in dict.fromkeys(attributes) if a not in self._columns]
        if len(names) < 2 or not self.n:
            return
        rows = map(itemgetter(*names), self._fields)
        for name, col in zip(names, zip(*rows, strict=True), strict=True):
            self._columns[name] = col  # a tuple: read, never changed

    def _codes(self, attribute: str) -> tuple[np.ndarray, list]:
        """The column as (code per asset, distinct values): a test then runs once per value."""
        found = self._codes_of.get(attribute)
        if found is None:
            keys = col = self.column(attribute)
            try:  # C speed when every value is hashable, or a list of hashables
                if attribute in LIST_ATTRIBUTES:
                    keys = list(map(tuple, col))
                number = dict.fromkeys(keys)
            except TypeError:  # lists (by content) and other unhashable values (by identity)
                keys = [_hashable(v) for v in col]
                number = dict.fromkeys(keys)
            if keys is col:
                values = list(number)
            else:
                original = dict(zip(keys, col, strict=True))
                values = [original[k] for k in number]
            if len(values) == 1:  # common: an attribute nobody filled in
                codes = np.zeros(self.n, np.int64)
            else:
                number = {k: i for i, k in enumerate(number)}
                codes = np.fromiter(map(number.__getitem__, keys), np.int64, self.n)
            found = self._codes_of[attribute] = (codes, values)
        return found

    def _mask_where(self, attribute: str, test) -> np.ndarray:
        """The mask of assets whose `attribute` passes `test`."""
        codes, values = self._codes(attribute)
        return np.fromiter(map(test, values), bool, len(values))[codes]

    def steps(self, direction: str, kinds: list[str] | None, wanted: dict) -> Steps:
        """The edges a walk follows: `direction`, flows of `kinds` with the `wanted` attributes."""
        key = (direction, tuple(sorted(kinds or ())), tuple(sorted(wanted.items())))
        found = self._steps.get(key)
        if found is None:
            found = self._walk_steps(direction)
            if kinds or wanted:
                table = self.table
                allowed = np.ones(len(table.kind), bool)
                if kinds:
                    wanted_kind = np.zeros(len(FLOW_KINDS), bool)
                    wanted_kind[[FLOW_KINDS.index(k) for k in kinds]] = True
                    allowed &= wanted_kind[table.kind]
                for attr, value in key[2]:
                    if isinstance(value, tuple):  # one of several values (carries: [..])
                        codes, values = self._flow_column(attr)
                        allowed &= np.fromiter((v in value for v in values), bool, len(values))[
                            codes
                        ]
                    else:
                        allowed &= self._flow_column(attr) == value
                found = found.only(allowed)
            self._steps[key] = found
        return found

    @cached_property
    def table(self):
        """The graph's edges as numpy columns."""
        return edge_table(self.graph)

    def _walk_steps(self, direction: str) -> Steps:
        """Every edge a walk `direction` may follow, before any filter (cached)."""
        found = self._steps.get(direction)
        if found is None:
            found = self._steps[direction] = walk_steps(self.table, self.n, direction)
        return found

    def _flow_column(self, attribute: str):
        """One flow attribute per edge number: a boolean array, or for a value of several kinds
        (carries) the pair (code per edge, distinct values)."""
        col = self._flow_columns.get(attribute)
        if col is None:
            flows = self.graph.model.flows  # flow i is edge i
            values = map(attrgetter(attribute), flows)
            if attribute in BOOL_FLOW_ATTRIBUTES:
                col = np.fromiter(values, bool, len(flows))
            else:  # as _codes does for assets: one code per distinct value
                values = list(values)
                number = dict.fromkeys(values)
                if len(number) == 1:  # common: nobody stated it
                    codes = np.zeros(len(flows), np.int64)
                else:
                    number = {v: i for i, v in enumerate(number)}
                    codes = np.fromiter(map(number.__getitem__, values), np.int64, len(flows))
                col = (codes, list(number))
            self._flow_columns[attribute] = col
        return col

    def _key(self, cond: Condition) -> str:
        key = self._keys.get(id(cond))
        if key is None:
            dumped = cond.model_dump(mode="json", by_alias=True, exclude_defaults=True)
            key = self._keys[id(cond)] = json.dumps(dumped, sort_keys=True)
        return key

    def evaluate(self, cond: Condition) -> np.ndarray:
        """The mask of assets that satisfy `cond` (do not modify it: it is shared)."""
        key = self._key(cond)
        hit = self._masks.get(key)
        if hit is None:
            hit = self._masks[key] = self._evaluate(cond, key)
        return hit

    def _evaluate(self, cond: Condition, key: str) -> np.ndarray:
        if isinstance(cond, AttributeTest):
            return self._attribute(cond)
        if isinstance(cond, (Upstream, Downstream, Neighbour)):
            return self._walk(cond, key).first >= 0
        if isinstance(cond, All):
            return np.logical_and.reduce([self.evaluate(c) for c in cond.all])
        if isinstance(cond, Any_):
            return np.logical_or.reduce([self.evaluate(c) for c in cond.any])
        if isinstance(cond, Not):
            return ~self.evaluate(cond.not_)
        raise TypeError(f"unknown condition {type(cond).__name__}")

    def _attribute(self, t: AttributeTest) -> np.ndarray:
        name, op = t.attribute, t.operator
        if op == "equals":
            want = t.equals
            return self._mask_where(name, lambda v: v == want)
        if op == "in":
            wanted = t.in_
            return self._mask_where(name, lambda v: v in wanted)
        if op == "exists":
            return self._mask_where(name, _present if t.exists else _absent)
        if op == "contains":
            item = t.contains
            return self._mask_where(name, lambda v: v is not None and item in v)
        # beyond: a value of this list that the other list lacks, per pair of values
        codes, values = self._codes(name)
        other_codes, others = self._codes(t.beyond)
        pairs, pair_of = np.unique(codes * len(others) + other_codes, return_inverse=True)
        lut = np.fromiter(
            (
                bool(values[p // len(others)])
                and not set(values[p // len(others)]) <= set(others[p % len(others)] or ())
                for p in pairs.tolist()
            ),
            bool,
            len(pairs),
        )
        return lut[pair_of]

    def _walk(self, cond, key: str) -> Reach:
        found = self._reaches.get(key)
        if found is None:
            self.prepare([cond])
            found = self._reaches[key]
        return found

    def prepare(self, conditions: Iterable[Condition]) -> None:
        """Run every graph test in `conditions` not run yet, all those of one nesting level in
        one batched search (a test nested in another's `where` runs in an earlier batch)."""
        levels: dict[str, tuple[int, Condition]] = {}

        def level(cond) -> int:  # how deep graph tests nest in cond; -1: none
            if isinstance(cond, AttributeTest):
                return -1
            if isinstance(cond, (All, Any_)):
                return max(level(c) for c in (cond.all if isinstance(cond, All) else cond.any))
            if isinstance(cond, Not):
                return level(cond.not_)
            where = _walk_of(cond).where
            found = 1 + (level(where) if where is not None else -1)
            key = self._key(cond)
            if key not in self._reaches:
                levels[key] = (found, cond)
            return found

        for cond in conditions:
            level(cond)
        for depth in sorted({lvl for lvl, _ in levels.values()}):
            batch = {k: c for k, (lvl, c) in levels.items() if lvl == depth}
            searches = [self._search(c) for c in batch.values()]
            self._reaches.update(zip(batch, reach_all(searches), strict=True))

    def _search(self, cond) -> Search:
        """The search a graph test needs (its `where` must be computable already)."""
        direction = _DIRECTION[type(cond)]
        walk = getattr(cond, direction)
        flow = walk.flow.__dict__ if walk.flow is not None else {}  # pydantic keeps fields here
        wanted = {
            k: tuple(v) if isinstance(v, list) else v for k, v in flow.items() if v is not None
        }
        steps = self.steps(direction, walk.kinds, wanted)
        if walk.where is None:  # every asset a target: one step says it all
            return Search(steps, np.ones(self.n, bool))
        return Search(steps, self.evaluate(walk.where), walk.depth)

    def evidence(self, threat: Threat, asset: int) -> Evidence:
        """Why `threat` applies to asset number `asset` (worked out once, by `explain`)."""
        return () if threat.when is None else self.explain(threat.when, asset)

    def explain(self, cond: Condition, asset: int) -> Evidence:
        """Why asset number `asset` satisfies `cond`: the facts and walks that make it hold."""
        key = (id(cond), asset)  # many findings share a sub-explanation (a target's, say)
        found = self._explained.get(key)
        if found is None:
            found = self._explained[key] = self._explain(cond, asset)
        return found

    def _explain(self, cond: Condition, asset: int) -> Evidence:
        if isinstance(cond, AttributeTest):
            return (("attr", self._describe(cond, asset)),)
        if isinstance(cond, (Upstream, Downstream, Neighbour)):
            walk = _walk_of(cond)
            target, path = self._walk(cond, self._key(cond)).path(asset)
            edges = self.graph.edge_list
            fact = ("walk", self.ids[asset], tuple(edges[e] for e in path))
            return (fact, *self.explain(walk.where, target)) if walk.where is not None else (fact,)
        if isinstance(cond, All):
            return tuple(f for c in cond.all for f in self.explain(c, asset))
        if isinstance(cond, Any_):
            branch = next(c for c in cond.any if self.evaluate(c)[asset])
            return self.explain(branch, asset)
        return ()  # `not`: holds by absence

    def _describe(self, t: AttributeTest, asset: int) -> str:
        name, value, who = t.attribute, self.column(t.attribute)[asset], self.ids[asset]
        op = t.operator
        if op in ("equals", "in"):
            return f"{who}: {name} is {_word(value)}"
        if op == "exists":
            return f"{who}: has {name}" if t.exists else f"{who}: no {name} recorded"
        if op == "contains":
            return f"{who}: {name} include {t.contains}"
        extra = sorted(set(value) - set(self.column(t.beyond)[asset]))
        return f"{who}: {name} has {', '.join(extra)} beyond {t.beyond}"


def _refuse_too_much_work(ev: Evaluator, threats: list[Threat], library: Library) -> None:
    """Count the distinct tests the threats need, in evaluation order, and refuse at the first
    threat that takes assets × tests past a bound."""
    tests: set[str] = set()
    walks: set[str] = set()
    n = max(ev.n, 1)
    for threat in threats:
        todo = [c for c in (threat.when, *(f.when for f in threat.factors)) if c is not None]
        while todo:
            cond = todo.pop()
            key = ev._key(cond)
            if key in tests:
                continue  # and so are the tests inside it
            tests.add(key)
            if isinstance(cond, GRAPH_TESTS):
                walks.add(key)
            todo += inner(cond)
        for count, limit, what in (
            (len(walks), MAX_WALK_WORK, "graph tests"),
            (len(tests), MAX_TEST_WORK, "tests"),
        ):
            if count * n > limit:
                source = library.sources.get(f"threat:{threat.id}", threat.id)
                file, line = library.places.get(threat.id, (source, None))
                raise fail(
                    file,
                    line,
                    "when",
                    f"with this threat the library runs {count:,} distinct {what} on "
                    f"{n:,} assets, {count * n:,} in all; the limit is {limit:,} "
                    "(fewer tests, or a smaller system)",
                )


def _attributes(threats: Iterable[Threat]) -> list[str]:
    """Every asset attribute the threats' conditions test (factors' too), "type" first."""
    out = {"type": None}
    todo = [c for t in threats for c in (t.when, *(f.when for f in t.factors)) if c is not None]
    while todo:
        cond = todo.pop()
        if isinstance(cond, AttributeTest):
            out[cond.attribute] = None
            if cond.beyond is not None:
                out[cond.beyond] = None
        todo += inner(cond)
    return list(out)


def _hashable(value):
    """A dictionary key for an attribute value: lists by content, other unhashables by identity."""
    if isinstance(value, list):
        return tuple(map(_hashable, value))
    try:
        hash(value)
    except TypeError:
        return ("object", id(value))
    return value


def _walk_of(cond: Upstream | Downstream | Neighbour) -> Walk:
    return getattr(cond, _DIRECTION[type(cond)])


_DIRECTION = {Upstream: "upstream", Downstream: "downstream", Neighbour: "neighbour"}


def _present(value) -> bool:
    return value is not None and value != [] and value != ""


def _absent(value) -> bool:
    return not _present(value)


# Bounds on the work of one evaluation, in assets × distinct tests: a graph test keeps about
# 30 bytes per asset (its search's result, for the explanations), any other test one byte (its
# mask). The shipped library on 100,000 assets needs 11.0 and 33.4 million (110 graph tests of
# 334), so the graph bound leaves room for a user library beside it.
MAX_WALK_WORK = 20_000_000
MAX_TEST_WORK = 100_000_000


@gc_paused
def evaluate(graph: AssetGraph, library: Library) -> list[Match]:
    """Every threat of the library that applies to an asset of the graph (evidence on demand).

    Raises InputError, at the threat that goes over, when the library's distinct tests on this
    many assets would pass MAX_WALK_WORK or MAX_TEST_WORK.
    """
    ev = Evaluator(graph, library.condition_keys)
    ids = ev.ids
    ai_type = graph.model.system.ai_type
    threats = [
        t
        for t in sorted(library.threats.values(), key=lambda t: t.id)
        if ai_type in t.ai_types and ev.of_types(t.attaches_to).any()
    ]
    _refuse_too_much_work(ev, threats, library)
    ev.load_columns(_attributes(t for t in threats))
    ev.prepare(c for t in threats for c in (t.when, *(f.when for f in t.factors)) if c is not None)
    matches: list[Match] = []
    make = tuple.__new__  # Match(...) without the keyword-handling wrapper: one call each
    for threat in threats:
        hits = ev.of_types(threat.attaches_to)
        if threat.when is not None:
            hits = hits & ev.evaluate(threat.when)
        found = np.flatnonzero(hits)
        if not len(found):
            continue
        factors = threat.factors
        # Which factors held, per finding: one row of flags each; rows repeat, so share tuples.
        columns = [ev.evaluate(f.when)[found].tolist() for f in factors]
        rows = zip(*columns, strict=True) if factors else [()] * len(found)
        held: dict[tuple, tuple] = {}
        for number, row in zip(found.tolist(), rows, strict=True):
            kept = held.get(row)
            if kept is None:
                kept = held[row] = tuple(f for f, h in zip(factors, row, strict=True) if h)
            asset = ids[number]
            match = make(Match, (finding_id(threat.id, asset), threat, asset, kept, ev, number))
            matches.append(match)
    return matches


# ---------------------------------------------------------------- why a threat is absent


def describe(cond: Condition) -> str:
    """A condition in a line of words: `source in [public, third_party]`, `not (...)`, ..."""
    if isinstance(cond, AttributeTest):
        op = cond.operator
        if op == "equals":
            return f"{cond.attribute} = {_word(cond.equals)}"
        if op == "in":
            return f"{cond.attribute} in [{', '.join(map(_word, cond.in_ or []))}]"
        if op == "exists":
            return f"{cond.attribute} recorded" if cond.exists else f"no {cond.attribute} recorded"
        if op == "contains":
            return f"{cond.attribute} include {_word(cond.contains)}"
        return f"{cond.attribute} beyond {cond.beyond}"
    if isinstance(cond, (Upstream, Downstream, Neighbour)):
        walk = _walk_of(cond)
        kinds = "/".join(walk.kinds) if walk.kinds else "any"
        steps = f" within {walk.depth} steps" if walk.depth > 1 else ""
        flows = ""
        if walk.flow is not None:
            wanted = {k: v for k, v in walk.flow.__dict__.items() if v is not None}
            flows = " (flows with " + ", ".join(f"{k} {_word(v)}" for k, v in wanted.items()) + ")"
        where = f" to an asset with {describe(walk.where)}" if walk.where is not None else ""
        return f"{_DIRECTION[type(cond)]} over {kinds}{flows}{steps}{where}"
    if isinstance(cond, All):
        return "all of (" + "; ".join(describe(c) for c in cond.all) + ")"
    if isinstance(cond, Any_):
        return "one of (" + "; ".join(describe(c) for c in cond.any) + ")"
    return f"not ({describe(cond.not_)})"


def _word(value) -> str:
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(map(_word, value)) + "]"
    if value is None or isinstance(value, bool):
        return {True: "true", False: "false", None: "unknown"}[value]
    return str(value)


def why_not(graph: AssetGraph, library: Library, threat_id: str, limit: int = 20) -> list[str]:
    """Why `threat_id` is raised on no asset, or on only some: a line per asset it could attach
    to, naming the test that failed (and so what would raise it) or the stated fact that ruled
    it out. Lines for assets it is raised on say so. An unknown threat ID raises KeyError."""
    threat = library.threats[threat_id]
    ai_type = graph.model.system.ai_type
    if ai_type not in threat.ai_types:
        return [
            f"{threat_id} is for {' / '.join(threat.ai_types)} systems; this system's ai_type "
            f"is {ai_type}"
        ]
    ev = Evaluator(graph, library.condition_keys)
    candidates = np.flatnonzero(ev.of_types(threat.attaches_to))
    if not len(candidates):
        return [f"{threat_id} attaches to {' / '.join(threat.attaches_to)}; this system has none"]
    if threat.when is None:
        return [
            f"{ev.ids[i]}: raised (it applies to every {threat.attaches_to[0]})" for i in candidates
        ]
    hits = ev.evaluate(threat.when)
    out: list[str] = []
    for number in candidates.tolist()[:limit]:
        who = ev.ids[number]
        if hits[number]:
            out.append(f"{who}: raised")
        else:
            out.append(f"{who}: not raised: " + _failing(ev, threat.when, number))
    if len(candidates) > limit:
        out.append(f"... and {len(candidates) - limit} more {' / '.join(threat.attaches_to)}")
    return out


def _failing(ev: Evaluator, cond: Condition, asset: int) -> str:
    """Why `cond` fails for asset number `asset` (it must fail)."""
    who = ev.ids[asset]
    if isinstance(cond, AttributeTest):
        value = ev.column(cond.attribute)[asset]
        shown = "not recorded" if _absent(value) else _word(value)
        return f"needs {describe(cond)}, but {who} has {cond.attribute} {shown}"
    if isinstance(cond, (Upstream, Downstream, Neighbour)):
        return f"needs a path: {describe(cond)}; {who} has none"
    if isinstance(cond, All):
        failed = [c for c in cond.all if not ev.evaluate(c)[asset]]
        return "; and ".join(_failing(ev, c, asset) for c in failed)
    if isinstance(cond, Any_):
        return "none holds: " + " | ".join(_failing(ev, c, asset) for c in cond.any)
    # `not`: a stated fact ruled the threat out
    facts = [
        fact[1] if fact[0] == "attr" else render_path(fact[1], fact[2])
        for fact in ev.explain(cond.not_, asset)
    ]
    because = "; ".join(dict.fromkeys(facts)) or describe(cond.not_)
    return f"ruled out by the stated fact {because} (the threat needs: not {describe(cond.not_)})"
