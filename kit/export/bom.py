"""The asset inventory as a CycloneDX 1.6 ML-BOM (JSON), for supply-chain tools (5.2.3, 5.2.4-1.2).

What goes where:

- the system is `metadata.component`; saikit is `metadata.tools`;
- models are `machine-learning-model` components with their SHA-256 and a minimal `modelCard`
  (task and approach inferred from the model's outputs, the datasets that train or fine-tune it,
  input and output formats, the system's purpose as use case and the user groups it reaches);
- datasets, vector stores, log stores and prompts are `data` components, with a `data` entry
  giving the classification (sensitivity) and the owner and custodian;
- infrastructure is `platform`; applications, APIs, agents, tools and third-party components
  are `application` (third-party ones with their supplier and version);
- user groups are people, not components, and stay out;
- `dependencies` give each component its direct upstream (its lineage one step back), and the
  system depends on every component;
- every other asset field is a `saikit:*` property, so nothing the inventory knows is lost.

cyclonedx-python-lib builds and serialises all of it except `modelCard` and a component's `data`,
which it does not model; those are added to the JSON afterwards. The output is deterministic:
no random serial number (it is derived from the system ID and a hash of the content) and no
clock (the timestamp is an argument, left out when not given), so a rerun gives the same bytes.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import uuid
from pathlib import Path

from cyclonedx.contrib.license.factories import LicenseFactory
from cyclonedx.model import (
    ExternalReference,
    ExternalReferenceType,
    HashAlgorithm,
    HashType,
    Property,
    XsUri,
)
from cyclonedx.model.bom import Bom, BomMetaData
from cyclonedx.model.component import Component, ComponentType
from cyclonedx.model.contact import OrganizationalEntity
from cyclonedx.model.tool import ToolRepository
from cyclonedx.output.json import JsonV1Dot6

from kit import __version__
from kit.files import write_atomic
from kit.graph import AssetGraph
from kit.graph.analyses import reachable
from kit.model.schema import Asset

COMPONENT_TYPES = {
    "model": ComponentType.MACHINE_LEARNING_MODEL,
    "dataset": ComponentType.DATA,
    "vector_store": ComponentType.DATA,
    "log_store": ComponentType.DATA,
    "prompt": ComponentType.DATA,
    "infrastructure": ComponentType.PLATFORM,
    "api": ComponentType.APPLICATION,
    "application": ComponentType.APPLICATION,
    "agent": ComponentType.APPLICATION,
    "tool": ComponentType.APPLICATION,
    "third_party_component": ComponentType.APPLICATION,
}
# What a model's first listed output says about its task, and the learning approach behind it.
TASKS = {
    "label": ("classification", "supervised"),
    "probabilities": ("classification", "supervised"),
    "score": ("scoring", "supervised"),
    "text": ("text-generation", "self-supervised"),
    "code": ("code-generation", "self-supervised"),
    "embedding": ("embedding", "self-supervised"),
    "image": ("image-generation", "self-supervised"),
    "action": ("decision-making", None),
}
_PROPERTIES = (
    "type",
    "owner",
    "custodian",
    "source",
    "sensitivity",
    "environment",
    "exposure",
    "criticality",
    "status",
    "format",
    "artifact",
    "authentication",
)
_NAMESPACE = uuid.UUID("5b0c7a52-4f4e-4b8e-9a55-5a1b1c0d2e10")  # saikit's, for uuid5 serials


def bom(
    graph: AssetGraph,
    *,
    timestamp: dt.datetime | None = None,
) -> dict:
    """The CycloneDX 1.6 ML-BOM of a system as a JSON-ready dict.

    Parameters
    ----------
    graph : AssetGraph
    timestamp : stamped as ``metadata.timestamp``; left out when None

    Returns
    -------
    dict that `bom_json` serialises and the CycloneDX 1.6 strict JSON schema accepts.

    Example
    -------
    >>> doc = bom(build(model), timestamp=dt.datetime(2026, 1, 1, tzinfo=dt.UTC))  # doctest: +SKIP
    >>> doc["components"][0]["type"]  # doctest: +SKIP
    'data'
    """
    model = graph.model
    assets = [a for a in model.assets if a.type in COMPONENT_TYPES]
    components = {a.id: _component(a, a.sha256) for a in assets}
    system = Component(
        name=model.system.name,
        type=ComponentType.APPLICATION,
        bom_ref=system_ref(graph),
        description=model.system.purpose,
        properties=[
            Property(name="saikit:ai-type", value=model.system.ai_type),
            Property(name="saikit:risk-appetite", value=model.system.risk_appetite),
        ],
    )
    tool = Component(name="saikit", version=__version__, type=ComponentType.APPLICATION)
    doc = Bom(
        components=components.values(),
        metadata=BomMetaData(
            component=system, timestamp=timestamp, tools=ToolRepository(components=[tool])
        ),
        serial_number=uuid.UUID(int=0),  # replaced below, once the content is known
    )
    doc.register_dependency(system, components.values())
    for a in assets:
        upstream = sorted({e.source for e in graph.in_edges[a.id]} & components.keys())
        doc.register_dependency(components[a.id], [components[u] for u in upstream])
    data = json.loads(JsonV1Dot6(doc).output_as_string())
    if timestamp is None:  # the library stamps the current time when given none
        del data["metadata"]["timestamp"]
    _add_ml_parts(data, graph, {a.id for a in assets})
    return _with_serial(data, model.system.id)


def bom_json(
    graph: AssetGraph,
    *,
    timestamp: dt.datetime | None = None,
) -> str:
    """The ML-BOM as JSON text (indented, ending in a newline); same arguments as `bom`."""
    return json.dumps(bom(graph, timestamp=timestamp), indent=2, ensure_ascii=False) + "\n"


def write_bom(graph: AssetGraph, path: str | os.PathLike, **kwargs) -> Path:
    """Write the ML-BOM JSON to `path` (whole, never through a link at `path`, into a folder
    that exists: kit.files.write_atomic); return the path. Keyword arguments as for `bom`."""
    return write_atomic(path, bom_json(graph, **kwargs), make_folder=False)


def validation_errors(text: str) -> list[str]:
    """What the CycloneDX 1.6 strict JSON schema rejects in a BOM; empty when it is valid."""
    from cyclonedx.schema import SchemaVersion
    from cyclonedx.validation.json import JsonStrictValidator

    errors = JsonStrictValidator(SchemaVersion.V1_6).validate_str(text, all_errors=True)
    return [str(e) for e in errors or ()]


def system_ref(graph: AssetGraph) -> str:
    """The bom-ref of the system component (asset IDs cannot contain ':', so it never clashes)."""
    return f"system:{graph.model.system.id}"


def _component(asset: Asset, sha256: str | None) -> Component:
    props = [
        Property(name=f"saikit:{k.replace('_', '-')}", value=str(getattr(asset, k)))
        for k in _PROPERTIES
        if getattr(asset, k) is not None
    ]
    for tag in asset.tags:
        props.append(Property(name="saikit:tag", value=tag))
    refs, licences = [], []
    if asset.provenance:
        refs.append(
            ExternalReference(
                type=ExternalReferenceType.DISTRIBUTION, url=XsUri(asset.provenance.url)
            )
        )
        if asset.provenance.retrieved:
            props.append(
                Property(
                    name="saikit:provenance-retrieved", value=asset.provenance.retrieved.isoformat()
                )
            )
        if asset.provenance.licence:
            licences.append(LicenseFactory().make_from_string(asset.provenance.licence))
    if asset.due_diligence:
        props.append(
            Property(
                name="saikit:due-diligence",
                value=f"{asset.due_diligence.date.isoformat()} {asset.due_diligence.evidence}",
            )
        )
    return Component(
        name=asset.name or asset.id,
        type=COMPONENT_TYPES[asset.type],
        bom_ref=asset.id,
        version=asset.version,
        description=asset.description,
        supplier=OrganizationalEntity(name=asset.provider) if asset.provider else None,
        hashes=[HashType(alg=HashAlgorithm.SHA_256, content=sha256)] if sha256 else None,
        properties=props,
        external_references=refs,
        licenses=licences,
    )


def _add_ml_parts(data: dict, graph: AssetGraph, refs: set[str]) -> None:
    """Add what the library cannot model: model cards and components' data entries."""
    assets = graph.assets
    purpose = graph.model.system.purpose
    for comp in data.get("components", []):
        asset = assets[comp["bom-ref"]]
        if asset.type == "model":
            comp["modelCard"] = _model_card(asset, graph, refs, purpose)
        elif comp["type"] == "data":
            comp["data"] = [_data_entry(asset)]


