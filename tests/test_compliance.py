"""Compliance: each automatic check both ways, attestations, the views, the examples and the CLI."""

from __future__ import annotations

import datetime as dt
import textwrap

import pandas as pd
import pytest
from matplotlib.colors import to_hex
from matplotlib.figure import Figure

from kit.analysis import analyse, analyse_model
from kit.compliance.assessment import (
    CHECKS,
    COLUMNS,
    HISTORY_CHECKS,
    STATUSES,
    RunFacts,
    assess,
    by_provision,
    gaps,
    provision_key,
    summary,
    totals,
)
from kit.compliance.catalogue import load_catalogue
from kit.compliance.checks import NO_HISTORY
from kit.compliance.plots import principle_label, status_chart
from kit.errors import InputError
from kit.model.schema import SystemModel, load_system
from kit.resources import examples
from kit.threats.library import Library, Threat, load_library
from kit.vocab import STATUS_COLOURS

TODAY = dt.date(2026, 11, 26)
CONFIG = "a" * 64
RUN = dt.datetime(2026, 11, 20, 9, 30, tzinfo=dt.UTC)


def facts(**changes) -> RunFacts:
    """Run history of a system last run six days ago on its current configuration."""
    base = dict(
        config_sha256=CONFIG,
        last_run_config_sha256=CONFIG,
        last_run_time=RUN,
        audited_prompts=frozenset(),
        communicated_findings=frozenset(),
    )
    return RunFacts(**{**base, **changes})


NO_RUN = dict(last_run_config_sha256=None, last_run_time=None)


def system(*assets: dict, flows=(), controls=(), attestations=(), decisions=(), **fields) -> dict:
    """A system file as data: three roles, the given assets, flows and the rest."""
    return {
        "system": {
            "id": "tiny",
            "name": "Tiny",
            "purpose": "A system for tests.",
            "ai_type": "generative",
            "roles": ["developer", "system_operator", "data_custodian"],
            **fields,
        },
        "assets": list(assets),
        "flows": list(flows),
        "controls": list(controls),
        "attestations": list(attestations),
        "decisions": list(decisions),
    }


def asset(id: str, type: str, **fields) -> dict:
    return {"id": id, "type": type, "owner": "Team", "version": "1", **fields}


def flow(source: str, target: str, kind: str, **fields) -> dict:
    return {"from": source, "to": target, "kind": kind, **fields}


def control(name: str, *assets: str, status: str = "implemented") -> dict:
    return {"control": name, "assets": list(assets), "status": status}


def table(data: dict, run: RunFacts | None = None, library: Library | None = None) -> pd.DataFrame:
    model = SystemModel.model_validate(data)
    return assess(analyse_model(model, library or load_library(), TODAY), run, TODAY)


def row(
    data: dict,
    provision: str,
    run: RunFacts | None = None,
    *,
    role: str | None = None,
    library: Library | None = None,
) -> dict:
    """The assessed row of one provision, for `role` or the first role it binds."""
    df = table(data, run, library)
    role = role or load_catalogue().provision(provision).stakeholders[0]
    hit = df[(df["provision"] == provision) & (df["role"] == role)]
    assert len(hit) == 1
    return hit.iloc[0].to_dict()


def status(data: dict, provision: str, run: RunFacts | None = None, **kw) -> str:
    return row(data, provision, run, **kw)["status"]


# A one-threat library: every model gets a critical finding, so treatments are under test control.
THREAT = Threat.model_validate(
    {
        "id": "test-threat",
        "name": "Test threat",
        "summary": "A threat that exists only in these tests.",
        "detection": "Applies to every model of the test system.",
        "category": "misuse",
        "phases": ["design"],
        "ai_types": ["predictive", "generative", "agentic"],
        "attaches_to": ["model"],
        "likelihood": 5,
        "impact": 5,
        "provisions": ["5.1.3-1.2"],
        "references": [{"taxonomy": "mitre-atlas", "id": "AML.T0040", "edition": "v4"}],
    }
)


def one_threat() -> Library:
    return Library(threats={THREAT.id: THREAT}, controls=load_library().controls)


MODEL = asset("scorer", "model")
APP = asset("app", "application")
SERVED = flow("scorer", "app", "serves")


# ------------------------------------------------------------------------------ the registry


def test_checks_are_catalogue_provisions_and_between_22_and_28():
    ids = set(load_catalogue().ids)
    assert set(CHECKS) <= ids
    assert 22 <= len(CHECKS) <= 31
    assert HISTORY_CHECKS <= set(CHECKS)


def test_every_automatic_check_has_a_meets_and_a_fails_test():
    names = [n for n in globals() if n.startswith("test_")]
    for pid in CHECKS:
        suffix = pid.replace(".", "_").replace("-", "_")
        pinned = [n for n in names if n.endswith(suffix) or f"{suffix}_" in n]
        assert any("meet" in n for n in pinned), f"no test shows a model meeting {pid}"
        assert any(w in n for n in pinned for w in ("fail", "flagged", "partial")), pid


def test_table_has_one_row_per_provision_and_held_role_with_stable_columns():
    df = table(system(MODEL, APP, flows=[SERVED]))
    assert list(df.columns) == COLUMNS
    # one row per provision and held role, and one for the End-users' duty (5.2.1-4)
    assert len(df) == 72 * 3 + 1
    assert df[df["role"] == "end_user"]["provision"].tolist() == ["5.2.1-4"]
    assert set(df["status"]) <= set(STATUSES)
    assert df["status_rank"].dtype.kind == "i"
    assert not df["reason"].str.contains("\n").any()


def test_a_role_the_provision_does_not_bind_is_not_applicable_with_the_reason():
    r = row(system(MODEL), "5.1.2-5", role="developer")
    assert r["status"] == "not applicable"
    assert "binds data_custodian" in r["reason"]


# --------------------------------------------------------------- automatic checks, both ways


def test_business_requirement_recorded_meets_5_1_2_1():
    assert status(system(MODEL, business_requirement="Cut triage time."), "5.1.2-1") == "met"


def test_missing_business_requirement_fails_5_1_2_1():
    assert status(system(MODEL), "5.1.2-1") == "not met"


def test_run_with_versioned_models_datasets_prompts_meets_5_1_2_3():
    assert status(system(MODEL), "5.1.2-3", facts()) == "met"


def test_no_run_in_audit_trail_fails_5_1_2_3():
    assert status(system(MODEL), "5.1.2-3", facts(**NO_RUN)) == "not met"


