"""The threat library: one YAML file per threat plus controls.yaml, checked when loaded.

A library directory holds `threats/*.yaml` and optionally `controls.yaml`. The shipped library
is `kit.threat_library`; users add their own directories beside it (`--library DIR`).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from functools import cache, lru_cache
from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from kit.errors import MAX_PROBLEMS, Hint, InputError, Problem, Suggestions, format_path
from kit.model import yamlio
from kit.model.schema import AssetType, Slug, SystemModel, check_part
from kit.threats.conditions import CONDITION_KEYS, Condition, check_names, count_tests
from kit.threats.files import files_in, library_files, shipped_directory
from kit.vocab import Phase

# Bounds on the library in force (the shipped one and every --library folder together), far
# above what a real library needs (the shipped one: 43 threats, 678 tests of which 147 graph
# tests, 15,188 values with its examples, none of its files over 900), so that a hostile folder
# is refused before it costs seconds or memory: threat files, values per file and in all files
# together, tests in all `when` conditions (factors' too) and, of them, graph tests.
MAX_THREATS = 1_000
MAX_FILE_VALUES = 50_000
MAX_LIBRARY_VALUES = 1_000_000
MAX_TESTS = 10_000
MAX_GRAPH_TESTS = 1_000

Score = Annotated[int, Field(ge=1, le=5)]
Shift = Annotated[int, Field(ge=-4, le=4)]
ProvisionId = Annotated[str, Field(pattern=r"^5\.\d\.\d-\d+(\.\d+)?$")]
Category = Literal[
    "integrity", "confidentiality", "privacy", "availability", "misuse", "supply_chain"
]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)


class Reference(_Strict):
    """An entry in an external taxonomy, with the edition its ID belongs to."""

    taxonomy: Literal["mitre-atlas", "owasp-ml", "owasp-llm", "owasp-agentic", "nist-ai-100-2"]
    id: Annotated[str, Field(min_length=1, max_length=80)]
    edition: Annotated[str, Field(min_length=1, max_length=20)]
    name: str | None = None

    @property
    def label(self) -> str:
        """'AML.T0051.000 (mitre-atlas 5.6.0)'; an ID that carries its year already, such as
        'LLM01:2025', is not followed by the edition again."""
        if self.id.endswith(f":{self.edition}"):
            return f"{self.id} ({self.taxonomy})"
        return f"{self.id} ({self.taxonomy} {self.edition})"


class Factor(_Strict):
    """A circumstance that raises or lowers the base likelihood or impact."""

    when: Condition
    likelihood: Shift = 0
    impact: Shift = 0
    reason: Annotated[str, Field(min_length=3, max_length=300)]


class Mitigation(_Strict):
    """A control that lowers this threat's likelihood and/or impact when implemented."""

    control: Slug
    likelihood: Annotated[int, Field(ge=-4, le=0)] = 0
    impact: Annotated[int, Field(ge=-4, le=0)] = 0


class FiresExample(_Strict):
    """A minimal system on which the threat must be raised, at asset `at`."""

    name: Annotated[str, Field(min_length=3, max_length=300)]
    at: Slug
    system: dict


class QuietExample(_Strict):
    """A near miss: a minimal system on which the threat must not be raised anywhere."""

    name: Annotated[str, Field(min_length=3, max_length=300)]
    system: dict


class Examples(_Strict):
    """A threat's own test cases, run by the test suite and `saikit check-library`."""

    fires: Annotated[list[FiresExample], Field(min_length=1)]
    quiet: Annotated[list[QuietExample], Field(min_length=1)]


@dataclass(frozen=True)
class Example:
    """One checked example: its system validated, where it is written."""

    threat: str
    kind: str  # "fires" or "quiet"
    index: int
    name: str
    at: str | None  # the asset a "fires" example must raise the threat on
    model: SystemModel
    file: str
    line: int | None


class Threat(_Strict):
    """One AI threat: what it is, when it applies, how likely and harmful, what mitigates it."""

    id: Slug
    name: Annotated[str, Field(min_length=3, max_length=120)]
    summary: Annotated[str, Field(min_length=20, max_length=1500)]
    detection: Annotated[str, Field(min_length=20, max_length=1500)]
    category: Category
    phases: Annotated[list[Phase], Field(min_length=1)]
    ai_types: Annotated[list[Literal["predictive", "generative", "agentic"]], Field(min_length=1)]
    attaches_to: Annotated[list[AssetType], Field(min_length=1)]
    when: Condition | None = None
    likelihood: Score
    impact: Score
    factors: list[Factor] = Field(default_factory=list)
    false_positives: list[Annotated[str, Field(max_length=500)]] = Field(default_factory=list)
    examples: Examples | None = None
    controls: list[Mitigation] = Field(default_factory=list)
    provisions: Annotated[list[ProvisionId], Field(min_length=1)]
    references: Annotated[list[Reference], Field(min_length=1)]

    @field_validator("attaches_to", "ai_types", "phases", mode="before")
    @classmethod
    def _one_or_many(cls, value):
        return [value] if isinstance(value, str) else value


