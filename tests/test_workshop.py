"""Workshop mode without a browser: the editing session, saving, the audit trail, the widgets."""

from __future__ import annotations

import ast
import datetime as dt
import difflib
import json
import re
import tempfile
import textwrap
from collections import Counter
from pathlib import Path

import pytest

from kit import audit
from kit.errors import InputError
from kit.files import sha256_file
from kit.inputs import canonical_config, config_sha256, load_checked
from kit.resources import examples, notebooks
from kit.runs.changes import config_changes
from kit.workshop.forms import format_value, parse_value
from kit.workshop.lab import workshop_notebook
from kit.workshop.panels import residual_summary
from kit.workshop.session import Session
from kit.workshop.views import Workshop

SYSTEM = """\
# Tiny scoring system for the workshop tests.
system:
  id: tiny
  name: Tiny system
  purpose: A small system for tests.
  ai_type: predictive
  roles: [developer, system_operator]  # we build and run it

assets:
  # --- data
  - id: train-data
    type: dataset
    sensitivity: personal   # customer records

  # --- model and serving
  - id: scorer
    type: model
    version: "1.0"
    outputs: [score]
  - id: score-api
    type: api
    exposure: partner

flows:
  - {from: train-data, to: scorer, kind: trains}
  - {from: scorer, to: score-api, kind: serves}   # the only way out

controls:
  - control: rate-limiting
    assets: [score-api]
    status: planned   # gateway quota still to be set
    evidence: API gateway quota, ticket OPS-12
# end of file
"""
TODAY = dt.date(2026, 11, 2)


@pytest.fixture
def system(tmp_path):
    path = tmp_path / "system.yaml"
    path.write_text(SYSTEM, encoding="utf-8")
    return path


@pytest.fixture
def session(system, tmp_path):
    return Session.open(system, out=tmp_path / "runs", today=TODAY)


def residuals(session: Session) -> dict[str, int]:
    return {f.id: f.residual_score for f in session.analysis.assessment.findings}


def snapshot(session: Session):
    return (
        session.text,
        session.current.config_sha256,
        len(session.history),
        list(session.pending),
    )


def diff(before: str, after: str) -> list[str]:
    return [
        line
        for line in difflib.unified_diff(before.splitlines(), after.splitlines(), lineterm="", n=0)
        if line[:1] in "+-" and not line.startswith(("+++", "---"))
    ]


# ---------------------------------------------------------------- edits change the findings


def test_implementing_a_control_lowers_the_residual_risk_of_the_findings_it_mitigates(session):
    before = residuals(session)
    change = session.set_control("rate-limiting", "score-api", "implemented")
    after = residuals(session)
    assert change == "control rate-limiting on score-api: planned → implemented"
    # rate-limiting: likelihood −1 for extraction and cost harvesting, −2 for denial of service
    assert (before["model-extraction@scorer"], after["model-extraction@scorer"]) == (12, 9)
    assert (before["cost-harvesting@score-api"], after["cost-harvesting@score-api"]) == (12, 9)
    assert (before["denial-of-ai-service@score-api"], after["denial-of-ai-service@score-api"]) == (
        12,
        6,
    )
    # findings whose evidence does not reach score-api keep their score
    assert after["evasion@scorer"] == before["evasion@scorer"]
    assert after["weights-theft@scorer"] == before["weights-theft@scorer"]


def test_taking_the_api_off_the_partner_network_removes_the_exposure_findings(session):
    change = session.set_attribute("score-api", "exposure", "internal")
    assert change == "asset score-api: exposure partner → internal"
    raised = set(residuals(session))
    assert "model-extraction@scorer" not in raised
    assert "denial-of-ai-service@score-api" not in raised
    assert "weights-theft@scorer" in raised


