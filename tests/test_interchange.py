"""Other tools' formats: every export validated against its published schema in
../shared/interop/, the official example files imported, and OTM / TM-BOM round trips.

The runs are real `saikit run`s (see _export_runs); the schemas and examples are the published
files, byte for byte (../shared/interop/PROVENANCE.md).
"""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest
import yaml
from _export_runs import published_run

from kit.cli import INTERCHANGE_EXPORTS
from kit.export.interchange import INTERCHANGE, export_interchange, source_of
from kit.inputs import load_checked
from kit.runs.rundata import load_run
from kit.vocab import DECIDED, OPEN_ACTIONS

ROOT = Path(__file__).resolve().parents[1]
INTEROP = ROOT.parent / "shared" / "interop"
EXAMPLES = sorted((ROOT / "examples").glob("*.yaml"))
ROLE_TITLE = {
    "developer": "Developer",
    "system_operator": "System Operator",
    "data_custodian": "Data Custodian",
    "end_user": "End-user",
}
SYSTEMS = [p for p in EXAMPLES if not p.name.endswith(".decisions.yaml")]


def validator(schema_file: str):
    """A validator for a published schema, with its own draft and format checks. Threat
    Dragon's schema uses Ajv's `nullable` keyword, which Threat Dragon's validator honours:
    added here as Ajv does (null is allowed where `nullable: true`)."""
    schema = json.loads((INTEROP / "schemas" / schema_file).read_text(encoding="utf-8"))
    cls = jsonschema.validators.validator_for(schema, default=jsonschema.Draft7Validator)
    if "threat-dragon" in schema_file:
        base_type = cls.VALIDATORS["type"]

        def nullable_type(v, types, instance, schema):
            if instance is None and schema.get("nullable"):
                return
            yield from base_type(v, types, instance, schema)

        cls = jsonschema.validators.extend(cls, {"type": nullable_type})
    return cls(schema, format_checker=cls.FORMAT_CHECKER)


def problems(schema_file: str, document: dict) -> list[str]:
    return [
        f"{'/'.join(map(str, e.absolute_path))}: {e.message[:200]}"
        for e in validator(schema_file).iter_errors(document)
    ]


@pytest.fixture(scope="session")
def example_run(tmp_path_factory):
    return load_run(published_run(tmp_path_factory, "example"))


def build(fmt: str, name, **kw) -> dict:
    return INTERCHANGE[fmt].build(source_of(fmt, str(name) if name else None, **kw))


def same_system(a, b) -> None:
    assert [x.model_dump() for x in a.assets] == [x.model_dump() for x in b.assets]
    assert [x.model_dump() for x in a.flows] == [x.model_dump() for x in b.flows]


def test_cli_names_every_interchange_format():
    assert tuple(INTERCHANGE_EXPORTS) == tuple(INTERCHANGE)


# ---------------------------------------------------------------- OTM


@pytest.mark.parametrize("system", SYSTEMS, ids=lambda p: p.stem)
def test_otm_export_of_each_example_is_valid_otm(system):
    doc = build("otm", system)
    assert problems("otm_schema.json", doc) == []
    model, _ = load_checked(system)
    assert [c["id"] for c in doc["components"]] == [a.id for a in model.assets]
    assert len(doc["dataflows"]) == len(model.flows)
    zones = {z["id"] for z in doc["trustZones"]}
    assert {c["parent"]["trustZone"] for c in doc["components"]} == zones


def test_otm_export_of_a_run_carries_threats_on_their_assets(example_run):
    doc = INTERCHANGE["otm"].build(source_of("otm", str(example_run.path)))
    assert problems("otm_schema.json", doc) == []
    register = example_run.register
    assert {t["id"] for t in doc["threats"]} == set(register["threat_id"])
    on = {(c["id"], t["threat"]) for c in doc["components"] for t in c.get("threats") or []}
    assert on == set(zip(register["asset_id"], register["threat_id"], strict=True))
    mitigations = {m["id"] for m in doc["mitigations"]}
    used = {
        m["mitigation"]
        for c in doc["components"]
        for t in c.get("threats") or []
        for m in t["mitigations"]
    }
    assert used <= mitigations