class Control(_Strict):
    """A safeguard a system can apply to its assets."""

    id: Slug
    name: Annotated[str, Field(min_length=3, max_length=120)]
    description: Annotated[str, Field(min_length=10, max_length=1500)]
    applies_to: Annotated[list[AssetType], Field(min_length=1)]
    provisions: list[ProvisionId] = Field(default_factory=list)
    atlas: list[Annotated[str, Field(pattern=r"^AML\.M\d{4}$")]] = Field(default_factory=list)


class ControlsFile(_Strict):
    controls: list[Control]


@dataclass
class Library:
    """Every threat and control in force, with the file each came from."""

    threats: dict[str, Threat] = field(default_factory=dict)
    controls: dict[str, Control] = field(default_factory=dict)
    sources: dict[str, str] = field(default_factory=dict)  # "threat:<id>" / "control:<id>" → file
    directories: list[str] = field(default_factory=list)
    # The engine's canonical text of each condition, by id(): the library keeps them all alive.
    condition_keys: dict[int, str] = field(default_factory=dict, repr=False, compare=False)
    # Where each threat's conditions are written ((file, line) of its `when`, by threat ID), so
    # that the engine can say where a library goes over its bounds.
    places: dict[str, tuple[str, int | None]] = field(default_factory=dict, repr=False)
    # Each threat's examples, their systems checked (kit.threats.examples runs them).
    examples: dict[str, list[Example]] = field(default_factory=dict, repr=False, compare=False)


def load_library(extra: list[str | os.PathLike] | tuple = ()) -> Library:
    """Load the shipped library plus any extra directories; raise InputError on any problem.

    Loads are cached for as long as no file in the directories changes.
    """
    dirs = tuple(str(d) for d in extra)
    return _load(dirs, _signature(library_files(dirs)))


def _signature(paths: list[Path]) -> tuple:
    """The name, size and mtime of each file."""
    out = []
    for p in paths:
        try:
            st = p.stat()
        except OSError:
            continue
        out.append((str(p), st.st_size, st.st_mtime_ns))
    return tuple(out)


@lru_cache(maxsize=16)
def _load(extra: tuple[str, ...], signature: tuple) -> Library:
    from kit.compliance.catalogue import load_catalogue

    lib = Library()
    problems: list[Problem] = []
    raw_threats: list[tuple[Threat, yamlio.Document]] = []
    provisions = set(load_catalogue().ids)
    folders = []
    for directory in (str(shipped_directory()), *extra):
        base = Path(directory)
        if not base.is_dir():
            raise InputError([Problem(directory, None, "", "library directory not found")])
        lib.directories.append(directory)
        folders.append((directory, *files_in(base)))
    _refuse_too_many_threats(folders)
    read = _Reader()
    for directory, controls_file, threat_files in folders:
        if controls_file:
            problems += _read_controls(controls_file, lib, provisions, read)
        if not threat_files and not controls_file:
            problems.append(
                Problem(directory, None, "", "no threats/*.yaml and no controls.yaml here")
            )
        for path in threat_files:
            if len(problems) >= MAX_PROBLEMS:
                raise InputError(problems, uncounted=None)
            doc = read(path, problems)
            threat = None if doc is None else _validate(Threat, doc, problems)
            if threat is None:
                continue
            key = f"threat:{threat.id}"
            if key in lib.sources:
                problems.append(
                    Problem(
                        str(path),
                        doc.line(("id",)),
                        "id",
                        f"threat id '{threat.id}' is already defined in {lib.sources[key]}",
                    )
                )
                continue
            lib.threats[threat.id] = threat
            lib.sources[key] = str(path)
            lib.places[threat.id] = (str(path), doc.line(("when",)))
            raw_threats.append((threat, doc))
    problems += _too_many_tests(raw_threats)
    names: dict[str, Suggestions] = {}  # to suggest from, made at the first need
    for threat, doc in raw_threats:
        if len(problems) >= MAX_PROBLEMS:
            raise InputError(problems, uncounted=None)
        problems += _check_threat(threat, doc, lib, provisions, names)
    if problems:
        raise InputError(problems)
    return lib