def test_adding_a_log_flow_from_the_partner_api_raises_interaction_log_exposure(session):
    session.add_asset({"id": "request-log", "type": "log_store", "sensitivity": "personal"})
    assert "interaction-log-exposure@request-log" not in residuals(session)
    change = session.add_flow({"from": "score-api", "to": "request-log", "kind": "logs_to"})
    assert change == "added flow score-api-logs_to->request-log"
    assert "interaction-log-exposure@request-log" in residuals(session)


def test_recording_an_acceptance_takes_the_finding_out_of_the_open_actions(session):
    finding = next(
        f for f in session.analysis.assessment.findings if f.id == "model-extraction@scorer"
    )
    assert finding.treatment == "action required"
    actions_before = residual_summary(session.analysis)["actions"]
    session.record_decision(
        "model-extraction@scorer",
        "accepted",
        "Two contracted partners only",
        "Head of Credit Risk",
        dt.date(2027, 5, 1),
    )
    finding = next(
        f for f in session.analysis.assessment.findings if f.id == "model-extraction@scorer"
    )
    assert finding.treatment == "accepted"
    assert finding.decision.owner == "Head of Credit Risk"
    assert finding.decision.date == TODAY
    assert residual_summary(session.analysis)["actions"] == actions_before - 1
    assert "decisions:\n  - finding: model-extraction@scorer\n" in session.text


def test_a_decision_goes_to_the_decisions_file_when_the_system_names_one(tmp_path):
    system = tmp_path / "support-assistant.yaml"
    system.write_text(examples()["support-assistant"].read_text())
    decisions = tmp_path / "support-assistant.decisions.yaml"
    decisions.write_text((examples()["support-assistant"].parent / decisions.name).read_text())
    session = Session.open(system, out=tmp_path / "runs", today=TODAY)
    finding = next(f.id for f in session.analysis.assessment.findings if f.decision is None)
    session.record_decision(
        finding, "false_positive", "Not reachable from outside", "Product Security"
    )
    assert session.text == system.read_text()  # the system file is untouched
    assert f"- finding: {finding}\n    status: false_positive\n" in session.decisions_text
    session.save()
    model, _ = load_checked(system)
    assert {d.finding: d.status for d in model.decisions}[finding] == "false_positive"


def test_removing_a_control_from_one_of_several_assets_keeps_the_others(tmp_path):
    path = tmp_path / "system.yaml"
    path.write_text(SYSTEM.replace("assets: [score-api]", "assets: [score-api, scorer]"))
    session = Session.open(path, out=tmp_path / "runs")
    session.set_control("rate-limiting", "scorer", "implemented")
    assert session.control_status("rate-limiting", "score-api") == "planned"
    assert session.control_status("rate-limiting", "scorer") == "implemented"
    session.set_control("rate-limiting", "score-api", None)
    assert session.control_status("rate-limiting", "score-api") is None
    assert [(u.control, u.assets, u.status) for u in session.model.controls] == [
        ("rate-limiting", ["scorer"], "implemented")
    ]


# ---------------------------------------------------------------- refused edits change nothing


@pytest.mark.parametrize(
    "edit, message",
    [
        (lambda s: s.set_attribute("score-api", "exposure", "publik"), "did you mean 'public'"),
        (lambda s: s.set_attribute("score-ap", "exposure", "public"), "unknown asset 'score-ap'"),
        (lambda s: s.set_attribute("scorer", "outputz", ["label"]), "unknown field 'outputz'"),
        (lambda s: s.set_attribute("scorer", "id", "model"), "cannot be renamed"),
        (
            lambda s: s.add_flow({"from": "train-data", "to": "score-api", "kind": "serves"}),
            "a dataset cannot 'serves'",
        ),
        (
            lambda s: s.add_flow({"from": "scorer", "to": "score-api", "kind": "serves"}),
            "already there",
        ),
        (lambda s: s.add_asset({"id": "scorer", "type": "model"}), "duplicate asset id 'scorer'"),
        (lambda s: s.add_asset({"id": "Bad Id", "type": "model"}), "does not match"),
        (
            lambda s: s.set_control("rate-limitin", "score-api", "implemented"),
            "did you mean 'rate-limiting'",
        ),
        (lambda s: s.set_control("rate-limiting", "score-api", "done"), "implemented or planned"),
        (lambda s: s.remove_flow("scorer-trains->score-api"), "no flow"),
        (
            lambda s: s.record_decision("model-extraction@scorer", "accepted"),
            "needs a justification and an owner",
        ),
        (
            lambda s: s.record_decision("evasion@score-api", "accepted", "x", "y"),
            "no finding 'evasion@score-api'",
        ),
    ],
)
def test_an_invalid_edit_raises_and_changes_nothing(session, system, edit, message):
    before = snapshot(session)
    with pytest.raises(InputError, match=re.escape(message)):
        edit(session)
    assert snapshot(session) == before
    assert system.read_text() == SYSTEM


