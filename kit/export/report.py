"""The HTML report of a run (and its PDF): the run's executed notebooks as one document.

The story: read the run → merge its executed notebooks (01 … 05) into one, after a summary built
from the run's own register and provisions and before the full register → convert with the
`saikit-report` nbconvert template (code hidden, title block, contents) → check that the page
fetches nothing → write it → print it to PDF with headless Chromium.

Nothing is recomputed: the summary and the register appendix read register.csv and
provisions.csv, and the sections are the outputs the run recorded. Every string from a user's
file reaches the page escaped (pandas escapes table cells, nbconvert escapes text outputs, the
template and this module escape the rest), and the page's Content-Security-Policy forbids
scripts and network fetches as a second line of defence.

The same template serves plain nbconvert:
``jupyter nbconvert --to html --template saikit-report runs/<system>/latest/notebooks/*.ipynb``
"""

from __future__ import annotations

import datetime as dt
import html
import re
from html.parser import HTMLParser
from pathlib import Path

import nbformat
from nbconvert.preprocessors import Preprocessor

from kit import __version__
from kit.errors import fail
from kit.files import write_atomic
from kit.resources import data_dir
from kit.risk.cards import band_legend
from kit.risk.scoring import needing_decision, needing_decision_sentence
from kit.runs.rundata import RunData
from kit.vocab import (
    ACTION_REQUIRED,
    BANDS,
    MET,
    NOT_APPLICABLE,
    NOT_ASSESSED,
    NOT_MET,
    OPEN_ACTIONS,
    PARTIAL,
    REVIEW_OVERDUE,
    STATUSES,
)

TEMPLATE = "saikit-report"
TOP_RISKS = 10
# Where the register appendix goes; user text is escaped, so it can never contain this comment.
REGISTER_SPLICE = "<!-- saikit:register-appendix -->"
# Cell words that get a colour class in tables: risk bands, provision statuses, urgent treatments.
_COLOURED = (*BANDS, *STATUSES, *sorted(OPEN_ACTIONS))
_TD_WORD = re.compile(r"<td>(" + "|".join(re.escape(w) for w in _COLOURED) + r")</td>")
# A run of plain characters long enough to overflow a narrow column (entities left whole).
_LONG_TOKEN = re.compile(r"[^\s<>&;]{25,}")
_SNAKE = re.compile(r"(?<=[A-Za-z0-9])_(?=[A-Za-z0-9])")  # system_operator: may break after _
WIDE_COLUMNS = 16  # beyond this a table is left out of the printed report, with a note
_TITLE_BLOCK = re.compile(r"""<table class=["']saikit-title["']""")


def template_dir() -> Path:
    """The folder holding the package's nbconvert templates (`saikit-report` lives in it)."""
    return data_dir("templates") / "nbconvert"


# ---------------------------------------------------------------- the report


def write_report(
    run: RunData, html_path: Path, pdf_path: Path | None = None, timeout: int = 180
) -> dict[str, Path]:
    """Write the run's HTML report (and its PDF when `pdf_path` is given); return them by name."""
    page = render_report(run)
    problems = offline_problems(page)
    if problems:
        raise fail(
            str(html_path),
            None,
            "",
            "the report would fetch from the network: " + "; ".join(problems[:3]),
        )
    written = {html_path.name: write_atomic(html_path, page)}
    if pdf_path is not None:
        from kit.export.pdf import html_to_pdf

        written[pdf_path.name] = html_to_pdf(html_path, pdf_path, timeout=timeout)
    return written


def render_html(nb, notebooks_dir: Path | None = None) -> str:
    """A notebook as a self-contained HTML page with the saikit-report template."""
    from nbconvert import HTMLExporter

    exporter = HTMLExporter(
        template_name=TEMPLATE,
        extra_template_basedirs=[str(template_dir())],
        exclude_input=True,
        exclude_input_prompt=True,
        exclude_output_prompt=True,
    )
    resources = {
        "metadata": {"name": nb.metadata.get("title", "report"), "path": str(notebooks_dir or "")}
    }
    body, _ = exporter.from_notebook_node(nb, resources=resources)
    return body