def _refuse_too_many_threats(folders: list[tuple[str, Path | None, list[Path]]]) -> None:
    """Refuse more than MAX_THREATS threat files, naming the folder that goes over, before any
    is read."""
    total = sum(len(threats) for *_, threats in folders)
    seen = 0
    for directory, _, threats in folders:
        seen += len(threats)
        if seen > MAX_THREATS:
            raise InputError(
                [
                    Problem(
                        directory,
                        None,
                        "",
                        f"the library in force has {total:,} threat files ({len(threats):,} "
                        f"here); the limit is {MAX_THREATS:,}",
                    )
                ]
            )


class _Reader:
    """Reads the library's files one by one, each bounded to MAX_FILE_VALUES values and all
    together to MAX_LIBRARY_VALUES; a file that cannot be read adds its problems."""

    def __init__(self) -> None:
        self.values = 0

    def __call__(self, path: Path, problems: list[Problem]) -> yamlio.Document | None:
        try:
            doc = yamlio.load_file(path, max_values=MAX_FILE_VALUES)
        except InputError as exc:
            problems += exc.problems
            return None
        self.values += doc.values
        if self.values > MAX_LIBRARY_VALUES:
            raise InputError(
                [
                    Problem(
                        str(path),
                        None,
                        "",
                        f"the library's files hold more than {MAX_LIBRARY_VALUES:,} values "
                        "together with this one; that is the limit",
                    )
                ]
            )
        return doc


def _too_many_tests(raw_threats: list[tuple[Threat, yamlio.Document]]) -> list[Problem]:
    """A problem at the threat whose conditions take the library past MAX_TESTS tests, or past
    MAX_GRAPH_TESTS graph tests (upstream, downstream, neighbour)."""
    tests = graph = 0
    for threat, doc in raw_threats:
        conditions = [("when",)] if threat.when is not None else []
        conditions += [("factors", i, "when") for i in range(len(threat.factors))]
        for where in conditions:
            cond = threat.when if where == ("when",) else threat.factors[where[1]].when
            more, more_graph = count_tests(cond)
            tests, graph = tests + more, graph + more_graph
            for count, limit, what in (
                (tests, MAX_TESTS, "tests"),
                (graph, MAX_GRAPH_TESTS, "graph tests (upstream, downstream, neighbour)"),
            ):
                if count > limit:
                    message = (
                        f"the library's conditions reach {count:,} {what} here; the limit is "
                        f"{limit:,} for all threats together"
                    )
                    return [Problem(doc.file, doc.line(where), format_path(where), message)]
    return []


def _read_controls(path: Path, lib: Library, provisions: set[str], read: _Reader) -> list[Problem]:
    problems: list[Problem] = []
    doc = read(path, problems)
    if doc is None:
        return problems
    parsed = _validate(ControlsFile, doc, problems)
    if parsed is None:
        return problems
    names = None
    for i, control in enumerate(parsed.controls):
        key = f"control:{control.id}"
        if key in lib.sources:
            problems.append(
                Problem(
                    str(path),
                    doc.line(("controls", i, "id")),
                    f"controls[{i}].id",
                    f"control id '{control.id}' is already defined in {lib.sources[key]}",
                )
            )
            continue
        lib.controls[control.id] = control
        lib.sources[key] = str(path)
        for j, pid in enumerate(control.provisions):
            if pid not in provisions:
                where = ("controls", i, "provisions", j)
                names = names or Suggestions(provisions)
                problems.append(
                    Problem(
                        str(path),
                        doc.line(where),
                        format_path(where),
                        f"unknown provision '{pid}'",
                        Hint(pid, names),
                    )
                )
    return problems


def _check_threat(
    threat: Threat,
    doc: yamlio.Document,
    lib: Library,
    provisions: set[str],
    names: dict[str, Suggestions],
):
    def at(path: tuple, message: str, hint: Hint | None = None) -> Problem:
        return Problem(doc.file, doc.line(path), format_path(path), message, hint)

    def near(word: str, what: str, choices) -> Hint:
        if what not in names:
            names[what] = Suggestions(choices)
        return Hint(word, names[what])

    out: list[Problem] = []
    if threat.when is not None:
        out += [at(("when",) + p, m, h) for p, m, h in check_names(threat.when)]
    for i, factor in enumerate(threat.factors):
        out += [at(("factors", i, "when") + p, m, h) for p, m, h in check_names(factor.when)]
    for i, mit in enumerate(threat.controls):
        if mit.control not in lib.controls:
            hint = near(mit.control, "controls", lib.controls)
            out.append(at(("controls", i, "control"), f"unknown control '{mit.control}'", hint))
    for i, pid in enumerate(threat.provisions):
        if pid not in provisions:
            hint = near(pid, "provisions", provisions)
            out.append(at(("provisions", i), f"unknown provision '{pid}'", hint))
    if threat.examples is not None:
        out += _check_examples(threat, doc, lib, at)
    return out