def test_a_refused_edit_names_the_real_file_not_a_scratch_copy(session, system):
    with pytest.raises(InputError) as exc:
        session.set_attribute("score-api", "exposure", "publik")
    assert [p.file for p in exc.value.problems] == [str(system)]
    assert exc.value.problems[0].path == "assets[2].exposure"


def test_removing_an_asset_in_use_is_refused_unless_its_flows_and_controls_go_too(session):
    with pytest.raises(
        InputError, match="still used by scorer-serves->score-api, control rate-limiting"
    ):
        session.remove_asset("score-api")
    change = session.remove_asset("score-api", cascade=True)
    assert change == "removed asset score-api with 1 flow(s) and 1 control use(s)"
    assert [f.id for f in session.model.flows] == ["train-data-trains->scorer"]
    assert session.model.controls == []
    assert session.text.endswith(
        "  - {from: train-data, to: scorer, kind: trains}\n\n# end of file\n"
    )


def test_an_edit_that_changes_nothing_is_not_recorded(session):
    assert session.set_control("rate-limiting", "score-api", "planned") is None
    assert session.set_attribute("score-api", "exposure", "partner") is None
    assert not session.can_undo and session.pending == []


# ---------------------------------------------------------------- undo


def test_undo_restores_the_previous_state_and_its_findings(session):
    original = (session.text, residuals(session))
    session.set_control("rate-limiting", "score-api", "implemented")
    session.set_attribute("score-api", "exposure", "public")
    after_first = residuals(session)
    assert session.undo() == "asset score-api: exposure partner → public"
    assert session.control_status("rate-limiting", "score-api") == "implemented"
    assert residuals(session) != after_first
    assert session.undo() == "control rate-limiting on score-api: planned → implemented"
    assert (session.text, residuals(session)) == original
    assert session.pending == []
    assert session.undo() is None


# ---------------------------------------------------------------- saving


def test_saving_after_one_edit_changes_only_that_line(session, system):
    session.set_control("rate-limiting", "score-api", "implemented")
    session.save()
    assert diff(SYSTEM, system.read_text()) == [
        "-    status: planned   # gateway quota still to be set",
        "+    status: implemented # gateway quota still to be set",  # the comment keeps its column
    ]


def test_saving_keeps_the_quoting_the_user_chose(session, system):
    session.set_attribute("scorer", "version", "2.0")
    session.save()
    assert diff(SYSTEM, system.read_text()) == ['-    version: "1.0"', '+    version: "2.0"']


def test_saving_keeps_windows_line_ends(tmp_path):
    path = tmp_path / "system.yaml"
    path.write_bytes(SYSTEM.replace("\n", "\r\n").encode())
    session = Session.open(path, out=tmp_path / "runs")
    session.set_attribute("score-api", "exposure", "public")
    session.save()
    saved = path.read_bytes().decode()
    assert saved.count("\r\n") == saved.count("\n") == SYSTEM.count("\n")
    assert diff(SYSTEM, saved.replace("\r\n", "\n")) == [
        "-    exposure: partner",
        "+    exposure: public",
    ]