def build_notebook(run: RunData):
    """One notebook: a summary, the run's executed notebooks in order, then the full register."""
    sources = run.notebooks()
    if not sources:
        raise fail(str(run.path), None, "", "the run holds no executed notebooks")
    first = nbformat.read(sources[0], as_version=4)
    nb = nbformat.v4.new_notebook(
        metadata={
            "kernelspec": first.metadata.get("kernelspec", {}),
            "language_info": first.metadata.get("language_info", {}),
            "title": f"{run.system_name}: AI security risk report",
            "saikit": {"report": report_info(run)},
        }
    )
    nb.cells += _section("summary", "Summary", summary_html(run))
    for i, path in enumerate(sources, start=1):
        part = nbformat.read(path, as_version=4)
        for j, cell in enumerate(part.cells):
            cell["id"] = f"n{i}-{j}"
            nb.cells.append(cell)
    nb.cells += _section("register", "Appendix: the risk register", REGISTER_SPLICE)
    return nb


def render_report(run: RunData) -> str:
    """The run's report as one self-contained HTML page."""
    page = render_html(build_notebook(run), run.path / "notebooks")
    # The register is spliced in after conversion: nbconvert's HTML post-processing parses
    # the whole page, and a register of thousands of rows would dominate its time.
    return page.replace(REGISTER_SPLICE, register_html(run), 1)


def report_info(run: RunData) -> dict:
    """What the title block shows, from the run's manifest and configuration."""
    m, system = run.manifest, run.config.get("system", {})
    return {
        "system_name": run.system_name,
        "system_id": run.system_id,
        "run": run.run_id,
        "time": m.get("time", ""),
        "config_sha256": m.get("config_sha256", ""),
        "edition": run.edition_title(),
        "kit_version": m.get("kit_version", ""),
        "purpose": system.get("purpose") or "",
        "risk_appetite": system.get("risk_appetite") or "",
        "roles": ", ".join(r.replace("_", " ") for r in system.get("roles", [])),
        "owner": system.get("owner") or "",
    }


def _section(key: str, title: str, body: str) -> list:
    heading = nbformat.v4.new_markdown_cell(f"# {title}", id=f"saikit-{key}-h")
    content = nbformat.v4.new_code_cell("", id=f"saikit-{key}")
    content.outputs = [nbformat.v4.new_output("display_data", data={"text/html": body})]
    return [heading, content]


# ---------------------------------------------------------------- generated sections


def _e(value) -> str:
    return html.escape(str(value), quote=True)


def _band(band: str, score=None) -> str:
    text = band if score is None else f"{band} {score}"
    cls = f"band v-{band}" if band in BANDS else "band"
    return f'<span class="{cls}">{_e(text)}</span>'


def _table(
    headers: list[str],
    rows: list[list[str]],
    numeric: set[int] = frozenset(),
    widths: list[int] | None = None,
) -> str:
    """A table from already-escaped cell HTML; with `widths` (percent) a fixed layout."""
    cols = "".join(f'<col style="width:{w}%">' for w in widths) if widths else ""
    fixed = ' class="fixed"' if widths else ""
    head = "".join(
        f'<th class="num">{_e(h)}</th>' if i in numeric else f"<th>{_e(h)}</th>"
        for i, h in enumerate(headers)
    )
    body = "".join(
        "<tr>"
        + "".join(
            f'<td class="num">{c}</td>' if i in numeric else f"<td>{c}</td>"
            for i, c in enumerate(r)
        )
        + "</tr>"
        for r in rows
    )
    return (
        f"<table{fixed}><colgroup>{cols}</colgroup><thead><tr>{head}</tr></thead>"
        f"<tbody>{body}</tbody></table>"
    )


def _figure(n, label: str, cls: str = "") -> str:
    return (
        f'<div class="figure {cls}"><div class="n">{_e(n)}</div>'
        f'<div class="l">{_e(label)}</div></div>'
    )


def summary_html(run: RunData) -> str:
    """Key figures, what changed, and the top risks, from the run's recorded tables."""
    reg, info = run.register, report_info(run)
    counts = reg["residual_band"].value_counts()
    need = needing_decision(reg["treatment"])
    actions, overdue = need[ACTION_REQUIRED], need[REVIEW_OVERDUE]
    figures = [
        _figure(len(reg), "findings"),
        _figure(need["open"], "need a decision", "alert" if need["open"] else ""),
        _figure(actions, "above appetite, no decision", "alert" if actions else ""),
        _figure(overdue, "accepted risks past review", "alert" if overdue else ""),
    ]
    figures += [_figure(int(counts.get(b, 0)), f"{b} residual", b) for b in reversed(BANDS)]
    parts = [
        '<div class="saikit-section">',
        f'<p class="lead">{len(reg)} findings across {reg["asset_id"].nunique()} assets. '
        f"The risk appetite is <strong>{_e(info['risk_appetite'] or 'not set')}</strong>: "
        f"{_e(needing_decision_sentence(reg['treatment']))}.</p>",
        f'<div class="figures">{"".join(figures)}</div>',
        band_legend(),
    ]
    parts.append(_compliance_figures(run))
    changes = run.manifest.get("changes") or []
    if changes:
        shown = "".join(f"<li>{_e(c)}</li>" for c in changes[:12])
        more = f"<li>… and {len(changes) - 12} more</li>" if len(changes) > 12 else ""
        parts.append(
            f"<h3>What changed since the previous run</h3><ul class='changes'>{shown}{more}</ul>"
        )
    top = reg.head(TOP_RISKS)
    parts.append(f"<h3>Top {len(top)} risks by residual score</h3>")
    parts.append(_register_table(top, compact=True))
    parts.append("</div>")
    return "".join(parts)


