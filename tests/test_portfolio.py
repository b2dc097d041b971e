"""`saikit portfolio`: real papermill runs of every system on a process pool and on a real Dask
LocalCluster, the same rows from both, a bad file reported alone, the dashboard published."""

from __future__ import annotations

import json
import os
import re
import shutil
from pathlib import Path

import pytest
from conftest import MINIMAL

from kit import audit
from kit.resources import examples
from kit.runs.store import Store

BAD = """\
system:
  id: broken
  name: Broken system
  purpose: A file with a mistake.
  ai_type: predictive
  roles: [developer]
assets:
  - id: data
    type: dataset
flows:
  - {from: data, to: nowhere, kind: trains}
"""

# Only these row fields depend on where the work ran (the run ids carry the time).
WHERE = ("run", "path")


@pytest.fixture(scope="module")
def estate(tmp_path_factory):
    """A folder of system files: a tiny one (with a name that must reach the page as text), the
    credit-risk example with its decisions file, and a bad one."""
    base = tmp_path_factory.mktemp("estate")
    systems = base / "systems"
    (systems / "team-b").mkdir(parents=True)
    tiny = MINIMAL.replace("name: Tiny system", "name: 'Tiny <b>bold</b> $x$'")
    (systems / "tiny.yaml").write_text(tiny)
    (systems / "team-b" / "broken.yaml").write_text(BAD)
    for name in ("support-assistant.yaml", "support-assistant.decisions.yaml"):
        shutil.copy(examples()["support-assistant"].parent / name, systems / "team-b" / name)
    return base


@pytest.fixture(scope="module")
def pooled(estate):
    """The portfolio run twice on a process pool: first cold, then with nothing changed."""
    from kit.cli import main

    store = estate / "pool-store"
    terminal = estate / "stderr.txt"  # what the first run wrote on file descriptor 2
    saved = os.dup(2)
    try:
        with open(terminal, "wb") as f:
            os.dup2(f.fileno(), 2)
        first = main(["portfolio", str(estate / "systems"), "--out", str(store), "--jobs", "2"])
    finally:
        os.dup2(saved, 2)
        os.close(saved)
    first_rows = _rows(store)
    second = main(["portfolio", str(estate / "systems"), "--out", str(store), "--jobs", "2"])
    return store, first, first_rows, second


def test_kernels_write_to_the_stores_logs_not_the_terminal(estate, pooled):
    store = pooled[0]
    terminal = (estate / "stderr.txt").read_text()
    assert "IPKernelApp" not in terminal and "Kernel is running" not in terminal, terminal
    assert (store / "logs" / "dashboard.log").is_file()
    assert sorted(store.joinpath("logs").glob("worker-*.log"))


def _rows(store: Path) -> dict[str, dict]:
    doc = json.loads((store / "dashboard" / "latest" / "systems.json").read_text())
    return {Path(r["path"]).name: r for r in doc["systems"]}


def test_every_good_system_is_published_and_the_bad_one_fails_alone(pooled, capsys):
    store, status, rows, _ = pooled
    assert status == 1  # some system failed
    assert rows["broken.yaml"]["status"] == "failed"
    [error] = rows["broken.yaml"]["errors"]
    assert "broken.yaml:11 flows[0].to" in error and "nowhere" in error
    for name, system_id in (
        ("tiny.yaml", "tiny"),
        ("support-assistant.yaml", "helpdesk-assistant"),
    ):
        assert rows[name]["status"] == "published"
        run_store = Store(store / "systems" / system_id)
        latest = run_store.latest()
        assert latest is not None and latest.name == rows[name]["run"]
        manifest = json.loads((latest / "manifest.json").read_text())
        assert sorted(manifest["notebooks_run"]) == sorted(
            p.stem for p in (latest / "notebooks").glob("*.ipynb")
        )
        assert len(manifest["notebooks_run"]) == 5
        breaks, _ = run_store.verify()
        assert breaks == []
    assert not (store / "systems" / "broken").exists()  # nothing written for a bad file


def test_rows_count_what_the_runs_recorded(pooled):
    from kit.runs.rundata import load_run
    from kit.vocab import OPEN_ACTIONS

    store, _, rows, _ = pooled
    row = rows["support-assistant.yaml"]
    run = load_run(store / "systems" / "helpdesk-assistant" / row["run"])
    reg = run.register
    assert row["findings"] == len(reg) > 0
    assert sum(row["bands"].values()) == len(reg)
    assert {a["finding_id"] for a in row["open_actions"]} == set(
        reg[reg["treatment"].isin(OPEN_ACTIONS)]["finding_id"]
    )
    # the decisions file beside it holds a decision past its review date
    assert row["overdue_reviews"] and all(o["review_by"] for o in row["overdue_reviews"])
    assert set(row["principles"]) == {str(p) for p in range(1, 14)}


def test_dashboard_is_published_with_its_notebook_and_escaped_html(pooled):
    store, _, rows, _ = pooled
    dashboard = Store(store / "dashboard")
    latest = dashboard.latest()
    assert sorted(p.name for p in latest.iterdir()) == [
        "manifest.json",
        "portfolio.html",
        "portfolio.ipynb",
        "systems.json",
    ]
    page = (latest / "portfolio.html").read_text()
    assert "<b>bold</b>" not in page and "&lt;b&gt;bold&lt;/b&gt;" in page
    assert "unknown asset" in page and "nowhere" in page  # the failure, on the page too
    assert not re.search(r"\.\.\.\s*</t[dh]>", page), "a table cell was cut with '...'"
    nb = json.loads((latest / "portfolio.ipynb").read_text())
    errors = [o for c in nb["cells"] for o in c.get("outputs", []) if o["output_type"] == "error"]
    assert errors == []
    breaks, notes = dashboard.verify()
    assert breaks == [] and notes == []


