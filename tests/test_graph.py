"""The asset graph's analyses, artifact hashes and pictures: small graphs whose answer is known,
the bundled examples, and the synthetic systems the benchmarks use."""

from __future__ import annotations

import importlib.util
import io
import json
from pathlib import Path

import networkx as nx
import pytest
from matplotlib.figure import Figure

from kit import graph as graphs
from kit.errors import InputError
from kit.graph import analyses, plots
from kit.model import hashes
from kit.model.schema import FLOW_RULES, SystemModel, load_system
from kit.resources import examples

ROOT = Path(__file__).resolve().parents[1]


def asset(id, type, **kw):
    """An asset with no inventory gaps unless the test says otherwise."""
    base = {"id": id, "type": type, "owner": "Team"}
    if type not in ("user_group", "infrastructure", "log_store"):
        base["version"] = "1"
    if type in ("dataset", "model", "prompt", "vector_store"):
        base["sha256"] = "0" * 64
    return {**base, **kw}


def flow(source, target, kind, **kw):
    return {"from": source, "to": target, "kind": kind, **kw}


def system(assets, flows=()) -> graphs.AssetGraph:
    return graphs.build(
        SystemModel.model_validate(
            {
                "system": {
                    "id": "t",
                    "name": "Test system",
                    "purpose": "tests",
                    "ai_type": "predictive",
                    "roles": ["developer"],
                },
                "assets": assets,
                "flows": list(flows),
            }
        )
    )


def pipeline(**extra) -> graphs.AssetGraph:
    """data -trains-> model -serves-> api -serves-> users; api depends_on cluster."""
    return system(
        [
            asset("data", "dataset"),
            asset("model", "model"),
            asset("api", "api"),
            asset("users", "user_group"),
            asset("cluster", "infrastructure"),
        ],
        [
            flow("data", "model", "trains"),
            flow("model", "api", "serves"),
            flow("api", "users", "serves"),
            flow("api", "cluster", "depends_on"),
        ],
    )


@pytest.fixture(scope="module")
def example_graphs() -> dict[str, graphs.AssetGraph]:
    return {name: graphs.build(load_system(path)) for name, path in examples().items()}