def _compliance_figures(run: RunData) -> str:
    prov = run.provisions
    if prov is None or prov.empty:
        return '<p class="note">This run recorded no provision assessment.</p>'
    applicable = prov[prov["status"] != NOT_APPLICABLE]
    figs = [_figure(len(applicable), "applicable provision checks")]
    for status, cls in (
        (MET, "low"),
        (PARTIAL, "medium"),
        (NOT_MET, "critical"),
        (NOT_ASSESSED, ""),
    ):
        figs.append(_figure(int((applicable["status"] == status).sum()), status, cls))
    shall_gaps = int(((applicable["modal"] == "shall") & (applicable["status"] == NOT_MET)).sum())
    return (
        f'<div class="figures">{"".join(figs)}</div>'
        f'<p class="note">Provision checks count each provision once for every role held. '
        f'{shall_gaps} "shall" check(s) are not met.</p>'
    )


def register_html(run: RunData) -> str:
    """The whole register, highest residual risk first."""
    reg = run.register
    intro = (
        f'<p class="lead">All {len(reg)} findings, highest residual risk first (then '
        f"highest inherent risk). Scores are likelihood × impact on 1-5 scales.</p>"
    )
    return f'<div class="saikit-section wide">{intro}{_register_table(reg, compact=False)}</div>'


def _register_table(df, compact: bool) -> str:
    headers = ["#", "Finding", "Threat", "Asset", "Residual", "Inherent", "Treatment"]
    headers += ["Missing controls"] if compact else ["Decision", "Missing controls"]
    rows = []
    for n, r in enumerate(df.itertuples(index=False), start=1):
        treatment_cls = "v-" + r.treatment.replace(" ", "-")
        row = [
            str(n),
            _e(r.finding_id),
            _e(r.threat),
            _e(r.asset_id),
            _band(r.residual_band, r.residual_score),
            _band(r.inherent_band, r.inherent_score),
            f'<span class="{treatment_cls}">{_e(r.treatment)}</span>',
        ]
        if not compact:
            decision = ", ".join(
                x
                for x in (
                    r.decision,
                    r.decision_owner,
                    f"review by {r.review_by}" if r.review_by else "",
                )
                if x
            )
            row.append(_e(decision))
        row.append(_e(r.controls_missing.replace(",", ", ").replace(",  ", ", ")))
        rows.append(row)
    widths = [3, 19, 14, 12, 10.5, 10.5, 12, 19] if compact else [3, 18, 12, 11, 9, 9, 10, 12, 16]
    return _table(headers, rows, numeric={0}, widths=widths)


# ---------------------------------------------------------------- the template's preprocessor


class ReportPreprocessor(Preprocessor):
    """Prepare a notebook for the saikit-report template (named in the template's conf.json).

    Puts the title block, contents and running footer in `resources["saikit"]`; drops each
    notebook's own title block when the report has one; colours band and status cells.
    """

    def preprocess(self, nb, resources):
        info = nb.metadata.get("saikit", {}).get("report") or _info_beside(resources)
        heading = ""
        for cell in nb.cells:
            if cell.cell_type == "markdown":
                heading = _heading(cell.source) or heading
                continue
            if cell.cell_type != "code":
                continue
            if info:
                cell.outputs = [o for o in cell.outputs if not _is_title_block(o)]
            for output in cell.outputs:
                data = output.get("data", {})
                if "text/html" in data:
                    text = _text(data["text/html"])
                    data["text/html"] = (
                        empty_note(heading) if is_empty_table(text) else decorate_table_html(text)
                    )
        resources["saikit"] = page_resources(info, nb, resources)
        return nb, resources


