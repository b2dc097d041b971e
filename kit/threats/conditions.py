"""The `when` language: declarative applicability tests over the asset graph, as data.

A condition is one of:

- an attribute test: ``{attribute: NAME, equals: V}`` or ``in: [..]``, ``exists: true|false``,
  ``contains: V`` (list attributes), ``beyond: OTHER`` (list attribute holds a value OTHER lacks);
- a graph test: ``{upstream|downstream|neighbour: {kinds: [..], depth: N, flow: {..}, where: C}}``,
  true for an asset from which some asset satisfying ``where`` is reached along flows of the given
  kinds within ``depth`` steps (``flow`` filters on flow attributes: crosses_boundary, ...);
- ``{all: [C, ...]}``, ``{any: [C, ...]}``, ``{not: C}``.

Names of attributes, flow kinds and asset types are checked when the library loads.
`exists` treats an empty list or empty text as absent. Evidence: `any` keeps the first branch
that holds for an asset, so order its branches with the most telling first; controls recorded
on the assets that evidence names count as mitigating.
"""

from __future__ import annotations

from functools import cache
from typing import Annotated, Any, Literal, Union

from pydantic import BaseModel, ConfigDict, Discriminator, Field, Tag, TypeAdapter, model_validator

from kit.errors import Hint, Suggestions
from kit.model.schema import FLOW_KINDS, Asset, Sensitivity

ASSET_ATTRIBUTES: dict[str, Any] = {
    name: info for name, info in Asset.model_fields.items() if name != "id"
}
LIST_ATTRIBUTES = {
    name for name, info in ASSET_ATTRIBUTES.items() if "list[" in str(info.annotation)
}
BOOL_FLOW_ATTRIBUTES = ("crosses_boundary", "authenticated", "encrypted")
FLOW_ATTRIBUTES = (*BOOL_FLOW_ATTRIBUTES, "carries")
FlowKindName = Literal[FLOW_KINDS]  # type: ignore[valid-type]

Scalar = str | int | bool | None


