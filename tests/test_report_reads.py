"""The exported report of the bundled example, read as a reader would: opened in headless
Chromium at A4 width (and printed to PDF), nothing may be cut, hidden or left undescribed.

Needs Playwright (the test extra) and a Chromium: Debian's `chromium`, which scripts/test
installs, or any Chrome named by $SAIKIT_CHROMIUM. Screenshots are kept in the test's
temporary folder (their paths are printed) for a person to look at.
"""

from __future__ import annotations

import base64
import re
from pathlib import Path

import pytest
from _export_runs import published_run

from kit.export.formats import export
from kit.export.pdf import find_chromium
from kit.risk.scoring import REGISTER_COLUMNS
from kit.runs.rundata import load_run

ROOT = Path(__file__).resolve().parents[1]
A4_PX = 794  # 210 mm at 96 CSS px per inch
PRINT_WIDTH_IN = (210 - 13 - 13) / 25.4  # A4 less the report's page margins
LANDSCAPE_WIDTH_IN = (297 - 13 - 13) / 25.4  # where a picture wider than that prints

# Elements whose content is wider than their box where the box cuts or scrolls it, and table
# cells shortened with "..." (pandas' mark for text it dropped).
CLIPPED = """() => [...document.querySelectorAll('main *')].filter(e => {
    const s = getComputedStyle(e);
    return e.clientWidth > 0 && s.display !== 'inline' && e.scrollWidth > e.clientWidth + 1
        && ['hidden', 'auto', 'scroll', 'clip'].includes(s.overflowX);
}).map(e => e.tagName + '.' + e.className)"""
ELIDED = """() => [...document.querySelectorAll('td, th')]
    .map(c => c.innerText.trim()).filter(t => t === '...' || t.endsWith('...'))"""
COLUMNS = """() => [...document.querySelectorAll('[data-column]')].map(e => {
    const r = e.getBoundingClientRect();
    return {columns: e.dataset.column.split(' '), left: r.left, right: r.right, width: r.width,
            visible: getComputedStyle(e).visibility !== 'hidden' && r.width > 0};
})"""


@pytest.fixture(scope="module")
def example(tmp_path_factory):
    return load_run(published_run(tmp_path_factory, "example"))


@pytest.fixture(scope="module")
def report(example, tmp_path_factory):
    return export(example, "report", tmp_path_factory.mktemp("readable-report"))


@pytest.fixture(scope="module")
def page(report):
    from playwright.sync_api import sync_playwright

    chromium = find_chromium()
    assert chromium, "no Chromium found: install Debian's chromium or set SAIKIT_CHROMIUM"
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, args=["--no-sandbox"])
        page = browser.new_page(viewport={"width": A4_PX, "height": 1123})
        page.goto(report["report.html"].as_uri())
        page.wait_for_load_state("load")
        yield page
        browser.close()


def test_no_text_is_clipped_or_elided_at_a4_width(page, report):
    clipped, elided = page.evaluate(CLIPPED), page.evaluate(ELIDED)
    cells = page.evaluate("document.querySelectorAll('td, th').length")
    shot = report["report.html"].parent / "report-summary.png"
    page.locator("#saikit-summary, .saikit-section").first.screenshot(path=str(shot))
    print(f"\n{cells} table cells, {len(elided)} elided, {len(clipped)} clipped; {shot}")
    assert clipped == [] and elided == []
    widest = page.evaluate(
        "Math.max(...[...document.querySelectorAll('table')].map(t => t.scrollWidth))"
    )
    assert widest <= A4_PX, widest


def test_every_finding_is_shown_with_its_explanation(page, example):
    text = page.inner_text("body")
    missing = [
        r.finding_id
        for r in example.register.itertuples(index=False)
        if r.finding_id not in text or " ".join(r.explanation.split()) not in " ".join(text.split())
    ]
    assert len(example.register) > 10 and missing == []


def test_every_register_column_is_on_every_card_within_the_page(page, example, report):
    fields = page.evaluate(COLUMNS)
    cards = page.locator(".saikit-card")
    assert cards.count() == len(example.register)
    shown = {c for f in fields if f["visible"] for c in f["columns"]}
    assert shown == set(REGISTER_COLUMNS)
    outside = [f for f in fields if f["left"] < 0 or f["right"] > A4_PX]
    assert outside == []
    first = cards.first
    first.scroll_into_view_if_needed()
    shot = report["report.html"].parent / "report-register.png"
    page.screenshot(path=str(shot))
    print(f"\n{cards.count()} cards, {len(fields)} fields, all within {A4_PX} px; {shot}")


