"""The risk register as one card per finding: every register column, readable at A4 width.

A register has 28 columns; as a table it is some 1,900 px wide and a page cuts it. A card shows
the same row as a heading (finding ID, threat, asset) over a short grid of labelled fields, so
nothing is cut and nothing is hidden. Each field carries `data-column` naming the register
column(s) it shows, so a test can check that every column reached the page.

Example: ``register_cards(analysis.register)`` returns escaped HTML for a notebook or a report.
"""

from __future__ import annotations

import html

from kit.risk.scoring import REGISTER_COLUMNS
from kit.vocab import BAND_COLOURS, BANDS, band

# (label, the register columns the field shows, how to render it from a row)
_FIELDS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("Threat", ("threat_id", "threat", "category")),
    ("Asset", ("asset_id", "asset_type")),
    (
        "Inherent risk",
        (
            "inherent_likelihood",
            "inherent_impact",
            "inherent_score",
            "inherent_band",
            "inherent_severity",
        ),
    ),
    (
        "Residual risk",
        (
            "residual_likelihood",
            "residual_impact",
            "residual_score",
            "residual_band",
            "residual_severity",
        ),
    ),
    ("Treatment", ("treatment",)),
    ("Decision", ("decision", "decision_owner", "review_by", "justification")),
    ("Controls in place", ("controls_implemented",)),
    ("Controls planned", ("controls_planned",)),
    ("Controls missing", ("controls_missing",)),
    ("Why it applies", ("explanation",)),
    ("Factors", ("factors",)),
    ("Provisions", ("provisions",)),
    ("References", ("references",)),
)
SHOWN = {c for _, cols in _FIELDS for c in cols} | {"finding_id"}
assert SHOWN == set(REGISTER_COLUMNS), "every register column has a place on the card"

CSS = """
.saikit-cards { display: block; }
.saikit-card { border: 1px solid #d5dbe3; border-left: 5px solid #1f2d3d; margin: 0 0 .7rem;
  padding: .4rem .7rem .5rem; break-inside: avoid; max-width: 100%; box-sizing: border-box; }
.saikit-card h4 { margin: 0 0 .25rem; font-size: .95rem; overflow-wrap: anywhere; }
.saikit-card dl { display: grid; grid-template-columns: 9.5rem minmax(0, 1fr); gap: .1rem .8rem;
  margin: 0; font-size: .8rem; }
.saikit-card dt { color: #5b6675; } .saikit-card dd { margin: 0; overflow-wrap: anywhere; }
.saikit-cards span.band, .legend span.band { padding: 0 .35rem; border-radius: 2px; }
""" + "".join(  # band colours from the one palette (kit.vocab.BAND_COLOURS)
    f".saikit-cards .v-{b}, .legend .v-{b}, .saikit-card.b-{b} {{ border-left-color: {c}; }}\n"
    f".saikit-cards span.v-{b}, .legend span.v-{b} {{ background: {c}; }}\n"
    for b, c in BAND_COLOURS.items()
)


def _e(value) -> str:
    return html.escape("" if value is None else str(value), quote=True)


def _risk(row, stage: str) -> str:
    b = row[f"{stage}_band"]
    cls = f"band v-{b}" if b in BANDS else "band"
    return (
        f'<span class="{cls}">{_e(b)} {_e(row[f"{stage}_score"])}</span> '
        f"likelihood {_e(row[f'{stage}_likelihood'])} × impact {_e(row[f'{stage}_impact'])}"
        f" (severity {_e(row[f'{stage}_severity'])} of 4)"
    )


def _value(row, label: str, cols: tuple[str, ...]) -> str:
    if label == "Threat":
        return f"{_e(row['threat'])} ({_e(row['threat_id'])}, {_e(row['category'])})"
    if label == "Asset":
        return f"{_e(row['asset_id'])} ({_e(row['asset_type'])})"
    if label == "Inherent risk":
        return _risk(row, "inherent")
    if label == "Residual risk":
        return _risk(row, "residual")
    if label == "Treatment":
        t = str(row["treatment"])
        return f'<span class="v-{_e(t.replace(" ", "-"))}">{_e(t)}</span>'
    if label == "Decision":
        if not row["decision"]:
            return "none recorded"
        parts = [_e(row["decision"])]
        if row["decision_owner"]:
            parts.append(f"owner {_e(row['decision_owner'])}")
        if row["review_by"]:
            parts.append(f"review by {_e(row['review_by'])}")
        text = ", ".join(parts)
        return text + (f": {_e(row['justification'])}" if row["justification"] else "")
    text = str(row[cols[0]] if row[cols[0]] is not None else "")
    if label.startswith("Controls"):
        text = text.replace(",", ", ").replace(",  ", ", ")
    return _e(text) if text.strip() else "none"


def band_legend() -> str:
    """The risk bands with their colours and score ranges (from kit.vocab.band), as a legend
    for the heatmaps, the cards and the tables."""
    ranges: dict[str, list[int]] = {}
    for score in range(1, 26):
        ranges.setdefault(band(score), []).append(score)
    chips = "".join(
        f'<span class="band v-{b}">{b} {min(ranges[b])}-{max(ranges[b])}</span> ' for b in BANDS
    )
    return f'<p class="note legend">Risk bands (score = likelihood × impact, 1-25): {chips}</p>'


def register_cards(df) -> str:
    """Every finding of a register (a DataFrame with the register's columns) as a card, in
    the frame's order; a sentence instead when there is no finding. All text escaped."""
    if df is None or len(df) == 0:
        return '<p class="empty-note">No finding: the threat library raised nothing here.</p>'
    cards = []
    for row in df.to_dict("records"):
        b = row["residual_band"]
        fields = "".join(
            f'<dt>{label}</dt><dd data-column="{" ".join(cols)}">{_value(row, label, cols)}</dd>'
            for label, cols in _FIELDS
        )
        cards.append(
            f'<section class="saikit-card b-{_e(b)}" data-finding="{_e(row["finding_id"])}">'
            f'<h4 data-column="finding_id">{_e(row["finding_id"])}</h4><dl>{fields}</dl></section>'
        )
    return f'<style>{CSS}</style>{band_legend()}<div class="saikit-cards">{"".join(cards)}</div>'
