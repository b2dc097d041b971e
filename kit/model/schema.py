"""The system file: pydantic models for system.yaml and the loader that checks them.

The models are the one source of the schema: `saikit schema` prints the JSON Schema made from
them, and their errors become located messages (file, line, YAML path, nearest valid name).
"""

from __future__ import annotations

import datetime as dt
import os
from collections import Counter
from functools import cache, cached_property
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    TypeAdapter,
    ValidationError,
    model_validator,
)

from kit.errors import MAX_PROBLEMS, Hint, InputError, Problem, Suggestions, format_path, take
from kit.files import read_problem, resolve
from kit.model import yamlio
from kit.model.files import decisions_file
from kit.vocab import Band, Documentation, Role, Stakeholder, flow_id

Slug = Annotated[
    str,
    Field(
        pattern=r"^[a-z0-9][a-z0-9_.-]{0,79}$",
        description="lower-case letters, digits, '-', '_' and '.'; at most 80 characters",
    ),
]
Text = Annotated[str, Field(max_length=4000)]

AssetType = Literal[
    "dataset",
    "model",
    "prompt",
    "vector_store",
    "api",
    "application",
    "tool",
    "agent",
    "infrastructure",
    "log_store",
    "third_party_component",
    "user_group",
    "secret",
]
FlowKind = Literal[
    "trains",
    "fine_tunes",
    "indexes",
    "retrieves",
    "prompts",
    "serves",
    "invokes",
    "writes",
    "logs_to",
    "depends_on",
]
Sensitivity = Literal["public", "internal", "confidential", "personal", "special_category"]
Modality = Literal["text", "image", "audio", "video", "code", "tabular", "embedding"]

ASSET_TYPES: tuple[str, ...] = AssetType.__args__
FLOW_KINDS: tuple[str, ...] = FlowKind.__args__

MAX_ASSETS = 100_000  # a large estate has thousands; the benchmarks go to 100,000
# Flows of these kinds must not loop: a model cannot descend from itself, nor a component
# depend on itself. Loops through other kinds (model → api → app → dataset → model) are feedback.
ACYCLIC_FLOWS: tuple[frozenset[str], ...] = (
    frozenset({"trains", "fine_tunes"}),
    frozenset({"depends_on"}),
)

_DATA = {"dataset", "vector_store", "log_store"}
_ACTORS = {"application", "agent", "api", "tool", "model"}
_ANY = set(ASSET_TYPES)
# Which asset types each flow kind may join, written `from` → `to`. A flow points the way data
# and influence move (a poisoned dataset reaches the model it trains), except depends_on, which
# reads as written: `from` depends on `to`.
FLOW_RULES: dict[str, tuple[set[str], set[str]]] = {
    "trains": ({"dataset", "vector_store", "log_store"}, {"model"}),
    "fine_tunes": ({"dataset", "model", "log_store"}, {"model"}),
    "indexes": ({"dataset", "log_store", "api", "tool", "third_party_component"}, {"vector_store"}),
    "retrieves": (
        _DATA | {"api", "tool", "third_party_component", "application", "model", "secret"},
        {"application", "agent", "model", "api", "tool"},
    ),
    "prompts": (
        {"prompt", "user_group", "application", "agent", "api", "tool"},
        {"model", "agent", "application", "api", "third_party_component"},
    ),
    "serves": (
        {"model", "api", "application", "agent", "third_party_component", "tool"},
        {"api", "application", "agent", "user_group", "third_party_component"},
    ),
    "invokes": (
        {"agent", "application", "model", "api", "tool", "user_group"},
        {"tool", "api", "agent", "third_party_component", "application", "model"},
    ),
    "writes": (_ACTORS | {"user_group"}, _DATA | {"prompt", "secret"}),
    "logs_to": (_ANY - {"log_store", "user_group", "secret"}, {"log_store"}),
    "depends_on": (_ANY - {"user_group"}, _ANY - {"user_group"}),
}


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)


class Provenance(_Strict):
    """Where a public or third-party artefact came from (5.2.4-2.1)."""

    url: Annotated[str, Field(max_length=2000)] = Field(description="where it was obtained")
    retrieved: dt.date | None = Field(None, description="when it was obtained")
    licence: str | None = None


class RateLimit(_Strict):
    """A rate limit whose figure is known, in any window."""

    requests: Annotated[int, Field(ge=1)]
    per: Literal["second", "minute", "hour", "day"] = "minute"


