"""Inventory exports (CycloneDX ML-BOM, GraphML) and the graph commands of the CLI."""

from __future__ import annotations

import datetime as dt
import json

import networkx as nx
import pytest

from kit import graph as graphs
from kit.export import bom, graphml
from kit.graph import analyses
from kit.model import hashes
from kit.model.schema import SystemModel, load_system
from kit.resources import examples

STAMP = dt.datetime(2026, 11, 30, 9, 0, tzinfo=dt.UTC)


@pytest.fixture(scope="module")
def example_graphs() -> dict[str, graphs.AssetGraph]:
    return {name: graphs.build(load_system(path)) for name, path in examples().items()}


def components(doc: dict) -> dict[str, dict]:
    return {c["bom-ref"]: c for c in doc["components"]}


def depends(doc: dict) -> dict[str, list[str]]:
    return {d["ref"]: d.get("dependsOn", []) for d in doc["dependencies"]}


# --- CycloneDX ML-BOM ---------------------------------------------------------------------------


def test_bom_of_every_example_passes_the_strict_cyclonedx_1_6_schema(example_graphs):
    for name, g in example_graphs.items():
        text = bom.bom_json(g, timestamp=STAMP)
        assert bom.validation_errors(text) == [], name
        assert json.loads(text)["specVersion"] == "1.6"


def test_validation_catches_what_the_schema_forbids(example_graphs):
    doc = bom.bom(example_graphs["credit-risk"])
    doc["components"][0]["unexpected"] = True
    assert bom.validation_errors(json.dumps(doc))


def test_bom_is_identical_on_rerun_and_its_serial_follows_the_content(example_graphs):
    g = example_graphs["credit-risk"]
    first = bom.bom_json(g, timestamp=STAMP)
    assert bom.bom_json(g, timestamp=STAMP) == first
    later = bom.bom_json(g, timestamp=STAMP + dt.timedelta(days=1))
    serial = json.loads(first)["serialNumber"]
    assert serial.startswith("urn:uuid:")
    assert json.loads(later)["serialNumber"] != serial
    assert "timestamp" not in bom.bom(g)["metadata"]


def test_models_are_ml_components_with_hash_and_model_card(example_graphs):
    doc = bom.bom(example_graphs["credit-risk"], timestamp=STAMP)
    champion = components(doc)["pd-gbm-champion"]
    assert champion["type"] == "machine-learning-model"
    assert champion["version"] == "4.2.0"
    assert champion["hashes"] == [
        {
            "alg": "SHA-256",
            "content": "583ce497d0744a8723de98463fe1eb50e0e1159874c26b69e4bc1abb059744cf",
        }
    ]
    params = champion["modelCard"]["modelParameters"]
    assert params["task"] == "scoring" and params["approach"] == {"type": "supervised"}
    assert params["datasets"] == [{"ref": "offline-feature-store"}]
    assert champion["modelCard"]["considerations"]["users"] == ["Broker partners", "Underwriters"]


def test_datasets_are_data_components_with_classification_and_governance(example_graphs):
    comps = components(bom.bom(example_graphs["credit-risk"]))
    bureau = comps["bureau-credit-files"]
    assert bureau["type"] == "data"
    assert bureau["data"] == [
        {
            "type": "dataset",
            "name": "Credit bureau archive extract",
            "classification": "personal",
            "governance": {
                "owners": [{"organization": {"name": "Credit Decisioning"}}],
                "custodians": [{"organization": {"name": "Retail Data Office"}}],
            },
        }
    ]
    assert bureau["supplier"] == {"name": "Meridian Credit Reference Agency"}
    unemployment = comps["regional-unemployment"]
    assert unemployment["externalReferences"] == [
        {
            "type": "distribution",
            "url": "https://www.ons.gov.uk/employmentandlabourmarket/peoplenotinwork/unemployment",
        }
    ]
    assert unemployment["licenses"] == [{"license": {"id": "OGL-UK-3.0"}}]


def test_third_party_components_carry_supplier_and_version(example_graphs):
    comps = components(bom.bom(example_graphs["support-assistant"]))
    llm = comps["helpdesk-llm"]
    assert llm["supplier"] == {"name": "Larkspur AI (hosted LLM API)"}
    assert llm["version"] == "lark-chat-2025-09-18"
    search = comps["web-search-api"]
    assert search["supplier"] == {"name": "Brightline Search API"}
    assert {"name": "saikit:type", "value": "third_party_component"} in search["properties"]


