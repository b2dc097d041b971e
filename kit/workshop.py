"""Workshop mode: edit a system in JupyterLab and watch its risk picture change.

Two layers. `Session` is the editing logic and knows nothing of widgets: it holds the system
file as a ruamel.yaml round-trip document (comments, key order and quoting kept), the model
validated from it and its analysis. Every edit is made on a copy of the document, checked by
the same loader `saikit check` uses, and only then becomes the current state, with the old one
kept for undo; a refused edit raises InputError and changes nothing. `save` writes the file back
atomically and appends one audit entry per saved change to the system's run store.

`Workshop` builds the ipywidgets forms over a Session and redraws the summary, the findings
table, the asset picture and the heatmaps after every change. `run_lab` starts JupyterLab on
the loopback interface with the workshop notebook open on one system (`saikit lab`).
"""

from __future__ import annotations

import ast
import datetime as dt
import html
import io
import json
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import typing
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import ipywidgets as w
from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.error import CommentMark
from ruamel.yaml.scalarstring import ScalarString
from ruamel.yaml.tokens import CommentToken

from . import audit
from .analysis import Analysis, analyse_model
from .catalogue import load_catalogue
from .errors import InputError, Problem, did_you_mean, fail
from .inputs import config_sha256, load_checked
from .model import ASSET_TYPES, FLOW_KINDS, Asset, Decision, SystemModel, load_system
from .risk import band
from .threats.library import Library

CONTROL_STATUSES = ("implemented", "planned")
DECISION_STATUSES: tuple[str, ...] = typing.get_args(Decision.model_fields["status"].annotation)
# Asset fields the attribute editor offers: everything but the id and the nested mappings.
EDITABLE_FIELDS = tuple(
    name for name in Asset.model_fields if name not in ("id", "provenance", "due_diligence")
)
# Indentation styles tried when reading a file; the first that reproduces it exactly is kept.
_INDENTS = ((2, 4, 2), (2, 2, 0), (4, 4, 2), (4, 6, 4), (4, 4, 0), (2, 4, 0))


# ---------------------------------------------------------------- YAML round trip


def _yaml(indent: tuple[int, int, int]) -> YAML:
    y = YAML(typ="rt")
    y.preserve_quotes = True
    y.width = 4096  # never re-wrap a long line the user wrote
    y.indent(mapping=indent[0], sequence=indent[1], offset=indent[2])
    return y


def _dump(doc: Any, indent: tuple[int, int, int]) -> str:
    out = io.StringIO()
    _yaml(indent).dump(doc, out)
    return out.getvalue()


@dataclass(frozen=True)
class _YamlFile:
    """One file as read for round-trip editing."""

    path: Path
    text: str  # as on disk when read (or last saved), with "\n" line ends
    newline: str  # the line end the file uses on disk
    indent: tuple[int, int, int]
    reproduced: bool  # whether an unedited dump equals `text` (False: saving also reformats)

    @classmethod
    def read(cls, path: Path) -> tuple[_YamlFile, CommentedMap]:
        text, newline = _read(path)
        doc = _yaml(_INDENTS[0]).load(text)
        for indent in _INDENTS:
            if _dump(doc, indent) == text:
                return cls(path, text, newline, indent, True), doc
        return cls(path, text, newline, _INDENTS[0], False), doc


def _read(path: Path) -> tuple[str, str]:
    """A file's text with "\n" line ends, and the line end it uses."""
    raw = path.read_bytes()
    newline = "\r\n" if b"\r\n" in raw else "\n"
    return raw.decode("utf-8-sig").replace("\r\n", "\n"), newline


# ruamel.yaml keeps the comment lines that follow a value on that value (on the last scalar of
# a block, or on the sequence entry of a one-line item), so appending or removing an entry would
# carry them to the wrong place. These helpers move them along instead. A slot is
# (container, key, index in its comment list) of the token holding the text after a value.

Slot = tuple[Any, Any, int]


def _slot_after(container, key) -> Slot:
    """Where the text after `container[key]` is kept."""
    value = container[key]
    if isinstance(value, (CommentedMap, CommentedSeq)) and len(value) and not value.fa.flow_style():
        last = list(value)[-1] if isinstance(value, CommentedMap) else len(value) - 1
        return _slot_after(value, last)
    return container, key, 2 if isinstance(container, CommentedMap) else 0


def _tail_slot(node) -> Slot | None:
    """Where the text after a whole block mapping or sequence is kept (None: not a block)."""
    if not isinstance(node, (CommentedMap, CommentedSeq)) or not len(node) or node.fa.flow_style():
        return None
    return _slot_after(node, list(node)[-1] if isinstance(node, CommentedMap) else len(node) - 1)


def _token(slot: Slot | None) -> CommentToken | None:
    if slot is None:
        return None
    container, key, pos = slot
    items = container.ca.items.get(key)
    token = items[pos] if items and len(items) > pos else None
    return token if isinstance(token, CommentToken) else None


def _take(slot: Slot | None) -> str:
    """Remove and return the comment lines after a value's line (its own comment stays)."""
    token = _token(slot)
    if token is None or "\n" not in token.value:
        return ""
    own, rest = token.value.split("\n", 1)
    token.value = own + "\n"
    return rest


def _put(slot: Slot | None, rest: str) -> None:
    """Add comment lines after a value's line."""
    if not rest or slot is None:
        return
    token = _token(slot)
    if token is not None:
        if token.value.endswith("\n\n") and rest.startswith("\n"):
            rest = rest[1:]  # one blank line between blocks is enough
        token.value += rest
        return
    container, key, pos = slot
    items = container.ca.items.setdefault(key, [None, None, None, None])
    items[pos] = CommentToken("\n" + rest, CommentMark(0), None)


def _append(seq: CommentedSeq, item) -> None:
    """Append to a block sequence, keeping the comment lines that followed its last item."""
    rest = _take(_tail_slot(seq))
    seq.append(item)
    _put(_tail_slot(seq), rest)


def _delete(holder: CommentedMap, key: str, index: int) -> None:
    """Delete item `index` of the list `holder[key]`, with the comments written directly above it.

    The comment lines after it head the next item, so they stay; where that leaves two blank
    lines in a row, one goes. A list left empty is removed with its key.
    """
    seq = holder[key]
    rest = _take(_slot_after(seq, index))
    del seq[index]  # ruamel drops the item's own comments above it and renumbers the rest
    if not len(seq):  # an emptied section goes, and the comments after it move up
        _del_key(holder, key)
        _put(_tail_slot(holder), rest)
        return
    if index == 0:
        rest = rest.lstrip("\n")
        if rest and len(seq):
            head = seq.ca.items.setdefault(0, [None, None, None, None])
            head[1] = [CommentToken(rest, CommentMark(0), None), *(head[1] or [])]
        return
    before = _slot_after(seq, index - 1)
    _put(before, rest)
    token = _token(before)
    after = (seq.ca.items.get(index) or [None, None])[1] if index < len(seq) else seq.ca.end
    if (
        token is not None
        and token.value.endswith("\n\n")
        and after
        and isinstance(after[0], CommentToken)
        and after[0].value.startswith("\n")
    ):
        after[0].value = after[0].value[1:]
        if not after[0].value:
            del after[0]