class DueDiligence(_Strict):
    """A supplier assessment for an external component or provider (5.1.2-4, 5.1.2-7)."""

    date: dt.date
    evidence: Text
    by: str | None = None


class System(_Strict):
    """The AI system as a whole: why it exists, who runs it, how much risk it may carry."""

    id: Slug
    name: Annotated[str, Field(min_length=1, max_length=200)]
    purpose: Text = Field(description="what the system is for, in a sentence or two")
    business_requirement: Text | None = Field(
        None, description="the business need or problem it answers (5.1.2-1)"
    )
    ai_type: Literal["predictive", "generative", "agentic"]
    roles: list[Role] = Field(min_length=1, description="stakeholder roles your organisation holds")
    risk_appetite: Band = Field(
        "medium", description="the highest residual risk band accepted without a decision"
    )
    review_interval_days: Annotated[int, Field(ge=1, le=3650)] = 365
    owner: str | None = None
    prohibited_uses: list[Text] = Field(default_factory=list)
    human_oversight: Text | None = Field(None, description="how people oversee outputs (5.1.4)")
    decisions_file: str | None = Field(None, description="YAML file of decisions, beside this one")


class Asset(_Strict):
    """One node of the inventory: data, a model, a prompt, a service, a tool, people."""

    id: Slug
    type: AssetType
    name: str | None = None
    description: Text | None = None
    owner: str | None = None
    custodian: str | None = Field(None, description="who controls the data's permissions")
    version: Annotated[str, Field(max_length=100)] | None = None
    sha256: Annotated[str, Field(pattern=r"^[0-9a-f]{64}$")] | None = None
    artifact: Annotated[str, Field(max_length=1000)] | None = Field(
        None, description="path of the artefact file, relative to the system file"
    )
    format: str | None = Field(None, description="artefact format, e.g. safetensors, pickle, onnx")
    source: Literal["internal", "public", "third_party"] = "internal"
    provider: str | None = None
    provenance: Provenance | None = None
    due_diligence: DueDiligence | None = None
    sensitivity: Sensitivity = "internal"
    environment: Literal["development", "staging", "production"] = "production"
    exposure: Literal["internal", "partner", "public"] = "internal"
    criticality: Literal["low", "medium", "high"] = "medium"
    modalities_offered: list[Modality] = Field(default_factory=list)
    modalities_used: list[Modality] = Field(default_factory=list)
    outputs: list[
        Literal["label", "score", "probabilities", "text", "embedding", "code", "action", "image"]
    ] = Field(default_factory=list, description="what the asset returns to its callers")
    authentication: Literal["none", "api_key", "oauth", "mtls", "sso"] | None = None
    rate_limit_per_minute: Annotated[int, Field(ge=1)] | None = None
    permissions: list[Annotated[str, Field(pattern=r"^[a-z0-9_.*-]+$")]] = Field(
        default_factory=list, description="permissions granted to this asset on other systems"
    )
    human_approval: bool | None = Field(
        None,
        description="a person approves its actions before they run; left out: not known "
        "(never read as no)",
    )
    # The facts below say what real AI systems are (issue 15); each is optional, and left out
    # means not recorded, which threats and checks never read as "no".
    written_by: list[Literal["internal", "partner", "public"]] = Field(
        default_factory=list,
        description="who can write into this data (a mailbox, ticket queue, wiki, shared drive): "
        "partner or public writers make it untrusted content, like a web page",
    )
    consumed_as: Literal["hosted_api", "weights"] | None = Field(
        None,
        description="how a model from outside is taken in: as a hosted API (no weights in "
        "hand) or as weights (downloaded, fine-tuned, self-hosted)",
    )
    follows_instructions: bool | None = Field(
        None,
        description="a model that follows instructions (chat, agent) rather than a task model "
        "(translation, classification, embedding, scoring, generation from a fixed template)",
    )
    reachable_by: list[Literal["generated_code", "tools", "agents", "staff"]] = Field(
        default_factory=list,
        description="a secret: what can reach it (code the model writes, tools, agents, staff)",
    )
    renders_output: Literal["plain_text", "markdown", "html"] | None = Field(
        None,
        description="how a client shows model output: markdown or HTML fetch images and links "
        "on their own (an exfiltration channel); plain_text does not",
    )
    retrieval_scope: Literal["asking_user", "shared"] | None = Field(
        None,
        description="data retrieved for answers: only the asking user's own documents, or "
        "shared across users",
    )
    rate_limit: RateLimit | Literal["limited", "none"] | None = Field(
        None,
        description="a rate limit in any window ({requests: N, per: hour}), 'limited' when one "
        "is known to exist but not its figure, 'none' when known to have none",
    )
    documentation: list[Documentation] | None = Field(
        None,
        description="what documentation a component, model or dataset from outside came with; "
        "[] or [none]: came with none; left out: not recorded",
    )
    status: Literal["active", "retired"] = "active"
    disposal: Text | None = Field(None, description="how a retired asset's data was disposed of")
    tags: list[Slug] = Field(default_factory=list)

    @property
    def rate_limited(self) -> bool | None:
        """True when a rate limit is recorded (a figure in any window, or `limited`), False when
        `rate_limit: none` is stated, None when nothing is recorded."""
        if self.rate_limit_per_minute or isinstance(self.rate_limit, RateLimit):
            return True
        return {"limited": True, "none": False}.get(self.rate_limit)  # type: ignore[arg-type]

    @property
    def documents(self) -> frozenset[str] | None:
        """The documentation it came with (an empty set when it came with none), or None when
        nobody recorded it."""
        if self.documentation is None:
            return None
        return frozenset(self.documentation) - {"none"}

    @model_validator(mode="after")
    def _none_alone(self) -> Asset:
        if self.documentation and "none" in self.documentation and len(self.documentation) > 1:
            raise ValueError("documentation: 'none' cannot stand beside other documents")
        return self


