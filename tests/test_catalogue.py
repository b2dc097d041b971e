"""The provision catalogue: its shape, its agreement with the standard, and its own wording."""

from __future__ import annotations

import copy
import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic import ValidationError

from kit.compliance.catalogue import (
    DEFAULT_EDITION,
    Catalogue,
    available_editions,
    catalogue_file,
    load_catalogue,
)

REFERENCE = (
    Path(__file__).resolve().parents[1].parent
    / "shared"
    / "reference"
    / "etsi-ts-104-223-v1.1.1.md"
)
ID_FORM = re.compile(r"^5\.\d\.\d-\d+(\.\d+)?$")
ROLE_NAMES = {  # capitalised role names in the standard; lowercase "developers" means staff
    "developer": re.compile(r"\bDevelopers?\b"),
    "system_operator": re.compile(r"\bSystem Operators?\b"),
    "data_custodian": re.compile(r"\bData Custodians?\b"),
}
STAKEHOLDER_NAMES = {
    **ROLE_NAMES,
    "end_user": re.compile(r"\bEnd-?[Uu]sers?\b"),
    "affected_entity": re.compile(r"\bAffected Entit(?:y|ies)\b"),
}
COPYRIGHT_RUN = 8  # a summary must not share this many consecutive words with the standard


def _words(text: str) -> list[str]:
    return re.findall(r"[a-z0-9]+", text.lower())


@pytest.fixture(scope="module")
def catalogue() -> Catalogue:
    return load_catalogue()


@pytest.fixture()
def raw_catalogue() -> dict[str, Any]:
    text = catalogue_file().read_text(encoding="utf-8")
    return copy.deepcopy(yaml.safe_load(text))


@pytest.fixture(scope="module")
def reference_text() -> str:
    if not REFERENCE.is_file():
        pytest.skip(f"reference text not present at {REFERENCE}")
    return REFERENCE.read_text(encoding="utf-8")


@pytest.fixture(scope="module")
def reference_provisions(reference_text: str) -> dict[str, str]:
    """Provision ID -> provision text, in document order."""
    return dict(re.findall(r"^\*\*Provision (\S+)\*\*\s+(.*?)\s*$", reference_text, re.M))


@pytest.fixture(scope="module")
def reference_principles(reference_text: str) -> list[dict[str, Any]]:
    """Each principle heading with its section, title and 'Primarily applies to' roles."""
    heading = re.compile(r"^#+ (\d+\.\d+\.\d+) Principle (\d+): (.+?)\s*$", re.M)
    matches = list(heading.finditer(reference_text))
    principles = []
    for match, following in zip(matches, [*matches[1:], None]):
        block = reference_text[match.end() : following.start() if following else None]
        applies = re.search(r"^Primarily applies to: (.*)$", block, re.M)
        roles = {
            role for role, name in ROLE_NAMES.items() if applies and name.search(applies.group(1))
        }
        principles.append(
            {
                "section": match.group(1),
                "number": int(match.group(2)),
                "title": match.group(3),
                "roles": roles,
            }
        )
    return principles


def test_default_edition_is_shipped_in_the_package() -> None:
    assert DEFAULT_EDITION in available_editions()


def test_load_catalogue_returns_the_same_cached_object() -> None:
    assert load_catalogue() is load_catalogue(DEFAULT_EDITION)


def test_unknown_edition_raises_key_error_listing_available_editions() -> None:
    with pytest.raises(KeyError, match=DEFAULT_EDITION):
        load_catalogue("etsi-ts-104-223-v9")


def test_catalogue_has_72_provisions_13_principles_and_5_phases(catalogue: Catalogue) -> None:
    assert (len(catalogue.provisions), len(catalogue.principles), len(catalogue.phases)) == (
        72,
        13,
        5,
    )
    assert [p.id for p in catalogue.phases] == [
        "design",
        "development",
        "deployment",
        "maintenance",
        "end_of_life",
    ]
    assert [p.number for p in catalogue.principles] == list(range(1, 14))