def _set_key(mapping: CommentedMap, key: str, value) -> None:
    """Set a key in place, or add it after the last one, carrying the trailing comment along."""
    if key in mapping:
        old = mapping[key]
        if isinstance(old, ScalarString) and isinstance(value, str) and "\n" not in value:
            value = type(old)(value)  # keep the quoting the user chose
        elif (
            isinstance(old, CommentedSeq)
            and isinstance(value, CommentedSeq)
            and len(old)
            and not any(isinstance(v, (dict, list)) for v in value)
        ):
            if old.fa.flow_style():
                value.fa.set_flow_style()
            else:
                value.fa.set_block_style()
        mapping[key] = value
        return
    rest = _take(_tail_slot(mapping))
    mapping[key] = value
    _put(_tail_slot(mapping), rest)


def _append_to(holder: CommentedMap, key: str, item) -> None:
    """Append an item to the list under `key`, making the list when it is missing or empty."""
    seq = holder.get(key)
    if isinstance(seq, CommentedSeq) and len(seq):
        _append(seq, item)
    else:
        _set_key(holder, key, CommentedSeq([item]))


def _del_key(mapping: CommentedMap, key: str) -> None:
    if key not in mapping:
        return
    last = list(mapping)[-1] == key
    rest = _take(_tail_slot(mapping)) if last else ""
    del mapping[key]
    mapping.ca.items.pop(key, None)
    _put(_tail_slot(mapping), rest)


def _yaml_value(value):
    """Plain Python data as round-trip nodes (lists of scalars in flow style)."""
    if isinstance(value, dict):
        out = CommentedMap()
        for k, v in value.items():
            out[k] = _yaml_value(v)
        return out
    if isinstance(value, (list, tuple)):
        seq = CommentedSeq(_yaml_value(v) for v in value)
        if all(not isinstance(v, (dict, list, tuple)) for v in value):
            seq.fa.set_flow_style()
        return seq
    return value