def test_new_entries_go_at_the_end_of_their_list_and_comments_stay_where_they_were(session, system):
    session.add_asset({"id": "request-log", "type": "log_store"})
    session.add_flow({"from": "score-api", "to": "request-log", "kind": "logs_to"})
    session.save()
    text = system.read_text()
    assert diff(SYSTEM, text) == [
        "+  - id: request-log",
        "+    type: log_store",
        "+  - {from: score-api, to: request-log, kind: logs_to}",
    ]
    assert text.endswith("# end of file\n")


def test_removing_an_asset_keeps_the_comments_that_head_the_next_ones(tmp_path):
    records = "    sensitivity: personal   # customer records\n"
    path = tmp_path / "system.yaml"
    path.write_text(SYSTEM.replace(records, records + "  - id: cache\n    type: dataset\n"))
    session = Session.open(path, out=tmp_path / "runs")
    session.remove_asset("cache")
    assert session.text == SYSTEM
    session.remove_asset("train-data", cascade=True)
    assert "assets:\n  # --- data\n  # --- model and serving\n  - id: scorer\n" in session.text


def test_each_saved_change_is_one_audit_entry_and_the_next_run_sees_the_new_configuration(
    session, system, tmp_path
):
    old_config = canonical_config(session.model)
    session.set_control("rate-limiting", "score-api", "implemented")
    session.set_attribute("score-api", "rate_limit_per_minute", 600)
    entries = session.save()
    everything = audit.read(tmp_path / "runs" / "audit.jsonl")
    assert [e["event"] for e in everything][-1] == "workshop-note"  # the note follows the changes
    trail = everything[:-1]
    assert [e["change"] for e in trail] == [
        "control rate-limiting on score-api: planned → implemented",
        "asset score-api: rate_limit_per_minute (default) → 600",
    ]
    assert trail == entries
    assert {e["event"] for e in trail} == {"workshop-edit"} and {e["system"] for e in trail} == {
        "tiny"
    }
    assert audit.verify(tmp_path / "runs" / "audit.jsonl") == []
    saved, _ = load_checked(system)
    assert trail[-1]["config_sha256"] == config_sha256(saved) == session.current.config_sha256
    assert config_changes(old_config, canonical_config(saved)) == [
        "assets: score-api changed rate_limit_per_minute",
        "controls: rate-limiting on score-api changed status",
    ]
    assert session.save() == []  # nothing left to save


def test_undoing_a_saved_change_is_saved_as_an_undo(session, tmp_path):
    session.set_control("rate-limiting", "score-api", "implemented")
    session.save()
    session.undo()
    session.save()
    changes = [e["change"] for e in audit.read(tmp_path / "runs" / "audit.jsonl") if "change" in e]
    assert changes == [
        "control rate-limiting on score-api: planned → implemented",
        "undo: control rate-limiting on score-api: planned → implemented",
    ]


def test_saving_is_refused_when_the_file_changed_on_disk_meanwhile(session, system):
    session.set_control("rate-limiting", "score-api", "implemented")
    system.write_text(SYSTEM.replace("Tiny system", "Tiny system v2"))
    with pytest.raises(InputError, match="changed on disk"):
        session.save()
    assert "Tiny system v2" in system.read_text()


def test_the_bundled_example_opens_but_cannot_be_saved(tmp_path):
    session = Session.open("", out=tmp_path / "runs")
    session.set_attribute(session.model.assets[0].id, "owner", "Someone else")
    with pytest.raises(InputError, match="read-only"):
        session.save()


# ---------------------------------------------------------------- values typed into forms


