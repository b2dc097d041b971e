"""The shipped threat library: it loads, covers the minimum list, cites sources, names bad files."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

import jsonschema
import pytest
import yaml

from kit.analysis import analyse_model
from kit.errors import InputError
from kit.model.schema import SystemModel
from kit.threats.files import shipped_directory
from kit.threats.library import Library, library_schema, load_library

TAXONOMIES = Path(__file__).resolve().parents[1].parent / "shared" / "reference" / "taxonomies.md"

# Every item of "Threats the library should cover at least" (taxonomies.md), mapped to the
# threats that cover it.
COVERAGE: dict[str, tuple[str, ...]] = {
    "Training data poisoning": ("training-data-poisoning",),
    "backdoor / trojan trigger": ("backdoor-trigger",),
    "poisoned third-party model or dataset": (
        "poisoned-third-party-model",
        "poisoned-third-party-dataset",
    ),
    "unsafe serialized artifact (pickle)": ("unsafe-serialised-artifact",),
    "runtime model tampering": ("runtime-model-tampering",),
    "evasion / adversarial examples": ("evasion",),
    "membership inference": ("membership-inference",),
    "model inversion / reconstruction": ("model-inversion",),
    "model extraction via API": ("model-extraction",),
    "weights or training-data theft": ("weights-theft", "training-data-theft"),
    "direct prompt injection": ("direct-prompt-injection",),
    "indirect prompt injection": ("indirect-prompt-injection",),
    "jailbreak": ("jailbreak",),
    "system prompt extraction": ("system-prompt-extraction",),
    "sensitive data in outputs": ("sensitive-data-in-outputs",),
    "RAG / knowledge-base poisoning": ("rag-poisoning",),
    "vector-store data leak": ("vector-store-leak",),
    "improper output handling": ("improper-output-handling",),
    "excessive agency / tool misuse": ("excessive-agency",),
    "agent memory poisoning": ("agent-memory-poisoning",),
    "poisoned agent tool": ("poisoned-agent-tool",),
    "denial of AI service": ("denial-of-ai-service",),
    "cost harvesting": ("cost-harvesting",),
    "model skewing through feedback loops": ("feedback-loop-skewing",),
    "hallucinated-entity exploitation (fake package names)": ("hallucinated-package",),
    "superfluous functionality (a multi-modal model used for one modality: provision 5.1.3-1.2)": (
        "superfluous-functionality",
    ),
}

REQUIRED_CONTROLS = """
rate-limiting spend-limits authentication access-control model-access-control encryption-at-rest
input-validation prompt-injection-guardrails output-filtering output-encoding output-minimisation
differential-privacy pii-redaction data-minimisation data-sanitisation data-provenance
artifact-signing safe-serialisation supplier-due-diligence ai-bom adversarial-testing
adversarial-training human-approval tool-least-privilege sandboxed-execution memory-validation
retrieval-allowlist ingestion-review retrieval-access-control system-prompt-hygiene monitoring
audit-logging package-allowlist feedback-review modality-restriction model-integrity-monitoring
agent-message-authentication secure-disposal
""".split()

OWASP_FORMS = {  # taxonomy → (ID form, with the edition's year after a colon; editions)
    "owasp-ml": (re.compile(r"^ML(0[1-9]|10):(\d{4})$"), {"2023"}),
    "owasp-llm": (re.compile(r"^LLM(0[1-9]|10):(\d{4})$"), {"2025", "2026"}),
    "owasp-agentic": (re.compile(r"^ASI(0[1-9]|10):(\d{4})$"), {"2026"}),
}
ATLAS_EDITION = "5.6.0"
ATLAS_FORM = re.compile(r"^AML\.T\d{4}(\.\d{3})?$")

MINIMAL_THREAT = """\
id: {id}
name: Test threat
summary: A threat written only for this test, to see what the loader says.
detection: Raised for any dataset whose sensitivity is personal.
category: privacy
phases: [design]
ai_types: [predictive]
attaches_to: [dataset]
when:
  all:
    - attribute: {attribute}
      in: [personal]
