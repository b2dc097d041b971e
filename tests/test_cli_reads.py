"""The CLI reads the same everywhere: diff's words, the run store's name, what export took."""

from __future__ import annotations

import json

from kit.runs.diff import diff_runs, render_diff


def _run(folder, findings: dict):
    folder.mkdir(parents=True)
    (folder / "findings.json").write_text(json.dumps(findings))
    (folder / "manifest.json").write_text(json.dumps({"changes": []}))
    return folder


def _finding(score: int, treatment: str) -> dict:
    return {"residual_score": score, "residual_band": "medium", "treatment": treatment}


def test_diff_tells_a_new_decision_apart_from_a_new_score(tmp_path):
    a = _run(
        tmp_path / "a",
        {"x@m": _finding(8, "action required"), "y@m": _finding(6, "within appetite")},
    )
    b = _run(tmp_path / "b", {"x@m": _finding(8, "accepted"), "y@m": _finding(9, "accepted")})
    d = diff_runs(a, b)
    assert [k for k, *_ in d.rescored] == ["y@m"]
    assert [k for k, *_ in d.retreated] == ["x@m"]
    text = render_diff(d)
    assert "8 → 8" not in text
    assert "  ~ y@m  6 → 9  (within appetite → accepted)" in text
    assert "  = x@m  action required → accepted  (residual 8)" in text
    assert "findings re-scored: 1" in text


def test_export_takes_a_system_file_where_it_takes_a_run_and_says_which_run(
    cli, tmp_path, tmp_path_factory
):
    from _export_runs import published_run

    from kit.resources import default_system
    from kit.runs.rundata import load_run

    run = load_run(published_run(tmp_path_factory, "example"))
    code, out, err = cli(
        "export", "csv", default_system(), "--runs", run.store_root, "--out", tmp_path / "c"
    )
    assert code == 0, err
    assert out.splitlines()[0] == f"run {run.run_id} of {run.system_name} ({run.path})"
    assert (tmp_path / "c" / "register.csv").exists()


def test_diff_takes_a_system_file_and_the_run_store_by_its_one_name(
    cli, tmp_path, tmp_path_factory
):
    from _export_runs import published_run

    from kit.resources import default_system
    from kit.runs.rundata import load_run

    run = load_run(published_run(tmp_path_factory, "example"))
    for flag in ("--runs", "--out"):  # --out: the old name, kept as a hidden alias
        code, _, err = cli("diff", default_system(), flag, run.store_root)
        assert code == 2 and f"no run before {run.run_id}" in err, (flag, err)
    from kit.cli import _parser

    helptext = _parser()._subparsers._group_actions[0].choices["diff"].format_help()
    assert "--runs DIR" in helptext and "--out" not in helptext


def test_progress_names_only_the_notebooks_actually_running(tmp_path):
    from kit.resources import default_system
    from kit.runs import execute, runner

    p = runner.plan(default_system(), out=tmp_path / "store")
    staging = tmp_path / "staging"
    (staging / "notebooks").mkdir(parents=True)
    parameters = {
        "system_path": str(p.system),
        "config_sha256": p.config_sha256,
        "library_dirs": [],
        "run_store": str(p.store.root.resolve()),
    }
    lines: list[str] = []
    cells: list[tuple[str, int, int]] = []
    names = ["01-design", "05-lifecycle"]
    execute.execute_all(
        p.sources,
        names,
        staging,
        parameters,
        str(tmp_path),
        1,
        lines.append,
        cells=lambda *c: cells.append(c),
    )
    words = [line.split()[0] + " " + line.split()[1] for line in lines]
    # One worker: the second notebook is said to run only once the first has finished.
    assert words == ["running 01-design", "ok 01-design", "running 05-lifecycle", "ok 05-lifecycle"]
    # Each notebook reported its cells as they ran, up to all of them.
    for name in names:
        mine = [(done, total) for n, done, total in cells if n == name]
        total = len(json.loads(p.sources[name].read_text())["cells"])
        # (papermill adds one cell: the injected parameters)
        assert mine[-1] == (total + 1, total + 1)
        assert [d for d, _ in mine] == sorted(d for d, _ in mine)


def test_on_a_terminal_progress_keeps_one_bar_per_running_notebook():
    import io

    from kit.runs.runner import progress_printer

    class Terminal(io.StringIO):
        def isatty(self):
            return True

    screen = Terminal()
    say = progress_printer(screen)
    say("  running  01-design")
    say.cells("01-design", 3, 12)
    say.cells("02-inventory", 6, 12)
    assert screen.getvalue().endswith(
        "\r\033[K  01-design [###.........] 3/12   02-inventory [######......] 6/12"
    )
    say("  ok       01-design  7.0 s")
    assert screen.getvalue().endswith(
        "  ok       01-design  7.0 s\n  02-inventory [######......] 6/12"
    )


def test_init_help_lists_the_starters_and_graph_png_names_the_file(cli, tmp_path):
    from kit.cli import _parser
    from kit.resources import starters

    helptext = _parser()._subparsers._group_actions[0].choices["init"].format_help()
    assert all(name in " ".join(helptext.split()) for name in starters())
    code, out, _ = cli("graph", "--png", "pic")
    assert code == 0
    assert f"wrote {(tmp_path / 'pic').resolve()} (PNG picture of the asset graph" in out
    assert (tmp_path / "pic").read_bytes().startswith(b"\x89PNG")


def test_findings_needing_a_decision_are_counted_alike_everywhere(cli, tmp_path_factory):
    import re

    from _export_runs import published_run

    from kit.export.report import summary_html
    from kit.resources import default_system
    from kit.runs.rundata import load_run
    from kit.vocab import OPEN_ACTIONS

    run = load_run(published_run(tmp_path_factory, "example"))
    expected = int(run.register["treatment"].isin(OPEN_ACTIONS).sum())
    overdue = int((run.register["treatment"] == "review overdue").sum())
    assert expected > overdue > 0  # the example has both kinds, so a half-count would show
    _, out, _ = cli("threats", default_system())
    assert f"\n{expected} finding(s) need a decision: {expected - overdue} above" in out
    _, out, _ = cli("runs", default_system(), "--runs", run.store_root)
    assert f"open actions {expected}" in out
    summary = summary_html(run)
    assert f'<div class="n">{expected}</div><div class="l">need a decision</div>' in summary
    assert re.search(rf"{expected} finding\(s\) need a decision", summary)