def test_typed_values_are_read_as_the_field_needs():
    assert parse_value("outputs", "score, label") == ["score", "label"]
    assert parse_value("human_approval", "yes") is True
    assert parse_value("rate_limit_per_minute", " 300 ") == 300
    assert parse_value("version", "2019.3") == "2019.3"
    assert parse_value("owner", "  ") is None
    with pytest.raises(InputError, match="whole number"):
        parse_value("rate_limit_per_minute", "fast")
    with pytest.raises(InputError, match="did you mean 'exposure'"):
        parse_value("exposre", "public")
    # issue 15's facts: unknown is its own answer, a rate limit's figure in any window
    assert parse_value("human_approval", "unknown") is None
    assert parse_value("rate_limit", "5000 per day") == {"requests": 5000, "per": "day"}
    assert format_value(parse_value("rate_limit", "100/minute")) == "100/minute"
    assert parse_value("rate_limit", "limited") == "limited"
    with pytest.raises(InputError, match="N/minute"):
        parse_value("rate_limit", "fast")


def test_a_rate_limit_typed_in_the_workshop_is_what_the_checks_read(session):
    session.set_attribute("score-api", "rate_limit", parse_value("rate_limit", "30/second"))
    [api] = [a for a in session.model.assets if a.id == "score-api"]
    assert api.rate_limit.requests == 30 and api.rate_limit.per == "second"
    assert api.rate_limited is True
    assert "rate_limit:\n      requests: 30\n      per: second" in session.text


# ---------------------------------------------------------------- the widgets, without a kernel


def summary_numbers(ws: Workshop) -> tuple[int, int]:
    found = re.search(r"Residual risk: total (\d+), highest (\d+)", ws.summary.value)
    assert found, ws.summary.value
    return int(found.group(1)), int(found.group(2))


def test_the_widgets_edit_the_system_and_redraw_the_risk_picture(session, system):
    ws = Workshop(session)
    assert "saikit-residual" in ws.summary._dom_classes
    start = summary_numbers(ws)
    assert bytes(ws.picture.value[:4]) == b"\x89PNG"
    heatmap_before = ws.heatmap.value
    assert f"Residual risk ({len(session.analysis.assessment.findings)} findings)" in heatmap_before

    ws.asset.value = "score-api"
    ws.control_toggle("rate-limiting").value = "implemented"
    lowered = summary_numbers(ws)
    assert lowered[0] < start[0]
    assert "control rate-limiting on score-api: planned → implemented" in ws.status.value
    assert "▼" in ws.findings.value  # the table shows what moved
    assert ws.heatmap.value != heatmap_before

    ws.field.value = "exposure"
    assert ws.value.value == "partner"
    ws.value.value = "internal"
    ws.apply_button.click()
    assert summary_numbers(ws)[0] < lowered[0]

    ws.value.value = "publik"
    ws.apply_button.click()
    assert (
        "did you mean &#x27;public&#x27;" in ws.status.value
        and "nothing changed" in ws.status.value
    )
    assert session.model.asset_by_id["score-api"].exposure == "internal"

    ws.undo_button.click()
    assert summary_numbers(ws) == lowered
    assert ws.save_button.disabled is False
    ws.save_button.click()
    assert "saved system.yaml; 1 change(s) in the audit trail" in ws.status.value
    assert diff(SYSTEM, system.read_text()) == [
        "-    status: planned   # gateway quota still to be set",
        "+    status: implemented # gateway quota still to be set",  # the comment keeps its column
    ]


def test_the_flow_and_decision_forms_change_the_findings(session):
    ws = Workshop(session)
    ws.new_id.value, ws.new_type.value = "request-log", "log_store"
    ws.add_asset_button.click()
    assert ws.asset.value == "request-log"
    ws.flow_from.value, ws.flow_kind.value, ws.flow_to.value = "score-api", "logs_to", "request-log"
    ws.add_flow_button.click()
    assert "interaction-log-exposure@request-log" in {v for _, v in ws.finding.options}
    assert "<span class='sk-up'>new</span>" in ws.findings.value

    before = residual_summary(session.analysis)["actions"]
    ws.finding.value = "model-extraction@scorer"
    ws.decision_status.value = "accepted"
    ws.justification.value = "Two contracted partners; usage reviewed monthly"
    ws.owner.value = "Head of Credit Risk"
    ws.asset.value = "score-api"
    ws.control_toggle("authentication").value = "planned"  # another edit meanwhile
    assert ws.justification.value.startswith("Two contracted partners")
    ws.record_button.click()
    assert "decision model-extraction@scorer: accepted" in ws.status.value
    assert residual_summary(session.analysis)["actions"] == before - 1

    ws.justification.value = ""
    ws.finding.value = "evasion@scorer"
    ws.record_button.click()
    assert "needs a justification and an owner" in ws.status.value


