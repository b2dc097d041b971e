"""Exports of a published run: register tables, JSON, OSCAL, the communication pack, the report.

Every test reads a real `saikit run` (see _export_runs): the bundled example, and a copy of it
whose free-text fields all carry script, markup and formula payloads.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import os
import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import jsonschema
import pytest
from _export_runs import FORMULAS, PAYLOAD_HTML, TRIGGERS, published_run

from kit import audit
from kit.export import oscal
from kit.export.formats import export, resolve_run
from kit.export.report import offline_problems
from kit.export.tables import register_schema, shipped_register_schema
from kit.risk.scoring import REGISTER_COLUMNS
from kit.runs.rundata import load_run
from kit.tables import neutralise
from kit.vocab import UNRESOLVED

ROOT = Path(__file__).resolve().parents[1]
STAMP = dt.datetime(2026, 1, 31, 9, 0, tzinfo=dt.UTC)


@pytest.fixture(scope="session")
def example(tmp_path_factory):
    return load_run(published_run(tmp_path_factory, "example"))


@pytest.fixture(scope="session")
def payloads(tmp_path_factory):
    return load_run(published_run(tmp_path_factory, "payload"))


@pytest.fixture(scope="session")
def example_report(example, tmp_path_factory):
    return export(example, "report", tmp_path_factory.mktemp("report"))


def _unsafe(value) -> bool:
    return isinstance(value, str) and value.startswith(TRIGGERS)


# ---------------------------------------------------------------- neutralising


@pytest.mark.parametrize("text", ["=1+1", "+1", "-1", "@SUM(A1)", "\tx", "\rx", *FORMULAS])
def test_neutralise_prefixes_an_apostrophe_to_every_formula_trigger(text):
    assert neutralise(text) == "'" + text


@pytest.mark.parametrize("value", ["plain", "a=b", "", " =x", 3, 2.5, None])
def test_neutralise_leaves_other_values_alone(value):
    assert neutralise(value) == value


def _with_tab_and_cr(run, tmp_path):
    """A copy of the run whose register has tab- and CR-led text (the model strips them)."""
    copy = Path(shutil.copytree(run.path, tmp_path / run.path.name))
    text = (copy / "register.csv").read_text(encoding="utf-8-sig")
    rows = list(csv.DictReader(io.StringIO(text)))
    rows[0]["justification"], rows[1]["justification"] = "\tcmd|' /C calc'!A0", "\r=1+1"
    with (copy / "register.csv").open("w", encoding="utf-8", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    return load_run(copy)


def test_formula_payloads_are_inert_in_every_xlsx_sheet(payloads, tmp_path):
    from openpyxl import load_workbook

    run = _with_tab_and_cr(payloads, tmp_path)
    [path] = export(run, "xlsx", tmp_path / "out" / "register.xlsx").values()
    wb = load_workbook(path)
    assert wb.sheetnames[:4] == ["Register", "Decisions", "Provisions", "Assets"]
    seen = {name: 0 for name in wb.sheetnames}
    for ws in wb:
        for row in ws.iter_rows():
            for cell in row:
                assert cell.data_type != "f", (ws.title, cell.coordinate, cell.value)
                assert not _unsafe(cell.value), (ws.title, cell.coordinate, cell.value)
                if (
                    isinstance(cell.value, str)
                    and cell.value.startswith("'")
                    and PAYLOAD_HTML in cell.value
                ):
                    seen[ws.title] += 1
    assert seen["Register"] and seen["Decisions"] and seen["Assets"] and seen["Provisions"], seen
    column = list(REGISTER_COLUMNS).index("justification") + 1
    justifications = [c.value for c in next(wb["Register"].iter_cols(column, column))]
    assert "'\tcmd|' /C calc'!A0" in justifications
    assert {"'\r=1+1", "'\n=1+1"} & set(justifications)  # XML reads a stored CR back as LF


def test_formula_payloads_are_inert_in_every_csv(payloads, tmp_path):
    run = _with_tab_and_cr(payloads, tmp_path)
    written = export(run, "csv", tmp_path / "out")
    assert set(written) == {"register.csv", "decisions.csv", "provisions.csv", "assets.csv"}
    neutralised = 0
    for path in written.values():
        raw = path.read_bytes()
        assert raw.startswith(b"\xef\xbb\xbf")  # a BOM, so spreadsheets read UTF-8
        for row in csv.reader(io.StringIO(raw.decode("utf-8-sig"), newline="")):
            assert not any(_unsafe(v) for v in row), (path.name, row)
            neutralised += sum(v.startswith("'") and PAYLOAD_HTML in v for v in row)
    assert neutralised >= 10
    assert "'\r=1+1" in written["register.csv"].read_bytes().decode("utf-8-sig")


def test_xlsx_is_laid_out_for_circulation(example, tmp_path):
    from openpyxl import load_workbook

    [path] = export(example, "xlsx", tmp_path).values()
    ws = load_workbook(path)["Register"]
    header = [c.value for c in ws[1]]
    assert header == list(REGISTER_COLUMNS)
    assert ws.freeze_panes == "B2" and ws.auto_filter.ref.startswith("A1:")
    band, severity = header.index("residual_band") + 1, header.index("residual_severity") + 1
    assert severity == band + 1  # numeric severity beside the label
    fills = {
        ws.cell(r, band).value: ws.cell(r, band).fill.fgColor.rgb for r in range(2, ws.max_row + 1)
    }
    assert fills.get("high", "").endswith("F4A259") or fills.get("medium", "").endswith("FFE08A")
    assert all(isinstance(ws.cell(r, severity).value, int) for r in range(2, ws.max_row + 1))
    assert ws.column_dimensions["A"].width > 20


# ---------------------------------------------------------------- JSON


def test_register_json_validates_against_the_shipped_schema(payloads, tmp_path):
    written = export(payloads, "json", tmp_path)
    document = json.loads(written["register.json"].read_text(encoding="utf-8"))
    jsonschema.Draft202012Validator(shipped_register_schema()).validate(document)
    assert len(document["findings"]) == len(payloads.register)
    # JSON is for programs: the text stays exactly as recorded, payloads and all.
    assert any(f["justification"].startswith(FORMULAS) for f in document["findings"])
    assert json.loads(written["register.schema.json"].read_text()) == shipped_register_schema()


def test_shipped_register_schema_is_generated_from_register_columns():
    assert shipped_register_schema() == register_schema()
    finding = register_schema()["properties"]["findings"]["items"]
    assert finding["required"] == list(REGISTER_COLUMNS)


def test_register_schema_rejects_a_mistyped_finding(example):
    from kit.export.tables import register_document

    document = register_document(example)
    document["findings"][0]["residual_band"] = "severe"
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(document, shipped_register_schema())


# ---------------------------------------------------------------- OSCAL


def test_oscal_catalog_validates_and_holds_every_provision():
    from kit.compliance.catalogue import load_catalogue

    document = oscal.catalog(timestamp=STAMP)
    oscal.validate(document)
    groups = document["catalog"]["groups"]
    controls = [c for g in groups for c in g["controls"]]
    assert len(groups) == 13 and len(controls) == len(load_catalogue().provisions) == 72
    props = {p["name"] for p in controls[0]["props"]}
    assert {"label", "modal", "phase", "stakeholder"} <= props


def test_oscal_assessment_results_validate_and_cover_every_applicable_row(payloads, tmp_path):
    written = export(payloads, "oscal", tmp_path, timestamp=STAMP)
    document = json.loads(written["assessment-results.json"].read_text(encoding="utf-8"))
    oscal.validate(document)
    oscal.validate(json.loads(written["catalog.json"].read_text(encoding="utf-8")))
    [result] = document["assessment-results"]["results"]
    # every row of a role the provision binds, "not applicable" ones with their scope included
    applicable = payloads.provisions[payloads.provisions["scope"] != "role not bound"]
    assert len(result["findings"]) == len(result["observations"]) == len(applicable)
    met = sum(f["target"]["status"]["state"] == "satisfied" for f in result["findings"])
    assert met == int((applicable["status"] == "met").sum())
    sources = {
        p["value"] for o in result["observations"] for p in o["props"] if p["name"] == "source"
    }
    assert sources <= {"automatic", "attested", "both", "none"} and "automatic" in sources
    with_trail = [
        o for o in result["observations"] if o.get("remarks", "").startswith("Facts behind")
    ]
    assert with_trail, "no observation carries the facts behind its verdict"


def test_oscal_validation_rejects_a_broken_document(example):
    from pydantic import ValidationError

    document = oscal.assessment_results(example, STAMP)
    document["assessment-results"]["results"][0]["findings"][0]["target"]["status"]["state"] = (
        "fine"
    )
    with pytest.raises(ValidationError):
        oscal.validate(document)


def test_oscal_exports_differ_only_in_their_timestamps(example, tmp_path):
    first = export(example, "oscal", tmp_path / "a", timestamp=STAMP)
    again = export(example, "oscal", tmp_path / "b", timestamp=STAMP)
    later = export(example, "oscal", tmp_path / "c", timestamp=STAMP + dt.timedelta(days=1))
    for name in first:
        assert first[name].read_bytes() == again[name].read_bytes()
        a, c = (json.loads(p.read_text()) for p in (first[name], later[name]))
        for doc in (a, c):
            next(iter(doc.values()))["metadata"].pop("last-modified")
        assert a == c


# ---------------------------------------------------------------- communication pack


def test_pack_lists_every_unresolved_finding_and_the_audit_trail_records_them(example, tmp_path):
    from kit.compliance.facts import run_facts
    from kit.inputs import config_sha256, load_checked
    from kit.runs.store import Store

    written = export(example, "pack", tmp_path)
    unresolved = set(
        example.register.loc[example.register["treatment"].isin(UNRESOLVED), "finding_id"]
    )
    assert unresolved, "the example should leave some findings unresolved"
    text = written["pack.md"].read_text(encoding="utf-8")
    for fid in unresolved:
        assert fid in text
    assert "## For System Operators" in text and "## For End-users" in text
    entry = audit.read(example.store_root / "audit.jsonl")[-1]
    assert (entry["event"], entry["format"], entry["run"]) == ("export", "pack", example.run_id)
    assert set(entry["findings"]) == unresolved
    model, _ = load_checked(example.manifest["system_path"])
    facts = run_facts(audit.read(Store(example.store_root).audit_path), model, config_sha256(model))
    assert unresolved <= facts.communicated_findings  # what the 5.1.3-2 check reads


def test_pack_markdown_renders_payloads_as_text(payloads, tmp_path):
    from nbconvert.filters.markdown import markdown2html

    written = export(payloads, "pack", tmp_path)
    rendered = markdown2html(written["pack.md"].read_text(encoding="utf-8"))
    assert "<script" not in rendered and "<img" not in rendered and "<svg" not in rendered
    assert not re.search(r"\son\w+=", re.sub(r">[^<]*<", "><", rendered))  # no handlers in tags
    assert all(h.startswith(("#", "http")) for h in re.findall(r'href="([^"]*)"', rendered))
    assert "&lt;script&gt;window.__pwned=1&lt;/script&gt;" in rendered
    page = written["pack.html"].read_text(encoding="utf-8")
    assert "<script" not in page and offline_problems(page) == []


# ---------------------------------------------------------------- report


def test_report_pdf_has_a_sane_page_count_the_system_name_and_the_top_risk(example, example_report):
    from pypdf import PdfReader

    reader = PdfReader(example_report["report.pdf"])
    assert 5 <= len(reader.pages) <= 60, len(reader.pages)
    text = "".join(page.extract_text() for page in reader.pages)
    squeezed = "".join(text.split())
    assert example.system_name in text
    top = example.register.iloc[0]
    assert top["finding_id"] in squeezed and "".join(top["threat"].split()) in squeezed
    assert "Page1of" in squeezed


def test_report_html_is_self_contained_with_hidden_code_title_block_and_contents(
    example, example_report
):
    page = example_report["report.html"].read_text(encoding="utf-8")
    assert offline_problems(page) == []
    assert not re.search(r"""(src|href)=["']?(https?:)?//""", page)
    assert "Content-Security-Policy" in page and "<script" not in page
    assert "wb.open_system" not in page and "In&nbsp;[" not in page  # code and prompts hidden
    m = example.manifest
    for fact in (example.system_name, m["config_sha256"], "ETSI TS 104 223 V1.1.1", example.run_id):
        assert fact in page, fact
    anchors = re.findall(r'<nav[^>]*class="toc".*?</nav>', page, re.S)[0]
    targets = re.findall(r'href="#([^"]+)"', anchors)
    assert len(targets) > 20
    for target in targets:
        assert f'id="{target}"' in page, target
    for heading in ("Summary", "Threat model", "Compliance", "Appendix: the risk register"):
        assert heading in anchors


