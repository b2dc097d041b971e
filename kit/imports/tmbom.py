"""`saikit import tmbom FILE`: a starter system file from an OWASP TM-BOM (threat model library
schema v1.0.x).

Actors become user groups (third-party and system actors third-party components), components
applications (or what their title suggests), data stores and data sets datasets (or what their
title suggests), data flows flows. A file saikit wrote carries the system, assets and flows whole
in its `extensions`, so it comes back as it went out. References TM-BOM's schema cannot check
(a placement on a data store nobody declared, a flow from an undeclared actor, an object
referenced under the wrong type) are resolved by name where they can be and otherwise left out,
each with a note at the top of the starter.

Example: ``write(starter(read_source("threat-model.json")), "system.yaml")``
"""

from __future__ import annotations

from kit.errors import fail
from kit.export.tmbom import EXTENSION
from kit.imports.starter import (
    Starter,
    clean,
    exposure_of,
    finish_system,
    guess_type,
    list_at,
    need,
    read_source,
    saikit_fields,
    write,
)
from kit.model import yamlio
from kit.model.schema import Asset, Flow, System

# TM-BOM data sensitivity → the nearest saikit sensitivity, most sensitive first.
SENSITIVITY = (
    ("phi", "special_category"),
    ("pii", "personal"),
    ("fin", "confidential"),
    ("pci", "confidential"),
    ("cred", "confidential"),
    ("gov", "confidential"),
    ("ip", "confidential"),
    ("biz", "internal"),
    ("op", "internal"),
)
ACTOR_TYPES = {"third_party": "third_party_component", "system": "application"}
SECTIONS = ("actors", "components", "data_stores", "data_sets")


def starter(doc: yamlio.Document) -> Starter:
    """The starter system of a TM-BOM document; raise InputError when it is not one."""
    data = doc.data
    if not isinstance(data, dict) or not isinstance(data.get("scope"), dict):
        raise fail(doc.file, doc.line(()), "", "not a TM-BOM file (it has no 'scope' mapping)")
    missing = [k for k in ("trust_zones", "components", "data_flows") if k not in data]
    if missing:
        raise fail(doc.file, doc.line(()), "", f"not a TM-BOM file: '{missing[0]}' is missing")
    s = Starter("tmbom", doc.file)
    carried = (data.get("extensions") or {}).get(EXTENSION) or {}
    if not isinstance(carried, dict):
        carried = {}
    system = carried.get("system")
    if isinstance(system, dict):
        try:
            s.system = System.model_validate(system).model_dump(
                mode="json", exclude_defaults=True, exclude={"decisions_file"}
            )
        except ValueError:
            pass
    zones = {}
    for i, z in enumerate(list_at(doc, ("trust_zones",))):
        need(doc, ("trust_zones", i), z, ("symbolic_name",))
        zones[z["symbolic_name"]] = {"id": z["symbolic_name"], "name": z.get("title", "")}
    assets = carried.get("assets") if isinstance(carried.get("assets"), dict) else {}
    sections: dict[str, str] = {}  # symbolic name → the section that declares it
    for section in SECTIONS:
        for i, item in enumerate(list_at(doc, (section,))):
            need(doc, (section, i), item, ("symbolic_name",))
            _asset(s, section, item, zones, assets.get(item["symbolic_name"]))
            sections[item["symbolic_name"]] = section
    order = {ref: n for n, ref in enumerate(assets)}  # a file saikit wrote: the system's order
    ref_of = {aid: ref for ref, aid in s.ids.items()}
    s.assets.sort(key=lambda a: order.get(ref_of[a["id"]], len(order)))
    for i, ds in enumerate(list_at(doc, ("data_sets",))):
        for j, p in enumerate(ds.get("placements") or []):
            store = p.get("data_store") if isinstance(p, dict) else None
            if store not in s.ids:
                s.notes.append(
                    f"data_sets[{i}].placements[{j}] (line {doc.line(('data_sets', i, 'placements', j))}) "
                    f"names no data store '{store}'; placement left out"
                )
    flows = carried.get("flows") if isinstance(carried.get("flows"), dict) else {}
    for i, f in enumerate(list_at(doc, ("data_flows",))):
        need(doc, ("data_flows", i), f, ("source", "destination"))
        _flow(s, doc, i, f, flows.get(f.get("symbolic_name")), sections)
    scope = data["scope"]
    finish_system(
        s,
        scope.get("title"),
        scope.get("title"),
        data.get("description") or scope.get("description"),
    )
    if not s.assets:
        raise fail(doc.file, doc.line(("components",)), "components", "no assets to import")
    return s


def _asset(s: Starter, section: str, item: dict, zones: dict, carried) -> None:
    ref = str(item["symbolic_name"])
    whole = saikit_fields(carried, Asset)
    if whole is not None:
        s.add_asset(ref, whole)
        return
    title = item.get("title")
    todos = []
    if section == "actors":
        kind = ACTOR_TYPES.get(item.get("type"), "user_group")
        todos.append(f"type from the actor type '{item.get('type')}'")
    elif section == "components":
        kind = guess_type(title)
        todos.append("type guessed from the component's title")
    else:
        kind = guess_type(title, default="dataset")
        if kind not in ("dataset", "vector_store", "log_store", "prompt", "model"):
            kind = "dataset"
        todos.append(f"type guessed from the {section[:-1].replace('_', ' ')}'s title")
    data = {
        "id": ref,
        "type": kind,
        "name": clean(title, 200),
        "description": clean(item.get("description")),
    }
    if item.get("vendor") and kind != "user_group":
        data["provider"] = clean(item.get("vendor"), 200)
    for code, level in SENSITIVITY:
        if code in (item.get("data_sensitivity") or []):
            data["sensitivity"] = level
            break
    zone = zones.get(item.get("trust_zone"))
    if zone is not None and kind != "user_group":
        data["exposure"] = exposure_of(zone)
        todos.append(f"exposure from the trust zone '{clean(zone['name'] or zone['id'], 80)}'")
    s.add_asset(ref, data, *todos)


def _flow(s: Starter, doc, i: int, f: dict, carried, sections: dict[str, str]) -> None:
    ends = []
    for key in ("source", "destination"):
        end = f[key]
        ref = end.get("object") if isinstance(end, dict) else end
        if ref not in s.ids:
            s.notes.append(
                f"data_flows[{i}].{key} (line {doc.line(('data_flows', i, key))}) names no "
                f"declared object '{ref}'; flow left out"
            )
            return
        said = end.get("type") if isinstance(end, dict) else None
        if said and said.replace("#/$defs/", "").replace("-", "_") + "s" != sections.get(ref):
            s.notes.append(
                f"data_flows[{i}].{key} (line {doc.line(('data_flows', i, key))}) calls '{ref}' "
                f"a {said}, but it is declared in {sections.get(ref)}; taken as declared"
            )
        ends.append(s.ids[ref])
    whole = saikit_fields(carried, Flow)
    if whole is not None and (whole["from"], whole["to"]) == tuple(ends):
        s.add_flow(whole.pop("from"), whole.pop("to"), whole.pop("kind"), **whole)
        return
    fields = {"encrypted": bool(f.get("encrypted", True))}
    if clean(f.get("description")):
        fields["description"] = clean(f.get("description"))
    s.add_flow(ends[0], ends[1], None, **fields)


def import_tmbom(path, out, *, force: bool = False):
    """Read a TM-BOM file and write its starter system file to `out`; return the path."""
    return write(starter(read_source(path)), out, force=force)
