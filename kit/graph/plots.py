"""Pictures of the asset graph. Each function returns a matplotlib Figure (Agg) and never shows it.

`draw_graph` lays the system out in columns that read left to right the way influence moves:
platform → data → models → serving → consumers. Within a band, columns follow the longest path
of flows inside the band. The drawing is measured in inches and sized to print (`print_page`):
columns as close as their labels allow, alternate columns half a row apart, a tall column dealt
over neighbours when that prints larger. Colour is the asset type; a red ring marks an asset with inventory
gaps, a thick black outline a single point of failure, and red dashed arrows flows that cross a
trust boundary. Systems of more than AGGREGATE_ABOVE assets are drawn aggregated instead: one node
per asset type with its counts (assets, assets with gaps, assets exposed to partners or the
public), one arrow per pair of types, its width growing with the number of flows and red when
some of them cross a trust boundary; so a large estate stays readable.
"""

from __future__ import annotations

import contextlib
import io
import math
from collections import Counter, defaultdict
from dataclasses import dataclass

import matplotlib
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch
from matplotlib.text import Text
from matplotlib.textpath import text_to_path

from kit import graph as graphs
from kit.graph import analyses

AGGREGATE_ABOVE = 80
LAYERS = ("platform", "data", "models", "serving", "consumers")
LAYER_OF = {
    "infrastructure": 0,
    "dataset": 1,
    "vector_store": 1,
    "log_store": 1,
    "prompt": 1,
    "model": 2,
    "api": 3,
    "application": 3,
    "agent": 3,
    "tool": 3,
    "third_party_component": 3,
    "user_group": 4,
    "secret": 0,
}
COLOURS = {
    "infrastructure": "#9e9e9e",
    "dataset": "#4e79a7",
    "vector_store": "#a0cbe8",
    "log_store": "#79706e",
    "prompt": "#edc948",
    "model": "#f28e2b",
    "api": "#59a14f",
    "application": "#8cd17d",
    "agent": "#b07aa1",
    "tool": "#d4a6c8",
    "third_party_component": "#9d7660",
    "user_group": "#76b7b2",
    "secret": "#e15759",
}
GAP_COLOUR = "#d62728"
# Request-direction flows: in a cycle, these are the ones drawn going backwards.
_REQUESTS = ("prompts", "invokes", "writes", "logs_to")


# What makes matplotlib read a string as markup rather than text: `$...$` as mathtext, and
# everything as LaTeX under usetex. No text on a Picture is ever read that way.
LITERAL_TEXT = {"text.parse_math": False, "text.usetex": False}


class Picture(Figure):
    """A Figure that draws every text literally and shows itself as a PNG in Jupyter.

    Names come from users' files: a system called ``Save $$ assistant`` or ``$\\frac{1}{2}$``
    must be drawn as written, never parsed as mathtext (which fails or changes it) or handed
    to LaTeX. So whenever the figure is drawn or measured, every Text on it (titles, labels,
    tick labels, legends, annotations, and texts added later, in a notebook) is switched to
    plain text, and texts matplotlib creates while drawing (tick labels) are created plain.

    (IPython draws a plain Figure only once pyplot has switched on its inline backend; before
    that it prints ``<Figure size ...>``. The workbook builds figures without pyplot.)
    """

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        FigureCanvasAgg(self)  # drawn without pyplot, whatever backend pyplot may use

    def draw(self, renderer) -> None:
        with self._literal():
            super().draw(renderer)

    def get_tightbbox(self, *args, **kwargs):
        with self._literal():
            return super().get_tightbbox(*args, **kwargs)

    @contextlib.contextmanager
    def _literal(self):
        with matplotlib.rc_context(LITERAL_TEXT):
            for text in self.findobj(Text):
                text.set_parse_math(False)
                text.set_usetex(False)
            yield

    def headline(self, text: str, ax=None, **kwargs) -> Text:
        """Title the picture (`ax` None) or one of its axes with text that may hold a user's name.

        Line breaks are put in where the title would outgrow the picture (at spaces, or inside
        a word too long for a line), so a long name never runs off the picture or squeezes the
        drawing to nothing. (matplotlib's own `wrap=True` measures `$...$` as mathtext.)
        """
        title = self.suptitle(text, **kwargs) if ax is None else ax.set_title(text, **kwargs)
        centred = ax is not None and kwargs.get("loc", "center") == "center"
        room = self.get_figwidth() * 72 * (0.6 if centred else 0.95)  # points
        prop = title.get_fontproperties()

        def fits(line: str) -> bool:
            return text_to_path.get_text_width_height_descent(line, prop, ismath=False)[0] <= room

        title.set_text(fold(text, fits))
        return title

    def _repr_png_(self) -> bytes:
        buf = io.BytesIO()
        self.savefig(buf, format="png", dpi=100)
        return buf.getvalue()


