"""`saikit import cyclonedx BOM.json`: a starter system file from a CycloneDX BOM (1.4-1.6).

Components become assets (machine-learning models models, data components datasets, libraries
and frameworks third-party components, platforms and containers infrastructure, applications
applications), services APIs, and datasets named inline in a model card datasets that train the
model. Version, SHA-256, supplier and the first download, distribution or website link (as
provenance) come along where the BOM has them. `dependencies` become flows: a data flow where
the two types allow one (a dataset a model depends on trains it), else `depends_on`. A BOM
saikit wrote (`saikit export bom`) carries each asset's fields as `saikit:*` properties, which
are read back. Everything guessed is marked TODO.

Example: ``write(starter(read_source("bom.json")), "system.yaml")``
"""

from __future__ import annotations

from pathlib import Path

from kit.errors import fail
from kit.imports.starter import (
    KIND_PREFERENCE,
    Starter,
    clean,
    finish_system,
    guess_type,
    list_at,
    read_source,
    slug,
    write,
)
from kit.model import yamlio
from kit.model.schema import FLOW_RULES, Asset

COMPONENT_TYPES = {
    "machine-learning-model": "model",
    "data": "dataset",
    "application": "application",
    "library": "third_party_component",
    "framework": "third_party_component",
    "file": "third_party_component",
    "platform": "infrastructure",
    "container": "infrastructure",
    "operating-system": "infrastructure",
    "device": "infrastructure",
    "firmware": "infrastructure",
    "device-driver": "infrastructure",
}
# saikit:* properties a BOM saikit wrote carries, read back when they are valid values.
PROPERTIES = (
    "type", "owner", "custodian", "source", "sensitivity", "environment", "exposure",
    "criticality", "status", "format", "artifact", "authentication",
)  # fmt: skip
LINKS = ("distribution", "distribution-intake", "website", "vcs", "model-card")
CLASSIFICATION = {"public": "public", "internal": "internal", "confidential": "confidential"}


def starter(doc: yamlio.Document) -> Starter:
    """The starter system of a CycloneDX BOM; raise InputError when it is not one."""
    data = doc.data
    if not isinstance(data, dict) or data.get("bomFormat") != "CycloneDX":
        raise fail(doc.file, doc.line(()), "", "not a CycloneDX BOM (no 'bomFormat: CycloneDX')")
    s = Starter("cyclonedx", doc.file)
    meta = data.get("metadata") if isinstance(data.get("metadata"), dict) else {}
    system = meta.get("component") if isinstance(meta.get("component"), dict) else {}
    for path, c in _components(doc, ("components",)):
        _component(s, doc, path, c)
    for i, svc in enumerate(list_at(doc, ("services",))):
        _service(s, doc, ("services", i), svc)
    for _, c in _components(doc, ("components",)):
        _card_datasets(s, c)
    for i, dep in enumerate(list_at(doc, ("dependencies",))):
        if not isinstance(dep, dict) or "ref" not in dep:
            raise fail(
                doc.file, doc.line(("dependencies", i)), f"dependencies[{i}]", "'ref' is missing"
            )
        for upstream in dep.get("dependsOn") or []:
            _dependency(s, str(dep["ref"]), str(upstream))
    said = {
        p.get("name"): p.get("value") for p in system.get("properties") or [] if isinstance(p, dict)
    }
    if said.get("saikit:ai-type") in ("predictive", "generative", "agentic"):  # saikit's own BOM
        s.system["ai_type"] = said["saikit:ai-type"]
    if said.get("saikit:risk-appetite") in ("low", "medium", "high", "critical"):
        s.system["risk_appetite"] = said["saikit:risk-appetite"]
    finish_system(
        s,
        system.get("name") or Path(doc.file).name.split(".")[0],
        str(
            system.get("bom-ref") or system.get("name") or Path(doc.file).name.split(".")[0]
        ).removeprefix("system:"),
        system.get("description"),
    )
    if not s.assets:
        raise fail(
            doc.file, doc.line(("components",)), "components", "no components or services to import"
        )
    return s


def _components(doc: yamlio.Document, path: tuple):
    """Every component, nested ones too, with its path."""
    for i, c in enumerate(list_at(doc, path)):
        here = (*path, i)
        if not isinstance(c, dict):
            raise fail(doc.file, doc.line(here), _where(here), "expected a mapping")
        yield here, c
        if c.get("components") is not None:
            yield from _components(doc, (*here, "components"))


def _where(path: tuple) -> str:
    return "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in path).lstrip(".")


