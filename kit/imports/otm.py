"""`saikit import otm FILE`: a starter system file from an Open Threat Model (OTM) file.

Components become assets and dataflows flows. A file saikit wrote carries each asset and flow
whole (`attributes.saikit`), so it comes back as it went out; from any other tool the asset type
is guessed from the component's type and name, the exposure from its trust zone, and a flow's
kind from the types it joins, each guess marked TODO.

Example: ``write(starter(read_source("model.otm.json")), "system.yaml")``
"""

from __future__ import annotations

from kit.errors import fail
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


def starter(doc: yamlio.Document) -> Starter:
    """The starter system of an OTM document; raise InputError when it is not one."""
    data = doc.data
    where = doc.file
    if not isinstance(data, dict) or "otmVersion" not in data:
        raise fail(where, doc.line(()), "", "not an OTM file (it has no 'otmVersion')")
    project = data.get("project")
    if not isinstance(project, dict) or not project.get("id") and not project.get("name"):
        raise fail(
            where, doc.line(("project",)), "project", "OTM needs a project with an id and a name"
        )
    s = Starter("otm", where)
    carried = ((project.get("attributes") or {}).get("saikit") or {}).get("system")
    if isinstance(carried, dict):
        try:
            system = System.model_validate({**carried, "decisions_file": None})
            s.system = system.model_dump(
                mode="json", exclude_defaults=True, exclude={"decisions_file"}
            )
        except ValueError:
            pass
    zones = {}
    for i, z in enumerate(list_at(doc, ("trustZones",))):
        if not isinstance(z, dict) or "id" not in z:
            raise fail(
                where, doc.line(("trustZones", i)), f"trustZones[{i}]", "a trust zone needs an id"
            )
        zones[str(z["id"])] = z
    components = list_at(doc, ("components",))
    for i, c in enumerate(components):
        need(doc, ("components", i), c, ("id",))
        _component(s, c, zones)
    for i, f in enumerate(list_at(doc, ("dataflows",))):
        need(doc, ("dataflows", i), f, ("source", "destination"))
        _flow(s, f, components, zones, doc, i)
    finish_system(s, project.get("name"), project.get("id"), project.get("description"))
    if not s.assets:
        raise fail(where, doc.line(("components",)), "components", "no components to import")
    return s


def _component(s: Starter, c: dict, zones: dict) -> None:
    ref = str(c["id"])
    carried = saikit_fields((c.get("attributes") or {}).get("saikit"), Asset)
    if carried is not None:
        s.add_asset(ref, carried)
        return
    todos = []
    kind = guess_type(c.get("type"), c.get("name"))
    todos.append(f"type guessed from the OTM type '{c.get('type')}' and name")
    parent = c.get("parent") or {}
    zone = zones.get(str(parent.get("trustZone"))) if isinstance(parent, dict) else None
    data = {
        "id": ref,
        "type": kind,
        "name": clean(c.get("name"), 200),
        "description": clean(c.get("description")),
    }
    if zone is not None:
        data["exposure"] = exposure_of(zone)
        todos.append(
            f"exposure from the trust zone '{clean(zone.get('name') or zone.get('id'), 80)}'"
        )
    else:
        todos.append("exposure: internal, partner or public? (no trust zone)")
    s.add_asset(ref, data, *todos)


def _zone_of(c: dict | None) -> str | None:
    parent = (c or {}).get("parent") or {}
    return (
        str(parent.get("trustZone"))
        if isinstance(parent, dict) and parent.get("trustZone")
        else None
    )


def _flow(s: Starter, f: dict, components: list, zones: dict, doc, i: int) -> None:
    src, dst = str(f["source"]), str(f["destination"])
    missing = [r for r in (src, dst) if r not in s.ids]
    if missing:
        s.notes.append(
            f"dataflows[{i}] (line {doc.line(('dataflows', i))}) names no component "
            f"'{missing[0]}'; left out"
        )
        return
    carried = saikit_fields((f.get("attributes") or {}).get("saikit"), Flow)
    if carried is not None and (carried["from"], carried["to"]) == (s.ids[src], s.ids[dst]):
        s.add_flow(carried.pop("from"), carried.pop("to"), carried.pop("kind"), **carried)
        return
    by_id = {str(c.get("id")): c for c in components if isinstance(c, dict)}
    fields = {}
    if _zone_of(by_id.get(src)) != _zone_of(by_id.get(dst)):
        fields["crosses_boundary"] = True
    if clean(f.get("description")):
        fields["description"] = clean(f.get("description"))
    s.add_flow(s.ids[src], s.ids[dst], None, **fields)
    if f.get("bidirectional"):
        s.add_flow(s.ids[dst], s.ids[src], None, **fields)


def import_otm(path, out, *, force: bool = False):
    """Read an OTM file and write its starter system file to `out`; return the path."""
    return write(starter(read_source(path)), out, force=force)