def fold(text: str, fits) -> str:
    """`text` with line breaks put in so that every line `fits` (a predicate on one line).

    Lines break at spaces; a word that does not fit a line on its own is cut where it must.
    Text that fits is returned as it was.
    """
    lines = []
    for paragraph in text.split("\n"):
        line = ""
        for word in paragraph.split(" "):
            joined = f"{line} {word}" if line else word
            if fits(joined):
                line = joined
                continue
            if line:
                lines.append(line)
            line = word
            while len(line) > 1 and not fits(line):
                cut = 1
                while cut < len(line) - 1 and fits(line[: cut + 1]):
                    cut += 1
                lines.append(line[:cut])
                line = line[cut:]
        lines.append(line)
    return "\n".join(lines)


def layout(nodes: dict[str, str], edges: list[tuple[str, str, str]]) -> dict[str, tuple[int, int]]:
    """Column and row of every node in the layered drawing.

    Parameters
    ----------
    nodes : {node ID: asset type}, in a stable order
    edges : (source, target, kind) in the direction influence moves

    Returns
    -------
    dict {node ID: (column, row)}; columns grow left to right through the bands, rows are
    ordered within a column to keep flows short.

    Example
    -------
    >>> layout({"d": "dataset", "m": "model"}, [("d", "m", "trains")])
    {'d': (0, 0), 'm': (1, 0)}
    """
    band = {n: LAYER_OF[t] for n, t in nodes.items()}
    depth = _depth_in_band(nodes, [(s, t, k) for s, t, k in edges if band[s] == band[t]])
    widths = {b: 1 + max(depth[n] for n in nodes if band[n] == b) for b in set(band.values())}
    offset, start = {}, 0
    for b in sorted(widths):
        offset[b] = start
        start += widths[b]
    column = {n: offset[band[n]] + depth[n] for n in nodes}
    return _order_rows(nodes, edges, column)


# One colour per flow kind (the legend names those present); boundary crossings are dashed.
FLOW_COLOURS = {
    "trains": "#1f77b4",
    "fine_tunes": "#17becf",
    "indexes": "#9467bd",
    "retrieves": "#2ca02c",
    "prompts": "#bcbd22",
    "serves": "#ff7f0e",
    "invokes": "#e377c2",
    "writes": "#8c564b",
    "logs_to": "#7f7f7f",
    "depends_on": "#393b79",
}
LABEL_PT = 9  # asset labels; every text is at least this size at the picture's own size
# The picture is laid out in inches (one data unit is one inch), so it can be sized to print:
# labels hang below their nodes, and alternate columns sit half a row lower than their
# neighbours, so a label may reach over the next column's gap without meeting its labels.
NODE_AREA, RING_AREA = 230, 500  # marker areas (pt²) of a node and of its inventory-gap ring
NODE_R_IN = math.sqrt(RING_AREA) / 2 / 72  # radius of a node with its ring
LABEL_DROP_IN = NODE_R_IN + 0.04  # from a node's centre to the top of its label
MIN_STEP_IN = 0.7  # between neighbouring columns: room for a flow to show its direction
CLEAR_IN = 0.12  # between a label and a node beside it
APART_IN = 0.3  # between two labels side by side, so each reads as its own name
# The pages a picture prints on, each with the box it gets there: the page less the report's
# margins and room for a heading (templates/nbconvert/saikit-report/static/saikit.css gives a
# picture that box). A picture prints on the first page where it keeps 8/9 of its size, so
# labels drawn at 9 pt print at 8 pt or more; the asset graph is laid out for the second.
PRINT_PAGES = {
    "portrait": ((210 - 2 * 13) / 25.4, 235 / 25.4),
    "landscape": ((297 - 2 * 13) / 25.4, 148 / 25.4),
    "a3-landscape": ((420 - 2 * 13) / 25.4, 235 / 25.4),
}
PRINT_BOX_IN = PRINT_PAGES["landscape"]
PRINT_SCALE = 8 / 9


