"""Pictures a room can read on a projector: the asset graph and the risk heatmaps.

Asset labels are whole names on one line, on an opaque box above every flow (so no flow
crosses one) and never on top of each other; each flow kind has a colour named in the legend;
the flows of a hub leave it side by side in the order of where they go. The heatmaps name the
bands and their scores and mark the risk appetite. No text is smaller than 8 pt.
"""

from __future__ import annotations

import io
import itertools

import pytest
from matplotlib.text import Annotation, Text

from kit.analysis import analyse
from kit.graph.plots import FLOW_COLOURS, LABEL_DROP_IN, draw_graph
from kit.resources import examples
from kit.risk.plots import heatmaps

EXAMPLES = ["credit-risk", "ops-agent", "support-assistant"]


def drawn(fig):
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=72)
    return fig.canvas.get_renderer()


@pytest.fixture(scope="module", params=EXAMPLES)
def example(request):
    analysis = analyse(examples()[request.param])
    fig = draw_graph(analysis.graph, aggregate=False)
    return analysis, fig, drawn(fig)


def labels(analysis, fig) -> dict[str, Text]:
    ids = {a.id for a in analysis.model.assets}
    return {t.get_text(): t for t in fig.axes[0].texts if t.get_text() in ids}


def test_every_asset_is_labelled_with_its_whole_name_on_one_line(example):
    analysis, fig, _ = example
    found = labels(analysis, fig)
    assert set(found) == {a.id for a in analysis.model.assets}
    assert any("-" in name for name in found)  # the examples' names have hyphens: kept whole


def test_labels_sit_on_opaque_boxes_above_every_flow(example):
    analysis, fig, _ = example
    arrows = [a for a in fig.axes[0].texts if isinstance(a, Annotation)]
    assert len(arrows) == len(analysis.model.flows)
    top_flow = max(a.get_zorder() for a in arrows)
    for text in labels(analysis, fig).values():
        box = text.get_bbox_patch()
        assert box is not None and box.get_facecolor()[:3] == (1.0, 1.0, 1.0)
        assert box.get_alpha() >= 0.9
        assert text.get_zorder() > top_flow


def test_no_two_labels_overlap(example):
    analysis, fig, renderer = example
    boxes = {n: t.get_window_extent(renderer) for n, t in labels(analysis, fig).items()}
    for (a, box_a), (b, box_b) in itertools.combinations(boxes.items(), 2):
        assert not box_a.overlaps(box_b), (a, b)


def test_the_legend_names_each_flow_kind_drawn_and_the_boundary_crossings(example):
    analysis, fig, _ = example
    legend = [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    kinds = {f.kind for f in analysis.model.flows}
    assert {f"flow: {k.replace('_', ' ')}" for k in kinds} <= set(legend)
    assert "crosses a trust boundary" in legend
    colours = {
        a.arrow_patch.get_edgecolor()[:3] for a in fig.axes[0].texts if isinstance(a, Annotation)
    }
    assert len(colours) == len(kinds)  # one colour per kind
    assert set(FLOW_COLOURS) >= kinds


def test_the_flows_of_a_hub_leave_it_side_by_side_in_the_order_of_their_targets(example):
    analysis, fig, _ = example
    arrows = [a for a in fig.axes[0].texts if isinstance(a, Annotation)]
    centre = {}
    for t in labels(analysis, fig).values():
        x, y = t.get_position()
        centre[t.get_text()] = (x, y + LABEL_DROP_IN)  # labels hang below their node
    hubs = 0
    for node, (x, y) in centre.items():
        leaving = [
            (a.xyann, a.xy)
            for a in arrows
            if abs(a.xyann[0] - x) < 0.3 and abs(a.xyann[1] - y) < 0.3 and a.xy[0] > x + 0.5
        ]
        if len(leaving) < 2:
            continue
        hubs += 1

        def target(end):  # the node whose centre the flow's end is next to
            return min(centre.values(), key=lambda c: (c[0] - end[0]) ** 2 + (c[1] - end[1]) ** 2)

        order = sorted(leaving, key=lambda p: (-target(p[1])[1], target(p[1])[0]))
        starts = [start[1] for start, _ in order]
        assert starts == sorted(starts, reverse=True), node  # top target leaves from the top
        assert len(set(starts)) == len(starts), node  # none share a point
    assert hubs  # each example has a hub


def test_every_text_is_at_least_8_points(example):
    analysis, fig, _ = example
    for t in fig.findobj(Text):
        if t.get_text().strip():
            assert t.get_fontsize() >= 8, t.get_text()


@pytest.mark.parametrize("appetite", ["low", "medium", "high"])
def test_heatmaps_have_a_band_legend_and_mark_the_appetite(appetite):
    analysis = analyse(examples()["credit-risk"])
    fig = heatmaps(analysis.assessment, "Credit", appetite=appetite)
    drawn(fig)
    legend = [t.get_text() for t in fig.legends[0].get_texts()]
    assert legend == [
        "low 1–4",
        "medium 5–9",
        "high 10–16",
        "critical 17–25",
        f"risk appetite: {appetite}",
    ]
    for ax in fig.axes:
        segments = {tuple(map(tuple, line.get_xydata())) for line in ax.get_lines()}
        # the line runs under the lowest cell above the appetite in the impact-5 column
        lowest = {"low": 1, "medium": 2, "high": 4}[appetite]  # likelihood × 5 above the band
        assert ((3.5, lowest - 1.5), (4.5, lowest - 1.5)) in segments
    for t in fig.findobj(Text):
        if t.get_text().strip():
            assert t.get_fontsize() >= 8, t.get_text()


def test_heatmaps_without_an_appetite_draw_no_line():
    analysis = analyse(examples()["credit-risk"])
    fig = heatmaps(analysis.assessment)
    assert all(not ax.get_lines() for ax in fig.axes)
    assert len(fig.legends[0].get_texts()) == 4
