"""The workshop's editing session: checked edits of a system file with undo, audited saves.

A `Session` holds the system file as a round-trip document, the model validated from it and its
analysis. Every edit is made on a copy, checked by the same loader `saikit check` uses, and only
then becomes the current state, the old one kept for undo; a refused edit raises InputError and
changes nothing. `save` writes the file back atomically and appends one audit entry per saved
change to the system's run store. No widgets here: `kit.workshop` draws them.
"""

from __future__ import annotations

import datetime as dt
import html
import io
import json
import os
import re
import tempfile
import typing
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

from ruamel.yaml.comments import CommentedMap

from kit import audit
from kit.analysis import Analysis, analyse_model
from kit.compliance.catalogue import load_catalogue
from kit.errors import InputError, did_you_mean, fail
from kit.files import write_atomic
from kit.inputs import config_sha256, load_checked
from kit.model.hashes import read_record
from kit.model.roundtrip import (
    YamlFile,
    append_item,
    append_to,
    del_key,
    delete_item,
    dump,
    make_yaml,
    plain,
    read_text,
    set_key,
    show_value,
    yaml_value,
)
from kit.model.schema import Asset, Decision, SystemModel, load_system
from kit.threats.library import Library
from kit.vocab import BAND_COLOURS, OPEN_ACTIONS, band

CONTROL_STATUSES = ("implemented", "planned")
DECISION_STATUSES: tuple[str, ...] = typing.get_args(Decision.model_fields["status"].annotation)
# Asset fields the attribute editor offers: everything but the id and the nested mappings.
EDITABLE_FIELDS = tuple(
    name for name in Asset.model_fields if name not in ("id", "provenance", "due_diligence")
)
# Indentation styles tried when reading a file; the first that reproduces it exactly is kept.
_INDENTS = ((2, 4, 2), (2, 2, 0), (4, 4, 2), (4, 6, 4), (4, 4, 0), (2, 4, 0))


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


def field_shape(name: str) -> str:
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
    shape = field_shape(name)
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
    files: dict[str, YamlFile] = field(default_factory=dict, repr=False)
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
        from kit.resources import default_system

        system = Path(path) if path else default_system()
        model, library = load_checked(system, library_dirs)
        session = cls(system, library, str(out) if out else None, today)
        sys_file, doc = YamlFile.read(system)
        session.files["system"] = sys_file
        decisions = None
        if model.system.decisions_file:
            dec_file, decisions = YamlFile.read(system.parent / model.system.decisions_file)
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
        return plain(asset.get(name))

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
            old = plain(asset.get(name))
            if old == value:
                return None
            if value is None:
                del_key(asset, name)
            else:
                set_key(asset, name, yaml_value(value))
            return f"asset {asset_id}: {name} {show_value(old)} → {show_value(value)}"

        return self._apply(edit)

    def add_asset(self, asset: dict) -> str | None:
        """Add an asset given as a mapping of its fields (at least `id` and `type`)."""
        if not isinstance(asset, dict) or not asset.get("id"):
            raise fail(
                str(self.path), None, "assets", "a new asset needs at least an id and a type"
            )
        data = {k: v for k, v in asset.items() if v not in (None, "", [])}

        def edit(doc, _decisions):
            append_item(doc["assets"], yaml_value(data))
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
                delete_item(doc, "flows", i)
            for i in reversed(uses):
                use = doc["controls"][i]
                if len(use["assets"]) == 1:
                    delete_item(doc, "controls", i)
                else:
                    use["assets"].remove(asset_id)
            delete_item(doc, "assets", index)
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
            node = yaml_value(data)
            if len(flows) and flows[-1].fa.flow_style():
                node.fa.set_flow_style()  # match the file's one-line flows
            append_to(doc, "flows", node)
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
            delete_item(doc, "flows", index)
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
                    set_key(use, "status", status)
                    if evidence:
                        set_key(use, "evidence", evidence)
                    placed = True
                else:
                    delete_item(doc, "controls", i)
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
                    append_to(doc, "controls", yaml_value({k: v for k, v in entry.items() if v}))
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
                        set_key(existing[0], key, value)
                    else:
                        del_key(existing[0], key)
            else:
                entry = {"finding": finding, **{k: v for k, v in values.items() if v}}
                append_to(
                    decisions if decisions is not None else doc, "decisions", yaml_value(entry)
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
            if read_text(f.path)[0] != f.text:
                raise fail(
                    str(f.path),
                    None,
                    "",
                    "changed on disk since the workshop opened it; reopen it to edit it",
                )
        for name, text in writes:
            if text != self.files[name].text:
                newline = self.files[name].newline  # the file's own line ends, kept
                write_atomic(self.files[name].path, text.replace("\n", newline), make_folder=False)
                self.files[name] = replace(self.files[name], text=text)
        from kit.runs.store import store_for

        store = store_for(state.model.system.id, self.out)
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
        doc = make_yaml(self.files["system"].indent).load(self.current.text)
        decisions = None
        if self.current.decisions_text is not None:
            decisions = make_yaml(self.files["decisions"].indent).load(self.current.decisions_text)
        change = edit(doc, decisions)
        if change is None:
            return None
        text = dump(doc, self.files["system"].indent)
        dec_text = None if decisions is None else dump(decisions, self.files["decisions"].indent)
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
                    hashes=read_record(self.path),
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


def _is_bundled(path: Path) -> bool:
    from kit.resources import data_dir

    bundled = data_dir("examples").resolve()
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
        "actions": sum(f.treatment in OPEN_ACTIONS for f in findings),
        "appetite": analysis.model.system.risk_appetite,
    }


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
            f"<td><span class='sk-band' style='background:{BAND_COLOURS[b]}'>{b}</span></td>"
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
    from kit.graph.plots import draw_graph

    return _png(draw_graph(analysis.graph))


def picture_key(model: SystemModel) -> str:
    """What the asset picture depends on: the assets and flows, not controls or decisions."""
    return json.dumps(model.model_dump(mode="json", include={"assets", "flows"}), sort_keys=True)


def heatmap_png(analysis: Analysis) -> bytes:
    """The inherent and residual heatmaps as PNG bytes."""
    from kit.risk.plots import heatmaps

    return _png(heatmaps(analysis.assessment))