def test_unversioned_dataset_makes_5_1_2_3_partial_and_is_named():
    data = system(
        MODEL,
        {"id": "raw", "type": "dataset", "owner": "T"},
        flows=[flow("raw", "scorer", "trains")],
    )
    r = row(data, "5.1.2-3", facts())
    assert r["status"] == "partial" and "raw" in r["reason"]


def test_run_history_checks_without_facts_are_not_assessed():
    df = table(
        system(
            MODEL,
            {"id": "p", "type": "prompt", "owner": "T"},
            flows=[flow("p", "scorer", "prompts")],
        )
    )
    rows = df[df["provision"].isin(HISTORY_CHECKS) & (df["source"].isin(["automatic", "both"]))]
    assert set(rows["status"]) == {"not assessed"}
    assert set(rows["reason"]) == {NO_HISTORY}


def test_third_party_model_with_due_diligence_meets_5_1_2_4():
    dd = {"date": "2026-01-01", "evidence": "VRM-1"}
    assert (
        status(system(asset("llm", "model", source="third_party", due_diligence=dd)), "5.1.2-4")
        == "met"
    )


def test_public_model_without_due_diligence_fails_5_1_2_4():
    r = row(system(asset("hub-model", "model", source="public")), "5.1.2-4")
    assert r["status"] == "not met" and "hub-model" in r["reason"]


def _agent(*permissions: str) -> dict:
    return system(
        asset("agent", "agent", permissions=list(permissions)),
        asset("mail", "tool"),
        flows=[flow("agent", "mail", "invokes", permissions=["email.send"])],
    )


def test_permissions_matching_flows_meet_5_1_2_6():
    assert status(_agent("email.send"), "5.1.2-6") == "met"


def test_permission_no_flow_needs_fails_5_1_2_6_and_is_named():
    r = row(_agent("email.send", "fs.write"), "5.1.2-6")
    assert r["status"] == "not met"
    assert "agent (fs.write)" in r["reason"]


def test_provider_with_due_diligence_meets_5_1_2_7():
    dd = {"date": "2026-01-01", "evidence": "VRM-1"}
    data = system(asset("tool", "tool", provider="Acme SaaS", due_diligence=dd))
    assert status(data, "5.1.2-7") == "met"


def test_provider_without_due_diligence_fails_5_1_2_7():
    r = row(system(asset("tool", "tool", provider="Acme SaaS")), "5.1.2-7")
    assert r["status"] == "not met" and "Acme SaaS" in r["reason"]


def test_recent_threat_model_run_meets_5_1_3_1():
    assert status(system(MODEL), "5.1.3-1", facts()) == "met"


def test_threat_model_run_older_than_review_interval_is_partial_5_1_3_1():
    old = facts(last_run_time=dt.datetime(2025, 1, 2, tzinfo=dt.UTC))
    r = row(system(MODEL, review_interval_days=90), "5.1.3-1", old)
    assert r["status"] == "partial" and "90-day" in r["reason"]


def test_no_threat_model_run_fails_5_1_3_1():
    assert status(system(MODEL), "5.1.3-1", facts(**NO_RUN)) == "not met"


def test_threat_model_current_with_configuration_meets_5_1_3_1_1():
    assert status(system(MODEL), "5.1.3-1.1", facts()) == "met"


def test_configuration_changed_since_last_run_fails_5_1_3_1_1():
    r = row(system(MODEL), "5.1.3-1.1", facts(config_sha256="b" * 64))
    assert r["status"] == "not met" and "changed" in r["reason"]


def _multimodal(*controls: dict, decisions=()) -> dict:
    llm = asset("llm", "model", modalities_offered=["text", "image"], modalities_used=["text"])
    return system(llm, controls=list(controls), decisions=list(decisions))


def test_model_using_every_modality_it_offers_meets_5_1_3_1_2():
    llm = asset("llm", "model", modalities_offered=["text"], modalities_used=["text"])
    assert status(system(llm), "5.1.3-1.2") == "met"


def test_multimodal_model_used_for_fewer_modalities_is_flagged_5_1_3_1_2():
    r = row(_multimodal(), "5.1.3-1.2")
    assert r["status"] == "not met"
    assert "llm" in r["reason"] and "image" in r["evidence"]


def test_modality_restriction_implemented_meets_planned_is_partial_5_1_3_1_2():
    assert status(_multimodal(control("modality-restriction", "llm")), "5.1.3-1.2") == "met"
    planned = control("modality-restriction", "llm", status="planned")
    assert status(_multimodal(planned), "5.1.3-1.2") == "partial"


def test_accepted_superfluous_modality_risk_meets_5_1_3_1_2():
    accepted = {"finding": "test-threat@llm", "status": "accepted", "owner": "CISO"}
    assert status(_multimodal(decisions=[accepted]), "5.1.3-1.2", library=one_threat()) == "met"


def test_findings_within_appetite_or_decided_meet_5_1_3_1_3():
    accepted = {"finding": "test-threat@scorer", "status": "accepted", "owner": "CISO"}
    data = system(MODEL, decisions=[accepted])
    assert status(data, "5.1.3-1.3", library=one_threat()) == "met"


def test_finding_above_appetite_without_decision_fails_5_1_3_1_3():
    r = row(system(MODEL), "5.1.3-1.3", library=one_threat())
    assert r["status"] == "not met" and "test-threat@scorer" in r["reason"]


def test_communicated_unresolved_findings_meet_5_1_3_2():
    sent = facts(communicated_findings=frozenset({"test-threat@scorer"}))
    assert status(system(MODEL), "5.1.3-2", sent, library=one_threat()) == "met"


def test_uncommunicated_unresolved_findings_fail_5_1_3_2():
    r = row(system(MODEL), "5.1.3-2", facts(), library=one_threat())
    assert r["status"] == "not met" and "test-threat@scorer" in r["reason"]


def test_human_oversight_described_meets_5_1_4_1():
    assert status(system(MODEL, human_oversight="Analysts review every flag."), "5.1.4-1") == "met"


def test_no_human_oversight_fails_5_1_4_1():
    assert status(system(MODEL), "5.1.4-1") == "not met"


def _acting_tool(approval: bool | None) -> dict:
    tool = asset("deploy-tool", "tool", outputs=["action"], human_approval=approval)
    return system(tool, human_oversight="On-call approves deployments.")


def test_unknown_human_approval_is_no_evidence_and_is_named_as_unknown_5_1_4_3():
    r = row(_acting_tool(None), "5.1.4-3")
    assert r["status"] == "not met"
    assert "human_approval not recorded" in r["evidence"]
    assert "human_approval false" in row(_acting_tool(False), "5.1.4-3")["evidence"]