class _Node(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class AttributeTest(_Node):
    """Test one asset attribute."""

    attribute: str
    equals: Scalar | None = None
    in_: list[Scalar] | None = Field(None, alias="in")
    exists: bool | None = None
    contains: Scalar | None = None
    beyond: str | None = None

    @model_validator(mode="after")
    def _one_operator(self) -> AttributeTest:
        ops = [
            k
            for k in ("equals", "in_", "exists", "contains", "beyond")
            if k in self.model_fields_set
        ]
        if len(ops) != 1:
            raise ValueError(
                "an attribute test needs exactly one of equals, in, exists, contains, beyond"
            )
        return self

    @property
    def operator(self) -> str:
        for k in ("equals", "in_", "exists", "contains", "beyond"):
            if k in self.model_fields_set:
                return k.rstrip("_")
        raise AssertionError


class FlowFilter(_Node):
    """Only follow flows whose attributes have these values."""

    crosses_boundary: bool | None = None
    authenticated: bool | None = None
    encrypted: bool | None = None
    carries: list[Sensitivity | None] | None = Field(
        None, description="the flow carries one of these classifications (null: unstated)"
    )


class Walk(_Node):
    """How far and along which flows a graph test looks, and what it looks for."""

    kinds: list[FlowKindName] | None = None  # None: every kind
    depth: Annotated[int, Field(ge=1, le=50)] = 1
    flow: FlowFilter | None = None
    where: Condition | None = None  # None: any asset


class Upstream(_Node):
    upstream: Walk


class Downstream(_Node):
    downstream: Walk


class Neighbour(_Node):
    neighbour: Walk


class All(_Node):
    all: Annotated[list[Condition], Field(min_length=1)]


class Any_(_Node):
    any: Annotated[list[Condition], Field(min_length=1)]


class Not(_Node):
    not_: Condition = Field(alias="not")


CONDITION_KEYS = ("attribute", "upstream", "downstream", "neighbour", "all", "any", "not")


def _condition_kind(data: Any) -> str | None:
    if isinstance(data, BaseModel):
        return {
            AttributeTest: "attribute",
            Upstream: "upstream",
            Downstream: "downstream",
            Neighbour: "neighbour",
            All: "all",
            Any_: "any",
            Not: "not",
        }[type(data)]
    if isinstance(data, dict):
        found = [k for k in CONDITION_KEYS if k in data]
        return found[0] if len(found) == 1 else None
    return None


Condition = Annotated[
    Union[  # noqa: UP007
        Annotated[AttributeTest, Tag("attribute")],
        Annotated[Upstream, Tag("upstream")],
        Annotated[Downstream, Tag("downstream")],
        Annotated[Neighbour, Tag("neighbour")],
        Annotated[All, Tag("all")],
        Annotated[Any_, Tag("any")],
        Annotated[Not, Tag("not")],
    ],
    Discriminator(
        _condition_kind,
        custom_error_type="condition_kind",
        custom_error_message="a condition needs exactly one of: " + ", ".join(CONDITION_KEYS),
    ),
]

for _cls in (Walk, All, Any_, Not):
    _cls.model_rebuild()


def parse_condition(data: Any) -> Condition:
    """Validate raw data as a condition; raises pydantic.ValidationError with a precise location."""
    return _ADAPTER.validate_python(data)


def check_names(cond: Condition, path: tuple = ()) -> list[tuple[tuple, str, Hint | None]]:
    """Return (path, message, hint) for every attribute, value or name the model does not know;
    the hint, when there is one, suggests the nearest known name (see kit.errors.Hint)."""
    problems: list[tuple[tuple, str, Hint | None]] = []
    if isinstance(cond, AttributeTest):
        if cond.attribute not in ASSET_ATTRIBUTES:
            problems.append(
                (
                    path + ("attribute",),
                    f"unknown asset attribute '{cond.attribute}'",
                    Hint(cond.attribute, _names(tuple(ASSET_ATTRIBUTES))),
                )
            )
            return problems
        op = cond.operator
        if op in ("equals", "in") and cond.attribute in LIST_ATTRIBUTES:
            problems.append(
                (
                    path + (op,),
                    f"'{cond.attribute}' is a list: test it with 'contains' "
                    f"(or 'exists' for empty or not), not '{op}'",
                    None,
                )
            )
            return problems
        if op in ("contains", "beyond") and cond.attribute not in LIST_ATTRIBUTES:
            problems.append(
                (
                    path + (op,),
                    f"'{op}' needs a list attribute; '{cond.attribute}' is not one",
                    None,
                )
            )
        if op == "beyond" and cond.beyond not in LIST_ATTRIBUTES:
            problems.append(
                (
                    path + ("beyond",),
                    f"'{cond.beyond}' is not a list attribute",
                    Hint(str(cond.beyond), _names(tuple(sorted(LIST_ATTRIBUTES)))),
                )
            )
        allowed = allowed_values(cond.attribute)
        if allowed is not None:
            values = {"equals": [cond.equals], "in": cond.in_, "contains": [cond.contains]}.get(
                op
            ) or []
            names = _names(tuple(str(a) for a in allowed))
            after = f"; expected one of: {', '.join(str(a) for a in allowed)}"
            for v in values:
                if v not in allowed:
                    problems.append(
                        (
                            path + ({"in": "in"}.get(op, op),),
                            f"'{v}' is not a value of '{cond.attribute}'",
                            Hint(str(v), names, after),
                        )
                    )
    elif isinstance(cond, (Upstream, Downstream, Neighbour)):
        key = next(iter(type(cond).model_fields))
        walk: Walk = getattr(cond, key)
        if walk.where is not None:
            problems += check_names(walk.where, path + (key, "where"))
    elif isinstance(cond, (All, Any_)):
        key = "all" if isinstance(cond, All) else "any"
        for i, sub in enumerate(getattr(cond, key)):
            problems += check_names(sub, path + (key, i))
    elif isinstance(cond, Not):
        problems += check_names(cond.not_, path + ("not",))
    return problems


GRAPH_TESTS = (Upstream, Downstream, Neighbour)


def inner(cond: Condition) -> list[Condition]:
    """The conditions directly inside `cond`: a graph test's `where`, the members of `all` and
    `any`, the operand of `not` (none inside an attribute test)."""
    if isinstance(cond, GRAPH_TESTS):
        where = getattr(cond, next(iter(type(cond).model_fields))).where
        return [where] if where is not None else []
    if isinstance(cond, All):
        return list(cond.all)
    if isinstance(cond, Any_):
        return list(cond.any)
    if isinstance(cond, Not):
        return [cond.not_]
    return []


def count_tests(cond: Condition) -> tuple[int, int]:
    """(tests, graph tests) in `cond`: every attribute, graph, all, any and not test, nested
    ones included, and of them the upstream, downstream and neighbour tests."""
    tests = graph = 0
    todo = [cond]
    while todo:
        c = todo.pop()
        tests += 1
        graph += isinstance(c, GRAPH_TESTS)
        todo += inner(c)
    return tests, graph


@cache
def _names(choices: tuple[str, ...]) -> Suggestions:
    return Suggestions(choices)


def allowed_values(attribute: str) -> list | None:
    """The enumerated values an attribute may take, or None when it is free text."""
    annotation = ASSET_ATTRIBUTES[attribute].annotation
    found: list = []

    def walk(t) -> None:
        if getattr(t, "__origin__", None) is Literal:
            found.extend(t.__args__)
        for arg in getattr(t, "__args__", ()) or ():
            if getattr(t, "__origin__", None) is not Literal:
                walk(arg)
        if t is bool:
            found.extend([True, False])

    walk(annotation)
    if found and "None" in str(annotation):
        found.append(None)
    return found or None


_ADAPTER: TypeAdapter = TypeAdapter(Condition)