def _plain(value):
    """Round-trip nodes as plain data (for reading values back)."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, ScalarString):
        return str(value)
    return value


def _show(value) -> str:
    if value is None or value == [] or value == "":
        return "(default)"
    if isinstance(value, list):
        return "[" + ", ".join(str(v) for v in value) + "]"
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


# ---------------------------------------------------------------- values typed into forms


def field_choices(name: str) -> list[str]:
    """The allowed values of an asset field, when it has a fixed set ([] when free text)."""
    info = Asset.model_fields.get(name)
    if info is None:
        return []
    found: list[str] = []

    def walk(annotation) -> None:
        if typing.get_origin(annotation) is typing.Literal:
            found.extend(str(a) for a in typing.get_args(annotation))
        elif annotation is bool:
            found.extend(["true", "false"])
        for arg in typing.get_args(annotation):
            if not isinstance(arg, str):
                walk(arg)

    walk(info.annotation)
    return list(dict.fromkeys(found))


def _shape(name: str) -> str:
    """'list', 'bool', 'int' or 'text': how a typed-in value of an asset field is read."""
    pending = [Asset.model_fields[name].annotation]
    while pending:
        annotation = pending.pop(0)
        if typing.get_origin(annotation) is list:
            return "list"
        if annotation is bool:
            return "bool"
        if annotation is int:
            return "int"
        if typing.get_origin(annotation) is not typing.Literal:
            pending.extend(typing.get_args(annotation))
    return "text"


def parse_value(name: str, text: str):
    """A value typed into the attribute editor as the field's data; None means "back to default".

    Lists are comma-separated; true/false and whole numbers are read as such. Raises InputError
    for an unknown field or a value of the wrong shape.
    """
    if name not in Asset.model_fields or name == "id":
        raise fail(
            "attribute",
            None,
            name,
            f"not an editable asset field{did_you_mean(name, EDITABLE_FIELDS)}",
        )
    text = (text or "").strip()
    if not text:
        return None
    shape = _shape(name)
    if shape == "list":
        return [part.strip() for part in text.split(",") if part.strip()]
    if shape == "bool":
        lowered = text.lower()
        if lowered not in ("true", "false", "yes", "no"):
            raise fail("attribute", None, name, f"expected true or false, got {text!r}")
        return lowered in ("true", "yes")
    if shape == "int":
        if not re.fullmatch(r"-?\d+", text):
            raise fail("attribute", None, name, f"expected a whole number, got {text!r}")
        return int(text)
    return text


def format_value(value) -> str:
    """The text the attribute editor shows for a stored value (inverse of `parse_value`)."""
    if value is None:
        return ""
    if isinstance(value, list):
        return ", ".join(str(v) for v in value)
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


# ---------------------------------------------------------------- the editing session


@dataclass(frozen=True)
class State:
    """One version of the system during a workshop."""

    doc: CommentedMap  # for reading only: edits start from a fresh parse of `text`
    decisions: CommentedMap | None  # the decisions file's document, when the system names one
    text: str
    decisions_text: str | None
    analysis: Analysis
    config_sha256: str
    change: str  # the edit that made this state, in one line ("" for the file as opened)

    @property
    def model(self) -> SystemModel:
        return self.analysis.model


@dataclass
class Session:
    """A system being edited: the current state, the states before it, and unsaved changes.

    Build one with `Session.open`. Edits return the one-line description of the change (None
    when there was nothing to change) and raise InputError, changing nothing, when the result
    would not load.
    """

    path: Path
    library: Library = field(repr=False)
    out: str | None = None
    today: dt.date | None = None
    # "system" and, when the system names one, "decisions": the files as last read or saved
    files: dict[str, _YamlFile] = field(default_factory=dict, repr=False)
    history: list[State] = field(default_factory=list, repr=False)
    # (change, config hash after it) for each change not yet saved, oldest first
    pending: list[tuple[str, str]] = field(default_factory=list)
    # how many states at the top of `history` were made since the last save
    _unsaved: int = field(default=0, repr=False)

    # ------------------------------------------------------------ opening and reading

    @classmethod
    def open(
        cls,
        path: str | os.PathLike = "",
        *,
        out: str | os.PathLike | None = None,
        library_dirs=(),
        today: dt.date | None = None,
    ) -> Session:
        """Open a system file (the bundled example when empty) for editing.

        `out` is the run store whose audit trail records saved changes (default: as `saikit run`,
        ./runs/<system id>). Raises InputError when the file does not load.
        """
        from .resources import default_system

        system = Path(path) if path else default_system()
        model, library = load_checked(system, library_dirs)
        session = cls(system, library, str(out) if out else None, today)
        sys_file, doc = _YamlFile.read(system)
        session.files["system"] = sys_file
        decisions = None
        if model.system.decisions_file:
            dec_file, decisions = _YamlFile.read(system.parent / model.system.decisions_file)
            session.files["decisions"] = dec_file
        dec_text = session.files["decisions"].text if decisions is not None else None
        session.history.append(session._state(doc, decisions, sys_file.text, dec_text, model, ""))
        return session

    @property
    def current(self) -> State:
        return self.history[-1]

    @property
    def model(self) -> SystemModel:
        return self.current.model

    @property
    def analysis(self) -> Analysis:
        return self.current.analysis

    @property
    def can_undo(self) -> bool:
        return len(self.history) > 1

    @property
    def reformats(self) -> list[str]:
        """Files whose layout ruamel.yaml cannot reproduce exactly (saving reformats them)."""
        return [str(f.path) for f in self.files.values() if not f.reproduced]

    def control_status(self, control: str, asset_id: str) -> str | None:
        """'implemented', 'planned' or None: how `control` is applied to an asset now."""
        found = {
            u.status for u in self.model.controls if u.control == control and asset_id in u.assets
        }
        return "implemented" if "implemented" in found else ("planned" if found else None)

    def asset_value(self, asset_id: str, name: str):
        """The value of an asset field as written in the file (None when not written)."""
        _, asset = self._asset(self.current.doc, asset_id)
        return _plain(asset.get(name))

    # ------------------------------------------------------------ edits

    def set_attribute(self, asset_id: str, name: str, value) -> str | None:
        """Set one field of an asset; None (or empty text or list) puts it back to its default."""
        if name == "id":
            raise fail(
                str(self.path),
                None,
                "id",
                "an asset cannot be renamed here: flows, controls and decisions refer to it",
            )
        if value in ("", []):
            value = None

        def edit(doc, _decisions):
            _, asset = self._asset(doc, asset_id)
            old = _plain(asset.get(name))
            if old == value:
                return None
            if value is None:
                _del_key(asset, name)
            else:
                _set_key(asset, name, _yaml_value(value))
            return f"asset {asset_id}: {name} {_show(old)} → {_show(value)}"

        return self._apply(edit)

    def add_asset(self, asset: dict) -> str | None:
        """Add an asset given as a mapping of its fields (at least `id` and `type`)."""
        if not isinstance(asset, dict) or not asset.get("id"):
            raise fail(
                str(self.path), None, "assets", "a new asset needs at least an id and a type"
            )
        data = {k: v for k, v in asset.items() if v not in (None, "", [])}

        def edit(doc, _decisions):
            _append(doc["assets"], _yaml_value(data))
            return f"added asset {data['id']} ({data.get('type', '?')})"

        return self._apply(edit)

    def remove_asset(self, asset_id: str, cascade: bool = False) -> str | None:
        """Remove an asset.

        Refused, with a message naming them, while flows or controls refer to the asset, unless
        `cascade` is true: then its flows go too and it is taken off every control (a control
        left with no assets is removed). Decisions about its findings stay in place and show as
        stale decisions, so no recorded judgement is lost silently.
        """

        def edit(doc, _decisions):
            index, _ = self._asset(doc, asset_id)
            flows = [
                i
                for i, f in enumerate(doc.get("flows") or [])
                if asset_id in (f.get("from"), f.get("to"))
            ]
            uses = [
                i
                for i, u in enumerate(doc.get("controls") or [])
                if asset_id in (u.get("assets") or [])
            ]
            if (flows or uses) and not cascade:
                named = [_flow_id(doc["flows"][i]) for i in flows]
                named += [f"control {doc['controls'][i]['control']}" for i in uses]
                raise fail(
                    str(self.path),
                    None,
                    f"assets[{index}]",
                    f"'{asset_id}' is still used by {', '.join(named)}; remove those first "
                    "or remove the asset together with its flows and controls",
                )
            for i in reversed(flows):
                _delete(doc, "flows", i)
            for i in reversed(uses):
                use = doc["controls"][i]
                if len(use["assets"]) == 1:
                    _delete(doc, "controls", i)
                else:
                    use["assets"].remove(asset_id)
            _delete(doc, "assets", index)
            extra = [f"{len(flows)} flow(s)"] * bool(flows) + [
                f"{len(uses)} control use(s)"
            ] * bool(uses)
            return f"removed asset {asset_id}" + (f" with {' and '.join(extra)}" if extra else "")

        return self._apply(edit)

    def add_flow(self, flow: dict) -> str | None:
        """Add a flow given as a mapping: from, to, kind and optionally its other fields."""
        data = {k: v for k, v in flow.items() if v not in (None, "", [])}

        def edit(doc, _decisions):
            flows = doc.get("flows") or []
            new_id = _flow_id(data)
            if any(_flow_id(f) == new_id for f in flows):
                raise fail(str(self.path), None, "flows", f"flow {new_id} is already there")
            node = _yaml_value(data)
            if len(flows) and flows[-1].fa.flow_style():
                node.fa.set_flow_style()  # match the file's one-line flows
            _append_to(doc, "flows", node)
            return f"added flow {new_id}"

        return self._apply(edit)

    def remove_flow(self, flow: int | str) -> str | None:
        """Remove a flow by its index in the file or its ID (`from-kind->to`)."""

        def edit(doc, _decisions):
            flows = doc.get("flows") or []
            ids = [_flow_id(f) for f in flows]
            if isinstance(flow, int):
                if not 0 <= flow < len(flows):
                    raise fail(str(self.path), None, "flows", f"no flow number {flow}")
                index = flow
            elif flow in ids:
                index = ids.index(flow)
            else:
                raise fail(
                    str(self.path), None, "flows", f"no flow {flow}{did_you_mean(flow, ids)}"
                )
            _delete(doc, "flows", index)
            return f"removed flow {ids[index]}"

        return self._apply(edit)

    def set_control(
        self, control: str, asset_id: str, status: str | None, evidence: str | None = None
    ) -> str | None:
        """Apply a control to an asset as 'implemented' or 'planned', or take it off (None).

        An entry that applies the control to this asset alone is changed in place; otherwise the
        asset moves to an entry of the same control and status, which is made when there is none.
        """
        if status not in (*CONTROL_STATUSES, None):
            raise fail(
                str(self.path),
                None,
                "controls",
                f"status must be implemented or planned, not {status!r}",
            )

        def edit(doc, _decisions):
            self._asset(doc, asset_id)
            old = self.control_status(control, asset_id)
            if old == status:
                return None
            uses = doc.get("controls") or []
            placed = False
            for i in reversed(range(len(uses))):
                use = uses[i]
                if use.get("control") != control or asset_id not in (use.get("assets") or []):
                    continue
                if len(use["assets"]) > 1:
                    use["assets"].remove(asset_id)
                elif status and not placed:
                    _set_key(use, "status", status)
                    if evidence:
                        _set_key(use, "evidence", evidence)
                    placed = True
                else:
                    _delete(doc, "controls", i)
            if status and not placed:
                same = [
                    u for u in uses if u.get("control") == control and u.get("status") == status
                ]
                if same:
                    same[0]["assets"].append(asset_id)
                else:
                    entry = {
                        "control": control,
                        "assets": [asset_id],
                        "status": status,
                        "evidence": evidence,
                    }
                    _append_to(doc, "controls", _yaml_value({k: v for k, v in entry.items() if v}))
            was, now = old or "not applied", status or "not applied"
            return f"control {control} on {asset_id}: {was} → {now}"

        return self._apply(edit)

    def record_decision(
        self,
        finding: str,
        status: str,
        justification: str = "",
        owner: str = "",
        review_by: dt.date | None = None,
    ) -> str | None:
        """Record the treatment of a finding, where the system keeps its decisions.

        The decisions file when the system names one, else the inline `decisions:` list; an
        existing decision for the finding is updated where it is. Any status but 'open' needs a
        justification and an owner. The decision is dated today.
        """
        raised = [f.id for f in self.analysis.assessment.findings]
        if finding not in raised:
            raise fail(
                str(self.path),
                None,
                "decisions",
                f"no finding '{finding}' is raised now{did_you_mean(finding, raised)}",
            )
        if status not in DECISION_STATUSES:
            raise fail(
                str(self.path),
                None,
                "decisions",
                f"'{status}' is not a decision status; expected one of: "
                + ", ".join(DECISION_STATUSES),
            )
        justification, owner = (justification or "").strip(), (owner or "").strip()
        if status != "open" and not (justification and owner):
            raise fail(
                str(self.path),
                None,
                "decisions",
                f"a decision to mark '{finding}' {status} needs a justification and an owner",
            )
        values = {
            "status": status,
            "justification": justification,
            "owner": owner,
            "date": self.today or dt.date.today(),
            "review_by": review_by,
        }

        def edit(doc, decisions):
            holders = [d for d in (doc, decisions) if d is not None and d.get("decisions")]
            existing = [e for h in holders for e in h["decisions"] if e.get("finding") == finding]
            if existing:
                for key, value in values.items():
                    if value:
                        _set_key(existing[0], key, value)
                    else:
                        _del_key(existing[0], key)
            else:
                entry = {"finding": finding, **{k: v for k, v in values.items() if v}}
                _append_to(
                    decisions if decisions is not None else doc, "decisions", _yaml_value(entry)
                )
            tail = (
                f" (owner {owner}"
                + (f", review by {review_by.isoformat()}" if review_by else "")
                + ")"
            )
            return f"decision {finding}: {status}" + (tail if owner else "")

        return self._apply(edit)

    def undo(self) -> str | None:
        """Go back to the state before the last change; return what was undone (None: nothing)."""
        if not self.can_undo:
            return None
        undone = self.history.pop()
        if self._unsaved:
            self._unsaved -= 1
            self.pending.pop()
        else:  # the undone change is already in the file: saving again records the undo
            self.pending.append((f"undo: {undone.change}", self.current.config_sha256))
        return undone.change

    # ------------------------------------------------------------ saving

    def save(self) -> list[dict]:
        """Write the changed files back and audit each saved change; return the audit entries.

        Refused when a file changed on disk since the workshop read it, or when the system is the
        bundled example.
        """
        if not self.pending:
            return []
        if _is_bundled(self.path):
            raise fail(
                str(self.path),
                None,
                "",
                "this is the bundled example, which is read-only; copy it and open the copy",
            )
        state = self.current
        writes = [("system", state.text)]
        if "decisions" in self.files and state.decisions_text is not None:
            writes.append(("decisions", state.decisions_text))
        for name, _ in writes:
            f = self.files[name]
            if _read(f.path)[0] != f.text:
                raise fail(
                    str(f.path),
                    None,
                    "",
                    "changed on disk since the workshop opened it; reopen it to edit it",
                )
        for name, text in writes:
            if text != self.files[name].text:
                _write_atomic(self.files[name].path, text, self.files[name].newline)
                self.files[name] = replace(self.files[name], text=text)
        from .runner import default_store

        store = default_store(state.model, self.out)
        entries = [
            audit.append(
                store.audit_path,
                "workshop-edit",
                change=change,
                config_sha256=digest,
                system=state.model.system.id,
                file=str(self.path.resolve()),
            )
            for change, digest in self.pending
        ]
        self.pending.clear()
        self._unsaved = 0
        return entries

    # ------------------------------------------------------------ internals

    def _apply(self, edit: Callable[[CommentedMap, CommentedMap | None], str | None]) -> str | None:
        """Run `edit` on a copy of the documents; keep the result only if it loads."""
        # A fresh parse, not a deepcopy: a deepcopy loses the sharing of comment tokens that
        # ruamel.yaml relies on to write comments before a block's first entry once only.
        doc = _yaml(self.files["system"].indent).load(self.current.text)
        decisions = None
        if self.current.decisions_text is not None:
            decisions = _yaml(self.files["decisions"].indent).load(self.current.decisions_text)
        change = edit(doc, decisions)
        if change is None:
            return None
        text = _dump(doc, self.files["system"].indent)
        dec_text = None if decisions is None else _dump(decisions, self.files["decisions"].indent)
        if text == self.current.text and dec_text == self.current.decisions_text:
            return None
        model = self._validate(text, dec_text)
        state = self._state(doc, decisions, text, dec_text, model, change)
        self.history.append(state)
        self._unsaved += 1
        self.pending.append((change, state.config_sha256))
        return change

    def _state(self, doc, decisions, text, dec_text, model: SystemModel, change: str) -> State:
        analysis = analyse_model(model, self.library, self.today)
        return State(doc, decisions, text, dec_text, analysis, config_sha256(model), change)

    def _validate(self, text: str, dec_text: str | None) -> SystemModel:
        """Load edited text exactly as `saikit check` would load the saved files."""
        with tempfile.TemporaryDirectory(prefix="saikit-workshop-") as tmp:
            target = Path(tmp) / self.path.name
            target.write_text(text, encoding="utf-8")
            names = {str(target): str(self.path)}
            if dec_text is not None:
                real = self.files["decisions"].path
                dec_target = Path(tmp) / real.relative_to(self.path.parent)
                dec_target.parent.mkdir(parents=True, exist_ok=True)
                dec_target.write_text(dec_text, encoding="utf-8")
                names[str(dec_target)] = str(real)
            try:
                return load_system(
                    target,
                    controls=set(self.library.controls),
                    provisions=set(load_catalogue().ids),
                )
            except InputError as exc:
                raise InputError(
                    replace(p, file=names.get(p.file, p.file)) for p in exc.problems
                ) from None

    def _asset(self, doc, asset_id: str) -> tuple[int, CommentedMap]:
        ids = [a.get("id") for a in doc["assets"]]
        if asset_id not in ids:
            raise fail(
                str(self.path),
                None,
                "assets",
                f"unknown asset '{asset_id}'{did_you_mean(asset_id, ids)}",
            )
        index = ids.index(asset_id)
        return index, doc["assets"][index]


def _flow_id(flow) -> str:
    return f"{flow.get('from')}-{flow.get('kind')}->{flow.get('to')}"


def _write_atomic(path: Path, text: str, newline: str = "\n") -> None:
    """Replace a file's content in one step: a crash leaves the old file or the new, never half."""
    mode = path.stat().st_mode & 0o777 if path.exists() else 0o644
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline=newline) as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _is_bundled(path: Path) -> bool:
    from importlib.resources import files

    bundled = Path(str(files("kit.examples"))).resolve()
    return path.resolve().is_relative_to(bundled)