class Flow(_Strict):
    """A typed edge: `from` feeds `to` (depends_on reads as written)."""

    model_config = ConfigDict(populate_by_name=True)

    source: Slug = Field(alias="from")
    target: Slug = Field(alias="to")
    kind: FlowKind
    permissions: list[Annotated[str, Field(pattern=r"^[a-z0-9_.*-]+$")]] = Field(
        default_factory=list, description="permissions this flow needs"
    )
    crosses_boundary: bool = False
    carries: Sensitivity | None = Field(
        None, description="the classification of the data this flow carries"
    )
    authenticated: bool = True
    encrypted: bool = True
    description: Text | None = None

    @property
    def id(self) -> str:
        return flow_id(self.source, self.kind, self.target)


class ControlUse(_Strict):
    """A control from the library applied to some assets."""

    control: Slug
    assets: list[Slug] = Field(min_length=1)
    status: Literal["implemented", "planned"]
    evidence: Text | None = None
    owner: str | None = None
    operated_by: Literal["organisation", "supplier"] = Field(
        "organisation",
        description="supplier: the component's supplier runs it (a hub's model scanning, a "
        "vendor's abuse monitoring); credited like your own",
    )


class Attestation(_Strict):
    """Evidence for a provision that no model can show."""

    provision: Annotated[str, Field(pattern=r"^5\.\d\.\d-\d+(\.\d+)?$")]
    status: Literal["met", "partial", "not_met", "not_applicable"]
    evidence: Text | None = None
    owner: str | None = None
    date: dt.date
    role: Stakeholder | None = None  # a held role, or end_user for a duty passed on to End-users
    note: Text | None = None


class Decision(_Strict):
    """The treatment chosen for one finding, kept apart from the system's facts."""

    finding: Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9_.-]*@[a-z0-9][a-z0-9_.-]*$")]
    status: Literal["open", "mitigating", "accepted", "transferred", "avoided", "false_positive"]
    justification: Text | None = None
    owner: str | None = None
    date: dt.date | None = None
    review_by: dt.date | None = None


class SystemModel(_Strict):
    """One AI system: the whole of system.yaml."""

    system: System
    assets: list[Asset] = Field(min_length=1, max_length=MAX_ASSETS)
    flows: list[Flow] = Field(default_factory=list)
    controls: list[ControlUse] = Field(default_factory=list)
    attestations: list[Attestation] = Field(default_factory=list)
    decisions: list[Decision] = Field(default_factory=list)
    # IDs of assets whose sha256 came from the hash record beside the file (`saikit hash`), not
    # from the file itself; set by load_system.
    _recorded_hashes: frozenset[str] = PrivateAttr(default=frozenset())

    @property
    def recorded_hashes(self) -> frozenset[str]:
        return self._recorded_hashes

    @model_validator(mode="after")
    def _references(self) -> SystemModel:
        problems, uncounted = take(reference_problems(self))
        if problems:
            raise _ReferenceProblems(problems, uncounted)
        return self

    @cached_property
    def asset_by_id(self) -> dict[str, Asset]:
        return {a.id: a for a in self.assets}