def print_page(width_in: float, height_in: float) -> str:
    """The page a picture of this size prints on (a key of PRINT_PAGES): the first where it
    keeps PRINT_SCALE of its size, else the largest."""
    for page, (w, h) in PRINT_PAGES.items():
        if page == "portrait" and width_in > w:
            continue  # wider than portrait text: turned, never shrunk
        if min(1.0, w / width_in, h / height_in) >= PRINT_SCALE:
            return page
    return list(PRINT_PAGES)[-1]


def draw_graph(
    graph: graphs.AssetGraph,
    *,
    gaps: dict[str, list[str]] | None = None,
    aggregate: bool | None = None,
    title: str | None = None,
) -> Figure:
    """Draw the asset graph; aggregated by type for more than AGGREGATE_ABOVE (80) assets.

    Parameters
    ----------
    graph : AssetGraph
    gaps : inventory gaps to mark (default: ``kit.graph.inventory_gaps(graph)``)
    aggregate : force (True) or forbid (False) the aggregated view
    title : figure title (default: the system's name)

    Returns
    -------
    Picture, a matplotlib Figure with an Agg canvas that Jupyter shows as an image; save it
    with ``fig.savefig("graph.png")``.

    Example
    -------
    >>> draw_graph(build(model)).savefig("/tmp/graph.png")  # doctest: +SKIP
    """
    return draw_scene(graph_scene(graph, gaps=gaps, aggregate=aggregate, title=title))


def graph_scene(
    graph: graphs.AssetGraph,
    *,
    gaps: dict[str, list[str]] | None = None,
    aggregate: bool | None = None,
    title: str | None = None,
) -> tuple:
    """What `draw_graph` draws, as plain hashable data (equal scenes draw the same picture).

    Returns ("assets", title, nodes, edges, gapped, spof) with nodes (id, type), edges
    (source, target, kind, crosses boundary); or, aggregated, ("aggregate", title, assets,
    flows, sizes, gapped, exposed, between, within), each a tuple of (key, count) pairs.
    """
    if gaps is None:
        gaps = analyses.inventory_gaps(graph)
    if aggregate is None:
        aggregate = len(graph.model.assets) > AGGREGATE_ABOVE
    title = title or graph.model.system.name
    if not aggregate:
        return (
            "assets",
            title,
            tuple((a.id, a.type) for a in graph.model.assets),
            tuple(
                (e.source, e.target, e.kind, bool(e.flow.crosses_boundary)) for e in graph.edges()
            ),
            tuple(sorted(gaps)),
            tuple(sorted(analyses.single_points_of_failure(graph))),
        )
    types = {a.id: a.type for a in graph.model.assets}
    exposed = Counter((a.type, a.exposure) for a in graph.model.assets if a.exposure != "internal")
    flows: Counter = Counter()
    crossing: Counter = Counter()
    kinds: dict = defaultdict(Counter)
    for e in graph.edges():
        pair = (types[e.source], types[e.target])
        flows[pair] += 1
        crossing[pair] += bool(e.flow.crosses_boundary)
        kinds[pair][e.kind] += 1
    between = tuple(
        sorted(
            (pair, n, crossing[pair], kinds[pair].most_common(1)[0][0])
            for pair, n in flows.items()
            if pair[0] != pair[1]
        )
    )
    return (
        "aggregate",
        title,
        len(types),
        sum(flows.values()),
        tuple(sorted(Counter(types.values()).items())),
        tuple(sorted(Counter(types[a] for a in gaps).items())),
        tuple(sorted(exposed.items())),
        between,
        tuple(sorted((s, n) for (s, t), n in flows.items() if s == t)),
    )