def test_acting_tool_with_human_approval_meets_5_1_4_3():
    assert status(_acting_tool(True), "5.1.4-3") == "met"


def test_acting_tool_without_human_approval_fails_5_1_4_3():
    r = row(_acting_tool(False), "5.1.4-3")
    assert r["status"] == "not met" and "deploy-tool" in r["reason"]


def test_owned_connected_inventory_meets_5_2_1_1():
    assert status(system(MODEL, APP, flows=[SERVED]), "5.2.1-1") == "met"


def test_unconnected_or_unowned_asset_fails_5_2_1_1():
    orphan = {"id": "orphan", "type": "dataset", "version": "1"}
    r = row(system(MODEL, APP, orphan, flows=[SERVED]), "5.2.1-1")
    assert r["status"] == "partial"
    assert "orphan (no owner, no flow)" in r["reason"]


def test_versioned_assets_meet_5_2_1_2():
    assert status(system(MODEL, APP), "5.2.1-2") == "met"


def test_asset_without_version_fails_5_2_1_2():
    r = row(system({"id": "scorer", "type": "model", "owner": "T"}), "5.2.1-2")
    assert r["status"] == "not met" and "scorer" in r["reason"]


def _personal_data(*controls: dict) -> dict:
    data = asset("customers", "dataset", sensitivity="personal")
    return system(data, MODEL, flows=[flow("customers", "scorer", "trains")], controls=controls)


def test_personal_data_with_access_control_meets_5_2_1_4():
    assert status(_personal_data(control("access-control", "customers")), "5.2.1-4") == "met"


def test_personal_data_without_access_protection_fails_5_2_1_4():
    planned = control("access-control", "customers", status="planned")
    r = row(_personal_data(planned), "5.2.1-4")
    assert r["status"] == "not met" and "access-control planned" in r["evidence"]


def test_confidential_weights_with_model_access_control_meet_5_2_1_4_2():
    weights = asset("scorer", "model", sensitivity="confidential")
    data = system(weights, controls=[control("model-access-control", "scorer")])
    assert status(data, "5.2.1-4.2") == "met"


def test_unprotected_confidential_weights_fail_5_2_1_4_2():
    assert (
        status(system(asset("scorer", "model", sensitivity="confidential")), "5.2.1-4.2")
        == "not met"
    )


def _public_api(**fields) -> dict:
    return system(
        MODEL,
        asset("api", "api", exposure="public", **fields),
        flows=[flow("scorer", "api", "serves")],
    )


def test_authenticated_apis_and_boundary_flows_meet_5_2_2_1():
    assert status(_public_api(authentication="oauth"), "5.2.2-1") == "met"


def test_unauthenticated_api_or_boundary_flow_fails_5_2_2_1():
    assert status(_public_api(), "5.2.2-1") == "not met"
    data = _public_api(authentication="oauth")
    data["flows"][0].update(crosses_boundary=True, authenticated=False)
    assert status(data, "5.2.2-1") == "not met"


def test_rate_limited_public_api_meets_5_2_2_2():
    assert status(_public_api(rate_limit_per_minute=60), "5.2.2-2") == "met"


def test_public_api_without_rate_limit_fails_5_2_2_2():
    r = row(_public_api(), "5.2.2-2")
    assert r["status"] == "not met" and "api" in r["reason"]


@pytest.mark.parametrize(
    "limit", [{"requests": 5000, "per": "day"}, {"requests": 10, "per": "second"}, "limited"]
)
def test_a_rate_limit_in_any_window_or_known_only_qualitatively_meets_5_2_2_2(limit):
    r = row(_public_api(rate_limit=limit), "5.2.2-2")
    assert r["status"] == "met" and "rate_limit: " in r["evidence"]


def test_a_stated_absence_of_rate_limit_fails_5_2_2_2():
    r = row(_public_api(rate_limit="none"), "5.2.2-2")
    assert r["status"] == "not met" and "rate_limit: none" in r["evidence"]


def test_internal_only_apis_make_5_2_2_2_not_applicable():
    data = system(MODEL, asset("api", "api"), flows=[flow("scorer", "api", "serves")])
    assert status(data, "5.2.2-2") == "not applicable"


def _training_data(environment: str) -> dict:
    data = asset("customers", "dataset", sensitivity="personal", environment=environment)
    return system(data, MODEL, flows=[flow("customers", "scorer", "trains")])


def test_training_data_in_development_meets_5_2_2_3():
    assert status(_training_data("development"), "5.2.2-3") == "met"


def test_training_data_in_production_fails_5_2_2_3():
    r = row(_training_data("production"), "5.2.2-3")
    assert r["status"] == "not met" and "customers" in r["reason"]


def test_training_data_read_by_a_production_asset_fails_5_2_2_3():
    data = _training_data("development")
    data["assets"].append(asset("report", "application", environment="production"))
    data["flows"].append(flow("customers", "report", "retrieves"))
    r = row(data, "5.2.2-3")
    assert r["status"] == "not met" and "read by production asset 'report'" in r["evidence"]


def test_audit_trail_of_current_design_meets_5_2_4_1():
    assert status(system(MODEL), "5.2.4-1", facts()) == "met"


def test_no_design_in_audit_trail_fails_5_2_4_1():
    assert status(system(MODEL), "5.2.4-1", facts(**NO_RUN)) == "not met"
    assert status(system(MODEL), "5.2.4-1", facts(config_sha256="b" * 64)) == "partial"


def test_model_hash_recorded_meets_5_2_4_1_2():
    assert status(system(asset("scorer", "model", sha256="0" * 64)), "5.2.4-1.2") == "met"


def test_model_without_hash_fails_5_2_4_1_2():
    r = row(system(asset("scorer", "model", format="pickle")), "5.2.4-1.2")
    assert r["status"] == "not met" and "scorer" in r["reason"]


def _public_dataset(provenance: dict | None) -> dict:
    extra = {"provenance": provenance} if provenance else {}
    data = asset("scraped", "dataset", source="public", sensitivity="public", **extra)
    index = asset("index", "vector_store")
    return system(data, index, flows=[flow("scraped", "index", "indexes")])


def test_public_dataset_with_url_and_retrieval_time_meets_5_2_4_2_and_5_2_4_2_1():
    data = _public_dataset({"url": "https://example.org/dump", "retrieved": "2026-10-01"})
    assert status(data, "5.2.4-2") == "met"
    assert status(data, "5.2.4-2.1") == "met"


def test_public_dataset_without_provenance_fails_5_2_4_2_and_5_2_4_2_1():
    data = _public_dataset(None)
    assert status(data, "5.2.4-2") == "not met"
    r = row(data, "5.2.4-2.1")
    assert r["status"] == "not met" and "scraped" in r["reason"]


