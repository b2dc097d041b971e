"""Each threat carries its own examples (a system that must raise it, a near miss that must not),
and the facts that tell them apart are stated in the system file (issue 15)."""

from __future__ import annotations

import datetime as dt
import textwrap
from pathlib import Path

import pytest

from kit.analysis import analyse_model
from kit.cli import main
from kit.errors import InputError
from kit.graph import build
from kit.model.schema import SystemModel, load_system
from kit.threats.engine import evaluate, why_not
from kit.threats.examples import check_examples, example_counts, run_example
from kit.threats.library import load_library
from kit.vocab import DOCUMENTATION

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
HEAD = {
    "id": "s",
    "name": "S",
    "purpose": "test",
    "ai_type": "generative",
    "roles": ["developer"],
}


def _model(assets, flows=(), controls=(), ai_type="generative"):
    return SystemModel.model_validate(
        {
            "system": {**HEAD, "ai_type": ai_type},
            "assets": assets,
            "flows": [
                {"from": f[0], "kind": f[1], "to": f[2], **(f[3] if len(f) > 3 else {})}
                for f in flows
            ],
            "controls": list(controls),
        }
    )


def _raised(model, threat=None) -> set[str]:
    found = {m.id for m in evaluate(build(model), load_library())}
    return {f for f in found if threat is None or f.startswith(f"{threat}@")}


# ---------------------------------------------------------------- the shipped examples


@pytest.fixture(scope="module")
def library():
    return load_library()


def test_every_shipped_threat_has_fire_and_quiet_examples(library):
    counts = example_counts(library)
    assert len(counts) == len(library.threats) == 43
    bare = {t: c for t, c in counts.items() if c[0] < 1 or c[1] < 1}
    assert bare == {}


@pytest.mark.parametrize("threat", sorted(load_library().threats))
def test_shipped_examples_behave_as_written(library, threat):
    examples = library.examples[threat]
    assert examples
    for example in examples:
        assert run_example(library, example) is None, (example.file, example.line)


def test_a_quiet_example_differs_from_a_firing_one_by_what_it_states(library):
    # The near misses are real: dropping the stated fact from the quiet system raises the threat.
    quiet = next(e for e in library.examples["poisoned-third-party-model"] if e.kind == "quiet")
    assert quiet.model.assets[0].consumed_as == "hosted_api"
    unstated = quiet.model.model_copy(
        update={"assets": [quiet.model.assets[0].model_copy(update={"consumed_as": None})]}
    )
    assert _raised(unstated, "poisoned-third-party-model") == {
        "poisoned-third-party-model@vendor-llm"
    }


# ---------------------------------------------------------------- user-written examples (--library)

THREAT = """\
id: custom-threat
name: Custom threat
summary: A threat written by a user for their own library, to test its examples.
detection: Raised for every model whose source is public.
category: integrity
phases: [deployment]
ai_types: [predictive, generative]
attaches_to: [model]
when: {{attribute: source, equals: public}}
likelihood: 3
impact: 3
false_positives:
  - none known
{examples}
provisions: [5.1.3-1]
references:
  - {{taxonomy: mitre-atlas, id: AML.T0010, edition: 5.6.0}}
"""

GOOD = """\
examples:
  fires:
    - name: a public model
      at: m
      system:
        system: {id: x, name: X, purpose: p, ai_type: predictive, roles: [developer]}
        assets: [{id: m, type: model, source: public}]
  quiet:
    - name: an internal model
      system:
        system: {id: x, name: X, purpose: p, ai_type: predictive, roles: [developer]}
        assets: [{id: m, type: model}]"""


def _user_library(tmp_path, examples: str):
    lib = tmp_path / "lib"
    (lib / "threats").mkdir(parents=True)
    path = lib / "threats" / "custom-threat.yaml"
    path.write_text(THREAT.format(examples=examples))
    return lib, path