class _ReferenceProblems(ValueError):
    """The broken references of a model: args[0] the first MAX_PROBLEMS of reference_problems'
    tuples, args[1] how many more there are. Named briefly: pydantic puts an exception's text
    in its error."""

    def __str__(self) -> str:
        return f"{len(self.args[0]) + self.args[1]:,} broken references"


_TOP_FIELDS = frozenset(f.alias or n for n, f in SystemModel.model_fields.items())


def reference_problems(model: SystemModel):
    """Yield (path, message) for every broken reference between sections, or (path, message,
    hint) when the message ends with a suggestion still to be worked out (see kit.errors.Hint)."""
    seen: dict[str, int] = {}
    for i, asset in enumerate(model.assets):
        if asset.id in seen:
            yield (
                ("assets", i, "id"),
                f"duplicate asset id '{asset.id}' (also assets[{seen[asset.id]}])",
            )
        seen.setdefault(asset.id, i)
    ids = seen.keys()
    types = {a.id: a.type for a in model.assets}
    names: list[Suggestions] = []  # the asset IDs to suggest from, made at the first need

    def unknown(ref: str) -> tuple[str, Hint]:
        if not names:
            names.append(Suggestions(ids))
        return f"unknown asset '{ref}'", Hint(ref, names[0])

    for i, flow in enumerate(model.flows):
        for end in ("from", "to"):
            ref = flow.source if end == "from" else flow.target
            if ref not in ids:
                yield ("flows", i, end), *unknown(ref)
        if flow.source in ids and flow.target in ids:
            if flow.source == flow.target:
                yield ("flows", i), f"flow from '{flow.source}' to itself"
                continue
            sources, targets = FLOW_RULES[flow.kind]
            s, t = types[flow.source], types[flow.target]
            if s not in sources or t not in targets:
                yield (
                    ("flows", i, "kind"),
                    (
                        f"a {s} cannot '{flow.kind}' a {t}; '{flow.kind}' goes from "
                        f"{' / '.join(sorted(sources))} to {' / '.join(sorted(targets))}"
                    ),
                )
    for kinds, loop in _loops(model.flows, ids):
        names = [model.flows[i].source for i in loop] + [model.flows[loop[0]].source]
        refs = [f"flows[{i}]" for i in loop]
        more = len(loop) > 8
        why = (
            "a model cannot descend from itself (a feedback loop goes through data: "
            "model it with the dataset in between)"
            if "trains" in kinds
            else "an asset cannot depend on itself"
        )
        yield (
            ("flows", loop[-1]),
            (
                f"{' / '.join(sorted(kinds))} flows form a loop: "
                f"{' → '.join(names[:8] + ['…'] if more else names)} "
                f"({', '.join(refs[:8] + ['…'] if more else refs)}); {why}"
            ),
        )
    for i, use in enumerate(model.controls):
        for j, ref in enumerate(use.assets):
            if ref not in ids:
                yield ("controls", i, "assets", j), *unknown(ref)
    seen_findings: dict[str, int] = {}
    for i, decision in enumerate(model.decisions):
        if decision.finding in seen_findings:
            yield (
                ("decisions", i, "finding"),
                (
                    f"second decision for '{decision.finding}' (also decisions[{seen_findings[decision.finding]}])"
                ),
            )
        seen_findings.setdefault(decision.finding, i)


def _loops(flows: list[Flow], ids, limit: int = 5):
    """Yield (kinds, loop) for loops among flows of one ACYCLIC_FLOWS group, each loop the list
    of its flow indices in order; at most `limit` loops per group.

    A depth-first search, iterative so that a chain of 100,000 flows needs no deep recursion,
    that yields one loop per flow closing back onto the path.
    """
    group = {kind: n for n, kinds in enumerate(ACYCLIC_FLOWS) for kind in kinds}
    out: list[dict[str, list[tuple[str, int]]]] = [{} for _ in ACYCLIC_FLOWS]
    for i, flow in enumerate(flows):
        n = group.get(flow.kind)
        known = flow.source in ids and flow.target in ids
        if n is not None and known and flow.source != flow.target:
            out[n].setdefault(flow.source, []).append((flow.target, i))
    for kinds, edges_from in zip(ACYCLIC_FLOWS, out, strict=True):
        found = 0
        done: set[str] = set()
        for root in edges_from:
            if root in done or found >= limit:
                continue
            on_path = {root: 0}
            stack = [(root, iter(edges_from[root]))]
            entered: list[int] = []  # the flow by which each asset after the root was reached
            while stack and found < limit:
                asset, edges = stack[-1]
                for target, i in edges:
                    if target in on_path:
                        yield kinds, [*entered[on_path[target] :], i]
                        found += 1
                    elif target not in done:
                        on_path[target] = len(stack)
                        stack.append((target, iter(edges_from.get(target, ()))))
                        entered.append(i)
                        break
                else:
                    stack.pop()
                    del on_path[asset]
                    done.add(asset)
                    if entered:
                        entered.pop()