@pytest.mark.parametrize("system", SYSTEMS, ids=lambda p: p.stem)
@pytest.mark.parametrize("fmt", ["otm", "tmbom"])
def test_export_then_import_gives_the_same_assets_and_flows(cli, tmp_path, system, fmt):
    status, _, err = cli("export", fmt, system, "--out", tmp_path / f"x.{fmt}.json")
    assert status == 0, err
    status, _, err = cli("import", fmt, tmp_path / f"x.{fmt}.json", "--out", tmp_path / "back.yaml")
    assert status == 0, err
    back, _ = load_checked(tmp_path / "back.yaml")
    original, _ = load_checked(system)
    same_system(back, original)
    assert back.system.name == original.system.name and back.system.roles == original.system.roles


@pytest.mark.parametrize("name", ["otm-EXAMPLE.json", "otm-threat-dragon-mobile-cloud.otm.json"])
def test_official_otm_examples_import_to_a_file_check_accepts(cli, tmp_path, name):
    source = json.loads((INTEROP / "examples" / name).read_text(encoding="utf-8"))
    status, _, err = cli("import", "otm", INTEROP / "examples" / name, "--out", tmp_path / "s.yaml")
    assert status == 0, err
    status, out, err = cli("check", tmp_path / "s.yaml")
    assert status == 0, err
    model, _ = load_checked(tmp_path / "s.yaml")
    assert len(model.assets) == len(source["components"])
    assert [a.name for a in model.assets] == [c["name"] for c in source["components"]]
    text = (tmp_path / "s.yaml").read_text(encoding="utf-8")
    assert "# TODO: type guessed from the OTM type" in text


# ---------------------------------------------------------------- TM-BOM


@pytest.mark.parametrize("system", SYSTEMS, ids=lambda p: p.stem)
def test_tmbom_export_of_each_example_is_valid_tmbom_1_0_2(system):
    doc = build("tmbom", system)
    assert problems("threat-model.schema.v1.0.2.json", doc) == []


def test_tmbom_export_of_a_run_scores_one_risk_per_finding(example_run):
    doc = INTERCHANGE["tmbom"].build(source_of("tmbom", str(example_run.path)))
    assert problems("threat-model.schema.v1.0.2.json", doc) == []
    register = example_run.register
    assert len(doc["risks"]) == len(register)
    assert sorted(r["score"] for r in doc["risks"]) == sorted(register["residual_score"])
    names = {t["symbolic_name"] for t in doc["threats"]}
    assert {t for r in doc["risks"] for t in r["threats"]} <= names
    assert {t for c in doc["controls"] for t in c["threats"]} <= names


def test_husky_tmbom_example_imports_despite_its_dangling_references(cli, tmp_path):
    path = INTEROP / "examples" / "tmbom-husky-ai-threat-model.json"
    status, _, err = cli("import", "tmbom", path, "--out", tmp_path / "husky.yaml")
    assert status == 0, err
    assert cli("check", tmp_path / "husky.yaml")[0] == 0
    notes = [
        ln for ln in (tmp_path / "husky.yaml").read_text().splitlines() if ln.startswith("# NOTE")
    ]
    said = "\n".join(notes)
    for dangling in (
        "'api-keys-storage'",
        "'secret-keys-storage'",
        "'user'",
        "'bastion' a data_store",
    ):
        assert dangling in said
    source = json.loads(path.read_text(encoding="utf-8"))
    declared = sum(len(source[k]) for k in ("actors", "components", "data_stores", "data_sets"))
    model, _ = load_checked(tmp_path / "husky.yaml")
    assert len(model.assets) == declared


# ---------------------------------------------------------------- CycloneDX import