def draw_scene(scene: tuple) -> Figure:
    """Draw a `graph_scene`."""
    if scene[0] == "aggregate":
        return _draw_aggregate(*scene[1:])
    return _draw_assets(*scene[1:])


def _draw_assets(title, nodes, edges, gapped, spof) -> Figure:
    types = dict(nodes)
    pos = layout(types, [(s, t, k) for s, t, k, _ in edges])
    handles = _legend_handles(
        sorted(set(types.values()), key=list(COLOURS).index),
        sorted({k for _, _, k, _ in edges}, key=list(FLOW_COLOURS).index),
    )
    pos, g = _fit_to_print(pos, {n: _label_box(n) for n in types}, NODE_R_IN, len(handles))
    fig, ax = _canvas(pos, types, title, f"{len(types)} assets, {len(edges)} flows", g)
    xy = g.xy
    starts, ends = _ports(xy, pos, edges)
    for i, (s, t, kind, crossing) in enumerate(edges):
        _arrow(
            ax,
            starts[i],
            ends[i],
            pos[s][0],
            pos[t][0],
            colour=FLOW_COLOURS.get(kind, "#555555"),
            style="--" if crossing else "-",
            width=1.6 if crossing else 1.1,
            shrink=2 if pos[t][0] > pos[s][0] else 9,
        )
    ids = list(types)
    ax.scatter(
        [xy[n][0] for n in ids],
        [xy[n][1] for n in ids],
        s=NODE_AREA,
        zorder=3,
        c=[COLOURS[types[n]] for n in ids],
        edgecolors=["black" if n in spof else "white" for n in ids],
        linewidths=[2.8 if n in spof else 1.0 for n in ids],
    )
    ringed = [n for n in ids if n in gapped]
    if ringed:
        ax.scatter(
            [xy[n][0] for n in ringed],
            [xy[n][1] for n in ringed],
            s=RING_AREA,
            zorder=2,
            facecolors="none",
            edgecolors=GAP_COLOUR,
            linewidths=2.2,
        )
    for n in ids:
        # One line, never broken, on an opaque box drawn over the flows: no flow crosses it.
        ax.text(
            xy[n][0],
            xy[n][1] - g.drop,
            n,
            ha="center",
            va="top",
            fontsize=LABEL_PT,
            zorder=4,
            bbox={"facecolor": "white", "edgecolor": "none", "alpha": 0.92, "pad": 1.0},
        )
    _legend(ax, handles)
    return fig