def test_user_written_examples_run_and_pass(tmp_path):
    lib, _ = _user_library(tmp_path, GOOD)
    library = load_library([lib])
    assert example_counts(library)["custom-threat"] == (1, 1)
    assert check_examples(library, ["custom-threat"]) == []
    assert main(["check-library", "--library", str(lib)]) == 0


def test_a_wrong_user_example_is_reported_at_its_line(tmp_path, capsys):
    wrong = GOOD.replace(
        "assets: [{id: m, type: model}]", "assets: [{id: m, type: model, source: public}]"
    )
    lib, path = _user_library(tmp_path, wrong)
    problems = check_examples(load_library([lib]), ["custom-threat"])
    assert len(problems) == 1
    p = problems[0]
    assert p.file == str(path) and p.path == "examples.quiet[0]"
    assert path.read_text().splitlines()[p.line - 1].strip() == "- name: an internal model"
    assert "must not raise custom-threat, but it is raised at m" in p.message
    assert main(["check-library", "--library", str(lib)]) == 2
    assert "examples.quiet[0]" in capsys.readouterr().err


def test_a_firing_example_that_does_not_fire_says_why(tmp_path):
    wrong = GOOD.replace(
        "assets: [{id: m, type: model, source: public}]", "assets: [{id: m, type: model}]"
    )
    lib, _ = _user_library(tmp_path, wrong)
    (problem,) = check_examples(load_library([lib]), ["custom-threat"])
    assert "must raise custom-threat at 'm'" in problem.message
    assert "needs source = public, but m has source internal" in problem.message


@pytest.mark.parametrize(
    "examples, path, message",
    [
        (
            GOOD.replace(
                "assets: [{id: m, type: model, source: public}]",
                "assets: [{id: m, type: model, source: public}]\n        flows: [{from: m, to: ghost, kind: serves}]",
            ),
            "examples.fires[0].system.flows[0].to",
            "unknown asset 'ghost'",
        ),
        (GOOD.replace("at: m", "at: nothere"), "examples.fires[0].at", "'nothere' is not an asset"),
        (
            GOOD.replace(
                "assets: [{id: m, type: model, source: public}]",
                "assets: [{id: m, type: model, source: public}]\n"
                "        controls: [{control: artifact-signin, assets: [m], status: implemented}]",
            ),
            "examples.fires[0].system.controls[0].control",
            "unknown control 'artifact-signin' (did you mean 'artifact-signing'?)",
        ),
        (
            GOOD.replace("type: model, source: public", "type: dataset, source: public"),
            "examples.fires[0].at",
            "this threat attaches to model",
        ),
        (GOOD.replace("  quiet:", "  calm:"), "examples.calm", "unknown field 'calm'"),
        (
            GOOD.replace("source: public}]", "source: publik}]"),
            "examples.fires[0].system.assets[0].source",
            "'publik' is not allowed",
        ),
    ],
)
def test_bad_examples_are_located_errors(tmp_path, examples, path, message):
    lib, file = _user_library(tmp_path, examples)
    with pytest.raises(InputError) as caught:
        load_library([lib])
    found = [p for p in caught.value.problems if p.path == path]
    assert found, [str(p) for p in caught.value.problems]
    assert message in str(found[0]) and found[0].file == str(file) and found[0].line


# ---------------------------------------------------------------- the new facts


def test_existing_files_load_and_new_facts_default_to_unknown():
    model = load_system(str(EXAMPLES / "credit-risk.yaml"))
    asset = model.asset_by_id["regional-unemployment"]
    assert asset.human_approval is None and asset.consumed_as is None
    assert asset.documentation is None and asset.written_by == []
    assert all(u.operated_by == "organisation" for u in model.controls)