@pytest.mark.parametrize(
    "name",
    [
        "cyclonedx-valid-machine-learning-1.6.json",
        "cyclonedx-valid-machine-learning-considerations-env-1.6.json",
    ],
)
def test_official_cyclonedx_ml_examples_import_to_a_file_check_accepts(cli, tmp_path, name):
    status, _, err = cli(
        "import", "cyclonedx", INTEROP / "examples" / name, "--out", tmp_path / "s.yaml"
    )
    assert status == 0, err
    assert cli("check", tmp_path / "s.yaml")[0] == 0
    model, _ = load_checked(tmp_path / "s.yaml")
    bom = json.loads((INTEROP / "examples" / name).read_text(encoding="utf-8"))
    models = [a for a in model.assets if a.type == "model"]
    assert [m.name for m in models] == [c["name"] for c in bom["components"]]
    for c, m in zip(bom["components"], models, strict=True):
        links = [r["url"] for r in c.get("externalReferences", [])]
        assert (m.provenance.url if m.provenance else None) == (links[0] if links else None)
        inline = c["modelCard"].get("modelParameters", {}).get("datasets", [])
        trained = [f.source for f in model.flows if f.target == m.id and f.kind == "trains"]
        assert len(trained) == len(inline)


def test_saikit_bom_imports_back_with_its_components_and_fields(cli, tmp_path):
    system = ROOT / "examples" / "credit-risk.yaml"
    assert cli("export", "bom", system, "--out", tmp_path / "bom.json")[0] == 0
    status, _, err = cli("import", "cyclonedx", tmp_path / "bom.json", "--out", tmp_path / "s.yaml")
    assert status == 0, err
    back, _ = load_checked(tmp_path / "s.yaml")
    original, _ = load_checked(system)
    assert (back.system.id, back.system.name, back.system.ai_type, back.system.risk_appetite) == (
        original.system.id,
        original.system.name,
        original.system.ai_type,
        original.system.risk_appetite,
    )
    components = {a.id: a for a in original.assets if a.type != "user_group"}  # people stay out
    assert {a.id for a in back.assets} == set(components)
    for a in back.assets:
        o = components[a.id]
        assert (a.type, a.sha256, a.version, a.sensitivity, a.exposure) == (
            o.type,
            o.sha256,
            o.version,
            o.sensitivity,
            o.exposure,
        )


# ---------------------------------------------------------------- bad input to an import


def test_import_never_overwrites_without_force(cli, tmp_path):
    target = tmp_path / "system.yaml"
    target.write_text("kept\n", encoding="utf-8")
    source = INTEROP / "examples" / "otm-EXAMPLE.json"
    status, _, err = cli("import", "otm", source, "--out", target)
    assert status == 2 and f"{target}: exists; give --force" in err
    assert target.read_text(encoding="utf-8") == "kept\n"
    assert cli("import", "otm", source, "--out", target, "--force")[0] == 0
    assert target.read_text(encoding="utf-8") != "kept\n"


@pytest.mark.parametrize(
    ("fmt", "text", "expected"),
    [
        ("otm", '{"project": {"id": "x", "name": "x"}}', "bad.json:1: not an OTM file"),
        ("tmbom", '{"otmVersion": "0.2.0"}', "bad.json:1: not a TM-BOM file"),
        ("cyclonedx", '{"otmVersion": "0.2.0"}', "bad.json:1: not a CycloneDX BOM"),
        (
            "otm",
            '{"otmVersion": "0.2.0",\n "project": {"id": "x", "name": "x"},\n'
            ' "components": [\n  {"name": "no id"}]}',
            "bad.json:4 components[0]: 'id' is missing",
        ),
        (
            "cyclonedx",
            '{"bomFormat": "CycloneDX",\n "components": [\n  {"type": "data"}]}',
            "bad.json:3 components[0]: 'name' is missing",
        ),
        ("otm", '{"otmVersion": "0.2.0",\n "project": ', "bad.json:2: "),
        ("otm", '{"otmVersion": "0.2.0", "otmVersion": "0.2.0"}', "bad.json:1"),
    ],
)
def test_bad_input_to_an_import_is_a_located_exit_2(cli, tmp_path, fmt, text, expected):
    (tmp_path / "bad.json").write_text(text, encoding="utf-8")
    status, out, err = cli("import", fmt, "bad.json", "--out", "s.yaml")
    assert status == 2
    assert expected in err and "Traceback" not in err
    assert not (tmp_path / "s.yaml").exists()