def load_system(
    path: str | os.PathLike,
    *,
    controls: set[str] | None = None,
    provisions: set[str] | None = None,
    hashes: dict[str, str] | None = None,
) -> SystemModel:
    """Load and check a system file (and its decisions file); raise InputError listing every problem.

    `controls` and `provisions`, when given, are the valid control and provision IDs: references to
    others are reported with the nearest valid name. An asset whose file gives no sha256 takes the
    one `saikit hash` recorded beside the file (`hashes`, read from there when not given), so
    every reader of the model sees the same hashes.
    """
    doc = yamlio.load_file(path)
    if not isinstance(doc.data, dict):
        raise InputError([Problem(doc.file, doc.line(()), "", _not_mapping(doc.data))])
    data = dict(doc.data)
    assets = data.get("assets")
    if isinstance(assets, list) and len(assets) > MAX_ASSETS:  # refused before validating them all
        raise InputError(
            [
                Problem(
                    doc.file,
                    doc.line(("assets",)),
                    "assets",
                    f"{len(assets):,} assets; the limit is {MAX_ASSETS:,}",
                )
            ]
        )
    decision_doc = None
    if decisions_file(Path(path), data) is not None:
        name = data["system"]["decisions_file"]
        decision_doc = _load_decisions(Path(path).parent, name, doc)
        data["decisions"] = list(data.get("decisions") or []) + decision_doc.data["decisions"]
    if hashes is None:
        from kit.model.hashes import read_record

        hashes = read_record(path)
    recorded = _apply_recorded_hashes(data, hashes)
    model = _validate(data, doc, decision_doc)
    model._recorded_hashes = recorded
    extra, uncounted = take(_library_problems(model, controls, provisions))
    if extra:
        found = [_locate(path_msg, doc, decision_doc) for path_msg in extra]
        raise InputError(found, uncounted=uncounted)
    return model


# A document of more values than this is screened (see _screen) before it is validated whole.
SCREEN_ABOVE = 20_000
# Values in one entry of a section (an asset, a flow, a control use, ...) or in `system`: a
# control use may name every asset, and no entry needs more. Bounds what one entry can cost.
MAX_ENTRY_VALUES = 2 * MAX_ASSETS
CHUNK_VALUES = 10_000  # entries screened together, in values


def _validate(data: dict, doc, decision_doc) -> SystemModel:
    """SystemModel.model_validate(data); InputError with every problem located, or with the
    first MAX_PROBLEMS of them when a big document has more (`complete` False)."""
    problems: list[Problem] = []
    uncounted: int | None = 0
    skipped: frozenset = frozenset()
    values = doc.values + (decision_doc.values if decision_doc is not None else 0)
    if values > SCREEN_ABOVE:
        data, problems, uncounted, skipped = _screen(data, doc, decision_doc)
    try:
        model = SystemModel.model_validate(data)
    except ValidationError as exc:
        found, more = _problems(exc, doc, decision_doc, skipped=skipped)
        problems += found
        uncounted = None if uncounted is None or more is None else uncounted + more
    else:
        if not problems:
            return model
    raise InputError(_sorted(problems), uncounted=uncounted)