def _component(s: Starter, doc, path: tuple, c: dict) -> None:
    for key in ("name", "type"):
        if not c.get(key):
            raise fail(doc.file, doc.line(path), _where(path), f"'{key}' is missing")
    ref = str(c.get("bom-ref") or c["name"])
    todos = []
    props = {
        p["name"].removeprefix("saikit:"): p.get("value")
        for p in c.get("properties") or []
        if isinstance(p, dict) and str(p.get("name", "")).startswith("saikit:")
    }
    kind = (
        props.get("type")
        if props.get("type") in Asset.model_fields["type"].annotation.__args__
        else None
    )
    if kind is None:
        kind = COMPONENT_TYPES.get(c["type"]) or guess_type(c.get("name"))
        todos.append(f"type from the CycloneDX type '{c['type']}'")
    data = {
        "id": ref,
        "type": kind,
        "name": clean(c.get("name"), 200),
        "description": clean(c.get("description")),
        "version": clean(c.get("version"), 100),
    }
    for h in c.get("hashes") or []:
        if isinstance(h, dict) and str(h.get("alg")).upper() == "SHA-256":
            data["sha256"] = str(h.get("content", "")).lower()
    supplier = c.get("supplier") if isinstance(c.get("supplier"), dict) else {}
    provider = clean(supplier.get("name") or c.get("publisher") or c.get("group"), 200)
    link = next(
        (
            r.get("url")
            for want in LINKS
            for r in c.get("externalReferences") or []
            if isinstance(r, dict) and r.get("type") == want and r.get("url")
        ),
        None,
    )
    if link:
        data["provenance"] = {"url": clean(link, 2000)}
        todos.append("provenance: add the date it was retrieved (5.2.4-2.1)")
    if provider:
        data["provider"] = provider
        data["source"] = "third_party"
    elif link:
        data["source"] = "public"
    for key in PROPERTIES[1:]:
        if props.get(key) not in (None, ""):
            data[key] = props[key]
    if kind == "dataset" and "sensitivity" not in data:
        todos.append("sensitivity: what data does it hold?")
    data = {k: v for k, v in data.items() if v not in (None, "")}
    try:
        Asset.model_validate({**data, "id": slug(ref, "asset")})
    except ValueError:  # a carried property or hash that is not valid here: keep the rest
        data = {k: v for k, v in data.items() if k not in (*PROPERTIES[1:], "sha256")}
        todos.append("some fields in the BOM were not valid here and were left out")
    s.add_asset(ref, data, *todos)


def _service(s: Starter, doc, path: tuple, svc) -> None:
    if not isinstance(svc, dict) or not svc.get("name"):
        raise fail(doc.file, doc.line(path), _where(path), "a service needs a name")
    ref = str(svc.get("bom-ref") or svc["name"])
    data = {
        "id": ref,
        "type": "api",
        "name": clean(svc.get("name"), 200),
        "description": clean(svc.get("description")),
        "version": clean(svc.get("version"), 100),
    }
    provider = svc.get("provider") if isinstance(svc.get("provider"), dict) else {}
    if provider.get("name"):
        data["provider"] = clean(provider["name"], 200)
        data["source"] = "third_party"
    s.add_asset(ref, data, "exposure and authentication: who can call this service, and how?")


def _card_datasets(s: Starter, c: dict) -> None:
    card = c.get("modelCard") if isinstance(c.get("modelCard"), dict) else {}
    params = card.get("modelParameters") if isinstance(card.get("modelParameters"), dict) else {}
    model = s.ids.get(str(c.get("bom-ref") or c.get("name")))
    if model is None or s.type_of(model) != "model":
        return
    for i, d in enumerate(params.get("datasets") or []):
        if not isinstance(d, dict):
            continue
        if d.get("ref"):
            source = s.ids.get(str(d["ref"]))
        else:
            url = (
                (d.get("contents") or {}).get("url")
                if isinstance(d.get("contents"), dict)
                else None
            )
            data = {
                "id": d.get("bom-ref") or d.get("name") or f"{model}-data-{i + 1}",
                "type": "dataset",
                "name": clean(d.get("name"), 200),
                "description": clean(d.get("description")),
                "sensitivity": CLASSIFICATION.get(str(d.get("classification", "")).lower()),
            }
            todos = ["named in the model card's datasets"]
            if url:
                data["provenance"] = {"url": clean(url, 2000)}
                data["source"] = "public" if data["sensitivity"] == "public" else "third_party"
                if data["source"] == "third_party":
                    data["provider"] = clean(url.split("/")[2] if "//" in url else url, 200)
                todos.append("provenance: add the date it was retrieved (5.2.4-2.1)")
            source = s.add_asset(str(data["id"]), data, *todos)
        if source is not None:
            s.add_flow(source, model, "trains")


def _dependency(s: Starter, ref: str, upstream: str) -> None:
    """`ref` depends on `upstream`: a data flow upstream → ref where the types allow one."""
    if ref not in s.ids or upstream not in s.ids:
        return  # the system itself, or something the BOM does not describe
    a, u = s.ids[ref], s.ids[upstream]
    ta, tu = s.type_of(a), s.type_of(u)
    for kind in KIND_PREFERENCE:
        if kind != "depends_on" and tu in FLOW_RULES[kind][0] and ta in FLOW_RULES[kind][1]:
            s.add_flow(u, a, None)
            return
    s.add_flow(a, u, "depends_on")


def import_cyclonedx(path, out, *, force: bool = False):
    """Read a CycloneDX BOM and write its starter system file to `out`; return the path."""
    return write(starter(read_source(path)), out, force=force)