def test_a_huge_import_is_refused_before_it_is_read(cli, tmp_path):
    big = tmp_path / "big.json"
    with big.open("w") as fh:
        fh.write('{"otmVersion": "0.2.0", "pad": "')
        fh.write("x" * (11 * 1024 * 1024))
        fh.write('"}')
    status, _, err = cli("import", "otm", big, "--out", tmp_path / "s.yaml")
    assert status == 2 and "the limit is 10,485,760 bytes" in err


# ---------------------------------------------------------------- SARIF


def test_sarif_has_one_result_per_open_action_at_its_asset_line(example_run, cli, tmp_path):
    status, out, err = cli("export", "sarif", example_run.path, "--out", tmp_path / "x.sarif")
    assert status == 0, err
    doc = json.loads((tmp_path / "x.sarif").read_text(encoding="utf-8"))
    assert problems("sarif-schema-2.1.0.json", doc) == []
    register = example_run.register
    open_actions = register[register["treatment"].isin(OPEN_ACTIONS)]
    results = doc["runs"][0]["results"]
    assert sorted(r["partialFingerprints"]["saikitFindingId/v1"] for r in results) == sorted(
        open_actions["finding_id"]
    )
    system = Path(example_run.manifest["system_path"])
    lines = system.read_text(encoding="utf-8").splitlines()
    for r in results:
        asset = r["properties"]["asset"]
        where = r["locations"][0]["physicalLocation"]
        assert Path(where["artifactLocation"]["uri"].removeprefix("file://")) == system.resolve()
        assert lines[where["region"]["startLine"] - 1].strip() == f"- id: {asset}"
    rules = doc["runs"][0]["tool"]["driver"]["rules"]
    assert {r["ruleId"] for r in results} == {rule["id"] for rule in rules}
    for r in results:
        assert rules[r["ruleIndex"]]["id"] == r["ruleId"]
    for rule in rules:
        row = register[register["threat_id"] == rule["id"]].iloc[0]
        assert (
            rule["fullDescription"]["text"] == example_run.threats["threats"][rule["id"]]["summary"]
        )
        for ref in row["references"].split(", "):
            assert ref.split(" ")[0] in rule["properties"]["tags"]
            assert ref in rule["help"]["text"]


@pytest.fixture(scope="session")
def decided_run(tmp_path_factory):
    """A run of the example whose accepted risk is reviewed in date (the shipped one is overdue)."""
    root = tmp_path_factory.mktemp("decided")
    for name in ("support-assistant.yaml", "support-assistant.decisions.yaml"):
        text = (ROOT / "examples" / name).read_text(encoding="utf-8")
        (root / name).write_text(text.replace("review_by: 2026-06-30", "review_by: 2099-06-30"))
    return load_run(published_run(tmp_path_factory, "decided", root / "support-assistant.yaml"))


def test_sarif_all_gives_every_finding_and_suppresses_the_decided(decided_run):
    doc = INTERCHANGE["sarif"].build(source_of("sarif", str(decided_run.path), all_findings=True))
    assert problems("sarif-schema-2.1.0.json", doc) == []
    results = doc["runs"][0]["results"]
    register = decided_run.register
    assert len(results) == len(register)
    decided = set(register[register["treatment"].isin(DECIDED)]["finding_id"])
    assert decided  # the example records decisions
    assert {r["properties"]["finding"] for r in results if r.get("suppressions")} == decided


# ---------------------------------------------------------------- Threat Dragon