def _check_examples(threat: Threat, doc: yamlio.Document, lib: Library, at) -> list[Problem]:
    """Validate each example's system as a system file; keep the good ones in lib.examples."""
    out: list[Problem] = []
    kept = lib.examples.setdefault(threat.id, [])
    for kind in ("fires", "quiet"):
        for i, ex in enumerate(getattr(threat.examples, kind)):
            where = ("examples", kind, i)
            model, found = check_part(ex.system, lib.controls)
            out += [at(where + ("system", *p), m, h) for p, m, h in found]
            if model is None:
                continue
            target = getattr(ex, "at", None)
            if target is not None:
                asset = model.asset_by_id.get(target)
                if asset is None:
                    out.append(at(where + ("at",), f"'{target}' is not an asset of this example"))
                    continue
                if asset.type not in threat.attaches_to:
                    out.append(
                        at(
                            where + ("at",),
                            f"'{target}' is a {asset.type}; this threat attaches to "
                            f"{' / '.join(threat.attaches_to)}",
                        )
                    )
                    continue
            line = doc.line(where)
            kept.append(Example(threat.id, kind, i, ex.name, target, model, doc.file, line))
    return out


def _validate(cls: type[BaseModel], doc: yamlio.Document, problems: list[Problem]):
    """`doc` validated as `cls`, or None with its problems added (no more than MAX_PROBLEMS in
    all: past that the caller stops)."""
    if not isinstance(doc.data, dict):
        problems.append(Problem(doc.file, doc.line(()), "", "the top level must be a mapping"))
        return None
    try:
        return cls.model_validate(doc.data)
    except ValidationError as exc:
        for err in exc.errors(include_url=False):
            if len(problems) >= MAX_PROBLEMS:
                break
            loc = strip_tags(err["loc"])
            message, hint = _message(err, loc, doc)
            problems.append(Problem(doc.file, doc.line(loc), format_path(loc), message, hint))
        return None


def strip_tags(loc: tuple) -> tuple:
    """Drop pydantic's union tags from an error location inside conditions."""
    out: list = []
    expect_tag = False
    for part in loc:
        if expect_tag and part in CONDITION_KEYS:
            expect_tag = False  # the tag names the condition's kind; the path already shows it
            continue
        expect_tag = False
        out.append(part)
        if part in ("when", "where", "not") or (
            isinstance(part, int) and len(out) > 1 and out[-2] in ("all", "any")
        ):
            expect_tag = True
    return tuple(out)


def _message(err: dict, loc: tuple, doc: yamlio.Document) -> tuple[str, Hint | None]:
    kind, value = err["type"], err.get("input")
    if kind == "extra_forbidden":
        return f"unknown field '{loc[-1]}'", Hint(str(loc[-1]), _names(tuple(_KNOWN_FIELDS)))
    if kind == "condition_kind":
        keys = list(value) if isinstance(value, dict) else []
        shown = ", ".join(map(str, keys[:8])) + (", …" if len(keys) > 8 else "")
        message = f"{err['msg']}; found {shown or _kind(value)}"
        if len(keys) == 1:
            return message, Hint(str(keys[0]), _names(CONDITION_KEYS))
        return message, None
    if kind == "literal_error":
        expected = err["ctx"]["expected"]
        choices = [c.strip(" '") for c in expected.replace(" or ", ", ").split(",")]
        after = f"; expected one of: {', '.join(choices)}"
        return f"'{value}' is not allowed", Hint(str(value), _names(tuple(choices)), after)
    if kind == "missing":
        return "required field is missing", None
    return err["msg"].removeprefix("Value error, "), None


@cache
def _names(choices: tuple[str, ...]) -> Suggestions:
    return Suggestions(choices)


def _kind(value) -> str:
    return type(value).__name__


_KNOWN_FIELDS = sorted(
    set(Threat.model_fields)
    | set(Control.model_fields)
    | set(Factor.model_fields)
    | set(Mitigation.model_fields)
    | set(Reference.model_fields)
    | set(Examples.model_fields)
    | set(FiresExample.model_fields)
    | {
        "attribute",
        "equals",
        "in",
        "exists",
        "contains",
        "beyond",
        "kinds",
        "depth",
        "flow",
        "where",
    }
    | set(CONDITION_KEYS)
)


def library_schema() -> dict:
    """JSON Schemas of a threat file and of controls.yaml, generated from the models."""
    return {
        "threat": Threat.model_json_schema(by_alias=True),
        "controls": ControlsFile.model_json_schema(by_alias=True),
    }