def test_provision_ids_are_unique_and_well_formed(catalogue: Catalogue) -> None:
    assert len(set(catalogue.ids)) == len(catalogue.ids)
    assert [i for i in catalogue.ids if not ID_FORM.match(i)] == []


def test_each_provision_id_lies_in_its_principles_section(catalogue: Catalogue) -> None:
    misplaced = [
        p.id
        for p in catalogue.provisions
        if p.id.split("-")[0] != catalogue.principle(p.principle).section
    ]
    assert misplaced == []


def test_modal_is_shall_exactly_when_shall_is_among_the_modals(catalogue: Catalogue) -> None:
    for provision in catalogue.provisions:
        assert (provision.modal == "shall") == ("shall" in provision.modals), provision.id


def test_provision_5_1_3_1_1_belongs_to_principle_3_in_the_design_phase(
    catalogue: Catalogue,
) -> None:
    provision = catalogue.provision("5.1.3-1.1")
    assert provision.principle == 3
    assert provision.phase == "design"
    assert catalogue.phase_of("5.1.3-1.1") == "design"


def test_sub_provision_5_2_4_1_2_is_in_section_5_2_4_development(catalogue: Catalogue) -> None:
    provision = catalogue.provision("5.2.4-1.2")
    assert catalogue.principle(provision.principle).section == "5.2.4"
    assert provision.phase == "development"


def test_unknown_provision_id_raises_key_error_naming_the_nearest_id(
    catalogue: Catalogue,
) -> None:
    with pytest.raises(KeyError, match=re.escape("did you mean '5.1.3-1.1'")):
        catalogue.provision("5.1.3-11")


def test_unknown_principle_number_raises_key_error(catalogue: Catalogue) -> None:
    with pytest.raises(KeyError, match="14"):
        catalogue.principle(14)


def test_summaries_are_one_sentence_of_12_to_35_words(catalogue: Catalogue) -> None:
    for provision in catalogue.provisions:
        assert 12 <= len(provision.summary.split()) <= 35, provision.id
        assert provision.summary.endswith("."), provision.id
        assert not re.search(r"[.!?]\s", provision.summary), provision.id


def test_catalogue_models_are_frozen(catalogue: Catalogue) -> None:
    with pytest.raises(ValidationError):
        catalogue.provision("5.1.1-1").modal = "should"  # type: ignore[misc]


def test_duplicate_provision_id_is_rejected(raw_catalogue: dict[str, Any]) -> None:
    raw_catalogue["provisions"][1]["id"] = raw_catalogue["provisions"][0]["id"]
    with pytest.raises(ValidationError, match="duplicate provision ID"):
        Catalogue.model_validate(raw_catalogue)


def test_provision_id_outside_its_principles_section_is_rejected(
    raw_catalogue: dict[str, Any],
) -> None:
    raw_catalogue["provisions"][0]["id"] = "5.1.2-9"
    with pytest.raises(ValidationError, match="not in section 5.1.1"):
        Catalogue.model_validate(raw_catalogue)


def test_provision_naming_an_unknown_principle_is_rejected(raw_catalogue: dict[str, Any]) -> None:
    raw_catalogue["provisions"][0]["principle"] = 99
    with pytest.raises(ValidationError, match="unknown principle 99"):
        Catalogue.model_validate(raw_catalogue)


def test_principle_in_an_unknown_phase_is_rejected(raw_catalogue: dict[str, Any]) -> None:
    raw_catalogue["phases"] = raw_catalogue["phases"][:-1]  # drop end_of_life
    with pytest.raises(ValidationError, match="unknown phase 'end_of_life'"):
        Catalogue.model_validate(raw_catalogue)


def test_should_modal_on_a_provision_that_uses_shall_is_rejected(
    raw_catalogue: dict[str, Any],
) -> None:
    raw_catalogue["provisions"][0]["modal"] = "should"
    with pytest.raises(ValidationError, match="not the strongest"):
        Catalogue.model_validate(raw_catalogue)