def _draw_aggregate(title, assets, flows, sizes, gapped, exposed, between, within) -> Figure:
    # One node per asset type, laid out like the detailed view; exposure and gaps as counts.
    sizes, gapped, exposed, within = dict(sizes), Counter(dict(gapped)), dict(exposed), dict(within)
    nodes = {t: t for t in sorted(sizes, key=list(COLOURS).index)}
    pos = layout(nodes, [(s, t, kind) for (s, t), _, _, kind in between])
    texts = {}
    for t, count in sizes.items():
        lines = [f"{count:,} {t.replace('_', ' ')}"]
        if gapped[t]:
            lines.append(f"{gapped[t]:,} with gaps")
        outside = [f"{exposed[(t, x)]:,} {x}" for x in ("partner", "public") if (t, x) in exposed]
        if outside:
            lines.append(" · ".join(outside))
        if within.get(t):
            lines.append(f"{within[t]:,} flows within")
        texts[t] = "\n".join(lines)
    biggest = max(sizes.values())
    area = {t: 250 + 1600 * math.sqrt(n / biggest) for t, n in sizes.items()}
    radius = math.sqrt(max(area.values()) * (1.7 if gapped else 1.0)) / 2 / 72
    # each node's label names its type: the legend explains the marks and the flows
    kinds = sorted({k for *_, k in between}, key=list(FLOW_COLOURS).index)
    handles = _legend_handles((), kinds, aggregate=True)
    pos, g = _fit_to_print(pos, {t: _label_box(texts[t]) for t in nodes}, radius, len(handles))
    subtitle = f"{assets:,} assets and {flows:,} flows, aggregated by type"
    fig, ax = _canvas(pos, nodes, title, subtitle, g)
    xy = g.xy
    top = max((n for _, n, _, _ in between), default=1)
    for (s, t), count, crossed, kind in sorted(between, key=lambda b: b[1]):
        _arrow(
            ax,
            xy[s],
            xy[t],
            pos[s][0],
            pos[t][0],
            colour=FLOW_COLOURS.get(kind, "#555555"),
            style="--" if crossed else "-",
            width=0.6 + 4.0 * math.log1p(count) / math.log1p(top),
            shrink=18,
        )
    for t, count in sizes.items():
        x, y = xy[t]
        ax.scatter([x], [y], s=area[t], c=COLOURS[t], edgecolors="white", zorder=3)
        if gapped[t]:
            ax.scatter(
                [x],
                [y],
                s=area[t] * 1.7,
                facecolors="none",
                edgecolors=GAP_COLOUR,
                linewidths=1 + 3 * gapped[t] / count,
                zorder=2,
            )
        ax.text(
            x,
            y - g.drop,
            texts[t],
            ha="center",
            va="top",
            fontsize=LABEL_PT,
            zorder=4,
            linespacing=1.05,
            bbox={"facecolor": "white", "edgecolor": "none", "alpha": 0.92, "pad": 1.0},
        )
    _legend(ax, handles)
    return fig


def _text_width(text: str, size: float) -> float:
    """The width of one line of text in inches, at `size` points."""
    from matplotlib.font_manager import FontProperties

    prop = FontProperties(size=size)
    return text_to_path.get_text_width_height_descent(text, prop, ismath=False)[0] / 72


def _ports(xy, pos, edges) -> tuple[list, list]:
    """Where each flow leaves its source and enters its target.

    A flow to a later column leaves from the right of its node and enters on the left; at each
    node those ends are spread out in the order of the nodes at their other end, top to bottom,
    so the flows of a hub fan out without crossing each other at it. Other flows use the
    node's centre.
    """
    starts = [xy[s] for s, *_ in edges]
    ends = [xy[t] for _, t, *_ in edges]
    out: dict[str, list[int]] = defaultdict(list)
    into: dict[str, list[int]] = defaultdict(list)
    for i, (s, t, *_) in enumerate(edges):
        if pos[t][0] > pos[s][0]:
            out[s].append(i)
            into[t].append(i)
    for ports, side, other, ends_of in ((out, 0.16, 1, starts), (into, -0.16, 0, ends)):
        for node, group in ports.items():
            group.sort(key=lambda i: (-xy[edges[i][other]][1], xy[edges[i][other]][0]))
            x, y = xy[node]
            span = min(0.36, 0.09 * (len(group) - 1))
            for k, i in enumerate(group):
                dy = span / 2 - (span * k / (len(group) - 1) if len(group) > 1 else span / 2)
                ends_of[i] = (x + side, y + dy)
    return starts, ends


def _label_box(text: str) -> tuple[float, float]:
    """(width, height) in inches of a label's opaque box: its lines at LABEL_PT, padded."""
    lines = text.split("\n")
    pad = 2 / 72
    width = max(_text_width(line, LABEL_PT) for line in lines) + pad
    return width, (len(lines) * 1.05 * 1.2 * LABEL_PT) / 72 + pad