def _screen(data: dict, doc, decision_doc) -> tuple[dict, list[Problem], int | None, frozenset]:
    """Check a big document a piece at a time, so that a million bad values cost no more than
    the first MAX_PROBLEMS problems they make: unknown top-level names, oversized entries, and
    each section's entries, validated a chunk of CHUNK_VALUES values at a time.

    Returns (what to validate whole, the problems found, 0 or None when the checking stopped
    before the end, the sections whose errors the whole validation must not report). A section with problems, and
    every section once the problems reach MAX_PROBLEMS, is validated whole as empty (so that no
    reference to its entries is checked); a section without is passed on as validated models.
    """
    problems: list[Problem] = []
    data = dict(data)
    skipped: set[str] = set()
    for key in [k for k in data if k not in _TOP_FIELDS]:
        err = {"type": "extra_forbidden", "input": data.pop(key)}
        problems.append(_locate(((key,), *_message(err, (key,))), doc, decision_doc))
    if isinstance(data.get("system"), dict) and _values(data["system"]) > MAX_ENTRY_VALUES:
        problems.append(_too_big(("system",), doc, decision_doc))
        data.pop("system")
        skipped.add("system")
    for name, adapter in _entry_adapters().items():
        entries = data.get(name)
        if not isinstance(entries, list):
            continue  # the whole validation says what it should be
        kept, found = [], []
        if len(problems) < MAX_PROBLEMS:
            kept, found = _screen_entries(name, entries, adapter, doc, decision_doc, problems)
        if found or len(problems) >= MAX_PROBLEMS:
            problems += found
            data[name] = []
            skipped.add(name)
        else:
            data[name] = kept
    uncounted = 0 if len(problems) < MAX_PROBLEMS else None
    return data, problems[:MAX_PROBLEMS], uncounted, frozenset(skipped)


def _screen_entries(name: str, entries: list, adapter: TypeAdapter, doc, decision_doc, before):
    """(validated entries, problems) of one section, a chunk at a time; stops once the
    problems, with those found `before`, reach MAX_PROBLEMS."""
    kept: list = []
    found: list[Problem] = []
    start, end, size = 0, 0, 0  # the chunk is entries[start:end], of `size` values

    def check(start: int, end: int) -> None:
        if start < end:
            try:
                kept.extend(adapter.validate_python(entries[start:end]))
            except ValidationError as exc:
                shift = lambda loc: (name, start + loc[0], *loc[1:]) if loc else (name,)  # noqa: E731
                limit = MAX_PROBLEMS - len(before) - len(found)
                found.extend(_problems(exc, doc, decision_doc, shift=shift, limit=limit)[0])

    for i, entry in enumerate(entries):
        if len(before) + len(found) >= MAX_PROBLEMS:
            return kept, found
        n = _values(entry)
        if n > MAX_ENTRY_VALUES or size + n > CHUNK_VALUES:
            check(start, end)
            start, size = i, 0
        if n > MAX_ENTRY_VALUES:
            found.append(_too_big((name, i), doc, decision_doc))
            start = i + 1
            continue
        end, size = i + 1, size + n
    check(start, end)
    return kept, found


def _values(value: Any, limit: int = MAX_ENTRY_VALUES) -> int:
    """How many values `value` holds (itself, keys, items, nested), counting past `limit` no
    further than one container."""
    if not isinstance(value, (dict, list)):
        return 1
    count, todo = 0, [value]
    while todo and count <= limit:
        item = todo.pop()
        inner = item.values() if isinstance(item, dict) else item
        nested = [v for v in inner if isinstance(v, (dict, list))]
        count += 1 + len(inner) - len(nested) + (len(item) if isinstance(item, dict) else 0)
        todo += nested
    return count


def _too_big(path: tuple, doc, decision_doc) -> Problem:
    limit = MAX_ENTRY_VALUES
    message = f"this entry holds more than {limit:,} values; the limit is {limit:,}"
    return _locate((path, message), doc, decision_doc)


@cache
def _entry_adapters() -> dict[str, TypeAdapter]:
    """Per list section of SystemModel, a validator of a list of its entries."""
    return {
        name: TypeAdapter(list[_model_in(info.annotation)])
        for name, info in SystemModel.model_fields.items()
        if getattr(info.annotation, "__origin__", None) is list
    }


def _sorted(problems: list[Problem]) -> list[Problem]:
    """Without repeats, by file and line; on one line in the order found (document order)."""
    return sorted(dict.fromkeys(problems), key=lambda p: (p.file, p.line or 0))


def _apply_recorded_hashes(data: dict, hashes: dict[str, str]) -> frozenset[str]:
    """Give each asset without a sha256 the recorded one; return the IDs that took one."""
    assets = data.get("assets")
    if not hashes or not isinstance(assets, list):
        return frozenset()
    taken = set()
    data["assets"] = assets = list(assets)  # the parsed document stays as read
    for i, asset in enumerate(assets):
        if isinstance(asset, dict) and asset.get("sha256") is None and asset.get("id") in hashes:
            assets[i] = {**asset, "sha256": hashes[asset["id"]]}
            taken.add(asset["id"])
    return frozenset(taken)