# ---------------------------------------------------------------- views of a state


def residual_summary(analysis: Analysis) -> dict[str, int | str]:
    """Totals the workshop headline shows: findings, residual total and highest, open actions."""
    findings = analysis.assessment.findings
    scores = [f.residual_score for f in findings]
    top = max(scores, default=0)
    return {
        "findings": len(findings),
        "total": sum(scores),
        "highest": top,
        "highest_band": band(top) if top else "none",
        "actions": sum(f.treatment in ("action required", "review overdue") for f in findings),
        "appetite": analysis.model.system.risk_appetite,
    }


BAND_STYLE = {"low": "#9bd39b", "medium": "#ffe08a", "high": "#f4a259", "critical": "#e05252"}


def findings_html(analysis: Analysis, before: Analysis | None = None, limit: int = 12) -> str:
    """The top findings by residual risk as an HTML table (every value escaped).

    With `before`, a column shows how each residual score moved in the last change.
    """
    old = {f.id: f.residual_score for f in before.assessment.findings} if before else {}
    rows = []
    for f in analysis.assessment.findings[:limit]:
        b = band(f.residual_score)
        delta = ""
        if before is not None:
            if f.id not in old:
                delta = "<span class='sk-up'>new</span>"
            elif old[f.id] != f.residual_score:
                diff = f.residual_score - old[f.id]
                arrow, cls = ("▲", "sk-up") if diff > 0 else ("▼", "sk-down")
                delta = f"<span class='{cls}'>{arrow}{abs(diff)}</span>"
        missing = ", ".join(f.controls_missing[:3]) + (" …" if len(f.controls_missing) > 3 else "")
        rows.append(
            "<tr>"
            f"<td><span class='sk-band' style='background:{BAND_STYLE[b]}'>{b}</span></td>"
            f"<td class='sk-num'><b>{f.residual_score}</b> {delta}</td>"
            f"<td class='sk-num'>{f.score}</td>"
            f"<td><b>{html.escape(f.match.threat.name)}</b><br>"
            f"<span class='sk-id'>{html.escape(f.id)}</span></td>"
            f"<td>{html.escape(f.treatment)}</td>"
            f"<td class='sk-small'>{html.escape(missing) or '—'}</td>"
            "</tr>"
        )
    gone = sorted(set(old) - {f.id for f in analysis.assessment.findings})
    more = len(analysis.assessment.findings) - limit
    foot = []
    if more > 0:
        foot.append(f"{more} more finding(s) below these")
    if gone:
        foot.append("no longer raised: " + ", ".join(html.escape(g) for g in gone))
    return (
        "<table class='sk-findings'><thead><tr><th>residual</th><th>score</th><th>inherent</th>"
        "<th>finding</th><th>treatment</th><th>missing controls</th></tr></thead>"
        f"<tbody>{''.join(rows) or '<tr><td colspan=6>no findings</td></tr>'}</tbody></table>"
        + (f"<div class='sk-small'>{'; '.join(foot)}</div>" if foot else "")
    )


