"""`saikit check`: good files summarise, bad files get one located message each and exit 2."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from conftest import MINIMAL

from kit.model.schema import json_schema
from kit.resources import examples, schema_file, starters


def test_minimal_system_passes_check_with_a_summary(write, cli):
    status, out, err = cli("check", write(MINIMAL))
    assert status == 0, err
    assert "assets: 3 (api 1, dataset 1, model 1)" in out
    assert "flows: 2" in out


@pytest.mark.parametrize("name", sorted(examples()))
def test_every_example_passes_check(name, cli):
    status, out, err = cli("check", examples()[name])
    assert status == 0, err
    assert "ok" in out


@pytest.mark.parametrize("name", sorted(starters()))
def test_every_starter_passes_check(name, cli):
    status, _, err = cli("check", starters()[name])
    assert status == 0, err


def _bad(text_or_bytes, expect_line, expect_path, fragment, write, cli, name="system.yaml"):
    path = write(text_or_bytes, name)
    status, out, err = cli("check", path)
    assert status == 2
    assert "Traceback" not in err + out
    where = f"{path}:{expect_line}" if expect_line else str(path)
    lines = [ln for ln in err.splitlines() if ln.startswith(f"error: {where}")]
    assert lines, f"no error at {where} in:\n{err}"
    assert any(expect_path in ln and fragment in ln for ln in lines), err
    return err


def test_yaml_syntax_error_names_the_line(write, cli):
    _bad(
        MINIMAL.replace("purpose: A small", "purpose: [A small"),
        5,
        "",
        "YAML syntax error",
        write,
        cli,
    )


def test_duplicate_key_names_both_lines(write, cli):
    text = MINIMAL.replace(
        "  ai_type: predictive\n", "  ai_type: predictive\n  ai_type: generative\n"
    )
    _bad(text, 6, "system.ai_type", "duplicate key 'ai_type' (first set on line 5)", write, cli)


def test_empty_file_is_refused(write, cli):
    _bad("# only a comment\n", 1, "", "file is empty", write, cli)


def test_top_level_list_is_refused(write, cli):
    _bad("- a\n- b\n", 1, "", "top level must be a mapping", write, cli)


def test_non_utf8_bytes_name_their_line(write, cli):
    data = MINIMAL.encode().replace(b"Tiny system", b"Tiny \xff system")
    _bad(data, 3, "", "not valid UTF-8", write, cli)


def test_unknown_field_suggests_the_nearest(write, cli):
    text = MINIMAL.replace("    sensitivity: personal", "    sensitivty: personal")
    _bad(text, 10, "assets[0].sensitivty", "did you mean 'sensitivity'", write, cli)


def test_wrong_type_says_what_was_expected(write, cli):
    text = MINIMAL.replace("  roles: [developer, system_operator]", "  roles: developer")
    _bad(text, 6, "system.roles", "expected a list", write, cli)


def test_value_outside_enumeration_suggests(write, cli):
    text = MINIMAL.replace("exposure: partner", "exposure: partnr")
    _bad(text, 16, "assets[2].exposure", "did you mean 'partner'", write, cli)


def test_duplicate_asset_id(write, cli):
    text = MINIMAL.replace("  - id: score-api", "  - id: scorer")
    _bad(text, 14, "assets[2].id", "duplicate asset id 'scorer'", write, cli)


def test_flow_to_unknown_asset_suggests(write, cli):
    text = MINIMAL.replace("{from: scorer, to: score-api", "{from: scorer, to: score-apj")
    _bad(
        text, 19, "flows[1].to", "unknown asset 'score-apj' (did you mean 'score-api'?)", write, cli
    )


def test_control_on_unknown_asset(write, cli):
    text = (
        MINIMAL
        + "controls:\n  - control: rate-limiting\n    assets: [scoreapi]\n    status: implemented\n"
    )
    _bad(text, 22, "controls[0].assets[0]", "unknown asset 'scoreapi'", write, cli)


def test_unknown_control_suggests(write, cli):
    text = (
        MINIMAL
        + "controls:\n  - control: rate-limitng\n    assets: [score-api]\n    status: planned\n"
    )
    _bad(text, 21, "controls[0].control", "did you mean 'rate-limiting'", write, cli)


def test_flow_kind_that_makes_no_sense(write, cli):
    text = MINIMAL.replace(
        "{from: train-data, to: scorer, kind: trains}",
        "{from: train-data, to: scorer, kind: invokes}",
    )
    _bad(text, 18, "flows[0].kind", "a dataset cannot 'invokes' a model", write, cli)


def test_oversized_file_is_refused_before_parsing(write, cli):
    big = MINIMAL + "#" + "x" * (10 * 1024 * 1024) + "\n"
    _bad(big, None, "", "the limit is 10,485,760 bytes", write, cli)


def test_deep_nesting_is_refused(write, cli):
    text = MINIMAL + "extra: " + "[" * 100 + "]" * 100 + "\n"
    _bad(text, 20, "extra", "nesting is deeper than 64", write, cli)


def test_alias_bomb_is_refused_fast(write, cli):
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    lines += [f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 10) + "]" for i in range(1, 10)]
    text = MINIMAL + "\n".join(lines) + "\n"
    _bad(text, None, "", "alias expansion", write, cli)


def test_unknown_attestation_provision_suggests_nearest(write, cli):
    text = MINIMAL + "attestations:\n  - {provision: 5.1.3-1.9, status: met, date: 2026-01-01}\n"
    _bad(
        text,
        21,
        "attestations[0].provision",
        "unknown provision '5.1.3-1.9' (did you mean",
        write,
        cli,
    )


def test_python_tags_are_refused(write, cli):
    text = MINIMAL.replace("purpose: A small", "purpose: !!python/object/apply:os.system [A small")
    text = text.replace("system for tests.", "system for tests.]")
    _bad(text, 4, "system.purpose", "not allowed", write, cli)


def test_decision_file_errors_name_the_decisions_file(write, cli):
    write(
        "decisions:\n  - finding: membership-inference@scorer\n    status: acepted\n",
        "decisions.yaml",
    )
    text = MINIMAL.replace(
        "  ai_type: predictive\n", "  ai_type: predictive\n  decisions_file: decisions.yaml\n"
    )
    path = write(text)
    status, _, err = cli("check", path)
    assert status == 2
    assert f"{path.parent / 'decisions.yaml'}:3 decisions[0].status" in err
    assert "did you mean 'accepted'" in err


def test_errors_through_the_real_command_have_no_traceback(write):
    path = write(MINIMAL.replace("kind: trains", "kind: train"))
    proc = subprocess.run(
        [sys.executable, "-m", "kit", "check", str(path)], capture_output=True, text=True
    )
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    assert (
        f"{path}:18 flows[0].kind: 'train' is not allowed (did you mean 'trains'?)" in proc.stderr
    )


def test_shipped_schema_is_the_generated_one():
    assert json.loads(schema_file().read_text()) == json_schema()


@pytest.mark.parametrize("name", sorted(examples()))
def test_json_schema_validates_every_example(name):
    import jsonschema

    from kit.model import yamlio

    data = yamlio.load_file(examples()[name]).data
    jsonschema.Draft202012Validator(json_schema()).validate(data)


def test_init_writes_a_starter_that_checks(tmp_path, cli):
    target = tmp_path / "mine.yaml"
    status, out, _ = cli("init", "--template", "credit-risk", target)
    assert status == 0 and target.exists()
    assert cli("check", target)[0] == 0
    status, _, err = cli("init", "--template", "credit-risk", target)
    assert status == 2 and "file exists" in err


def test_init_unknown_template_suggests(cli):
    status, _, err = cli("init", "--template", "credit-risks")
    assert status == 2 and "did you mean 'credit-risk'" in err
