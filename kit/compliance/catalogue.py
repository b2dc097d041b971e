"""The ETSI provision catalogue: principles, provisions and phases as validated, read-only data."""

from __future__ import annotations

import difflib
import re
from functools import cache
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, model_validator

from kit.compliance.files import DEFAULT_EDITION, available_editions, catalogue_file
from kit.model import yamlio
from kit.vocab import Phase, Stakeholder

__all__ = [
    "DEFAULT_EDITION",
    "Catalogue",
    "Edition",
    "Modal",
    "Phase",
    "PhaseId",
    "Principle",
    "Provision",
    "Stakeholder",
    "available_editions",
    "load_catalogue",
]


Modal = Literal["shall", "should"]
PhaseId = Phase

_PROVISION_ID = re.compile(r"^(?P<section>\d+\.\d+\.\d+)-\d+(?:\.\d+)?$")
_SECTION = re.compile(r"^\d+(?:\.\d+)*$")


class Edition(BaseModel):
    """The published document a catalogue describes."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str
    document: str
    version: str
    published: str
    title: str


class Phase(BaseModel):
    """A lifecycle phase of the standard (a clause such as 5.1 Secure design)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: PhaseId
    section: str
    title: str


class Principle(BaseModel):
    """One of the standard's numbered principles and the roles it primarily applies to."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    number: int
    section: str
    title: str
    phase: PhaseId
    primarily_applies_to: tuple[Stakeholder, ...]


class Provision(BaseModel):
    """One provision: its modal verbs, who it binds and involves, and saikit's summary of it."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str
    principle: int
    phase: PhaseId  # derived from the principle when the catalogue is loaded
    modal: Modal
    modals: tuple[Modal, ...]
    stakeholders: tuple[Stakeholder, ...]  # bound by the provision's modal verb
    involves: tuple[
        Stakeholder, ...
    ] = ()  # named by it (to inform, support or bring in), not bound
    summary: str

    @model_validator(mode="after")
    def _modal_is_strongest_used(self) -> Provision:
        if not self.modals or len(set(self.modals)) != len(self.modals):
            raise ValueError(f"{self.id}: modals must be non-empty and distinct")
        if self.modal != ("shall" if "shall" in self.modals else "should"):
            raise ValueError(
                f"{self.id}: modal {self.modal!r} is not the strongest of {self.modals}"
            )
        if not self.stakeholders or len(set(self.stakeholders)) != len(self.stakeholders):
            raise ValueError(f"{self.id}: stakeholders must be non-empty and distinct")
        if set(self.involves) & set(self.stakeholders):
            raise ValueError(f"{self.id}: a stakeholder is either bound or involved, not both")
        return self


class Catalogue(BaseModel):
    """A whole edition: its phases, principles and provisions in document order."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    edition: Edition
    phases: tuple[Phase, ...]
    principles: tuple[Principle, ...]
    provisions: tuple[Provision, ...]

    @model_validator(mode="before")
    @classmethod
    def _derive_provision_phases(cls, data: Any) -> Any:
        # The YAML does not repeat each provision's phase; it follows from the principle.
        if not isinstance(data, dict):
            return data
        phase_by_number = {
            p.get("number"): p.get("phase")
            for p in data.get("principles", [])
            if isinstance(p, dict)
        }
        provisions = []
        for raw in data.get("provisions", []):
            if isinstance(raw, dict) and "phase" not in raw:
                if raw.get("principle") not in phase_by_number:
                    raise ValueError(
                        f"provision {raw.get('id')}: unknown principle {raw.get('principle')!r}"
                    )
                raw = {**raw, "phase": phase_by_number[raw["principle"]]}
            provisions.append(raw)
        return {**data, "provisions": provisions}

    @model_validator(mode="after")
    def _check_references(self) -> Catalogue:
        phases = {phase.id: phase for phase in self.phases}
        principles = {principle.number: principle for principle in self.principles}
        if len(phases) != len(self.phases) or len(principles) != len(self.principles):
            raise ValueError("phase IDs and principle numbers must be unique")
        for principle in self.principles:
            phase = phases.get(principle.phase)
            if phase is None:
                raise ValueError(f"principle {principle.number}: unknown phase {principle.phase!r}")
            if not _SECTION.match(principle.section) or not principle.section.startswith(
                phase.section + "."
            ):
                raise ValueError(
                    f"principle {principle.number}: section {principle.section!r} "
                    f"is not inside phase section {phase.section!r}"
                )
        seen: set[str] = set()
        for provision in self.provisions:
            if provision.id in seen:
                raise ValueError(f"duplicate provision ID {provision.id!r}")
            seen.add(provision.id)
            match = _PROVISION_ID.match(provision.id)
            if match is None:
                raise ValueError(f"provision ID {provision.id!r} is not of the form 5.N.N-N[.N]")
            principle = principles.get(provision.principle)
            if principle is None:
                raise ValueError(
                    f"provision {provision.id}: unknown principle {provision.principle}"
                )
            if match["section"] != principle.section:
                raise ValueError(
                    f"provision {provision.id} is not in section {principle.section} "
                    f"of principle {principle.number}"
                )
            if provision.phase != principle.phase:
                raise ValueError(
                    f"provision {provision.id}: phase {provision.phase!r} differs from "
                    f"its principle's phase {principle.phase!r}"
                )
        return self

    @property
    def ids(self) -> tuple[str, ...]:
        """Every provision ID, in document order."""
        return tuple(provision.id for provision in self.provisions)

    def provision(self, provision_id: str) -> Provision:
        """Return the provision with this ID; raise KeyError naming the nearest ID if unknown."""
        for provision in self.provisions:
            if provision.id == provision_id:
                return provision
        nearest = difflib.get_close_matches(provision_id, self.ids, n=1, cutoff=0.0)
        hint = f"; did you mean {nearest[0]!r}?" if nearest else ""
        raise KeyError(f"unknown provision {provision_id!r} in {self.edition.id}{hint}")

    def principle(self, number: int) -> Principle:
        """Return the principle with this number; raise KeyError if there is none."""
        for principle in self.principles:
            if principle.number == number:
                return principle
        raise KeyError(f"unknown principle {number!r} in {self.edition.id}")

    def phase_of(self, provision_id: str) -> PhaseId:
        """Return the ID of the lifecycle phase the provision belongs to."""
        return self.provision(provision_id).phase


def load_catalogue(edition: str = DEFAULT_EDITION) -> Catalogue:
    """Return the validated catalogue for an edition; raise KeyError for an unknown edition."""
    return _load(edition)  # one cache entry per edition, however the argument was passed


@cache
def _load(edition: str) -> Catalogue:
    if edition not in available_editions():
        raise KeyError(f"unknown catalogue edition {edition!r}; available: {available_editions()}")
    text = catalogue_file(edition).read_text(encoding="utf-8")
    catalogue = Catalogue.model_validate(yamlio.parse(text, f"{edition}.yaml").data)
    if catalogue.edition.id != edition:
        raise ValueError(f"{edition}.yaml declares edition {catalogue.edition.id!r}")
    return catalogue