def test_report_register_appendix_is_sorted_by_residual_risk(example, example_report):
    page = example_report["report.html"].read_text(encoding="utf-8")
    appendix = page[page.rindex(">Appendix: the risk register<") :]
    rows = re.findall(r'<tr><td class="num">\d+</td>(.*?)</tr>', appendix)
    scores = [
        int(re.search(r'<span class="band v-\w+">\w+ (\d+)</span>', r).group(1)) for r in rows
    ]
    assert len(scores) == len(example.register)
    assert scores == sorted(scores, reverse=True)


def test_report_shows_the_heatmaps_and_the_asset_picture_as_vector_images(example_report):
    import base64

    page = example_report["report.html"].read_text(encoding="utf-8")
    svgs = re.findall(r'src="data:image/svg\+xml;base64,([^"]+)"', page)
    assert len(svgs) == 3, "asset graph, risk heatmaps and coverage heatmap, as SVG"
    assert "data:image/png" not in page
    for data in svgs:
        svg = base64.b64decode(data).decode("utf-8")
        assert "<text" in svg, "labels kept as text, so the PDF carries them as text"


# ---------------------------------------------------------------- where exports go


def test_exports_land_beside_the_runs_and_leave_the_sealed_run_folder_untouched(example):
    import hashlib

    written = export(example, "json")
    folder = example.store_root / "exports" / example.run_id
    assert {p.parent for p in written.values()} == {folder}
    for name, digest in example.manifest["outputs"].items():
        assert hashlib.sha256((example.path / name).read_bytes()).hexdigest() == digest, name
    entry = audit.read(example.store_root / "audit.jsonl")[-1]
    assert entry["outputs"] == {
        n: hashlib.sha256(p.read_bytes()).hexdigest() for n, p in written.items()
    }
    assert audit.verify(example.store_root / "audit.jsonl") == []