def _heading(source) -> str:
    """The first markdown heading of a cell, without its '#' marks and provision IDs."""
    for line in _text(source).splitlines():
        m = re.match(r"^#{1,6}\s+(.+?)\s*#*\s*$", line)
        if m:
            return re.sub(r"\s*\([^)]*\)\s*$", "", m.group(1))
    return ""


_EMPTY_BODY = re.compile(r"<tbody>\s*</tbody>")


def is_empty_table(text: str) -> bool:
    """Whether an HTML output is a table with a header and no row."""
    return "<table" in text and bool(_EMPTY_BODY.search(text)) and text.count("<table") == 1


def empty_note(heading: str) -> str:
    """The sentence that stands in for a table with nothing in it."""
    what = f"“{_e(heading)}”" if heading else "this table"
    return f'<p class="empty-note">Nothing to show: {what} has no entries for this system.</p>'


def _text(value) -> str:
    return "".join(value) if isinstance(value, list) else str(value)


def _is_title_block(output) -> bool:
    return bool(_TITLE_BLOCK.search(_text(output.get("data", {}).get("text/html", ""))))


def _info_beside(resources) -> dict | None:
    """Title information for a notebook converted straight from a run's notebooks/ folder."""
    folder = Path((resources.get("metadata") or {}).get("path") or ".")
    run_dir = folder.parent if folder.name == "notebooks" else folder
    if not (run_dir / "manifest.json").exists() or not (run_dir / "config.json").exists():
        return None
    try:
        return report_info(RunData(run_dir))
    except (OSError, ValueError, KeyError):
        return None


def decorate_table_html(text: str) -> str:
    """Table HTML prepared for print: band/status cells classed for colour, long unbroken
    tokens given break points, wide tables marked.

    Only adds fixed class names to cells whose whole content is one of a few fixed words and
    `<wbr>` inside long runs of plain characters; everything else passes through untouched.
    """
    if "<table" not in text:
        return text
    text = _TD_WORD.sub(
        lambda m: f'<td class="v-{m.group(1).replace(" ", "-")}">{m.group(1)}</td>', text
    )
    text = _break_long_tokens(text)
    classes, note = [], ""
    head = re.search(r"<thead>(.*?)</tr>", text, re.S)
    columns = head.group(1).count("<th") if head else 0
    if columns > WIDE_COLUMNS:
        classes.append("too-wide")
        note = (
            f'<p class="print-note">This table has {columns} columns, too many to print '
            f"legibly: read it in the HTML report or in the XLSX and CSV exports.</p>"
        )
    elif columns > 10:
        classes.append("wide")
    index_cells = re.findall(r"<tr>\s*<th>([^<]*)</th>", text.split("<tbody>", 1)[-1])
    if "<tbody>" in text and index_cells and all(c.strip().isdigit() for c in index_cells):
        classes.append("plain-index")
    return f'<div class="{" ".join(classes)}">{note}{text}</div>' if classes else text


def _break_long_tokens(text: str) -> str:
    """`<wbr>` inside long tokens of text nodes, and after the underscore of a snake_case name
    (never inside tags or style elements)."""
    out, in_style = [], False
    for part in re.split(r"(<[^>]*>)", text):
        if part.startswith("<"):
            in_style = part.lower().startswith("<style") or (in_style and part != "</style>")
            out.append(part)
        else:
            out.append(
                part if in_style else _SNAKE.sub("_<wbr>", _LONG_TOKEN.sub(_break_token, part))
            )
    return "".join(out)


def _break_token(m: re.Match) -> str:
    token = m.group(0)
    return "<wbr>".join(token[i : i + 12] for i in range(0, len(token), 12))


def page_resources(info: dict | None, nb, resources) -> dict:
    """What the template shows around the notebook: title block, contents, footer."""
    name = (resources.get("metadata") or {}).get("name") or "notebook"
    params = nb.metadata.get("papermill", {}).get("parameters", {})
    if info:
        when = _pretty_time(info.get("time", ""))
        facts = [
            ("System ID", info["system_id"]),
            ("Run", info["run"]),
            ("Run time", when),
            ("Standard", info["edition"]),
            ("Configuration SHA-256", info["config_sha256"]),
            ("Risk appetite", info.get("risk_appetite", "")),
            ("Roles held", info.get("roles", "")),
            ("System owner", info.get("owner", "")),
            ("saikit version", info.get("kit_version", "")),
        ]
        facts = [(k, v) for k, v in facts if v]
        footer = f"{info['system_name']} · run {info['run']}"
        title = f"{info['system_name']}: AI security risk report"
        system_name, subtitle = info["system_name"], info.get("purpose", "")
    else:
        facts = [("Notebook", name)]
        if params.get("config_sha256"):
            facts.append(("Configuration SHA-256", params["config_sha256"]))
        end = nb.metadata.get("papermill", {}).get("end_time")
        if end:
            facts.append(("Executed", _pretty_time(end)))
        footer, title, system_name, subtitle = name, name, name, ""
    return {
        "title": title,
        "system_name": system_name,
        "subtitle": _shorten(subtitle, 320),
        "kicker": f"AI security risk report · {info['edition']}" if info else "saikit notebook",
        "facts": facts,
        "toc": table_of_contents(nb),
        "kit_version": __version__,
        "page_css": footer_css(footer),
    }