def _model_card(asset: Asset, graph: AssetGraph, refs: set[str], purpose: str) -> dict:
    params: dict = {}
    task, approach = next((TASKS[o] for o in asset.outputs if o in TASKS), (None, None))
    if approach:
        params["approach"] = {"type": approach}
    if task:
        params["task"] = task
    trained_on = sorted(
        {
            e.source
            for e in graph.in_edges[asset.id]
            if e.kind in ("trains", "fine_tunes")
            and e.source in refs
            and graph.assets[e.source].type != "model"
        }
    )
    if trained_on:
        params["datasets"] = [{"ref": r} for r in trained_on]
    if asset.modalities_used:
        params["inputs"] = [{"format": m} for m in asset.modalities_used]
    if asset.outputs:
        params["outputs"] = [{"format": o} for o in asset.outputs]
    users = sorted(
        graph.assets[u].name or u
        for u in reachable(graph, asset.id, direction="downstream")
        if graph.assets[u].type == "user_group"
    )
    considerations: dict = {"useCases": [purpose]}
    if users:
        considerations["users"] = users
    card: dict = {}
    if params:
        card["modelParameters"] = params
    card["considerations"] = considerations
    return card


def _data_entry(asset: Asset) -> dict:
    entry: dict = {
        "type": "configuration" if asset.type == "prompt" else "dataset",
        "name": asset.name or asset.id,
        "classification": asset.sensitivity,
    }
    if asset.provenance:
        entry["contents"] = {"url": asset.provenance.url}
    governance = {}
    if asset.owner:
        governance["owners"] = [{"organization": {"name": asset.owner}}]
    if asset.custodian:
        governance["custodians"] = [{"organization": {"name": asset.custodian}}]
    if governance:
        entry["governance"] = governance
    return entry


def _with_serial(data: dict, system_id: str) -> dict:
    """Put the fields in reading order, with a serial number derived from the content."""
    data.pop("serialNumber", None)
    digest = hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()
    serial = uuid.uuid5(_NAMESPACE, f"{system_id}:{digest}")
    head = {k: data.pop(k) for k in ("$schema", "bomFormat", "specVersion") if k in data}
    return {**head, "serialNumber": serial.urn, **data}