def _png(fig) -> bytes:
    out = io.BytesIO()
    fig.savefig(out, format="png", dpi=96)  # the figures lay themselves out: no second pass
    return out.getvalue()


def asset_picture_png(analysis: Analysis) -> bytes:
    """The asset graph as PNG bytes."""
    from .plots import draw_graph

    return _png(draw_graph(analysis.graph))


def _picture_key(model: SystemModel) -> str:
    """What the asset picture depends on: the assets and flows, not controls or decisions."""
    return json.dumps(model.model_dump(mode="json", include={"assets", "flows"}), sort_keys=True)


def heatmap_png(analysis: Analysis) -> bytes:
    """The inherent and residual heatmaps as PNG bytes."""
    from .risk_plots import heatmaps

    return _png(heatmaps(analysis.assessment))


# ---------------------------------------------------------------- the widgets

_CSS = """
<style>
.saikit-workshop { font-size: 13px; }
.saikit-workshop .sk-title { font-size: 18px; font-weight: 600; margin: 0 0 2px 0; }
.saikit-workshop .sk-sub { color: #666; font-size: 12px; }
.saikit-residual { font-size: 15px; padding: 6px 10px; border-radius: 6px; background: #f3f6fa;
  border-left: 5px solid #4e79a7; }
.saikit-status .sk-ok { color: #1b7f3b; } .saikit-status .sk-err { color: #b00020; }
.saikit-status .sk-note { color: #666; }
.sk-findings { border-collapse: collapse; width: 100%; }
.sk-findings th { text-align: left; border-bottom: 2px solid #ccc; padding: 3px 6px;
  font-weight: 600; }
.sk-findings td { border-bottom: 1px solid #eee; padding: 3px 6px; vertical-align: top;
  line-height: 1.3; }
.sk-findings .sk-id { display: block; }
.saikit-workshop .widget-html-content { line-height: 1.35; }
.sk-attrs td { padding: 0 6px 0 0; vertical-align: top; line-height: 1.3; }
.sk-attrs td:last-child { overflow-wrap: anywhere; }
.sk-band { padding: 1px 6px; border-radius: 8px; font-size: 11px; }
.sk-num { text-align: right; white-space: nowrap; }
.sk-id { color: #777; font-family: monospace; font-size: 11px; }
.sk-small { color: #666; font-size: 11px; }
.sk-up { color: #b00020; font-size: 11px; } .sk-down { color: #1b7f3b; font-size: 11px; }
.saikit-control { border-bottom: 1px solid #eee; padding: 3px 0; gap: 8px; }
.saikit-workshop .sk-bar { gap: 8px; }
</style>
"""