def test_public_dataset_without_retrieval_time_fails_only_5_2_4_2_1():
    data = _public_dataset({"url": "https://example.org/dump"})
    assert status(data, "5.2.4-2") == "met"
    assert status(data, "5.2.4-2.1") == "not met"


PROMPT = asset("sys-prompt", "prompt")


def test_prompt_version_in_audit_trail_meets_5_2_4_3():
    data = system(MODEL, PROMPT, flows=[flow("sys-prompt", "scorer", "prompts")])
    assert status(data, "5.2.4-3", facts(audited_prompts=frozenset({"sys-prompt"}))) == "met"


def test_prompt_change_missing_from_audit_trail_fails_5_2_4_3():
    data = system(MODEL, PROMPT, flows=[flow("sys-prompt", "scorer", "prompts")])
    r = row(data, "5.2.4-3", facts())
    assert r["status"] == "not met" and "sys-prompt" in r["reason"]


def _logged_api(*extra_flows: dict) -> dict:
    return system(
        MODEL,
        asset("api", "api"),
        asset("logs", "log_store"),
        APP,
        flows=[flow("scorer", "api", "serves"), *extra_flows],
    )


def test_api_logging_to_a_log_store_meets_5_4_2_1():
    assert status(_logged_api(flow("api", "logs", "logs_to")), "5.4.2-1") == "met"


def test_api_logging_nowhere_fails_5_4_2_1():
    r = row(_logged_api(), "5.4.2-1")
    assert r["status"] == "not met" and "api" in r["reason"]


def test_log_store_read_by_monitoring_meets_5_4_2_2():
    data = _logged_api(flow("api", "logs", "logs_to"), flow("logs", "app", "retrieves"))
    assert status(data, "5.4.2-2") == "met"


def test_log_store_nobody_reads_fails_5_4_2_2():
    r = row(_logged_api(flow("api", "logs", "logs_to")), "5.4.2-2")
    assert r["status"] == "not met" and "logs" in r["reason"]


def test_monitored_model_meets_5_4_2_4():
    assert status(system(MODEL, controls=[control("monitoring", "scorer")]), "5.4.2-4") == "met"


def test_unmonitored_model_fails_5_4_2_4():
    assert status(system(MODEL), "5.4.2-4") == "not met"


def test_retired_asset_with_disposal_record_meets_5_5_1_2():
    old = asset("old-data", "dataset", status="retired", disposal="Deleted 2026-01-02 (CHG-1)")
    assert status(system(MODEL, old), "5.5.1-2") == "met"


def test_retired_asset_without_disposal_record_fails_5_5_1_2():
    r = row(system(MODEL, asset("old-data", "dataset", status="retired")), "5.5.1-2")
    assert r["status"] == "not met" and "old-data" in r["reason"]


def test_a_retired_asset_without_flows_leaves_the_inventory_whole():
    old = asset("old-data", "dataset", status="retired", disposal="Deleted 2026-01-02")
    assert (
        status(
            system(MODEL, asset("data", "dataset"), old, flows=[flow("data", "scorer", "trains")]),
            "5.2.1-1",
        )
        == "met"
    )
    idle = asset("idle-data", "dataset")  # still in use, yet connected to nothing
    r = row(
        system(MODEL, asset("data", "dataset"), idle, flows=[flow("data", "scorer", "trains")]),
        "5.2.1-1",
    )
    assert r["status"] == "partial" and "idle-data" in r["reason"]


@pytest.mark.parametrize("kind", ["trains", "fine_tunes"])
def test_logs_used_only_to_train_are_not_log_analysis(kind):
    logs = asset("chat-logs", "log_store")
    data = system(
        MODEL,
        logs,
        flows=[flow("scorer", "chat-logs", "logs_to"), flow("chat-logs", "scorer", kind)],
    )
    r = row(data, "5.4.2-2")
    assert r["status"] == "not met" and "chat-logs" in r["reason"]
    app = asset("soc-console", "application")
    read = system(
        MODEL,
        logs,
        app,
        flows=[
            flow("scorer", "chat-logs", "logs_to"),
            flow("chat-logs", "soc-console", "retrieves"),
        ],
    )
    assert status(read, "5.4.2-2") == "met"


@pytest.mark.parametrize("protection", ["pii-redaction", "data-minimisation", "encryption-at-rest"])
def test_protecting_the_data_is_not_protecting_access_to_it(protection):
    data = asset("customers", "dataset", sensitivity="personal")
    flows = [flow("customers", "scorer", "trains")]
    only = system(MODEL, data, flows=flows, controls=[control(protection, "customers")])
    r = row(only, "5.2.1-4")
    assert r["status"] == "not met" and "customers" in r["reason"]
    guarded = [control(protection, "customers"), control("access-control", "customers")]
    assert status(system(MODEL, data, flows=flows, controls=guarded), "5.2.1-4") == "met"


def test_reviewing_feedback_is_not_monitoring_the_model():
    reviewed = system(MODEL, controls=[control("feedback-review", "scorer")])
    r = row(reviewed, "5.4.2-4")
    assert r["status"] == "not met" and "scorer" in r["reason"]
    watched = system(MODEL, controls=[control("model-integrity-monitoring", "scorer")])
    assert status(watched, "5.4.2-4") == "met"


def test_oversight_relied_on_but_not_built_is_a_gap():
    relies = system(
        MODEL, human_oversight="Credit officers review every decline before it is sent."
    )
    r = row(relies, "5.1.4-3")
    assert r["status"] == "not met" and "human_oversight" in r["reason"]
    assert status(system(MODEL), "5.1.4-3") == "not applicable"  # nothing relies on people


def test_a_wildcard_grant_fails_least_privilege_even_when_its_flow_repeats_it():
    agent = asset("agent", "agent", permissions=["tickets.*"])
    tool = asset("tool", "tool")
    data = system(
        MODEL, agent, tool, flows=[flow("agent", "tool", "invokes", permissions=["tickets.*"])]
    )
    r = row(data, "5.1.2-6")
    assert r["status"] == "not met" and "tickets.*" in r["reason"]


@pytest.mark.parametrize(
    "text", ["pending, nothing deleted yet", "TBD", "todo: ask the data team", "n/a", "-"]
)
def test_a_placeholder_is_no_disposal_record(text):
    r = row(system(MODEL, asset("old-data", "dataset", status="retired", disposal=text)), "5.5.1-2")
    assert r["status"] == "not met" and "old-data" in r["reason"]