def _columns_x(widths: list[float], radius: float) -> list[float]:
    """Each column's centre, in inches, as close to the last as its labels allow.

    Alternate columns sit half a row apart, so labels of neighbouring columns never share a
    height: a label must only keep clear of the nodes beside it, and of the labels two
    columns away, which hang at its own heights.
    """
    xs: list[float] = []
    for c, w in enumerate(widths):
        x = 0.0
        for k in range(c):
            need = max(w, widths[k]) / 2 + radius + CLEAR_IN  # a label and a node beside it
            if k == c - 1:
                need = max(need, MIN_STEP_IN)
            if (c - k) % 2 == 0:
                need = max(need, (w + widths[k]) / 2 + APART_IN)  # labels at the same heights
            x = max(x, xs[k] + need)
        xs.append(x)
    return xs


@dataclass(frozen=True)
class Geometry:
    """Where everything goes, in inches: each node's place, the columns' centres, and the
    drawing's edges (left, right, top, bottom) with the band names' strip along its top."""

    xy: dict
    xs: list
    drop: float  # from a node's centre to the top of its label
    left: float
    right: float
    top: float
    bottom: float

    def size(self, title_lines: int = 2) -> tuple[float, float]:
        """(width, height) of the whole picture: the drawing, the legend at its right, and
        the title above it (name and counts: two lines, unless a long name wraps)."""
        title_in = title_lines * 11 * 1.3 / 72 + 0.15  # 11 pt lines
        return self.right - self.left + LEGEND_IN + 0.3, self.top - self.bottom + title_in + 0.2


LEGEND_IN = 2.1  # the legend's column, right of the drawing
LEGEND_ROW_IN = 0.21  # one entry of the legend, at 9 pt
BAND_NAMES_IN = 0.3  # the strip along the drawing's top where the bands are named