def test_cli_exports_a_run_by_id_prefix_to_a_named_file(example, cli, tmp_path):
    target = tmp_path / "circulate" / "q3-register.xlsx"
    status, out, err = cli(
        "export", "xlsx", example.run_id[:10], "--runs", example.store_root, "--out", target
    )
    assert status == 0, err
    assert target.exists() and f"wrote {target}" in out


def test_cli_names_a_run_that_does_not_exist(example, cli):
    status, _, err = cli("export", "csv", "19990101", "--runs", example.store_root)
    assert status == 2 and "no single run matches '19990101'" in err


def test_cli_says_when_a_store_has_no_runs(cli, tmp_path):
    status, _, err = cli("export", "report", "--runs", tmp_path)
    assert status == 2 and "no published run here" in err


def test_resolve_run_accepts_a_run_folder(example):
    assert resolve_run(str(example.path)).run_id == example.run_id


# ---------------------------------------------------------------- plain nbconvert


def test_plain_jupyter_nbconvert_finds_the_installed_template(example, tmp_path, built_wheel):
    """The wheel installs the template where Jupyter looks; nbconvert then finds it by name."""
    wheel = built_wheel
    prefix = "saikit-0.1.0.data/data/share/jupyter/"
    data = tmp_path / "share" / "jupyter"
    with zipfile.ZipFile(wheel) as z:
        names = [n for n in z.namelist() if n.startswith(prefix)]
        assert {n.removeprefix(prefix) for n in names} == {
            "nbconvert/templates/saikit-report/conf.json",
            "nbconvert/templates/saikit-report/index.html.j2",
            "nbconvert/templates/saikit-report/static/saikit.css",
            "nbconvert/templates/saikit-slides/conf.json",
            "nbconvert/templates/saikit-slides/index.html.j2",
            "nbconvert/templates/saikit-slides/static/slides.css",
        }
        for n in names:
            (data / n.removeprefix(prefix)).parent.mkdir(parents=True, exist_ok=True)
            (data / n.removeprefix(prefix)).write_bytes(z.read(n))
    notebook = example.path / "notebooks" / "03-threat-model.ipynb"
    env = {**os.environ, "JUPYTER_PATH": str(data)}
    subprocess.run(
        [
            sys.executable,
            "-m",
            "jupyter",
            "nbconvert",
            "--to",
            "html",
            "--template",
            "saikit-report",
            "--output-dir",
            str(tmp_path),
            str(notebook),
        ],
        check=True,
        env=env,
        capture_output=True,
    )
    page = (tmp_path / "03-threat-model.html").read_text(encoding="utf-8")
    assert "wb.open_system" not in page and offline_problems(page) == []
    assert example.system_name in page and example.manifest["config_sha256"] in page
    assert (
        re.search(r'<nav[^>]*class="toc"', page) and "Findings, highest residual risk first" in page
    )


def test_offline_check_flags_anything_the_page_would_fetch():
    page = (
        '<html><head><script src="https://cdn.example/require.js"></script>'
        '<link rel="stylesheet" href="https://cdn.example/x.css">'
        "<style>@import url(https://cdn.example/y.css); p { background: url(http://x/y.png) }"
        '</style></head><body><img src="//cdn.example/z.png"><img src="data:image/png;base64,AA">'
        "<p>text that mentions @import url(http://x) is only text</p></body></html>"
    )
    problems = offline_problems(page)
    assert len(problems) == 6, problems  # script, link, img, @import and two url()
    assert not any("data:" in p for p in problems)


def test_footer_text_cannot_escape_its_css_string():
    from kit.export.report import footer_css

    css = footer_css('x"; } </style><script>alert(1)</script> @import "y')
    assert "<" not in css and ">" not in css
    first = re.search(r'content: "([^"]*)";', css).group(1)  # the string ends where it should
    assert first.startswith("x\\22 ") and first.endswith("\\22 y")