def test_threat_dragon_demo_validates_with_the_nullable_keyword():
    demo = json.loads(
        (INTEROP / "examples" / "threat-dragon-v2-demo-threat-model.json").read_text()
    )
    assert problems("threat-dragon-v2.schema.json", demo) == []
    plain = jsonschema.Draft7Validator(
        json.loads((INTEROP / "schemas" / "threat-dragon-v2.schema.json").read_text())
    )
    assert len(list(plain.iter_errors(demo))) == 11  # the 11 strokeDasharray nulls


def test_threat_dragon_model_puts_each_finding_on_its_asset(example_run, cli, tmp_path):
    status, _, err = cli("export", "threat-dragon", example_run.path, "--out", tmp_path / "td.json")
    assert status == 0, err
    doc = json.loads((tmp_path / "td.json").read_text(encoding="utf-8"))
    assert problems("threat-dragon-v2.schema.json", doc) == []
    cells = doc["detail"]["diagrams"][0]["cells"]
    model = source_of("threat-dragon", str(example_run.path)).model
    nodes = [c for c in cells if c["shape"] != "flow"]
    flows = [c for c in cells if c["shape"] == "flow"]
    assert [c["data"]["name"] for c in nodes] == [a.name or a.id for a in model.assets]
    assert len(flows) == len(model.flows)
    ids = {c["id"] for c in nodes}
    assert all(f["source"]["cell"] in ids and f["target"]["cell"] in ids for f in flows)
    assert len({(c["position"]["x"], c["position"]["y"]) for c in nodes}) == len(nodes)
    register = example_run.register
    by_cell = {c["id"]: c for c in nodes}
    asset_cell = {a.id: c["id"] for a, c in zip(model.assets, nodes, strict=True)}
    for row in register.itertuples():
        threats = by_cell[asset_cell[row.asset_id]]["data"]["threats"]
        assert any(row.finding_id in t["description"] for t in threats)
    assert doc["detail"]["threatTop"] == len(register)


# ---------------------------------------------------------------- CycloneDX 1.6 attestations


def test_cdx_attestations_are_valid_cyclonedx_1_6_and_map_every_verdict(example_run, cli, tmp_path):
    from kit.export.bom import validation_errors

    status, _, err = cli(
        "export", "cdx-attestations", example_run.path, "--out", tmp_path / "a.json"
    )
    assert status == 0, err
    text = (tmp_path / "a.json").read_text(encoding="utf-8")
    assert validation_errors(text) == []
    doc = json.loads(text)
    [standard] = doc["definitions"]["standards"]
    provisions = [r for r in standard["requirements"] if "parent" in r]
    assert len(provisions) == 72
    refs = {r["bom-ref"] for r in standard["requirements"]}
    prov = example_run.provisions
    assessed = prov[prov["status"] != "not applicable"]
    maps = [m for a in doc["declarations"]["attestations"] for m in a["map"]]
    assert len(maps) == len(assessed)
    assert {m["requirement"] for m in maps} <= refs
    claims = {c["bom-ref"]: c for c in doc["declarations"]["claims"]}
    scores = {"met": 1.0, "partial": 0.5, "not met": 0.0}
    by_key = {
        (m["requirement"], a["summary"]): m
        for a in doc["declarations"]["attestations"]
        for m in a["map"]
    }
    assert len(by_key) == len(maps)
    for row in assessed.itertuples():
        [m] = [
            m
            for a in doc["declarations"]["attestations"]
            if a["summary"].endswith(f"{ROLE_TITLE[row.role]} role")
            for m in a["map"]
            if m["requirement"] == f"provision:{row.provision}"
        ]
        assert m["conformance"].get("score") == scores.get(row.status)
        linked = m.get("claims", []) + m.get("counterClaims", [])
        assert all(c in claims for c in linked)
        assert bool(m.get("counterClaims")) == (row.status == "not met")


def test_cdx_validator_rejects_a_broken_declaration(example_run):
    from kit.export.bom import validation_errors

    doc = INTERCHANGE["cdx-attestations"].build(
        source_of("cdx-attestations", str(example_run.path))
    )
    doc["declarations"]["attestations"][0]["map"][0]["conformance"]["score"] = 2
    assert validation_errors(json.dumps(doc)) != []