class Workshop:
    """ipywidgets forms over a Session, with the risk picture redrawn after every change."""

    def __init__(self, session: Session):
        self.session = session
        self._before: Analysis | None = None
        self._picture_key = ""
        self._quiet = False
        asset_ids = [a.id for a in session.model.assets]
        wide = w.Layout(width="98%")
        # header
        self.title = w.HTML()
        self.summary = w.HTML()
        self.summary.add_class("saikit-residual")
        self.status = w.HTML()
        self.status.add_class("saikit-status")
        self.undo_button = w.Button(description="Undo", icon="undo", tooltip="undo the last change")
        self.save_button = w.Button(
            description="Save",
            icon="save",
            button_style="primary",
            tooltip="write the changes to the system file and the audit trail",
        )
        self.undo_button.on_click(lambda _: self._do(self.session.undo, undo=True))
        self.save_button.on_click(lambda _: self._save())
        # the selected asset, shared by the attribute, control and flow tabs
        self.asset = w.Dropdown(options=asset_ids, description="Asset", layout=wide)
        self.asset.add_class("saikit-asset")
        self.asset.observe(lambda _: self._asset_changed(), names="value")
        # attributes
        self.field = w.Dropdown(
            options=list(EDITABLE_FIELDS), value="exposure", description="Field"
        )
        self.value = w.Combobox(
            description="Value", ensure_option=False, layout=w.Layout(width="60%")
        )
        self.apply_button = w.Button(description="Apply", icon="check")
        self.field.observe(lambda _: self._field_changed(), names="value")
        self.apply_button.on_click(
            lambda _: self._do(
                lambda: self.session.set_attribute(
                    self.asset.value,
                    self.field.value,
                    parse_value(self.field.value, self.value.value),
                )
            )
        )
        self.attributes = w.HTML()
        self.cascade = w.Checkbox(description="with its flows and controls", indent=False)
        self.remove_asset_button = w.Button(
            description="Remove asset", icon="trash", button_style="danger"
        )
        self.remove_asset_button.on_click(
            lambda _: self._do(
                lambda: self.session.remove_asset(self.asset.value, cascade=self.cascade.value)
            )
        )
        # controls
        self.controls = w.VBox()
        # flows
        self.flow_list = w.Select(rows=6, layout=wide)
        self.remove_flow_button = w.Button(description="Remove flow", icon="trash")
        self.remove_flow_button.on_click(
            lambda _: self._do(
                lambda: (
                    self.session.remove_flow(self.flow_list.value) if self.flow_list.value else None
                )
            )
        )
        self.flow_from = w.Dropdown(options=asset_ids, description="From")
        self.flow_kind = w.Dropdown(options=list(FLOW_KINDS), description="Kind")
        self.flow_to = w.Dropdown(options=asset_ids, description="To")
        self.flow_boundary = w.Checkbox(description="crosses a trust boundary", indent=False)
        self.add_flow_button = w.Button(description="Add flow", icon="plus")
        self.add_flow_button.on_click(
            lambda _: self._do(
                lambda: self.session.add_flow(
                    {
                        "from": self.flow_from.value,
                        "to": self.flow_to.value,
                        "kind": self.flow_kind.value,
                        "crosses_boundary": True if self.flow_boundary.value else None,
                    }
                )
            )
        )
        # decisions
        self.finding = w.Dropdown(description="Finding", layout=wide)
        self.finding.observe(lambda _: self._finding_changed(), names="value")
        self.decision_status = w.Dropdown(
            options=list(DECISION_STATUSES), value="accepted", description="Status"
        )
        self.justification = w.Textarea(
            description="Why", layout=w.Layout(width="98%", height="70px")
        )
        self.owner = w.Text(description="Owner")
        self.review_by = w.DatePicker(description="Review by")
        self.record_button = w.Button(description="Record decision", icon="gavel")
        self.record_button.on_click(
            lambda _: self._do(
                lambda: self.session.record_decision(
                    self.finding.value,
                    self.decision_status.value,
                    self.justification.value,
                    self.owner.value,
                    self.review_by.value,
                )
            )
        )
        # new asset
        self.new_id = w.Text(description="Id", placeholder="lower-case-slug")
        self.new_type = w.Dropdown(options=list(ASSET_TYPES), description="Type")
        self.new_name = w.Text(description="Name")
        self.new_exposure = w.Dropdown(
            options=field_choices("exposure"), value="internal", description="Exposure"
        )
        self.new_sensitivity = w.Dropdown(
            options=field_choices("sensitivity"), value="internal", description="Sensitivity"
        )
        self.new_source = w.Dropdown(
            options=field_choices("source"), value="internal", description="Source"
        )
        self.add_asset_button = w.Button(description="Add asset", icon="plus")
        self.add_asset_button.on_click(lambda _: self._add_asset())
        # pictures and table
        self.findings = w.HTML()
        self.picture = w.Image(format="png", layout=w.Layout(max_width="100%"))
        self.heatmap = w.Image(format="png", layout=w.Layout(max_width="100%"))
        self.ui = self._layout()
        self._asset_changed()
        self._field_changed()
        self.refresh()
        if session.reformats:
            self._say(
                "note",
                "saving will also re-indent "
                + ", ".join(session.reformats)
                + ": ruamel.yaml cannot reproduce its layout exactly",
            )

    @classmethod
    def open(cls, system_path: str = "", out: str | None = None, library_dirs=()) -> Workshop:
        """A workshop on a system file (the bundled example when empty)."""
        return cls(Session.open(system_path, out=out or None, library_dirs=library_dirs))

    def show(self) -> None:
        """Display the workshop in the notebook."""
        from IPython.display import display

        display(self.ui)

    # ------------------------------------------------------------ layout

    def _layout(self) -> w.Widget:
        header = w.VBox(
            [
                w.HTML(_CSS),
                self.title,
                _bar(self.summary, self.undo_button, self.save_button),
                self.status,
            ]
        )
        attributes = w.VBox(
            [
                w.HBox([self.field, self.value]),
                self.apply_button,
                self.attributes,
                _bar(self.remove_asset_button, self.cascade),
            ]
        )
        flows = w.VBox(
            [
                w.HTML("<b>Flows to and from this asset</b>"),
                self.flow_list,
                self.remove_flow_button,
                w.HTML("<b>Add a flow</b>"),
                self.flow_from,
                self.flow_kind,
                self.flow_to,
                self.flow_boundary,
                self.add_flow_button,
            ]
        )
        decision = w.VBox(
            [
                self.finding,
                self.decision_status,
                self.justification,
                self.owner,
                self.review_by,
                self.record_button,
            ]
        )
        new_asset = w.VBox(
            [
                self.new_id,
                self.new_type,
                self.new_name,
                self.new_exposure,
                self.new_sensitivity,
                self.new_source,
                self.add_asset_button,
            ]
        )
        self.tabs = w.Tab(children=[attributes, self.controls, flows, decision, new_asset])
        for i, name in enumerate(["Attributes", "Controls", "Flows", "Decision", "New asset"]):
            self.tabs.set_title(i, name)
        editor = w.VBox([self.asset, self.tabs], layout=w.Layout(width="46%", min_width="420px"))
        risk = w.VBox(
            [
                w.HTML("<b>Top findings by residual risk</b>"),
                self.findings,
                w.HTML("<b>Risk heatmaps</b>"),
                self.heatmap,
            ],
            layout=w.Layout(width="54%", padding="0 0 0 12px"),
        )
        picture = w.VBox([w.HTML("<b>Assets and flows</b>"), self.picture])
        root = w.VBox([header, w.HBox([editor, risk]), picture])
        root.add_class("saikit-workshop")
        return root

    # ------------------------------------------------------------ refreshing

    def refresh(self) -> None:
        """Redraw everything from the session's current state."""
        s = self.session
        a = s.analysis
        info = residual_summary(a)
        unsaved = len(s.pending)
        self.title.value = (
            f"<div class='sk-title'>Workshop: {html.escape(s.model.system.name)}</div>"
            f"<div class='sk-sub'>{html.escape(str(s.path))} · risk appetite "
            f"{html.escape(info['appetite'])} · "
            f"{f'<b>{unsaved} unsaved change(s)</b>' if unsaved else 'all changes saved'}</div>"
        )
        self.summary.value = (
            f"<b>Residual risk: total {info['total']}, highest {info['highest']}</b>"
            f" ({html.escape(str(info['highest_band']))}) · {info['findings']} findings · "
            f"{info['actions']} need action"
        )
        self.undo_button.disabled = not s.can_undo
        self.save_button.disabled = not unsaved
        ids = [x.id for x in s.model.assets]
        selected = self.asset.value if self.asset.value in ids else ids[0]
        for dropdown in (self.asset, self.flow_from, self.flow_to):
            current = dropdown.value
            if list(dropdown.options) != ids:
                dropdown.options = ids
            dropdown.value = current if current in ids else ids[0]
        self.asset.value = selected
        options = [
            (f"{f.residual_score:>2} {band(f.residual_score)} · {f.id}", f.id)
            for f in a.assessment.findings
        ]
        # New labels, same choice: the decision form keeps what is being typed into it.
        keep, self._quiet = self.finding.value, True
        try:
            self.finding.options = options
            if keep in {v for _, v in options}:
                self.finding.value = keep
        finally:
            self._quiet = False
        if self.finding.value != keep:
            self._finding_changed()
        self.findings.value = findings_html(a, self._before)
        self._asset_panels()
        key = _picture_key(s.model)
        if key != self._picture_key:  # drawing the graph is the slowest step: only when it changed
            self.picture.value = asset_picture_png(a)
            self._picture_key = key
        self.heatmap.value = heatmap_png(a)

    def _asset_changed(self) -> None:
        if self.asset.value:
            self.flow_from.value = self.asset.value
            self._asset_panels()
            self._field_changed()

    def _field_changed(self) -> None:
        if not self.asset.value:
            return
        self.value.options = field_choices(self.field.value)
        self.value.value = format_value(
            self.session.asset_value(self.asset.value, self.field.value)
        )
        shape = _shape(self.field.value)
        self.value.placeholder = "comma-separated" if shape == "list" else "empty: back to default"

    def _finding_changed(self) -> None:
        if self._quiet:
            return
        found = next(
            (f for f in self.session.analysis.assessment.findings if f.id == self.finding.value),
            None,
        )
        d = found.decision if found else None
        self.decision_status.value = d.status if d else "accepted"
        self.justification.value = (d.justification or "") if d else ""
        self.owner.value = (d.owner or "") if d else ""
        self.review_by.value = d.review_by if d else None

    def _asset_panels(self) -> None:
        s, asset_id = self.session, self.asset.value
        if asset_id not in s.model.asset_by_id:
            return
        asset = s.model.asset_by_id[asset_id]
        written = s.current.doc["assets"][[a.id for a in s.model.assets].index(asset_id)]
        rows = "".join(
            f"<tr><td class='sk-id'>{html.escape(str(k))}</td>"
            f"<td>{html.escape(_show(_plain(v)))}</td></tr>"
            for k, v in written.items()
            if k != "id" and not isinstance(v, dict)
        )
        self.attributes.value = (
            f"<div class='sk-small'>{html.escape(asset.type)} as written:</div>"
            f"<table class='sk-attrs'>{rows}</table>"
        )
        flows = [f.id for f in s.model.flows if asset_id in (f.source, f.target)]
        self.flow_list.options = flows
        self.controls.children = self._control_rows(asset_id)

    def _control_rows(self, asset_id: str) -> list[w.Widget]:
        """One row per control applied to the asset or lowering a finding it is part of.

        The controls that lower the most findings come first.
        """
        s = self.session
        asset_type = s.model.asset_by_id[asset_id].type
        effects: dict[str, dict[tuple[str, str], int]] = {}  # control → (threat, shift) → findings
        for f in s.analysis.assessment.findings:
            if asset_id in f.match.related_assets:
                for mit in f.match.threat.controls:
                    shift = " ".join(
                        f"{k}−{-v}" for k, v in (("L", mit.likelihood), ("I", mit.impact)) if v
                    )
                    per = effects.setdefault(mit.control, {})
                    per[(f.match.threat.id, shift)] = per.get((f.match.threat.id, shift), 0) + 1
        applied = {u.control for u in s.model.controls if asset_id in u.assets}
        library = s.library.controls
        names = sorted(
            (
                c
                for c in set(effects) | applied
                if c in library and (c in applied or asset_type in library[c].applies_to)
            ),
            key=lambda c: (-sum(effects.get(c, {}).values()), c),
        )
        rows: list[w.Widget] = [
            w.HTML(
                f"<div class='sk-small'>Controls on <b>{html.escape(asset_id)}</b>: those applied "
                "here and those that would lower a finding this asset is part of "
                "(L = likelihood, I = impact).</div>"
            )
        ]
        for control in names:
            toggle = w.ToggleButtons(
                options=[
                    ("not applied", "none"),
                    ("planned", "planned"),
                    ("implemented", "implemented"),
                ],
                value=s.control_status(control, asset_id) or "none",
                style={"button_width": "auto"},
                layout=w.Layout(flex="0 0 auto"),
                tooltips=[library[control].description] * 3,
            )
            toggle.observe(
                lambda change, c=control: self._do(
                    lambda: s.set_control(
                        c, asset_id, None if change["new"] == "none" else change["new"]
                    )
                ),
                names="value",
            )
            lowers = "; ".join(
                f"{threat}{f' ×{n}' if n > 1 else ''} {shift}"
                for (threat, shift), n in sorted(effects.get(control, {}).items())
            )
            label = w.HTML(
                f"<b>{html.escape(library[control].name)}</b> "
                f"<span class='sk-id'>{html.escape(control)}</span><div class='sk-small'>"
                f"{'lowers ' + html.escape(lowers) if lowers else 'lowers no finding here'}</div>",
                layout=w.Layout(flex="1 1 auto"),
            )
            row = w.HBox([toggle, label], layout=w.Layout(align_items="center"))
            row.add_class("saikit-control")
            row.add_class(f"saikit-control-{control}")
            rows.append(row)
        return rows

    # ------------------------------------------------------------ actions

    def control_toggle(self, control: str) -> w.ToggleButtons:
        """The toggle of a control in the Controls tab of the selected asset (for scripting)."""
        for row in self.controls.children:
            if f"saikit-control-{control}" in row._dom_classes:
                return row.children[0]
        raise KeyError(control)

    def _do(self, action: Callable[[], str | None], undo: bool = False) -> None:
        before = self.session.analysis
        try:
            change = action()
        except InputError as exc:
            self._say("err", "; ".join(_short(p) for p in exc.problems) + " (nothing changed)")
            self._asset_panels()  # put toggles back to the state that stands
            return
        if change is None:
            self._say("note", "nothing to undo" if undo else "nothing changed")
            return
        self._before = before
        self.refresh()
        self._say("ok", ("undone: " if undo else "") + change)

    def _save(self) -> None:
        try:
            entries = self.session.save()
        except InputError as exc:
            self._say("err", "; ".join(str(p) for p in exc.problems))
            return
        self.refresh()
        self._say(
            "ok",
            f"saved {self.session.path.name}; {len(entries)} change(s) in the audit trail"
            if entries
            else "nothing to save",
        )

    def _add_asset(self) -> None:
        data = {
            "id": self.new_id.value.strip(),
            "type": self.new_type.value,
            "name": self.new_name.value.strip(),
            "exposure": self.new_exposure.value,
            "sensitivity": self.new_sensitivity.value,
            "source": self.new_source.value,
        }
        defaults = {"exposure": "internal", "sensitivity": "internal", "source": "internal"}
        self._do(
            lambda: self.session.add_asset({k: v for k, v in data.items() if defaults.get(k) != v})
        )
        if self.new_id.value.strip() in self.session.model.asset_by_id:
            self.asset.value = self.new_id.value.strip()
            self.new_id.value = ""

    def _say(self, kind: str, text: str) -> None:
        self.status.value = f"<span class='sk-{kind}'>{html.escape(text)}</span>"


