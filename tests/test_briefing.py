"""Role briefings (Principle 1): built from this run's findings and the threat library's
mitigations, written as HTML, reveal.js slides and a notebook, with every user string escaped."""

from __future__ import annotations

import html
import re
from html.parser import HTMLParser

import pytest
from _export_runs import PAYLOAD_HTML, published_run

from kit.export.briefing import LENSES, build_briefing
from kit.export.formats import export
from kit.export.report import offline_problems
from kit.runs.rundata import load_run

ROLES = ["developer", "system_operator", "end_user"]  # the example holds the first two


@pytest.fixture(scope="module")
def example(tmp_path_factory):
    return load_run(published_run(tmp_path_factory, "example"))


@pytest.fixture(scope="module")
def written(example, tmp_path_factory):
    out = tmp_path_factory.mktemp("briefings")
    return {role: export(example, "briefing", out, role=role) for role in ROLES}


def _text(page: str) -> str:
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", page)).split())


@pytest.mark.parametrize("role", ROLES)
def test_briefing_carries_this_systems_findings_for_the_role_and_their_mitigations(
    example, written, role
):
    files = written[role]
    stem = f"briefing-{role.replace('_', '-')}"
    assert set(files) == {f"{stem}.html", f"{stem}.slides.html", f"{stem}.ipynb"}
    b = build_briefing(example, role)
    reg = example.register.set_index("finding_id")
    assert b.topics, role
    # Only findings on what the role looks after, and all of them once.
    assert set(reg.loc[b.finding_ids, "asset_type"]) <= LENSES[role].looks_after
    assert len(set(b.finding_ids)) == len(b.finding_ids)
    controls = example.threats["controls"]
    for name in (f"{stem}.html", f"{stem}.slides.html"):
        page = files[name].read_text(encoding="utf-8")
        assert offline_problems(page) == [] and "<script" not in page
        text = _text(page)
        for fid in b.finding_ids:
            assert fid in text, (name, fid)
        for t in b.topics:
            assert " ".join(example.threats["threats"][t.threat_id]["summary"].split()) in text
            if role != "end_user":
                missing = {c for f in t.findings for c in f["controls_missing"].split(", ") if c}
                for cid in missing:
                    assert controls[cid]["name"] in text, (t.threat_id, cid)


def test_roles_get_different_briefings(example):
    dev, ops = build_briefing(example, "developer"), build_briefing(example, "system_operator")
    assert set(dev.finding_ids) != set(ops.finding_ids)
    users = build_briefing(example, "end_user")
    unresolved = set(example.register.query("treatment != 'within appetite'")["finding_id"])
    assert set(users.finding_ids) <= unresolved


def test_slides_come_from_the_reveal_exporter_one_slide_per_threat(example, written):
    page = written["developer"]["briefing-developer.slides.html"].read_text(encoding="utf-8")
    assert '<div class="reveal">' in page and '<div class="slides">' in page
    topics = build_briefing(example, "developer").topics
    slides = re.findall(r'<div class="saikit-slide">', page)
    assert len(slides) == len(topics) + 2  # an opening, one per threat, a closing
    assert "5.1.1-1" in page and "5.1.1-2.2" in page


def test_a_role_the_system_does_not_hold_is_refused(cli, tmp_path, example):
    code, out, err = cli(
        "export", "briefing", str(example.path), "--role", "data_custodian", "--out", tmp_path / "b"
    )
    assert code == 2 and "data_custodian" in err and "developer" in err
    assert "Traceback" not in err and not (tmp_path / "b").exists()


def test_payloads_in_a_briefing_read_as_text(tmp_path_factory):
    run = load_run(published_run(tmp_path_factory, "payload"))
    files = export(run, "briefing", tmp_path_factory.mktemp("payload-brief"), role="end_user")
    for name, path in files.items():
        if name.endswith(".html"):
            page = path.read_text(encoding="utf-8")
            tags = _Tags()
            tags.feed(page)
            assert tags.names.isdisjoint({"script", "svg", "iframe"}), name
            assert tags.handlers == [] and "x" not in tags.img_src, name
            assert PAYLOAD_HTML in _text(page), name


class _Tags(HTMLParser):
    """Every element a browser would build from a page, and any event handler on one."""

    def __init__(self):
        super().__init__()
        self.names: set[str] = set()
        self.handlers: list[str] = []
        self.img_src: list[str] = []

    def handle_starttag(self, tag, attrs):
        self.names.add(tag)
        self.handlers += [k for k, _ in attrs if k.startswith("on")]
        if tag == "img":
            self.img_src += [v for k, v in attrs if k == "src"]


def test_a_briefing_slide_renders_in_chromium(written):
    from playwright.sync_api import sync_playwright

    from kit.export.pdf import find_chromium

    deck = written["developer"]["briefing-developer.slides.html"]
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=find_chromium(), args=["--no-sandbox"])
        page = browser.new_page(viewport={"width": 1280, "height": 720})
        page.goto(deck.as_uri())
        slide = page.locator(".slides > section").nth(1)
        shot = deck.parent / "briefing-slide.png"
        slide.screenshot(path=str(shot))
        box = slide.bounding_box()
        overflowing = page.evaluate(
            "[...document.querySelectorAll('.slides li, .slides p')]"
            ".filter(e => e.scrollWidth > e.clientWidth + 1).length"
        )
        browser.close()
    print(f"\nbriefing slide: {shot}")
    assert box["width"] <= 1280 and overflowing == 0


def test_report_without_chromium_writes_the_html_and_says_how_to_get_the_pdf(
    cli, example, tmp_path, monkeypatch
):
    monkeypatch.setenv("SAIKIT_CHROMIUM", str(tmp_path / "no-such-browser"))
    code, out, err = cli("export", "report", str(example.path), "--out", tmp_path / "r")
    assert code == 0, err
    assert f"wrote {tmp_path / 'r' / 'report.html'}" in out
    assert "PDF was skipped" in out and "SAIKIT_CHROMIUM" in out
    assert [p.name for p in (tmp_path / "r").iterdir()] == ["report.html"]