def test_every_image_is_vector_with_a_description_and_readable_labels_in_print(page, report):
    images = page.evaluate(
        "[...document.querySelectorAll('img')].map(i => ({alt: i.alt, src: i.src,"
        " page: i.parentElement.classList.contains('a3-figure') ? 'a3-landscape'"
        " : i.parentElement.classList.contains('wide-figure') ? 'landscape' : 'portrait'}))"
    )
    page.emulate_media(media="print")
    tallest = page.evaluate(  # CSS px (96 an inch), or 'none'
        "[...document.querySelectorAll('img')].map(i => getComputedStyle(i).maxHeight)"
    )
    page.emulate_media(media="screen")
    assert len(images) == 3
    printed = []
    for img, max_height in zip(images, tallest, strict=True):
        assert len(img["alt"]) > 80 and "No description" not in img["alt"], img["alt"]
        assert img["src"].startswith("data:image/svg+xml;base64,")
        svg = base64.b64decode(img["src"].split(",", 1)[1]).decode("utf-8")
        width_pt = float(re.search(r'<svg[^>]*\bwidth="([\d.]+)pt"', svg).group(1))
        height_pt = float(re.search(r'<svg[^>]*\bheight="([\d.]+)pt"', svg).group(1))
        sizes = [float(s) for s in re.findall(r"font(?:-size)?:\s*([\d.]+)px", svg)]
        sizes += [float(s) for s in re.findall(r'font-size="([\d.]+)', svg)]
        assert (img["page"] != "portrait") == (width_pt / 72 > PRINT_WIDTH_IN)
        page_in = {"portrait": PRINT_WIDTH_IN, "landscape": LANDSCAPE_WIDTH_IN}[img["page"]]
        scale = min(1.0, page_in * 72 / width_pt)
        if max_height != "none":
            scale = min(scale, float(max_height.removesuffix("px")) * 0.75 / height_pt)
        printed.append(round(min(sizes) * scale, 1))
        print(f"\n{img['alt'][:60]}…: {width_pt / 72:.1f} x {height_pt / 72:.1f} in, x{scale:.2f}")
    print(f"smallest label at print size, pt: {printed}")
    assert min(printed) >= 8, printed


def test_pdf_holds_every_finding_id(example, report):
    from pypdf import PdfReader

    reader = PdfReader(report["report.pdf"])
    text = "".join("".join(p.extract_text().split()) for p in reader.pages)
    print(f"\nPDF: {len(reader.pages)} pages")
    missing = [f for f in example.register["finding_id"] if f not in text]
    assert missing == []
    assert "Theassetgraph" in text
    # The wide asset graph prints on a landscape page, with its heading and the whole of its
    # introduction on the same page, and the drawing itself there: its flows are curves.
    [graph_page] = [p for p in reader.pages if "Data on the left flows" in p.extract_text()]
    assert graph_page.mediabox.width > graph_page.mediabox.height
    text = " ".join(graph_page.extract_text().split())
    assert "The asset graph" in text and "Assets ringed in red have inventory gaps." in text
    curves = graph_page.get_contents().get_data().count(b" c\n")
    assert curves >= len(example.config["flows"]), curves


def test_a_graph_too_big_for_a4_prints_on_an_a3_page_with_its_heading(tmp_path):
    """A 60-asset system, drawn in detail, is too wide for A4 landscape at 8 pt: it takes an
    A3 landscape page, where it keeps 8/9 of its size, with the heading before it."""
    import importlib.util

    import nbformat
    from pypdf import PdfReader

    from kit.export.pdf import html_to_pdf
    from kit.export.report import render_html
    from kit.graph import build
    from kit.graph.plots import PRINT_PAGES, PRINT_SCALE, draw_graph, print_page
    from kit.workbook import Shown

    spec = importlib.util.spec_from_file_location("synth", ROOT / "bench" / "synth.py")
    synth = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(synth)
    fig = draw_graph(build(synth.synthetic_system(60)), aggregate=False)
    width, height = fig.get_size_inches()
    landscape, a3 = PRINT_PAGES["landscape"], PRINT_PAGES["a3-landscape"]
    assert min(landscape[0] / width, landscape[1] / height) < PRINT_SCALE
    assert print_page(width, height) == "a3-landscape"
    assert min(1, a3[0] / width, a3[1] / height) >= PRINT_SCALE

    shown = Shown(fig, "Asset graph of a synthetic estate of sixty assets, drawn in detail.")
    bundle, meta = shown._repr_mimebundle_()
    nb = nbformat.v4.new_notebook()
    nb.cells = [
        nbformat.v4.new_markdown_cell("## The asset graph\n\nEvery asset of the estate."),
        nbformat.v4.new_code_cell(
            "shown",
            outputs=[nbformat.v4.new_output("display_data", data=bundle, metadata=meta)],
        ),
    ]
    html = tmp_path / "graph.html"
    html.write_text(render_html(nb, tmp_path))
    reader = PdfReader(html_to_pdf(html, tmp_path / "graph.pdf"))
    [page] = [p for p in reader.pages if "Every asset of the estate" in p.extract_text()]
    a3_landscape = (round(420 / 25.4 * 72), round(297 / 25.4 * 72))
    assert (round(page.mediabox.width), round(page.mediabox.height)) == a3_landscape
    flows = len(list(build(synth.synthetic_system(60)).edges()))
    assert page.get_contents().get_data().count(b" c\n") >= flows


def test_table_cells_break_at_word_ends_never_inside_a_status_word():
    from kit.export.report import decorate_table_html

    table = (
        "<table><thead><tr><th>roles</th><th>status</th></tr></thead><tbody>"
        "<tr><td>developer, system_operator</td><td>not applicable</td></tr>"
        '<tr><td><a href="x_y">data_custodian</a></td><td>partial</td></tr></tbody></table>'
    )
    html = decorate_table_html(table)
    assert "system_<wbr>operator" in html and "data_<wbr>custodian" in html
    assert 'href="x_y"' in html  # inside a tag: untouched
    assert '<td class="v-not-applicable">not applicable</td>' in html