def test_unchanged_rerun_executes_nothing_and_keeps_the_dashboard(pooled):
    store, _, first_rows, second = pooled
    assert second == 1  # the bad file still fails
    rows = _rows(store)
    for name in ("tiny.yaml", "support-assistant.yaml"):
        assert rows[name]["status"] == "published"  # the dashboard run is still the first one
        assert rows[name]["run"] == first_rows[name]["run"]
    assert len(Store(store / "dashboard").runs()) == 1
    trail = audit.read(store / "systems" / "tiny" / "audit.jsonl")
    assert [e["status"] for e in trail] == ["published", "up to date"]
    assert trail[-1]["notebooks_run"] == []


def test_a_dask_local_cluster_gives_the_same_rows_as_the_process_pool(estate, pooled):
    distributed = pytest.importorskip("distributed")
    from kit.portfolio.run import run_portfolio

    _, _, pool_rows, _ = pooled
    with distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
    ) as cluster:
        result = run_portfolio(
            [estate / "systems"], out=estate / "dask-store", scheduler=cluster.scheduler_address
        )
    rows = {Path(r["path"]).name: r for r in result.rows}
    assert set(rows) == set(pool_rows)
    for name, row in rows.items():
        theirs = pool_rows[name]
        assert {k: v for k, v in row.items() if k not in WHERE} == {
            k: v for k, v in theirs.items() if k not in WHERE
        }
    assert result.published and [r["path"] for r in result.failed] == [
        str((estate / "systems" / "team-b" / "broken.yaml").resolve())
    ]


def test_assessing_in_process_counts_the_same_risk_as_the_published_run(estate, pooled):
    from kit.portfolio.summary import assess_system

    _, _, rows, _ = pooled
    row = assess_system(estate / "systems" / "team-b" / "support-assistant.yaml")
    published = rows["support-assistant.yaml"]
    for key in ("system", "name", "owner", "findings", "bands", "worst_band", "open_actions"):
        assert row[key] == published[key]


def test_an_unreachable_scheduler_is_a_located_error(tmp_path, cli):
    pytest.importorskip("distributed")
    (tmp_path / "s").mkdir()
    (tmp_path / "s" / "tiny.yaml").write_text(MINIMAL)
    status, _, err = cli("portfolio", "s", "--scheduler", "tcp://127.0.0.1:9")
    assert status == 2
    assert "error: --scheduler: cannot reach the Dask scheduler tcp://127.0.0.1:9" in err
    assert "Traceback" not in err


def test_a_missing_folder_is_a_located_error(cli):
    status, _, err = cli("portfolio", "no-such-folder")
    assert status == 2 and "error: no-such-folder: folder not found" in err


def test_two_files_with_one_system_id_fail_the_second_only(tmp_path):
    from kit.portfolio.run import find_systems

    (tmp_path / "a.yaml").write_text(MINIMAL)
    (tmp_path / "b.yaml").write_text(MINIMAL)
    (tmp_path / "a.decisions.yaml").write_text("decisions: []\n")
    (tmp_path / ".hidden").mkdir()
    (tmp_path / ".hidden" / "c.yaml").write_text(MINIMAL)
    from kit.portfolio.run import _identify

    paths = find_systems([tmp_path])
    assert [p.name for p in paths] == ["a.yaml", "b.yaml"]
    items, failed = _identify(paths, {})
    assert [Path(i[0]).name for i in items] == ["a.yaml"]
    [row] = failed
    assert "b.yaml: system.id: 'tiny' is also the id of" in row["errors"][0]


def test_the_portfolio_notebook_is_committed_without_outputs():
    from kit.resources import data_dir

    nb = json.loads((data_dir("notebooks") / "portfolio" / "portfolio.ipynb").read_text())
    code = [c for c in nb["cells"] if c["cell_type"] == "code"]
    assert code and all(c["outputs"] == [] and c["execution_count"] is None for c in code)
    assert "parameters" in code[0]["metadata"]["tags"]


def test_a_file_is_read_again_for_its_id_only_when_its_bytes_changed(tmp_path):
    from kit.files import sha256_file
    from kit.portfolio.run import _identify

    path = tmp_path / "a.yaml"
    path.write_text(MINIMAL)
    recorded = {str(path): {"system": "as-recorded", "file_sha256": sha256_file(path)}}
    [(_, system_id, digest, _)], _ = _identify([path], recorded)
    assert system_id == "as-recorded" and digest == sha256_file(path)
    path.write_text(MINIMAL.replace("id: tiny", "id: tiny-2"))
    [(_, system_id, _, _)], _ = _identify([path], recorded)
    assert system_id == "tiny-2"


def test_a_big_portfolio_goes_out_in_batches_and_comes_back_whole_and_in_order():
    from concurrent.futures import ThreadPoolExecutor

    from kit.portfolio.engine import MAX_BATCH, MIN_TASKS, batch_size, run_each

    assert batch_size(3) == 1 and batch_size(2 * MIN_TASKS - 1) == 1
    assert batch_size(1000) == MAX_BATCH and batch_size(250) == 5
    submitted, seen = [], []

    class Counting(ThreadPoolExecutor):
        def submit(self, fn, *args, **kwargs):
            submitted.append(len(args[1]))  # the batch
            return super().submit(fn, *args, **kwargs)

    with Counting(max_workers=3) as pool:
        rows = run_each(pool, _row_of, range(251), 10, on_done=seen.append)
    assert rows == [{"item": i, "plus": i + 10} for i in range(251)]
    assert sorted(r["item"] for r in seen) == list(range(251))
    assert len(submitted) == 51 and set(submitted) == {5, 1}


def _row_of(item: int, plus: int) -> dict:
    return {"item": item, "plus": item + plus}