def _geometry(pos, labels: dict, radius: float, legend_rows: int) -> Geometry:
    """Place `pos`'s columns and rows in inches, as narrow and as low as the labels allow."""
    columns = 1 + max(c for c, _ in pos.values())
    widths = [0.0] * columns
    tallest_label = 0.0
    for n, (c, _) in pos.items():
        widths[c] = max(widths[c], labels[n][0])
        tallest_label = max(tallest_label, labels[n][1])
    xs = _columns_x(widths, radius)
    # a node, its label below it, and room: a row; a neighbour's labels sit half a row lower
    drop = max(LABEL_DROP_IN, radius + 0.04)
    row = max(radius + drop + tallest_label + 0.06, 2 * (tallest_label + 0.04))
    per_column = Counter(c for c, _ in pos.values())
    # a column's middle row is at height 0, or half a row off it on alternate columns
    shift = {c: ((n - 1) / 2 - c % 2 / 2) // 1 + c % 2 / 2 for c, n in per_column.items()}
    xy = {n: (xs[c], -(r - shift[c]) * row) for n, (c, r) in pos.items()}
    ys = [y for _, y in xy.values()]
    reach = [max(widths[c] / 2, radius) for c in range(columns)]
    legend_in = LEGEND_ROW_IN * legend_rows + 0.15  # the legend never runs past the bottom
    return Geometry(
        xy,
        xs,
        drop,
        left=min(x - r for x, r in zip(xs, reach, strict=True)) - 0.08,
        right=max(x + r for x, r in zip(xs, reach, strict=True)) + 0.08,
        top=max(ys) + radius + BAND_NAMES_IN,
        bottom=min(
            min(ys) - drop - tallest_label - 0.08, max(ys) + radius + BAND_NAMES_IN - legend_in
        ),
    )


def _fit_to_print(pos, labels: dict, radius: float, legend_rows: int) -> tuple[dict, Geometry]:
    """`pos`, with its tallest columns split in two or more side by side if that lets the
    picture print larger on PRINT_BOX_IN; and its geometry."""
    tallest = max(Counter(c for c, _ in pos.values()).values())
    best = None
    for rows in range(tallest, (tallest + 1) // 2 - 1, -1):
        split = _split_columns(pos, rows)
        geometry = _geometry(split, labels, radius, legend_rows)
        width, height = geometry.size()
        scale = min(1.0, PRINT_BOX_IN[0] / width, PRINT_BOX_IN[1] / height)
        if best is None or scale > best[0] + 0.01:
            best = (scale, split, geometry)
    return best[1], best[2]


def _split_columns(pos: dict, rows: int) -> dict:
    """`pos` with every column of more than `rows` nodes dealt out, in order, over as many
    neighbouring columns as it takes (which, sitting half a row apart, zigzag down)."""
    per_column = Counter(c for c, _ in pos.values())
    parts = {c: -(-n // rows) for c, n in per_column.items()}
    first, start = {}, 0
    for c in sorted(parts):
        first[c] = start
        start += parts[c]
    return {n: (first[c] + r % parts[c], r // parts[c]) for n, (c, r) in pos.items()}


def _canvas(pos, nodes, title, subtitle, g: Geometry):
    """A figure and its axes (one data unit an inch) for geometry `g`: the title above, the
    legend's column at the right, the bands shaded and named."""
    fig = Picture(figsize=g.size())
    ax = fig.add_axes((0, 0, 1, 1))
    heading = fig.headline(f"{title}\n{subtitle}", ax, fontsize=11, loc="left")
    fig.set_size_inches(g.size(heading.get_text().count("\n") + 1))  # folded to the width
    w, h = fig.get_size_inches()
    height = g.top - g.bottom
    ax.set_position((0.15 / w, 0.1 / h, (g.right - g.left) / w, height / h))
    ax.set_xlim(g.left, g.right)
    ax.set_ylim(g.top - height, g.top)
    ax.set_axis_off()
    bands: dict[int, list[int]] = defaultdict(list)
    for n, (c, _) in pos.items():
        bands[LAYER_OF[nodes[n]]].append(c)
    xs, last_column = g.xs, len(g.xs) - 1
    for b, cs in bands.items():
        first, last = min(cs), max(cs)
        ax.text(
            (xs[first] + xs[last]) / 2,
            g.top - BAND_NAMES_IN + 0.05,
            LAYERS[b],
            ha="center",
            va="bottom",
            fontsize=10,
            color="#444444",
            fontweight="bold",
        )
        ax.axvspan(
            (xs[first - 1] + xs[first]) / 2 + 0.02 if first else g.left,
            (xs[last] + xs[last + 1]) / 2 - 0.02 if last < last_column else g.right,
            color="#f4f4f4" if b % 2 else "#fbfbfb",
            zorder=0,
        )
    return fig, ax


def _arrow(ax, start, end, col_a, col_b, *, colour, style, width, shrink: float = 9) -> None:
    # Flows to the next column go straight. Longer ones bow a little so they do not run through
    # the nodes between; flows within a column or going back curve more, but never so far that
    # the arc leaves the picture (an arc's height grows with its length).
    span = abs(col_b - col_a)
    if col_b == col_a + 1:
        bend = 0.0
    elif col_b > col_a:
        bend = min(0.25, 0.9 / (span * 1.9))
    elif span == 0:
        bend = 0.5
    else:
        bend = min(0.3, 1.2 / (span * 0.95))
    ax.annotate(
        "",
        xy=end,
        xytext=start,
        zorder=1,
        arrowprops={
            "arrowstyle": "-|>",
            "color": colour,
            "lw": width,
            "ls": style,
            "alpha": 0.75,
            "shrinkA": shrink,
            "shrinkB": shrink,
            "mutation_scale": 10,
            "connectionstyle": f"arc3,rad={bend}",
        },
    )


def _legend_handles(types, kinds, *, aggregate: bool = False) -> list:
    """The legend's entries: asset types, the marks, each flow kind drawn, the dashes, and
    (aggregated, where a label names its type and single points of failure are not drawn)
    what a line's thickness means."""
    gaps = "some with inventory gaps" if aggregate else "inventory gaps"
    marks = [
        Line2D(
            [],
            [],
            marker="o",
            ls="",
            markersize=11,
            markerfacecolor="none",
            markeredgecolor=GAP_COLOUR,
            markeredgewidth=2,
            label=gaps,
        )
    ]
    if not aggregate:
        marks.append(
            Line2D(
                [],
                [],
                marker="o",
                ls="",
                markersize=9,
                markerfacecolor="white",
                markeredgecolor="black",
                markeredgewidth=2.5,
                label="single point of failure",
            )
        )
    return [
        *(Patch(facecolor=COLOURS[t], label=t.replace("_", " ")) for t in types),
        *marks,
        *(
            Line2D([], [], color=FLOW_COLOURS.get(k, "#555555"), lw=2, label=f"flow: {k}")
            for k in (k.replace("_", " ") for k in kinds)
        ),
        Line2D([], [], color="#555555", ls="--", lw=1.6, label="crosses a trust boundary"),
        *(
            [Line2D([], [], color="#555555", lw=3, label="more flows: thicker")]
            if aggregate
            else []
        ),
    ]


def _legend(ax, handles) -> None:
    ax.legend(
        handles=handles, loc="upper left", bbox_to_anchor=(1.0, 1.0), fontsize=9, frameon=False
    )


def _depth_in_band(nodes: dict[str, str], edges: list[tuple[str, str, str]]) -> dict[str, int]:
    """Longest path inside each band, after dropping edges that would close a cycle.

    Edges are admitted in order of preference (serving direction first, requests last), each
    only if it closes no cycle, so in a request/response pair the response points forward.
    """
    ranked = sorted(edges, key=lambda e: (e[2] in _REQUESTS, list(nodes).index(e[0])))
    succ: dict[str, set[str]] = defaultdict(set)
    for s, t, _ in ranked:
        if t in succ[s] or _reaches(succ, t, s):
            continue
        succ[s].add(t)
    pred: dict[str, list[str]] = defaultdict(list)
    for s, targets in succ.items():
        for t in targets:
            pred[t].append(s)
    depth: dict[str, int] = {}

    def visit(n: str) -> int:
        stack = [n]
        while stack:
            v = stack[-1]
            todo = [p for p in pred[v] if p not in depth]
            if todo:
                stack.extend(todo)
                continue
            stack.pop()
            depth[v] = 1 + max((depth[p] for p in pred[v]), default=-1)
        return depth[n]

    for n in nodes:
        if n not in depth:
            visit(n)
    return depth


def _reaches(succ: dict[str, set[str]], start: str, goal: str) -> bool:
    seen, stack = {start}, [start]
    while stack:
        v = stack.pop()
        if v == goal:
            return True
        for w in succ.get(v, ()):
            if w not in seen:
                seen.add(w)
                stack.append(w)
    return False


def _order_rows(nodes, edges, column: dict[str, int]) -> dict[str, tuple[int, int]]:
    """Rows within each column by repeated barycentre sweeps (fewer, shorter crossings)."""
    by_column: dict[int, list[str]] = defaultdict(list)
    for n in sorted(nodes, key=lambda n: (list(COLOURS).index(nodes[n]), n)):
        by_column[column[n]].append(n)
    neighbours: dict[str, list[str]] = defaultdict(list)
    for s, t, _ in edges:
        if s != t:
            neighbours[s].append(t)
            neighbours[t].append(s)
    place = {n: i - (len(col) - 1) / 2 for col in by_column.values() for i, n in enumerate(col)}
    columns = sorted(by_column)
    for sweep in range(6):
        for c in columns if sweep % 2 == 0 else reversed(columns):
            col = by_column[c]
            centre = {
                n: sum(place[m] for m in neighbours[n] if column[m] != c)
                / max(1, sum(1 for m in neighbours[n] if column[m] != c))
                if any(column[m] != c for m in neighbours[n])
                else place[n]
                for n in col
            }
            col.sort(key=lambda n: (centre[n], n))
            for i, n in enumerate(col):
                place[n] = i - (len(col) - 1) / 2
    return {n: (c, i) for c, col in by_column.items() for i, n in enumerate(col)}
