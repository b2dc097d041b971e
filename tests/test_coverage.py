"""The library covers the pinned taxonomies: IDs exist, in-scope items have threats, the ATLAS
list is the release's own, the matrix in docs/ is the one the kit makes, and the threats' own
fire/quiet examples hold."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from kit.errors import InputError
from kit.graph import build
from kit.model.schema import SystemModel
from kit.threats.coverage import coverage, coverage_markdown
from kit.threats.engine import evaluate
from kit.threats.files import shipped_directory
from kit.threats.library import load_library
from kit.threats.taxonomy import load_taxonomies

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "reference"
ATLAS_DATA = SHARED / "atlas" / "ATLAS-5.6.0.yaml"
TAXONOMIES_MD = SHARED / "taxonomies.md"


@pytest.fixture(scope="module")
def library():
    return load_library()


@pytest.fixture(scope="module")
def taxonomies():
    return load_taxonomies()


@pytest.fixture(scope="module")
def cov(library, taxonomies):
    return coverage(library, taxonomies)


@pytest.fixture(scope="module")
def atlas_release() -> dict:
    if not ATLAS_DATA.is_file():
        pytest.skip(f"ATLAS release data not present at {ATLAS_DATA}")
    return yaml.safe_load(ATLAS_DATA.read_text(encoding="utf-8"))


def _user_library(root: Path, threat_id: str, references: str) -> Path:
    """A one-threat library folder whose threat is a shipped one renamed, with `references`."""
    text = (shipped_directory() / "threats" / "evasion.yaml").read_text(encoding="utf-8")
    text = text.replace("id: evasion", f"id: {threat_id}", 1)
    text = text.split("\nreferences:\n")[0] + "\nreferences:\n" + references
    (root / "threats").mkdir(parents=True)
    (root / "threats" / f"{threat_id}.yaml").write_text(text, encoding="utf-8")
    return root


# --- the kit's pinned list against the release ----------------------------------------------


def test_pinned_atlas_is_the_shared_release_id_for_id_and_name_for_name(taxonomies, atlas_release):
    atlas = taxonomies.get("mitre-atlas", atlas_release["version"])
    assert atlas is not None, f"ATLAS {atlas_release['version']} is not pinned"
    [matrix] = atlas_release["matrices"]
    release = {t["id"]: t["name"] for t in matrix["techniques"]}
    assert {i.id: i.name for i in atlas.items} == release
    mitigations = {m["id"]: m["name"] for m in matrix["mitigations"]}
    assert {m.id: m.name for m in atlas.mitigations} == mitigations


def test_moved_atlas_ids_are_the_ones_the_reference_page_names(taxonomies):
    if not TAXONOMIES_MD.is_file():
        pytest.skip(f"taxonomy reference not present at {TAXONOMIES_MD}")
    atlas = taxonomies.get("mitre-atlas", "5.6.0")
    head = TAXONOMIES_MD.read_text(encoding="utf-8").split("| ID | Name |")[0]
    named = set(re.findall(r"AML\.T\d{4}", head.split("## MITRE ATLAS")[1]))
    moved = {m.id for m in atlas.moved}
    assert moved == named - {"AML.T0115"}
    assert {m.to for m in atlas.moved} >= {"AML.T0115.000", "AML.T0115.001", "AML.T0115.002"}
    assert moved <= {i.id for i in atlas.items}
    assert taxonomies.moved_to("AML.T0058").to == "AML.T0115.001"
    assert taxonomies.moved_to("AML.T0051") is None


def test_owasp_editions_are_pinned_with_the_year_in_every_id(taxonomies):
    for key in [("owasp-llm", "2025"), ("owasp-llm", "2026"), ("owasp-agentic", "2026")]:
        tax = taxonomies.get(*key)
        assert tax is not None and len(tax.items) == 10, key
        assert all(i.id.endswith(f":{tax.edition}") for i in tax.items), key
    renumbered = {
        i.name: i.id
        for i in taxonomies.get("owasp-llm", "2026").items
        if i.name in {"Excessive Agency", "Supply Chain"}
    }
    assert renumbered == {"Excessive Agency": "LLM03:2026", "Supply Chain": "LLM04:2026"}


# --- the shipped library against the pinned list ----------------------------------------------


def test_every_shipped_reference_names_a_pinned_item(cov):
    assert cov.unknown == []


def test_every_shipped_reference_name_is_the_pinned_name(library, taxonomies):
    for tid, threat in library.threats.items():
        for ref in threat.references:
            tax = taxonomies.get(ref.taxonomy, ref.edition)
            item = taxonomies.item(ref.taxonomy, ref.edition, ref.id)
            if ref.name is not None:
                assert ref.name in {item.name, tax.full_name(item)}, f"{tid}: {ref.id} {ref.name}"


def test_every_in_scope_item_has_a_threat_and_every_fitting_mitigation_a_control(cov):
    assert [(r.taxonomy.id, r.taxonomy.edition, r.item.id) for r in cov.gaps] == []


def test_every_pinned_edition_is_fully_covered(cov, taxonomies):
    for tax in taxonomies.taxonomies:
        done, scoped = cov.counts(tax.key)
        assert scoped > 0 and done == scoped, tax.key


def test_every_control_mitigation_is_a_pinned_atlas_mitigation(library, taxonomies):
    known = {m.id for m in taxonomies.get("mitre-atlas", "5.6.0").mitigations}
    for cid, control in library.controls.items():
        assert set(control.atlas) <= known, cid


def test_out_of_scope_atlas_items_are_not_the_attacks_the_issue_names_in_scope(taxonomies):
    atlas = taxonomies.get("mitre-atlas", "5.6.0")
    scope = {i.id: i.out for i in atlas.items}
    for in_scope in ["AML.T0061", "AML.T0051.002", "AML.T0041", "AML.T0024.001", "AML.T0110"]:
        assert scope[in_scope] is None, in_scope
    assert scope["AML.T0000"] == "recon"


# --- what breaks coverage is caught -------------------------------------------------------------


def test_a_reference_to_an_id_missing_from_the_pinned_taxonomy_is_reported(tmp_path, taxonomies):
    refs = (
        "  - {taxonomy: mitre-atlas, id: AML.T9999, edition: 5.6.0}\n"
        '  - {taxonomy: owasp-llm, id: "LLM03:2025", edition: "2026"}\n'
        '  - {taxonomy: owasp-ml, id: "ML01:2023", edition: "2023"}\n'
    )
    lib = load_library([_user_library(tmp_path / "lib", "my-evasion", refs)])
    unknown = coverage(lib, taxonomies).unknown
    assert unknown == [
        ("my-evasion", "mitre-atlas", "5.6.0", "AML.T9999"),
        ("my-evasion", "owasp-llm", "2026", "LLM03:2025"),
    ]


def test_an_in_scope_item_with_no_threat_and_no_reason_is_a_gap(tmp_path, library):
    text = (shipped_directory() / "taxonomies.yaml").read_text(encoding="utf-8")
    text += (
        '\n  - id: owasp-agentic\n    name: A later edition\n    edition: "2027"\n    items:\n'
        '      - {id: "ASI11:2027", name: Nobody covers this}\n'
        '      - {id: "ASI12:2027", name: Out of reach, out: recon}\n'
    )
    pinned = tmp_path / "taxonomies.yaml"
    pinned.write_text(text, encoding="utf-8")
    gaps = [
        (r.taxonomy.edition, r.item.id) for r in coverage(library, load_taxonomies(pinned)).gaps
    ]
    assert gaps == [("2027", "ASI11:2027")]


def test_a_reason_key_that_is_not_defined_is_located(tmp_path):
    text = (shipped_directory() / "taxonomies.yaml").read_text(encoding="utf-8")
    bad = text.replace(
        "AML.T0001, name: Search Open AI Vulnerability Analysis, out: recon",
        ("AML.T0001, name: Search Open AI Vulnerability Analysis, out: reconn"),
    )
    assert bad != text
    pinned = tmp_path / "taxonomies.yaml"
    pinned.write_text(bad, encoding="utf-8")
    with pytest.raises(InputError) as caught:
        load_taxonomies(pinned)
    assert str(pinned) in str(caught.value)
    assert "unknown reason 'reconn'" in str(caught.value)


# --- the command and the page -------------------------------------------------------------------


def test_library_coverage_prints_the_matrix_and_exits_0(cli):
    status, out, err = cli("library", "coverage")
    assert status == 0, err
    assert "| MITRE ATLAS | 5.6.0 | 109/109 |" in out
    assert re.search(
        r"\| AML\.T0061 \| LLM Prompt Self-Replication \| `prompt-self-replication`", out
    )
    assert "| AML.T0058 | v2026.07 | AML.T0115.001 |" in out


def test_library_coverage_exits_1_naming_a_threat_with_an_unknown_id(cli, tmp_path):
    refs = '  - {taxonomy: owasp-agentic, id: ASI01, edition: "2026"}\n'
    root = _user_library(tmp_path / "lib", "my-evasion", refs)
    status, out, err = cli("library", "coverage", "--library", root)
    assert status == 1
    assert "threat 'my-evasion' references owasp-agentic 2026 'ASI01'" in err
    assert "- `my-evasion`: owasp-agentic 2026 `ASI01`" in out


def test_docs_coverage_page_is_what_the_library_makes_today(cov, taxonomies):
    page = ROOT / "docs" / "coverage.md"
    assert page.read_text(encoding="utf-8") == coverage_markdown(cov, taxonomies), (
        "docs/coverage.md is stale: run `saikit library coverage --out docs/coverage.md`"
    )


# --- the threats' own examples ------------------------------------------------------------------


def _raised(library, threat_id: str, system: dict) -> set[str]:
    graph = build(SystemModel.model_validate(system))
    return {m.asset_id for m in evaluate(graph, library) if m.threat.id == threat_id}


def test_every_threat_with_examples_fires_where_they_say_and_stays_quiet_on_near_misses(library):
    with_examples = [t for t in library.threats.values() if t.examples is not None]
    assert len(with_examples) >= 9
    for threat in with_examples:
        for example in threat.examples.fires:
            raised = _raised(library, threat.id, example.system)
            assert example.at in raised, f"{threat.id}: '{example.name}' raised {raised}"
        for example in threat.examples.quiet:
            raised = _raised(library, threat.id, example.system)
            assert raised == set(), f"{threat.id}: '{example.name}' raised {raised}"


def test_an_example_without_the_asset_it_fires_at_is_located(tmp_path):
    text = (shipped_directory() / "threats" / "rogue-agent.yaml").read_text(encoding="utf-8")
    text = text.replace("id: rogue-agent", "id: my-rogue", 1).replace("      at: ops-agent\n", "")
    (tmp_path / "lib" / "threats").mkdir(parents=True)
    path = tmp_path / "lib" / "threats" / "my-rogue.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(InputError) as caught:
        load_library([tmp_path / "lib"])
    message = str(caught.value)
    assert f"{path}:" in message
    assert "examples.fires[0].at: required field is missing" in message


def test_check_library_locates_each_unknown_reference_and_exits_2(cli, tmp_path):
    refs = (
        "  - {taxonomy: mitre-atlas, id: AML.T0051.00, edition: 5.6.0}\n"
        "  - {taxonomy: mitre-atlas, id: AML.T0051.000, edition: 5.6.0}\n"
        '  - {taxonomy: owasp-ml, id: "ML01:2023", edition: "2019"}\n'
    )
    root = _user_library(tmp_path / "lib", "my-evasion", refs)
    status, out, err = cli("check-library", "--library", root)
    assert status == 2 and "Traceback" not in err
    threat_file = root / "threats" / "my-evasion.yaml"
    first = threat_file.read_text().splitlines().index("references:") + 2  # 1-based, next line
    assert (
        f"{threat_file}:{first} references[0].id: mitre-atlas 5.6.0 lists no 'AML.T0051.00' "
        "(did you mean 'AML.T0051.00"
    ) in err
    assert "references[1]" not in err  # a pinned ID is fine
    assert (
        f"{threat_file}:{first + 2} references[2].edition: owasp-ml 2019 is not pinned "
        "(the kit pins 2023)"
    ) in err