def _library_problems(model: SystemModel, controls, provisions):
    if controls is not None:
        names = None
        for i, use in enumerate(model.controls):
            if use.control not in controls:
                names = names or Suggestions(controls)
                where = ("controls", i, "control")
                yield where, f"unknown control '{use.control}'", Hint(use.control, names)
    if provisions is not None:
        names = None
        for i, att in enumerate(model.attestations):
            if att.provision not in provisions:
                names = names or Suggestions(provisions)
                where = ("attestations", i, "provision")
                yield where, f"unknown provision '{att.provision}'", Hint(att.provision, names)


def _load_decisions(base: Path, name: str, doc: yamlio.Document) -> yamlio.Document:
    line = doc.line(("system", "decisions_file"))
    try:
        target = resolve(base / name)
    except OSError as exc:  # a link loop
        raise InputError(
            [Problem(doc.file, line, "system.decisions_file", f"'{name}': {read_problem(exc)}")]
        ) from None
    if Path(name).is_absolute() or not target.is_relative_to(resolve(base)):
        raise InputError(
            [
                Problem(
                    doc.file,
                    line,
                    "system.decisions_file",
                    f"must name a file beside the system file; '{name}' leads outside its folder",
                )
            ]
        )
    if not os.path.lexists(target):  # a loop is reported by the reader
        raise InputError(
            [Problem(doc.file, line, "system.decisions_file", f"file not found: {name}")]
        )
    dec = yamlio.load_file(target)
    if not isinstance(dec.data, dict) or not isinstance(dec.data.get("decisions"), list):
        raise InputError(
            [Problem(dec.file, dec.line(()), "", "expected a mapping with a 'decisions' list")]
        )
    unknown = [k for k in dec.data if k != "decisions"]
    if unknown:
        raise InputError(
            [
                Problem(
                    dec.file,
                    dec.line((unknown[0],)),
                    str(unknown[0]),
                    "unknown field; expected 'decisions'",
                )
            ]
        )
    return dec


def _not_mapping(data: Any) -> str:
    kind = type(data).__name__ if data is not None else "nothing"
    return f"the top level must be a mapping with 'system' and 'assets'; found {kind}"


def _locate(found, doc, decision_doc) -> Problem:
    """The Problem for (path, message) or (path, message, hint), in the file it is in."""
    path, message, *hint = found
    path = tuple(path)
    hint = hint[0] if hint else None
    if decision_doc is not None and path[:1] == ("decisions",):
        inline = len(doc.data.get("decisions") or []) if isinstance(doc.data, dict) else 0
        if len(path) > 1 and isinstance(path[1], int) and path[1] >= inline:
            inner = ("decisions", path[1] - inline) + path[2:]
            where = decision_doc.line(inner)
            return Problem(decision_doc.file, where, format_path(inner), message, hint)
    return Problem(doc.file, doc.line(path), format_path(path), message, hint)


def _problems(
    exc: ValidationError,
    doc,
    decision_doc,
    shift=None,
    skipped: frozenset = frozenset(),
    limit: int = MAX_PROBLEMS,
) -> tuple[list[Problem], int | None]:
    """(the located problems of a validation error, sorted; how many more were counted, or
    None when errors past `limit` were left out uncounted).

    `shift` turns an error's location into one from the top of the document; errors in
    `skipped` sections are left out. Broken references come counted (_ReferenceProblems).
    """
    out: list[Problem] = []
    errors = uncounted = 0
    for err in exc.errors(include_url=False):
        loc = _aliased(tuple(err["loc"]))
        loc = shift(loc) if shift is not None else loc
        if loc[:1] and loc[0] in skipped:
            continue
        if isinstance(err.get("ctx", {}).get("error"), _ReferenceProblems):
            found, more = err["ctx"]["error"].args
            out.extend(_locate(pm, doc, decision_doc) for pm in found)
            uncounted += more
            continue
        errors += 1
        if errors > limit:
            return _sorted(out), None
        written = doc.written(loc, err.get("input"))
        out.append(_locate((loc, *_message(err, loc, written)), doc, decision_doc))
    return _sorted(out), uncounted


def _aliased(loc: tuple) -> tuple:
    """A flow's `source`/`target` as the file spells them (`from`/`to`); an asset's `source`
    stays as it is."""
    if len(loc) > 2 and loc[0] == "flows" and loc[2] in ("source", "target"):
        return (*loc[:2], {"source": "from", "target": "to"}[loc[2]], *loc[3:])
    return loc


