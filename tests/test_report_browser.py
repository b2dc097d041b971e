"""The HTML report and pack of a system whose every free-text field carries script and markup
payloads, opened in headless Chromium: nothing runs, and the payloads read as text.

Needs Playwright (the test extra) and a Chromium: Debian's `chromium`, which scripts/test
installs, or any Chrome named by $SAIKIT_CHROMIUM.
"""

from __future__ import annotations

import re

import pytest
from _export_runs import PAYLOAD_HTML, published_run

from kit.export.formats import export
from kit.export.pdf import find_chromium
from kit.runs.rundata import load_run

CSP = re.compile(r"<meta[^>]*Content-Security-Policy[^>]*>")
HANDLERS = """[...document.querySelectorAll('*')]
    .filter(e => [...e.attributes].some(a => a.name.startsWith('on'))).length"""


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    chromium = find_chromium()
    assert chromium, "no Chromium found: install Debian's chromium or set SAIKIT_CHROMIUM"
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=chromium, args=["--no-sandbox"])
        yield b
        b.close()


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    run = load_run(published_run(tmp_path_factory, "payload"))
    out = tmp_path_factory.mktemp("payload-exports")
    report = export(run, "report", out, pdf=False)["report.html"]
    pack = export(run, "pack", out)["pack.html"]
    # The same report without its Content-Security-Policy: escaping alone must hold.
    bare = out / "report-without-csp.html"
    bare.write_text(CSP.sub("", report.read_text(encoding="utf-8")), encoding="utf-8")
    return {"report": report, "bare report": bare, "pack": pack}


def _open(browser, path):
    page = browser.new_page()
    dialogs: list[str] = []
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    page.goto(path.as_uri())
    page.wait_for_load_state("load")
    page.wait_for_timeout(300)  # give any onload/onerror handler its chance to fire
    return page, dialogs


@pytest.mark.parametrize("name", ["report", "bare report", "pack"])
def test_payloads_in_every_text_field_do_not_run_and_read_as_text(browser, exported, name):
    page, dialogs = _open(browser, exported[name])
    assert page.evaluate("typeof window.__pwned") == "undefined"
    assert dialogs == []
    text = page.inner_text("body")
    assert "<script>window.__pwned=1</script>" in text
    assert '<img src=x onerror="window.__pwned=1">' in text
    assert "[x](javascript:window.__pwned=1)" in text
    assert (
        page.evaluate("document.querySelectorAll('script, iframe, object, embed, svg').length") == 0
    )
    assert page.evaluate(HANDLERS) == 0
    assert page.evaluate("document.querySelectorAll('a[href^=\"javascript:\" i]').length") == 0
    page.close()


def test_report_shows_the_payload_system_name_as_its_title(browser, exported):
    page, _ = _open(browser, exported["report"])
    title = page.inner_text("h1.cover-title")
    assert PAYLOAD_HTML in title and title.startswith('=HYPERLINK("http://example.invalid"')
    page.close()