def test_people_are_not_components_and_dependencies_follow_lineage(example_graphs):
    g = example_graphs["credit-risk"]
    doc = bom.bom(g)
    comps = components(doc)
    assert "broker-partners" not in comps and "underwriters" not in comps
    deps = depends(doc)
    assert deps["pd-gbm-champion"] == ["model-registry", "offline-feature-store"]
    assert deps["scoring-api"] == sorted(
        {
            "online-feature-store",
            "bureau-search-api",
            "pd-gbm-champion",
            "pd-gbm-challenger",
            "legacy-scorecard",
            "serving-cluster",
            "hsm-key-service",
        }
    )
    assert deps[bom.system_ref(g)] == sorted(comps)
    assert doc["metadata"]["component"]["bom-ref"] == "system:retail-credit-risk"
    for ref, upstream in deps.items():
        if ref in comps:
            assert set(upstream) <= analyses.lineage(g, ref)


# --- GraphML -----------------------------------------------------------------------------------


def round_trip_equal(a: nx.MultiDiGraph, b: nx.MultiDiGraph) -> bool:
    return (
        a.graph == b.graph
        and dict(a.nodes(data=True)) == dict(b.nodes(data=True))
        and sorted(a.edges(keys=True, data=True)) == sorted(b.edges(keys=True, data=True))
    )


def test_graphml_reads_back_unchanged_for_every_example(example_graphs, tmp_path):
    for name, g in example_graphs.items():
        path = graphml.write_graphml(g, tmp_path / f"{name}.graphml")
        assert round_trip_equal(graphml.read_graphml(path), graphml.to_networkx(g)), name


def test_graphml_encodes_lists_as_json_drops_none_and_flattens_mappings(tmp_path):
    g = graphs.build(
        SystemModel.model_validate(
            {
                "system": {
                    "id": "t",
                    "name": "T",
                    "purpose": "p",
                    "ai_type": "agentic",
                    "roles": ["developer"],
                },
                "assets": [
                    {"id": "agent", "type": "agent", "permissions": ["crm.read", "mail.send"]},
                    {
                        "id": "docs",
                        "type": "dataset",
                        "source": "public",
                        "provenance": {"url": "https://x.example", "retrieved": "2026-01-02"},
                    },
                    {"id": "box", "type": "infrastructure"},
                ],
                "flows": [
                    {"from": "docs", "to": "agent", "kind": "retrieves"},
                    {"from": "agent", "to": "box", "kind": "depends_on", "permissions": ["exec"]},
                ],
            }
        )
    )
    path = graphml.write_graphml(g, tmp_path / "t.graphml")
    raw = nx.read_graphml(path, force_multigraph=True)
    assert raw.nodes["agent"]["permissions"] == '["crm.read", "mail.send"]'
    assert raw.nodes["box"]["tags"] == "[]"
    assert "owner" not in raw.nodes["agent"]  # None is left out
    assert raw.nodes["docs"]["provenance.retrieved"] == "2026-01-02"
    assert "permissions" in json.loads(raw.graph[graphml.JSON_KEYS])
    # depends_on points from the dependency to the dependant; the flow keeps its own words
    ((source, target, key, data),) = raw.out_edges("box", keys=True, data=True)
    assert (source, target, key) == ("box", "agent", "agent-depends_on->box")
    assert (data["from"], data["to"]) == ("agent", "box")
    back = graphml.read_graphml(path)
    assert back.nodes["agent"]["permissions"] == ["crm.read", "mail.send"]
    assert round_trip_equal(back, graphml.to_networkx(g))


# --- CLI ---------------------------------------------------------------------------------------


def test_cli_export_bom_writes_a_valid_deterministic_bom(cli, tmp_path):
    out = tmp_path / "a.json"
    status, stdout, _ = cli(
        "export",
        "bom",
        examples()["credit-risk"],
        "--out",
        out,
        "--timestamp",
        "2026-11-30T09:00:00+00:00",
    )
    assert status == 0 and f"wrote {out}" in stdout
    text = out.read_text()
    assert bom.validation_errors(text) == []
    assert json.loads(text)["metadata"]["timestamp"] == "2026-11-30T09:00:00+00:00"
    again = tmp_path / "b.json"
    cli(
        "export",
        "bom",
        examples()["credit-risk"],
        "--out",
        again,
        "--timestamp",
        "2026-11-30T09:00:00+00:00",
    )
    assert again.read_bytes() == out.read_bytes()