def test_documentation_takes_the_closed_set_and_none_stands_alone():
    assert set(DOCUMENTATION) >= {"model-card", "data-card", "licence", "sbom", "none"}
    ok = _model(
        [{"id": "lib", "type": "third_party_component", "documentation": ["sbom", "licence"]}]
    )
    assert ok.assets[0].documentation == ["sbom", "licence"]
    assert ok.assets[0].documents == {"sbom", "licence"}
    none = _model([{"id": "lib", "type": "third_party_component", "documentation": ["none"]}])
    assert none.assets[0].documents == frozenset()
    assert _model([{"id": "lib", "type": "third_party_component"}]).assets[0].documents is None
    assert (
        _model([{"id": "lib", "type": "third_party_component", "documentation": []}])
        .assets[0]
        .documentation
        == []
    )
    with pytest.raises(Exception, match="none"):
        _model([{"id": "lib", "type": "third_party_component", "documentation": ["none", "sbom"]}])


def test_a_bad_new_fact_is_a_located_error(tmp_path):
    path = tmp_path / "s.yaml"
    path.write_text(
        textwrap.dedent(
            """\
            system: {id: s, name: S, purpose: p, ai_type: generative, roles: [developer]}
            assets:
              - id: m
                type: model
                consumed_as: downloaded
            """
        )
    )
    with pytest.raises(InputError) as caught:
        load_system(path)
    (p,) = caught.value.problems
    assert (p.line, p.path) == (5, "assets[0].consumed_as")
    assert "expected one of: hosted_api, weights" in str(p)


def test_unknown_approval_is_its_own_value():
    def agent(**facts):
        return _model(
            [
                {"id": "agent", "type": "agent", "outputs": ["code"], **facts},
                {"id": "runner", "type": "tool"},
            ],
            [("agent", "invokes", "runner")],
            ai_type="agentic",
        )

    assert _raised(agent(human_approval=True), "unexpected-code-execution") == set()
    assert _raised(agent(), "unexpected-code-execution") == {"unexpected-code-execution@agent"}
    assert _raised(agent(human_approval=False), "unexpected-code-execution") == {
        "unexpected-code-execution@agent"
    }
    lines = why_not(build(agent(human_approval=True)), load_library(), "unexpected-code-execution")
    assert lines == [
        "agent: not raised: ruled out by the stated fact agent: human_approval is true "
        "(the threat needs: not human_approval = true)"
    ]


@pytest.mark.parametrize(
    "rate_limit, per_minute, counted, limited",
    [
        (None, None, True, None),  # nothing recorded: unknown, and no limit to credit
        ("none", None, True, False),
        ("limited", None, False, True),
        ({"requests": 500, "per": "hour"}, None, False, True),
        (None, 30, False, True),
    ],
)
def test_rate_limits_known_qualitatively_or_per_hour_count(
    rate_limit, per_minute, counted, limited
):
    api = {"id": "api", "type": "api", "exposure": "public"}
    if rate_limit is not None:
        api["rate_limit"] = rate_limit
    if per_minute is not None:
        api["rate_limit_per_minute"] = per_minute
    result = analyse_model(
        _model([api], ai_type="predictive"), load_library(), today=dt.date(2026, 1, 1)
    )
    finding = next(f for f in result.assessment.findings if f.id == "denial-of-ai-service@api")
    reasons = [f.reason for f in finding.match.factors]
    assert any("Nothing limits" in r for r in reasons) is counted
    assert _model([api]).assets[0].rate_limited is limited


def test_a_flow_that_carries_personal_data_is_visible_to_threats():
    def system(carries):
        return _model(
            [
                {"id": "users", "type": "user_group"},
                {"id": "app", "type": "application"},
                {"id": "logs", "type": "log_store"},
            ],
            [
                ("users", "prompts", "app"),
                ("app", "logs_to", "logs", {"carries": carries} if carries else {}),
            ],
        )

    found = analyse_model(system("personal"), load_library(), today=dt.date(2026, 1, 1))
    plain = analyse_model(system(None), load_library(), today=dt.date(2026, 1, 1))
    personal = {f.id: f for f in found.assessment.findings}["interaction-log-exposure@logs"]
    unstated = {f.id: f for f in plain.assessment.findings}["interaction-log-exposure@logs"]
    assert personal.impact == unstated.impact + 1
    assert _raised(system("public"), "interaction-log-exposure") == set()