likelihood: 2
impact: 2
provisions: [5.1.3-1]
references:
  - {{taxonomy: mitre-atlas, id: AML.T0024.000, edition: 5.6.0}}
"""


@pytest.fixture(scope="module")
def library() -> Library:
    return load_library()


@pytest.fixture(scope="module")
def threat_files() -> list[Path]:
    return sorted((shipped_directory() / "threats").glob("*.yaml"))


@pytest.fixture(scope="module")
def taxonomies_text() -> str:
    if not TAXONOMIES.is_file():
        pytest.skip(f"taxonomy reference not present at {TAXONOMIES}")
    return TAXONOMIES.read_text(encoding="utf-8")


def _user_library(root: Path, files: dict[str, str]) -> Path:
    (root / "threats").mkdir(parents=True)
    for name, text in files.items():
        (root / "threats" / name).write_text(text, encoding="utf-8")
    return root


# --- the shipped library -------------------------------------------------------------------


def test_shipped_library_loads_with_at_least_30_threats_and_25_controls(library):
    assert len(library.threats) >= 30
    assert len(library.controls) >= 25


def test_every_required_control_is_defined(library):
    missing = sorted(set(REQUIRED_CONTROLS) - set(library.controls))
    assert missing == []


def test_every_threat_file_is_named_after_its_id(library, threat_files):
    assert threat_files, "no threat files shipped"
    for path in threat_files:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
        assert path.stem == data["id"], path.name
    assert {p.stem for p in threat_files} == set(library.threats)


def test_every_threat_file_opens_with_a_one_line_comment(threat_files):
    for path in threat_files:
        first = path.read_text(encoding="utf-8").splitlines()[0]
        assert re.match(r"^# \S.*: \S", first), f"{path.name}: {first!r}"


def test_every_threat_cites_atlas_with_edition_and_owasp(library):
    for tid, threat in library.threats.items():
        atlas = [r for r in threat.references if r.taxonomy == "mitre-atlas"]
        owasp = [r for r in threat.references if r.taxonomy.startswith("owasp-")]
        assert atlas, f"{tid}: no MITRE ATLAS reference"
        assert owasp, f"{tid}: no OWASP reference"
        for ref in atlas:
            assert ref.edition == ATLAS_EDITION, f"{tid}: {ref.id} edition {ref.edition}"
            assert ATLAS_FORM.match(ref.id), f"{tid}: {ref.id}"
        for ref in owasp:
            form, editions = OWASP_FORMS[ref.taxonomy]
            match = form.match(ref.id)
            assert match, f"{tid}: {ref.taxonomy} {ref.id}"
            assert ref.edition in editions, f"{tid}: {ref.taxonomy} {ref.id} edition {ref.edition}"
            assert match[2] == ref.edition, (
                f"{tid}: {ref.id} carries another year than {ref.edition}"
            )


def test_cited_atlas_ids_are_listed_in_the_taxonomy_reference(library, taxonomies_text):
    """Every technique in the reference page's table is cited; the kit's pinned list (checked in
    test_coverage.py) holds every ID the threats and controls may cite."""
    listed = set(re.findall(r"^\| (AML\.T\d{4})", taxonomies_text, re.MULTILINE))
    cited = {
        ref.id[:9]
        for threat in library.threats.values()
        for ref in threat.references
        if ref.taxonomy == "mitre-atlas"
    }
    assert cited & listed == listed


def test_every_threat_bears_on_threat_modelling_provision_5_1_3_1(library):
    for tid, threat in library.threats.items():
        assert "5.1.3-1" in threat.provisions, tid


def test_every_threat_names_mitigating_controls_and_false_positives(library):
    for tid, threat in library.threats.items():
        assert 2 <= len(threat.controls) <= 5, tid
        assert any(m.likelihood or m.impact for m in threat.controls), tid
        assert 1 <= len(threat.false_positives) <= 3, tid
        assert 1 <= len(threat.factors) <= 3, tid


def test_every_control_is_used_by_at_least_one_threat(library):
    used = {m.control for t in library.threats.values() for m in t.controls}
    assert sorted(set(library.controls) - used) == []


def test_every_control_serves_at_least_one_provision(library):
    for cid, control in library.controls.items():
        assert control.provisions, cid


def test_superfluous_functionality_cites_provision_5_1_3_1_2(library):
    threat = library.threats["superfluous-functionality"]
    assert "5.1.3-1.2" in threat.provisions
    assert "modality-restriction" in {m.control for m in threat.controls}


def test_minimum_coverage_list_is_covered(library):
    for item, ids in COVERAGE.items():
        for tid in ids:
            assert tid in library.threats, f"{item!r} → {tid} missing"


def test_coverage_map_matches_the_list_in_taxonomies_md(taxonomies_text):
    section = taxonomies_text.split("## Threats the library should cover at least", 1)[1]
    section = section.split("\n## ", 1)[0]  # up to the next heading
    items = {
        " ".join(part.split()).rstrip(".")
        for part in re.split(r"\s+·\s+", section.strip())
        if part.strip()
    }
    assert items == set(COVERAGE)


def test_json_schema_validates_every_shipped_threat_file(threat_files):
    validator = jsonschema.Draft202012Validator(library_schema()["threat"])
    for path in threat_files:
        errors = [e.message for e in validator.iter_errors(yaml.safe_load(path.read_text()))]
        assert errors == [], path.name


def test_json_schema_validates_shipped_controls_file():
    validator = jsonschema.Draft202012Validator(library_schema()["controls"])
    data = yaml.safe_load((shipped_directory() / "controls.yaml").read_text(encoding="utf-8"))
    assert [e.message for e in validator.iter_errors(data)] == []


def test_json_schema_rejects_a_threat_with_an_unknown_condition_key():
    validator = jsonschema.Draft202012Validator(library_schema()["threat"])
    data = yaml.safe_load(MINIMAL_THREAT.format(id="x", attribute="sensitivity"))
    data["when"] = {"upstreem": {"kinds": ["trains"]}}
    assert not validator.is_valid(data)


# --- user directories and their mistakes -------------------------------------------------------


def test_user_directory_adds_its_threats(tmp_path):
    root = _user_library(
        tmp_path / "lib", {"x.yaml": MINIMAL_THREAT.format(id="x", attribute="sensitivity")}
    )
    lib = load_library([root])
    assert "x" in lib.threats
    assert lib.sources["threat:x"] == str(root / "threats" / "x.yaml")


def test_misspelt_attribute_names_file_line_path_and_suggestion(tmp_path):
    text = MINIMAL_THREAT.format(id="x", attribute="sensitivty")
    root = _user_library(tmp_path / "lib", {"x.yaml": text})
    line = next(i for i, ln in enumerate(text.splitlines(), 1) if "sensitivty" in ln)
    with pytest.raises(InputError) as caught:
        load_library([root])
    message = str(caught.value)
    path = root / "threats" / "x.yaml"
    assert f"{path}:{line}" in message
    assert "when.all[0].attribute" in message
    assert "did you mean 'sensitivity'" in message


def test_misspelt_enumerated_value_is_reported_with_suggestion(tmp_path):
    text = MINIMAL_THREAT.format(id="x", attribute="sensitivity").replace(
        "in: [personal]", "in: [persnal]"
    )
    root = _user_library(tmp_path / "lib", {"x.yaml": text})
    with pytest.raises(InputError) as caught:
        load_library([root])
    message = str(caught.value)
    assert "when.all[0].in" in message
    assert "did you mean 'personal'" in message


def test_unknown_control_in_user_threat_is_reported_with_suggestion(tmp_path):
    text = MINIMAL_THREAT.format(id="x", attribute="sensitivity") + (
        "controls:\n  - {control: rate-limitng, likelihood: -1}\n"
    )
    root = _user_library(tmp_path / "lib", {"x.yaml": text})
    with pytest.raises(InputError) as caught:
        load_library([root])
    assert "did you mean 'rate-limiting'" in str(caught.value)


def test_id_clash_with_shipped_library_names_both_files(tmp_path):
    shipped = shipped_directory() / "threats" / "evasion.yaml"
    root = _user_library(tmp_path / "lib", {"my-evasion.yaml": shipped.read_text(encoding="utf-8")})
    with pytest.raises(InputError) as caught:
        load_library([root])
    message = str(caught.value)
    assert str(root / "threats" / "my-evasion.yaml") in message
    assert str(shipped) in message
    assert "evasion" in message


# --- what the shipped threats raise on small systems ----------------------------------------


def _system(ai_type: str, assets: list[dict], flows: list[tuple], controls: list[tuple] = ()):
    """A system model from compact asset dicts, (from, kind, to[, extra]) flows and
    (control, asset) pairs recorded as implemented."""
    return SystemModel.model_validate(
        {
            "system": {
                "id": "s",
                "name": "S",
                "purpose": "test",
                "ai_type": ai_type,
                "roles": ["developer"],
            },
            "assets": assets,
            "flows": [
                {"from": f[0], "kind": f[1], "to": f[2], **(f[3] if len(f) > 3 else {})}
                for f in flows
            ],
            "controls": [
                {"control": c, "assets": [a], "status": "implemented"} for c, a in controls
            ],
        }
    )


def _findings(model) -> dict:
    result = analyse_model(model, load_library(), today=dt.date(2026, 1, 1))
    return {f.id: f for f in result.assessment.findings}


def _scorer(*, exposure: str = "public", controls: list[tuple] = (), **dataset):
    return _system(
        "predictive",
        [
            {"id": "applications", "type": "dataset", "sensitivity": "personal", **dataset},
            {"id": "scorer", "type": "model", "outputs": ["score"]},
            {"id": "score-api", "type": "api", "exposure": exposure},
            {"id": "customers", "type": "user_group", "exposure": exposure},
        ],
        [
            ("applications", "trains", "scorer"),
            ("scorer", "serves", "score-api"),
            ("score-api", "serves", "customers"),
        ],
        controls,
    )


def _chat(front_ends: int = 0, **app):
    """user → [front ends] → app → model, with a system prompt and a web search tool."""
    chain = ["customers", *[f"front-{i}" for i in range(front_ends)], "assistant"]
    assets = [
        {"id": "customers", "type": "user_group", "exposure": "public"},
        *[{"id": f"front-{i}", "type": "application"} for i in range(front_ends)],
        {"id": "assistant", "type": "application", "tags": ["customer-facing"], **app},
        {"id": "llm", "type": "model", "source": "third_party", "outputs": ["text"]},
        {"id": "system-prompt", "type": "prompt"},
        {"id": "web-search", "type": "third_party_component", "tags": ["web"]},
    ]
    flows = [(a, "prompts", b) for a, b in zip(chain, chain[1:])] + [
        ("assistant", "prompts", "llm"),
        ("system-prompt", "prompts", "llm"),
        ("web-search", "retrieves", "assistant"),
    ]
    return _system("generative", assets, flows)


def test_membership_inference_and_inversion_need_personal_training_data_and_an_external_route():
    found = _findings(_scorer())
    assert {"membership-inference@scorer", "model-inversion@scorer"} <= set(found)
    internal = _findings(_scorer(exposure="internal"))
    assert "membership-inference@scorer" not in internal
    assert "model-inversion@scorer" not in internal


def test_membership_inference_is_lowered_by_privacy_controls_on_model_and_api():
    bare = _findings(_scorer())["membership-inference@scorer"]
    treated = _findings(
        _scorer(
            controls=[
                ("differential-privacy", "scorer"),
                ("output-minimisation", "score-api"),
                ("rate-limiting", "score-api"),
            ]
        )
    )["membership-inference@scorer"]
    assert set(treated.controls_implemented) == {
        "differential-privacy",
        "output-minimisation",
        "rate-limiting",
    }
    assert treated.residual_likelihood < bare.residual_likelihood


def test_training_data_poisoning_is_likelier_without_provenance():
    without = _findings(_scorer(source="public"))["training-data-poisoning@scorer"]
    with_provenance = _findings(
        _scorer(source="public", provenance={"url": "https://example.org/data"})
    )["training-data-poisoning@scorer"]
    assert without.likelihood == with_provenance.likelihood + 1
    assert "training-data-poisoning@scorer" not in _findings(_scorer())


def test_system_prompt_extraction_fires_for_a_customer_chat_not_an_internal_batch_job():
    assert "system-prompt-extraction@system-prompt" in _findings(_chat())
    batch = _system(
        "generative",
        [
            {"id": "system-prompt", "type": "prompt"},
            {"id": "llm", "type": "model", "outputs": ["text"]},
            {"id": "nightly-summary", "type": "application"},
        ],
        [("system-prompt", "prompts", "llm"), ("nightly-summary", "prompts", "llm")],
    )
    assert "system-prompt-extraction@system-prompt" not in _findings(batch)


def test_prompt_injection_findings_sit_where_the_model_is_prompted():
    found = _findings(_chat(front_ends=2))
    for threat in ("direct-prompt-injection", "jailbreak", "indirect-prompt-injection"):
        assert f"{threat}@assistant" in found
        assert f"{threat}@front-0" not in found


def test_indirect_prompt_injection_needs_untrusted_retrieved_content():
    model = _chat()
    assert "indirect-prompt-injection@assistant" in _findings(model)
    no_web = model.model_copy(
        update={"flows": [f for f in model.flows if f.source != "web-search"]}
    )
    assert "indirect-prompt-injection@assistant" not in _findings(no_web)


def _agent(**agent):
    return _system(
        "agentic",
        [
            {"id": "staff", "type": "user_group"},
            {"id": "agent", "type": "agent", **agent},
            {"id": "llm", "type": "model", "outputs": ["text"]},
            {"id": "crm", "type": "tool", "permissions": ["crm.write"]},
            {"id": "memory", "type": "vector_store", "tags": ["memory"]},
            {"id": "forum", "type": "dataset", "source": "public", "tags": ["feedback"]},
            {"id": "kb", "type": "vector_store"},
        ],
        [
            ("staff", "prompts", "agent"),
            ("agent", "prompts", "llm"),
            ("agent", "invokes", "crm"),
            ("agent", "writes", "memory"),
            ("memory", "retrieves", "agent"),
            ("forum", "indexes", "kb"),
            ("kb", "retrieves", "agent"),
        ],
    )


def test_excessive_agency_is_worse_without_approval_and_with_standing_permissions():
    careful = _findings(_agent(human_approval=True))["excessive-agency@agent"]
    reckless = _findings(_agent(permissions=["crm.admin"]))["excessive-agency@agent"]
    assert reckless.likelihood > careful.likelihood
    assert reckless.impact > careful.impact


def test_agent_memory_and_rag_poisoning_attach_to_their_stores():
    found = _findings(_agent())
    assert "agent-memory-poisoning@memory" in found
    assert "rag-poisoning@kb" in found
    assert "rag-poisoning@memory" not in found  # nothing indexes the memory
    rag = found["rag-poisoning@kb"]
    assert rag.likelihood > rag.match.threat.likelihood  # indexed from public user feedback


def test_superfluous_functionality_and_unsafe_serialisation_read_model_attributes():
    model = _system(
        "generative",
        [
            {
                "id": "vision-llm",
                "type": "model",
                "modalities_offered": ["text", "image"],
                "modalities_used": ["text"],
                "format": "pickle",
            },
            {
                "id": "text-llm",
                "type": "model",
                "modalities_offered": ["text"],
                "modalities_used": ["text"],
                "format": "safetensors",
            },
        ],
        [],
    )
    found = _findings(model)
    assert "superfluous-functionality@vision-llm" in found
    assert "superfluous-functionality@text-llm" not in found
    assert "unsafe-serialised-artifact@vision-llm" in found
    assert "unsafe-serialised-artifact@text-llm" not in found