def table_of_contents(nb) -> list[dict]:
    """Level-1 and level-2 markdown headings with the anchor ids nbconvert gives them, nested."""
    from nbconvert.filters.markdown import markdown2html

    toc: list[dict] = []
    for cell in nb.cells:
        if cell.cell_type != "markdown":
            continue
        fenced = False
        for line in _text(cell.source).splitlines():
            if line.lstrip().startswith(("```", "~~~")):
                fenced = not fenced
            m = None if fenced else re.match(r"^(#{1,2})\s+(.+?)\s*#*\s*$", line)
            if not m:
                continue
            rendered = markdown2html(line)
            found = re.search(r'\bid="([^"]*)"', rendered)
            if not found:
                continue
            text = html.unescape(re.sub(r"<[^>]+>", "", rendered.split("<a class", 1)[0]))
            entry = {"id": html.unescape(found.group(1)), "text": text, "children": []}
            if len(m.group(1)) == 1 or not toc:
                toc.append(entry)
            else:
                toc[-1]["children"].append(entry)
    return toc


def footer_css(text: str) -> str:
    """@page rules printing `text` and the page number in the PDF's margins.

    The text is CSS-escaped character by character, so nothing in it can end the string or
    the style element.
    """
    # A hex escape ends at the space after it, so every escape carries its own space.
    safe = "".join(
        c if c.isascii() and (c.isalnum() or c == " ") else f"\\{ord(c):x} "
        for c in _shorten(text, 120)
    )
    box = 'font: 8pt "Liberation Sans", "DejaVu Sans", Arial, sans-serif; color: #5b6675;'
    return (
        f'@page {{ @bottom-left {{ content: "{safe}"; {box} }}\n'
        f'  @bottom-right {{ content: "Page " counter(page) " of " counter(pages); {box} }} }}'
    )


def _shorten(text: str, limit: int) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def _pretty_time(stamp: str) -> str:
    try:
        t = dt.datetime.fromisoformat(stamp.replace("Z", "+00:00"))
    except ValueError:
        return stamp
    return t.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")


# ---------------------------------------------------------------- offline check


class _Fetches(HTMLParser):
    """Collect every resource a page would load (scripts, styles, images, frames, objects)."""

    LOADS = {
        "script": "src",
        "link": "href",
        "img": "src",
        "iframe": "src",
        "frame": "src",
        "embed": "src",
        "object": "data",
        "source": "src",
        "audio": "src",
        "video": "src",
        "input": "src",
        "track": "src",
    }

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.found: list[str] = []
        self.css: list[str] = []
        self._in_style = False

    def handle_starttag(self, tag, attrs):
        values = dict(attrs)
        attr = self.LOADS.get(tag)
        if tag == "script":
            self.found.append(f"<script{' src=' + values['src'] if values.get('src') else ''}>")
        elif attr and values.get(attr) and not values[attr].startswith(("data:", "#")):
            self.found.append(f"<{tag} {attr}={values[attr]}>")
        if values.get("srcset"):
            self.found.append(f"<{tag} srcset>")
        if values.get("style"):
            self.css.append(values["style"])
        self._in_style = tag == "style"

    def handle_endtag(self, tag):
        self._in_style = False

    def handle_data(self, data):
        if self._in_style:
            self.css.append(data)


def offline_problems(page: str) -> list[str]:
    """Every way the page would fetch from elsewhere or run a script (empty when self-contained)."""
    parser = _Fetches()
    parser.feed(page)
    parser.close()
    found = list(parser.found)
    for m in re.finditer(r"@import|url\(\s*['\"]?(?!data:)[^)'\"]*", "\n".join(parser.css)):
        found.append(m.group(0)[:80])
    return found
