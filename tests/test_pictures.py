"""Pictures draw users' text as written: never mathtext, never LaTeX, never off the picture.

A system may be called `Save $$ assistant`: matplotlib reads `$...$` as mathtext (and, with
`text.usetex`, everything as LaTeX), which fails or changes the name. Every picture of the kit
is a `Picture`, which draws every text literally.
"""

from __future__ import annotations

import io
import json

import matplotlib
import pytest
from conftest import MINIMAL
from matplotlib.text import Text

from kit.compliance.plots import status_chart
from kit.graph import build
from kit.graph.plots import draw_graph
from kit.model.schema import load_system
from kit.risk.plots import heatmaps
from kit.runs import execute, runner
from kit.workbook import open_system

MARKUP = [
    "Save $$ assistant",
    "Area $x^2$ and a_b^c",
    r"Greek \alpha here",
    r"Half $\frac{1}{2}$ model",
    r"All of it: $$ $x^2$ \alpha $\frac{1}{2}$ $_^$ \$ {}",
]


def system_named(write, name: str):
    assert "name: Tiny system" in MINIMAL
    return write(MINIMAL.replace("name: Tiny system", f"name: {json.dumps(name)}"))


def rendered(fig) -> list[Text]:
    """Draw the figure as a PNG (as savefig, Jupyter and the CLI do); return its texts."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    assert buf.getvalue().startswith(b"\x89PNG")
    texts = fig.findobj(Text)
    assert texts
    return texts


def assert_literal(texts: list[Text]) -> None:
    for t in texts:
        assert not t.get_parse_math() and not t.get_usetex(), t.get_text()


def pictures(path, title: str | None = None):
    """The three pictures of the system at `path`, titled with its name (or `title`)."""
    wb = open_system(str(path))
    name = title or wb.model.system.name
    return {
        "graph": draw_graph(wb.analysis.graph, title=name),
        "heatmaps": heatmaps(wb.analysis.assessment, name),
        "coverage": status_chart(wb.provisions, name),
    }


def title_of(kind: str, fig) -> str:
    if kind == "heatmaps":
        return fig.get_suptitle()
    [ax] = [ax for ax in fig.axes if ax.get_title(loc="left") or ax.get_title()]
    return ax.get_title(loc="left") or ax.get_title()


@pytest.mark.parametrize("name", MARKUP)
def test_every_picture_draws_a_name_with_markup_as_written(write, name):
    path = system_named(write, name)
    for kind, fig in pictures(path).items():
        texts = rendered(fig)
        assert_literal(texts)
        title = title_of(kind, fig)
        assert title == name or title.startswith(name + "\n"), (kind, title)


def test_graph_png_of_a_system_with_markup_in_its_name(write, cli, tmp_path):
    name = r"Save $$ assistant $x^2$ \alpha $\frac{1}{2}$"
    path = system_named(write, name)
    assert cli("check", path)[0] == 0
    png = tmp_path / "graph.png"
    status, out, err = cli("graph", path, "--png", png)
    assert (status, err) == (0, "")
    assert png.read_bytes().startswith(b"\x89PNG") and f"wrote {png}" in out
    fig = draw_graph(build(load_system(path)))
    texts = rendered(fig)
    assert_literal(texts)
    shown = [t.get_text() for t in texts]
    assert f"{name}\n3 assets, 2 flows" in shown
    assert {"train-data", "scorer", "score-api"} <= set(shown)


def test_principle_labels_with_markup_are_drawn_as_written(write):
    wb = open_system(str(system_named(write, "Tiny")))
    df = wb.provisions.assign(principle_title=lambda d: r"$x^2$ \alpha " + d["principle_title"])
    fig = status_chart(df, r"$\frac{1}{2}$")
    texts = rendered(fig)
    assert_literal(texts)
    labels = [t.get_text() for t in fig.axes[0].get_yticklabels()]
    assert labels and all(r" $x^2$ \alpha " in label for label in labels)


def test_pictures_stay_literal_when_the_user_turns_on_latex(write):
    # A matplotlibrc with text.usetex would hand every name to LaTeX (and run it).
    path = system_named(write, r"Half $\frac{1}{2}$ model")
    with matplotlib.rc_context({"text.usetex": True, "text.parse_math": True}):
        for fig in pictures(path).values():
            assert_literal(rendered(fig))


def test_text_added_to_a_picture_later_is_drawn_literally(write):
    # A notebook cell may add a title or a note to a figure the workbook returned.
    fig = pictures(system_named(write, "Tiny"))["graph"]
    fig.axes[0].annotate("cost $$ and $x^2$", (0, 0))
    fig.suptitle(r"$\alpha$")
    assert_literal(rendered(fig))


@pytest.mark.parametrize("name", ["W" * 200, ("Many words in a name " * 10)[:200]])
def test_a_long_name_wraps_and_keeps_the_drawing(write, name):
    path = system_named(write, name)
    for kind, fig in pictures(path).items():
        rendered(fig)
        renderer = fig.canvas.get_renderer()
        title = [t for t in fig.findobj(Text) if t.get_text() == title_of(kind, fig)][0]
        box = title.get_window_extent(renderer)
        assert 0 <= box.x0 and box.x1 <= fig.bbox.width, (kind, box)
        squashed = title.get_text().replace("\n", "").replace(" ", "")
        assert squashed.startswith(name.replace(" ", "")), (kind, title.get_text())
        main = fig.axes[0].get_position()
        assert main.width > 0.25 and main.height > 0.25, (kind, main)


def test_workbook_notebooks_run_for_a_system_with_markup_in_its_name(write, tmp_path):
    """Notebooks 02, 03 and 04 draw the asset graph, the risk and the coverage heatmaps."""
    name = r"Save $$ assistant $x^2$ \alpha $\frac{1}{2}$"
    path = system_named(write, name)
    p = runner.plan(path, out=tmp_path / "store")
    staging = tmp_path / "staging"
    (staging / "notebooks").mkdir(parents=True)
    names = ["02-inventory", "03-threat-model", "04-compliance-register"]
    parameters = {
        "system_path": str(p.system),
        "config_sha256": p.config_sha256,
        "library_dirs": [],
        "run_store": str(p.store.root.resolve()),
    }
    results = execute.execute_all(
        p.sources, names, staging, parameters, str(tmp_path), 2, lambda _line: None
    )
    assert [(r.name, r.ok, r.error) for r in results] == [(n, True, "") for n in names]
    for n in names:
        nb = json.loads((staging / "notebooks" / f"{n}.ipynb").read_text())
        outputs = [o for c in nb["cells"] for o in c.get("outputs", [])]
        assert not [o for o in outputs if o.get("output_type") == "error"], n
        assert not [o for o in outputs if o.get("name") == "stderr"], n
        pictures = [o for o in outputs if "image/svg+xml" in o.get("data", {})]
        assert pictures, n
        for o in pictures:  # vector, labels kept as text, described for the report's alt text
            assert "<text" in "".join(o["data"]["image/svg+xml"]), n
            assert len(o["metadata"]["image/svg+xml"]["alt"]) > 80, n