@pytest.mark.parametrize("text", ["TBD", "TODO", "n/a", "???", "Pending sign-off"])
def test_a_placeholder_business_requirement_is_not_recorded(text):
    assert status(system(MODEL, business_requirement=text), "5.1.2-1") == "not met"
    assert status(system(MODEL, business_requirement="Decide loans in minutes"), "5.1.2-1") == "met"


def test_a_placeholder_human_oversight_is_not_recorded():
    assert status(system(MODEL, human_oversight="TBD"), "5.1.4-1") == "not met"


# ---------------------------------------------------------------------------- attestations


def attest(provision: str, **fields) -> dict:
    return {
        "provision": provision,
        "status": "met",
        "evidence": "Doc-1",
        "owner": "CISO",
        "date": "2026-10-01",
        **fields,
    }


def test_fresh_complete_attestation_is_met():
    r = row(system(MODEL, attestations=[attest("5.2.2-4")]), "5.2.2-4")
    assert (r["status"], r["source"]) == ("met", "attested")
    assert r["evidence"] == "Doc-1"


def test_attestation_older_than_review_interval_counts_as_partial():
    data = system(
        MODEL, attestations=[attest("5.2.2-4", date="2025-06-01")], review_interval_days=180
    )
    r = row(data, "5.2.2-4")
    assert r["status"] == "partial"
    assert "beyond the 180-day review interval" in r["reason"]


@pytest.mark.parametrize("attested", ["partial", "not_met"])
def test_an_attestation_lowers_a_passing_check_and_never_raises_a_failing_one(attested):
    disposed = asset("old-data", "dataset", status="retired", disposal="Deleted 2026-01-02")
    lowered = row(
        system(MODEL, disposed, attestations=[attest("5.5.1-2", status=attested)]), "5.5.1-2"
    )
    assert lowered["status"] == attested.replace("_", " ")
    assert lowered["source"] == "both"
    assert lowered["reason"].startswith(f"attested {attested.replace('_', ' ')} on 2026-10-01")
    undisposed = asset("old-data", "dataset", status="retired")
    failing = system(MODEL, undisposed, attestations=[attest("5.5.1-2", status="met")])
    assert status(failing, "5.5.1-2") == "not met"


def test_stale_not_met_attestation_stays_not_met():
    data = system(MODEL, attestations=[attest("5.2.2-4", status="not_met", date="2020-01-01")])
    assert status(data, "5.2.2-4") == "not met"


@pytest.mark.parametrize("missing", ["evidence", "owner"])
def test_attestation_without_evidence_or_owner_is_partial_with_reason(missing):
    a = attest("5.2.2-4")
    del a[missing]
    r = row(system(MODEL, attestations=[a]), "5.2.2-4")
    assert r["status"] == "partial"
    assert f"no {missing}" in r["reason"]


def test_attestation_with_role_applies_to_that_role_only():
    df = table(system(MODEL, attestations=[attest("5.2.2-4", role="system_operator")]))
    got = df[df["provision"] == "5.2.2-4"].set_index("role")["status"]
    assert got["system_operator"] == "met"
    assert got["developer"] == "not assessed"


def test_automatic_check_stands_over_attestation_which_is_cited_in_evidence():
    r = row(system(MODEL, attestations=[attest("5.1.2-1", evidence="PRD-7")]), "5.1.2-1")
    assert (r["status"], r["source"]) == ("not met", "both")
    assert "also attested: met on 2026-10-01 by CISO: PRD-7" in r["evidence"]


def test_run_history_check_without_history_falls_back_to_attestation():
    r = row(system(MODEL, attestations=[attest("5.1.3-2", status="not_met")]), "5.1.3-2")
    assert (r["status"], r["source"]) == ("not met", "both")
    assert r["reason"].startswith(NO_HISTORY)


def test_provision_with_neither_check_nor_attestation_is_not_assessed():
    r = row(system(MODEL), "5.2.2-4")
    assert (r["status"], r["source"]) == ("not assessed", "none")


def test_attestation_for_unknown_provision_is_an_error_naming_the_nearest(write):
    path = write(
        """\
        system: {id: t, name: T, purpose: Tests., ai_type: predictive, roles: [developer]}
        assets: [{id: m, type: model}]
        attestations:
          - {provision: 5.2.4-21, status: met, evidence: x, owner: y, date: 2026-01-01}
        """
    )
    with pytest.raises(InputError) as err:
        load_system(path, provisions=set(load_catalogue().ids))
    assert "unknown provision '5.2.4-21' (did you mean '5.2.4-2.1'?)" in str(err.value)
    model = load_system(path)  # without the catalogue the loader lets it through; assess does not
    with pytest.raises(InputError, match="did you mean '5.2.4-2.1'"):
        assess(analyse_model(model, load_library(), TODAY), today=TODAY)


# ---------------------------------------------------------------------------------- views


def test_summary_counts_each_status_by_principle_and_role():
    df = table(system(MODEL, business_requirement="Need."))
    s = summary(df)
    assert list(s.columns) == ["principle", "principle_title", "role", *STATUSES]
    assert len(s) == 13 * 3 + 1  # and the End-users' duty under principle 5
    assert s[list(STATUSES)].to_numpy().sum() == len(df)
    p2_dev = s[(s["principle"] == 2) & (s["role"] == "developer")].iloc[0]
    assert p2_dev["met"] >= 1  # 5.1.2-1


def test_provision_key_sorts_numerically():
    ids = ["5.2.10-1", "5.2.9-1", "5.2.1-4.2", "5.2.1-4", "5.2.1-10"]
    assert sorted(ids, key=provision_key) == [
        "5.2.1-4",
        "5.2.1-4.2",
        "5.2.1-10",
        "5.2.9-1",
        "5.2.10-1",
    ]


def test_gaps_order_shall_before_should_then_phase_then_number():
    base = dict(
        principle=1,
        principle_title="t",
        status_rank=0,
        modals="shall",
        scope="applies",
        source="automatic",
        evidence="",
        facts="",
        reason="",
    )
    rows = [
        dict(
            provision="5.4.2-2",
            phase="maintenance",
            modal="should",
            role="developer",
            status="not met",
        ),
        dict(
            provision="5.2.10-1",
            phase="development",
            modal="shall",
            role="developer",
            status="partial",
        ),
        dict(
            provision="5.2.9-1",
            phase="development",
            modal="shall",
            role="developer",
            status="not met",
        ),
        dict(
            provision="5.1.2-1",
            phase="design",
            modal="shall",
            role="system_operator",
            status="not met",
        ),
        dict(
            provision="5.1.2-1", phase="design", modal="shall", role="developer", status="partial"
        ),
        dict(provision="5.1.1-1", phase="design", modal="should", role="developer", status="met"),
    ]
    df = pd.DataFrame([{**base, **r} for r in rows])[COLUMNS]
    got = gaps(df)
    assert list(zip(got["provision"], got["role"], strict=True)) == [
        ("5.1.2-1", "developer"),
        ("5.1.2-1", "system_operator"),
        ("5.2.9-1", "developer"),
        ("5.2.10-1", "developer"),
        ("5.4.2-2", "developer"),
    ]


