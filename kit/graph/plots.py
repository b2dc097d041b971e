"""Pictures of the asset graph. Each function returns a matplotlib Figure (Agg) and never shows it.

`draw_graph` lays the system out in columns that read left to right the way influence moves:
platform → data → models → serving → consumers. Within a band, columns follow the longest path
of flows inside the band. Colour is the asset type; a red ring marks an asset with inventory
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
COLUMN_GAP_IN = 0.45  # room between the widest label of a column and the next column


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
    widest = max((_text_width(n, LABEL_PT) for n in types), default=1.0)
    fig, ax, xy = _canvas(
        pos,
        types,
        title,
        f"{len(types)} assets, {len(edges)} flows",
        column_in=max(1.75, widest + COLUMN_GAP_IN),
    )
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
        s=300,
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
            s=640,
            zorder=2,
            facecolors="none",
            edgecolors=GAP_COLOUR,
            linewidths=2.2,
        )
    for n in ids:
        # One line, never broken, on an opaque box drawn over the flows: no flow crosses it.
        ax.text(
            xy[n][0],
            xy[n][1] - 0.3,
            n,
            ha="center",
            va="top",
            fontsize=LABEL_PT,
            zorder=4,
            bbox={"facecolor": "white", "edgecolor": "none", "alpha": 0.92, "pad": 1.0},
        )
    _legend(
        ax,
        sorted(set(types.values()), key=list(COLOURS).index),
        kinds=sorted({k for _, _, k, _ in edges}, key=list(FLOW_COLOURS).index),
        marks=True,
    )
    return fig


def _draw_aggregate(title, assets, flows, sizes, gapped, exposed, between, within) -> Figure:
    # One node per asset type, laid out like the detailed view; exposure and gaps as counts.
    sizes, gapped, exposed, within = dict(sizes), Counter(dict(gapped)), dict(exposed), dict(within)
    nodes = {t: t for t in sorted(sizes, key=list(COLOURS).index)}
    pos = layout(nodes, [(s, t, kind) for (s, t), _, _, kind in between])
    fig, ax, xy = _canvas(
        pos,
        nodes,
        title,
        f"{assets:,} assets and {flows:,} flows, aggregated by type",
        spacing=1.8,
    )
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
    biggest = max(sizes.values())
    for t, count in sizes.items():
        x, y = xy[t]
        area = 250 + 1600 * math.sqrt(count / biggest)
        ax.scatter([x], [y], s=area, c=COLOURS[t], edgecolors="white", zorder=3)
        if gapped[t]:
            ax.scatter(
                [x],
                [y],
                s=area * 1.7,
                facecolors="none",
                edgecolors=GAP_COLOUR,
                linewidths=1 + 3 * gapped[t] / count,
                zorder=2,
            )
        lines = [f"{count:,} {t.replace('_', ' ')}"]
        if gapped[t]:
            lines.append(f"{gapped[t]:,} with gaps")
        outside = [f"{exposed[(t, x)]:,} {x}" for x in ("partner", "public") if (t, x) in exposed]
        if outside:
            lines.append(" · ".join(outside))
        if within.get(t):
            lines.append(f"{within[t]:,} flows within")
        ax.text(
            x,
            y - 0.5,
            "\n".join(lines),
            ha="center",
            va="top",
            fontsize=LABEL_PT,
            zorder=4,
            linespacing=1.05,
            bbox={"facecolor": "white", "edgecolor": "none", "alpha": 0.92, "pad": 1.0},
        )
    _legend(
        ax,
        list(nodes),
        kinds=sorted({k for *_, k in between}, key=list(FLOW_COLOURS).index),
        marks=True,
        aggregate=True,
    )
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


def _canvas(pos, nodes, title, subtitle, spacing: float = 1.0, column_in: float = 1.75):
    columns = 1 + max(c for c, _ in pos.values())
    per_column = Counter(c for c, _ in pos.values())
    tallest = max(per_column.values())
    step = 1.9 * column_in / 1.75  # data units between columns: about an inch each
    fig = Picture(
        figsize=(max(7.0, column_in * columns + 3.0), max(4.0, 0.8 * spacing * tallest + 2.4)),
        layout="constrained",
    )
    ax = fig.add_subplot()
    shift = {c: (per_column[c] - 1) / 2 for c in per_column}
    xy = {n: (c * step, -(r - shift[c]) * spacing) for n, (c, r) in pos.items()}
    fig.headline(f"{title}\n{subtitle}", ax, fontsize=11, loc="left")
    ax.set_axis_off()
    ys = [y for _, y in xy.values()]
    top = max(ys) + 1.2
    ax.set_ylim(min(ys) - 1.4, top + 0.4)
    ax.set_xlim(-step / 2 - 0.1, (columns - 1) * step + step / 2 + 0.1)
    bands: dict[int, list[float]] = defaultdict(list)
    for n, (x, _) in xy.items():
        bands[LAYER_OF[nodes[n]]].append(x)
    for b, xs in bands.items():
        ax.text(
            (min(xs) + max(xs)) / 2,
            top,
            LAYERS[b],
            ha="center",
            va="bottom",
            fontsize=10,
            color="#444444",
            fontweight="bold",
        )
        ax.axvspan(
            min(xs) - step * 0.45,
            max(xs) + step * 0.45,
            color="#f4f4f4" if b % 2 else "#fbfbfb",
            zorder=0,
        )
    return fig, ax, xy


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


def _legend(ax, types, *, kinds=(), marks: bool, aggregate: bool = False) -> None:
    handles = [Patch(facecolor=COLOURS[t], label=t.replace("_", " ")) for t in types]
    if marks:
        handles.append(
            Line2D(
                [],
                [],
                marker="o",
                ls="",
                markersize=11,
                markerfacecolor="none",
                markeredgecolor=GAP_COLOUR,
                markeredgewidth=2,
                label="inventory gaps" if not aggregate else "some with inventory gaps",
            )
        )
        if not aggregate:
            handles.append(
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
    handles += [
        Line2D(
            [], [], color=FLOW_COLOURS.get(k, "#555555"), lw=2, label=f"flow: {k.replace('_', ' ')}"
        )
        for k in kinds
    ]
    handles.append(
        Line2D([], [], color="#555555", ls="--", lw=1.6, label="crosses a trust boundary")
    )
    if aggregate:
        handles.append(
            Line2D([], [], color="#555555", lw=3, label="more flows: thicker (colour: most common)")
        )
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
