"""The external taxonomies the threat library references, pinned by edition.

`threat_library/taxonomies.yaml` keeps the facts the kit uses (IDs, names, editions) and, for
each item, whether a design-time threat model covers it or why not. A threat's reference names a
taxonomy, an ID and an edition; `Taxonomies.item` finds the item it points at.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from kit.errors import InputError, Problem, format_path
from kit.model import yamlio
from kit.threats.files import shipped_directory

TAXONOMIES_FILE = "taxonomies.yaml"

Name = Annotated[str, Field(min_length=1, max_length=200)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)


class Item(_Strict):
    """One entry of a taxonomy: in scope unless `out` names the reason it is not."""

    id: Annotated[str, Field(min_length=1, max_length=80)]
    name: Name
    out: str | None = None


class Moved(_Strict):
    """An ID that a later release renamed or retired, and where it went."""

    id: str
    to: str
    release: str
    name: Name


class Taxonomy(_Strict):
    """One edition of one taxonomy."""

    id: str
    name: Name
    edition: Annotated[str, Field(min_length=1, max_length=20)]
    items: Annotated[list[Item], Field(min_length=1)]
    mitigations: list[Item] = Field(default_factory=list)
    moved: list[Moved] = Field(default_factory=list)

    @property
    def key(self) -> tuple[str, str]:
        return (self.id, self.edition)

    def full_name(self, item: Item) -> str:
        """The item's name with its parent technique's first, for sub-techniques (`AML.T0051.001`
        → 'LLM Prompt Injection: Indirect')."""
        parent_id, dot, _ = item.id.rpartition(".")
        if self.id == "mitre-atlas" and dot and parent_id.count(".") == 1:
            parent = next((i for i in self.items if i.id == parent_id), None)
            if parent is not None:
                return f"{parent.name}: {item.name}"
        return item.name


class TaxonomiesFile(_Strict):
    reasons: dict[str, Annotated[str, Field(min_length=10, max_length=600)]]
    taxonomies: Annotated[list[Taxonomy], Field(min_length=1)]

    @model_validator(mode="after")
    def _reasons_known_ids_unique(self) -> TaxonomiesFile:
        seen: set[tuple[str, str]] = set()
        for tax in self.taxonomies:
            if tax.key in seen:
                raise ValueError(f"{tax.id} edition {tax.edition} is listed twice")
            seen.add(tax.key)
            ids: set[str] = set()
            for item in [*tax.items, *tax.mitigations]:
                if item.id in ids:
                    raise ValueError(f"{tax.id} {tax.edition}: '{item.id}' is listed twice")
                ids.add(item.id)
                if item.out is not None and item.out not in self.reasons:
                    raise ValueError(f"{tax.id} {item.id}: unknown reason '{item.out}'")
        return self


@dataclass(frozen=True)
class Taxonomies:
    """Every pinned taxonomy edition, and the reasons items are out of scope."""

    taxonomies: tuple[Taxonomy, ...]
    reasons: dict[str, str]
    file: str

    def get(self, taxonomy: str, edition: str) -> Taxonomy | None:
        """The pinned edition of a taxonomy, or None if the kit does not pin it."""
        return next((t for t in self.taxonomies if t.key == (taxonomy, edition)), None)

    def item(self, taxonomy: str, edition: str, item_id: str) -> Item | None:
        """The item a reference points at, or None if no pinned edition has that ID."""
        tax = self.get(taxonomy, edition)
        return None if tax is None else next((i for i in tax.items if i.id == item_id), None)

    def moved_to(self, item_id: str) -> Moved | None:
        """Where a later ATLAS release moved this ID, if it did."""
        atlas = [t for t in self.taxonomies if t.id == "mitre-atlas"]
        return next((m for t in atlas for m in t.moved if m.id == item_id), None)


def load_taxonomies(path: str | Path | None = None) -> Taxonomies:
    """The pinned taxonomies (the shipped file unless `path`); InputError if the file is wrong."""
    file = Path(path) if path is not None else shipped_directory() / TAXONOMIES_FILE
    return _load(str(file))


@cache
def _load(file: str) -> Taxonomies:
    doc = yamlio.load_file(file)
    try:
        parsed = TaxonomiesFile.model_validate(doc.data)
    except ValidationError as exc:
        problems = []
        for err in exc.errors(include_url=False):
            loc = tuple(err["loc"])
            message = err["msg"].removeprefix("Value error, ")
            problems.append(Problem(file, doc.line(loc), format_path(loc), message))
        raise InputError(problems) from None
    return Taxonomies(tuple(parsed.taxonomies), dict(parsed.reasons), file)
