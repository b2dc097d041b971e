"""A run as an OWASP Threat Dragon v2 model: one diagram of the system, its threats on the
assets they attach to, that Threat Dragon opens.

The diagram is laid out as saikit draws the asset graph (kit.graph.plots.layout: columns from
platform and data through models and serving to the people who use them). User groups are
actors, datasets / vector stores / log stores / prompts are stores, every other asset a
process; flows are data flows, and a flow that crosses a trust boundary from or to a public
asset is marked as crossing a public network. The diagram type is CIA: each finding is a
threat of type Confidentiality (confidentiality, privacy), Availability or Integrity (the rest),
with its severity from the residual band, its status from the treatment, and the controls
that lower it as its mitigation. Cell IDs are version-5 UUIDs of the asset and flow IDs.

Example: ``threat_dragon(source_of("threat-dragon", "latest"))["detail"]["threatTop"]``
"""

from __future__ import annotations

import uuid

from kit.export.interchange import Source, findings, split
from kit.vocab import DECIDED_AS, flow_id

TD_VERSION = "2.2.0"
_ROOT = uuid.uuid5(uuid.NAMESPACE_URL, "urn:saikit:threat-dragon")
STORES = {"dataset", "vector_store", "log_store", "prompt"}
CIA = {
    "confidentiality": "Confidentiality",
    "privacy": "Confidentiality",
    "availability": "Availability",
}
SEVERITY = {"critical": "High", "high": "High", "medium": "Medium", "low": "Low"}
STATUS = {
    DECIDED_AS["accepted"]: "Accepted",
    DECIDED_AS["transferred"]: "Transferred",
    DECIDED_AS["avoided"]: "Avoided",
    DECIDED_AS["false_positive"]: "NA",
}
COLUMN, ROW = 240, 150  # spacing of the layout's grid, in pixels
SIZE = {"actor": (160, 80), "store": (160, 80), "process": (100, 100)}


def cell_id(*parts: str) -> str:
    return str(uuid.uuid5(_ROOT, "/".join(parts)))