# ---------------------------------------------------------------- the notebook


def test_the_workshop_notebook_is_thin_and_committed_without_outputs():
    nb = json.loads(notebooks()["workshop"].read_text())
    assert nb["metadata"]["kernelspec"]["name"] == "python3"
    code = [c for c in nb["cells"] if c["cell_type"] == "code"]
    assert all(c["outputs"] == [] and c["execution_count"] is None for c in code)
    assert "parameters" in code[0]["metadata"]["tags"]
    assert "Workshop.open(system_path" in "".join(code[1]["source"])


def test_lab_writes_the_system_path_as_a_literal_never_as_code():
    path = 'odd "name"\\\n__import__("os").system("x").yaml'
    nb = workshop_notebook({"system_path": path, "out": "/tmp/runs", "library_dirs": ["/a"]})
    cell = next(c for c in nb["cells"] if "parameters" in c["metadata"].get("tags", []))
    tree = ast.parse(cell["source"])
    values = {node.target.id: ast.literal_eval(node.value) for node in tree.body}
    assert values == {"system_path": path, "out": "/tmp/runs", "library_dirs": ["/a"]}
    assert all(isinstance(node, ast.AnnAssign) for node in tree.body)
    assert "# system file to edit" in cell["source"]


def test_the_comment_fixture_round_trips_unchanged(session):
    assert session.reformats == []
    assert session.text == textwrap.dedent(SYSTEM)


# ---------------------------------------------------------------- edits in memory, checked as saved


def test_an_edit_is_validated_in_memory_and_leaves_no_scratch_file(session, system, tmp_path):
    before = sorted(p.name for p in tmp_path.iterdir())
    scratch = sorted(Path(tempfile.gettempdir()).glob("saikit-workshop-*"))
    session.set_attribute("score-api", "exposure", "public")
    assert sorted(p.name for p in tmp_path.iterdir()) == before
    assert sorted(Path(tempfile.gettempdir()).glob("saikit-workshop-*")) == scratch
    assert system.read_text() == SYSTEM  # nothing written before a save
    assert session.model.asset_by_id["score-api"].exposure == "public"


def test_a_refused_edit_names_the_line_it_would_have_in_the_saved_file(session, system):
    with pytest.raises(InputError) as exc:
        session.set_attribute("score-api", "exposure", "publik")
    [problem] = exc.value.problems
    line = SYSTEM.splitlines().index("    exposure: partner") + 1
    assert (problem.file, problem.line, problem.path) == (str(system), line, "assets[2].exposure")
    assert session.text == SYSTEM  # the documents are as before the refused edit


def test_typed_text_with_a_text_direction_character_is_refused(session):
    before = snapshot(session)
    with pytest.raises(InputError, match="text-direction"):
        session.set_attribute("scorer", "owner", "Risk \u202eteam")
    assert snapshot(session) == before


def test_in_memory_text_is_loaded_as_the_file_would_be(system):
    from kit.model import yamlio
    from kit.model.schema import load_system

    edited = SYSTEM.replace("exposure: partner", "exposure: public")
    with yamlio.in_memory({system: edited}):
        assert load_system(system).asset_by_id["score-api"].exposure == "public"
    with yamlio.in_memory({system: edited.replace("public", "publik")}):
        with pytest.raises(InputError, match="did you mean 'public'"):
            load_system(system)
    assert load_system(system).asset_by_id["score-api"].exposure == "partner"  # disk again