def _bar(*children: w.Widget) -> w.HBox:
    box = w.HBox(list(children), layout=w.Layout(align_items="center"))
    box.add_class("sk-bar")
    return box


def _short(problem: Problem) -> str:
    return f"{problem.path}: {problem.message}" if problem.path else problem.message


# ---------------------------------------------------------------- saikit lab


def workshop_notebook(parameters: dict[str, Any]) -> dict:
    """The workshop notebook as JSON data with its parameters cell set to `parameters`.

    Each value is written as a JSON literal (a string or a list of strings, which Python reads
    the same way) and read back with `ast.literal_eval` before use, so a path can never become
    code.
    """
    from .resources import notebooks

    nb = json.loads(notebooks()["workshop"].read_text(encoding="utf-8"))
    cell = next(c for c in nb["cells"] if "parameters" in c.get("metadata", {}).get("tags", []))
    source = "".join(cell["source"])
    lines = source.splitlines()
    for node in ast.parse(source).body:
        if not isinstance(node, ast.AnnAssign) or node.target.id not in parameters:
            continue
        name, value = node.target.id, parameters[node.target.id]
        line = lines[node.lineno - 1]
        annotation = ast.get_source_segment(source, node.annotation)
        lines[node.lineno - 1] = (
            f"{name}: {annotation} = {json.dumps(value)}{line[node.end_col_offset :]}"
        )
        written = ast.parse(lines[node.lineno - 1]).body[0]
        if ast.literal_eval(written.value) != value:
            raise ValueError(f"cannot write {name} as a literal: {value!r}")
    cell["source"] = "\n".join(lines)
    return nb