def load_synth():
    spec = importlib.util.spec_from_file_location("synth", ROOT / "bench" / "synth.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# --- blast radius and lineage -------------------------------------------------------------------


def test_poisoned_dataset_reaches_the_model_the_api_and_its_users():
    g = pipeline()
    assert analyses.blast_radius(g, "data") == {"model", "api", "users"}
    assert analyses.blast_radius(g, "users") == set()


def test_depends_on_is_followed_the_way_influence_moves():
    g = pipeline()
    assert analyses.blast_radius(g, "cluster") == {"api", "users"}
    assert analyses.lineage(g, "api") == {"data", "model", "cluster"}
    assert analyses.lineage(g, "cluster") == set()


def test_reachable_can_follow_only_some_flow_kinds():
    g = pipeline()
    assert analyses.reachable(g, "data", direction="downstream", kinds={"trains"}) == {"model"}


def test_blast_radius_of_unknown_asset_is_a_key_error():
    with pytest.raises(KeyError, match="nope"):
        analyses.blast_radius(pipeline(), "nope")


def test_blast_radius_sizes_count_through_feedback_loops():
    # users write feedback that trains the model again: a cycle of four
    g = system(
        [
            asset("feedback", "dataset"),
            asset("model", "model"),
            asset("app", "application"),
            asset("users", "user_group"),
            asset("logs", "log_store"),
        ],
        [
            flow("feedback", "model", "trains"),
            flow("model", "app", "serves"),
            flow("app", "users", "serves"),
            flow("users", "feedback", "writes"),
            flow("app", "logs", "logs_to"),
        ],
    )
    assert analyses.blast_radius_sizes(g) == {
        "feedback": 4,
        "model": 4,
        "app": 4,
        "users": 4,
        "logs": 0,
    }


def test_blast_radius_sizes_match_blast_radius_on_every_example(example_graphs):
    for g in example_graphs.values():
        sizes = analyses.blast_radius_sizes(g)
        for a in g.model.assets:
            assert sizes[a.id] == len(analyses.blast_radius(g, a.id))
            assert analyses.blast_radius(g, a.id) == nx.descendants(g.graph, a.id) - {a.id}
            assert analyses.lineage(g, a.id) == nx.ancestors(g.graph, a.id) - {a.id}


def test_blast_radius_sizes_of_large_systems_are_estimates_close_to_the_truth(monkeypatch):
    g = graphs.build(load_synth().synthetic_system(600))
    monkeypatch.setattr(analyses, "EXACT_REACH_LIMIT", 0)
    estimated = analyses.blast_radius_sizes(g)
    errors = []
    for a in g.model.assets:
        true = len(analyses.blast_radius(g, a.id))
        if true + 1 < analyses.SKETCH_SIZE:
            assert estimated[a.id] == true, a.id
        else:
            errors.append(abs(estimated[a.id] - true) / true)
    assert errors and sum(errors) / len(errors) < 0.2


# --- single points of failure and critical assets --------------------------------------------


def test_api_is_the_single_point_of_failure_for_its_users():
    spof = analyses.single_points_of_failure(pipeline())
    assert list(spof) == ["api"]
    assert spof["api"] == ["the only link between the rest of the system and 1 asset (users)"]


def test_an_asset_that_only_receives_from_a_part_is_not_its_single_point_of_failure():
    # removing the model cuts the dataset off, but the model feeds nothing into it
    assert "model" not in analyses.single_points_of_failure(pipeline())


def test_redundant_paths_leave_no_single_point_of_failure():
    g = system(
        [
            asset("model", "model"),
            asset("api-a", "api"),
            asset("api-b", "api"),
            asset("users", "user_group"),
        ],
        [
            flow("model", "api-a", "serves"),
            flow("model", "api-b", "serves"),
            flow("api-a", "users", "serves"),
            flow("api-b", "users", "serves"),
        ],
    )
    assert analyses.single_points_of_failure(g) == {}


def test_single_point_of_failure_found_when_it_is_first_in_the_file():
    # the first asset is where the search starts; it must still be judged like the others
    g = system(
        [
            asset("gateway", "api"),
            asset("model", "model"),
            asset("users", "user_group"),
            asset("partners", "user_group"),
        ],
        [
            flow("model", "gateway", "serves"),
            flow("gateway", "users", "serves"),
            flow("gateway", "partners", "serves"),
        ],
    )
    spof = analyses.single_points_of_failure(g)
    assert list(spof) == ["gateway"]
    assert "2 assets (partners, users)" in spof["gateway"][0]


def test_single_points_of_failure_are_cut_vertices(example_graphs):
    for g in example_graphs.values():
        cut = set(nx.articulation_points(g.graph.to_undirected(as_view=True)))
        assert set(analyses.single_points_of_failure(g)) <= cut


def test_critical_assets_give_every_reason():
    g = system(
        [
            asset("data", "dataset"),
            asset("model", "model", criticality="high"),
            asset("api", "api"),
            asset("users", "user_group"),
        ],
        [
            flow("data", "model", "trains"),
            flow("model", "api", "serves"),
            flow("api", "users", "serves"),
        ],
    )
    critical = analyses.critical_assets(g)
    assert critical == {
        "data": ["a compromise reaches 3 of the other 3 assets (100%), among the widest here"],
        "model": ["declared criticality: high"],
        "api": [
            "single point of failure: the only link between the rest of the system and "
            "1 asset (users)"
        ],
    }


# --- trust boundaries and entry points ---------------------------------------------------------


def boundary_system() -> graphs.AssetGraph:
    return system(
        [
            asset("partners", "user_group", exposure="partner"),
            asset("api", "api", exposure="partner"),
            asset("app", "application"),
            asset("staff", "user_group"),
            asset("vendor-llm", "model", source="third_party", provider="V"),
            asset("search", "third_party_component", source="third_party", provider="S"),
        ],
        [
            flow("partners", "api", "invokes", crosses_boundary=True),
            flow("api", "partners", "serves", crosses_boundary=True, encrypted=False),
            flow("api", "app", "serves"),
            flow("app", "vendor-llm", "prompts", crosses_boundary=True, authenticated=False),
            flow("vendor-llm", "app", "serves", crosses_boundary=True),
            flow("search", "app", "retrieves", crosses_boundary=True),
            flow("staff", "app", "prompts"),
        ],
    )


def test_boundary_crossings_list_every_crossing_flow_with_its_protection():
    crossings = analyses.boundary_crossings(boundary_system())
    assert [c["flow"] for c in crossings] == [
        "partners-invokes->api",
        "api-serves->partners",
        "app-prompts->vendor-llm",
        "vendor-llm-serves->app",
        "search-retrieves->app",
    ]
    assert crossings[1] == {
        "flow": "api-serves->partners",
        "from": "api",
        "to": "partners",
        "kind": "serves",
        "authenticated": True,
        "encrypted": False,
    }
    assert crossings[2]["authenticated"] is False


def test_entry_points_are_where_outsiders_reach_in():
    assert analyses.entry_points(boundary_system()) == {
        "api": ["exposed to partners", "calls from 'partners' (partner users)"],
        "app": [
            "output from 'vendor-llm' across a trust boundary",
            "retrieved data from 'search' across a trust boundary",
        ],
    }


def test_data_sent_out_to_a_provider_and_flows_to_people_are_not_entry_points():
    entries = analyses.entry_points(boundary_system())
    assert "vendor-llm" not in entries and "partners" not in entries and "staff" not in entries


# --- inventory gaps ---------------------------------------------------------------------------


def test_inventory_gaps_name_each_missing_field():
    g = system(
        [
            asset("complete", "dataset"),
            {"id": "bare", "type": "dataset"},
            asset("scraped", "dataset", source="public"),
            asset("dated", "dataset", source="public", provenance={"url": "https://x.example"}),
            asset("hosted-llm", "model", source="third_party", provider="V", sha256=None),
            asset("downloaded", "model", source="third_party", format="safetensors", sha256=None),
            asset("old", "dataset", status="retired", version=None, sha256=None),
            {"id": "people", "type": "user_group"},
            asset("lonely", "prompt"),
        ],
        [
            flow("complete", "hosted-llm", "trains"),
            flow("bare", "hosted-llm", "trains"),
            flow("scraped", "downloaded", "trains"),
            flow("dated", "downloaded", "trains"),
            flow("old", "downloaded", "trains"),
            flow("downloaded", "people", "serves"),
        ],
    )
    assert analyses.inventory_gaps(g) == {
        "bare": ["owner", "version", "sha256"],
        "dated": ["provenance.retrieved"],
        "downloaded": ["sha256"],
        "lonely": ["flows"],
        "scraped": ["provenance"],
    }


# --- permissions and environments --------------------------------------------------------------


def test_permission_excess_lists_grants_no_flow_uses():
    g = system(
        [
            asset("agent", "agent", permissions=["crm.*", "tickets.create"]),
            asset("tool", "tool", permissions=["tickets.create", "tickets.delete"]),
            asset("crm", "api"),
            asset("idle", "tool", permissions=["mail.send"]),
        ],
        [
            flow("agent", "tool", "invokes", permissions=["tickets.create"]),
            flow("agent", "crm", "invokes", permissions=["crm.read"]),
        ],
    )
    assert analyses.permission_excess(g) == {
        "agent": ["crm.*"],
        "idle": ["mail.send"],
        "tool": ["tickets.delete"],
    }


def test_a_wildcard_grant_is_excess_even_when_its_flow_repeats_it():
    g = system(
        [asset("agent", "agent", permissions=["tickets.*"]), asset("tool", "tool")],
        [flow("agent", "tool", "invokes", permissions=["tickets.*"])],
    )
    assert analyses.permission_excess(g) == {"agent": ["tickets.*"]}


def test_environment_mixing_flags_training_data_outside_development():
    g = system(
        [
            asset("prod-logs", "log_store"),
            asset("dev-set", "dataset", environment="development"),
            asset("shared-set", "dataset", environment="development"),
            asset("hosted-set", "dataset", environment="development"),
            asset("open-set", "dataset", sensitivity="public"),
            asset("served-data", "dataset"),
            asset("model", "model"),
            asset("base", "model"),
            asset("app", "application"),
            asset("prod-db", "infrastructure"),
        ],
        [
            flow("prod-logs", "model", "fine_tunes"),
            flow("dev-set", "model", "trains"),
            flow("shared-set", "model", "trains"),
            flow("shared-set", "app", "retrieves"),
            flow("hosted-set", "model", "trains"),
            flow("hosted-set", "prod-db", "depends_on"),
            flow("open-set", "model", "trains"),
            flow("base", "model", "fine_tunes"),
            flow("served-data", "app", "retrieves"),
        ],
    )
    assert analyses.environment_mixing(g) == {
        "hosted-set": ["depends on production infrastructure 'prod-db'"],
        "prod-logs": ["training data for model held in production"],
        "shared-set": ["read by production asset 'app' (retrieves)"],
    }


# --- the bundled examples ----------------------------------------------------------------------


def test_credit_risk_analyses(example_graphs):
    g = example_graphs["credit-risk"]
    found = analyses.analyses(g)
    assert set(found["single_points_of_failure"]) == {"scoring-api", "scoring-log-store"}
    assert "broker-partners" in found["single_points_of_failure"]["scoring-api"][0]
    critical = found["critical_assets"]
    assert "declared criticality: high" in critical["pd-gbm-champion"]
    assert any(r.startswith("a compromise reaches 15 of") for r in critical["model-registry"])
    assert {c["flow"] for c in found["boundary_crossings"]} == {
        "broker-partners-invokes->scoring-api",
        "scoring-api-serves->broker-partners",
        "bureau-search-api-retrieves->scoring-api",
    }
    assert set(found["entry_points"]) == {"scoring-api", "bureau-search-api"}
    gaps = found["inventory_gaps"]
    assert gaps["deprivation-index"] == ["sha256", "provenance"]
    assert gaps["legacy-scorecard"] == ["sha256"]
    assert "regional-unemployment" in gaps and "pd-gbm-champion" not in gaps
    assert found["permission_excess"] == {}
    assert found["environment_mixing"] == {}
    assert analyses.blast_radius(g, "offline-feature-store") >= {
        "pd-gbm-champion",
        "scoring-api",
        "broker-partners",
        "underwriters",
    }


def test_support_assistant_analyses(example_graphs):
    found = analyses.analyses(example_graphs["support-assistant"])
    assert set(found["single_points_of_failure"]) == {
        "chat-widget",
        "helpdesk-public-api",
        "support-orchestrator",
    }
    assert set(found["entry_points"]) >= {
        "chat-widget",
        "helpdesk-public-api",
        "support-orchestrator",
    }
    assert "helpdesk-llm" not in found["entry_points"]  # prompts go out to the vendor
    gaps = found["inventory_gaps"]
    assert "provenance" in gaps["community-forum-threads"]
    assert gaps["jailbreak-eval-suite"] == ["flows"]
    assert "helpdesk-llm" not in gaps  # a hosted model has no file to hash
    assert found["permission_excess"] == {}
    assert found["environment_mixing"] == {}


def test_ops_agent_analyses(example_graphs):
    found = analyses.analyses(example_graphs["ops-agent"])
    assert "ops-agent" in found["single_points_of_failure"]
    assert "ops-agent" in found["permission_excess"]


def test_every_analysis_returns_plain_data_on_every_example(example_graphs):
    for g in example_graphs.values():
        found = analyses.analyses(g)
        assert list(found) == [
            "single_points_of_failure",
            "critical_assets",
            "boundary_crossings",
            "entry_points",
            "inventory_gaps",
            "permission_excess",
            "environment_mixing",
        ]
        json.dumps(found)  # plain data only
        ids = set(g.assets)
        for name, result in found.items():
            if isinstance(result, dict):
                assert set(result) <= ids, name
                assert all(result.values()), name


# --- artifact hashes ---------------------------------------------------------------------------

ARTIFACT_SYSTEM = """\
system: {{id: art, name: Artifacts, purpose: tests, ai_type: predictive, roles: [developer]}}
assets:
  - id: weights
    type: model
    artifact: models/weights.bin
  - id: pinned
    type: model
    artifact: models/pinned.bin
    sha256: "{pinned}"
  - id: gone
    type: dataset
    artifact: data/gone.csv
  - id: api
    type: api
flows:
  - {{from: weights, to: api, kind: serves}}
"""


@pytest.fixture
def artifact_system(tmp_path):
    (tmp_path / "models").mkdir()
    (tmp_path / "models" / "weights.bin").write_bytes(b"weights v1")
    (tmp_path / "models" / "pinned.bin").write_bytes(b"pinned")
    pinned = hashes.sha256_file(tmp_path / "models" / "pinned.bin")
    path = tmp_path / "system.yaml"
    path.write_text(ARTIFACT_SYSTEM.format(pinned=pinned), encoding="utf-8")
    return path


def statuses(path):
    model = load_system(path)
    checks = hashes.check_artifacts(path, model)
    hashes.record_hashes(path, model, checks)
    return {c.asset: c.status for c in checks}, checks


def test_first_hash_is_recorded_beside_the_system_file(artifact_system):
    found, checks = statuses(artifact_system)
    assert found == {"weights": "recorded", "pinned": "ok", "gone": "missing"}
    record = json.loads((artifact_system.parent / "system.hashes.json").read_text())
    assert record["artifacts"]["weights"] == {
        "path": "models/weights.bin",
        "sha256": hashes.sha256_file(artifact_system.parent / "models" / "weights.bin"),
    }
    assert "gone" not in record["artifacts"]
    assert [c.finding_id for c in checks if c.finding_id] == ["artifact-missing@gone"]


def test_changed_artifact_is_a_finding_until_the_change_is_accepted(artifact_system):
    statuses(artifact_system)
    (artifact_system.parent / "models" / "weights.bin").write_bytes(b"weights v2, tampered")
    found, checks = statuses(artifact_system)
    assert found["weights"] == "changed"
    changed = next(c for c in checks if c.asset == "weights")
    assert changed.finding_id == "artifact-changed@weights"
    assert changed.expected_from == "record"
    assert statuses(artifact_system)[0]["weights"] == "changed"  # the record kept the old hash
    model = load_system(artifact_system)
    hashes.record_hashes(
        artifact_system, model, hashes.check_artifacts(artifact_system, model), update=True
    )
    assert statuses(artifact_system)[0]["weights"] == "ok"


def test_hash_in_the_system_file_wins_over_the_record(artifact_system):
    (artifact_system.parent / "models" / "pinned.bin").write_bytes(b"swapped")
    found, checks = statuses(artifact_system)
    assert found["pinned"] == "changed"
    assert next(c for c in checks if c.asset == "pinned").expected_from == "system file"


def test_the_users_yaml_is_never_rewritten(artifact_system):
    before = artifact_system.read_bytes()
    statuses(artifact_system)
    assert artifact_system.read_bytes() == before


@pytest.mark.parametrize("bad", ["../outside.bin", "/etc/passwd", "models/../../x.bin"])
def test_artifact_path_leaving_the_folder_is_refused_with_file_and_line(write, bad):
    path = write(f"""\
        system: {{id: art, name: A, purpose: p, ai_type: predictive, roles: [developer]}}
        assets:
          - id: api
            type: api
          - id: weights
            type: model
            artifact: "{bad}"
        """)
    with pytest.raises(InputError) as err:
        hashes.check_artifacts(path, load_system(path))
    problem = err.value.problems[0]
    assert (problem.file, problem.line, problem.path) == (str(path), 7, "assets[1].artifact")
    assert bad in problem.message


def test_symlink_out_of_the_folder_is_refused(tmp_path):
    inner = tmp_path / "inner"
    inner.mkdir()
    (tmp_path / "secret.bin").write_bytes(b"x")
    (inner / "link.bin").symlink_to(tmp_path / "secret.bin")
    path = inner / "system.yaml"
    path.write_text(
        "system: {id: a, name: A, purpose: p, ai_type: predictive, "
        "roles: [developer]}\nassets:\n  - {id: m, type: model, "
        "artifact: link.bin}\n",
        encoding="utf-8",
    )
    with pytest.raises(InputError, match="leaves the system file's folder"):
        hashes.check_artifacts(path, load_system(path))


def test_a_damaged_hash_record_is_reported(artifact_system):
    (artifact_system.parent / "system.hashes.json").write_text("{not json", encoding="utf-8")
    with pytest.raises(InputError, match="system.hashes.json: not a saikit hash record"):
        hashes.check_artifacts(artifact_system, load_system(artifact_system))


# --- pictures ----------------------------------------------------------------------------------


def test_layout_reads_data_models_serving_consumers():
    g = pipeline()
    pos = plots.layout(
        {a.id: a.type for a in g.model.assets}, [(e.source, e.target, e.kind) for e in g.edges()]
    )
    column = {n: c for n, (c, _) in pos.items()}
    assert column["cluster"] < column["data"] < column["model"] < column["api"] < column["users"]


def test_layout_points_responses_forward_in_a_request_response_pair():
    nodes = {"widget": "application", "gateway": "api"}
    pos = plots.layout(nodes, [("widget", "gateway", "prompts"), ("gateway", "widget", "serves")])
    assert pos["gateway"][0] < pos["widget"][0]


def test_picture_of_each_example_marks_gaps_and_labels_every_asset(example_graphs):
    for name, g in example_graphs.items():
        fig = plots.draw_graph(g)
        assert isinstance(fig, Figure)
        labels = {t.get_text().replace("\n", "") for t in fig.axes[0].texts}
        assert {a.id for a in g.model.assets} <= labels, name
        legend = [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
        assert "inventory gaps" in legend and "single point of failure" in legend
        buf = io.BytesIO()
        fig.savefig(buf, format="png")
        assert buf.getvalue()[:4] == b"\x89PNG"
        assert fig._repr_png_()[:4] == b"\x89PNG"  # Jupyter shows it without pyplot


def test_labels_do_not_overlap_at_forty_assets():
    g = graphs.build(load_synth().synthetic_system(40, seed=3))
    fig = plots.draw_graph(g)
    renderer = fig.canvas.get_renderer()
    fig.draw(renderer)
    boxes = [
        t.get_window_extent(renderer)
        for t in fig.axes[0].texts
        if t.get_text() in {a.id for a in g.model.assets}
        or t.get_text().replace("\n", "") in g.assets
    ]
    assert len(boxes) == 40
    overlaps = [(i, j) for i in range(len(boxes)) for j in range(i) if boxes[i].overlaps(boxes[j])]
    assert overlaps == []


def test_large_systems_are_drawn_aggregated_by_type():
    g = graphs.build(load_synth().synthetic_system(200))
    fig = plots.draw_graph(g)
    texts = [t.get_text() for t in fig.axes[0].texts]
    assert not any(a.id in texts for a in g.model.assets)
    datasets = sum(a.type == "dataset" for a in g.model.assets)
    assert any(t.startswith(f"{datasets} dataset\n") for t in texts)
    assert "aggregated by type" in fig.axes[0].get_title(loc="left")


# --- the synthetic systems --------------------------------------------------------------------


def test_synthetic_systems_are_valid_and_about_three_flows_per_asset():
    synth = load_synth()
    model = synth.synthetic_system(500)
    assert len(model.assets) == 500
    assert 2.5 <= len(model.flows) / 500 <= 3.5
    assert {a.type for a in model.assets} == set(synth.TYPE_MIX)
    for f in model.flows:
        sources, targets = FLOW_RULES[f.kind]
        assert model.asset_by_id[f.source].type in sources
        assert model.asset_by_id[f.target].type in targets
    assert synth.synthetic_data(500) == synth.synthetic_data(500)


def test_synthetic_system_file_loads_like_any_system_file(tmp_path):
    synth = load_synth()
    path = synth.write_system(tmp_path / "synthetic.yaml", 300, seed=7)
    assert load_system(path) == synth.synthetic_system(300, seed=7)