def test_cli_export_bom_defaults_to_the_bundled_example(cli, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("SOURCE_DATE_EPOCH", raising=False)
    status, out, _ = cli("export", "bom")
    assert status == 0
    # Beside the run exports, in the store of the system it describes, and audited there.
    [written] = (tmp_path / "runs").glob("*/exports/*/*.bom.json")
    assert written.name == "support-assistant.bom.json"
    assert f"wrote {written.relative_to(tmp_path)}" in out
    doc = json.loads(written.read_text())
    assert "timestamp" not in doc["metadata"]
    from kit import audit

    [entry] = audit.read(written.parents[2] / "audit.jsonl")
    assert entry["format"] == "bom" and written.name in entry["outputs"]


def test_cli_export_bad_timestamp_is_exit_2(cli, tmp_path):
    status, _, err = cli("export", "bom", "--out", tmp_path / "x.json", "--timestamp", "soon")
    assert status == 2 and "--timestamp" in err and "ISO-8601" in err


def test_cli_export_graphml_reads_back(cli, tmp_path):
    out = tmp_path / "g.graphml"
    status, _, _ = cli("export", "graphml", examples()["credit-risk"], "--out", out)
    assert status == 0
    assert graphml.read_graphml(out).number_of_nodes() == 26


def test_cli_export_unknown_format_is_a_usage_error(cli):
    with pytest.raises(SystemExit) as exc:
        cli("export", "pdfx")
    assert exc.value.code == 2


def test_cli_exporters_are_a_registry_others_can_extend():
    from kit.cli import EXPORTERS

    assert {"bom", "graphml"} <= set(EXPORTERS)


def test_cli_graph_prints_the_analyses_and_draws(cli, tmp_path):
    png = tmp_path / "g.png"
    status, out, _ = cli("graph", examples()["credit-risk"], "--png", png)
    assert status == 0
    for heading in (
        "single points of failure: 2",
        "critical assets:",
        "boundary crossings: 3",
        "entry points: 2",
        "inventory gaps:",
        "permission excess: none",
        "environment mixing: none",
    ):
        assert heading in out
    assert "scoring-api: the only link" in out
    assert png.read_bytes()[:4] == b"\x89PNG"


HASHED = """\
system: {id: h, name: Hashed, purpose: p, ai_type: predictive, roles: [developer]}
assets:
  - {id: weights, type: model, artifact: weights.bin}
  - {id: api, type: api}
flows:
  - {from: weights, to: api, kind: serves}
"""


def test_cli_hash_records_then_reports_a_changed_artifact(cli, write, tmp_path):
    path = write(HASHED)
    (tmp_path / "weights.bin").write_bytes(b"v1")
    status, out, _ = cli("hash", path)
    assert status == 0 and "recorded" in out
    assert (tmp_path / "system.hashes.json").exists()
    assert cli("hash", path)[0] == 0
    (tmp_path / "weights.bin").write_bytes(b"v2")
    status, out, _ = cli("hash", path)
    assert status == 1
    assert "changed" in out and "finding: artifact-changed@weights" in out
    status, out, _ = cli("hash", path, "--update")
    assert status == 0
    assert cli("hash", path)[0] == 0


def test_cli_hash_reports_a_missing_artifact_without_crashing(cli, write):
    path = write(HASHED)
    status, out, _ = cli("hash", path)
    assert status == 1 and "missing" in out and "artifact-missing@weights" in out


def test_cli_hash_refuses_an_artifact_outside_the_folder(cli, write):
    path = write(HASHED.replace("weights.bin", "../weights.bin"))
    status, _, err = cli("hash", path)
    assert status == 2
    assert f"{path}:3 assets[0].artifact" in err


def test_recorded_hashes_reach_the_bom_and_the_gaps(cli, write, tmp_path):
    path = write(HASHED)
    (tmp_path / "weights.bin").write_bytes(b"v1")
    cli("hash", path)
    out = tmp_path / "h.json"
    cli("export", "bom", path, "--out", out)
    weights = components(json.loads(out.read_text()))["weights"]
    assert weights["hashes"][0]["content"] == hashes.sha256_file(tmp_path / "weights.bin")
    status, text, _ = cli("graph", path)
    assert "  weights: owner; version\n" in text  # no sha256 gap: the hash is recorded