def test_undo_after_several_edits_replays_the_rest_on_the_file_as_opened(session):
    session.set_control("rate-limiting", "score-api", "implemented")
    session.add_asset({"id": "request-log", "type": "log_store"})
    session.add_flow({"from": "score-api", "to": "request-log", "kind": "logs_to"})
    with_log = session.text
    session.set_attribute("score-api", "exposure", "public")
    session.undo()
    assert session.text == with_log
    session.undo()
    session.undo()
    assert "request-log" not in session.text
    assert "status: implemented # gateway quota still to be set" in session.text


# ---------------------------------------------------------------- what moved


def test_what_moved_lists_the_changes_and_what_they_did_to_findings_and_provisions(session):
    session.set_control("rate-limiting", "score-api", "implemented")
    session.set_attribute("score-api", "exposure", "internal")
    moved = session.moved()
    assert moved.changes == [
        "control rate-limiting on score-api: planned → implemented",
        "asset score-api: exposure partner → internal",
    ]
    # off the partner network: the exposure findings go; nothing is raised
    assert {"denial-of-ai-service@score-api", "model-extraction@scorer"} <= {
        k for k, _ in moved.resolved
    }
    assert moved.raised == []
    assert ("evasion@scorer", 12, 9) in [
        (k, a["residual_score"], b["residual_score"]) for k, a, b in moved.rescored
    ]
    # 5.2.2-2 bears on APIs offered to outside parties: with none left it no longer applies
    assert ("5.2.2-2/developer", "not met", "not applicable") in moved.provisions
    session.undo()
    session.undo()
    nothing = session.moved()
    assert (nothing.changes, nothing.raised, nothing.resolved, nothing.rescored) == ([], [], [], [])
    assert nothing.provisions == []


def test_saving_writes_a_note_of_what_moved_into_the_run_store(tmp_path):
    path = tmp_path / "system.yaml"
    path.write_text(SYSTEM.replace("name: Tiny system", "name: Tiny <script>x</script> system"))
    session = Session.open(path, out=tmp_path / "runs", today=TODAY)
    session.set_attribute("score-api", "exposure", "internal")
    session.save()
    [note] = session.notes
    assert note.parent == tmp_path / "runs" / "workshop-notes"
    text = note.read_text()
    assert "<script>" not in text and "Tiny &lt;script&gt;x&lt;/script&gt; system" in text
    assert "asset score-api: exposure partner → internal" in text
    assert "denial-of-ai-service@score-api" in text  # resolved
    trail = audit.read(tmp_path / "runs" / "audit.jsonl")
    assert trail[-1]["event"] == "workshop-note"
    assert trail[-1]["sha256"] == sha256_file(note)
    assert trail[-1]["note"] == f"workshop-notes/{note.name}"
    assert audit.verify(tmp_path / "runs" / "audit.jsonl") == []


# ---------------------------------------------------------------- redrawing only what changed


def test_the_asset_picture_is_drawn_again_only_when_what_it_shows_changes(session):
    ws = Workshop(session)
    drawn = ws.pictures.drawings
    ws.asset.value = "score-api"
    ws.control_toggle("rate-limiting").value = "implemented"  # controls are not in the picture
    assert ws.pictures.drawings == drawn
    ws.field.value, ws.value.value = "owner", "Platform team"  # nor are owners
    ws.apply_button.click()
    assert ws.pictures.drawings == drawn
    first = ws.picture.value
    ws.new_id.value, ws.new_type.value = "request-log", "log_store"
    ws.add_asset_button.click()
    assert ws.pictures.drawings == drawn + 1 and ws.picture.value != first
    ws.undo_button.click()  # back to a picture drawn before: taken from the cache
    assert ws.pictures.drawings == drawn + 1 and ws.picture.value == first