# ---------------------------------------------------------------- CISO Assistant

URN = (
    r"^urn:([a-zA-Z0-9_-]+):([a-zA-Z0-9_-]+):([a-zA-Z0-9_-]+)(?::([a-zA-Z0-9_-]+))?:"
    r"([0-9A-Za-z\[\]\(\)\-\._:]+)$"
)


def library_problems(lib) -> list[str]:
    """CISO Assistant's library rules 1-9 as ../shared/interop/PROVENANCE.md states them."""
    import re

    out = []
    if not isinstance(lib, dict):
        return ["not a mapping"]
    out += [
        f"missing {k}"
        for k in ("urn", "name", "version", "objects", "ref_id", "locale")
        if k not in lib
    ]
    if not isinstance(lib.get("version"), int):
        out.append("version is not an integer")
    urns = [lib.get("urn", "")]
    objects = lib.get("objects", {})
    if "framework" in objects and "frameworks" in objects:
        out.append("both framework and frameworks")
    frameworks = objects.get("frameworks") or [objects.get("framework")]
    threats = {t["urn"] for t in objects.get("threats", [])}
    controls = {c["urn"] for c in objects.get("reference_controls", [])}
    for fw in filter(None, frameworks):
        out += [f"framework lacks {k}" for k in ("urn", "ref_id", "name") if k not in fw]
        nodes = fw.get("requirement_nodes") or []
        if not nodes:
            out.append("no requirement nodes")
        groups = {g["ref_id"] for g in fw.get("implementation_groups_definition", [])}
        depth = {}
        urns.append(fw["urn"])
        for n in nodes:
            urns.append(n.get("urn", ""))
            if not isinstance(n.get("assessable"), bool):
                out.append(f"{n.get('urn')}: assessable is not a boolean")
            parent = n.get("parent_urn")
            if parent is not None and parent not in depth:
                out.append(f"{n['urn']}: unknown parent")
            want = 1 if parent is None else depth.get(parent, 0) + 1
            if n.get("depth") != want:
                out.append(f"{n['urn']}: depth {n.get('depth')}, not {want}")
            depth[n["urn"]] = n.get("depth")
            if not set(n.get("implementation_groups", [])) <= groups:
                out.append(f"{n['urn']}: unknown implementation group")
            if len(n.get("ref_id", "")) > 100 or len(n.get("name", "")) > 200:
                out.append(f"{n['urn']}: too long")
            if (
                not set(n.get("threats", [])) <= threats
                or not set(n.get("reference_controls", [])) <= controls
            ):
                out.append(f"{n['urn']}: unknown threat or reference control")
    out += [f"bad urn {u}" for u in urns if not re.match(URN, u.lower()) or len(u) > 255]
    if len(urns) != len(set(urns)):
        out.append("duplicate urns")
    return out


@pytest.mark.parametrize(
    "name",
    [
        "ciso-assistant-google-saif.yaml",
        "ciso-assistant-anssi-genai-security-recommendations-1.0.yaml",
    ],
)
def test_the_library_rules_accept_ciso_assistants_own_libraries(name):
    lib = yaml.safe_load((INTEROP / "examples" / name).read_text(encoding="utf-8"))
    assert library_problems(lib) == []


def test_ciso_assistant_library_holds_the_72_provisions_in_their_role_groups(cli, tmp_path):
    from kit.compliance.catalogue import load_catalogue

    status, _, err = cli("export", "ciso-assistant", "--out", tmp_path / "lib.yaml")
    assert status == 0, err
    lib = yaml.safe_load((tmp_path / "lib.yaml").read_text(encoding="utf-8"))
    assert library_problems(lib) == []
    fw = lib["objects"]["framework"]
    assert [g["ref_id"] for g in fw["implementation_groups_definition"]] == list(ROLE_TITLE)
    assessable = [n for n in fw["requirement_nodes"] if n["assessable"]]
    catalogue = load_catalogue()
    assert [n["ref_id"] for n in assessable] == list(catalogue.ids)
    for n in assessable:
        assert n["implementation_groups"] == list(catalogue.provision(n["ref_id"]).stakeholders)
        assert n["description"] == catalogue.provision(n["ref_id"]).summary
    groups = {n["ref_id"]: n["implementation_groups"] for n in assessable}
    assert groups["5.1.2-3"] == ["developer"]
    assert groups["5.1.2-5"] == ["data_custodian"]
    assert groups["5.1.3-1.3"] == ["system_operator"]