def threat_dragon(source: Source) -> dict:
    """The Threat Dragon v2 model of a run (or, without a run, of the system alone)."""
    from kit.graph import build
    from kit.graph.plots import layout

    model = source.model
    graph = build(model)
    pos = layout(
        {a.id: a.type for a in model.assets}, [(e.source, e.target, e.kind) for e in graph.edges()]
    )
    rows = findings(source.run) if source.run is not None else []
    controls = source.run.threats.get("controls", {}) if source.run is not None else {}
    by_asset: dict[str, list[dict]] = {}
    for n, r in enumerate(rows, start=1):
        by_asset.setdefault(r["asset_id"], []).append(_threat(r, n, controls))
    cells = []
    for z, a in enumerate(model.assets, start=1):
        shape = "actor" if a.type == "user_group" else "store" if a.type in STORES else "process"
        col, row = pos[a.id]
        width, height = SIZE[shape]
        threats = by_asset.get(a.id, [])
        open_ = any(t["status"] == "Open" for t in threats)
        stroke = {
            "stroke": "red" if open_ else "#333333",
            "strokeWidth": 2.5 if open_ else 1,
            "strokeDasharray": None,
        }
        attrs = {"text": {"text": a.name or a.id}}
        if shape == "store":
            attrs |= {"topLine": dict(stroke), "bottomLine": dict(stroke)}
        else:
            attrs["body"] = stroke
        data = {
            "name": a.name or a.id,
            "description": a.description or "",
            "type": {"actor": "tm.Actor", "store": "tm.Store", "process": "tm.Process"}[shape],
            "isTrustBoundary": False,
            "outOfScope": a.status == "retired",
            "reasonOutOfScope": "retired" if a.status == "retired" else "",
            "threats": threats,
            "hasOpenThreats": open_,
        }
        if shape == "store":
            data |= {
                "isALog": a.type == "log_store",
                "storesCredentials": a.sensitivity in ("personal", "special_category"),
                "isEncrypted": False,
                "isSigned": bool(a.sha256),
            }
        elif shape == "process":
            data |= {
                "privilegeLevel": ", ".join(a.permissions),
                "isWebApplication": a.type in ("api", "application"),
            }
        else:
            data["providesAuthentication"] = False
        cells.append(
            {
                "position": {"x": 40 + col * COLUMN, "y": 40 + row * ROW},
                "size": {"width": width, "height": height},
                "attrs": attrs,
                "visible": True,
                "shape": shape,
                "zIndex": z,
                "id": cell_id("asset", a.id),
                "data": data,
            }
        )
    public = {a.id for a in model.assets if a.exposure == "public"}
    for z, f in enumerate(model.flows, start=len(cells) + 1):
        fid = flow_id(f.source, f.kind, f.target)
        cells.append(
            {
                "shape": "flow",
                "attrs": {
                    "line": {
                        "stroke": "#333333",
                        "targetMarker": {"name": "block"},
                        "sourceMarker": {"name": ""},
                        "strokeDasharray": "4 3" if f.crosses_boundary else None,
                    }
                },
                "width": 200,
                "height": 100,
                "zIndex": z,
                "connector": "smooth",
                "labels": [_label(f.kind)],
                "data": {
                    "type": "tm.Flow",
                    "name": f.kind,
                    "description": f.description or fid,
                    "outOfScope": False,
                    "reasonOutOfScope": "",
                    "protocol": "",
                    "isBidirectional": False,
                    "isEncrypted": f.encrypted,
                    "isPublicNetwork": f.crosses_boundary and bool({f.source, f.target} & public),
                    "hasOpenThreats": False,
                    "threats": [],
                    "isTrustBoundary": False,
                },
                "id": cell_id("flow", fid),
                "source": {"cell": cell_id("asset", f.source)},
                "target": {"cell": cell_id("asset", f.target)},
            }
        )
    s = model.system
    title = s.name + (f" (saikit run {source.run.run_id})" if source.run is not None else "")
    return {
        "version": TD_VERSION,
        "summary": {"title": title, "owner": s.owner or "", "description": s.purpose, "id": 0},
        "detail": {
            "contributors": [],
            "diagrams": [
                {
                    "version": TD_VERSION,
                    "title": s.name,
                    "description": s.purpose,
                    "thumbnail": "./public/content/images/thumbnail.cia.jpg",
                    "diagramType": "CIA",
                    "id": 0,
                    "cells": cells,
                }
            ],
            "diagramTop": 1,
            "reviewer": "",
            "threatTop": len(rows),
        },
    }


def _label(text: str) -> dict:
    """A flow's label as Threat Dragon draws one: text in a white ellipse, half-way along."""
    return {
        "markup": [
            {"tagName": "ellipse", "selector": "labelBody"},
            {"tagName": "text", "selector": "labelText"},
        ],
        "attrs": {
            "labelText": {"text": text, "textAnchor": "middle", "textVerticalAnchor": "middle"},
            "labelBody": {
                "ref": "labelText",
                "refRx": "50%",
                "refRy": "60%",
                "fill": "#fff",
                "strokeWidth": 0,
            },
        },
        "position": 0.5,
    }


def _threat(r: dict, number: int, controls: dict) -> dict:
    names = lambda col: [controls.get(c, {}).get("name") or c for c in split(r[col])]  # noqa: E731
    said = [
        f"in place: {', '.join(names('controls_implemented'))}"
        if r["controls_implemented"]
        else "",
        f"planned: {', '.join(names('controls_planned'))}" if r["controls_planned"] else "",
        f"to consider: {', '.join(names('controls_missing'))}" if r["controls_missing"] else "",
    ]
    return {
        "id": cell_id("finding", r["finding_id"]),
        "title": r["threat"],
        "status": STATUS.get(r["treatment"], "Open"),
        "severity": SEVERITY[r["residual_band"]],
        "type": CIA.get(r["category"], "Integrity"),
        "modelType": "CIA",
        "description": f"{r['explanation']} (saikit finding {r['finding_id']}: {r['treatment']})",
        "mitigation": "; ".join(x for x in said if x) or "no control named",
        "number": number,
        "score": str(r["residual_score"]),
    }