def test_unknown_field_is_rejected(raw_catalogue: dict[str, Any]) -> None:
    raw_catalogue["provisions"][0]["severity"] = "high"
    with pytest.raises(ValidationError, match="severity"):
        Catalogue.model_validate(raw_catalogue)


def test_a_stakeholder_is_bound_or_involved_never_both(raw_catalogue: dict[str, Any]) -> None:
    raw_catalogue["provisions"][0]["involves"] = [raw_catalogue["provisions"][0]["stakeholders"][0]]
    with pytest.raises(ValidationError, match="either bound or involved"):
        Catalogue.model_validate(raw_catalogue)


def test_an_unknown_stakeholder_is_rejected(raw_catalogue: dict[str, Any]) -> None:
    raw_catalogue["provisions"][0]["involves"] = ["shareholder"]
    with pytest.raises(ValidationError, match="involves"):
        Catalogue.model_validate(raw_catalogue)


def test_provision_ids_match_the_standard_in_document_order(
    catalogue: Catalogue, reference_provisions: dict[str, str]
) -> None:
    assert list(catalogue.ids) == list(reference_provisions)


def test_modals_are_those_the_standard_uses_in_order_of_first_use(
    catalogue: Catalogue, reference_provisions: dict[str, str]
) -> None:
    for provision in catalogue.provisions:
        used = re.findall(r"\b(shall|should)\b", reference_provisions[provision.id], re.I)
        assert list(provision.modals) == list(dict.fromkeys(m.lower() for m in used)), provision.id


def test_principle_numbers_sections_and_titles_match_the_standard(
    catalogue: Catalogue, reference_principles: list[dict[str, Any]]
) -> None:
    assert [(p.number, p.section, p.title) for p in catalogue.principles] == [
        (p["number"], p["section"], p["title"]) for p in reference_principles
    ]


def test_primarily_applies_to_matches_the_standard(
    catalogue: Catalogue, reference_principles: list[dict[str, Any]]
) -> None:
    for principle, reference in zip(catalogue.principles, reference_principles, strict=True):
        assert set(principle.primarily_applies_to) == reference["roles"], principle.number


def test_stakeholders_are_the_roles_named_or_else_the_principles_roles(
    catalogue: Catalogue, reference_provisions: dict[str, str]
) -> None:
    for provision in catalogue.provisions:
        text = reference_provisions[provision.id]
        named = {who for who, name in STAKEHOLDER_NAMES.items() if name.search(text)}
        if named:
            assert set(provision.stakeholders) <= named, provision.id
        else:
            principle = catalogue.principle(provision.principle)
            assert set(provision.stakeholders) == set(principle.primarily_applies_to), provision.id


def test_no_summary_shares_8_consecutive_words_with_the_standard(
    catalogue: Catalogue, reference_text: str
) -> None:
    words = _words(reference_text)
    standard_runs = {
        tuple(words[i : i + COPYRIGHT_RUN]) for i in range(len(words) - COPYRIGHT_RUN + 1)
    }
    copied = {}
    for provision in catalogue.provisions:
        summary = _words(provision.summary)
        runs = {
            tuple(summary[i : i + COPYRIGHT_RUN]) for i in range(len(summary) - COPYRIGHT_RUN + 1)
        }
        if runs & standard_runs:
            copied[provision.id] = [" ".join(run) for run in runs & standard_runs]
    assert copied == {}


def test_every_stakeholder_the_standard_names_is_bound_or_involved(
    catalogue: Catalogue, reference_provisions: dict[str, str]
) -> None:
    for provision in catalogue.provisions:
        text = reference_provisions[provision.id]
        named = {who for who, name in STAKEHOLDER_NAMES.items() if name.search(text)}
        assert named <= set(provision.stakeholders) | set(provision.involves), provision.id
        assert set(provision.involves) <= named, provision.id  # involved only where named
    assert catalogue.provision("5.2.1-4").stakeholders[-1] == "end_user"
    assert "data_custodian" in catalogue.provision("5.5.1-2").involves
    assert "affected_entity" in catalogue.provision("5.3.1-3").involves
