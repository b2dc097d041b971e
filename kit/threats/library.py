"""The threat library: one YAML file per threat plus controls.yaml, checked when loaded.

A library directory holds `threats/*.yaml` and optionally `controls.yaml`. The shipped library
is `kit.threat_library`; users add their own directories beside it (`--library DIR`).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from kit.errors import InputError, Problem, did_you_mean, format_path
from kit.model import yamlio
from kit.model.schema import AssetType, Slug
from kit.threats.conditions import CONDITION_KEYS, Condition, check_names
from kit.threats.files import files_in, library_files, shipped_directory
from kit.vocab import Phase

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
    for directory in (str(shipped_directory()), *extra):
        base = Path(directory)
        if not base.is_dir():
            raise InputError([Problem(directory, None, "", "library directory not found")])
        lib.directories.append(directory)
        controls_file, threat_files = files_in(base)
        if controls_file:
            problems += _read_controls(controls_file, lib, provisions)
        if not threat_files and not controls_file:
            problems.append(
                Problem(directory, None, "", "no threats/*.yaml and no controls.yaml here")
            )
        for path in threat_files:
            try:
                doc = yamlio.load_file(path)
            except InputError as exc:
                problems += exc.problems
                continue
            threat = _validate(Threat, doc, problems)
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
            raw_threats.append((threat, doc))
    for threat, doc in raw_threats:
        problems += _check_threat(threat, doc, lib, provisions)
    if problems:
        raise InputError(problems)
    return lib


def _read_controls(path: Path, lib: Library, provisions: set[str]) -> list[Problem]:
    problems: list[Problem] = []
    try:
        doc = yamlio.load_file(path)
    except InputError as exc:
        return exc.problems
    parsed = _validate(ControlsFile, doc, problems)
    if parsed is None:
        return problems
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
                problems.append(
                    Problem(
                        str(path),
                        doc.line(where),
                        format_path(where),
                        f"unknown provision '{pid}'{did_you_mean(pid, provisions)}",
                    )
                )
    return problems


def _check_threat(threat: Threat, doc: yamlio.Document, lib: Library, provisions: set[str]):
    def at(path: tuple, message: str) -> Problem:
        return Problem(doc.file, doc.line(path), format_path(path), message)

    out: list[Problem] = []
    if threat.when is not None:
        out += [at(("when",) + p, m) for p, m in check_names(threat.when)]
    for i, factor in enumerate(threat.factors):
        out += [at(("factors", i, "when") + p, m) for p, m in check_names(factor.when)]
    for i, mit in enumerate(threat.controls):
        if mit.control not in lib.controls:
            out.append(
                at(
                    ("controls", i, "control"),
                    f"unknown control '{mit.control}'{did_you_mean(mit.control, lib.controls)}",
                )
            )
    for i, pid in enumerate(threat.provisions):
        if pid not in provisions:
            out.append(
                at(("provisions", i), f"unknown provision '{pid}'{did_you_mean(pid, provisions)}")
            )
    return out


def _validate(cls: type[BaseModel], doc: yamlio.Document, problems: list[Problem]):
    if not isinstance(doc.data, dict):
        problems.append(Problem(doc.file, doc.line(()), "", "the top level must be a mapping"))
        return None
    try:
        return cls.model_validate(doc.data)
    except ValidationError as exc:
        for err in exc.errors(include_url=False):
            loc = strip_tags(err["loc"])
            problems.append(
                Problem(doc.file, doc.line(loc), format_path(loc), _message(err, loc, doc))
            )
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


def _message(err: dict, loc: tuple, doc: yamlio.Document) -> str:
    kind, value = err["type"], err.get("input")
    if kind == "extra_forbidden":
        return f"unknown field '{loc[-1]}'{did_you_mean(str(loc[-1]), _KNOWN_FIELDS)}"
    if kind == "condition_kind":
        keys = list(value) if isinstance(value, dict) else []
        hint = did_you_mean(str(keys[0]), CONDITION_KEYS) if len(keys) == 1 else ""
        return f"{err['msg']}; found {', '.join(map(str, keys)) or _kind(value)}{hint}"
    if kind == "literal_error":
        expected = err["ctx"]["expected"]
        choices = [c.strip(" '") for c in expected.replace(" or ", ", ").split(",")]
        return f"'{value}' is not allowed{did_you_mean(str(value), choices)}; expected one of: {', '.join(choices)}"
    if kind == "missing":
        return "required field is missing"
    return err["msg"].removeprefix("Value error, ")


def _kind(value) -> str:
    return type(value).__name__


_KNOWN_FIELDS = sorted(
    set(Threat.model_fields)
    | set(Control.model_fields)
    | set(Factor.model_fields)
    | set(Mitigation.model_fields)
    | set(Reference.model_fields)
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