# ---------------------------------------------------------------- OSCAL POA&M


def test_poam_is_valid_oscal_with_an_item_per_open_action_and_unmet_provision(
    example_run, cli, tmp_path
):
    from kit.export.poam import validate

    status, _, err = cli("export", "poam", example_run.path, "--out", tmp_path / "p.json")
    assert status == 0, err
    doc = json.loads((tmp_path / "p.json").read_text(encoding="utf-8"))
    validate(doc)
    body = doc["plan-of-action-and-milestones"]
    register = example_run.register
    open_ids = set(register[register["treatment"].isin(OPEN_ACTIONS)]["finding_id"])
    risk_findings = {
        p["value"] for r in body["risks"] for p in r["props"] if p["name"] == "finding"
    }
    assert risk_findings == open_ids
    prov = example_run.provisions
    unmet = prov[prov["status"] == "not met"]
    assert len(body["findings"]) == len(unmet)
    assert len(body["poam-items"]) == len(open_ids) + len(unmet)
    risks = {r["uuid"] for r in body["risks"]}
    findings = {f["uuid"] for f in body["findings"]}
    for item in body["poam-items"]:
        linked = [x["risk-uuid"] for x in item.get("related-risks", [])]
        linked += [x["finding-uuid"] for x in item.get("related-findings", [])]
        assert len(linked) == 1 and linked[0] in risks | findings


def test_poam_of_the_same_run_is_the_same_document(example_run):
    import datetime as dt

    stamp = dt.datetime(2026, 1, 31, 9, 0, tzinfo=dt.UTC)
    a = INTERCHANGE["poam"].build(source_of("poam", str(example_run.path), timestamp=stamp))
    b = INTERCHANGE["poam"].build(source_of("poam", str(example_run.path), timestamp=stamp))
    assert a == b


# ---------------------------------------------------------------- audit trail


def test_every_interchange_export_of_a_run_is_audited_with_its_hash(example_run, tmp_path):
    from kit import audit
    from kit.files import sha256_file
    from kit.runs.store import Store

    trail = Store(example_run.store_root).audit_path
    for fmt in INTERCHANGE:
        paths = export_interchange(fmt, source_of(fmt, str(example_run.path)), tmp_path / fmt)
        last = audit.read(trail)[-1]
        assert last["format"] == fmt and last["run"] == example_run.run_id
        assert last["outputs"] == {p.name: sha256_file(p) for p in paths}
        assert {p.name for p in (tmp_path / fmt).iterdir()} == {p.name for p in paths}


def test_a_system_file_named_for_a_run_format_means_its_latest_run(example_run, cli, tmp_path):
    from kit.resources import default_system

    status, out, err = cli(
        "export",
        "sarif",
        default_system(),
        "--runs",
        example_run.store_root,
        "--out",
        tmp_path / "a.sarif",
    )
    assert status == 0, err
    doc = json.loads((tmp_path / "a.sarif").read_text(encoding="utf-8"))
    assert doc["runs"][0]["properties"]["run"] == load_run(example_run.store_root / "latest").run_id
    status, _, err = cli("export", "sarif", ROOT / "examples" / "credit-risk.yaml")
    assert status == 2 and "runs/retail-credit-risk: no published run here" in err