def free_port() -> int:
    """A TCP port free on the loopback interface right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Lab:
    """A JupyterLab server started for a workshop."""

    process: subprocess.Popen
    url: str
    workdir: Path
    port: int
    token: str

    def stop(self, timeout: float = 15) -> None:
        """Stop the server (and its kernels) and remove the working folder."""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout)
        shutil.rmtree(self.workdir, ignore_errors=True)


def start_lab(
    system: str | os.PathLike | None,
    *,
    port: int = 0,
    out: str | os.PathLike | None = None,
    library_dirs=(),
    timeout: float = 120,
) -> Lab:
    """Start JupyterLab on 127.0.0.1 with the workshop notebook on `system`; return once it answers.

    Without a system, the workshop works on a scratch copy of the bundled example inside the
    lab's working folder. The audit trail goes to `out`, else where `saikit run` in the current
    directory keeps it. Token authentication is always on; the server never listens beyond
    the loopback interface.
    """
    from .resources import default_system
    from .runner import default_store

    workdir = Path(tempfile.mkdtemp(prefix="saikit-lab-"))
    try:
        if system:
            system = Path(system).resolve()
        else:
            system = _scratch_copy(default_system(), workdir)
            out = out or workdir / "runs"
        model, _ = load_checked(system, library_dirs)
        store = Path(default_store(model, out).root).resolve()
        nb = workshop_notebook(
            {
                "system_path": str(system),
                "out": str(store),
                "library_dirs": [str(Path(d).resolve()) for d in library_dirs],
            }
        )
        name = f"workshop-{model.system.id}.ipynb"
        (workdir / name).write_text(json.dumps(nb, indent=1) + "\n", encoding="utf-8")
    except BaseException:
        shutil.rmtree(workdir, ignore_errors=True)
        raise
    port = port or free_port()
    token = secrets.token_urlsafe(32)
    command = [
        sys.executable,
        "-m",
        "jupyterlab",
        "--no-browser",
        "--ServerApp.ip=127.0.0.1",
        f"--ServerApp.port={port}",
        "--ServerApp.port_retries=0",
        f"--ServerApp.root_dir={workdir}",
        "--ServerApp.allow_remote_access=False",
    ]
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        command.append("--allow-root")
    # The token goes through the environment, so other local users cannot read it from `ps`.
    env = {**os.environ, "JUPYTER_TOKEN": token}
    with open(workdir / ".jupyter.log", "wb") as log:
        # A session of its own: Ctrl+C reaches saikit, which then stops the server cleanly.
        process = subprocess.Popen(
            command,
            cwd=workdir,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    lab = Lab(
        process, f"http://127.0.0.1:{port}/lab/tree/{name}?token={token}", workdir, port, token
    )
    try:
        _wait_until_up(lab, timeout)
    except BaseException:
        lab.stop()
        raise
    return lab


def _scratch_copy(example: Path, workdir: Path) -> Path:
    target = workdir / example.name
    shutil.copy2(example, target)
    model = load_system(example)
    if model.system.decisions_file:
        shutil.copy2(
            example.parent / model.system.decisions_file, workdir / model.system.decisions_file
        )
    return target


def _wait_until_up(lab: Lab, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    request = urllib.request.Request(
        f"http://127.0.0.1:{lab.port}/api/status", headers={"Authorization": f"token {lab.token}"}
    )
    while time.monotonic() < deadline:
        if lab.process.poll() is not None:
            log = (lab.workdir / ".jupyter.log").read_text(errors="replace").strip().splitlines()
            raise fail(
                "jupyter lab",
                None,
                "",
                f"JupyterLab exited with status {lab.process.returncode}: "
                + (log[-1] if log else f"is port {lab.port} free?"),
            )
        try:
            with urllib.request.urlopen(request, timeout=2) as response:  # noqa: S310 - loopback URL we built
                if response.status == 200:
                    return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        time.sleep(0.3)
    raise fail("jupyter lab", None, "", f"JupyterLab did not answer within {timeout:.0f} s")


def _interrupt(_signum, _frame) -> None:
    raise KeyboardInterrupt


def run_lab(
    system: str | os.PathLike | None,
    *,
    port: int = 0,
    open_browser: bool = True,
    out: str | os.PathLike | None = None,
    library_dirs=(),
    say=None,
) -> int:
    """`saikit lab`: start the lab, print its URL, wait until interrupted, then stop it."""
    say = say or (lambda line: print(line, flush=True))
    lab = start_lab(system, port=port, out=out, library_dirs=library_dirs)
    stop = signal.getsignal(signal.SIGTERM)
    signal.signal(signal.SIGTERM, _interrupt)  # `kill` stops the server too, as Ctrl+C does
    try:
        if not system:
            say(
                "no system file given: working on a scratch copy of the bundled example in "
                f"{lab.workdir} (removed when the lab stops)"
            )
        say(f"workshop open at {lab.url}")
        say("in the notebook: Run → Run All Cells; stop the lab with Ctrl+C")
        if open_browser:
            import webbrowser

            webbrowser.open(lab.url)
        lab.process.wait()
        return 0 if lab.process.returncode == 0 else 1
    except KeyboardInterrupt:
        say("stopping the lab")
        return 0
    finally:
        lab.stop()
        signal.signal(signal.SIGTERM, stop)