def test_status_chart_counts_provisions_and_its_numbers_are_its_bars(example_tables):
    df = assess(example_tables["credit-risk"][0], None, TODAY)
    fig = status_chart(df)
    assert isinstance(fig, Figure)
    ax = fig.axes[0]
    labels = [t.get_text() for t in ax.get_yticklabels()]
    assert len(labels) == 13 and labels[0].startswith("P1 Raise awareness")
    bars = [p for p in ax.patches if p.get_width() > 0]
    # every drawn segment carries its own length as its label, so text and colour agree
    numbers = {
        (round(t.get_position()[0], 3), round(t.get_position()[1], 3)): t.get_text()
        for t in ax.texts
    }
    for bar in bars:
        centre = (
            round(bar.get_x() + bar.get_width() / 2, 3),
            round(bar.get_y() + bar.get_height() / 2, 3),
        )
        assert numbers[centre] == str(int(bar.get_width()))
    # the bars count provisions, not rows: drawn plus "n/a" make the catalogue's 72
    rolled = by_provision(df)
    drawn = sum(int(b.get_width()) for b in bars)
    assert drawn == int((rolled["status"] != "not applicable").sum())
    per_principle = rolled.groupby("principle").size()
    assert per_principle.sum() == 72
    # "not assessed" is hatched grey, never mistaken for the red of "not met"
    colours = {STATUS_COLOURS[s]: s for s in STATUSES}
    kinds = {colours.get(to_hex(b.get_facecolor())): b.get_hatch() for b in bars}
    assert kinds["not assessed"] and not kinds.get("not met")
    assert "partial" in kinds and "met" in kinds


def test_principle_label_folds_and_keeps_the_whole_title():
    title = "Communication and processes associated with End-users and Affected Entities"
    label = principle_label(10, title)
    assert label.split() == f"P10 {title}".split()  # every word, in order, none cut
    assert 1 < label.count("\n") + 1 <= 2 and max(map(len, label.split("\n"))) <= 42


# ------------------------------------------------------------------------------ examples

AUTOMATIC_ON_EXAMPLES = {
    "support-assistant": {
        "5.1.2-1": "met",
        "5.1.2-4": "partial",
        "5.1.2-6": "met",
        "5.1.2-7": "partial",
        "5.1.3-1.2": "partial",
        "5.1.3-1.3": "not met",
        "5.1.4-1": "met",
        "5.1.4-3": "not met",
        "5.2.1-1": "partial",
        "5.2.1-2": "partial",
        "5.2.1-4": "not met",  # redaction and minimisation protect data, not access
        "5.2.1-4.2": "not applicable",
        "5.2.2-1": "met",
        "5.2.2-2": "met",
        "5.2.2-3": "not applicable",
        "5.2.4-1.2": "met",
        "5.2.4-2": "partial",
        "5.2.4-2.1": "partial",
        "5.4.2-1": "partial",
        "5.4.2-2": "not met",
        "5.4.2-4": "partial",
        "5.5.1-2": "not applicable",
    },
    "credit-risk": {
        "5.1.2-1": "met",
        "5.1.2-4": "met",
        "5.1.2-6": "met",
        "5.1.2-7": "partial",
        "5.1.3-1.2": "not applicable",
        "5.1.3-1.3": "not met",
        "5.1.4-1": "met",
        "5.1.4-3": "met",
        "5.2.1-1": "met",
        "5.2.1-2": "partial",
        "5.2.1-4": "not met",
        "5.2.1-4.2": "partial",
        "5.2.2-1": "met",
        "5.2.2-2": "met",
        "5.2.2-3": "met",
        "5.2.4-1.2": "partial",
        "5.2.4-2": "partial",
        "5.2.4-2.1": "partial",
        "5.4.2-1": "met",
        "5.4.2-2": "met",
        "5.4.2-4": "partial",
        "5.5.1-2": "partial",  # the check passes; the attested partial stands
    },
    "ops-agent": {
        "5.1.2-1": "met",
        "5.1.2-4": "partial",
        "5.1.2-6": "not met",
        "5.1.2-7": "partial",
        "5.1.3-1.2": "not met",
        "5.1.3-1.3": "not met",
        "5.1.4-1": "met",
        "5.1.4-3": "partial",
        "5.2.1-1": "met",
        "5.2.1-2": "partial",
        "5.2.1-4": "not met",
        "5.2.1-4.2": "not applicable",
        "5.2.2-1": "met",
        "5.2.2-2": "not applicable",
        "5.2.2-3": "not applicable",
        "5.2.4-1.2": "not applicable",
        "5.2.4-2": "partial",
        "5.2.4-2.1": "partial",
        "5.4.2-1": "met",
        "5.4.2-2": "not met",
        "5.4.2-4": "not met",
        "5.5.1-2": "not applicable",
    },
}


@pytest.fixture(scope="module")
def example_tables() -> dict[str, tuple]:
    return {name: (analyse(path, today=TODAY), path) for name, path in examples().items()}


def test_the_three_examples_exist():
    assert set(AUTOMATIC_ON_EXAMPLES) <= set(examples())


@pytest.mark.parametrize("name", sorted(AUTOMATIC_ON_EXAMPLES))
def test_model_checks_on_examples(name, example_tables):
    analysis, _ = example_tables[name]
    df = assess(analysis, None, TODAY)
    auto = (
        df[df["source"].isin(["automatic", "both"])]
        .drop_duplicates("provision")
        .set_index("provision")
    )
    got = {p: auto.at[p, "status"] for p in AUTOMATIC_ON_EXAMPLES[name]}
    assert got == AUTOMATIC_ON_EXAMPLES[name]
    assert len(df) == 72 * len(analysis.model.system.roles) + 1  # + the End-users' 5.2.1-4