def _message(err: dict, loc: tuple, raw: str | None = None) -> tuple[str, Hint | None]:
    """(message, hint) for one pydantic error at `loc`; see _text for the messages without one."""
    kind, value = err["type"], err.get("input")
    if kind == "extra_forbidden":
        fields = _fields_at(loc[:-1])
        comma = (
            " (inside { }, a comma ends the value: put text with commas in quotes)"
            if " " in str(loc[-1])
            else ""
        )
        after = f"; expected one of: {', '.join(fields)}{comma}"
        return f"unknown field '{loc[-1]}'", Hint(str(loc[-1]), _names(tuple(fields)), after)
    if kind == "literal_error":
        choices = [c.strip(" '") for c in err["ctx"]["expected"].replace(" or ", ", ").split(",")]
        after = f"; expected one of: {', '.join(choices)}"
        return f"'{value}' is not allowed", Hint(str(value), _names(tuple(choices)), after)
    return _text(err, kind, value, raw), None


@cache
def _names(choices: tuple[str, ...]) -> Suggestions:
    return Suggestions(choices)


def _text(err: dict, kind: str, value: Any, raw: str | None) -> str:
    if kind == "string_type" and raw is not None and not isinstance(value, (dict, list)):
        return f'expected text, but YAML reads {raw} as {_kind(value)} {value!r}: put it in quotes ("{raw}")'
    if kind == "missing":
        return "required field is missing"
    if kind == "string_pattern_mismatch":
        return f"{value!r} does not match the expected form {err['ctx']['pattern']}"
    if kind in ("model_type", "model_attributes_type", "dict_type"):
        return f"expected a mapping, got {_kind(value)}"
    if kind == "list_type":
        return f"expected a list, got {_kind(value)}"
    if kind.startswith(("int_", "float_", "bool_", "string_type", "date_")):
        return (
            f"{err['msg'].lower()}, got {_kind(value)} {value!r}"
            if value is not None
            else err["msg"].lower()
        )
    return err["msg"]


def _kind(value: Any) -> str:
    return {
        dict: "a mapping",
        list: "a list",
        str: "text",
        bool: "true/false",
        type(None): "nothing",
    }.get(type(value), type(value).__name__)


def _fields_at(loc: tuple) -> list[str]:
    """The valid field names at a location in the system file."""
    model: type[BaseModel] = SystemModel
    for part in loc:
        if isinstance(part, int):
            continue
        info = model.model_fields.get(part) or next(
            (f for f in model.model_fields.values() if f.alias == part), None
        )
        if info is None:
            return []
        model = _model_in(info.annotation) or model
    return [f.alias or n for n, f in model.model_fields.items()]


def _model_in(annotation) -> type[BaseModel] | None:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in getattr(annotation, "__args__", ()):
        found = _model_in(arg)
        if found:
            return found
    return None


def check_part(
    data: Any, controls=None
) -> tuple[SystemModel | None, list[tuple[tuple, str, Hint | None]]]:
    """Validate a system written inside another file (a threat's example), its control uses
    against `controls` when given: (the model, []) or (None, [(path inside it, message, hint),
    ...]) with at most MAX_PROBLEMS problems."""
    if not isinstance(data, dict):
        return None, [((), _not_mapping(data), None)]
    try:
        model = SystemModel.model_validate(data)
    except ValidationError as exc:
        out: list[tuple[tuple, str, Hint | None]] = []
        for err in exc.errors(include_url=False):
            if isinstance(err.get("ctx", {}).get("error"), _ReferenceProblems):
                for path, message, *hint in err["ctx"]["error"].args[0]:
                    out.append((tuple(path), message, hint[0] if hint else None))
                continue
            loc = _aliased(tuple(err["loc"]))
            out.append((loc, *_message(err, loc)))
        return None, out[:MAX_PROBLEMS]
    found = [(tuple(p), m, h) for p, m, h in _library_problems(model, controls, None)]
    return (None, found[:MAX_PROBLEMS]) if found else (model, [])


def json_schema() -> dict:
    """The JSON Schema of system.yaml, generated from the models."""
    schema = SystemModel.model_json_schema(by_alias=True)
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "saikit system file"
    return schema


def summary(model: SystemModel) -> dict[str, Any]:
    """Counts for a short report: assets by type, flows, controls, attestations, decisions."""
    return {
        "system": model.system.name,
        "assets": dict(sorted(Counter(a.type for a in model.assets).items())),
        "flows": len(model.flows),
        "controls": len(model.controls),
        "attestations": len(model.attestations),
        "decisions": len(model.decisions),
    }