def test_ciso_assistant_from_a_run_writes_an_audit_file_per_role_held(example_run, cli, tmp_path):
    import csv

    status, out, err = cli("export", "ciso-assistant", example_run.path, "--out", tmp_path)
    assert status == 0, err
    lib = yaml.safe_load(next(tmp_path.glob("*.ciso-assistant.yaml")).read_text(encoding="utf-8"))
    urns = {n["ref_id"]: n["urn"] for n in lib["objects"]["framework"]["requirement_nodes"]}
    prov = example_run.provisions
    roles = sorted(set(prov["role"]))
    files = sorted(tmp_path.glob("*.audit-*.csv"))
    assert [f.name.split(".audit-")[1] for f in files] == [
        f"{r.replace('_', '-')}.csv" for r in roles
    ]
    results = {"met": "compliant", "partial": "partially_compliant", "not met": "non_compliant",
               "not applicable": "not_applicable", "not assessed": "not_assessed"}  # fmt: skip
    for role, f in zip(roles, files, strict=True):
        rows = list(csv.DictReader(f.open(encoding="utf-8")))
        assert list(rows[0])[:3] == ["urn", "assessable", "ref_id"]
        expected = prov[prov["role"] == role]
        assert [r["ref_id"] for r in rows] == list(expected["provision"])
        for r, e in zip(rows, expected.itertuples(), strict=True):
            assert r["urn"] == urns[e.provision]
            assert r["compliance_result"] == results[e.status]
    assert all(str(f) in out for f in files)


@pytest.mark.parametrize("fmt", ["otm", "tmbom"])
def test_hostile_text_survives_a_round_trip_unchanged(cli, tmp_path, fmt):
    from _export_runs import payload_system

    system = payload_system(tmp_path / "payload.yaml")
    assert cli("export", fmt, system, "--out", tmp_path / f"p.{fmt}.json")[0] == 0
    status, _, err = cli("import", fmt, tmp_path / f"p.{fmt}.json", "--out", tmp_path / "back.yaml")
    assert status == 0, err
    back, _ = load_checked(tmp_path / "back.yaml")
    original, _ = load_checked(system)
    same_system(back, original)
    assert back.system == original.system


def test_a_missing_or_unreadable_import_is_a_located_exit_2(cli, tmp_path):
    status, _, err = cli("import", "otm", tmp_path / "nope.json", "--out", tmp_path / "s.yaml")
    assert status == 2 and "nope.json: file not found" in err
    (tmp_path / "latin1.json").write_bytes(
        b'{"otmVersion": "0.2.0", "project": {"name": "caf\xe9"}}'
    )
    status, _, err = cli("import", "otm", tmp_path / "latin1.json", "--out", tmp_path / "s.yaml")
    assert status == 2 and "latin1.json:1: not valid UTF-8" in err
    assert not (tmp_path / "s.yaml").exists()


def test_an_import_leaves_out_what_a_system_file_cannot_hold_and_says_so(cli, tmp_path):
    source = {
        "otmVersion": "0.2.0",
        "project": {"name": "S", "id": "s"},
        "components": [
            {"id": "a", "name": "API gateway", "type": "api", "parent": {"trustZone": "z"}},
            {"id": "A", "name": "Database", "type": "db", "parent": {"trustZone": "z"}},
        ],
        "dataflows": [
            {"id": "f1", "name": "self", "source": "a", "destination": "a"},
            {"id": "f2", "name": "x", "source": "a", "destination": "A", "bidirectional": True},
            {"id": "f3", "name": "y", "source": "a", "destination": "ghost"},
        ],
    }
    (tmp_path / "s.json").write_text(json.dumps(source), encoding="utf-8")
    status, _, err = cli("import", "otm", tmp_path / "s.json", "--out", tmp_path / "s.yaml")
    assert status == 0, err
    model, _ = load_checked(tmp_path / "s.yaml")
    assert [a.id for a in model.assets] == ["a", "a-2"]  # IDs made unique, as slugs
    assert sorted((f.source, f.target) for f in model.flows) == [("a", "a-2"), ("a-2", "a")]
    notes = (tmp_path / "s.yaml").read_text(encoding="utf-8")
    assert "# NOTE: a flow from a to itself was left out" in notes
    assert "names no component 'ghost'" in notes