@pytest.mark.parametrize("name", sorted(AUTOMATIC_ON_EXAMPLES))
def test_run_history_checks_on_examples_both_ways(name, example_tables):
    analysis, _ = example_tables[name]
    prompts = frozenset(a.id for a in analysis.model.assets if a.type == "prompt")
    findings = frozenset(f.id for f in analysis.assessment.findings)
    briefed = tuple((role, "2026-11-20") for role in analysis.model.system.roles)
    good = facts(audited_prompts=prompts, communicated_findings=findings, briefed=briefed)
    bad = facts(**NO_RUN)
    for run, expect in (
        (good, {"met", "partial", "not applicable"}),
        (bad, {"not met", "not applicable"}),
    ):
        df = assess(analysis, run, TODAY)
        auto = df[df["provision"].isin(HISTORY_CHECKS) & (df["source"].isin(["automatic", "both"]))]
        lowered = auto["reason"].str.contains("which stands over the check")  # attested
        assert set(auto[~lowered]["status"]) <= expect, auto[["provision", "status", "reason"]]
        assert set(auto[lowered]["status"]) <= {"partial", "not met"}
    df = assess(analysis, good, TODAY)
    for pid in ("5.1.3-1.1", "5.1.3-2", "5.2.4-1", "5.2.4-3"):
        rows = df[(df["provision"] == pid) & (df["source"].isin(["automatic", "both"]))]
        rows = rows[~rows["reason"].str.contains("which stands over the check")]
        assert set(rows["status"]) <= {"met", "not applicable"}


def test_examples_pin_gaps_a_reviewer_can_check(example_tables):
    support = assess(example_tables["support-assistant"][0], None, TODAY)
    credit = assess(example_tables["credit-risk"][0], None, TODAY)
    ops = assess(example_tables["ops-agent"][0], None, TODAY)

    def reason(df, pid, role="developer"):
        return df[(df["provision"] == pid) & (df["role"] == role)].iloc[0]

    assert "community-forum-threads" in reason(support, "5.2.4-2.1")["reason"]
    assert "legacy-scorecard" in reason(credit, "5.2.4-1.2")["reason"]
    assert "ops-agent (fs.write)" in reason(ops, "5.1.2-6")["reason"]
    assert "helpdesk-llm" in reason(support, "5.1.3-1.2")["reason"]
    stale = reason(support, "5.3.1-1", "system_operator")
    assert (stale["status"], stale["source"]) == ("partial", "attested")
    assert "review interval" in stale["reason"]
    no_evidence = reason(support, "5.2.5-2", "system_operator")
    assert no_evidence["status"] == "partial" and "no evidence" in no_evidence["reason"]


# ----------------------------------------------------------------------------------- CLI