def test_the_heatmap_panel_counts_each_finding_in_its_residual_cell(session):
    ws = Workshop(session)
    residual = ws.heatmap.value.split("Residual risk")[1]
    cells = re.findall(r"<td style='([^']*)'>(\d*)</td>", residual)
    assert len(cells) == 25
    counts = Counter(
        (f.residual_likelihood, f.residual_impact) for f in session.analysis.assessment.findings
    )
    # rows run from likelihood 5 down to 1, columns impact 1 to 5
    shown = {(5 - i // 5, i % 5 + 1): int(n or 0) for i, (_, n) in enumerate(cells)}
    assert shown == {(lk, im): counts.get((lk, im), 0) for lk in range(1, 6) for im in range(1, 6)}
    # appetite "medium" (the default): the line closes off the high and critical cells
    assert session.model.system.risk_appetite == "medium"
    lined = {key for key, (style, _) in zip(shown, cells, strict=True) if "border" in style}
    assert (2, 5) in lined and (4, 3) in lined and (1, 5) not in lined and (3, 3) not in lined
    assert "risk appetite: medium" in ws.heatmap.value


def test_typed_text_that_yaml_would_read_as_another_type_is_saved_in_quotes(session, system):
    session.set_attribute("scorer", "owner", "yes")  # YAML 1.1, as the loader reads: true
    session.set_attribute("score-api", "version", "2026-01-01")  # a date
    session.save()
    model, _ = load_checked(system)
    assert model.asset_by_id["scorer"].owner == "yes"
    assert model.asset_by_id["score-api"].version == "2026-01-01"
    assert diff(SYSTEM, system.read_text()) == [
        "+    owner: 'yes'",
        "+    version: '2026-01-01'",
    ]


def test_the_moved_tab_shows_what_moved_since_the_start_when_it_is_open(session):
    ws = Workshop(session)
    ws.asset.value = "score-api"
    ws.control_toggle("rate-limiting").value = "implemented"
    assert ws.moved.value == ""  # not computed while another tab shows
    ws.tabs.selected_index = 5
    assert "Changes made (1)" in ws.moved.value
    assert "control rate-limiting on score-api: planned → implemented" in ws.moved.value
    assert "model-extraction@scorer" in ws.moved.value and "was 12" in ws.moved.value
    ws.undo_button.click()  # open: redrawn with the edit
    assert "Changes made (0)" in ws.moved.value and "Findings re-scored (0)" in ws.moved.value


def test_the_controls_tab_is_updated_in_place_and_follows_undo_without_editing(session):
    ws = Workshop(session)
    ws.asset.value = "score-api"
    toggle = ws.control_toggle("rate-limiting")
    toggle.value = "implemented"
    assert ws.control_toggle("rate-limiting") is toggle  # the same row, updated
    assert "lowers" in ws.controls.children[1].children[1].value
    edits = len(session.history)
    ws.undo_button.click()
    assert toggle.value == "planned"  # shown as it stands again...
    assert len(session.history) == edits - 1  # ...without that being taken for a click
    assert session.control_status("rate-limiting", "score-api") == "planned"


def test_a_files_indentation_is_found_from_its_first_lines_whatever_its_style(tmp_path):
    """The round trip keeps a file's own indentation: each style is told apart (a dump that
    differs stops at its first different line), and a file no style reproduces is marked so."""
    from kit.model.roundtrip import _INDENTS, YamlFile, dump

    _, doc = YamlFile.read(examples()["support-assistant"])
    for indent in _INDENTS:
        path = tmp_path / f"styled-{'-'.join(map(str, indent))}.yaml"
        path.write_text(dump(doc, indent))
        found, _ = YamlFile.read(path)
        assert found.reproduced and dump(doc, found.indent) == path.read_text()
    odd = tmp_path / "odd.yaml"
    odd.write_text(dump(doc, _INDENTS[0]).replace("assets:\n", "assets:    \n", 1))
    found, _ = YamlFile.read(odd)
    assert not found.reproduced