def test_supplier_operated_controls_are_recorded_and_credited():
    def vendor(operated_by):
        use = {"control": "artifact-signing", "assets": ["hub"], "status": "implemented"}
        if operated_by:
            use["operated_by"] = operated_by
        return _model(
            [{"id": "hub", "type": "model", "source": "public"}],
            controls=[use] if operated_by else [],
        )

    def finding(model):
        result = analyse_model(model, load_library(), today=dt.date(2026, 1, 1))
        return {f.id: f for f in result.assessment.findings}["poisoned-third-party-model@hub"]

    bare, supplier = finding(vendor(None)), finding(vendor("supplier"))
    assert vendor("supplier").controls[0].operated_by == "supplier"
    assert supplier.residual_likelihood == bare.residual_likelihood - 1


def test_retrieval_through_a_tool_is_retrieval_and_scoping_rules_it_out():
    def system(scope=None):
        files = {"id": "files", "type": "dataset", "sensitivity": "confidential"}
        if scope:
            files["retrieval_scope"] = scope
        return _model(
            [
                {"id": "users", "type": "user_group"},
                files,
                {"id": "search", "type": "tool"},
                {"id": "agent", "type": "agent"},
            ],
            [
                ("users", "prompts", "agent"),
                ("files", "retrieves", "search"),
                ("agent", "invokes", "search"),
            ],
            ai_type="agentic",
        )

    found = evaluate(build(system()), load_library())
    match = next(m for m in found if m.id == "sensitive-data-in-outputs@agent")
    assert "files: sensitivity is confidential" in match.explanation
    assert "agent -invokes-> search; search <-retrieves- files" in match.explanation
    assert _raised(system("asking_user"), "sensitive-data-in-outputs") == set()


# ---------------------------------------------------------------- saikit threats --why-not


def test_why_not_names_the_stated_fact(capsys):
    assert (
        main(
            [
                "threats",
                str(EXAMPLES / "support-assistant.yaml"),
                "--why-not",
                "poisoned-third-party-model",
            ]
        )
        == 0
    )
    out = capsys.readouterr().out
    assert (
        "helpdesk-llm: not raised: ruled out by the stated fact helpdesk-llm: consumed_as is hosted_api"
        in out
    )
    assert "prompt-guard-classifier: raised" in out


def test_why_not_says_what_would_raise_it(capsys):
    assert main(["threats", str(EXAMPLES / "credit-risk.yaml"), "--why-not", "jailbreak"]) == 0
    assert (
        "jailbreak is for generative / agentic systems; this system's ai_type is predictive"
        in capsys.readouterr().out
    )
    assert (
        main(
            [
                "threats",
                str(EXAMPLES / "support-assistant.yaml"),
                "--why-not",
                "unsafe-serialised-artifact",
            ]
        )
        == 0
    )
    out = capsys.readouterr().out
    assert "prompt-guard-classifier: not raised: needs format in [pickle" in out
    assert "but prompt-guard-classifier has format safetensors" in out


def test_why_not_an_unknown_threat_is_exit_2(capsys):
    assert main(["threats", str(EXAMPLES / "ops-agent.yaml"), "--why-not", "jailbrake"]) == 2
    assert "unknown threat 'jailbrake' (did you mean 'jailbreak'?)" in capsys.readouterr().err


def test_a_bad_asset_source_is_located_at_its_own_line(tmp_path):
    # An asset's `source` is not a flow's `from`: the path and line are the asset field's own.
    path = tmp_path / "s.yaml"
    path.write_text(
        "system: {id: s, name: S, purpose: p, ai_type: generative, roles: [developer]}\n"
        "assets:\n  - id: m\n    type: model\n    source: publik\n"
    )
    with pytest.raises(InputError) as caught:
        load_system(path)
    (p,) = caught.value.problems
    assert (p.line, p.path) == (5, "assets[0].source")