def test_comply_prints_summary_and_gaps(cli, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # no ./runs here, so no run history
    code, out, err = cli("comply", examples()["credit-risk"])
    assert code == 0, err
    assert "run history: none" in out
    assert "P1 " in out and "data_custodian" in out
    assert "gaps (" in out and "5.2.4-1.2" in out and "legacy-scorecard" in out


def test_comply_defaults_to_the_bundled_example_and_filters_by_role(cli, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    code, out, _ = cli("comply", "--role", "system_operator")
    assert code == 0
    assert "Helpdesk Assistant: 72 provisions × 1 role(s)" in out
    assert " developer " not in out


def test_comply_unknown_role_exits_2_naming_the_valid_roles(cli, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    code, _, err = cli("comply", "--role", "data_custodian")
    assert code == 2
    assert "roles held: system_operator, developer" in err


def test_comply_writes_the_table_as_csv(cli, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    target = tmp_path / "provisions.csv"
    code, out, _ = cli("comply", examples()["ops-agent"], "--csv", target)
    assert code == 0 and f"wrote {target}" in out
    written = pd.read_csv(target)
    assert list(written.columns) == COLUMNS and len(written) == 72 * 2 + 1
    assert not list(tmp_path.glob(".provisions.csv.*"))  # no temp file left behind


def test_comply_refuses_to_write_csv_over_a_directory(cli, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    code, _, err = cli("comply", "--csv", tmp_path)
    assert code == 2 and "is a directory" in err


def test_comply_reports_unknown_attested_provision(cli, write, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    path = write(
        textwrap.dedent(
            """\
            system: {id: t, name: T, purpose: Tests., ai_type: predictive, roles: [developer]}
            assets: [{id: m, type: model}]
            attestations:
              - {provision: 5.2.4-4, status: met, evidence: x, owner: y, date: 2026-01-01}
            """
        )
    )
    code, _, err = cli("comply", path)
    assert code == 2
    assert "unknown provision '5.2.4-4'" in err and "did you mean" in err


def test_comply_reads_run_history_from_the_run_store(cli, tmp_path, monkeypatch):
    from kit import audit
    from kit.inputs import config_sha256
    from kit.runs.store import store_for

    monkeypatch.chdir(tmp_path)
    path = examples()["support-assistant"]
    model = load_system(path)
    prompt = model.asset_by_id["support-system-prompt"]
    store = store_for(model.system.id, tmp_path / "store")
    audit.append(
        store.audit_path,
        "run",
        status="published",
        run="r1",
        config_sha256=config_sha256(model),
        prompts={prompt.id: prompt.sha256},
    )
    code, out, err = cli("comply", path, "--out", tmp_path / "store", "--csv", tmp_path / "p.csv")
    assert code == 0, err
    assert "run history: last run " in out
    df = pd.read_csv(tmp_path / "p.csv").set_index(["provision", "role"])["status"]
    assert df[("5.1.3-1.1", "developer")] == "met"
    assert df[("5.2.4-3", "developer")] == "met"


# ------------------------------------------------------- how a verdict is made (issue 16)


def test_a_role_the_provision_does_not_bind_is_not_applicable_by_the_catalogue():
    r = row(system(MODEL), "5.2.1-4.2", role="system_operator")  # binds the developer only
    assert (r["status"], r["scope"], r["source"]) == ("not applicable", "role not bound", "none")


def test_nothing_triggering_a_provision_is_not_applicable_with_its_reason_and_no_gap():
    public = asset("scorer", "model", sensitivity="public")
    r = row(system(public), "5.2.1-4.2")
    assert (r["status"], r["scope"], r["source"]) == (
        "not applicable",
        "not triggered",
        "automatic",
    )
    assert r["reason"] == "no confidential model weights or training data"
    assert "5.2.1-4.2" not in set(gaps(table(system(public)))["provision"])


def test_an_unrecorded_triggering_fact_is_not_applicable_yet_stays_in_the_gaps():
    r = row(system(MODEL), "5.2.1-4.2")  # the model says nothing of its sensitivity
    assert (r["status"], r["scope"]) == ("not applicable", "not recorded")
    assert (
        r["reason"]
        == "not recorded: no model or training data is confidential, but scorer record no sensitivity"
    )
    assert "5.2.1-4.2" in set(gaps(table(system(MODEL)))["provision"])


@pytest.mark.parametrize("model", [MODEL, asset("scorer", "model", sensitivity="public")])
def test_an_attestation_settles_what_the_check_found_not_applicable(model):
    data = system(model, attestations=[attest("5.2.1-4.2", status="met", evidence="Vault-7")])
    r = row(data, "5.2.1-4.2")
    assert (r["status"], r["scope"], r["source"]) == ("met", "applies", "both")
    assert r["evidence"] == "Vault-7"
    assert "attestation: met on 2026-10-01 by CISO: Vault-7" in r["facts"]


def test_a_verdict_names_the_assets_controls_and_attestation_behind_it():
    store = asset("kb", "vector_store", sensitivity="personal")
    data = system(
        MODEL,
        store,
        controls=[control("access-control", "kb")],
        attestations=[attest("5.2.1-4", status="partial", evidence="Review-3")],
    )
    r = row(data, "5.2.1-4")
    assert (r["status"], r["source"]) == ("partial", "both")
    assert r["facts"] == (
        "assets: kb; controls: access-control on kb (implemented); "
        "attestation: partial on 2026-10-01 by CISO: Review-3"
    )


def test_a_run_history_verdict_names_the_run_it_read():
    r = row(system(MODEL), "5.1.3-1.1", facts())
    assert r["source"] == "automatic"
    assert r["facts"] == f"run history: last run 2026-11-20 09:30 (configuration {CONFIG[:12]})"


def test_end_users_duty_is_listed_and_can_be_attested_as_passed_on():
    store = asset("kb", "vector_store", sensitivity="personal", authentication="sso")
    listed = row(system(MODEL, store), "5.2.1-4", role="end_user")
    assert (listed["status"], listed["source"]) == ("not assessed", "none")
    assert "End-user duty" in listed["reason"]
    passed_on = attest("5.2.1-4", role="end_user", evidence="Terms of use s.4")
    r = row(system(MODEL, store, attestations=[passed_on]), "5.2.1-4", role="end_user")
    assert (r["status"], r["source"]) == ("met", "attested")


def test_one_line_per_provision_takes_the_worst_role_and_totals_count_provisions():
    data = system(MODEL, attestations=[attest("5.2.2-4", role="system_operator")])
    df = table(data)
    rolled = by_provision(df)
    assert len(rolled) == 72 and rolled["provision"].is_unique
    line = rolled.set_index("provision").loc["5.2.2-4"]
    assert (line["status"], line["roles"]) == ("not assessed", "developer, system_operator")
    assert line["reason"].startswith("developer: ")
    assert sum(totals(df).values()) == 72
    modals = rolled.set_index("provision")["modals"]
    assert (modals == "shall+should").sum() == 4  # the standard's four mixed provisions
    unbound = rolled.set_index("provision").loc["5.2.1-4.2"]  # binds the developer only
    solo = table(system(MODEL, roles=["system_operator"]))
    assert unbound["roles"] == "developer"
    assert by_provision(solo).set_index("provision").loc["5.2.1-4.2", "scope"] == "role not bound"


# ------------------------------------------------------- 5.2.3-2 poorly documented components


def _hub_model(**fields) -> dict:
    return system(asset("hub-model", "model", source="public", **fields))


def test_a_model_that_came_with_its_card_meets_5_2_3_2():
    r = row(_hub_model(documentation=["model-card", "licence"]), "5.2.3-2")
    assert (r["status"], r["source"]) == ("met", "automatic")
    assert r["evidence"] == "hub-model: came with licence, model-card"


def test_a_poorly_documented_model_without_justification_fails_5_2_3_2():
    r = row(_hub_model(documentation=["licence"]), "5.2.3-2")
    assert r["status"] == "not met"
    assert "poorly documented (came with licence); no written justification" in r["evidence"]
    assert row(_hub_model(documentation=[]), "5.2.3-2")["status"] == "not met"


def test_a_poorly_documented_model_justified_in_due_diligence_meets_5_2_3_2():
    dd = {"date": "2026-05-01", "evidence": "Only supplier of a Welsh-language model; RISK-12"}
    r = row(_hub_model(documentation=["none"], due_diligence=dd), "5.2.3-2")
    assert r["status"] == "met"
    assert (
        "poorly documented (came with none); justified in due diligence 2026-05-01"
        in (r["evidence"])
    )


def test_unrecorded_documentation_is_not_recorded_and_a_gap_5_2_3_2():
    r = row(_hub_model(), "5.2.3-2")
    assert (r["status"], r["scope"]) == ("not applicable", "not recorded")
    assert "5.2.3-2" in set(gaps(table(_hub_model()))["provision"])


def test_only_in_house_models_make_5_2_3_2_not_triggered():
    r = row(system(MODEL), "5.2.3-2")
    assert (r["status"], r["scope"]) == ("not applicable", "not triggered")


# ------------------------------------------------------------- 5.1.1 role briefings (issue 19)

ALL_BRIEFED = (
    ("data_custodian", "2026-11-01"),
    ("developer", "2026-11-20"),
    ("system_operator", "2026-10-02"),
)


@pytest.mark.parametrize("pid", ["5.1.1-1.1", "5.1.1-2"])
def test_a_recent_briefing_for_every_role_meets_5_1_1_1_1_and_5_1_1_2(pid):
    r = row(system(MODEL), pid, facts(briefed=ALL_BRIEFED))
    assert (r["status"], r["source"]) == ("met", "automatic")
    assert "developer: briefing exported 2026-11-20" in r["evidence"]


@pytest.mark.parametrize("pid", ["5.1.1-1.1", "5.1.1-2"])
def test_a_role_never_briefed_or_briefed_too_long_ago_is_partial_5_1_1_1_1_and_5_1_1_2(pid):
    stale = (("developer", "2025-01-10"), ("system_operator", "2026-11-01"))
    r = row(system(MODEL), pid, facts(briefed=stale))
    assert r["status"] == "partial"
    assert "developer: briefing exported 2025-01-10, 685 days ago" in r["evidence"]
    assert "data_custodian: no briefing exported" in r["evidence"]
    assert status(system(MODEL), pid, facts()) == "not met"


def test_a_briefing_export_makes_earlier_runs_stale_through_the_history_digest():
    from kit.compliance.facts import _briefed, history_digest

    before = [{"event": "run", "status": "published"}]
    exported = {
        "event": "export",
        "format": "briefing",
        "role": "developer",
        "time": "2026-11-20T10:00:00+00:00",
    }
    assert _briefed([*before, exported]) == (("developer", "2026-11-20"),)
    assert history_digest(before) != history_digest([*before, exported])
