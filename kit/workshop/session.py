"""The workshop's editing session: checked edits of a system file with undo, audited saves.

A `Session` keeps the system file as a round-trip document in memory (comments, key order and
quoting kept) and applies each edit to it. The edited data is validated at once, in memory, by
the same loader `saikit check` uses (`kit.model.yamlio.in_memory`: no scratch files), and
analysed once; only then does it become the current state. A refused edit raises InputError,
located in the text the file would hold, and changes nothing. Undo replays the edits made since
the file was opened, but the last, on a fresh parse of it. `save` writes the text back
atomically after checking it exactly as a later `saikit check` will read it, and appends one
audit entry per saved change to the system's run store. No widgets and no drawing here.
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from functools import cached_property
from pathlib import Path

from ruamel.yaml.comments import CommentedMap

from kit import audit
from kit.analysis import Analysis, analyse_model
from kit.compliance.catalogue import load_catalogue
from kit.errors import InputError, did_you_mean, fail
from kit.files import write_atomic
from kit.inputs import config_sha256, load_checked
from kit.model import yamlio
from kit.model.hashes import read_record
from kit.model.roundtrip import (
    YamlFile,
    append_item,
    append_to,
    data_of,
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
from kit.model.schema import SystemModel, load_system
from kit.runs.diff import RunDiff
from kit.threats.library import Library
from kit.vocab import flow_id
from kit.workshop.forms import CONTROL_STATUSES, DECISION_STATUSES
from kit.workshop.moved import Since, save_note

# An edit: changes the system document (and the decisions document, when there is one) in
# place and says what it did in one line, or returns None having changed nothing. It raises
# InputError only before changing anything, and reads nothing but the documents, so that undo
# can replay it.
Edit = Callable[[CommentedMap, "CommentedMap | None"], "str | None"]


# ---------------------------------------------------------------- the editing session


@dataclass(frozen=True)
class State:
    """One version of the system during a workshop: its analysis and the edit that made it."""

    analysis: Analysis
    change: str  # the edit that made this state, in one line ("" for the file as opened)
    edit: Edit | None = field(default=None, repr=False)  # None for the file as opened

    @property
    def model(self) -> SystemModel:
        return self.analysis.model

    @cached_property
    def config_sha256(self) -> str:
        return config_sha256(self.model)


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
    # the documents of the current state, edited in place ("decisions": None when no file)
    doc: CommentedMap | None = field(default=None, repr=False)
    decisions: CommentedMap | None = field(default=None, repr=False)
    # each change not yet saved, oldest first, with the state it made
    _pending: list[tuple[str, State]] = field(default_factory=list, repr=False)
    # how many states at the top of `history` were made since the last save
    _unsaved: int = field(default=0, repr=False)
    # the texts as opened (what undo replays edits on), the texts of the current documents
    # once dumped, and what validation checks references against
    _opened: dict[str, str] = field(default_factory=dict, repr=False)
    _texts: dict[str, str] = field(default_factory=dict, repr=False)
    _known: dict = field(default_factory=dict, repr=False)
    since: Since | None = field(default=None, repr=False)  # the state the workshop began with
    notes: list[Path] = field(default_factory=list)  # the notes saved, oldest first

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
        session.files["system"], session.doc = YamlFile.read(system)
        if model.system.decisions_file:
            session.files["decisions"], session.decisions = YamlFile.read(
                system.parent / model.system.decisions_file
            )
        session._opened = {name: f.text for name, f in session.files.items()}
        session._texts = dict(session._opened)
        session._known = {
            "controls": set(library.controls),
            "provisions": set(load_catalogue().ids),
            "hashes": read_record(system),
        }
        session.history.append(State(analyse_model(model, library, today), ""))
        session.since = Since(session.current.analysis, today)
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
    def pending(self) -> list[tuple[str, str]]:
        """(change, configuration hash after it) for each change not yet saved, oldest first."""
        return [(change, state.config_sha256) for change, state in self._pending]

    @property
    def unsaved(self) -> int:
        """How many changes are not saved yet."""
        return len(self._pending)

    @property
    def text(self) -> str:
        """The system file's text as saving would write it now."""
        return self._text("system")

    @property
    def decisions_text(self) -> str | None:
        """The decisions file's text as saving would write it now (None: no decisions file)."""
        return self._text("decisions") if self.decisions is not None else None

    def moved(self, provisions: bool = True) -> RunDiff:
        """What moved since the workshop began (see kit.workshop.moved)."""
        changes = [state.change for state in self.history[1:]]
        return self.since.compare(self.analysis, changes, provisions)

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
        _, asset = self._asset(self.doc, asset_id)
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

        return self._apply(edit, value)

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

        return self._apply(edit, data)

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

        return self._apply(edit, data)

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
            uses = doc.get("controls") or []
            found = {
                u.get("status")
                for u in uses
                if u.get("control") == control and asset_id in (u.get("assets") or [])
            }
            old = "implemented" if "implemented" in found else ("planned" if found else None)
            if old == status:
                return None
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

        return self._apply(edit, [control, asset_id, evidence])

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
            if existing and all(
                plain(existing[0].get(k)) == (v or None) for k, v in values.items()
            ):
                return None
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

        return self._apply(edit, [justification, owner])

    def undo(self) -> str | None:
        """Go back to the state before the last change; return what was undone (None: nothing)."""
        if not self.can_undo:
            return None
        undone = self.history.pop()
        self._replay()
        if self._unsaved:
            self._unsaved -= 1
            self._pending.pop()
        else:  # the undone change is already in the file: saving again records the undo
            self._pending.append((f"undo: {undone.change}", self.current))
        return undone.change

    # ------------------------------------------------------------ saving

    def save(self) -> list[dict]:
        """Write the changed files back and audit each saved change; return the audit entries.

        The texts are checked first exactly as `saikit check` will read them. Refused when a
        file changed on disk since the workshop read it, or when the system is the bundled
        example. A note of what moved since the workshop began goes into the run store with
        the save (`notes`; its own audit entry follows the changes').
        """
        if not self._pending:
            return []
        if _is_bundled(self.path):
            raise fail(
                str(self.path),
                None,
                "",
                "this is the bundled example, which is read-only; copy it and open the copy",
            )
        writes = {name: self._text(name) for name in self.files}
        saved = self._load(writes)
        if config_sha256(saved) != self.current.config_sha256:  # YAML 1.1 reads a value apart
            self.history[-1] = replace(self.current, analysis=self._analyse(saved))
            self._pending[-1] = (self._pending[-1][0], self.current)
        for name in writes:
            f = self.files[name]
            if read_text(f.path)[0] != f.text:
                raise fail(
                    str(f.path),
                    None,
                    "",
                    "changed on disk since the workshop opened it; reopen it to edit it",
                )
        for name, text in writes.items():
            if text != self.files[name].text:
                newline = self.files[name].newline  # the file's own line ends, kept
                write_atomic(self.files[name].path, text.replace("\n", newline), make_folder=False)
                self.files[name] = replace(self.files[name], text=text)
        entries = [
            audit.append(
                self.store.audit_path,
                "workshop-edit",
                change=change,
                config_sha256=state.config_sha256,
                system=state.model.system.id,
                file=str(self.path.resolve()),
            )
            for change, state in self._pending
        ]
        self._pending.clear()
        self._unsaved = 0
        self.notes.append(save_note(self.store, self.moved(), self.model, self.path))
        return entries

    @property
    def store(self):
        """The run store whose audit trail records the saved changes."""
        from kit.runs.store import store_for

        return store_for(self.model.system.id, self.out)

    # ------------------------------------------------------------ internals

    def _apply(self, edit: Edit, given=None) -> str | None:
        """Make `edit` on the documents; keep the result only if it loads, else put them back.

        `given` is what the user typed that the edit writes: its text is checked first, as
        the loader checks a file's (the rest of the documents came from text it checked).
        """
        yamlio.refuse_unsafe(given, str(self.path))
        try:
            change = edit(self.doc, self.decisions)
        except InputError:
            raise  # refused before changing anything
        except Exception:
            self._replay()  # a failure half-way through must not leave half an edit behind
            raise
        if change is None:
            return None
        self._texts.clear()
        try:
            model = self._validate()
        except InputError:
            self._replay()
            raise
        state = State(self._analyse(model), change, edit)
        self.history.append(state)
        self._unsaved += 1
        self._pending.append((change, state))
        return change

    def _analyse(self, model: SystemModel) -> Analysis:
        return analyse_model(model, self.library, self.today)

    def _validate(self) -> SystemModel:
        """Load the edited documents as `saikit check` would load the saved files.

        First from their data in memory (quick, but blind to lines); a problem found there is
        looked for again in the text saving would write, so the message names its line.
        """
        docs = {"system": self.doc, "decisions": self.decisions}
        contents = {}
        for name, f in self.files.items():
            data, values = data_of(docs[name])
            contents[name] = yamlio.document_of(data, str(f.path), values)
        try:
            return self._load(contents)
        except InputError:
            return self._load({name: self._text(name) for name in self.files})

    def _load(self, contents: dict[str, str | yamlio.Document]) -> SystemModel:
        """The model the files would load as, with these contents (texts or documents)."""
        with yamlio.in_memory({self.files[n].path: c for n, c in contents.items()}):
            return load_system(
                self.path,
                controls=self._known["controls"],
                provisions=self._known["provisions"],
                hashes=self._known["hashes"],
            )

    def _text(self, name: str) -> str:
        if name not in self._texts:
            doc = self.doc if name == "system" else self.decisions
            self._texts[name] = dump(doc, self.files[name].indent)
        return self._texts[name]

    def _replay(self) -> None:
        """Rebuild the documents as opened plus the edits of the states in `history`."""
        self.doc = make_yaml(self.files["system"].indent).load(self._opened["system"])
        self.decisions = None
        if "decisions" in self.files:
            indent = self.files["decisions"].indent
            self.decisions = make_yaml(indent).load(self._opened["decisions"])
        for state in self.history[1:]:
            state.edit(self.doc, self.decisions)
        self._texts.clear()

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
    return flow_id(flow.get("from"), flow.get("kind"), flow.get("to"))


def _is_bundled(path: Path) -> bool:
    from kit.resources import data_dir

    bundled = data_dir("examples").resolve()
    return path.resolve().is_relative_to(bundled)
